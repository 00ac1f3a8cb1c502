"""The capacity board: a provider's own services as cards (the one-tap corrections of the
free count are `directory.service.adjust_available`).

A tap on "-" (someone walked in, a bed broke) or "+" (someone left) is the agency
correcting its count, not a hold for a referral: holds belong to accepted referrals and
move only with them (`hold_unit` / `release_unit`). Like `set_capacity`, the correction is
one conditional UPDATE — relative, so two people tapping at once both count — that also
refreshes the figure's freshness (the person looking at the beds just confirmed it), keeps
a history row and an audit event. When it would break the invariant nothing changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from referral_hub.core.actor import Actor
from referral_hub.directory import overflow
from referral_hub.directory import service as directory
from referral_hub.directory.freshness import Freshness
from referral_hub.directory.models import Service

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
        "hold_minutes": service.hold_minutes,
        "night_hold_minutes": service.night_hold_minutes,
        # open and coming overflow windows (ended ones count no more, swept or not)
        "overflow": [
            overflow.describe(window, now)
            for window in service.overflow_windows
            if window.ends_at > now
        ],
    }
