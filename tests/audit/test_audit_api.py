"""GET /api/v1/audit/events: filters, paging without gaps or repeats, who may read, and bad
input refused with the field named and nothing recorded."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from referral_hub.agencies.models import Agency
from referral_hub.audit import service as audit
from referral_hub.audit.chain import leaf_hash, verify
from referral_hub.audit.models import AuditEvent
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from tests import factories

URL = "/api/v1/audit/events"
T0 = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class World:
    """Two agencies' events at known times, and a coordinator from a third agency."""

    coordinator: Actor
    north: uuid.UUID
    south: uuid.UUID
    start: int  # head before the world's events
    seqs: dict[str, int]  # label -> seq


def _record(actor: Actor, action: str, **kwargs: Any) -> int:
    with transaction():
        event = audit.record(actor, action, **kwargs)
    return event.seq


@pytest.fixture
def world(session: Any) -> World:
    with transaction():
        task_force, north, south = factories.agency(), factories.agency(), factories.agency()
    start, _ = audit.head()
    north_intake = Actor(ActorKind.USER, "u-north", north.id, frozenset({"intake"}))
    south_provider = Actor(ActorKind.USER, "u-south", south.id, frozenset({"provider"}))
    seqs = {}
    with clock.frozen_at(T0) as moment:
        seqs["north_viewed"] = _record(
            north_intake,
            "client.pii_viewed",
            subject=("client", "c-1"),
            client_reference="C-AAAA-BBBB",
            fields=["contact"],
        )
        moment.advance(timedelta(hours=1))
        seqs["south_accepted"] = _record(
            south_provider,
            "referral.accepted",
            subject=("referral", "r-1"),
            client_reference="C-AAAA-BBBB",
        )
        moment.advance(timedelta(hours=1))
        seqs["south_declined"] = _record(
            south_provider,
            "referral.declined",
            subject=("referral", "r-2"),
            client_reference="C-CCCC-DDDD",
            details={"reason": "no_capacity"},
        )
        moment.advance(timedelta(hours=1))
        seqs["north_denied"] = _record(
            north_intake, "access.denied", subject=("referral", "r-2"), outcome="denied"
        )
        moment.advance(timedelta(hours=1))
        # `_` is a LIKE wildcard: a prefix filter must not let it match any letter
        seqs["wide_open"] = _record(north_intake, "wide_open.viewed")
        seqs["widezopen"] = _record(north_intake, "widezopen.viewed")
    coordinator = Actor(ActorKind.USER, "u-coord", task_force.id, frozenset({"coordinator"}))
    return World(coordinator, north.id, south.id, start, seqs)


def seqs_of(response: Any) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["seq"] for item in response.json["items"]]


def read_events_after(session: Any, seq: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seq > seq, AuditEvent.action == "audit.events_read")
            .order_by(AuditEvent.seq)
        )
    )


# --- filters -------------------------------------------------------------------------------


FILTERS: list[tuple[str, Callable[[World], dict[str, Any]], list[str]]] = [
    ("action", lambda w: {"action": "referral.accepted"}, ["south_accepted"]),
    ("action prefix", lambda w: {"action": "referral.*"}, ["south_accepted", "south_declined"]),
    ("prefix keeps _ literal", lambda w: {"action": "wide_open.*"}, ["wide_open"]),
    ("outcome", lambda w: {"outcome": "denied"}, ["north_denied"]),
    (
        "subject",
        lambda w: {"subject_type": "referral", "subject_id": "r-2"},
        ["south_declined", "north_denied"],
    ),
    (
        "client reference",
        lambda w: {"client_reference": "C-AAAA-BBBB"},
        ["north_viewed", "south_accepted"],
    ),
    ("actor", lambda w: {"actor_id": "u-south"}, ["south_accepted", "south_declined"]),
    (
        "actor agency",
        lambda w: {"actor_agency_id": str(w.south)},
        ["south_accepted", "south_declined"],
    ),
    (
        "time window (from inclusive, to exclusive)",
        lambda w: {
            "from": (T0 + timedelta(hours=1)).isoformat(),
            "to": (T0 + timedelta(hours=3)).isoformat(),
        },
        ["south_accepted", "south_declined"],
    ),
    (
        "from in another offset",
        lambda w: {"from": "2031-03-01T14:00:00+02:00"},  # 12:00 UTC
        ["north_denied", "wide_open", "widezopen"],
    ),
    (
        "to before from finds nothing",
        lambda w: {"from": T0.isoformat(), "to": "2031-01-01T00:00:00Z"},
        [],
    ),
    (
        "after_seq",
        lambda w: {"after_seq": w.seqs["north_denied"]},
        ["wide_open", "widezopen"],
    ),
]


