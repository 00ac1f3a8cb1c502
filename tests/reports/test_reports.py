"""Coordinator reports: a scripted day of handoffs with known timings, every figure checked
against the hand-computed value; the CSV export; the in-limbo queue; who may read them; bad
input as 422 problems."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from referral_hub.agencies.models import Agency, AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.pagination import encode_cursor
from referral_hub.directory.capacity import confirm_capacity
from referral_hub.directory.vocabulary import ServiceStatus
from referral_hub.referrals import bundles, deadlines_sweep
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Bundle, Need, Referral
from referral_hub.reports.sql import nearest_rank
from tests import factories

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday; the scripted day is 2 March
COORDINATOR = Actor(ActorKind.USER, "coordinator", uuid.uuid4(), frozenset({"coordinator"}))
HANDOFFS = "/api/v1/reports/handoffs"
IN_LIMBO = "/api/v1/reports/in-limbo"


@pytest.fixture
def frozen() -> Iterator[Callable[[float], None]]:
    """`at(minutes)`: move the frozen clock to T0 + minutes (only ever forward)."""
    with clock.frozen_at(T0 - timedelta(hours=1)) as handle:

        def at(minutes: float) -> None:
            target = T0 + timedelta(minutes=minutes)
            assert target >= clock.now(), "the script only moves forward"
            handle.advance(target - clock.now())

        yield at


@dataclass
class Network:
    """Agencies, services and staff of the scripted day, and what happened to whom."""

    agencies: dict[str, Agency]
    services: dict[str, Any]
    intake: Actor
    providers: dict[str, Actor]
    referral_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    bundle_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    clients: list[Any] = field(default_factory=list)

    def agency_id(self, key: str) -> str:
        return str(self.agencies[key].id)


@pytest.fixture
def network(session: Any, frozen: Callable[[float], None]) -> Network:
    """Built an hour before T0: capacity set then is stale (beds: 8 h) by the report."""
    suffix = uuid.uuid4().hex[:6]
    with transaction():
        made = {
            key: factories.agency(kind, name=f"{key} {label} {suffix}")
            for key, kind, label in [
                ("S", AgencyKind.HOTLINE, "intake"),
                ("A", AgencyKind.SHELTER, "shelter"),
                ("B", AgencyKind.SHELTER, "shelter"),
                ("C", AgencyKind.LEGAL_AID, "legal"),
                ("D", AgencyKind.SHELTER, "shelter"),
                ("E", AgencyKind.CASE_MANAGEMENT, "case management"),
                ("G", AgencyKind.OTHER, "closed"),
            ]
        }
        services = {
            "A": factories.directory_service(made["A"], "emergency_shelter"),
            "B": factories.directory_service(made["B"], "emergency_shelter"),
            "C": factories.directory_service(made["C"], "legal_advocacy"),
            "D": factories.directory_service(made["D"], "emergency_shelter"),
            "E": factories.directory_service(made["E"], "case_management"),  # never set
            "G": factories.directory_service(
                made["G"], "case_management", status=ServiceStatus.INACTIVE
            ),
        }
        for key in "ABCD":
            factories.capacity(services[key], total=10, available=8)
    return Network(
        agencies=made,
        services=services,
        intake=Actor(ActorKind.USER, "intake", made["S"].id, frozenset({"intake"})),
        providers={
            key: Actor(ActorKind.USER, f"provider-{key}", made[key].id, frozenset({"provider"}))
            for key in "ABCD"
        },
    )


def send(net: Network, name: str, to: str) -> None:
    with transaction():
        person = clients.create_client(net.intake, profile={"language": "en"})
        net.clients.append(person)
        referral = referrals.send_referral(
            net.intake,
            client_id=person.id,
            service_id=net.services[to].id,
            urgency=Urgency.URGENT,
            data_categories=["profile"],
        )
    net.referral_ids[name] = referral.id


def bundle(net: Network, name: str, urgency: Urgency, needs: dict[str, str]) -> None:
    """`needs`: category → the agencies (keys) its referrals go to, e.g. "ABD"."""
    with transaction() as db_session:
        person = clients.create_client(net.intake, profile={"language": "en"})
        net.clients.append(person)
        made = bundles.create_bundle(
            net.intake,
            client_id=person.id,
            urgency=urgency,
            needs=[
                {
                    "category": category,
                    "service_ids": [net.services[key].id for key in keys],
                    "data_categories": ["profile"],
                }
                for category, keys in needs.items()
            ],
        )
        for referral in db_session.scalars(select(Referral).where(Referral.bundle_id == made.id)):
            key = next(k for k, s in net.services.items() if s.id == referral.service_id)
            net.referral_ids[f"{name}{key.lower()}"] = referral.id
    net.bundle_ids[name] = made.id


def act(net: Network, name: str, action: str, by: str | None = None, **payload: Any) -> None:
    referral_id = net.referral_ids[name]
    with transaction() as db_session:
        receiver = db_session.get(Referral, referral_id).receiver_agency_id
        actor = (
            net.intake
            if by == "sender"
            else next(a for a in net.providers.values() if a.agency_id == receiver)
        )
        referrals.transition(actor, referral_id, action, **payload)


def play_the_day(net: Network, at: Callable[[float], None]) -> None:
    """The scripted day. Minutes after T0 (09:00 UTC, 2 March); all urgent but bundle b2."""
    at(0)
    for name, to in [("r1", "A"), ("r2", "A"), ("r3", "A"), ("r8", "A")]:
        send(net, name, to)
    for name, to in [("r4", "B"), ("r5", "B"), ("r6", "B")]:
        send(net, name, to)
    at(5)
    act(net, "r3", "accept")  # straight from sent: answered and accepted in 300 s
    at(10)
    act(net, "r1", "acknowledge")
    at(15)
    act(net, "r6", "decline", reason="not_eligible")
    at(20)
    act(net, "r2", "acknowledge")
    at(30)
    act(net, "r1", "accept")
    at(40)
    act(net, "r2", "decline", reason="no_capacity")
    at(45)
    act(net, "r3", "confirm-arrival")
    at(50)
    act(net, "r1", "confirm-arrival")
    at(60)
    act(net, "r5", "acknowledge")
    bundle(net, "b1", Urgency.URGENT, {"emergency_shelter": "ABD"})
    at(70)
    act(net, "b1a", "decline", reason="no_capacity")
    at(80)
    act(net, "b1b", "acknowledge")
    at(90)
    act(net, "b1b", "decline", reason="out_of_area")
    at(100)
    act(net, "b1d", "accept")
    at(110)
    act(net, "b1d", "confirm-arrival")
    at(120)
    act(net, "r5", "accept")
    bundle(net, "b2", Urgency.EMERGENCY, {"emergency_shelter": "AB", "legal_advocacy": "C"})
    at(125)
    act(net, "b2a", "decline", reason="safety_conflict")
    at(130)
    act(net, "b2b", "decline", reason="no_capacity")
    at(135)
    act(net, "b2c", "accept")
    at(140)
    act(net, "b2c", "confirm-arrival")
    at(150)
    bundle(net, "b3", Urgency.URGENT, {"legal_advocacy": "C"})
    at(155)
    act(net, "b3c", "acknowledge")
    at(160)
    act(net, "b3c", "waitlist")
    at(180)
    act(net, "r3", "complete")
    act(net, "r8", "withdraw", by="sender", reason="found a place elsewhere")
    at(27 * 60)  # next day, 12:00: D says its numbers still hold; the deadline sweep runs
    with transaction():
        confirm_capacity(SYSTEM, net.services["D"].id)
        done = deadlines_sweep.sweep()
    assert (done["expired"], done["no_show"]) == (1, 1)  # r4 unanswered; r5 never arrived
    at(28 * 60)  # 3 March, outside a report on 2 March only
    send(net, "r7", "A")
    at(28 * 60 + 1)
    act(net, "r7", "acknowledge")
    at(28 * 60 + 20)


@pytest.fixture
def day(network: Network, frozen: Callable[[float], None]) -> Network:
    play_the_day(network, frozen)
    return network


@pytest.fixture
def coordinator(act_as: Callable[[Actor], None]) -> Actor:
    act_as(COORDINATOR)
    return COORDINATOR


# --- the figures -----------------------------------------------------------------------------


def test_every_handoff_figure_matches_the_hand_computed_one(
    client: Any, day: Network, coordinator: Actor
) -> None:
    response = client.get(HANDOFFS, query_string={"from": "2026-03-02", "to": "2026-03-02"})
    assert response.status_code == 200, response.json
    report = response.json
    assert (report["from"], report["to"]) == ("2026-03-02", "2026-03-02")
    assert report["referrals_sent"] == 14  # r7 was sent on 3 March
    assert {k: v for k, v in report["by_status"].items() if v} == {
        "declined": 6,  # r2 r6 b1a b1b b2a b2b
        "engaged": 3,  # r1 b1d b2c
        "completed": 1,  # r3
        "expired": 1,  # r4
        "not_completed": 1,  # r5, no-show
        "withdrawn": 1,  # r8
        "waitlisted": 1,  # b3c
    }
    assert "sent" in report["by_status"]
    assert "draft" not in report["by_status"]
    assert (report["expired"], report["no_show"]) == (1, 1)
    # first answers, sorted: 300 300 300 600 600 600 900 900 1200 1200 2400 3600 (n = 12);
    # nearest rank: median at ceil(6) = 6th, p90 at ceil(10.8) = 11th
    assert report["time_to_acknowledge"] == {
        "count": 12,
        "median_seconds": 600,
        "p90_seconds": 2400,
    }
    # acceptances: 300 900 1800 2400 7200 (n = 5): median 3rd, p90 at ceil(4.5) = 5th
    assert report["time_to_accept"] == {"count": 5, "median_seconds": 1800, "p90_seconds": 7200}
    assert report["receiving_agencies"] == [
        agency_row(day, "A", received=6, accepted=2, declined=3, expired=0, rates=(0.4, 0.6)),
        agency_row(day, "B", received=5, accepted=1, declined=3, expired=1, rates=(0.2, 0.6)),
        agency_row(day, "C", received=2, accepted=1, declined=0, expired=0, rates=(1.0, 0.0)),
        agency_row(day, "D", received=1, accepted=1, declined=0, expired=0, rates=(1.0, 0.0)),
    ]
    assert report["declines_by_reason"] == {
        "no_capacity": 3,
        "not_eligible": 1,
        "safety_conflict": 1,
        "out_of_area": 1,
        "language": 0,
        "other": 0,
    }
    assert report["hops_per_bundle"] == {
        "bundles": 3,
        "mean": 1.33,
        "max": 2,
        "distribution": [{"hops": 0, "bundles": 1}, {"hops": 2, "bundles": 2}],
    }
    # b1's shelter: 40 min after b1 began; b2's lawyer: 15 min after b2 began (n = 2)
    assert report["time_to_placement"] == {"count": 2, "median_seconds": 900, "p90_seconds": 2400}
    capacity_set = (T0 - timedelta(hours=1)).isoformat()  # and not since, for A and B
    assert [
        (row["agency_name"], row["stale_services"], row["never_set"], row["oldest_update"])
        for row in report["stale_capacity_agencies"]
    ] == [
        (day.agencies["A"].name, 1, 0, capacity_set),
        (day.agencies["B"].name, 1, 0, capacity_set),
        (day.agencies["E"].name, 1, 1, None),  # never set; G's inactive service is not listed
    ]


def agency_row(
    net: Network,
    key: str,
    *,
    received: int,
    accepted: int,
    declined: int,
    expired: int,
    rates: tuple[float, float],
) -> dict[str, Any]:
    return {
        "agency_id": net.agency_id(key),
        "agency_name": net.agencies[key].name,
        "received": received,
        "accepted": accepted,
        "declined": declined,
        "expired": expired,
        "settled": accepted + declined + expired,
        "acceptance_rate": rates[0],
        "decline_rate": rates[1],
    }


def test_the_period_is_whole_utc_days_of_sending(
    client: Any, day: Network, coordinator: Actor
) -> None:
    next_day = client.get(HANDOFFS, query_string={"from": "2026-03-03", "to": "2026-03-03"}).json
    assert next_day["referrals_sent"] == 1  # r7 only
    assert next_day["time_to_acknowledge"] == {
        "count": 1,
        "median_seconds": 60,
        "p90_seconds": 60,
    }
    assert next_day["hops_per_bundle"] == {
        "bundles": 0,
        "mean": None,
        "max": None,
        "distribution": [],
    }
    assert next_day["time_to_placement"] == {
        "count": 0,
        "median_seconds": None,
        "p90_seconds": None,
    }
    defaults = client.get(HANDOFFS).json  # the 30 days up to today (3 March, frozen)
    assert (defaults["from"], defaults["to"]) == ("2026-02-02", "2026-03-03")
    assert defaults["referrals_sent"] == 15


def test_nearest_rank_on_small_sets(session: Any) -> None:
    """The percentile definition itself, on literal values, on this database."""
    from sqlalchemy import literal, union_all

    def ranks(*values: int) -> tuple[int, Any, Any]:
        rows = union_all(*(select(literal(v).label("v")) for v in values))
        row = session.execute(nearest_rank(select(rows.subquery().c.v))).one()
        return int(row.observed), row.p50, row.p90

    assert ranks(7) == (1, 7, 7)
    assert ranks(4, 1, 3, 2) == (4, 2, 4)  # even count: the lower middle value
    assert ranks(*range(1, 11)) == (10, 5, 9)
    assert ranks(*range(1, 12)) == (11, 6, 10)


def test_a_report_read_is_audited_without_survivor_data(
    client: Any, session: Any, day: Network, coordinator: Actor
) -> None:
    response = client.get(HANDOFFS, query_string={"from": "2026-03-02", "to": "2026-03-02"})
    text = response.get_data(as_text=True)
    for person in day.clients:
        assert str(person.id) not in text
        assert person.reference not in text
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "report.viewed")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one()
    assert event.subject_type == "report"
    assert event.subject_id == "handoffs"
    assert event.actor_id == "coordinator"
    assert event.client_reference is None
    assert event.details == {
        "report": "handoffs",
        "from": "2026-03-02",
        "to": "2026-03-02",
        "format": "json",
    }


# --- the CSV export --------------------------------------------------------------------------


def test_the_csv_export_has_the_same_figures_one_per_line(
    client: Any, day: Network, coordinator: Actor
) -> None:
    response = client.get(
        HANDOFFS, query_string={"from": "2026-03-02", "to": "2026-03-02", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="handoffs-2026-03-02-2026-03-02.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["metric", "dimension", "value"]
    lines = {(metric, dimension): value for metric, dimension, value in rows[1:]}
    a, b, e = day.agency_id("A"), day.agency_id("B"), day.agency_id("E")
    assert lines[("period.from", "")] == "2026-03-02"
    assert lines[("referrals.sent", "")] == "14"
    assert lines[("referrals.by_status", "declined")] == "6"
    assert lines[("referrals.by_status", "sent")] == "0"
    assert lines[("referrals.expired", "")] == "1"
    assert lines[("referrals.no_show", "")] == "1"
    assert lines[("time_to_acknowledge.median_seconds", "")] == "600"
    assert lines[("time_to_acknowledge.p90_seconds", "")] == "2400"
    assert lines[("time_to_accept.median_seconds", "")] == "1800"
    assert lines[("time_to_placement.median_seconds", "")] == "900"
    assert lines[("receiving_agency.name", a)] == day.agencies["A"].name
    assert lines[("receiving_agency.acceptance_rate", a)] == "0.4"
    assert lines[("receiving_agency.decline_rate", b)] == "0.6"
    assert lines[("declines.by_reason", "no_capacity")] == "3"
    assert lines[("hops_per_bundle.mean", "")] == "1.33"
    assert lines[("hops_per_bundle.distribution", "2")] == "2"
    assert lines[("stale_capacity_agency.never_set", e)] == "1"
    assert lines[("stale_capacity_agency.oldest_update", e)] == ""
    assert len(lines) == len(rows) - 1  # no figure written twice


# --- the in-limbo queue ----------------------------------------------------------------------


def test_in_limbo_lists_stuck_referrals_urgent_first_with_why(
    client: Any, day: Network, coordinator: Actor, session: Any
) -> None:
    page = client.get(IN_LIMBO).json
    assert page["next_cursor"] is None
    # b1 was placed, r7 is not due yet, r4 and r5 ended outside any bundle (the sender was
    # told); b3's waitlisted referral is overdue, b2's shelter need bounced twice: the
    # overdue one first, the untimed one after it, whatever their urgency
    assert [item["bundle_id"] for item in page["items"]] == [
        str(day.bundle_ids["b3"]),
        str(day.bundle_ids["b2"]),
    ]
    third, second = page["items"]
    assert second["reasons"] == ["emergency_shelter: nothing_open"]
    assert second["urgency"] == "emergency"
    assert second["sender_agency_name"] == day.agencies["S"].name
    assert sorted((n["category"], n["status"], n["hops"], n["why"]) for n in second["needs"]) == [
        ("emergency_shelter", "unmet", 2, "nothing_open"),
        ("legal_advocacy", "placed", 0, None),
    ]
    (bounced,) = second["referrals"]
    assert bounced["referral_id"] in {str(day.referral_ids[k]) for k in ("b2a", "b2b")}
    assert (bounced["why"], bounced["hops"], bounced["urgency"]) == ("nothing_open", 2, "emergency")
    assert bounced["deadline"] is None
    assert bounced["category"] == "emergency_shelter"
    assert third["reasons"] == ["legal_advocacy: waitlist_overdue"]
    assert third["waiting_seconds"] == (28 * 60 + 20 - 150) * 60
    (waitlisted,) = third["referrals"]
    assert waitlisted["referral_id"] == str(day.referral_ids["b3c"])
    assert waitlisted["why"] == "waitlist_overdue"
    assert waitlisted["urgency"] == "urgent"
    assert waitlisted["deadline"] == (T0 + timedelta(minutes=150, hours=4)).isoformat()
    assert waitlisted["overdue_seconds"] == (28 * 60 + 20 - 150 - 240) * 60
    assert waitlisted["sender"]["name"] == day.agencies["S"].name
    assert waitlisted["receiver"]["name"] == day.agencies["C"].name
    assert waitlisted["bundle_id"] == str(day.bundle_ids["b3"])
    reference = session.get(Referral, day.referral_ids["b3c"]).client_reference
    assert third["client_reference"] == waitlisted["client_reference"] == reference
    # her reference (as on a referral's timeline) only as the item's, its rows' and her
    # runaround's, nothing else of her
    shown = [item["runaround"]["client_reference"] for item in page["items"]]
    for person in day.clients:
        assert str(page).count(person.reference) == 3 * shown.count(person.reference)
    rows = client.get(f"{IN_LIMBO}/referrals").json["items"]
    assert [row["referral_id"] for row in rows] == [
        waitlisted["referral_id"],
        bounced["referral_id"],
    ]


def test_the_queue_and_the_bundle_view_share_one_rule(session: Any, day: Network) -> None:
    """The facts gathered in SQL for the queue equal those read from loaded referrals."""
    now = clock.now()
    found = bundles.facts_by_need(list(day.bundle_ids.values()), now)
    compared = 0
    for bundle_id, needs in found.items():
        view = bundles.describe(session.get(Bundle, bundle_id), now)
        for need_id, _category, facts in needs:
            urgency = session.get(Need, need_id).urgency
            items = list(session.scalars(select(Referral).where(Referral.need_id == need_id)))
            assert facts == bundles.NeedFacts.of_referrals(items, urgency, now)
            (shown,) = [need for need in view["needs"] if need["id"] == need_id]
            assert bundles.classify(facts)[:2] == (shown["status"], shown["hops"])
            compared += 1
    assert compared == 4


@pytest.mark.parametrize("rows", [False, True])
def test_in_limbo_pages_with_a_cursor(
    client: Any,
    network: Network,
    frozen: Callable[[float], None],
    coordinator: Actor,
    rows: bool,
) -> None:
    """Three needs, each one decline short of placement: every page picks up after the last."""
    for minute in (0, 1, 2):
        frozen(minute)
        bundle(network, f"p{minute}", Urgency.ROUTINE, {"legal_advocacy": "C"})
        act(network, f"p{minute}c", "decline", reason="language")
    frozen(10)
    seen = []
    cursor = None
    for _ in range(3):
        query = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get(IN_LIMBO + ("/referrals" if rows else ""), query_string=query).json
        (item,) = page["items"]
        if not rows:
            assert item["reasons"] == ["legal_advocacy: nothing_open"]
            (item,) = item["referrals"]
        assert item["why"] == "nothing_open"
        seen.append(item["referral_id"])
        cursor = page["next_cursor"]
    assert cursor is None
    assert seen == [str(network.referral_ids[f"p{minute}c"]) for minute in (0, 1, 2)]


# --- who may read, and bad input -------------------------------------------------------------


@pytest.mark.parametrize("path", [HANDOFFS, IN_LIMBO, f"{IN_LIMBO}/referrals"])
def test_only_coordinators_and_audit_systems_may_read(
    app: Any, client: Any, session: Any, path: str, act_as: Callable[[Actor], None]
) -> None:
    with transaction():
        agency = factories.agency()
        plain_id, plain_secret = factories.api_client(agency, ["referrals:read"])
        audit_id, audit_secret = factories.api_client(agency, ["audit:read"])
    plain, auditor = (
        factories.token(client, plain_id, plain_secret),
        factories.token(client, audit_id, audit_secret),
    )

    anonymous = client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.mimetype == "application/problem+json"
    assert client.get(path, headers={"Authorization": f"Bearer {plain}"}).status_code == 403
    assert client.get(path, headers={"Authorization": f"Bearer {auditor}"}).status_code == 200
    for roles in ({"intake"}, {"provider", "agency_admin"}, {"hub_admin"}):
        act_as(Actor(ActorKind.USER, "someone", agency.id, frozenset(roles)))
        refused = client.get(path)
        assert refused.status_code == 403, roles
        assert refused.json["code"] == "forbidden"
    act_as(COORDINATOR)
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "to"),
        ({"from": "1999-12-31", "to": "2000-01-02"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_report_input_is_a_422_naming_the_field(
    client: Any, session: Any, coordinator: Actor, query: dict[str, str], field: str
) -> None:
    response = client.get(HANDOFFS, query_string=query)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "validation_error"
    assert list(response.json["errors"]) == [field]


def test_a_full_year_is_the_longest_period(client: Any, session: Any, coordinator: Actor) -> None:
    leap_year = {"from": "2024-01-01", "to": "2024-12-31"}  # 366 days
    assert client.get(HANDOFFS, query_string=leap_year).status_code == 200
    one_more = {"from": "2024-01-01", "to": "2025-01-01"}
    assert client.get(HANDOFFS, query_string=one_more).status_code == 422


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"cursor": "not-ours"}, "cursor"),
        ({"format": "xlsx"}, "format"),
        ({"format": "=HYPERLINK(1)"}, "format"),
        ({"limit": "201"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1e9"}, "limit"),
        ({"cursor": "' OR 1=1 --"}, "cursor"),
        ({"cursor": "x" * 600}, "cursor"),
        ({"cursor": ["-1"]}, "cursor"),  # signed as ours, not an offset
        ({"cursor": ["2026-03-02T09:00:00+00:00", str(uuid.UUID(int=1))]}, "cursor"),  # old
    ],
)
def test_bad_queue_input_is_a_422_naming_the_field(
    client: Any, session: Any, coordinator: Actor, query: dict[str, str], field: str
) -> None:
    if isinstance(query.get("cursor"), list):
        query = {"cursor": encode_cursor(query["cursor"])}
    for path in (IN_LIMBO, f"{IN_LIMBO}/referrals"):
        response = client.get(path, query_string=query)
        assert response.status_code == 422
        assert response.mimetype == "application/problem+json"
        assert list(response.json["errors"]) == [field]
