"""The sending agency's view of its bundles: what the intake pages read.

Reads put names next to ids (services, agencies) with one query per kind, not one per
row, and never touch survivor PII — only references, statuses and categories; the one
read of survivor data here (messages) goes through `conversation.list_messages`, which
audits it. Every bundle here is the actor's own agency's (`bundles.own_bundle`): another
agency's bundle, or a referral that is not in the bundle named, looks missing. What the
sender does from these pages (withdraw, answer, a message, refer again) is the services'
own: the pages call `referrals.service`, `conversation` and `bundles` directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select

from referral_hub.agencies.models import User
from referral_hub.agencies.service import agency_names
from referral_hub.agencies.vocabulary import is_law_enforcement
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.directory import search as finder
from referral_hub.directory.queries import summaries
from referral_hub.directory.vocabulary import Category
from referral_hub.extensions import db
from referral_hub.referrals import assignment, bundles, conversation, states
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import EXTENSION_REASONS
from referral_hub.referrals.models import Bundle, Referral
from referral_hub.referrals.states import DECLINE_REASONS, UNFINISHED_REASONS, State

# a referral that ended without help: the need may be referred again from it
ENDED = frozenset({State.DECLINED, State.EXPIRED, State.NOT_COMPLETED, State.WITHDRAWN})
SUGGESTIONS = 3
LIST_LIMIT = 50


@dataclass(frozen=True, slots=True)
class ServiceCard:
    """A service with its agency's name: what the sender's pages show next to an id."""

    id: uuid.UUID
    name: str
    category: str
    agency_id: uuid.UUID
    agency_name: str
    law_enforcement: bool
    active: bool
    receives_referrals: bool
    available: int | None = None  # a free match's places, when the search gave them

    def reader(self) -> policy.Reader:
        return policy.Reader(self.agency_id, is_law_enforcement=self.law_enforcement)


@dataclass(frozen=True, slots=True)
class PlannedService(ServiceCard):
    """A service of the plan on the new-bundle form: what her consent lets it receive
    (`covered`), whether the consent names its agency, whether she asked not to be sent
    there."""

    covered: list[str] | None = None
    named: bool = False
    do_not_refer: bool = False


@dataclass(frozen=True, slots=True)
class Suggestion(ServiceCard):
    """Where to refer again, with what her consent lets the referral carry there."""

    shares: list[str] | None = None


def _card_fields(card: ServiceCard) -> dict[str, Any]:
    return {f.name: getattr(card, f.name) for f in fields(ServiceCard)}


@dataclass(frozen=True, slots=True)
class FollowedReferral:
    """One referral of a bundle as its sender follows it: statuses, deadlines, names and
    coded reasons (no survivor data), and what the sender may do next."""

    id: uuid.UUID
    status: str
    urgency: str
    service: uuid.UUID
    service_name: str
    agency_name: str
    data_categories: list[str]
    previous_referral_id: uuid.UUID | None
    suggested_service_ids: list[str]
    acknowledge_by: datetime | None
    respond_by: datetime | None
    arrive_by: datetime | None
    expire_by: datetime | None
    hold_overflow: bool
    hold_extended_at: datetime | None
    hold_extension_reason: str | None
    decline_reason: str | None
    outcome: str | None
    created_at: datetime
    waitlist_position: int | None
    open: bool
    ended: bool
    may_withdraw: bool
    info_requested: bool


@dataclass(frozen=True, slots=True)
class FollowedNeed:
    id: uuid.UUID
    category: str
    urgency: str
    status: str
    hops: int
    referrals: list[FollowedReferral]
    refer_again_from: FollowedReferral | None  # the last ended one: refer again from it
    suggestions: list[Suggestion]


@dataclass(frozen=True, slots=True)
class FollowedBundle:
    """The bundle page: its needs with their referrals, in-limbo reasons, and her reference."""

    id: uuid.UUID
    status: str
    in_limbo: bool
    limbo_reasons: list[str]
    needs: list[FollowedNeed]
    reference: str
    caseworker: str | None  # the sending caseworker's name; None: nobody yet
    urgency: str
    created_at: datetime
    client_id: uuid.UUID
    consent_id: uuid.UUID | None
    now: datetime


@dataclass(frozen=True, slots=True)
class Handover:
    """A caseworker change on one side: whose side, from whom to whom (names; None: nobody
    before, or a name no longer on the hub), and whether a note was left — the note itself
    is sealed in the messages, never here."""

    side: str
    from_name: str | None
    to_name: str | None
    with_note: bool


@dataclass(frozen=True, slots=True)
class SentTimelineEvent:
    """One event of the referral's timeline as its sender reads it: when, what, which agency
    acted (None: the hub itself, or someone outside the two parties), a coded reason only,
    a waiting-list place, a handover's names. Nothing about her: the chain never held it."""

    seq: int
    at: datetime
    action: str
    actor_type: str
    agency_name: str | None
    ours: bool
    reason: str | None
    position: int | None
    handover: Handover | None


