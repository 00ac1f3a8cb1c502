"""How old is a capacity figure, against its category's time to live.

`fresh` under a quarter of the TTL, `aging` up to and including the TTL, `stale` past
it, `unknown` when never set. Stale figures are still listed, ranked last.

The tiers are pure; `ttl_of` reads the hub's TTLs from the app's configuration, and
`capacity_view` is a service's figures with their freshness as every reader shows them
(the API, the board, the HSDS export). They live here, below `service`, `capacity` and
`search`, so that each of those may use them without importing another.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flask import current_app

from referral_hub.directory import overflow
from referral_hub.directory.models import Service
from referral_hub.directory.vocabulary import BED_CATEGORIES, Category


class Freshness(StrEnum):
    FRESH = "fresh"
    AGING = "aging"
    STALE = "stale"
    UNKNOWN = "unknown"


def ttl_for(category: Category, bed_hours: float, other_hours: float) -> timedelta:
    return timedelta(hours=bed_hours if category in BED_CATEGORIES else other_hours)


def tier(updated_at: datetime | None, ttl: timedelta, now: datetime) -> Freshness:
    if updated_at is None:
        return Freshness.UNKNOWN
    age = now - updated_at
    if age < ttl / 4:
        return Freshness.FRESH
    if age <= ttl:
        return Freshness.AGING
    return Freshness.STALE


# weight of each tier in the search score
WEIGHT = {Freshness.FRESH: 1.0, Freshness.AGING: 0.6, Freshness.STALE: 0.1, Freshness.UNKNOWN: 0.0}


def ttl_of(category: Category) -> timedelta:
    """The category's time to live as this hub is configured."""
    config = current_app.config
    return ttl_for(category, config["CAPACITY_TTL_BED_HOURS"], config["CAPACITY_TTL_OTHER_HOURS"])


def capacity_view(
    service: Service, now: datetime, *, with_overflow: bool = True
) -> dict[str, Any] | None:
    """The live figures; `with_overflow` reads the service's open overflow windows too (the
    HSDS export, which has no field for them, leaves them unread)."""
    capacity = service.capacity
    if capacity is None:
        return None
    time_to_live = ttl_of(service.category)
    freshness = tier(capacity.updated_at, time_to_live, now)
    return {
        "unit": capacity.unit.value,
        "total": capacity.total,
        "available": capacity.available,
        "held": capacity.held,
        "overflow_available": overflow.available_now(service, now) if with_overflow else 0,
        "updated_at": capacity.updated_at,
        "freshness": freshness.value,
        "stale": freshness in (Freshness.STALE, Freshness.UNKNOWN),
        "stale_after_hours": time_to_live.total_seconds() / 3600,
    }
