"""Freshness tiers at their boundaries, and the geometry search relies on. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from referral_hub.directory import geo
from referral_hub.directory.freshness import Freshness, tier, ttl_for
from referral_hub.directory.vocabulary import Category

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=8)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), Freshness.FRESH),
        (timedelta(hours=2) - timedelta(microseconds=1), Freshness.FRESH),
        (timedelta(hours=2), Freshness.AGING),  # a quarter of the TTL
        (timedelta(hours=8), Freshness.AGING),  # exactly the TTL: not yet stale
        (timedelta(hours=8, microseconds=1), Freshness.STALE),
        (timedelta(days=30), Freshness.STALE),
    ],
)
def test_tiers_at_their_boundaries(age: timedelta, expected: Freshness) -> None:
    assert tier(NOW - age, TTL, NOW) == expected


def test_never_set_is_unknown() -> None:
    assert tier(None, TTL, NOW) == Freshness.UNKNOWN


def test_beds_age_in_hours_and_slots_in_days() -> None:
    assert ttl_for(Category.EMERGENCY_SHELTER, 8, 168) == timedelta(hours=8)
    assert ttl_for(Category.TRANSITIONAL_HOUSING, 8, 168) == timedelta(hours=8)
    assert ttl_for(Category.IMMIGRATION_COUNSEL, 8, 168) == timedelta(days=7)


def test_coarse_points_hide_a_site_within_about_eleven_km() -> None:
    lat, lon = geo.coarse(41.8827, -87.6233)
    assert (lat, lon) == (41.9, -87.6)
    assert geo.haversine_km(41.8827, -87.6233, lat, lon) < 8


def test_haversine_and_bounding_box() -> None:
    assert geo.haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.1)
    min_lat, max_lat, min_lon, max_lon = geo.bounding_box(45.0, 10.0, 50)
    assert min_lat < 45 < max_lat
    assert min_lon < 10 < max_lon
    assert geo.haversine_km(45, 10, max_lat, 10) == pytest.approx(50, rel=0.01)
    assert geo.haversine_km(45, 10, 45, max_lon) == pytest.approx(50, rel=0.01)
