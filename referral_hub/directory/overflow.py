"""Overflow ("white-flag") places: temporary places a provider opens on a service for a while.

Open is read-time truth: a window counts while `starts_at <= now < ends_at` and it was not
closed early, so it closes by itself at its end whatever the scheduler does; the periodic
sweep (`overflow.close_ended`) only stamps the ended ones closed, for the record and to
keep the open set small.

Holds take regular capacity first and an overflow place only when none is free: the
regular places are the provider's ordinary service, overflow is the last resort it opened
for the night. An overflow hold is one conditional UPDATE (`held + used < places`), like a
regular one, so under any concurrency no place is given twice; of the open windows, the one
that ends first is used first.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.engine import Connection

from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor
from referral_hub.core.errors import NotFound, ValidationFailed
from referral_hub.directory.models import OverflowWindow, Service
from referral_hub.extensions import db

MAX_PLACES = 500
MAX_SPAN = timedelta(days=31)
LIST_LIMIT = 50


def is_open(window: OverflowWindow, now: datetime) -> bool:
    return window.closed_at is None and window.starts_at <= now < window.ends_at


def free(window: OverflowWindow) -> int:
    return window.places - window.held - window.used


def open_clause(table: Any, now: Any) -> Any:
    """SQL: the window is open at `now` (a value or a bound parameter)."""
    return and_(table.c.closed_at.is_(None), table.c.starts_at <= now, table.c.ends_at > now)


def free_places(service_id: Any, now: Any) -> Any:
    """SQL: the free overflow places a service has open at `now` (0 when none)."""
    w = OverflowWindow.__table__
    return (
        select(func.coalesce(func.sum(w.c.places - w.c.held - w.c.used), 0))
        .where(w.c.service_id == service_id, open_clause(w, now))
        .scalar_subquery()
    )


def has_free_place(service_id: Any, now: Any) -> Any:
    """SQL: the service has an open window with a free place. Uncorrelated, so PostgreSQL
    reads the few open windows once and hashes them (a correlated EXISTS, probed for every
    full service a search passes, doubled an unfiltered "free now" search at 10,000
    services with 500 windows open)."""
    w = OverflowWindow.__table__
    return service_id.in_(
        select(w.c.service_id).where(open_clause(w, now), w.c.held + w.c.used < w.c.places)
    )


def available_now(service: Service, now: datetime) -> int:
    """Free overflow places open now, from the service's loaded unclosed windows."""
    return sum(free(window) for window in service.overflow_windows if is_open(window, now))


def describe(window: OverflowWindow, now: datetime) -> dict[str, Any]:
    return {
        "id": window.id,
        "service_id": window.service_id,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "places": window.places,
        "held": window.held,
        "used": window.used,
        "available": free(window),
        "open": is_open(window, now),
        "note": window.note,
        "closed_at": window.closed_at,
    }


# --- the provider's writes ------------------------------------------------------------------


def open_window(
    actor: Actor,
    service: Service,
    *,
    starts_at: datetime,
    ends_at: datetime,
    places: int,
    note: str | None = None,
) -> OverflowWindow:
    """Open `places` temporary places from `starts_at` to `ends_at` (the caller has checked
    the actor may change this service's capacity)."""
    now = clock.now()
    if not 1 <= places <= MAX_PLACES:
        raise ValidationFailed(errors={"places": [f"Between 1 and {MAX_PLACES}."]})
    if ends_at <= starts_at:
        raise ValidationFailed(errors={"ends_at": ["Must be after starts_at."]})
    if ends_at <= now:
        raise ValidationFailed(errors={"ends_at": ["Already over: overflow is for now or later."]})
    if ends_at - starts_at > MAX_SPAN:
        raise ValidationFailed(errors={"ends_at": ["At most 31 days after starts_at."]})
    window = OverflowWindow(
        id=uuid.uuid4(),
        service_id=service.id,
        agency_id=service.agency_id,
        starts_at=starts_at,
        ends_at=ends_at,
        places=places,
        held=0,
        used=0,
        note=(note or "").strip() or None,
        created_by=actor.id,
    )
    db.session.add(window)
    db.session.flush()
    audit.record(
        actor,
        "overflow.opened",
        service,
        details={"overflow_id": str(window.id), "places": places},
    )
    db.session.expire(service, ["overflow_windows"])
    return window