@dataclass(frozen=True, slots=True)
class FollowedReferralPage:
    """One referral of the bundle, with its timeline and its messages (None: left out, not
    read)."""

    bundle: FollowedBundle
    need: FollowedNeed
    referral: FollowedReferral
    messages: list[dict[str, Any]] | None
    timeline: list[SentTimelineEvent]


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ConsentSummary:
    """What a consent allows: whom, for what, which kinds of data (her profile aside), and
    its dates — nothing about her."""

    id: uuid.UUID
    status: str
    recipients: list[Recipient]
    purposes: list[str]
    data_categories: list[str]
    signed_at: datetime
    expires_at: datetime | None
    language: str


@dataclass(frozen=True, slots=True)
class ClientRef:
    id: uuid.UUID
    reference: str


@dataclass(frozen=True, slots=True)
class PlannedNeed:
    category: str
    services: list[PlannedService]
    urgency: str | None  # as intake recorded it on her record


@dataclass(frozen=True, slots=True)
class BundleForm:
    """The new-bundle page: her reference, the consent, what it lets go, the planned needs."""

    client: ClientRef
    consent: ConsentSummary | None
    shareable: list[str]
    needs: list[PlannedNeed]


@dataclass(frozen=True, slots=True)
class ReceiptAgency:
    """One agency on her receipt: the services asked of it, its stage (closed, ended,
    accepted, offered), what it reads now and would read once it accepts, and the data
    beyond the basic facts in the receipt's words."""

    name: str
    asked: list[str]
    stage: str
    reads_now: list[str]
    reads_on_accept: list[str]
    categories: list[str]


@dataclass(frozen=True, slots=True)
class Receipt:
    reference: str
    client_id: uuid.UUID
    sender: str
    consent: ConsentSummary | None
    language: str
    agencies: list[ReceiptAgency]
    created_at: datetime
    now: datetime


@dataclass(frozen=True, slots=True)
class NeedLine:
    category: str
    status: str
    hops: int
    limbo: str | None


@dataclass(frozen=True, slots=True)
class BundleLine:
    """A bundle in the agency's list of its latest ones."""

    id: uuid.UUID
    reference: str
    caseworker: str | None
    urgency: str
    created_at: datetime
    needs: list[NeedLine]
    status: str
    in_limbo: bool


# --- names next to ids ----------------------------------------------------------------------


def service_cards(ids: Iterable[uuid.UUID | str]) -> dict[str, ServiceCard]:
    """Service id (str) → name, category, agency: the directory's summaries, one query."""
    return {
        str(summary.id): ServiceCard(
            id=summary.id,
            name=summary.name,
            category=summary.category,
            agency_id=summary.agency_id,
            agency_name=summary.agency_name,
            law_enforcement=is_law_enforcement(summary.agency_kind),
            active=summary.active,
            receives_referrals=summary.receives_referrals,
        )
        for summary in summaries(list(ids)).values()
    }


def consent_summary(record: Consent | None, now: datetime) -> ConsentSummary | None:
    """What a consent allows, without anything about her beyond categories and dates."""
    if record is None:
        return None
    names = agency_names(record.covered_recipients)
    return ConsentSummary(
        id=record.id,
        status=record.status(now),
        recipients=[
            Recipient(id=agency, name=names.get(agency, "an agency no longer listed"))
            for agency in record.covered_recipients
        ],
        purposes=list(record.purposes),
        data_categories=[c for c in record.data_categories if c != policy.PROFILE],
        signed_at=record.signed_at,
        expires_at=record.expires_at,
        language=record.form_language,
    )


# --- the new-bundle form --------------------------------------------------------------------