@pytest.mark.parametrize(("_name", "make", "expected"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_combine_with_and(
    client: Any,
    world: World,
    act_as: Callable[[Actor], None],
    _name: str,
    make: Callable[[World], dict[str, Any]],
    expected: list[str],
) -> None:
    act_as(world.coordinator)
    # the world's events only: every event at T0 or later was made by the world
    query = {"from": T0.isoformat(), **make(world)}
    response = client.get(URL, query_string=query)
    assert seqs_of(response) == [world.seqs[label] for label in expected]
    assert response.json["next_cursor"] is None


def test_items_are_the_documents_as_stored_and_they_rehash(
    client: Any, session: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    items = client.get(URL, query_string={"after_seq": world.start}).json["items"]
    assert len(items) >= len(world.seqs)
    for item in items:
        assert item == session.get(AuditEvent, item["seq"]).document()
        assert leaf_hash(item) == item["leaf"]
    result = verify(items, start_seq=items[0]["seq"], start_chain=items[0]["prev"])
    assert result.ok, result
    declined = next(i for i in items if i["seq"] == world.seqs["south_declined"])
    assert declined["details"] == {"reason": "no_capacity"}
    assert declined["actor"]["agency_id"] == str(world.south)


# --- paging --------------------------------------------------------------------------------


def test_paging_walks_every_event_once_in_order(
    client: Any, session: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    head_before, _ = audit.head()
    seen: list[int] = []
    query: dict[str, Any] = {"after_seq": world.start, "limit": 2}
    pages = 0
    while True:
        response = client.get(URL, query_string=query)
        seen += seqs_of(response)
        pages += 1
        assert pages < 20, "paging did not end"
        if response.json["next_cursor"] is None:
            break
        assert len(response.json["items"]) == 2
        query = {**query, "cursor": response.json["next_cursor"]}
    # the query reads the trail as it stood at its first page; each page is on the record
    assert seen == list(range(world.start + 1, head_before + 1))
    assert audit.head()[0] == head_before + pages
    recorded = read_events_after(session, head_before)
    assert len(recorded) == pages
    assert all(event.actor_id == "u-coord" for event in recorded)
    assert recorded[0].details == {"after_seq": world.start, "limit": 2, "returned": 2}
    assert recorded[0].fields == ["after_seq"]
    after = [event.details.get("page_after_seq") for event in recorded[1:]]
    assert after == [seen[2 * page - 1] for page in range(1, pages)]


def test_a_cursor_only_continues_the_query_it_came_from(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    first = client.get(URL, query_string={"after_seq": world.start, "limit": 1})
    cursor = first.json["next_cursor"]
    assert cursor
    head = audit.head()
    other_filters = {"after_seq": world.start, "limit": 1, "action": "referral.*"}
    response = client.get(URL, query_string={**other_filters, "cursor": cursor})
    assert response.status_code == 422
    assert "cursor" in response.json["errors"]
    assert audit.head() == head
    same = client.get(URL, query_string={"after_seq": world.start, "limit": 5, "cursor": cursor})
    assert seqs_of(same)[0] == world.start + 2


def test_every_page_is_recorded_and_a_cursor_is_the_readers_own_for_a_while(
    app: Any, client: Any, session: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    """Issue 14, defect 5: later pages were not recorded; a cursor never expired and worked
    for another caller."""
    act_as(world.coordinator)
    query = {"after_seq": world.start, "limit": 1}
    with clock.frozen_at(T0 + timedelta(days=1)) as moment:
        cursor = client.get(URL, query_string=query).json["next_cursor"]
        head, _ = audit.head()
        second = client.get(URL, query_string={**query, "cursor": cursor})
        assert second.status_code == 200
        (recorded,) = read_events_after(session, head)
        assert recorded.details["page_after_seq"] == world.start + 1
        assert recorded.details["returned"] == 1
        # another coordinator, and an agency system with audit:read, cannot use it
        other = Actor(ActorKind.USER, "u-other", world.north, frozenset({"coordinator"}))
        system = Actor(ActorKind.CLIENT, "cli-1", world.north, scopes=frozenset({"audit:read"}))
        for stranger in (other, system):
            act_as(stranger)
            refused = client.get(URL, query_string={**query, "cursor": cursor})
            assert refused.status_code == 422, stranger
            assert refused.mimetype == "application/problem+json"
            assert "cursor" in refused.json["errors"]
        # nor its own reader, once it has expired
        act_as(world.coordinator)
        moment.advance(timedelta(seconds=app.config["AUDIT_CURSOR_SECONDS"] + 1))
        head_now = audit.head()
        stale = client.get(URL, query_string={**query, "cursor": cursor})
        assert stale.status_code == 422
        assert stale.mimetype == "application/problem+json"
        assert "cursor" in stale.json["errors"]
        assert audit.head() == head_now


def test_a_query_following_one_survivor_is_on_her_trail(
    client: Any, session: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    head, _ = audit.head()
    client.get(URL, query_string={"client_reference": "C-AAAA-BBBB"})
    (recorded,) = read_events_after(session, head)
    assert recorded.client_reference == "C-AAAA-BBBB"
    assert recorded.details["client_reference"] == "C-AAAA-BBBB"
    assert recorded.details["returned"] == 2


# --- who may read --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["intake", "provider", "agency_admin", "hub_admin"])
def test_staff_other_than_coordinators_are_refused_and_recorded(
    client: Any, session: Any, world: World, act_as: Callable[[Actor], None], role: str
) -> None:
    act_as(Actor(ActorKind.USER, "u-other", world.north, frozenset({role})))
    head, _ = audit.head()
    response = client.get(URL)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "forbidden"
    denied = session.scalars(select(AuditEvent).where(AuditEvent.seq > head)).all()
    assert [(e.action, e.outcome) for e in denied] == [("access.denied", "denied")]


def test_no_credentials_is_401(client: Any, world: World) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_systems_need_the_audit_read_scope(client: Any, session: Any, world: World) -> None:
    with transaction():
        agency = session.get(Agency, world.north)
        reader_id, reader_secret = factories.api_client(agency, ["audit:read"])
        other_id, other_secret = factories.api_client(agency, ["directory:read", "referrals:read"])
    reader = factories.token(client, reader_id, reader_secret)
    other = factories.token(client, other_id, other_secret)

    refused = client.get(URL, headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 403
    assert 'scope="audit:read"' in refused.headers["WWW-Authenticate"]

    allowed = client.get(
        URL,
        query_string={"from": T0.isoformat()},
        headers={"Authorization": f"Bearer {reader}"},
    )
    # hub-wide, like a coordinator: the south agency's events too
    assert seqs_of(allowed) == sorted(world.seqs.values())


def test_coordinators_read_the_whole_hub_not_only_their_agency(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    """Oversight spans agencies; events carry no survivor data (see audit/oversight.py)."""
    act_as(world.coordinator)
    items = client.get(URL, query_string={"from": T0.isoformat()}).json["items"]
    agencies = {item["actor"]["agency_id"] for item in items}
    assert agencies == {str(world.north), str(world.south)}
    assert str(world.coordinator.agency_id) not in agencies


# --- bad input -----------------------------------------------------------------------------

BAD = [
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"after_seq": -1}, "after_seq"),
    ({"after_seq": 2**53}, "after_seq"),
    ({"after_seq": "x"}, "after_seq"),
    ({"action": "Referral.Accepted"}, "action"),
    ({"action": "referral.*.x"}, "action"),
    ({"action": "referral.%"}, "action"),
    ({"action": "a." + "b" * 80}, "action"),
    ({"outcome": "maybe"}, "outcome"),
    ({"subject_type": "Referral Thing"}, "subject_type"),
    ({"subject_id": "has space"}, "subject_id"),
    ({"subject_id": "nul\x00byte"}, "subject_id"),
    ({"subject_id": "x" * 65}, "subject_id"),
    ({"client_reference": "C"}, "client_reference"),
    ({"actor_id": "a\nb"}, "actor_id"),
    ({"actor_agency_id": "not-a-uuid"}, "actor_agency_id"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2031-03-01T09:00:00"}, "from"),  # no offset: whose 9 o'clock?
    ({"to": "0001-01-01T00:00:00+01:00"}, "to"),  # before year 1 in UTC
    ({"cursor": "forged"}, "cursor"),
    ({"cursor": "x" * 513}, "cursor"),
    ({"since": "2031-01-01T00:00:00Z"}, "since"),  # the parameter is `from`
]


@pytest.mark.parametrize(("query", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    client: Any,
    session: Any,
    world: World,
    act_as: Callable[[Actor], None],
    query: dict[str, Any],
    field: str,
) -> None:
    act_as(world.coordinator)
    head = audit.head()
    response = client.get(URL, query_string=query)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "validation_error"
    assert list(response.json["errors"]) == [field]
    assert audit.head() == head


def test_the_largest_after_seq_is_an_empty_page_not_an_error(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    response = client.get(URL, query_string={"after_seq": 2**53 - 1})
    assert seqs_of(response) == []
    assert response.json["next_cursor"] is None
