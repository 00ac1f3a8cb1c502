"""Near misses: what each filter's miss says, how they rank, and that they show nothing
search would not."""

from __future__ import annotations

import re
from typing import Any

import pytest

from referral_hub.agencies.models import AgencyStatus
from referral_hub.auth import admin
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.demo.showcase import FAMILY, REFERENCE
from referral_hub.directory import near_misses
from referral_hub.directory.capacity import hold_unit
from referral_hub.directory.search import SearchQuery, search, to_query
from referral_hub.directory.service import update_service
from referral_hub.directory.vocabulary import Category
from tests import factories

CENTRE = (41.88, -87.63)

# the demo's family shelter fits the 11 pm case asked all at once; each test changes one
# thing about it
FITS = FAMILY
ASKED = to_query(REFERENCE, 20)


def place(km_north: float, confidential: bool = False) -> dict[str, Any]:
    return {
        "latitude": CENTRE[0] + km_north / 111.32,
        "longitude": CENTRE[1],
        "city": "Riverbend",
        "confidential": confidential,
    }


@pytest.fixture
def agency(session: Any) -> Any:
    with transaction():
        return factories.agency()


def make(
    agency: Any,
    name: str,
    *,
    free: int | None = 2,
    km: float = 3,
    category: str = "emergency_shelter",
    confidential: bool = False,
    **changes: Any,
) -> Any:
    with transaction():
        service = factories.directory_service(
            agency,
            category,
            name=name,
            eligibility=FITS | changes,
            location=place(km, confidential),
        )
        if free is not None:
            factories.capacity(service, total=free + 3, available=free)
    return service


def named(items: list[dict[str, Any]]) -> list[str]:
    return [item["service"]["name"] for item in items]


