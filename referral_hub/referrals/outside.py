"""Referrals to organisations not on the hub: the one write path for sending one, for its
one-time links, and for the answer the outside worker gives through a link.

The consent must name the organisation (`policy.covers`, as for a hub agency), and the one
minimum-necessary rule decides what goes out: `policy.sendable` at send, and at every
print or open `policy.readable` with the consent *as it is now* at the accepted stage — an
outside organisation has no second door, so what a letter or link carries is what a hub
agency reads once it accepts (the shared categories the consent still names; nothing once
it no longer covers). The states are the referral machine's: the sender sends and
withdraws, the receiver accepts or declines. Whoever holds a live link acts as the
receiver, as an `outside` actor named by that link (no agency, no account); every open is
audited (`referral.outside_link_opened`). Tokens are 192 random bits, shown once and kept
only as SHA-256; a link expires (OUTSIDE_LINK_HOURS), can be revoked by the sender, a new
one replaces the old, and after an answer it shows the outcome only.

Her consent governs it as it governs a hub referral: when it ends (`consent_ended`) an
unanswered one is withdrawn (`withdraw_under_consent`); an accepted one stays accepted, its
link and letter read nothing of her, and that is recorded once (`end_access_under_consent`).
Its answer is due by `respond_by` (a hub referral's decision deadline for its urgency); past
it, the deadline sweep tells the sender to call them, once (`tell_unanswered`).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from referral_hub.agencies import outside as organisations
from referral_hub.agencies.models import User
from referral_hub.agencies.service import agency_names, email_staff
from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent
from referral_hub.auth import ratelimit
from referral_hub.clients import service as clients
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, ActorKind, outside_actor
from referral_hub.core.errors import (
    ConsentInactive,
    ConsentRequired,
    Forbidden,
    IllegalTransition,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from referral_hub.core.tenancy import foreign
from referral_hub.directory.vocabulary import Category
from referral_hub.extensions import db
from referral_hub.notifications import webhooks
from referral_hub.notifications.service import OUTSIDE_LINK, send_email
from referral_hub.referrals import notices, states
from referral_hub.referrals.deadlines import Urgency, answer_deadlines
from referral_hub.referrals.models import Bundle, OutsideLink, OutsideReferral
from referral_hub.referrals.states import Side, State

PURPOSES = tuple(category.value for category in Category)
# on the record when her consent ends under an answered (accepted) one
ACCESS_ENDED = "referral.outside_access_ended"


def _reader(organisation_id: uuid.UUID) -> policy.Reader:
    return policy.Reader(organisation_id)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- sending ----------------------------------------------------------------------------------


def refer_outside(
    actor: Actor,
    *,
    client_id: uuid.UUID,
    organisation_id: uuid.UUID,
    purpose: str,
    urgency: Urgency | str,
    data_categories: list[str],
    consent_id: uuid.UUID | None = None,
    bundle_id: uuid.UUID | None = None,
) -> OutsideReferral:
    """Record a referral to an outside organisation, under a consent that names it."""
    client = clients.load_owned(actor, client_id, lock=True)
    organisation = organisations.get_organisation(actor, organisation_id)
    if purpose not in PURPOSES:
        raise ValidationFailed(errors={"purpose": [f"One of: {', '.join(PURPOSES)}."]})
    if consent_id is None:
        raise ConsentRequired(
            "A referral outside the hub needs her consent naming that organisation.",
            errors={"consent_id": ["Required: a consent naming this organisation."]},
        )
    record = db.session.get(Consent, consent_id)
    if record is None or record.client_id != client.id:
        raise ValidationFailed(errors={"consent_id": ["No such consent for this client."]})
    if bundle_id is not None:  # another agency's bundle, or another client's: looks missing
        bundle = db.session.get(Bundle, bundle_id)
        if bundle is None or bundle.client_id != client.id:
            raise ValidationFailed(errors={"bundle_id": ["No such bundle for this client."]})
    now = clock.now()
    facts = consent.facts(record)
    if not policy.is_active(facts, now):
        raise ConsentInactive(errors={"consent_id": [f"The consent is {record.status(now)}."]})
    reader = _reader(organisation.id)
    if not policy.covers(facts, reader, purpose, now):
        raise ConsentRequired(
            "This consent does not name this organisation for this kind of help.",
            errors={"consent_id": [f"Does not cover {organisation.name} for {purpose}."]},
        )
    categories = frozenset(data_categories) | {policy.PROFILE}
    missing = sorted(categories - policy.sendable(facts, reader, purpose, categories, now))
    if missing:
        raise ConsentRequired(
            "Sharing this needs a consent naming this organisation for this data.",
            errors={"data_categories": [f"Not covered by consent: {', '.join(missing)}."]},
        )
    referral = OutsideReferral(
        id=uuid.uuid4(),
        client_id=client.id,
        client_reference=client.reference,
        sender_agency_id=client.owner_agency_id,
        organisation_id=organisation.id,
        consent_id=record.id,
        bundle_id=bundle_id,
        purpose=purpose,
        urgency=Urgency(urgency),
        status=State.SENT,
        data_categories=sorted(categories),
        sent_at=now,
        respond_by=answer_deadlines(Urgency(urgency), now)[1],
        created_by=actor.id,
    )
    db.session.add(referral)
    audit.record(
        actor,
        "referral.outside_sent",
        referral,
        client_reference=client.reference,
        consent_id=record.id,
        fields=referral.data_categories,
        details={"organisation_id": str(organisation.id), "purpose": purpose},
    )
    _announce(referral)
    return referral


def _announce(referral: OutsideReferral) -> None:
    """The sending agency's webhooks hear the move: ids and the state, nothing else."""
    webhooks.announce(
        f"referral.outside_{referral.status.value}",
        {referral.sender_agency_id},
        {"outside_referral_id": str(referral.id), "status": referral.status.value},
    )


