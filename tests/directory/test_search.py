"""Search: every hard filter, every ranking rule, and what it must never show."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from referral_hub.agencies.models import AgencyStatus
from referral_hub.auth import admin
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.directory.search import SearchQuery, search
from referral_hub.directory.vocabulary import Category
from tests import factories

CENTRE = (41.88, -87.63)


def place(km_north: float) -> dict[str, Any]:
    return {"latitude": CENTRE[0] + km_north / 111.32, "longitude": CENTRE[1], "city": "Riverbend"}


def names(query: SearchQuery) -> list[str]:
    return [item["service"]["name"] for item in search(SYSTEM, query)]


@pytest.fixture
def agency(session: Any) -> Any:
    with transaction():
        return factories.agency()


def make(
    agency: Any, name: str, category: str = "emergency_shelter", free: int | None = 2, **fields: Any
) -> Any:
    with transaction():
        service = factories.directory_service(agency, category, name=name, **fields)
        if free is not None:
            factories.capacity(service, total=max(free, 1) + 1, available=free)
    return service


def test_category_filter(agency: Any) -> None:
    make(agency, "Shelter A")
    make(agency, "Counsel A", "immigration_counsel")
    make(agency, "Clinic A", "primary_care")
    assert names(SearchQuery(categories=(Category.IMMIGRATION_COUNSEL,))) == ["Counsel A"]
    assert sorted(
        names(SearchQuery(categories=(Category.IMMIGRATION_COUNSEL, Category.PRIMARY_CARE)))
    ) == [
        "Clinic A",
        "Counsel A",
    ]


def test_available_filter(agency: Any) -> None:
    make(agency, "Full", free=0)
    make(agency, "Free", free=3)
    assert names(SearchQuery(available=True)) == ["Free"]
    assert sorted(names(SearchQuery())) == ["Free", "Full"]


def test_age_filter_respects_open_ends(agency: Any) -> None:
    make(agency, "Adults", eligibility={"min_age": 18})
    make(agency, "Youth", eligibility={"min_age": 12, "max_age": 17})
    make(agency, "Anyone")
    assert sorted(names(SearchQuery(age=16))) == ["Anyone", "Youth"]
    assert sorted(names(SearchQuery(age=18))) == ["Adults", "Anyone"]
    assert sorted(names(SearchQuery(age=17))) == ["Anyone", "Youth"]


def test_gender_filter_treats_no_list_as_everyone(agency: Any) -> None:
    make(agency, "Women", eligibility={"genders": ["female", "transgender"]})
    make(agency, "Men", eligibility={"genders": ["male"]})
    make(agency, "Everyone")
    assert sorted(names(SearchQuery(gender="male"))) == ["Everyone", "Men"]
    assert sorted(names(SearchQuery(gender="transgender"))) == ["Everyone", "Women"]


def test_population_filter_needs_every_population_asked_for(agency: Any) -> None:
    make(agency, "Families", eligibility={"populations": ["with_children", "foreign_national"]})
    make(agency, "Minors", eligibility={"populations": ["minor"]})
    make(agency, "General")
    assert names(SearchQuery(populations=("with_children",))) == ["Families"]
    assert names(SearchQuery(populations=("with_children", "foreign_national"))) == ["Families"]
    assert names(SearchQuery(populations=("with_children", "minor"))) == []
    for population in ("tribal", "in_custody", "lgbtq", "male"):
        make(agency, f"Serves {population}", eligibility={"populations": [population]})
        assert names(SearchQuery(populations=(population,))) == [f"Serves {population}"]


def test_language_filter_matches_primary_subtags(agency: Any) -> None:
    make(agency, "Spanish", eligibility={"languages": ["es-MX", "en"]})
    make(agency, "Tagalog", eligibility={"languages": ["tl"]})
    assert names(SearchQuery(languages=("es",))) == ["Spanish"]
    assert names(SearchQuery(languages=("es-ES",))) == ["Spanish"]
    assert sorted(names(SearchQuery(languages=("tl", "es")))) == ["Spanish", "Tagalog"]
    assert names(SearchQuery(languages=("uk",))) == []


def test_radius_filter_and_distance(agency: Any) -> None:
    make(agency, "Near", location=place(5))
    make(agency, "Far", location=place(60))
    make(agency, "Nowhere")  # no location: cannot be within a radius
    results = search(SYSTEM, SearchQuery(near=CENTRE, radius_km=20))
    assert [r["service"]["name"] for r in results] == ["Near"]
    assert results[0]["distance_km"] == pytest.approx(5.0, abs=0.1)


def test_the_radius_box_leaves_out_the_same_latitude_elsewhere(agency: Any) -> None:
    """The box is answered on latitude and longitude together: a service at the same
    latitude but far east or west is outside it, one a little east is inside."""
    for name, km_east in (("East 8", 8), ("West 300", -300), ("East 900", 900)):
        lon = CENTRE[1] + km_east / (111.32 * 0.7443)  # cos(41.88°)
        make(agency, name, location={"latitude": CENTRE[0], "longitude": lon, "city": "R"})
    assert names(SearchQuery(near=CENTRE, radius_km=25)) == ["East 8"]
    assert sorted(names(SearchQuery(near=CENTRE, radius_km=400))) == ["East 8", "West 300"]


def test_a_search_without_a_category_reaches_every_category(agency: Any) -> None:
    for category in Category:
        make(agency, f"Any {category.value}", category.value)
    found = {item["service"]["category"] for item in search(SYSTEM, SearchQuery(limit=50))}
    assert found == {category.value for category in Category}


def test_capacity_is_kept_lean_for_updates(session: Any) -> None:
    """What keeps holds cheap at scale: the search index holds the radius box, no index
    holds a column that every update moves, and PostgreSQL leaves room for HOT updates."""
    from sqlalchemy import inspect, text

    indexes = {
        index["name"]: index["column_names"]
        for index in inspect(session.connection()).get_indexes("capacity")
    }
    assert indexes["ix_capacity_search"] == ["listed", "category", "search_lat", "search_lon"]
    moving = {"available", "held", "total", "updated_at", "aging_at", "stale_at", "updated_by"}
    assert not moving & {column for columns in indexes.values() for column in columns}
    if session.get_bind().dialect.name == "postgresql":
        options = session.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'capacity'"))
        assert "fillfactor=70" in options
        assert "autovacuum_vacuum_scale_factor=0.01" in options


def test_confidential_sites_report_a_coarse_distance(agency: Any) -> None:
    exact = {
        "latitude": CENTRE[0] + 0.033,
        "longitude": CENTRE[1] + 0.021,
        "confidential": True,
        "city": "Riverbend",
    }
    make(agency, "Hidden", location=exact)
    (result,) = search(SYSTEM, SearchQuery(near=CENTRE))
    true_km = __import__("referral_hub.directory.geo").directory.geo.haversine_km(
        *CENTRE, exact["latitude"], exact["longitude"]
    )
    assert result["distance_km"] == round(result["distance_km"])  # whole km only
    assert result["distance_km"] != pytest.approx(true_km, abs=0.05)
    assert "latitude" not in str(result["service"])
    assert "address" not in str(result)


def test_suspended_agencies_and_inactive_services_never_show(session: Any, agency: Any) -> None:
    with transaction():
        other = factories.agency()
    make(other, "Suspended")
    make(agency, "Closed", status="temporarily_closed")
    make(agency, "Open")
    with transaction():
        admin.set_agency_status(SYSTEM, other.id, AgencyStatus.SUSPENDED)
    assert names(SearchQuery()) == ["Open"]


def test_ranking_free_fresh_near_and_quick_first_stale_last(session: Any, agency: Any) -> None:
    with transaction():
        slow = factories.agency()
        slow.response_minutes = 600
        agency.response_minutes = 5
    start = clock.now()
    with clock.frozen_at(start - timedelta(hours=9)):
        make(agency, "Stale but free and near", location=place(1), free=5)
    with clock.frozen_at(start - timedelta(hours=3)):
        make(agency, "Aging", location=place(1), free=2)
    make(agency, "Fresh far", location=place(80), free=2)
    make(agency, "Fresh near", location=place(1), free=2)
    make(agency, "Fresh near but full", location=place(1), free=0)
    make(slow, "Fresh near slow responder", location=place(1), free=2)
    make(agency, "Never set", location=place(1), free=None)
    ranked = names(SearchQuery(near=CENTRE))
    assert ranked[:2] == ["Fresh near", "Fresh near slow responder"]  # quick answer wins the tie
    assert ranked.index("Fresh near") < ranked.index("Aging") < ranked.index("Fresh near but full")
    assert ranked.index("Fresh near") < ranked.index("Fresh far")
    assert set(ranked[-2:]) == {"Stale but free and near", "Never set"}  # stale and unknown last
    results = {r["service"]["name"]: r for r in search(SYSTEM, SearchQuery(near=CENTRE))}
    assert results["Stale but free and near"]["stale"] is True
    assert results["Never set"]["capacity"]["freshness"] == "unknown"
    assert results["Aging"]["capacity"]["freshness"] == "aging"
    scores = [r["score"] for r in search(SYSTEM, SearchQuery(near=CENTRE)) if not r["stale"]]
    assert scores == sorted(scores, reverse=True)


def test_trafficking_type_filter_treats_no_list_as_any(agency: Any) -> None:
    make(agency, "Sex only", eligibility={"trafficking_types": ["sex"]})
    make(agency, "Labor only", eligibility={"trafficking_types": ["labor"]})
    make(agency, "Both", eligibility={"trafficking_types": ["sex", "labor"]})
    make(agency, "Any")
    assert sorted(names(SearchQuery(trafficking_types=("labor",)))) == [
        "Any",
        "Both",
        "Labor only",
    ]
    assert sorted(names(SearchQuery(trafficking_types=("sex", "labor")))) == ["Any", "Both"]


def test_accessibility_filter_needs_every_feature_asked_for(agency: Any) -> None:
    make(agency, "Ramp", eligibility={"accessibility": ["wheelchair", "ground_floor"]})
    make(agency, "Signs", eligibility={"accessibility": ["sign_language"]})
    make(agency, "Stairs")
    assert names(SearchQuery(accessibility=("wheelchair",))) == ["Ramp"]
    assert names(SearchQuery(accessibility=("wheelchair", "ground_floor"))) == ["Ramp"]
    assert names(SearchQuery(accessibility=("wheelchair", "sign_language"))) == []
    assert names(SearchQuery(accessibility=("sign_language",))) == ["Signs"]


@pytest.mark.parametrize("flag", ["no_id_needed", "no_police_report_needed", "accepts_children"])
def test_what_a_service_does_not_ask_for_filters_when_true(agency: Any, flag: str) -> None:
    make(agency, "Yes", eligibility={flag: True})
    make(agency, "No")
    wanted: dict[str, Any] = {flag: True}
    assert names(SearchQuery(**wanted)) == ["Yes"]
    wanted[flag] = False
    assert sorted(names(SearchQuery(**wanted))) == ["No", "Yes"]


def test_changing_eligibility_moves_a_service_in_and_out_of_the_filters(agency: Any) -> None:
    """The search copies follow the service: an edit takes effect on the next search."""
    from referral_hub.directory.service import update_service

    service = make(agency, "Edited", eligibility={"accepts_children": True})
    assert names(SearchQuery(accepts_children=True)) == ["Edited"]
    with transaction():
        update_service(
            SYSTEM,
            service.id,
            eligibility={"accepts_children": False, "accessibility": ["braille"]},
        )
    assert names(SearchQuery(accepts_children=True)) == []
    assert names(SearchQuery(accessibility=("braille",))) == ["Edited"]


def test_limit(agency: Any) -> None:
    for number in range(5):
        make(agency, f"S{number}")
    assert len(names(SearchQuery(limit=3))) == 3


def test_the_search_endpoint(client: Any, session: Any, agency: Any) -> None:
    make(
        agency,
        "Harbor",
        location=place(2),
        eligibility={"languages": ["es"], "populations": ["foreign_national"]},
    )
    with transaction():
        client_id, secret = factories.api_client(agency, ["directory:read"])
    headers = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    response = client.get(
        "/api/v1/search?category=emergency_shelter&available=true&age=30&gender=female"
        "&population=foreign_national&language=es&near=41.88,-87.63&radius_km=10&limit=5",
        headers=headers,
    )
    assert response.status_code == 200, response.json
    from referral_hub.directory.schemas import SearchResultSchema

    SearchResultSchema().load(response.json)  # exactly the documented shape, nothing more
    (item,) = response.json["items"]
    assert set(item) == {"service", "agency", "capacity", "distance_km", "score", "stale"}
    assert item["service"]["phone"] is None  # none given; the page shows a number when one is
    assert item["agency"]["id"] == str(agency.id)
    assert item["distance_km"] == pytest.approx(2.0, abs=0.1)
    for bad in (
        "radius_km=5",
        "near=91,0",
        "near=here",
        "population=martians",
        "category=spa",
        "limit=500",
        "limit=201",
        "limit=0",
        "language=!!",
        "trafficking_type=organ",
        "accessibility=lift",
        "accepts_children=maybe",
    ):
        refused = client.get(f"/api/v1/search?{bad}", headers=headers)
        assert refused.status_code == 422, bad
        assert refused.mimetype == "application/problem+json"
        named = {key.split(".")[0] for key in refused.json["errors"]}
        assert named == {bad.split("=")[0]}, (bad, refused.json)


def test_the_search_endpoint_takes_every_filter_and_up_to_200(
    client: Any, session: Any, agency: Any
) -> None:
    make(
        agency,
        "Family shelter",
        eligibility={
            "trafficking_types": ["labor"],
            "accessibility": ["wheelchair"],
            "no_id_needed": True,
            "no_police_report_needed": True,
            "accepts_children": True,
        },
    )
    make(agency, "Sex trafficking only", eligibility={"trafficking_types": ["sex"]})
    with transaction():
        client_id, secret = factories.api_client(agency, ["directory:read"])
    headers = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}

    def found(query: str) -> list[str]:
        response = client.get(f"/api/v1/search?{query}", headers=headers)
        assert response.status_code == 200, response.json
        return sorted(item["service"]["name"] for item in response.json["items"])

    assert found("trafficking_type=labor&limit=200") == ["Family shelter"]
    assert found("trafficking_type=sex") == ["Sex trafficking only"]
    for flag in ("no_id_needed", "no_police_report_needed", "accepts_children"):
        assert found(f"{flag}=true") == ["Family shelter"], flag
        assert found(f"{flag}=false") == ["Family shelter", "Sex trafficking only"], flag
    assert found("accessibility=wheelchair") == ["Family shelter"]
    assert found("accessibility=braille") == []


def test_an_unknown_search_parameter_is_422_naming_it(
    client: Any, session: Any, agency: Any
) -> None:
    """A misspelt filter must not look as if it had filtered."""
    make(agency, "Anything")
    with transaction():
        client_id, secret = factories.api_client(agency, ["directory:read"])
    headers = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    refused = client.get(
        "/api/v1/search?category=emergency_shelter&traficking=labor", headers=headers
    )
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    assert refused.json["errors"] == {"traficking": ["Unknown field."]}