def bundle_form(
    actor: Actor,
    client_id: uuid.UUID,
    consent_id: uuid.UUID | None,
    plan: dict[str, list[str]],
) -> BundleForm:
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
            allowed = policy.sendable(
                facts, card.reader(), card.category, frozenset(policy.CATEGORIES), now
            )
            services.append(
                PlannedService(
                    **_card_fields(card),
                    covered=sorted(allowed - {policy.PROFILE}),
                    named=facts is not None and card.agency_id in facts.recipients,
                    do_not_refer=str(card.agency_id) in client.do_not_refer,
                )
            )
        if services:  # how urgent, as intake recorded it: not asked twice
            urgency = clients.urgency_for(client, category)
            needs.append(PlannedNeed(category=category, services=services, urgency=urgency))
    summary = consent_summary(record, now)
    return BundleForm(
        client=ClientRef(id=client.id, reference=client.reference),
        consent=summary,
        shareable=summary.data_categories if summary else [],
        needs=needs,
    )


# --- one bundle, followed live --------------------------------------------------------------


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
    actor: Actor, category: str, ended: list[FollowedReferral], avoid: set[str]
) -> list[ServiceCard]:
    """Where to refer again: the hub's suggestions on the ended referrals, else the best
    free matches of the same category (not a service or agency this need already used)."""
    suggested: list[str] = []
    for item in reversed(ended):
        for service_id in item.suggested_service_ids or []:
            if service_id not in suggested and service_id not in avoid:
                suggested.append(service_id)
    if suggested:
        cards = service_cards(suggested)
        usable = [cards[s] for s in suggested if s in cards and cards[s].receives_referrals]
        return usable[:SUGGESTIONS]
    query = finder.SearchQuery(categories=(Category(category),), available=True, limit=10)
    found = []
    for match in finder.search(actor, query):
        service_id = str(match["service"]["id"])
        kind = match["agency"]["kind"]
        if service_id in avoid or str(match["agency"]["id"]) in avoid:
            continue
        if not match["agency"]["receives_referrals"]:  # counts only: she is told to call
            continue
        found.append(
            ServiceCard(
                id=match["service"]["id"],
                name=match["service"]["name"],
                category=category,
                agency_id=match["agency"]["id"],
                agency_name=match["agency"]["name"],
                available=match["capacity"]["available"],
                law_enforcement=is_law_enforcement(kind),
                active=True,
                receives_referrals=True,
            )
        )
    return found[:SUGGESTIONS]


def handover_choices(actor: Actor, bundle_id: uuid.UUID) -> list[dict[str, Any]]:
    """Whom the bundle may be handed to: the agency's intake colleagues (names, no e-mail),
    the present caseworker left out."""
    bundle = bundles.own_bundle(actor, bundle_id)
    return [
        colleague
        for colleague in assignment.colleagues(actor, "sender")
        if colleague["id"] != bundle.sender_assignee_id
    ]


def follow_bundle(
    actor: Actor, bundle_id: uuid.UUID, now: datetime | None = None
) -> FollowedBundle:
    """The bundle as the sender follows it: needs, their referrals with names and
    deadlines, hops, in-limbo reasons, and where to refer again."""
    now = now or clock.now()
    bundle = bundles.own_bundle(actor, bundle_id)
    view = bundles.describe(bundle, now)
    items = [r for need in view["needs"] for r in need["referrals"]]
    cards = service_cards(r["service"] for r in items)
    positions = _waitlist_positions([r["id"] for r in items])
    client = clients.load_owned(actor, bundle.client_id)  # her reference, do-not-refer list
    facts = consent.facts(db.session.get(Consent, bundle.consent_id) if bundle.consent_id else None)
    needs = []
    for need in view["needs"]:
        ended: list[FollowedReferral] = []
        avoid: set[str] = set(client.do_not_refer)
        followed = []
        for item in need["referrals"]:
            card = cards.get(str(item["service"]))
            referral = _followed(item, card, positions.get(str(item["id"])))
            followed.append(referral)
            avoid.add(str(item["service"]))
            if card is not None and not referral.ended:
                avoid.add(str(card.agency_id))
            if referral.ended:
                ended.append(referral)
        suggestions = (
            _suggestions(actor, need["category"], ended, avoid)
            if ended and need["status"] not in ("placed", "met")
            else []
        )
        needs.append(
            FollowedNeed(
                id=need["id"],
                category=need["category"],
                urgency=need["urgency"],
                status=need["status"],
                hops=need["hops"],
                referrals=followed,
                refer_again_from=ended[-1] if ended else None,
                suggestions=[
                    Suggestion(
                        **_card_fields(card),
                        shares=sorted(
                            referrals.shareable(
                                facts,
                                card.reader(),
                                card.category,
                                ended[-1].data_categories,
                                now,
                            )
                            - {policy.PROFILE}
                        ),
                    )
                    for card in suggestions
                ],
            )
        )
    return FollowedBundle(
        id=view["id"],
        status=view["status"],
        in_limbo=view["in_limbo"],
        limbo_reasons=view["limbo_reasons"],
        needs=needs,
        reference=client.reference,
        caseworker=assignment.name_of(bundle.sender_assignee_id),
        urgency=bundle.urgency.value,
        created_at=bundle.created_at,
        client_id=bundle.client_id,
        consent_id=bundle.consent_id,
        now=now,
    )


