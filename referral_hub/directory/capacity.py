"""A service's live numbers: the agency setting them, and referrals holding places.

Set, confirm and one-tap corrections are the agency's (`may_edit`, scope
`capacity:write`); each is one conditional UPDATE with a history row and an audit event,
and refreshes how old the figure is. Holds, releases and arrivals move with accepted
referrals (`referrals.service` calls them): a regular unit first (`holds`), an open
overflow place when none is free (`overflow`). The periodic reminder tells an agency its
numbers went stale.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.util import identity_key

from referral_hub.agencies.models import Agency, AgencyStatus
from referral_hub.agencies.service import email_staff
from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound, ValidationFailed
from referral_hub.directory import holds, overflow
from referral_hub.directory.freshness import ttl_of
from referral_hub.directory.models import Capacity, CapacityChange, OverflowWindow, Service
from referral_hub.directory.service import load, may_edit
from referral_hub.directory.vocabulary import Category, ServiceStatus
from referral_hub.extensions import db


def _stamp(category: Category, now: datetime, actor: Actor) -> dict[str, Any]:
    ttl = ttl_of(category)
    return {
        "updated_at": now,
        "updated_by": actor.id,
        "aging_at": now + ttl / 4,
        "stale_at": now + ttl,
        "reminded_at": None,
    }


def set_capacity(
    actor: Actor, service_id: uuid.UUID, *, total: int, available: int, note: str | None = None
) -> Service:
    """Set total and free units in one conditional UPDATE; units on hold are never touched.

    If units are held (accepted referrals), `available + held` must still fit in `total`:
    otherwise 422 and nothing changes.
    """
    service = load(service_id)
    may_edit(actor, service.agency_id, scope="capacity:write")
    now = clock.now()
    row = db.session.execute(
        update(Capacity)
        .where(Capacity.service_id == service.id, Capacity.held + available <= total)
        .values(total=total, available=available, **_stamp(service.category, now, actor))
        .returning(Capacity.total, Capacity.available, Capacity.held)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        held = (
            db.session.scalar(select(Capacity.held).where(Capacity.service_id == service.id)) or 0
        )
        raise ValidationFailed(
            f"{held} units are held for accepted referrals: available + held cannot exceed total.",
            errors={
                "available": [f"With {held} held, at most {max(total - held, 0)} can be free."]
            },
        )
    _record_change(service.id, "set", row, actor, note, now)
    audit.record(
        actor,
        "capacity.updated",
        service,
        fields=["total", "available"],
        details={"total": row.total, "available": row.available, "held": row.held},
    )
    db.session.expire(service, ["capacity"])
    return service


def confirm_capacity(actor: Actor, service_id: uuid.UUID) -> Service:
    """ "Still true": refresh the timestamp, keep the numbers."""
    service = load(service_id)
    may_edit(actor, service.agency_id, scope="capacity:write")
    now = clock.now()
    row = db.session.execute(
        update(Capacity)
        .where(Capacity.service_id == service.id)
        .values(**_stamp(service.category, now, actor))
        .returning(Capacity.total, Capacity.available, Capacity.held)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise NotFound()
    _record_change(service.id, "confirm", row, actor, None, now)
    audit.record(actor, "capacity.confirmed", service, details={"available": row.available})
    db.session.expire(service, ["capacity"])
    return service


def adjust_available(actor: Actor, service_id: uuid.UUID, delta: int) -> Service:
    """One more (+1) or one fewer (-1) free unit, total and holds untouched."""
    if delta not in (-1, 1):
        raise ValidationFailed(errors={"delta": ["One step at a time: -1 or +1."]})
    service = load(service_id)
    may_edit(actor, service.agency_id, scope="capacity:write")
    now = clock.now()
    row = db.session.execute(
        update(Capacity)
        .where(
            Capacity.service_id == service.id,
            Capacity.available + delta >= 0,
            Capacity.available + Capacity.held + delta <= Capacity.total,
        )
        .values(
            available=Capacity.available + delta,
            **_stamp(service.category, now, actor),
        )
        .returning(Capacity.total, Capacity.available, Capacity.held)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        message = (
            "None are free: nothing to take away."
            if delta < 0
            else "All units are already free or held: raise the total to add more."
        )
        raise ValidationFailed(message, errors={"available": [message]})
    _record_change(service.id, "set", row, actor, f"board {delta:+d}", now)
    audit.record(
        actor,
        "capacity.updated",
        service,
        fields=["available"],
        details={"total": row.total, "available": row.available, "held": row.held},
    )
    db.session.expire(service, ["capacity"])
    return service


def hold_unit(actor: Actor, service_id: uuid.UUID, *, note: str | None = None) -> bool:
    """Reserve one unit atomically (accepting a referral); False when none was free.

    One conditional write with its history row (`directory.holds`): under any concurrency
    no unit is given twice and none is lost.
    """
    return _move(actor, service_id, "hold", note)


def release_unit(actor: Actor, service_id: uuid.UUID, *, note: str | None = None) -> bool:
    """Give a held unit back (declined, withdrawn, no-show)."""
    return _move(actor, service_id, "release", note)


def consume_unit(actor: Actor, service_id: uuid.UUID, *, note: str | None = None) -> bool:
    """The person arrived: the held unit is now in use (neither free nor held)."""
    return _move(actor, service_id, "consume", note)


def hold_place(
    actor: Actor, service_id: uuid.UUID, *, note: str | None = None
) -> tuple[bool, uuid.UUID | None]:
    """Hold a place for an accepted referral: a regular unit first, an open overflow place
    when none is free. (held, the overflow window's id or None)."""
    if _move(actor, service_id, "hold", note):
        return True, None
    window_id = overflow.hold(db.session.connection(), service_id, clock.now())
    if window_id is None:
        return False, None
    _forget_loaded(service_id)
    return True, window_id


def release_place(
    actor: Actor, service_id: uuid.UUID, window_id: uuid.UUID | None, *, note: str | None = None
) -> bool:
    """Give a held place back to where it came from."""
    if window_id is None:
        return release_unit(actor, service_id, note=note)
    _forget_loaded(service_id)
    return overflow.release(db.session.connection(), window_id)


def consume_place(
    actor: Actor, service_id: uuid.UUID, window_id: uuid.UUID | None, *, note: str | None = None
) -> bool:
    """She arrived: the held place (regular or overflow) is in use."""
    if window_id is None:
        return consume_unit(actor, service_id, note=note)
    _forget_loaded(service_id)
    return overflow.consume(db.session.connection(), window_id)


def _forget_loaded(service_id: uuid.UUID) -> None:
    loaded = db.session.identity_map.get(identity_key(Service, service_id))
    if loaded is not None:  # a service object read earlier in this transaction is stale now
        db.session.expire(loaded, ["capacity", "overflow_windows"])


def open_overflow(
    actor: Actor,
    service_id: uuid.UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    places: int,
    note: str | None = None,
) -> OverflowWindow:
    """Open temporary places on one's own service (`directory.overflow`)."""
    service = load(service_id)
    may_edit(actor, service.agency_id, scope="capacity:write")
    return overflow.open_window(
        actor, service, starts_at=starts_at, ends_at=ends_at, places=places, note=note
    )


def close_overflow(actor: Actor, window_id: uuid.UUID) -> OverflowWindow:
    """Close a window early: a directory entry's, so another agency's is refused (403)."""
    window = overflow.get(window_id)
    service = load(window.service_id)
    may_edit(actor, service.agency_id, scope="capacity:write")
    return overflow.close_window(actor, service, window)


def _move(actor: Actor, service_id: uuid.UUID, kind: str, note: str | None) -> bool:
    """Callers (referral transitions) have already checked who may touch this service."""
    moved = holds.move(
        db.session.connection(), kind, service_id, actor_id=actor.id, note=note, at=clock.now()
    )
    if moved is None:
        return False
    _forget_loaded(service_id)
    return True


def _record_change(
    service_id: uuid.UUID, kind: str, row: Any, actor: Actor, note: str | None, now: datetime
) -> None:
    db.session.add(
        CapacityChange(
            service_id=service_id,
            at=now,
            kind=kind,
            total=row.total,
            available=row.available,
            held=row.held,
            actor_id=actor.id,
            note=note,
        )
    )


def remind_stale() -> int:
    """Periodic: e-mail each agency whose capacity went stale and was not reminded since."""
    now = clock.now()
    rows = db.session.execute(
        select(Capacity.service_id, Service.agency_id)
        .join(Service, Service.id == Capacity.service_id)
        .join(Agency, Agency.id == Service.agency_id)
        .where(
            Capacity.stale_at < now,
            Capacity.reminded_at.is_(None),
            Service.status == ServiceStatus.ACTIVE,
            Agency.status == AgencyStatus.ACTIVE,
        )
    ).all()
    agencies = {agency_id for _, agency_id in rows}
    for agency_id in agencies:
        email_staff(agency_id, {"provider", "agency_admin"}, "capacity_stale")
    if rows:
        db.session.execute(
            update(Capacity)
            .where(Capacity.service_id.in_([service_id for service_id, _ in rows]))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(agencies)