def get(window_id: uuid.UUID) -> OverflowWindow:
    """A window, locked for the change about to be made to it."""
    window = db.session.scalar(
        select(OverflowWindow).where(OverflowWindow.id == window_id).with_for_update()
    )
    if window is None:
        raise NotFound()
    return window


def close_window(actor: Actor, service: Service, window: OverflowWindow) -> OverflowWindow:
    """Close a window early: its free places leave search at once; places already held
    stay held for their referrals."""
    if window.closed_at is None:
        window.closed_at = clock.now()
        audit.record(actor, "overflow.closed", service, details={"overflow_id": str(window.id)})
    db.session.expire(service, ["overflow_windows"])
    return window


def windows(service: Service, now: datetime) -> list[OverflowWindow]:
    """A service's windows that are open or still to come, soonest first."""
    return list(
        db.session.scalars(
            select(OverflowWindow)
            .where(
                OverflowWindow.service_id == service.id,
                OverflowWindow.closed_at.is_(None),
                OverflowWindow.ends_at > now,
            )
            .order_by(OverflowWindow.starts_at, OverflowWindow.id)
            .limit(LIST_LIMIT)
        )
    )


def close_ended() -> int:
    """Periodic: stamp closed the windows whose end has passed (they stopped counting at
    their end already). Idempotent."""
    now = clock.now()
    ended = list(
        db.session.scalars(
            select(OverflowWindow).where(
                OverflowWindow.closed_at.is_(None), OverflowWindow.ends_at <= now
            )
        )
    )
    for window in ended:
        window.closed_at = window.ends_at
        audit.record(
            SYSTEM,
            "overflow.closed",
            db.session.get(Service, window.service_id),
            details={"overflow_id": str(window.id), "ended": True},
        )
    return len(ended)


# --- holds ----------------------------------------------------------------------------------

_W = cast(Table, OverflowWindow.__table__)


def hold(connection: Connection, service_id: uuid.UUID, now: datetime) -> uuid.UUID | None:
    """Take a free place from the open window that ends first; its id, or None.

    Each try is a conditional UPDATE: a window another accept filled in between is simply
    not updated (on PostgreSQL the condition is checked again on the row's newest version),
    and the next candidate is tried.
    """
    candidates = connection.execute(
        select(_W.c.id)
        .where(
            _W.c.service_id == service_id,
            open_clause(_W, now),
            _W.c.held + _W.c.used < _W.c.places,
        )
        .order_by(_W.c.ends_at, _W.c.id)
    ).scalars()
    for window_id in list(candidates):
        taken = connection.execute(
            update(_W)
            .where(_W.c.id == window_id, _W.c.held + _W.c.used < _W.c.places)
            .values(held=_W.c.held + 1)
            .returning(_W.c.id)
        ).first()
        if taken is not None:
            return cast(uuid.UUID, window_id)
    return None


def release(connection: Connection, window_id: uuid.UUID) -> bool:
    """Give a held overflow place back (declined, withdrawn, no-show)."""
    row = connection.execute(
        update(_W).where(_W.c.id == window_id, _W.c.held >= 1).values(held=_W.c.held - 1)
    )
    return bool(row.rowcount)


def consume(connection: Connection, window_id: uuid.UUID) -> bool:
    """She arrived: the held place is used (a placement on overflow)."""
    row = connection.execute(
        update(_W)
        .where(_W.c.id == window_id, _W.c.held >= 1)
        .values(held=_W.c.held - 1, used=_W.c.used + 1)
    )
    return bool(row.rowcount)
