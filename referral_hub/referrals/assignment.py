"""Who owns each side: naming, changing and handing over a referral's (or a bundle's)
caseworker — the one write path for it, the API and the pages both call it.

Only the side's own staff name its caseworker, and only a colleague: an active user of that
side's agency holding one of the side's roles. Anyone else (another agency's user, a
disabled account, an unknown id) is refused alike, so the answer tells nothing about who
exists elsewhere. A handover note is sealed on the referral like any message (so only the
two parties read it); the chain gets ids only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from referral_hub.agencies.models import User
from referral_hub.audit import service as audit
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Conflict, Forbidden, ValidationFailed
from referral_hub.extensions import db
from referral_hub.live import service as live
from referral_hub.notifications.service import send_email
from referral_hub.referrals import bundles, messages, notices, states
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Bundle, Referral
from referral_hub.referrals.states import State

SIDES = ("sender", "receiver")
# who may own a side: the roles that work that side's referrals (the notices' rule too)
SIDE_ROLES = notices.SIDE_ROLES
NOT_A_COLLEAGUE = "Not an active caseworker of this side's agency."


def _colleague(agency_id: uuid.UUID, side: str, user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None or not notices.may_own(user, agency_id, side):
        raise ValidationFailed(errors={"assignee_id": [NOT_A_COLLEAGUE]})
    return user


def _own_side(actor: Actor, agency_id: uuid.UUID, side: str) -> None:
    if actor.kind == ActorKind.SYSTEM:
        return
    if actor.agency_id != agency_id or (
        actor.kind == ActorKind.USER and not SIDE_ROLES[side] & actor.roles
    ):
        raise Forbidden(f"Only the {side}'s own staff name its caseworker.")


def assign(
    actor: Actor,
    referral_id: uuid.UUID,
    *,
    side: str,
    assignee_id: uuid.UUID,
    note: str | None = None,
) -> Referral:
    """Name (or change) the caseworker on `side`, with an optional handover note."""
    referral = referrals.get_referral(actor, referral_id, lock=True)
    agency_id = notices.side_agency(referral, side)
    _own_side(actor, agency_id, side)
    if referral.status in states.TERMINAL:
        raise Conflict("An ended referral is not handed over.")
    if side == "receiver" and referral.status in (State.DRAFT, State.SENT):
        raise Conflict("The receiving side names its caseworker once it takes the referral up.")
    user = _colleague(agency_id, side, assignee_id)
    column = f"{side}_assignee_id"
    previous = getattr(referral, column)
    if previous == user.id:
        raise Conflict("Already this referral's caseworker on that side.")
    setattr(referral, column, user.id)
    _hand_over(actor, referral, side, previous, user, note)
    return referral


def _hand_over(
    actor: Actor,
    referral: Referral,
    side: str,
    previous: uuid.UUID | None,
    user: User,
    note: str | None,
) -> None:
    """The record, the sealed note, the new owner's e-mail and the live pages: one change."""
    text = (note or "").strip()
    if text:
        messages.seal_message(actor, referral, f"Handover: {text}")
    audit.record(
        actor,
        "referral.assigned",
        referral,
        client_reference=referral.client_reference,
        details={
            "side": side,
            "from": str(previous) if previous else None,
            "to": str(user.id),
            "with_note": bool(text),
        },
    )
    if str(user.id) != actor.id:
        values = referrals.what_waits(referral, side)
        send_email(user.email, "referral_waiting" if values else "action_waiting", values)
    live.referral_changed(
        referral.id, referral.bundle_id, {referral.sender_agency_id, referral.receiver_agency_id}
    )


def assign_bundle(
    actor: Actor, bundle_id: uuid.UUID, *, assignee_id: uuid.UUID, note: str | None = None
) -> Bundle:
    """Hand a whole intake episode to a colleague: the bundle and the sending side of each of
    its referrals still open (each one's note and event on its own timeline)."""
    bundle = bundles.get_bundle(actor, bundle_id)
    _own_side(actor, bundle.sender_agency_id, "sender")
    user = _colleague(bundle.sender_agency_id, "sender", assignee_id)
    if bundle.sender_assignee_id == user.id:
        raise Conflict("Already this episode's caseworker.")
    previous = bundle.sender_assignee_id
    bundle.sender_assignee_id = user.id
    open_ones = db.session.scalars(
        select(Referral)
        .where(
            Referral.bundle_id == bundle.id,
            Referral.status.in_([state.value for state in states.OPEN]),
        )
        .order_by(Referral.created_at, Referral.id)
        .with_for_update()
    ).all()
    for referral in open_ones:
        before = referral.sender_assignee_id
        if before != user.id:
            referral.sender_assignee_id = user.id
            _hand_over(actor, referral, "sender", before, user, note)
    audit.record(
        actor,
        "bundle.assigned",
        bundle,
        details={"from": str(previous) if previous else None, "to": str(user.id)},
    )
    return bundle


def colleagues(actor: Actor, side: str) -> list[dict[str, Any]]:
    """Who in the actor's agency may own `side` (for the handover form): names, no e-mail."""
    if actor.agency_id is None:
        return []
    rows = db.session.execute(
        select(User.id, User.display_name, User.roles)
        .where(User.agency_id == actor.agency_id, User.is_active.is_(True))
        .order_by(User.display_name, User.id)
    )
    return [
        {"id": row.id, "name": row.display_name}
        for row in rows
        if SIDE_ROLES[side] & set(row.roles)
    ]


def name_of(user_id: uuid.UUID | None) -> str | None:
    """A caseworker's display name (a staff name, not survivor data)."""
    if user_id is None:
        return None
    return db.session.scalar(select(User.display_name).where(User.id == user_id))


def names_among(user_ids: Iterable[str], agency_ids: Iterable[uuid.UUID]) -> dict[str, str]:
    """Caseworkers' display names (user id as str → name), one query, for the users of
    `agency_ids` only (a referral's two sides): any other id, or one that is not a user id,
    is left out, so a stray id in an event names nobody."""
    wanted = set()
    for value in user_ids:
        try:
            wanted.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    agencies = set(agency_ids)
    if not wanted or not agencies:
        return {}
    rows = db.session.execute(
        select(User.id, User.display_name).where(
            User.id.in_(sorted(wanted)), User.agency_id.in_(sorted(agencies))
        )
    )
    return {str(row.id): row.display_name for row in rows}