# --- the sender's reads and moves -------------------------------------------------------------


def get_outside(actor: Actor, referral_id: uuid.UUID, *, lock: bool = False) -> OutsideReferral:
    """The sending agency's outside referral; anyone else's looks missing."""
    statement = select(OutsideReferral).where(OutsideReferral.id == referral_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    referral = db.session.scalar(statement)
    if referral is None:
        raise NotFound()
    if actor.kind != ActorKind.SYSTEM and referral.sender_agency_id != actor.agency_id:
        raise foreign("outside_referral", referral.id)
    return referral


def list_outside(actor: Actor, client_id: uuid.UUID | None = None) -> list[OutsideReferral]:
    """The actor's agency's outside referrals (of one client when named), newest first."""
    statement = select(OutsideReferral).where(OutsideReferral.sender_agency_id == actor.agency_id)
    if client_id is not None:
        statement = statement.where(OutsideReferral.client_id == client_id)
    return list(
        db.session.scalars(statement.order_by(OutsideReferral.sent_at.desc(), OutsideReferral.id))
    )


def withdraw_outside(actor: Actor, referral_id: uuid.UUID) -> OutsideReferral:
    """The sender takes it back: its links stop working."""
    referral = get_outside(actor, referral_id, lock=True)
    _move(actor, referral, "withdraw", Side.SENDER, {})
    return referral


def issue_link(actor: Actor, referral_id: uuid.UUID) -> tuple[OutsideLink, str]:
    """A new one-time link for the organisation (any earlier one stops working); the token
    is returned once, to be sent by the worker, and kept only as its digest."""
    referral = get_outside(actor, referral_id, lock=True)
    if referral.status != State.SENT:
        raise IllegalTransition("Only a referral still waiting for an answer gets a link.")
    now = clock.now()
    _revoke_live(actor, referral, now)
    token = secrets.token_urlsafe(24)  # 192 bits
    link = OutsideLink(
        id=uuid.uuid4(),
        referral_id=referral.id,
        token_digest=digest(token),
        created_at=now,
        created_by=actor.id,
        expires_at=now + timedelta(hours=int(current_app.config["OUTSIDE_LINK_HOURS"])),
        opens=0,
    )
    db.session.add(link)
    audit.record(
        actor,
        "referral.outside_link_issued",
        referral,
        client_reference=referral.client_reference,
        details={"link_id": str(link.id), "expires_at": link.expires_at.isoformat()},
    )
    return link, token


def revoke_link(actor: Actor, referral_id: uuid.UUID, link_id: uuid.UUID) -> OutsideLink:
    referral = get_outside(actor, referral_id, lock=True)
    link = db.session.get(OutsideLink, link_id)
    if link is None:
        raise NotFound()
    if link.referral_id != referral.id:  # another referral's link: looks missing, on record
        raise foreign("outside_link", link.id)
    if link.revoked_at is None:
        _revoke(actor, referral, link, clock.now())
    return link


def links(actor: Actor, referral_id: uuid.UUID) -> list[OutsideLink]:
    referral = get_outside(actor, referral_id)
    return list(
        db.session.scalars(
            select(OutsideLink)
            .where(OutsideLink.referral_id == referral.id)
            .order_by(OutsideLink.created_at.desc())
        )
    )


def _revoke_live(actor: Actor, referral: OutsideReferral, now: datetime) -> None:
    """Every link of the referral that still works stops (a new one, or it was withdrawn)."""
    live = db.session.scalars(
        select(OutsideLink).where(
            OutsideLink.referral_id == referral.id, OutsideLink.revoked_at.is_(None)
        )
    ).all()
    for link in live:
        _revoke(actor, referral, link, now)


def _revoke(actor: Actor, referral: OutsideReferral, link: OutsideLink, now: datetime) -> None:
    link.revoked_at = now
    link.revoked_by = actor.id
    audit.record(
        actor,
        "referral.outside_link_revoked",
        referral,
        client_reference=referral.client_reference,
        details={"link_id": str(link.id)},
    )


# --- her consent ended ------------------------------------------------------------------------


def withdraw_under_consent(
    consent_id: uuid.UUID, reason: str, organisation_id: uuid.UUID | None = None
) -> int:
    """The revocation cascade, as for hub referrals: an outside referral still waiting for
    an answer under the consent (to `organisation_id` only, when she withdrew the consent
    from that organisation alone) is withdrawn, its live links revoked, on the record; the
    sending agency is told with the fixed-text notice. An answered one stays as it is — its
    link shows the outcome only, and the letter asks the consent as it is now (an accepted
    one's ended access is recorded by `end_access_under_consent`)."""
    statement = (
        select(OutsideReferral)
        .where(OutsideReferral.consent_id == consent_id, OutsideReferral.status == State.SENT)
        .order_by(OutsideReferral.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if organisation_id is not None:
        statement = statement.where(OutsideReferral.organisation_id == organisation_id)
    now = clock.now()
    senders = set()
    withdrawn = 0
    for referral in db.session.scalars(statement).all():
        referral.status = State.WITHDRAWN
        referral.closed_at = now
        _revoke_live(SYSTEM, referral, now)
        audit.record(
            SYSTEM,
            "referral.outside_withdrawn",
            referral,
            client_reference=referral.client_reference,
            consent_id=consent_id,
            details={"reason": f"consent {reason}", "from": State.SENT.value},
        )
        _announce(referral)
        senders.add(referral.sender_agency_id)
        withdrawn += 1
    for agency_id in sorted(senders):
        email_staff(agency_id, set(notices.SIDE_ROLES["sender"]), "action_waiting")
    return withdrawn


def end_access_under_consent(
    consent_id: uuid.UUID, reason: str, organisation_id: uuid.UUID | None = None
) -> int:
    """Her consent ended and an outside referral under it was already accepted: it stays
    accepted (she may be there), and its link and letter already read nothing of her (they
    ask the consent as it is now). This puts it on the record: `referral.outside_access_ended`
    with the reason, as a hub referral's `referral.access_ended` — once per referral, however
    many times the consent ends (withdrawn from that organisation, then revoked, expired or
    erased). Returns how many were recorded."""
    statement = (
        select(OutsideReferral)
        .where(OutsideReferral.consent_id == consent_id, OutsideReferral.status == State.ACCEPTED)
        .order_by(OutsideReferral.id)
    )
    if organisation_id is not None:
        statement = statement.where(OutsideReferral.organisation_id == organisation_id)
    accepted = list(db.session.scalars(statement))
    if not accepted:
        return 0
    already = set(
        db.session.scalars(
            select(AuditEvent.subject_id).where(
                AuditEvent.subject_type == OutsideReferral.__tablename__,
                AuditEvent.subject_id.in_([str(referral.id) for referral in accepted]),
                AuditEvent.action == ACCESS_ENDED,
            )
        )
    )
    ended = 0
    for referral in accepted:
        if str(referral.id) in already:
            continue
        audit.record(
            SYSTEM,
            ACCESS_ENDED,
            referral,
            client_reference=referral.client_reference,
            consent_id=consent_id,
            details={"reason": f"consent {reason}", "status": referral.status.value},
        )
        ended += 1
    return ended


# --- no answer by its deadline -----------------------------------------------------------------


def tell_unanswered() -> int:
    """Periodic (the deadline sweep): an outside referral still unanswered past `respond_by`
    has nobody on the other side to remind, so the sender is told to call them — its
    caseworker, else its agency's intake staff — once, on the record. Returns how many."""
    now = clock.now()
    statement = (
        select(OutsideReferral)
        .where(
            OutsideReferral.status == State.SENT,
            OutsideReferral.respond_by < now,
            OutsideReferral.no_answer_told_at.is_(None),
        )
        .order_by(OutsideReferral.respond_by, OutsideReferral.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    told = 0
    for referral in db.session.scalars(statement).all():
        referral.no_answer_told_at = now
        organisation = organisations.get_organisation(SYSTEM, referral.organisation_id)
        values = {
            "organisation": _one_line(organisation.name),
            "path": OUTSIDE_LINK.format(referral=referral.id),
        }
        caseworker = _sender_caseworker(referral)
        if caseworker is not None:
            send_email(caseworker.email, "outside_no_answer", values)
        else:
            email_staff(
                referral.sender_agency_id,
                set(notices.SIDE_ROLES["sender"]),
                "outside_no_answer",
                values,
            )
        audit.record(
            SYSTEM,
            "referral.outside_no_answer_told",
            referral,
            client_reference=referral.client_reference,
            details={
                "respond_by": referral.respond_by.isoformat() if referral.respond_by else None,
                "to": str(caseworker.id) if caseworker is not None else "agency",
            },
        )
        told += 1
    return told


def _one_line(name: str) -> str:
    """The name as one line of printable text (as typed, it could hold a line break)."""
    printable = "".join(char if char.isprintable() else " " for char in name)
    return " ".join(printable.split())[:200] or "the organisation"


def _sender_caseworker(referral: OutsideReferral) -> User | None:
    """Who owns it at the sending agency: the caseworker of its bundle when it is part of
    one, else the worker who sent it — while an active intake worker of that agency."""
    user_id: uuid.UUID | None = None
    if referral.bundle_id is not None:
        bundle = db.session.get(Bundle, referral.bundle_id)
        user_id = bundle.sender_assignee_id if bundle is not None else None
    if user_id is None and referral.created_by:
        try:
            user_id = uuid.UUID(referral.created_by)
        except ValueError:
            user_id = None
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if notices.may_own(user, referral.sender_agency_id, "sender") else None


# --- what goes out: the letter and the link page ----------------------------------------------


@dataclass(frozen=True)
class Shared:
    """What one outside referral carries now: nothing about her beyond `categories`."""

    referral: OutsideReferral
    organisation: dict[str, Any]
    sender_name: str
    categories: frozenset[str]
    profile: dict[str, Any]
    pii: dict[str, Any] = field(default_factory=dict)
    language: str = "en"

    @property
    def answered(self) -> bool:
        return self.referral.status != State.SENT


def _shared(actor: Actor, referral: OutsideReferral) -> Shared:
    """Asks the policy with the consent as it is now; audits the PII before it leaves."""
    client = clients.load_client(referral.client_id)
    profile = dict(client.profile or {})
    organisation = organisations.get_organisation(SYSTEM, referral.organisation_id)
    nothing = Shared(  # the outcome only: nothing about her
        referral=referral,
        organisation=organisations.describe(organisation),
        sender_name=agency_names([referral.sender_agency_id]).get(
            str(referral.sender_agency_id), ""
        ),
        categories=frozenset(),
        profile={},
        language=str(profile.get("language") or "en"),
    )
    if referral.status != State.SENT or client.erased_at is not None:
        return nothing
    record = db.session.get(Consent, referral.consent_id) if referral.consent_id else None
    categories = policy.readable(
        consent.facts(record),
        _reader(referral.organisation_id),
        policy.Stage.ACCEPTED,
        clock.now(),
        shared=referral.data_categories,
        purpose=referral.purpose,
    )
    if not categories:
        return nothing
    pii = clients.unseal(client, set(categories))
    shown = sorted(categories & policy.PII_CATEGORIES & clients.present_categories(client))
    if shown:
        audit.record(
            actor,
            "client.pii_viewed",
            client,
            client_reference=client.reference,
            fields=shown,
            consent_id=referral.consent_id,
            details={"as": "outside", "outside_referral_id": str(referral.id)},
        )
    return replace(nothing, categories=categories, profile=profile, pii=pii)


def letter(actor: Actor, referral_id: uuid.UUID) -> Shared:
    """The printable letter for the sender to hand or post: the same rule as the link."""
    referral = get_outside(actor, referral_id)
    shared = _shared(actor, referral)
    audit.record(
        actor,
        "referral.outside_letter_printed",
        referral,
        client_reference=referral.client_reference,
        fields=sorted(shared.categories),
        consent_id=referral.consent_id,
    )
    return shared


def _live_link(token: str, address: str) -> OutsideLink:
    """The link for `token` if it still works; every failure looks the same (404)."""
    config = current_app.config
    used = ratelimit.hit_now(
        f"outside-link:ip:{ratelimit.hashed(address)}", int(config["OUTSIDE_LINK_WINDOW_SECONDS"])
    )
    if used.count > int(config["OUTSIDE_LINK_REQUESTS_PER_WINDOW"]):
        raise RateLimited(
            f"Too many requests; try again in {used.retry_after} seconds.",
            headers={"Retry-After": str(used.retry_after)},
        )
    if not token or len(token) > 100:
        raise NotFound()
    link = db.session.scalar(select(OutsideLink).where(OutsideLink.token_digest == digest(token)))
    if link is None or link.revoked_at is not None or clock.now() >= link.expires_at:
        raise NotFound()
    return link


def check_link(token: str, *, address: str) -> None:
    """That `token` is a live link (else the same 404 as any other failure); reads only."""
    link = _live_link(token, address)
    referral = db.session.get_one(OutsideReferral, link.referral_id)
    if referral.status == State.WITHDRAWN:
        raise NotFound()


def open_link(token: str, *, address: str) -> Shared:
    """The link page: what the policy allows now, or (answered) the outcome only. Audited."""
    link = _live_link(token, address)
    referral = db.session.get_one(OutsideReferral, link.referral_id)
    if referral.status == State.WITHDRAWN:
        raise NotFound()
    now = clock.now()
    link.opens += 1
    link.first_opened_at = link.first_opened_at or now
    actor = outside_actor(link.id)
    audit.record(
        actor,
        "referral.outside_link_opened",
        referral,
        client_reference=referral.client_reference,
        consent_id=referral.consent_id,
        details={"link_id": str(link.id), "status": referral.status.value},
    )
    return _shared(actor, referral)


def answer_by_link(
    token: str,
    action: str,
    *,
    address: str,
    reason: str | None = None,
) -> OutsideReferral:
    """The outside worker accepts or declines (with a coded reason) — once."""
    # the referral is locked before its link, in the order withdrawal and a new link take
    # them (referral, then its links), so an answer racing either cannot deadlock with it
    found = _live_link(token, address)
    referral = db.session.scalar(
        select(OutsideReferral)
        .where(OutsideReferral.id == found.referral_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if referral is None or referral.status == State.WITHDRAWN:
        raise NotFound()
    link = db.session.scalar(
        select(OutsideLink)
        .where(OutsideLink.id == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if link is None or link.revoked_at is not None or clock.now() >= link.expires_at:
        raise NotFound()  # revoked or replaced while this answer waited for the lock
    if action not in ("accept", "decline"):
        raise ValidationFailed(errors={"action": ["One of: accept, decline."]})
    actor = outside_actor(link.id)
    _move(actor, referral, action, Side.RECEIVER, {"reason": reason})
    link.answered_at = clock.now()
    return referral


def _move(
    actor: Actor, referral: OutsideReferral, action: str, side: Side, payload: dict[str, Any]
) -> None:
    """One move of the referral machine, legal from here for `side` — or nothing."""
    move = states.find(referral.status, action)
    if move is None or move.target not in (State.ACCEPTED, State.DECLINED, State.WITHDRAWN):
        raise IllegalTransition(
            f"A referral that is {referral.status.value} cannot be answered or changed so."
        )
    if move.side != side:
        raise Forbidden(f"Only the {move.side.value} may {action} this referral.")
    if action == "decline" and payload.get("reason") not in states.DECLINE_REASONS:
        raise ValidationFailed(errors={"reason": [f"One of: {', '.join(states.DECLINE_REASONS)}."]})
    now = clock.now()
    previous = referral.status
    referral.status = move.target
    if side == Side.RECEIVER:
        referral.answered_at = now
    if move.target == State.DECLINED:
        referral.decline_reason = payload["reason"]
    if move.target in states.TERMINAL:
        referral.closed_at = now
    if move.target == State.WITHDRAWN:
        _revoke_live(actor, referral, now)
    details: dict[str, Any] = {"action": action, "from": previous.value}
    if move.target == State.DECLINED:
        details["reason"] = payload["reason"]
    audit.record(
        actor,
        f"referral.outside_{move.target.value}",
        referral,
        client_reference=referral.client_reference,
        consent_id=referral.consent_id,
        details=details,
    )
    _announce(referral)
    if side == Side.RECEIVER:  # a fixed-text e-mail: something waits, nothing about her
        email_staff(referral.sender_agency_id, set(notices.SIDE_ROLES["sender"]), "action_waiting")


def describe(referral: OutsideReferral) -> dict[str, Any]:
    return {
        "id": referral.id,
        "status": referral.status.value,
        "urgency": Urgency(referral.urgency).value,
        "client_id": referral.client_id,
        "client_reference": referral.client_reference,
        "organisation_id": referral.organisation_id,
        "consent_id": referral.consent_id,
        "bundle_id": referral.bundle_id,
        "purpose": referral.purpose,
        "data_categories": referral.data_categories,
        "sent_at": referral.sent_at,
        "respond_by": referral.respond_by,
        "answered_at": referral.answered_at,
        "decline_reason": referral.decline_reason,
    }


def describe_link(link: OutsideLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "created_at": link.created_at,
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
        "first_opened_at": link.first_opened_at,
        "opens": link.opens,
        "answered_at": link.answered_at,
    }
