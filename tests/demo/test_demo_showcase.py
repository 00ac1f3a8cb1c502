"""The demo's family shelters and night services: the 11 pm case finds a bed, and every
search filter has a service that passes it and a near miss failing it alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.demo.showcase import REFERENCE, SHOWCASE, seed_showcase
from referral_hub.directory import near_misses
from referral_hub.directory.search import search, to_query


@pytest.fixture
def showcase(session: Any) -> None:
    with transaction():
        made = seed_showcase(echo=lambda _: None)
    assert made == sum(1 + len(offers) for *_, offers in SHOWCASE)
    with transaction():
        assert seed_showcase(echo=lambda _: None) == 0  # idempotent


def reference(**changes: Any) -> Any:
    return to_query(REFERENCE | changes, 20)


def test_the_eleven_pm_case_finds_a_family_shelter_with_a_bed_tonight(showcase: None) -> None:
    query = to_query(
        {
            "category": ["emergency_shelter"],
            "population": ["foreign_national", "with_children"],
            "language": ["es"],
            "available": True,
        },
        20,
    )
    found = {item["service"]["name"]: item for item in search(SYSTEM, query)}
    bed = found["Family emergency beds — Casa Esperanza Family Shelter"]
    assert bed["capacity"]["available"] == 1
    assert bed["capacity"]["freshness"] == "fresh"
    assert len(found) >= 3  # a choice of family shelters, not one
    (fits,) = search(SYSTEM, reference())  # everything asked at once: one bed in town
    assert fits["service"]["id"] == bed["service"]["id"]


@pytest.mark.parametrize("parameter", sorted(set(near_misses.PARAMETERS.values())))
def test_every_filter_passes_somewhere_and_is_the_only_miss_elsewhere(
    showcase: None, parameter: str
) -> None:
    # "children taken" is shown for a parent the population filter does not already ask about
    changes = {"population": ["foreign_national"]} if parameter == "accepts_children" else {}
    query = reference(**changes)
    assert search(SYSTEM, query), "a service passes every filter, this one included"
    alone = [
        item["service"]["name"]
        for item in near_misses.find(SYSTEM, query, limit=50)
        if [miss["filter"] for miss in item["misses"]] == [parameter]
    ]
    assert alone, f"no service misses {parameter} alone"


def test_night_intake_is_in_the_hours(showcase: None) -> None:
    query = to_query({"category": ["immigration_counsel"], "language": ["es"]}, 20)
    names = {item["service"]["name"] for item in search(SYSTEM, query)}
    assert "After-hours immigration advice — Nuevo Día Immigrant Legal Center" in names
    hours = {offer[4] for *_, offers in SHOWCASE for offer in offers}
    assert any("night" in text for text in hours)


def test_the_day_one_features_are_shown_set(showcase: None) -> None:
    """Hold lengths of its own (24 h for a discharge respite, a night hold), overflow
    places open tonight, and an agency that publishes counts only."""
    from sqlalchemy import select

    from referral_hub.agencies import service as agencies
    from referral_hub.agencies.vocabulary import Participation
    from referral_hub.core import clock
    from referral_hub.demo.showcase import COUNTS_ONLY, OVERFLOW, RESPITE
    from referral_hub.directory import overflow
    from referral_hub.directory.models import Service
    from referral_hub.extensions import db

    def service(agency_name: str, label: str) -> Service:
        agency = agencies.find_agency_by_name(agency_name)
        assert agency is not None
        return db.session.scalars(
            select(Service).where(
                Service.agency_id == agency.id, Service.name == f"{label} — {agency_name}"
            )
        ).one()

    respite = service(RESPITE, "Hospital-discharge respite beds")
    assert (respite.hold_minutes, respite.night_hold_minutes) == (24 * 60, None)
    family = service("Casa Esperanza Family Shelter", "Family emergency beds")
    assert family.night_hold_minutes is not None
    assert family.night_hold_minutes > 90
    counts_only = agencies.find_agency_by_name(COUNTS_ONLY)
    assert counts_only is not None
    assert counts_only.participation == Participation.COUNTS_ONLY
    now = clock.now()
    agency_name, label, places, _ = OVERFLOW
    [window] = overflow.windows(service(agency_name, label), now)
    assert overflow.is_open(window, now)
    assert window.places == places
    assert window.ends_at - now >= timedelta(hours=4)
