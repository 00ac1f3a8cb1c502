"""The capacity board: a provider's own services, and one-tap corrections of the free count.

A tap on "-" (someone walked in, a bed broke) or "+" (someone left) is the agency
correcting its count, not a hold for a referral: holds belong to accepted referrals and
move only with them (`hold_unit` / `release_unit`). Like `set_capacity`, the correction is
one conditional UPDATE — relative, so two people tapping at once both count — that also
refreshes the figure's freshness (the person looking at the beds just confirmed it), keeps
a history row and an audit event. When it would break the invariant nothing changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import ValidationFailed
from referral_hub.directory import service as directory
from referral_hub.directory.freshness import Freshness
from referral_hub.directory.models import Capacity, Service
from referral_hub.extensions import db

BOARD_LIMIT = 50


def agency_services(actor: Actor) -> list[Service]:
    """The actor's agency's listed services with their capacity (one query, name order)."""
    if actor.agency_id is None:
        return []
    services, _ = directory.list_services(
        actor, directory.SearchQuery(), agency_id=actor.agency_id, limit=BOARD_LIMIT, cursor=None
    )
    return services


def card(service: Service, now: datetime) -> dict[str, Any]:
    """A service's numbers as the board shows them, with how old they are."""
    view = directory.capacity_view(service, now)
    stale_at = None
    if view is not None and view["updated_at"] is not None:
        stale_at = view["updated_at"] + timedelta(hours=view["stale_after_hours"])
    return {
        "id": service.id,
        "name": service.name,
        "category": service.category.value,
        "capacity": view,
        "stale_at": stale_at,
        "fresh": view is not None and view["freshness"] == Freshness.FRESH.value,
    }


def adjust_available(actor: Actor, service_id: uuid.UUID, delta: int) -> Service:
    """One more (+1) or one fewer (-1) free unit, total and holds untouched."""
    if delta not in (-1, 1):
        raise ValidationFailed(errors={"delta": ["One step at a time: -1 or +1."]})
    service = directory.get_service(actor, service_id)
    directory._may_edit(actor, service.agency_id, scope="capacity:write")
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
            **directory._stamp(service.category, now, actor),
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
    directory._record_change(service.id, "set", row, actor, f"board {delta:+d}", now)
    audit.record(
        actor,
        "capacity.updated",
        service,
        fields=["available"],
        details={"total": row.total, "available": row.available, "held": row.held},
    )
    db.session.expire(service, ["capacity"])
    return service