def _followed(
    item: dict[str, Any], card: ServiceCard | None, position: int | None
) -> FollowedReferral:
    """A referral's description (`referrals.service.describe`) with names and what may
    come next."""
    state = State(item["status"])
    return FollowedReferral(
        id=item["id"],
        status=item["status"],
        urgency=item["urgency"],
        service=item["service"],
        service_name=card.name if card else "A service no longer listed",
        agency_name=card.agency_name if card else "",
        data_categories=list(item["data_categories"] or []),
        previous_referral_id=item["previous_referral_id"],
        suggested_service_ids=list(item["suggested_service_ids"] or []),
        acknowledge_by=item["acknowledge_by"],
        respond_by=item["respond_by"],
        arrive_by=item["arrive_by"],
        expire_by=item["expire_by"],
        hold_overflow=item["hold_overflow"],
        hold_extended_at=item["hold_extended_at"],
        hold_extension_reason=item["hold_extension_reason"],
        decline_reason=item["decline_reason"],
        outcome=item["outcome"],
        created_at=item["created_at"],
        waitlist_position=position,
        open=state in states.OPEN,
        ended=state in ENDED,
        may_withdraw=states.find(state, "withdraw") is not None,
        info_requested=state == State.INFO_REQUESTED,
    )


def follow_referral(
    actor: Actor,
    bundle_id: uuid.UUID,
    referral_id: uuid.UUID,
    *,
    with_messages: bool = True,
) -> FollowedReferralPage:
    """One referral of the bundle: the bundle view's entry, plus its messages (an audited
    read of survivor data; left out when the page only re-shows a refused form)."""
    view = follow_bundle(actor, bundle_id)
    for need in view.needs:
        for item in need.referrals:
            if item.id == referral_id:
                messages = conversation.list_messages(actor, referral_id) if with_messages else None
                names = agency_names({m["author_agency"] for m in messages or []})
                for message in messages or []:
                    message["agency_name"] = names.get(str(message["author_agency"]), "")
                    message["ours"] = message["author_agency"] == actor.agency_id
                return FollowedReferralPage(
                    bundle=view,
                    need=need,
                    referral=item,
                    messages=messages,
                    timeline=sent_timeline(actor, referral_id),
                )
    # not one of this bundle's: another agency's referral is recorded as a foreign attempt
    # (and answers as missing), exactly as the actions record it
    bundles.referral_in_bundle(actor, bundle_id, referral_id)
    raise NotFound()


# reads of her data, the note and the messages: on the audit trail, not the timeline (the
# page's own read of the messages would otherwise add one at every visit)
READS = frozenset({"referral.messages_read", "referral.note_read"})
HANDOVER = "referral.assigned"
CODED_REASONS = frozenset(DECLINE_REASONS) | frozenset(UNFINISHED_REASONS) | {*EXTENSION_REASONS}


def sent_timeline(actor: Actor, referral_id: uuid.UUID) -> list[SentTimelineEvent]:
    """The referral's timeline for its sending agency: the API's read
    (`conversation.timeline`, which checks access) with the agencies' and caseworkers' names
    — one query for each kind — and, of the details, only coded reasons, a waiting-list
    place and a handover's side and names."""
    referral = referrals.get_referral(actor, referral_id)
    events = [e for e in conversation.timeline(actor, referral.id) if e["action"] not in READS]
    parties = {referral.sender_agency_id, referral.receiver_agency_id}
    agencies = agency_names({e["agency"] for e in events if e["agency"] in parties})
    handed = [e["details"] or {} for e in events if e["action"] == HANDOVER]
    people = assignment.names_among(
        {str(d[k]) for d in handed for k in ("from", "to") if d.get(k)}, parties
    )
    return [_entry(actor, event, agencies, people) for event in events]


