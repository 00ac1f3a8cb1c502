"""How old is a capacity figure, against its category's time to live. Pure.

`fresh` under a quarter of the TTL, `aging` up to and including the TTL, `stale` past
it, `unknown` when never set. Stale figures are still listed, ranked last.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

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
