"""Services and live capacity through the API: ownership, confidential sites, invariants,
freshness, history, and the stale-capacity reminder."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select

from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.directory.models import Capacity, CapacityChange, Service
from referral_hub.jobs.models import OutboxMessage
from tests import factories

EDIT_SCOPES = ["directory:read", "capacity:write", "admin"]
SHELTER: dict[str, Any] = {
    "name": "Harbor Light Beds",
    "category": "emergency_shelter",
    "eligibility": {
        "min_age": 18,
        "genders": ["female", "transgender"],
        "populations": ["foreign_national", "with_children"],
        "languages": ["en", "es-MX"],
        "no_police_report_needed": True,
    },
    "location": {
        "name": "Harbor Light House",
        "address": {"street": "12 Hidden Lane", "postal_code": "60601"},
        "city": "Riverbend",
        "region": "Riverbend County",
        "country": "US",
        "latitude": 41.8827,
        "longitude": -87.6233,
        "confidential": True,
    },
}


def bearer(http: Any, agency: Any, scopes: list[str]) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(agency, scopes)
    return {"Authorization": f"Bearer {factories.token(http, client_id, secret)}"}


@pytest.fixture
def hub(client: Any, session: Any) -> dict[str, Any]:
    with transaction():
        own, other = factories.agency(), factories.agency()
    return {
        "own": own,
        "other": other,
        "owner": bearer(client, own, EDIT_SCOPES),
        "outsider": bearer(client, other, EDIT_SCOPES),
    }


def create(client: Any, hub: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/api/v1/services", json=body or SHELTER, headers=hub["owner"])
    assert response.status_code == 201, response.json
    return response.json


def test_creating_a_service_starts_with_unknown_capacity(client: Any, hub: dict[str, Any]) -> None:
    created = create(client, hub)
    assert created["agency_id"] == str(hub["own"].id)
    assert created["capacity"] == {
        "unit": "bed",
        "total": 0,
        "available": 0,
        "held": 0,
        "overflow_available": 0,
        "updated_at": None,
        "freshness": "unknown",
        "stale": True,
        "stale_after_hours": 8.0,
    }
    assert created["eligibility"]["languages"] == ["en", "es-MX"]
    assert created["eligibility"]["populations"] == ["foreign_national", "with_children"]


def test_a_confidential_address_reaches_only_its_owner(client: Any, hub: dict[str, Any]) -> None:
    created = create(client, hub)
    own_view = client.get(f"/api/v1/services/{created['id']}", headers=hub["owner"]).json
    assert own_view["location"]["address"] == {"street": "12 Hidden Lane", "postal_code": "60601"}
    other_view = client.get(f"/api/v1/services/{created['id']}", headers=hub["outsider"])
    text = other_view.get_data(as_text=True)
    for secret in ("12 Hidden Lane", "60601", "41.8827", "-87.6233", "Harbor Light House"):
        assert secret not in text
    location = other_view.json["location"]
    assert (location["city"], location["confidential"], location["latitude"]) == (
        "Riverbend",
        True,
        None,
    )
    listing = client.get("/api/v1/services", headers=hub["outsider"]).get_data(as_text=True)
    assert "12 Hidden Lane" not in listing
    assert "41.8827" not in listing


def test_the_stored_address_is_encrypted(client: Any, session: Any, hub: dict[str, Any]) -> None:
    created = create(client, hub)
    stored = session.get(Service, __import__("uuid").UUID(created["id"]))
    assert b"Hidden Lane" not in stored.address_encrypted
    assert (stored.search_lat, stored.search_lon) == (41.9, -87.6)  # the coarse point only


def test_only_the_owning_agency_changes_a_service(client: Any, hub: dict[str, Any]) -> None:
    created = create(client, hub)
    url = f"/api/v1/services/{created['id']}"
    assert client.patch(url, json={"hours": "24/7"}, headers=hub["outsider"]).status_code == 403
    put = client.put(f"{url}/capacity", json={"total": 5, "available": 5}, headers=hub["outsider"])
    assert put.status_code == 403
    changed = client.patch(
        url, json={"hours": "24/7", "eligibility": {"max_age": 64}}, headers=hub["owner"]
    )
    assert changed.status_code == 200
    assert changed.json["hours"] == "24/7"
    assert changed.json["eligibility"]["min_age"] == 18
    assert changed.json["eligibility"]["max_age"] == 64


def test_capacity_put_returns_the_contract_shape_and_keeps_history(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    created = create(client, hub)
    url = f"/api/v1/services/{created['id']}/capacity"
    seq_before = audit.head()[0]
    response = client.put(
        url, json={"total": 12, "available": 4, "note": "two rooms closed"}, headers=hub["owner"]
    )
    assert response.status_code == 200
    body = response.json
    assert {
        k: body[k] for k in ("unit", "total", "available", "held", "stale", "stale_after_hours")
    } == {
        "unit": "bed",
        "total": 12,
        "available": 4,
        "held": 0,
        "stale": False,
        "stale_after_hours": 8.0,
    }
    assert body["freshness"] == "fresh"
    assert body["updated_at"].endswith("+00:00")
    client.post(f"{url}/confirm", headers=hub["owner"])
    history = client.get(f"{url}/history", headers=hub["outsider"]).json["items"]
    assert [(h["kind"], h["total"], h["available"]) for h in history] == [
        ("set", 12, 4),
        ("confirm", 12, 4),
    ]
    assert history[0]["note"] == "two rooms closed"
    assert audit.head()[0] == seq_before + 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"total": 3, "available": 4}, "available"),
        ({"total": -1, "available": 0}, "total"),
        ({"total": 3}, "available"),
        ({"total": 3, "available": 1, "held": 2}, "held"),
        ({"total": "3", "available": 1}, "total"),
    ],
)
def test_bad_capacity_is_refused_and_changes_nothing(
    client: Any, session: Any, hub: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    created = create(client, hub)
    url = f"/api/v1/services/{created['id']}/capacity"
    client.put(url, json={"total": 10, "available": 6}, headers=hub["owner"])
    changes = session.scalar(select(func.count()).select_from(CapacityChange))
    response = client.put(url, json=body, headers=hub["owner"])
    assert response.status_code in (400, 422)
    assert field in response.json["errors"]
    assert session.scalar(select(func.count()).select_from(CapacityChange)) == changes
    after = client.get(f"/api/v1/services/{created['id']}", headers=hub["owner"]).json["capacity"]
    assert (after["total"], after["available"]) == (10, 6)


def test_units_on_hold_are_kept_by_a_put(client: Any, session: Any, hub: dict[str, Any]) -> None:
    created = create(client, hub)
    url = f"/api/v1/services/{created['id']}/capacity"
    client.put(url, json={"total": 10, "available": 6}, headers=hub["owner"])
    with transaction():  # an accepted referral holds three beds
        row = session.get(Capacity, __import__("uuid").UUID(created["id"]))
        row.available, row.held = 3, 3
    refused = client.put(url, json={"total": 10, "available": 8}, headers=hub["owner"])
    assert refused.status_code == 422
    assert refused.json["errors"] == {"available": ["With 3 held, at most 7 can be free."]}
    fine = client.put(url, json={"total": 10, "available": 7}, headers=hub["owner"])
    assert (fine.json["available"], fine.json["held"]) == (7, 3)


def test_the_database_refuses_capacity_that_breaks_the_invariant(session: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    with transaction():
        shelter = factories.directory_service(factories.agency())
    for values in ({"available": -1}, {"held": -1}, {"total": 2, "available": 2, "held": 1}):
        with pytest.raises(IntegrityError), transaction() as s:
            s.execute(
                cast(Table, Capacity.__table__)
                .update()
                .where(Capacity.service_id == shelter.id)
                .values(**values)
            )


def test_freshness_moves_with_the_clock_and_confirmation_renews_it(session: Any) -> None:
    from referral_hub.core.actor import SYSTEM
    from referral_hub.directory import service as directory
    from referral_hub.directory.capacity import (
        confirm_capacity,
    )
    from referral_hub.directory.freshness import capacity_view

    start = clock.now()
    with clock.frozen_at(start) as frozen:
        with transaction():
            shelter = factories.directory_service(factories.agency())
            factories.capacity(shelter, total=4, available=2)
        seen = []
        for hours in (1, 1, 4, 2.01):  # 1 h, 2 h, 6 h, 8 h 36 s after the update
            frozen.advance(timedelta(hours=hours))
            session.expire_all()
            seen.append(
                directory.describe(directory.get_service(SYSTEM, shelter.id), SYSTEM)["capacity"][
                    "freshness"
                ]
            )
        assert seen == ["fresh", "aging", "aging", "stale"]
        with transaction():
            confirmed = confirm_capacity(SYSTEM, shelter.id)
        view = capacity_view(confirmed, clock.now())
        assert view is not None
        assert (view["freshness"], view["available"]) == ("fresh", 2)


def test_stale_capacity_reminds_the_agency_once(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    from referral_hub.directory.capacity import remind_stale

    with transaction():
        provider = factories.user(hub["own"], ["provider"])
        factories.user(hub["own"], ["intake"])  # intake staff are not asked
    created = create(client, hub)
    client.put(
        f"/api/v1/services/{created['id']}/capacity",
        json={"total": 4, "available": 2},
        headers=hub["owner"],
    )
    with clock.frozen_at(clock.now() + timedelta(hours=9)):
        with transaction():
            assert remind_stale() == 1
        with transaction():
            assert remind_stale() == 0  # once, until the numbers are touched again
    mails = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all()
    assert [(m.payload["to"], m.payload["template"]) for m in mails] == [
        (provider.email, "capacity_stale")
    ]


def test_a_malformed_service_is_refused_with_the_field_and_nothing_written(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    cases = [
        ({**SHELTER, "category": "spa"}, "category"),
        ({**SHELTER, "eligibility": {"languages": ["not a tag"]}}, "eligibility.languages.0"),
        ({**SHELTER, "eligibility": {"min_age": 30, "max_age": 20}}, "eligibility.max_age"),
        ({**SHELTER, "location": {"latitude": 91, "longitude": 0}}, "location.latitude"),
        ({**SHELTER, "location": {"latitude": 41.0}}, "location.latitude"),
        ({**SHELTER, "eligibility": {"populations": ["everyone"]}}, "eligibility.populations.0"),
        ({**SHELTER, "capacity": 3}, "capacity"),
    ]
    before = session.scalar(select(func.count()).select_from(Service))
    for body, field in cases:
        response = client.post("/api/v1/services", json=body, headers=hub["owner"])
        assert response.status_code in (400, 422), body
        assert field in response.json["errors"], (field, response.json)
    assert session.scalar(select(func.count()).select_from(Service)) == before


def test_each_move_writes_its_history_row_and_a_refused_one_writes_nothing(session: Any) -> None:
    """Holds, releases and uses are one conditional write with their history row: the row
    carries the numbers the write left, and a move that finds no unit changes nothing."""
    from referral_hub.core.actor import SYSTEM
    from referral_hub.directory.capacity import (
        consume_unit,
        hold_unit,
        release_unit,
    )

    with transaction():
        shelter = factories.directory_service(factories.agency())
        factories.capacity(shelter, total=3, available=1)

    def history() -> list[tuple[str, int, int, int, str | None]]:
        rows = session.execute(
            select(
                CapacityChange.kind,
                CapacityChange.total,
                CapacityChange.available,
                CapacityChange.held,
                CapacityChange.note,
            )
            .where(CapacityChange.service_id == shelter.id, CapacityChange.kind != "set")
            .order_by(CapacityChange.at, CapacityChange.kind.desc())
        )
        return [tuple(row) for row in rows]

    with transaction():
        assert release_unit(SYSTEM, shelter.id, note="nothing held") is False
        assert consume_unit(SYSTEM, shelter.id, note="nothing held") is False
        assert hold_unit(SYSTEM, shelter.id, note="referral a") is True
        assert hold_unit(SYSTEM, shelter.id, note="none free") is False
    assert history() == [("hold", 3, 0, 1, "referral a")]
    with transaction():
        assert consume_unit(SYSTEM, shelter.id, note="referral a") is True
        assert release_unit(SYSTEM, shelter.id, note="nothing held") is False
    assert history()[-1] == ("consume", 3, 0, 0, "referral a")
    row = session.get(Capacity, shelter.id)
    session.refresh(row)
    assert (row.total, row.available, row.held) == (3, 0, 0)
    assert len(history()) == 2
    actors = session.scalars(
        select(CapacityChange.actor_id).where(
            CapacityChange.service_id == shelter.id, CapacityChange.kind != "set"
        )
    )
    assert set(actors) == {SYSTEM.id}


def test_a_move_rolled_back_leaves_neither_its_unit_nor_its_history(session: Any) -> None:
    from referral_hub.core.actor import SYSTEM
    from referral_hub.directory.capacity import (
        hold_unit,
    )

    with transaction():
        shelter = factories.directory_service(factories.agency())
        factories.capacity(shelter, total=2, available=2)
    before = session.scalar(select(func.count()).select_from(CapacityChange))
    # the raise inside is what rolls the transaction back: the work and it belong together
    with pytest.raises(RuntimeError), transaction():  # noqa: PT012
        assert hold_unit(SYSTEM, shelter.id, note="referral b")
        raise RuntimeError("the referral's own change failed")
    assert session.scalar(select(func.count()).select_from(CapacityChange)) == before
    row = session.get(Capacity, shelter.id)
    session.refresh(row)
    assert (row.available, row.held) == (2, 0)


def test_summaries_are_typed_and_say_what_the_api_says(client: Any, hub: dict[str, Any]) -> None:
    """A handful of picks in one read: name, agency and the eligibility the API describes,
    as frozen records; ids that are unknown or not ids at all are left out."""
    import uuid
    from dataclasses import FrozenInstanceError, asdict

    from referral_hub.directory.queries import Rules, ServiceSummary, summaries

    shelter = create(client, hub)
    counsel = create(client, hub, {"name": "Legal clinic", "category": "legal_advocacy"})
    known = summaries([uuid.UUID(shelter["id"]), counsel["id"], "not-an-id", uuid.uuid4()])
    assert set(known) == {uuid.UUID(shelter["id"]), uuid.UUID(counsel["id"])}
    summary = known[uuid.UUID(shelter["id"])]
    assert isinstance(summary, ServiceSummary)
    assert isinstance(summary.eligibility, Rules)
    assert (summary.name, summary.category, summary.status) == (
        "Harbor Light Beds",
        "emergency_shelter",
        "active",
    )
    assert (summary.agency_id, summary.agency_name) == (hub["own"].id, hub["own"].name)
    assert summary.confidential is True
    described = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in shelter["eligibility"].items()
        if key != "notes"
    }
    assert asdict(summary.eligibility) == described
    assert known[uuid.UUID(counsel["id"])].eligibility.genders == ()
    with pytest.raises(FrozenInstanceError):
        summary.name = "Another name"  # type: ignore[misc]
