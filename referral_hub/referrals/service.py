"""Sending referrals and moving them through their states — one transaction each, with the
audit event, the capacity hold or release, the receiver's access and the notifications.

The receiver's access to her data is data (consent access grants): opened at send
(profile only), widened at acceptance, ended at a terminal state.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select

from referral_hub.agencies.models import AgencyStatus, User
from referral_hub.agencies.vocabulary import is_law_enforcement, receives_referrals
from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock, envelope
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.errors import (
    Conflict,
    ConsentInactive,
    ConsentRequired,
    DoNotRefer,
    Forbidden,
    IllegalTransition,
    NoCapacity,
    NotFound,
    ValidationFailed,
)
from referral_hub.core.pagination import paginate
from referral_hub.core.tenancy import foreign
from referral_hub.directory import service as directory
from referral_hub.directory.capacity import consume_place, hold_place, release_place
from referral_hub.directory.vocabulary import ServiceStatus
from referral_hub.extensions import db
from referral_hub.live import service as live
from referral_hub.notifications import webhooks
from referral_hub.notifications.service import referral_link
from referral_hub.referrals import messages, notices, states
from referral_hub.referrals.deadlines import (
    DEADLINES,
    EXTENSION_REASONS,
    HOLD_MINUTES_DEFAULT,
    HOLD_MINUTES_MAX,
    HOLD_MINUTES_MIN,
    Urgency,
    answer_deadlines,
    arrival_deadline,
    hold_length,
)
from referral_hub.referrals.models import Need, Referral
from referral_hub.referrals.states import Side, State

REASON_REQUIRED = {"decline": states.DECLINE_REASONS, "end-unfinished": states.UNFINISHED_REASONS}
PAST_TENSE = {
    "send": "sent",
    "acknowledge": "acknowledged",
    "request-info": "asked for information",
    "provide-info": "answered",
    "waitlist": "waitlisted",
    "accept": "accepted",
    "decline": "declined",
    "withdraw": "withdrawn",
    "confirm-arrival": "confirmed as arrived",
    "complete": "completed",
    "end-unfinished": "ended unfinished",
    "mark-error": "marked an error",
    "expire": "expired",
    "supersede": "superseded",
    "no-show": "marked a no-show",
}
TEXT_REQUIRED = {
    "withdraw": "reason",
    "mark-error": "reason",
    "request-info": "question",
    "provide-info": "answer",
}


# --- sending --------------------------------------------------------------------------------


def send_referral(
    actor: Actor,
    *,
    client_id: uuid.UUID,
    service_id: uuid.UUID,
    urgency: Urgency,
    data_categories: list[str],
    consent_id: uuid.UUID | None = None,
    note: str | None = None,
    send: bool = True,
    bundle_id: uuid.UUID | None = None,
    need_id: uuid.UUID | None = None,
    previous_referral_id: uuid.UUID | None = None,
) -> Referral:
    """Check the send rules, then create the referral (and send it unless `send` is false)."""
    client = clients.load_owned(actor, client_id, lock=True)  # racing sends go one by one
    service = directory.get_service(actor, service_id)
    if service.status != ServiceStatus.ACTIVE or service.agency.status != AgencyStatus.ACTIVE:
        raise ValidationFailed(errors={"service_id": ["This service is not taking referrals now."]})
    refuse_counts_only(service.agency)
    if str(service.agency_id) in client.do_not_refer:
        raise DoNotRefer(errors={"service_id": ["The client asked not to be sent to this agency."]})
    if previous_referral_id is not None:
        earlier = get_referral(actor, previous_referral_id)
        if earlier.client_id != client.id or earlier.status not in states.TERMINAL:
            raise ValidationFailed(
                errors={
                    "previous_referral_id": [
                        "Refer again follows an ended referral of the same client."
                    ]
                }
            )
        if directory.get_service(actor, earlier.service_id).category != service.category:
            raise ValidationFailed(
                errors={"service_id": ["Not a service of this need's category."]}
            )
        # the same need, whichever door asks: it stays in her bundle and counts its hops
        bundle_id, need_id = earlier.bundle_id, earlier.need_id
    categories = frozenset(data_categories) | {policy.PROFILE}
    record = _consent_for(client.id, consent_id)
    receiver = policy.Reader(
        service.agency_id, is_law_enforcement=is_law_enforcement(service.agency.kind)
    )
    purpose = service.category.value
    now = clock.now()
    if (
        record is not None
        and bundle_id is not None
        and categories == {policy.PROFILE}
        and not policy.covers(consent.facts(record), receiver, purpose, now)
    ):
        record = None  # the bundle's consent is not for this agency or purpose: it stays home
    allowed = policy.sendable(consent.facts(record), receiver, purpose, categories, now)
    missing = sorted(categories - allowed)
    if record is not None and not policy.is_active(consent.facts(record), now):
        raise ConsentInactive(errors={"consent_id": [f"The consent is {record.status(now)}."]})
    if missing:
        raise ConsentRequired(
            "Sharing this needs a consent naming this agency for this purpose and data.",
            errors={"data_categories": [f"Not covered by consent: {', '.join(missing)}."]},
        )
    if record is not None and not policy.covers(consent.facts(record), receiver, purpose, now):
        # a consent attached to a referral is the receiver's ceiling at every read: one that
        # does not name this agency for this service's category may not travel with it
        raise ConsentRequired(
            "This consent does not name this agency for this kind of service.",
            errors={"consent_id": [f"Does not cover {service.agency.name} for {purpose}."]},
        )
    open_one = db.session.scalar(
        select(Referral.id).where(
            Referral.client_id == client.id,
            Referral.service_id == service.id,
            Referral.status.in_([state.value for state in states.OPEN]),
        )
    )
    if open_one is not None:
        raise Conflict(
            "This client already has an open referral to this service.",
            errors={"service_id": [str(open_one)]},
        )
    referral = Referral(
        id=uuid.uuid4(),
        client_id=client.id,
        client_reference=client.reference,
        service_id=service.id,
        sender_agency_id=client.owner_agency_id,
        receiver_agency_id=service.agency_id,
        consent_id=record.id if record else None,
        bundle_id=bundle_id,
        need_id=need_id,
        previous_referral_id=previous_referral_id,
        urgency=urgency,
        status=State.DRAFT,
        data_categories=sorted(categories),
        created_by=actor.id,
        sender_assignee_id=person(actor),  # whoever sends it owns it until handed over
    )
    if note:
        referral.note = _seal(client.id, referral.id, note)
    db.session.add(referral)
    audit.record(actor, "referral.created", referral, client_reference=client.reference)
    if send:  # nobody else can see it yet: no need to load and lock it again
        _apply(actor, referral, "send", {})
    return referral


def shareable(
    facts: policy.ConsentFacts | None,
    reader: policy.Reader,
    category: str,
    wanted: Iterable[str],
    now: datetime,
) -> frozenset[str]:
    """Of `wanted`, what her consent lets go to `reader` for `category` now (the profile
    always): what a referral made again from an ended one carries, and what the sender's
    page says it would carry before the button is pressed."""
    categories = frozenset(wanted) | {policy.PROFILE}
    return policy.sendable(facts, reader, category, categories, now) | {policy.PROFILE}


def refer_again(actor: Actor, referral_id: uuid.UUID, service_id: uuid.UUID) -> Referral:
    """A new referral for the same need, following the ended one: same client, consent and
    urgency; of the categories shared before, those her consent allows for the new agency.
    That the earlier one ended and the service serves the need's category is the send's own
    rule, whichever door asks."""
    earlier = get_referral(actor, referral_id)
    service = directory.get_service(actor, service_id)
    record = db.session.get(Consent, earlier.consent_id) if earlier.consent_id else None
    reader = policy.Reader(
        service.agency_id, is_law_enforcement=is_law_enforcement(service.agency.kind)
    )
    shares = shareable(
        consent.facts(record),
        reader,
        service.category.value,
        earlier.data_categories,
        clock.now(),
    )
    return send_referral(
        actor,
        client_id=earlier.client_id,
        service_id=service.id,
        urgency=earlier.urgency,
        data_categories=sorted(shares),
        consent_id=earlier.consent_id,
        previous_referral_id=earlier.id,
    )


COUNTS_ONLY_WORDS = "{name} publishes its capacity only and takes no referrals: call them."


def refuse_counts_only(agency: Any) -> None:
    """An agency that publishes counts only receives no referral (nothing is written)."""
    if not receives_referrals(agency.participation):
        raise ValidationFailed(errors={"service_id": [COUNTS_ONLY_WORDS.format(name=agency.name)]})


def _consent_for(client_id: uuid.UUID, consent_id: uuid.UUID | None) -> Consent | None:
    if consent_id is None:
        return None
    record = db.session.get(Consent, consent_id)
    if record is None or record.client_id != client_id:
        raise ValidationFailed(errors={"consent_id": ["No such consent for this client."]})
    return record


def _seal(client_id: uuid.UUID, referral_id: uuid.UUID, text: str) -> bytes:
    key = clients.data_key(client_id)
    if key is None:
        raise Conflict("This client's data was erased.")
    return envelope.seal(key, text.encode(), f"referral.note:{referral_id}")


# --- loading and listing --------------------------------------------------------------------


def _sides(actor: Actor, referral: Referral) -> set[Side]:
    if actor.kind == ActorKind.SYSTEM:
        return set(Side)
    sides = set()
    if actor.agency_id == referral.sender_agency_id:
        sides.add(Side.SENDER)
    if actor.agency_id == referral.receiver_agency_id:
        sides.add(Side.RECEIVER)
    if actor.has_role("coordinator"):
        sides.add(Side.COORDINATOR)
    return sides


def get_referral(actor: Actor, referral_id: uuid.UUID, *, lock: bool = False) -> Referral:
    """A party's (or a coordinator's) referral; anyone else's looks missing."""
    statement = select(Referral).where(Referral.id == referral_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    referral = db.session.scalar(statement)
    if referral is None:
        raise NotFound()
    if not _sides(actor, referral):
        raise foreign("referral", referral.id)
    return referral


def list_referrals(
    actor: Actor,
    *,
    box: str | None,
    status: str | None,
    urgency: str | None,
    limit: int,
    cursor: str | None,
    assignee: str | None = None,
    statuses: Collection[str] = (),
    updated: Sequence[tuple[str, datetime]] = (),
) -> tuple[list[Referral], str | None]:
    """The agency's sent or received referrals (`box` None: both), oldest first.

    `statuses` keeps any of several states; `updated` holds (operator, moment) pairs, the
    operator one of `gt`, `ge`, `lt`, `le`, `eq` (the FHIR interface's `_lastUpdated`);
    `assignee` (`me`, a user id, `none`) keeps those whose caseworker on the actor's side is
    that person (or nobody)."""
    owner = assignee_filter(actor, assignee)
    sent = Referral.sender_agency_id == actor.agency_id
    received = Referral.receiver_agency_id == actor.agency_id
    if owner is not None:
        sent = sent & owner(Referral.sender_assignee_id)
        received = received & owner(Referral.receiver_assignee_id)
    if box is None:
        statement = select(Referral).where(or_(sent, received))
    else:
        statement = select(Referral).where(sent if box == "sent" else received)
    if status:
        statement = statement.where(Referral.status == status)
    if statuses:
        statement = statement.where(Referral.status.in_(list(statuses)))
    for operator, moment in updated:
        statement = statement.where(_COMPARE[operator](Referral.updated_at, moment))
    if urgency:
        statement = statement.where(Referral.urgency == urgency)
    return paginate(
        statement,
        [Referral.created_at, Referral.id],
        limit,
        cursor,
        [datetime.fromisoformat, uuid.UUID],
    )


def person(actor: Actor) -> uuid.UUID | None:
    """The staff member acting, as a user of her agency (a machine client or the hub is
    nobody's caseworker)."""
    if actor.kind != ActorKind.USER or not actor.id:
        return None
    try:
        user = db.session.get(User, uuid.UUID(actor.id))
    except ValueError:
        return None
    return user.id if user is not None and user.agency_id == actor.agency_id else None


def assignee_filter(actor: Actor, assignee: str | None) -> Callable[[Any], Any] | None:
    """`me`, a user id or `none` as a condition on an assignee column (None: no filter)."""
    if assignee is None:
        return None
    if assignee == "none":
        return lambda column: column.is_(None)
    if assignee == "me":
        me = person(actor)
        if me is None:
            raise ValidationFailed(errors={"assignee": ["Only staff members have referrals."]})
        return lambda column: column == me
    try:
        chosen = uuid.UUID(assignee)
    except ValueError:
        raise ValidationFailed(errors={"assignee": ["me, none or a user id."]}) from None
    return lambda column: column == chosen


_COMPARE: dict[str, Callable[[Any, datetime], Any]] = {
    "gt": lambda column, moment: column > moment,
    "ge": lambda column, moment: column >= moment,
    "lt": lambda column, moment: column < moment,
    "le": lambda column, moment: column <= moment,
    "eq": lambda column, moment: column == moment,
}


def consent_for_party(actor: Actor, consent_id: uuid.UUID) -> tuple[Consent, Referral | None]:
    """A consent its owner reads whole, or a receiver reads through the newest referral it
    received under it (returned with it); anyone else: 404, as for a missing id."""
    record = db.session.get(Consent, consent_id)
    if record is None:
        raise NotFound()
    if actor.kind == ActorKind.SYSTEM or record.owner_agency_id == actor.agency_id:
        return record, None
    referral = db.session.scalar(
        select(Referral)
        .where(Referral.consent_id == consent_id, Referral.receiver_agency_id == actor.agency_id)
        .order_by(Referral.created_at.desc())
        .limit(1)
    )
    if referral is None:
        raise foreign("consent", record.id)
    return record, referral


# --- transitions ----------------------------------------------------------------------------


def transition(actor: Actor, referral_id: uuid.UUID, action: str, **payload: Any) -> Referral:
    """One move of the state machine: legal from here, by this side, guards met — or nothing."""
    if action == "accept":  # first accept of a need wins: the need is locked before the referral
        need_id = db.session.scalar(select(Referral.need_id).where(Referral.id == referral_id))
        if need_id is not None:
            db.session.scalar(select(Need.id).where(Need.id == need_id).with_for_update())
    referral = get_referral(actor, referral_id, lock=True)
    if action == "send" and actor.agency_id == referral.sender_agency_id:
        # a draft kept from before its agency chose counts only
        refuse_counts_only(directory.get_service(actor, referral.service_id).agency)
    return _apply(actor, referral, action, payload)


def _apply(actor: Actor, referral: Referral, action: str, payload: dict[str, Any]) -> Referral:
    """The move itself, on a referral this transaction holds (locked, or just created)."""
    move = states.find(referral.status, action)
    if move is None:
        raise IllegalTransition(
            f"A referral that is {referral.status.value} cannot be "
            f"{PAST_TENSE.get(action, action)} here."
        )
    if move.side not in _sides(actor, referral):
        raise Forbidden(f"Only the {move.side.value} may {action} this referral.")
    _guard(action, payload)
    _tell_the_sender(actor, referral, action, payload)
    now = clock.now()
    previous = referral.status
    referral.status = move.target  # the row's new values first: it is written once
    if move.target in states.TERMINAL:
        referral.closed_at = now
    _effects(actor, referral, move, payload, now)
    if move.target in states.TERMINAL:
        consent.set_grant(str(referral.id), ended=True)
    audit.record(
        actor,
        f"referral.{move.target.value}",
        referral,
        client_reference=referral.client_reference,
        consent_id=referral.consent_id,
        fields=referral.data_categories if move.target == State.SENT else (),
        details={"action": action, "from": previous.value, **_safe_details(action, payload)},
    )
    _keep_the_words(actor, referral, action, payload)
    _notify(referral, move)
    webhooks.announce(
        f"referral.{move.target.value}",
        {referral.sender_agency_id, referral.receiver_agency_id},
        {"referral_id": str(referral.id), "status": move.target.value},
    )
    live.referral_changed(
        referral.id, referral.bundle_id, {referral.sender_agency_id, referral.receiver_agency_id}
    )
    if move.target == State.ACCEPTED and referral.need_id is not None:
        _supersede_siblings(referral)
    return referral


# the words of a question or an answer reach the other side as a sealed message
SPOKEN = {"request-info": "Question", "provide-info": "Answer"}


def _keep_the_words(actor: Actor, referral: Referral, action: str, payload: dict[str, Any]) -> None:
    """The state machine keeps no free text; without this the question was lost."""
    if action not in SPOKEN:
        return
    text = str(payload[TEXT_REQUIRED[action]]).strip()
    messages.seal_message(actor, referral, f"{SPOKEN[action]}: {text}")


def _tell_the_sender(
    actor: Actor, referral: Referral, action: str, payload: dict[str, Any]
) -> None:
    """What the referral row does not keep — why it was declined and where else to try,
    when a waiting place is expected — reaches the sender as a sealed message, said while
    the referral is still open to the receiver (a decline ends its access). Her key gone
    (erased): the move stands, no words can be sealed for her."""
    text = _receiver_words(actor, action, payload)
    if not text:
        return
    with contextlib.suppress(Conflict):
        messages.seal_message(actor, referral, text)


def _receiver_words(actor: Actor, action: str, payload: dict[str, Any]) -> str | None:
    if action == "decline":
        lines = []
        if payload.get("note"):
            lines.append(f"Why we declined: {payload['note']}")
        if payload.get("suggested_service_id"):
            try:
                other = directory.get_service(actor, payload["suggested_service_id"])
            except NotFound:
                other = None
            if other is not None:
                lines.append(f"You could try: {other.name} ({other.agency.name}).")
        return "\n".join(lines) or None
    if action == "waitlist" and payload.get("eta") is not None:
        zone = hub_zone()
        eta: datetime = payload["eta"].astimezone(zone)
        place = f"position {payload['position']}, " if payload.get("position") else ""
        return f"On our waiting list ({place}a place expected around {eta:%d %b %Y})."
    return None


def _guard(action: str, payload: dict[str, Any]) -> None:
    if action in REASON_REQUIRED and payload.get("reason") not in REASON_REQUIRED[action]:
        choices = ", ".join(REASON_REQUIRED[action])
        raise ValidationFailed(errors={"reason": [f"One of: {choices}."]})
    field = TEXT_REQUIRED.get(action)
    if field and not str(payload.get(field) or "").strip():
        raise ValidationFailed(errors={field: ["Required."]})


def _safe_details(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Coded reasons only: free text (questions, answers, notes) never goes on the chain."""
    details: dict[str, Any] = {}
    if action in REASON_REQUIRED:
        details["reason"] = payload["reason"]
    if payload.get("position") is not None:
        details["position"] = int(payload["position"])
    return details


def _effects(
    actor: Actor,
    referral: Referral,
    move: states.Transition,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    if move.target == State.SENT:
        referral.sent_at = now
        referral.acknowledge_by, referral.respond_by = answer_deadlines(referral.urgency, now)
        # unanswered past the decision deadline, a referral gets one more acknowledge-window
        # (after coordinators are told) before it expires
        referral.expire_by = referral.respond_by + (referral.acknowledge_by - now)
        consent.open_grant(
            referral.client_id,
            referral.receiver_agency_id,
            referral.consent_id,
            str(referral.id),
            shared=referral.data_categories,
            purpose=directory.get_service(actor, referral.service_id).category.value,
        )
    elif move.target == State.ACKNOWLEDGED and referral.acknowledged_at is None:
        referral.acknowledged_at = now
    if move.side == Side.RECEIVER and referral.receiver_assignee_id is None:
        # whoever first takes it up for the receiver (acknowledges, or answers at once) owns it
        referral.receiver_assignee_id = person(actor)
    if move.target == State.ACCEPTED:
        _take_hold(actor, referral, now)
        consent.set_grant(str(referral.id), accepted=True)
    elif move.target == State.ENGAGED and referral.holds_unit:
        referral.holds_unit = False
        consume_place(
            actor, referral.service_id, referral.hold_overflow_id, note=f"referral {referral.id}"
        )
    if move.target == State.DECLINED:
        referral.decline_reason = payload["reason"]
    if move.target == State.NOT_COMPLETED:
        referral.outcome = payload.get("reason") or "no_show"
    if move.target == State.COMPLETED:
        _record_outcome(referral, payload.get("outcome_code"), payload.get("outcome"))
    if move.target in states.TERMINAL and referral.holds_unit:
        referral.holds_unit = False
        release_place(
            actor, referral.service_id, referral.hold_overflow_id, note=f"referral {referral.id}"
        )


def _take_hold(actor: Actor, referral: Referral, now: datetime) -> None:
    """Hold a place on the service's terms as they are now, frozen on the referral: later
    changes to the service's hold length do not move this referral's arrival deadline."""
    service = directory.get_service(actor, referral.service_id)
    referral.hold_minutes = hold_length(
        service.hold_minutes, service.night_hold_minutes, now.astimezone(hub_zone())
    )
    referral.holds_unit = True
    referral.accepted_at = now
    referral.arrive_by = arrival_deadline(referral.urgency, now, referral.hold_minutes)
    held, window_id = hold_place(actor, referral.service_id, note=f"referral {referral.id}")
    if not held:
        raise NoCapacity("Nothing is free at this service right now.")
    referral.hold_overflow_id = window_id


def hub_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE") or "UTC")


def extend_hold(
    actor: Actor, referral_id: uuid.UUID, *, reason: str, minutes: int | None = None
) -> Referral:
    """Keep an accepted referral's place longer, once, for a coded reason (the receiver's
    call; on the record and on the sender's timeline). By the hold's own length unless
    `minutes` says otherwise."""
    if reason not in EXTENSION_REASONS:
        raise ValidationFailed(errors={"reason": [f"One of: {', '.join(EXTENSION_REASONS)}."]})
    if minutes is not None and not HOLD_MINUTES_MIN <= minutes <= HOLD_MINUTES_MAX:
        raise ValidationFailed(
            errors={"minutes": [f"From {HOLD_MINUTES_MIN} to {HOLD_MINUTES_MAX} minutes."]}
        )
    referral = get_referral(actor, referral_id, lock=True)
    if Side.RECEIVER not in _sides(actor, referral) or actor.kind == ActorKind.SYSTEM:
        raise Forbidden("Only the receiving agency may extend its hold.")
    if referral.status != State.ACCEPTED or referral.arrive_by is None:
        raise IllegalTransition("Only an accepted referral's arrival deadline can be extended.")
    if referral.hold_extended_at is not None:
        raise Conflict(
            "This hold was already extended once.",
            errors={"reason": ["A hold may be extended once."]},
        )
    added = minutes or referral.hold_minutes or HOLD_MINUTES_DEFAULT
    referral.arrive_by = referral.arrive_by + timedelta(minutes=added)
    referral.hold_extended_at = clock.now()
    referral.hold_extension_reason = reason
    audit.record(
        actor,
        "referral.hold_extended",
        referral,
        client_reference=referral.client_reference,
        details={"reason": reason, "minutes": added},
    )
    webhooks.announce(
        "referral.hold_extended",
        {referral.sender_agency_id, referral.receiver_agency_id},
        {"referral_id": str(referral.id), "status": referral.status.value},
    )
    live.referral_changed(
        referral.id, referral.bundle_id, {referral.sender_agency_id, referral.receiver_agency_id}
    )
    return referral


def _record_outcome(referral: Referral, code: str | None, words: str | None) -> None:
    """A coded outcome for everyone; the receiver's own words (which may say something about
    her) sealed under her key. Words that are a code are taken as that code."""
    words = words if words is not None and words.strip() else None  # stored as given
    if code is None:
        code = words if words in states.COMPLETION_OUTCOMES else ("other" if words else None)
    referral.outcome = code or "completed"
    if words is not None and words != referral.outcome:
        context = f"referral.outcome:{referral.id}"
        referral.outcome_note = clients.seal_text(referral.client_id, words, context)


def _supersede_siblings(winner: Referral) -> None:
    siblings = db.session.scalars(
        select(Referral).where(
            Referral.need_id == winner.need_id,
            Referral.id != winner.id,
            Referral.status.in_(
                [s.value for s in (State.SENT, State.ACKNOWLEDGED, State.WAITLISTED)]
            ),
        )
    ).all()
    for sibling in siblings:
        transition(SYSTEM, sibling.id, "supersede")


def _notify(referral: Referral, move: states.Transition) -> None:
    """E-mail the other party that something waits for it — its caseworker, or its staff
    while nobody owns that side (`notices.tell`): nothing else in it."""
    to_receiver = move.side == Side.SENDER or move.target == State.SUPERSEDED
    to_sender = move.side in (Side.RECEIVER, Side.COORDINATOR) or move.target in (
        State.EXPIRED,
        State.NOT_COMPLETED,
    )
    if move.side == Side.COORDINATOR:
        to_receiver = True
    sides = (["receiver"] if to_receiver else []) + (["sender"] if to_sender else [])
    for side in sides:
        values = what_waits(referral, side)
        notices.tell([(referral, side)], "referral_waiting" if values else "action_waiting", values)


def what_waits(referral: Referral, side: str) -> dict[str, str] | None:
    """How urgent, what is due by when, and the page to do it on: never anything about her."""
    path = referral_link(side, referral.id, referral.bundle_id)
    if path is None:
        return None
    due = DEADLINES.get(referral.status) if side == "receiver" else None
    when = getattr(referral, due[1]) if due else None
    asked = side == "sender" and referral.status == State.INFO_REQUESTED
    return {
        "urgency": Urgency(referral.urgency).value,
        "what": due[0] if due else "provide" if asked else "look",
        "due": when.isoformat() if when else "",
        "path": path,
    }


def withdraw_under_consent(
    consent_id: uuid.UUID, reason: str, agency_id: uuid.UUID | None = None
) -> int:
    """Revocation cascade: unaccepted referrals sent under the consent (to `agency_id` only,
    when the consent was withdrawn from that agency alone) are withdrawn."""
    open_before_acceptance = [
        state.value
        for state in (
            State.DRAFT,
            State.SENT,
            State.ACKNOWLEDGED,
            State.INFO_REQUESTED,
            State.WAITLISTED,
        )
    ]
    withdrawn = 0
    told: list[tuple[Referral, str]] = []
    statement = select(Referral).where(
        Referral.consent_id == consent_id, Referral.status.in_(open_before_acceptance)
    )
    if agency_id is not None:
        statement = statement.where(Referral.receiver_agency_id == agency_id)
    for referral in db.session.scalars(statement).all():
        if referral.status == State.DRAFT:
            referral.status = State.WITHDRAWN
            referral.closed_at = clock.now()
            audit.record(
                SYSTEM,
                "referral.withdrawn",
                referral,
                client_reference=referral.client_reference,
                consent_id=consent_id,
                details={"reason": f"consent {reason}", "from": State.DRAFT.value},
            )
        else:  # the receiver is told by the move; the sender (expiry: nobody acted) here
            transition(SYSTEM, referral.id, "withdraw", reason=f"consent {reason}")
            told.append((referral, "sender"))
        withdrawn += 1
    notices.tell(told, "action_waiting")  # one fixed text per person or agency
    return withdrawn


def end_access_under_consent(
    consent_id: uuid.UUID, reason: str, agency_id: uuid.UUID | None = None
) -> int:
    """Revocation or expiry of an accepted referral's consent: the referral goes on (she may
    be in the bed), the receiver's access to her data ended with the consent — every read
    asks the policy, so nothing is left to close — and both sides are told, on the record."""
    ended = 0
    told: list[tuple[Referral, str]] = []
    statement = select(Referral).where(
        Referral.consent_id == consent_id,
        Referral.status.in_([state.value for state in states.ACCEPTED_STAGE]),
    )
    if agency_id is not None:
        statement = statement.where(Referral.receiver_agency_id == agency_id)
    for referral in db.session.scalars(statement).all():
        audit.record(
            SYSTEM,
            "referral.access_ended",
            referral,
            client_reference=referral.client_reference,
            consent_id=consent_id,
            details={"reason": f"consent {reason}", "status": referral.status.value},
        )
        told += [(referral, "sender"), (referral, "receiver")]
        webhooks.announce(
            "referral.access_ended",
            {referral.sender_agency_id, referral.receiver_agency_id},
            {"referral_id": str(referral.id), "status": referral.status.value},
        )
        ended += 1
    notices.tell(told, "action_waiting")
    return ended


def describe(referral: Referral) -> dict[str, Any]:
    return {
        "id": referral.id,
        "status": referral.status.value,
        "urgency": referral.urgency.value,
        "client_reference": referral.client_reference,
        "client_id": referral.client_id,
        "sender_agency": referral.sender_agency_id,
        "receiver_agency": referral.receiver_agency_id,
        "service": referral.service_id,
        "bundle_id": referral.bundle_id,
        "need_id": referral.need_id,
        "consent_id": referral.consent_id,
        "previous_referral_id": referral.previous_referral_id,
        "sender_assignee": referral.sender_assignee_id,
        "receiver_assignee": referral.receiver_assignee_id,
        "data_categories": referral.data_categories,
        "acknowledge_by": referral.acknowledge_by,
        "respond_by": referral.respond_by,
        "arrive_by": referral.arrive_by,
        "hold_minutes": referral.hold_minutes,
        "hold_overflow": referral.hold_overflow_id is not None,
        "hold_extended_at": referral.hold_extended_at,
        "hold_extension_reason": referral.hold_extension_reason,
        "expire_by": referral.expire_by,
        "suggested_service_ids": referral.suggested_service_ids,
        "decline_reason": referral.decline_reason,
        "outcome": referral.outcome,
        "outcome_code": referral.outcome,
        "created_at": referral.created_at,
        "updated_at": referral.updated_at,
    }
