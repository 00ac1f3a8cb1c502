"""The sending agency's view of its bundles: what the intake pages read and do.

Reads put names next to ids (services, agencies) with one query per kind, not one per
row, and never touch survivor PII — only references, statuses and categories; the one
read of survivor data here (messages) goes through `conversation.list_messages`, which
audits it. Every bundle here is the actor's own agency's: another agency's bundle, or a
referral that is not in the bundle named, looks missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from referral_hub.agencies.models import Agency
from referral_hub.agencies.service import agency_names
from referral_hub.agencies.vocabulary import is_law_enforcement, receives_referrals
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.core.tenancy import foreign
from referral_hub.directory import service as directory
from referral_hub.directory.models import Service
from referral_hub.directory.vocabulary import Category
from referral_hub.extensions import db
from referral_hub.referrals import bundles, conversation, states
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Bundle, Referral
from referral_hub.referrals.states import State

# a referral that ended without help: the need may be referred again from it
ENDED = frozenset({State.DECLINED, State.EXPIRED, State.NOT_COMPLETED, State.WITHDRAWN})
SUGGESTIONS = 3
LIST_LIMIT = 50


# --- names next to ids ----------------------------------------------------------------------


def service_cards(ids: Iterable[uuid.UUID | str]) -> dict[str, dict[str, Any]]:
    """Service id (str) → name, category, agency: one query for all of them."""
    wanted = set()
    for value in ids:
        try:
            wanted.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            Service.id,
            Service.name,
            Service.category,
            Service.status,
            Service.agency_id,
            Agency.name.label("agency_name"),
            Agency.kind.label("agency_kind"),
            Agency.status.label("agency_status"),
            Agency.participation.label("agency_participation"),
        )
        .join(Agency, Agency.id == Service.agency_id)
        .where(Service.id.in_(sorted(wanted)))
    ).all()
    return {
        str(row.id): {
            "id": row.id,
            "name": row.name,
            "category": row.category.value,
            "agency_id": row.agency_id,
            "agency_name": row.agency_name,
            "law_enforcement": is_law_enforcement(row.agency_kind),
            "active": row.status.value == "active" and row.agency_status.value == "active",
            "receives_referrals": receives_referrals(row.agency_participation),
        }
        for row in rows
    }


def consent_summary(record: Consent | None, now: datetime) -> dict[str, Any] | None:
    """What a consent allows, without anything about her beyond categories and dates."""
    if record is None:
        return None
    names = agency_names(record.covered_recipients)
    return {
        "id": record.id,
        "status": record.status(now),
        "recipients": [
            {"id": agency, "name": names.get(agency, "an agency no longer listed")}
            for agency in record.covered_recipients
        ],
        "purposes": list(record.purposes),
        "data_categories": [c for c in record.data_categories if c != policy.PROFILE],
        "signed_at": record.signed_at,
        "expires_at": record.expires_at,
        "language": record.form_language,
    }


# --- the new-bundle form --------------------------------------------------------------------


def bundle_form(
    actor: Actor,
    client_id: uuid.UUID,
    consent_id: uuid.UUID | None,
    plan: dict[str, list[str]],
) -> dict[str, Any]:
    """Everything the new-bundle page shows: her reference, the consent, each planned need
    with its services, what the consent lets each of them receive, and its urgency as her
    record gives it."""
    client = clients.load_owned(actor, client_id)
    record = None
    if consent_id is not None:
        record = next(
            (c for c in consent.list_consents(actor, client.id) if c.id == consent_id), None
        )
        if record is None:
            raise NotFound()
    now = clock.now()
    facts = consent.facts(record)
    cards = service_cards(s for ids in plan.values() for s in ids)
    needs = []
    for category, ids in plan.items():
        services = []
        for service_id in ids:
            card = cards.get(service_id)
            if card is None:
                continue  # gone from the directory since it was picked
            reader = policy.Reader(card["agency_id"], is_law_enforcement=card["law_enforcement"])
            allowed = policy.sendable(
                facts, reader, card["category"], frozenset(policy.CATEGORIES), now
            )
            services.append(
                card
                | {
                    "covered": sorted(allowed - {policy.PROFILE}),
                    "named": facts is not None and card["agency_id"] in facts.recipients,
                    "do_not_refer": str(card["agency_id"]) in client.do_not_refer,
                }
            )
        if services:  # how urgent, as intake recorded it: not asked twice
            urgency = clients.urgency_for(client, category)
            needs.append({"category": category, "services": services, "urgency": urgency})
    summary = consent_summary(record, now)
    return {
        "client": {"id": client.id, "reference": client.reference},
        "consent": summary,
        "shareable": summary["data_categories"] if summary else [],
        "needs": needs,
    }


# --- one bundle, followed live --------------------------------------------------------------


def own_bundle(actor: Actor, bundle_id: uuid.UUID) -> Bundle:
    """The actor's agency's bundle (a coordinator elsewhere follows it on the network pages)."""
    bundle = bundles.get_bundle(actor, bundle_id)
    if bundle.sender_agency_id != actor.agency_id:
        raise foreign("bundle", bundle.id)
    return bundle


def _waitlist_positions(referral_ids: list[uuid.UUID]) -> dict[str, int]:
    """Last waitlist position the receiver gave, per referral (kept on the audit trail)."""
    if not referral_ids:
        return {}
    rows = db.session.execute(
        select(AuditEvent.subject_id, AuditEvent.details)
        .where(
            AuditEvent.subject_type == "referral",
            AuditEvent.subject_id.in_([str(i) for i in referral_ids]),
            AuditEvent.action == "referral.waitlisted",
        )
        .order_by(AuditEvent.seq)
    ).all()
    positions: dict[str, int] = {}
    for row in rows:
        position = (row.details or {}).get("position")
        if position is not None:
            positions[str(row.subject_id)] = int(position)
    return positions


def _suggestions(
    actor: Actor, category: str, ended: list[dict[str, Any]], avoid: set[str]
) -> list[dict[str, Any]]:
    """Where to refer again: the hub's suggestions on the ended referrals, else the best
    free matches of the same category (not a service or agency this need already used)."""
    suggested: list[str] = []
    for item in reversed(ended):
        for service_id in item["suggested_service_ids"] or []:
            if service_id not in suggested and service_id not in avoid:
                suggested.append(service_id)
    if suggested:
        cards = service_cards(suggested)
        usable = [cards[s] for s in suggested if s in cards and cards[s]["receives_referrals"]]
        return usable[:SUGGESTIONS]
    query = directory.SearchQuery(categories=(Category(category),), available=True, limit=10)
    found = []
    for match in directory.search(actor, query):
        service_id = str(match["service"]["id"])
        kind = match["agency"]["kind"]
        if service_id in avoid or str(match["agency"]["id"]) in avoid:
            continue
        if not match["agency"]["receives_referrals"]:  # counts only: she is told to call
            continue
        found.append(
            {
                "id": match["service"]["id"],
                "name": match["service"]["name"],
                "category": category,
                "agency_id": match["agency"]["id"],
                "agency_name": match["agency"]["name"],
                "available": match["capacity"]["available"],
                "law_enforcement": is_law_enforcement(kind),
                "active": True,
                "receives_referrals": True,
            }
        )
    return found[:SUGGESTIONS]


def follow_bundle(
    actor: Actor, bundle_id: uuid.UUID, now: datetime | None = None
) -> dict[str, Any]:
    """The bundle as the sender follows it: needs, their referrals with names and
    deadlines, hops, in-limbo reasons, and where to refer again."""
    now = now or clock.now()
    bundle = own_bundle(actor, bundle_id)
    view = bundles.describe(bundle, now)
    items = [r for need in view["needs"] for r in need["referrals"]]
    cards = service_cards(r["service"] for r in items)
    positions = _waitlist_positions([r["id"] for r in items])
    client = clients.load_owned(actor, bundle.client_id)  # her reference, do-not-refer list
    facts = consent.facts(db.session.get(Consent, bundle.consent_id) if bundle.consent_id else None)
    for need in view["needs"]:
        ended = []
        avoid: set[str] = set(client.do_not_refer)
        for item in need["referrals"]:
            card = cards.get(str(item["service"]), {})
            state = State(item["status"])
            item["service_name"] = card.get("name", "A service no longer listed")
            item["agency_name"] = card.get("agency_name", "")
            item["waitlist_position"] = positions.get(str(item["id"]))
            item["open"] = state in states.OPEN
            item["ended"] = state in ENDED
            item["may_withdraw"] = states.find(state, "withdraw") is not None
            item["info_requested"] = state == State.INFO_REQUESTED
            avoid.add(str(item["service"]))
            if item["agency_name"] and state not in ENDED:
                avoid.add(str(card["agency_id"]))
            if item["ended"]:
                ended.append(item)
        need["refer_again_from"] = ended[-1] if ended else None
        need["suggestions"] = (
            _suggestions(actor, need["category"], ended, avoid)
            if ended and need["status"] not in ("placed", "met")
            else []
        )
        for suggestion in need["suggestions"]:
            suggestion["shares"] = sorted(
                _shareable(facts, suggestion, ended[-1]["data_categories"], now) - {policy.PROFILE}
            )
    return view | {
        "reference": client.reference,
        "urgency": bundle.urgency.value,
        "created_at": bundle.created_at,
        "client_id": bundle.client_id,
        "consent_id": bundle.consent_id,
        "now": now,
    }


def _shareable(
    facts: policy.ConsentFacts | None,
    card: dict[str, Any],
    wanted: Iterable[str],
    now: datetime,
) -> frozenset[str]:
    """Of `wanted`, what her consent lets go to this service's agency now (profile always)."""
    reader = policy.Reader(card["agency_id"], is_law_enforcement=card["law_enforcement"])
    return policy.sendable(
        facts, reader, card["category"], frozenset(wanted) | {policy.PROFILE}, now
    ) | {policy.PROFILE}


