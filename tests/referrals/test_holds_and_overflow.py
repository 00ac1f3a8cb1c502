"""Holds on the provider's terms and overflow places, through the API (the pages call the
same services: tests/web/test_web_holds.py): hold length frozen at accept, the night value,
one extension, bad values refused with nothing written, overflow in search only while open,
closing by itself, overflow used only when regular units are full, reports counting
overflow placements apart, and other agencies kept out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.errors import ValidationFailed
from referral_hub.directory import service as directory
from referral_hub.directory.capacity import set_capacity
from referral_hub.directory.models import Capacity, OverflowWindow, Service
from referral_hub.referrals.models import Referral
from referral_hub.reports import queries as reports
from tests import factories

SCOPES = [
    "directory:read",
    "capacity:write",
    "admin",
    "referrals:read",
    "referrals:write",
]


def bearer(http: Any, agency: Any) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(agency, SCOPES)
    return {"Authorization": f"Bearer {factories.token(http, client_id, secret)}"}


def fresh_tokens(http: Any, net: dict[str, Any]) -> None:
    """Tokens live 15 minutes: after the clock moves, each side gets a new one."""
    for side in ("receiver", "sender", "outsider"):
        net[f"{side}_api"] = bearer(http, net[side])


@pytest.fixture
def net(client: Any, session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, outsider = factories.agency(), factories.agency(), factories.agency()
        shelter = factories.directory_service(
            receiver, "emergency_shelter", location={"latitude": 41.9, "longitude": -87.6}
        )
        factories.capacity(shelter, total=1, available=1)
        intake = Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"}))
        people = [clients.create_client(intake, profile={"language": "es"}) for _ in range(3)]
    net = {
        "sender": sender,
        "receiver": receiver,
        "outsider": outsider,
        "shelter": shelter,
        "intake": intake,
        "people": people,
    }
    fresh_tokens(client, net)
    return net


def send(net: dict[str, Any], person: int = 0, urgency: str = "emergency") -> Referral:
    with transaction():
        return factories.sent_referral(
            net["intake"], net["people"][person].id, net["shelter"].id, urgency=urgency
        )


def accept(client: Any, net: dict[str, Any], referral: Referral) -> Any:
    return client.post(
        f"/api/v1/referrals/{referral.id}/accept", json={}, headers=net["receiver_api"]
    )


def patch_service(client: Any, net: dict[str, Any], body: dict[str, Any], who: str = "receiver"):
    return client.patch(
        f"/api/v1/services/{net['shelter'].id}", json=body, headers=net[f"{who}_api"]
    )


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def sweep(app: Flask, run_jobs: Callable[[], int], task: str) -> None:
    app.extensions["hub_queue"].enqueue_task(task, slot=int(clock.now().timestamp()))
    run_jobs()


# --- hold length ----------------------------------------------------------------------------


def test_the_hold_is_90_minutes_unless_the_provider_says_otherwise(
    client: Any, net: dict[str, Any]
) -> None:
    shown = client.get(f"/api/v1/services/{net['shelter'].id}", headers=net["sender_api"]).json
    assert (shown["hold_minutes"], shown["night_hold_minutes"]) == (90, None)
    referral = send(net)
    start = clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    with clock.frozen_at(start):
        fresh_tokens(client, net)  # noon may be hours away from now
        accepted = accept(client, net, referral).json
    assert accepted["hold_minutes"] == 90
    assert parse(accepted["arrive_by"]) == start + timedelta(minutes=90)
    assert accepted["hold_overflow"] is False
    assert accepted["hold_extended_at"] is None


def test_hold_length_is_frozen_on_the_referral_at_accept(
    app: Flask, client: Any, net: dict[str, Any], session: Any, run_jobs: Callable[[], int]
) -> None:
    """Shortening the service's hold later moves no accepted referral's deadline; the sweep
    releases the place at the frozen deadline, not before."""
    assert patch_service(client, net, {"hold_minutes": 240}).status_code == 200
    referral = send(net)
    start = clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    with clock.frozen_at(start) as frozen:
        fresh_tokens(client, net)  # noon may be hours away from now
        accepted = accept(client, net, referral).json
        assert accepted["hold_minutes"] == 240
        assert patch_service(client, net, {"hold_minutes": 15}).status_code == 200
        frozen.advance(timedelta(minutes=200))  # past the service's new 15, within the 240
        sweep(app, run_jobs, "referrals.deadlines")
        fresh_tokens(client, net)
        again = client.get(f"/api/v1/referrals/{referral.id}", headers=net["sender_api"]).json
        assert again["status"] == "accepted"
        assert parse(again["arrive_by"]) == start + timedelta(minutes=240)
        frozen.advance(timedelta(minutes=41))
        sweep(app, run_jobs, "referrals.deadlines")
    session.expire_all()
    assert session.get(Referral, referral.id).outcome == "no_show"
    capacity = session.get(Capacity, net["shelter"].id)
    assert (capacity.available, capacity.held) == (1, 0)


@pytest.mark.parametrize(("local_hour", "expected"), [(23, 480), (3, 480), (7, 150), (21, 150)])
def test_the_night_value_applies_from_22_to_7_hub_time(
    app: Flask,
    client: Any,
    net: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    local_hour: int,
    expected: int,
) -> None:
    from zoneinfo import ZoneInfo

    monkeypatch.setitem(app.config, "DISPLAY_TIMEZONE", "America/Chicago")
    body = {"hold_minutes": 150, "night_hold_minutes": 480}
    assert patch_service(client, net, body).json["night_hold_minutes"] == 480
    referral = send(net)
    local = datetime(2026, 12, 9, local_hour, 30, tzinfo=ZoneInfo("America/Chicago"))
    with clock.frozen_at(local.astimezone(UTC)):
        fresh_tokens(client, net)
        accepted = accept(client, net, referral).json
    assert accepted["hold_minutes"] == expected
    assert parse(accepted["arrive_by"]) == local + timedelta(minutes=expected)


def test_a_routine_referral_keeps_its_place_without_an_arrival_deadline(
    client: Any, net: dict[str, Any]
) -> None:
    accepted = accept(client, net, send(net, urgency="routine")).json
    assert accepted["hold_minutes"] == 90
    assert accepted["arrive_by"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hold_minutes": 14}, "hold_minutes"),
        ({"hold_minutes": 4321}, "hold_minutes"),
        ({"hold_minutes": None}, "hold_minutes"),
        ({"hold_minutes": 90.5}, "hold_minutes"),
        ({"night_hold_minutes": 0}, "night_hold_minutes"),
        ({"night_hold_minutes": 10_000}, "night_hold_minutes"),
    ],
)
def test_bad_hold_lengths_are_refused_naming_the_field_and_nothing_is_written(
    client: Any, net: dict[str, Any], session: Any, body: dict[str, Any], field: str
) -> None:
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    answer = patch_service(client, net, body)
    assert answer.status_code in (400, 422)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in str(answer.json.get("errors"))
    session.expire_all()
    row = session.get(Service, net["shelter"].id)
    assert (row.hold_minutes, row.night_hold_minutes) == (90, None)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events + 0


def test_the_service_layer_refuses_bad_lengths_for_every_door(
    net: dict[str, Any], session: Any
) -> None:
    provider = Actor(ActorKind.USER, "p", net["receiver"].id, frozenset({"provider"}))
    for bad in ({"hold_minutes": 5}, {"night_hold_minutes": 5000}, {"hold_minutes": True}):
        with pytest.raises(ValidationFailed) as refused, transaction():
            directory.update_service(provider, net["shelter"].id, **bad)
        assert set(refused.value.errors or {}) == set(bad)
    with pytest.raises(ValidationFailed), transaction():
        directory.create_service(
            provider, name="Discharge beds", category="emergency_shelter", hold_minutes=4400
        )


# --- extend once ----------------------------------------------------------------------------


def test_the_receiver_extends_a_hold_once_and_the_sender_sees_it(
    client: Any, net: dict[str, Any]
) -> None:
    referral = send(net)
    start = clock.now()
    with clock.frozen_at(start):
        accepted = accept(client, net, referral).json
        path = f"/api/v1/referrals/{referral.id}/extend-hold"
        by_sender = client.post(path, json={"reason": "other"}, headers=net["sender_api"])
        assert by_sender.status_code == 403
        extended = client.post(
            path, json={"reason": "transport_delayed"}, headers=net["receiver_api"]
        )
        assert extended.status_code == 200, extended.json
        assert parse(extended.json["arrive_by"]) == parse(accepted["arrive_by"]) + timedelta(
            minutes=90
        )
        assert extended.json["hold_extension_reason"] == "transport_delayed"
        twice = client.post(
            path, json={"reason": "other", "minutes": 30}, headers=net["receiver_api"]
        )
    assert twice.status_code == 409
    assert twice.headers["Content-Type"].startswith("application/problem+json")
    assert "reason" in twice.json["errors"]
    after = client.get(f"/api/v1/referrals/{referral.id}", headers=net["sender_api"]).json
    assert after["arrive_by"] == extended.json["arrive_by"]
    timeline = client.get(
        f"/api/v1/referrals/{referral.id}/timeline", headers=net["sender_api"]
    ).json
    extensions = [t for t in timeline if t["action"] == "referral.hold_extended"]
    assert [t["details"] for t in extensions] == [{"reason": "transport_delayed", "minutes": 90}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "she is late"}, "reason"),
        ({"reason": "other", "minutes": 5}, "minutes"),
        ({"reason": "other", "minutes": "60"}, "minutes"),
    ],
)
def test_a_bad_extension_is_refused_naming_the_field_and_writes_nothing(
    client: Any, net: dict[str, Any], session: Any, body: dict[str, Any], field: str
) -> None:
    referral = send(net)
    before = accept(client, net, referral).json
    answer = client.post(
        f"/api/v1/referrals/{referral.id}/extend-hold", json=body, headers=net["receiver_api"]
    )
    assert answer.status_code in (400, 422)
    assert field in answer.json["errors"]
    session.expire_all()
    row = session.get(Referral, referral.id)
    assert row.hold_extended_at is None
    assert row.arrive_by == parse(before["arrive_by"])


def test_only_an_accepted_referral_with_a_deadline_is_extended(
    client: Any, net: dict[str, Any]
) -> None:
    sent = send(net)
    answer = client.post(
        f"/api/v1/referrals/{sent.id}/extend-hold",
        json={"reason": "other"},
        headers=net["receiver_api"],
    )
    assert answer.status_code == 409
    routine = send(net, person=1, urgency="routine")
    accept(client, net, routine)
    answer = client.post(
        f"/api/v1/referrals/{routine.id}/extend-hold",
        json={"reason": "other"},
        headers=net["receiver_api"],
    )
    assert answer.status_code == 409


def test_another_agency_cannot_extend_a_hold_nor_set_hold_length(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = send(net)
    accept(client, net, referral)
    missing = client.post(
        "/api/v1/referrals/00000000-0000-4000-8000-000000000000/extend-hold",
        json={"reason": "other"},
        headers=net["outsider_api"],
    )
    foreign = client.post(
        f"/api/v1/referrals/{referral.id}/extend-hold",
        json={"reason": "other"},
        headers=net["outsider_api"],
    )
    assert foreign.status_code == missing.status_code == 404
    assert patch_service(client, net, {"hold_minutes": 600}, who="outsider").status_code == 403
    session.expire_all()
    assert session.get(Service, net["shelter"].id).hold_minutes == 90
    assert session.get(Referral, referral.id).hold_extended_at is None


# --- overflow -------------------------------------------------------------------------------


def open_overflow(
    client: Any, net: dict[str, Any], starts: datetime, hours: float, places: int = 2, **more: Any
) -> Any:
    return client.post(
        f"/api/v1/services/{net['shelter'].id}/overflow",
        json={
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=hours)).isoformat(),
            "places": places,
            **more,
        },
        headers=net["receiver_api"],
    )


def found(client: Any, net: dict[str, Any], **query: Any) -> dict[str, Any] | None:
    answer = client.get(
        "/api/v1/search",
        query_string={"category": "emergency_shelter", **query},
        headers=net["sender_api"],
    )
    assert answer.status_code == 200
    for item in answer.json["items"]:
        if item["service"]["id"] == str(net["shelter"].id):
            return dict(item["capacity"])
    return None


def found_one(client: Any, net: dict[str, Any]) -> dict[str, Any]:
    capacity = found(client, net)
    assert capacity is not None, "the shelter is not in the search results"
    return capacity


def test_overflow_shows_in_search_only_in_its_window_and_closes_by_itself(
    app: Flask, client: Any, net: dict[str, Any], session: Any, run_jobs: Callable[[], int]
) -> None:
    with transaction():
        set_capacity(
            Actor(ActorKind.USER, "p", net["receiver"].id, frozenset({"provider"})),
            net["shelter"].id,
            total=1,
            available=0,
        )
    start = clock.now()
    with clock.frozen_at(start) as frozen:
        opened = open_overflow(client, net, start + timedelta(hours=2), hours=10, note="Hall cots")
        assert opened.status_code == 201, opened.json
        assert (opened.json["open"], opened.json["available"]) == (False, 2)
        assert found_one(client, net)["overflow_available"] == 0
        assert found(client, net, available="true") is None  # not open yet, regular full
        frozen.advance(timedelta(hours=3))
        fresh_tokens(client, net)
        capacity = found(client, net, available="true")
        assert capacity is not None
        assert (capacity["available"], capacity["overflow_available"]) == (0, 2)
        shown = client.get(f"/api/v1/services/{net['shelter'].id}", headers=net["sender_api"]).json
        assert shown["capacity"]["overflow_available"] == 2
        listed = client.get(
            f"/api/v1/services/{net['shelter'].id}/overflow", headers=net["sender_api"]
        ).json
        assert [(w["places"], w["open"], w["note"]) for w in listed] == [(2, True, "Hall cots")]
        frozen.advance(timedelta(hours=9))  # past its end: gone from search with no sweep
        fresh_tokens(client, net)
        assert found_one(client, net)["overflow_available"] == 0
        assert found(client, net, available="true") is None
        sweep(app, run_jobs, "overflow.close_ended")
        sweep(app, run_jobs, "overflow.close_ended")  # idempotent
    session.expire_all()
    (window,) = session.scalars(select(OverflowWindow)).all()
    assert window.closed_at == window.ends_at
    closings = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "overflow.closed")
    ).all()
    assert len(closings) == 1


def test_holds_take_regular_units_first_then_overflow_and_reports_count_them_apart(
    client: Any, net: dict[str, Any], session: Any, act_as: Callable[[Actor], None]
) -> None:
    now = clock.now()
    opened = open_overflow(client, net, now - timedelta(minutes=5), hours=12, places=1)
    first, second, third = (send(net, person=n) for n in range(3))
    regular = accept(client, net, first).json
    on_overflow = accept(client, net, second).json
    refused = accept(client, net, third)
    assert (regular["hold_overflow"], on_overflow["hold_overflow"]) == (False, True)
    assert refused.status_code == 409
    assert refused.json["type"].endswith("no_capacity")
    session.expire_all()
    window = session.get(OverflowWindow, uuid.UUID(opened.json["id"]))
    assert (window.held, window.used) == (1, 0)
    assert session.get(Capacity, net["shelter"].id).held == 1
    # she arrives on the overflow place: used; the regular one is let go: free again
    arrived = client.post(
        f"/api/v1/referrals/{second.id}/confirm-arrival", json={}, headers=net["receiver_api"]
    )
    assert arrived.status_code == 200
    ended = client.post(
        f"/api/v1/referrals/{first.id}/end-unfinished",
        json={"reason": "no_show"},
        headers=net["receiver_api"],
    )
    assert ended.status_code == 200
    session.expire_all()
    window = session.get(OverflowWindow, uuid.UUID(opened.json["id"]))
    assert (window.held, window.used) == (0, 1)
    capacity = session.get(Capacity, net["shelter"].id)
    assert (capacity.available, capacity.held) == (1, 0)
    coordinator = Actor(ActorKind.USER, "c", net["sender"].id, frozenset({"coordinator"}))
    today = clock.now().date()
    with transaction():
        figures = reports.handoff_report(coordinator, first_day=today, last_day=today)
    assert (figures["placements_regular"], figures["placements_overflow"]) == (1, 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"places": 0}, "places"),
        ({"places": 501}, "places"),
        ({"hours": -1}, "ends_at"),
        ({"hours": 24 * 40}, "ends_at"),
        ({"starts_days": -3}, "ends_at"),  # over before it opens: nothing to open
    ],
)
def test_bad_overflow_is_refused_naming_the_field_and_nothing_is_written(
    client: Any, net: dict[str, Any], session: Any, change: dict[str, Any], field: str
) -> None:
    starts = clock.now() + timedelta(days=change.get("starts_days", 0))
    answer = open_overflow(
        client, net, starts, hours=change.get("hours", 4), places=change.get("places", 2)
    )
    assert answer.status_code == 422
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in answer.json["errors"]
    assert session.scalar(select(func.count()).select_from(OverflowWindow)) == 0


def test_another_agency_cannot_open_or_close_overflow(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    now = clock.now()
    body = {
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=4)).isoformat(),
        "places": 3,
    }
    path = f"/api/v1/services/{net['shelter'].id}/overflow"
    assert client.post(path, json=body, headers=net["outsider_api"]).status_code == 403
    mine = client.post(path, json=body, headers=net["receiver_api"]).json
    closing = f"/api/v1/overflow/{mine['id']}/close"
    assert client.post(closing, headers=net["outsider_api"]).status_code == 403
    assert client.post(closing, headers=net["sender_api"]).status_code == 403
    missing = "/api/v1/overflow/00000000-0000-4000-8000-000000000000/close"
    assert client.post(missing, headers=net["receiver_api"]).status_code == 404
    session.expire_all()
    assert session.get(OverflowWindow, uuid.UUID(mine["id"])).closed_at is None
    closed = client.post(closing, headers=net["receiver_api"])
    assert closed.status_code == 200
    assert closed.json["open"] is False
    assert found_one(client, net)["overflow_available"] == 0