def _entry(
    actor: Actor, event: dict[str, Any], agencies: dict[str, str], people: dict[str, str]
) -> SentTimelineEvent:
    details = event["details"] or {}
    return SentTimelineEvent(
        seq=event["seq"],
        at=event["at"],
        action=event["action"],
        actor_type=event["actor_type"],
        agency_name=agencies.get(str(event["agency"])) if event["agency"] else None,
        ours=event["agency"] is not None and event["agency"] == actor.agency_id,
        reason=_coded(details.get("reason")),
        position=_position(details.get("position")),
        handover=_handover(details, people) if event["action"] == HANDOVER else None,
    )


def _coded(reason: object) -> str | None:
    """A coded reason only: a free-text one (a withdrawal's words) is not for this list."""
    return reason if isinstance(reason, str) and reason in CODED_REASONS else None


def _position(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _handover(details: dict[str, Any], people: dict[str, str]) -> Handover:
    side = details.get("side")
    return Handover(
        side=side if side in assignment.SIDES else "",
        from_name=people.get(str(details.get("from"))),
        to_name=people.get(str(details.get("to"))),
        with_note=details.get("with_note") is True,
    )


# --- the survivor's receipt -----------------------------------------------------------------


def receipt(actor: Actor, bundle_id: uuid.UUID) -> Receipt:
    """What she may carry away: her reference, who received which kinds of data for what
    and until when, and whom to ask to stop it — nothing else about her.

    What each agency "sees" is asked of the consent policy, the one rule every door uses:
    `reads_now` is exactly what that agency reads through the API and its pages now (her
    record, the referral page), `reads_on_accept` what an open referral would open once
    accepted. A category the consent allows but no referral shared is not on it."""
    bundle = bundles.own_bundle(actor, bundle_id)
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
            {"name": card.agency_name, "asked": [], "now": set(), "later": set(), "open": 0}
            | {"accepted": 0},
        )
        if card.category not in entry["asked"]:
            entry["asked"].append(card.category)
        reads_now, reads_later = consent.receiver_reads(
            referral.receiver_agency_id, referral.client_id
        )
        entry["now"], entry["later"] = reads_now, reads_later
        entry["open"] += referral.status in states.OPEN
        entry["accepted"] += referral.status in states.ACCEPTED_STAGE and bool(reads_now)
    sender = agency_names([bundle.sender_agency_id]).get(str(bundle.sender_agency_id), "")
    summary = consent_summary(record, now)
    return Receipt(
        reference=clients.load_owned(actor, bundle.client_id).reference,
        client_id=bundle.client_id,
        sender=sender,
        consent=summary,
        language=summary.language if summary else "en",
        agencies=[_receipt_entry(entry) for entry in by_agency.values()],
        created_at=bundle.created_at,
        now=now,
    )


def _receipt_entry(entry: dict[str, Any]) -> ReceiptAgency:
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
    return ReceiptAgency(
        name=entry["name"],
        asked=entry["asked"],
        stage=stage,
        reads_now=sorted(entry["now"]),
        reads_on_accept=sorted(later),
        # the data beyond the basic facts, in the words the receipt uses
        categories=sorted((later if stage == "offered" else entry["now"]) - {policy.PROFILE}),
    )


# --- the agency's bundles -------------------------------------------------------------------


def recent_bundles(actor: Actor, limit: int = LIST_LIMIT) -> list[BundleLine]:
    """The agency's latest bundles with their derived status: two queries in all."""
    rows = db.session.execute(
        select(
            Bundle.id,
            Bundle.urgency,
            Bundle.created_at,
            Client.reference,
            User.display_name.label("caseworker"),
        )
        .join(Client, Client.id == Bundle.client_id)
        .outerjoin(User, User.id == Bundle.sender_assignee_id)
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
            needs.append(NeedLine(category=category, status=status, hops=hops, limbo=why))
        statuses = {need.status for need in needs}
        overall = (
            "met" if statuses <= {"met"} else "placed" if statuses <= {"met", "placed"} else "open"
        )
        listed.append(
            BundleLine(
                id=row.id,
                reference=row.reference,
                caseworker=row.caseworker,
                urgency=row.urgency.value,
                created_at=row.created_at,
                needs=needs,
                status=overall,
                in_limbo=any(need.limbo for need in needs),
            )
        )
    return listed