def referral_in_bundle(actor: Actor, bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Referral:
    bundle = own_bundle(actor, bundle_id)
    referral = referrals.get_referral(actor, referral_id)
    if referral.bundle_id != bundle.id:
        raise NotFound()
    return referral


def follow_referral(
    actor: Actor,
    bundle_id: uuid.UUID,
    referral_id: uuid.UUID,
    *,
    with_messages: bool = True,
) -> dict[str, Any]:
    """One referral of the bundle: the bundle view's entry, plus its messages (an audited
    read of survivor data; left out when the page only re-shows a refused form)."""
    view = follow_bundle(actor, bundle_id)
    for need in view["needs"]:
        for item in need["referrals"]:
            if item["id"] == referral_id:
                messages = conversation.list_messages(actor, referral_id) if with_messages else None
                names = agency_names({m["author_agency"] for m in messages or []})
                for message in messages or []:
                    message["agency_name"] = names.get(str(message["author_agency"]), "")
                    message["ours"] = message["author_agency"] == actor.agency_id
                return {
                    "bundle": view,
                    "need": need,
                    "referral": item,
                    "messages": messages,
                }
    # not one of this bundle's: another agency's referral is recorded as a foreign attempt
    # (and answers as missing), exactly as the actions below record it
    referral_in_bundle(actor, bundle_id, referral_id)
    raise NotFound()


# --- what the sender does from these pages --------------------------------------------------


def act(
    actor: Actor, bundle_id: uuid.UUID, referral_id: uuid.UUID, action: str, **payload: Any
) -> Referral:
    """A sender's move (withdraw) on a referral of this bundle."""
    referral = referral_in_bundle(actor, bundle_id, referral_id)
    return referrals.transition(actor, referral.id, action, **payload)


def provide_info(
    actor: Actor, bundle_id: uuid.UUID, referral_id: uuid.UUID, answer: str | None
) -> Referral:
    """Answer the receiver's question (the service keeps the words as a sealed message) and
    the referral moves back to acknowledged."""
    referral = referral_in_bundle(actor, bundle_id, referral_id)
    return referrals.transition(actor, referral.id, "provide-info", answer=answer)


def post_message(
    actor: Actor, bundle_id: uuid.UUID, referral_id: uuid.UUID, body: str
) -> dict[str, Any]:
    referral = referral_in_bundle(actor, bundle_id, referral_id)
    return conversation.post_message(actor, referral.id, body)


def refer_again(
    actor: Actor, bundle_id: uuid.UUID, referral_id: uuid.UUID, service_id: uuid.UUID
) -> Referral:
    """A new referral for the same need, following the ended one: same client, consent and
    urgency; of the categories shared before, those her consent allows for the new agency
    (the page says which before the button is pressed). That the service serves the need's
    category is the send's own rule, whichever door asks."""
    earlier = referral_in_bundle(actor, bundle_id, referral_id)
    service = directory.get_service(actor, service_id)
    record = db.session.get(Consent, earlier.consent_id) if earlier.consent_id else None
    card = {
        "agency_id": service.agency_id,
        "category": service.category.value,
        "law_enforcement": is_law_enforcement(service.agency.kind),
    }
    shares = _shareable(consent.facts(record), card, earlier.data_categories, clock.now())
    return referrals.send_referral(
        actor,
        client_id=earlier.client_id,
        service_id=service.id,
        urgency=earlier.urgency,
        data_categories=sorted(shares),
        consent_id=earlier.consent_id,
        previous_referral_id=earlier.id,
    )


# --- the survivor's receipt -----------------------------------------------------------------


def receipt(actor: Actor, bundle_id: uuid.UUID) -> dict[str, Any]:
    """What she may carry away: her reference, who received which kinds of data for what
    and until when, and whom to ask to stop it — nothing else about her.

    What each agency "sees" is asked of the consent policy, the one rule every door uses:
    `reads_now` is exactly what that agency reads through the API and its pages now (her
    record, the referral page), `reads_on_accept` what an open referral would open once
    accepted. A category the consent allows but no referral shared is not on it."""
    bundle = own_bundle(actor, bundle_id)
    now = clock.now()
    record = db.session.get(Consent, bundle.consent_id) if bundle.consent_id else None
    sent = list(
        db.session.scalars(
            select(Referral)
            .where(Referral.bundle_id == bundle.id, Referral.sent_at.is_not(None))
            .order_by(Referral.sent_at)
        )
    )
    sent = [r for r in sent if r.status != State.ENTERED_IN_ERROR]
    cards = service_cards(r.service_id for r in sent)
    by_agency: dict[str, dict[str, Any]] = {}
    for referral in sent:
        card = cards.get(str(referral.service_id))
        if card is None:
            continue
        entry = by_agency.setdefault(
            str(referral.receiver_agency_id),
            {"name": card["agency_name"], "asked": [], "now": set(), "later": set(), "open": 0}
            | {"accepted": 0},
        )
        if card["category"] not in entry["asked"]:
            entry["asked"].append(card["category"])
        reads_now, reads_later = consent.receiver_reads(
            referral.receiver_agency_id, referral.client_id
        )
        entry["now"], entry["later"] = reads_now, reads_later
        entry["open"] += referral.status in states.OPEN
        entry["accepted"] += referral.status in states.ACCEPTED_STAGE and bool(reads_now)
    sender = agency_names([bundle.sender_agency_id]).get(str(bundle.sender_agency_id), "")
    summary = consent_summary(record, now)
    return {
        "reference": clients.load_owned(actor, bundle.client_id).reference,
        "client_id": bundle.client_id,
        "sender": sender,
        "consent": summary,
        "language": summary["language"] if summary else "en",
        "agencies": [_receipt_entry(entry) for entry in by_agency.values()],
        "created_at": bundle.created_at,
        "now": now,
    }


def _receipt_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One agency on her receipt: closed (nothing open), ended (open, but her consent no
    longer lets it see anything), accepted (it sees more than the basics now) or offered."""
    later = entry["later"] | entry["now"]
    if not entry["open"] and not entry["now"]:
        stage = "closed"
    elif not later:
        stage = "ended"
    elif entry["accepted"]:
        stage = "accepted"
    else:
        stage = "offered"
    return {
        "name": entry["name"],
        "asked": entry["asked"],
        "stage": stage,
        "reads_now": sorted(entry["now"]),
        "reads_on_accept": sorted(later),
        # the data beyond the basic facts, in the words the receipt uses
        "categories": sorted((later if stage == "offered" else entry["now"]) - {policy.PROFILE}),
    }


# --- the agency's bundles -------------------------------------------------------------------


def recent_bundles(actor: Actor, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The agency's latest bundles with their derived status: two queries in all."""
    rows = db.session.execute(
        select(Bundle.id, Bundle.urgency, Bundle.created_at, Client.reference)
        .join(Client, Client.id == Bundle.client_id)
        .where(Bundle.sender_agency_id == actor.agency_id)
        .order_by(Bundle.created_at.desc(), Bundle.id)
        .limit(limit)
    ).all()
    now = clock.now()
    facts = bundles.facts_by_need([row.id for row in rows], now)
    listed = []
    for row in rows:
        needs = []
        for _need_id, category, need_facts in facts.get(row.id, []):
            status, hops, why = bundles.classify(need_facts)
            needs.append({"category": category, "status": status, "hops": hops, "limbo": why})
        statuses = {need["status"] for need in needs}
        overall = (
            "met" if statuses <= {"met"} else "placed" if statuses <= {"met", "placed"} else "open"
        )
        listed.append(
            {
                "id": row.id,
                "reference": row.reference,
                "urgency": row.urgency.value,
                "created_at": row.created_at,
                "needs": needs,
                "status": overall,
                "in_limbo": any(need["limbo"] for need in needs),
            }
        )
    return listed