def reasons(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {item["service"]["name"]: item["misses"] for item in items}


def test_a_service_that_fits_is_a_result_not_a_near_miss(agency: Any) -> None:
    make(agency, "Fits")
    assert named(search(SYSTEM, ASKED)) == ["Fits"]
    assert near_misses.find(SYSTEM, ASKED) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"free": 0}, {"filter": "available", "reason": "no_free_places", "unit": "bed"}),
        ({"free": None}, {"filter": "available", "reason": "capacity_unknown"}),
        (
            {"min_age": 18, "max_age": 24},
            {"filter": "age", "reason": "age_range", "min_age": 18, "max_age": 24},
        ),
        (
            {"genders": ["male", "nonbinary"]},
            {"filter": "gender", "reason": "genders_only", "values": ["male", "nonbinary"]},
        ),
        (
            {"populations": ["with_children"]},
            {
                "filter": "population",
                "reason": "populations_not_listed",
                "values": ["foreign_national"],
            },
        ),
        (
            {"languages": ["en", "vi"]},
            {
                "filter": "language",
                "reason": "languages_not_listed",
                "values": ["es"],
                "offered": ["en", "vi"],
            },
        ),
        (
            {"trafficking_types": ["labor"]},
            {
                "filter": "trafficking_type",
                "reason": "trafficking_types_not_listed",
                "values": ["sex"],
            },
        ),
        (
            {"accessibility": ["braille"]},
            {
                "filter": "accessibility",
                "reason": "accessibility_not_listed",
                "values": ["wheelchair"],
            },
        ),
        ({"no_id_needed": False}, {"filter": "no_id_needed", "reason": "may_ask_for_id"}),
        (
            {"no_police_report_needed": False},
            {"filter": "no_police_report_needed", "reason": "may_ask_for_police_report"},
        ),
        (
            {"accepts_children": False},
            {"filter": "accepts_children", "reason": "children_not_listed"},
        ),
        ({"km": 27}, {"filter": "radius_km", "reason": "outside_radius", "km_outside": 12}),
    ],
)
def test_each_filter_names_its_miss(
    agency: Any, changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    make(agency, "Almost", **changes)
    assert search(SYSTEM, ASKED) == []
    (item,) = near_misses.find(SYSTEM, ASKED)
    (miss,) = item["misses"]
    assert {key: miss[key] for key in expected} == expected, miss
    # the rest of the item is a search result's, so pages and clients show it the same way
    assert set(item) == {"service", "agency", "capacity", "distance_km", "score", "stale", "misses"}


def test_full_names_what_is_held_for_people_on_their_way(agency: Any) -> None:
    service = make(agency, "Full", free=1)
    with transaction():
        assert hold_unit(SYSTEM, service.id, note="accepted")
    (item,) = near_misses.find(SYSTEM, ASKED)
    assert item["misses"] == [
        {"filter": "available", "reason": "no_free_places", "unit": "bed", "held": 1}
    ]


def test_ranked_fewest_misses_then_nearest_then_most_free(agency: Any) -> None:
    make(agency, "Two misses, next door", km=1, languages=["en"], no_id_needed=False)
    make(agency, "One miss, far", km=10, languages=["en"])
    make(agency, "One miss, near, 1 free", km=4, free=1, no_id_needed=False)
    make(agency, "One miss, near, 5 free", km=4, free=5, accepts_children=False)
    make(agency, "Four misses", km=1, languages=["en"], no_id_needed=False, genders=["male"],
         accepts_children=False)  # fmt: skip
    assert named(near_misses.find(SYSTEM, ASKED)) == [
        "One miss, near, 5 free",
        "One miss, near, 1 free",
        "One miss, far",
        "Two misses, next door",
    ]
    assert len(near_misses.find(SYSTEM, ASKED, limit=2)) == 2


def test_without_a_place_most_free_capacity_breaks_ties(agency: Any) -> None:
    make(agency, "One free", free=1, no_id_needed=False)
    make(agency, "Six free", free=6, no_id_needed=False)
    query = SearchQuery(categories=(Category.EMERGENCY_SHELTER,), no_id_needed=True)
    assert named(near_misses.find(SYSTEM, query)) == ["Six free", "One free"]


def test_the_need_is_never_relaxed_and_a_need_alone_has_no_near_misses(agency: Any) -> None:
    make(agency, "Counsel", category="immigration_counsel", languages=["en"])
    assert near_misses.find(SYSTEM, ASKED) == []
    assert near_misses.find(SYSTEM, SearchQuery(categories=(Category.EMERGENCY_SHELTER,))) == []


def test_too_far_beyond_the_radius_is_not_near(agency: Any) -> None:
    make(agency, "Twice the radius and more", km=35)  # radius 15: reach 30 km
    make(agency, "Just outside", km=20)
    assert named(near_misses.find(SYSTEM, ASKED)) == ["Just outside"]
    small = SearchQuery(categories=(Category.EMERGENCY_SHELTER,), near=CENTRE, radius_km=2)
    assert near_misses.find(SYSTEM, small) == []  # reach: 2 km + 10, and both are further


def test_shown_only_when_search_found_fewer_than_a_handful(agency: Any) -> None:
    make(agency, "Almost", no_id_needed=False)
    for number in range(2):
        make(agency, f"Fits {number}")
    found = search(SYSTEM, ASKED)
    assert named(near_misses.for_search(SYSTEM, ASKED, found)) == ["Almost"]
    make(agency, "Fits 2")
    found = search(SYSTEM, ASKED)
    assert len(found) == 3
    assert near_misses.for_search(SYSTEM, ASKED, found) == []
    # a search limited to one found as many as it asked for: no near misses either
    one = SearchQuery(**{**ASKED.__dict__, "limit": 1})
    assert near_misses.for_search(SYSTEM, one, search(SYSTEM, one)) == []


def test_a_near_miss_never_shows_what_search_would_not(session: Any, agency: Any) -> None:
    """Suspended agencies, inactive services: hidden as in search. A confidential site: its
    coarse point and whole-km distance, never more than search gives with a wider radius."""
    hidden = make(agency, "Inactive", no_id_needed=False)
    with transaction():
        update_service(SYSTEM, hidden.id, status="inactive")
        other = factories.agency()
    make(other, "Suspended agency's", no_id_needed=False)
    with transaction():
        admin.set_agency_status(SYSTEM, other.id, AgencyStatus.SUSPENDED)
    secret = make(agency, "Safe house", km=23.4, confidential=True)
    (item,) = near_misses.find(SYSTEM, ASKED)
    assert item["service"]["id"] == secret.id
    assert item["service"]["confidential"]
    wider = search(SYSTEM, SearchQuery(**{**ASKED.__dict__, "radius_km": 40}))
    assert [r["service"]["id"] for r in wider] == [secret.id]
    assert item["distance_km"] == wider[0]["distance_km"]  # the same coarse, whole-km figure
    assert isinstance(item["distance_km"], int)
    assert item["misses"][0]["km_outside"] == item["distance_km"] - 15
    assert "latitude" not in str(item)
    assert "address" not in str(item)


def test_the_search_endpoint_gives_near_misses(client: Any, session: Any, agency: Any) -> None:
    make(agency, "Almost", languages=["en"], accepts_children=False)
    with transaction():
        client_id, secret = factories.api_client(agency, ["directory:read"])
    headers = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    response = client.get(
        "/api/v1/search?category=emergency_shelter&population=foreign_national"
        "&population=with_children&language=es&accepts_children=true",
        headers=headers,
    )
    assert response.status_code == 200, response.json
    from referral_hub.directory.schemas import SearchResultSchema

    SearchResultSchema().load(response.json)  # the documented shape, nothing more
    assert response.json["items"] == []
    (item,) = response.json["near_misses"]
    assert item["service"]["name"] == "Almost"
    assert [(m["filter"], m["reason"]) for m in item["misses"]] == [
        ("language", "languages_not_listed"),
        ("accepts_children", "children_not_listed"),
    ]
    plenty = client.get("/api/v1/search?category=emergency_shelter", headers=headers)
    assert plenty.json["near_misses"] == []
    for query, field in (
        ("accepts_children=maybe", "accepts_children"),
        ("radius_km=5", "radius_km"),
    ):
        bad = client.get(f"/api/v1/search?{query}", headers=headers)
        assert bad.status_code == 422  # bad input is still refused, naming the field
        assert bad.headers["Content-Type"].startswith("application/problem+json")
        assert field in bad.json["errors"]


# --- the search page ---------------------------------------------------------------------------


def test_the_zero_result_page_shows_near_misses_in_words(client: Any, agency: Any) -> None:
    with transaction():
        worker = factories.with_password(factories.user(factories.agency(), ["intake"]))
    make(agency, "Casa Almost", languages=["en", "vi"], populations=["foreign_national"], free=0)
    make(agency, "Far family beds", km=24)
    factories.sign_in(client, worker)
    response = client.get(
        "/intake/search?category=emergency_shelter&available=true&population=foreign_national"
        "&population=with_children&language=Spanish&lat=41.88&lon=-87.63&radius_km=15"
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No services match" in page
    assert "Try fewer filters" not in page
    close = page[page.index('id="near-h"') :]
    assert close.index("Far family beds") < close.index("Casa Almost")  # one miss before two
    assert "Would fit except:" in close
    assert "9 km outside your radius" in close
    assert "no free places now" in close
    assert "does not list Spanish (works in English, Vietnamese)" in close
    assert "does not list people with children" in close
    for code in ("_", "radius_km", "outside_radius", " es ", "accepts_children"):
        words = re.sub(r"<[^>]+>", " ", close)  # the text a worker reads, not the markup
        assert code not in words, code
    assert (
        close.count(">Add to plan<span") == 2
    )  # she may still be referred: the worker calls first


MISSES: list[dict[str, Any]] = [
    {"reason": "no_free_places", "held": 2},
    {"reason": "no_free_places", "held": 0},
    {"reason": "capacity_unknown"},
    {"reason": "age_range", "min_age": 18, "max_age": 24},
    {"reason": "age_range", "min_age": 18, "max_age": None},
    {"reason": "age_range", "min_age": None, "max_age": 21},
    {"reason": "genders_only", "values": ["male"]},
    {"reason": "populations_not_listed", "values": ["foreign_national", "with_children"]},
    {"reason": "languages_not_listed", "values": ["es"], "offered": ["en"]},
    {"reason": "languages_not_listed", "values": ["es"], "offered": []},
    {"reason": "trafficking_types_not_listed", "values": ["labor"]},
    {"reason": "accessibility_not_listed", "values": ["wheelchair", "ground_floor"]},
    {"reason": "may_ask_for_id"},
    {"reason": "may_ask_for_police_report"},
    {"reason": "children_not_listed"},
    {"reason": "outside_radius", "km_outside": 12},
]


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_reason_has_words_in_each_language(app: Any, language: str) -> None:
    from flask import g

    from referral_hub.directory.schemas import MISS_REASONS
    from referral_hub.web.pages.intake import miss_words

    assert {miss["reason"] for miss in MISSES} == set(MISS_REASONS)
    with app.test_request_context("/"):
        g.language = language
        said = [miss_words(miss) for miss in MISSES]
    assert all(said), said
    assert not any("_" in words for words in said), said
    assert len(set(said)) == len(said)
    if language == "es":
        assert "a 12 km fuera de su radio" in said
        assert "no figuran niños" in said
    else:
        assert said[0] == "no free places now (2 held for people on the way)"
        assert "ages 18 to 24 only" in said
        assert "12 km outside your radius" in said
