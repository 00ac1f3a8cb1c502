"""Her runaround: exact figures on a small history (two needs: one placed after 3 hops in 2
days, one unmet), through the API and the pages via the one read; the coordinators' view
beside the in-limbo queue (her reference, audited); the distribution per sending agency in
the handoff report; another agency's client is a 404."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Referral
from tests import factories

T0 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
HOUR = 3600


@dataclass
class History:
    home: Any
    elsewhere: Any
    worker: Actor
    stranger: Actor
    coordinator: Actor
    person: Any
    other_person: Any
    shelters: list[Any]
    doors: list[uuid.UUID]


def _provider(service: Any) -> Actor:
    return Actor(
        ActorKind.USER, f"p-{service.agency_id}", service.agency_id, frozenset({"provider"})
    )


@pytest.fixture
def history(session: Any) -> Iterator[History]:
    """Her shelter need: declined, declined, declined, then accepted two days after her
    first referral (3 hops). Her legal need: declined, nothing else (unmet). Another agency's
    client: one referral sent alone, accepted after an hour."""
    with clock.frozen_at(T0) as frozen:

        def at(hours: float) -> None:
            frozen.advance(T0 + timedelta(hours=hours) - clock.now())

        with transaction():
            home = factories.agency(AgencyKind.HOTLINE, name=f"Home line {uuid.uuid4().hex[:6]}")
            elsewhere = factories.agency(AgencyKind.HOTLINE)
            shelters = [
                factories.directory_service(factories.agency(), name=f"Shelter {n}")
                for n in range(5)
            ]
            legal = factories.directory_service(
                factories.agency(AgencyKind.LEGAL_AID), "legal_advocacy", name="Legal clinic"
            )
            for service in [*shelters, legal]:
                factories.capacity(service, total=4, available=2)
            worker = factories.actor_for(factories.user(home, ["intake"]))
            stranger = factories.actor_for(factories.user(elsewhere, ["intake"]))
            overseer = factories.user(factories.agency(AgencyKind.OTHER), ["coordinator"])
            coordinator = factories.actor_for(overseer)
            person = clients.create_client(worker, profile={"language": "en"})
            other_person = clients.create_client(stranger, profile={"language": "en"})
            made = bundles.create_bundle(
                worker,
                client_id=person.id,
                urgency=Urgency.URGENT,
                needs=[
                    {
                        "category": "emergency_shelter",
                        "service_ids": [shelters[0].id],
                        "data_categories": ["profile"],
                    },
                    {
                        "category": "legal_advocacy",
                        "service_ids": [legal.id],
                        "data_categories": ["profile"],
                    },
                ],
            )
        sent = {
            r.service_id: r.id
            for r in session.scalars(select(Referral).where(Referral.bundle_id == made.id))
        }
        doors = [sent[shelters[0].id]]
        decline = {"reason": "no_capacity"}
        for hop, (declined_at, next_at) in enumerate([(1, 2), (5, 6), (10, 11)]):
            at(declined_at)
            with transaction():
                referrals.transition(_provider(shelters[hop]), doors[-1], "decline", **decline)
            if hop == 0:
                at(3)
                with transaction():
                    referrals.transition(_provider(legal), sent[legal.id], "decline", **decline)
            at(next_at)
            with transaction():
                again = referrals.refer_again(worker, doors[-1], shelters[hop + 1].id)
            doors.append(again.id)
        at(48)
        with transaction():
            referrals.transition(_provider(shelters[3]), doors[-1], "accept")
            alone = factories.sent_referral(stranger, other_person.id, shelters[4].id)
        at(49)
        with transaction():
            referrals.transition(_provider(shelters[4]), alone.id, "accept")
        yield History(
            home,
            elsewhere,
            worker,
            stranger,
            coordinator,
            person,
            other_person,
            shelters,
            [*doors, alone.id],
        )


def _need(body: dict[str, Any], category: str) -> dict[str, Any]:
    return next(need for need in body["needs"] if need["category"] == category)


def test_her_runaround_is_exact_through_the_api(
    client: Any, history: History, act_as: Callable[[Actor], None]
) -> None:
    act_as(history.worker)
    response = client.get(f"/api/v1/clients/{history.person.id}/runaround")
    assert response.status_code == 200
    body = response.json
    assert body["client_reference"] == history.person.reference
    assert (body["doors"], body["hops"], body["needs_placed"], body["needs_unmet"]) == (5, 4, 1, 1)
    shelter = _need(body, "emergency_shelter")
    assert (shelter["status"], shelter["doors"], shelter["hops"]) == ("placed", 4, 3)
    assert shelter["seconds_to_placement"] == 48 * HOUR
    assert shelter["days_to_placement"] == 2.0
    assert shelter["first_referral_at"] == T0.isoformat()
    assert [door["service_name"] for door in shelter["referrals"]] == [
        "Shelter 0",
        "Shelter 1",
        "Shelter 2",
        "Shelter 3",
    ]
    assert [door["status"] for door in shelter["referrals"]] == ["declined"] * 3 + ["accepted"]
    legal = _need(body, "legal_advocacy")
    assert (legal["status"], legal["doors"], legal["hops"]) == ("unmet", 1, 1)
    assert legal["seconds_to_placement"] is None
    assert legal["days_to_placement"] is None
    assert "profile" not in str(body)
    assert "language" not in str(body)  # no survivor data


def test_another_agencys_client_runaround_is_exactly_a_missing_one(
    client: Any, session: Any, history: History, act_as: Callable[[Actor], None]
) -> None:
    act_as(history.stranger)
    foreign = client.get(f"/api/v1/clients/{history.person.id}/runaround")
    missing = client.get(f"/api/v1/clients/{uuid.uuid4()}/runaround")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.mimetype == "application/problem+json"
    strip = {"request_id", "instance"}
    assert {k: v for k, v in foreign.json.items() if k not in strip} == {
        k: v for k, v in missing.json.items() if k not in strip
    }
    assert history.person.reference not in foreign.get_data(as_text=True)
    denied = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "access.denied",
            AuditEvent.subject_id == str(history.person.id),
        )
    ).all()
    assert len(denied) == 1


def test_bad_input_is_a_problem_not_a_500(
    client: Any, history: History, act_as: Callable[[Actor], None]
) -> None:
    act_as(history.worker)
    assert client.get("/api/v1/clients/not-a-uuid/runaround").status_code == 404
    act_as(history.coordinator)
    period = client.get("/api/v1/reports/handoffs?from=2026-04-07&to=2026-04-06")
    assert period.status_code == 422
    assert period.mimetype == "application/problem+json"
    assert set(period.json["errors"]) & {"from", "to"}
    queue = client.get("/api/v1/reports/in-limbo?limit=0")
    assert queue.status_code == 422
    assert "limit" in queue.json["errors"]
    provider = _provider(history.shelters[0])
    act_as(provider)  # providers read referrals, not the sending agency's runaround
    assert client.get(f"/api/v1/clients/{history.person.id}/runaround").status_code == 403


def test_her_page_shows_the_same_figures(
    client: Any, history: History, act_as: Callable[[Actor], None]
) -> None:
    act_as(history.worker)
    page = client.get(f"/intake/clients/{history.person.id}").get_data(as_text=True)
    section = page[page.index('id="runaround-h"') :]
    assert "5 doors so far, 4 hops" in section
    assert "2.0 days" in section
    assert "Not placed yet" in section
    assert "Not met — every referral ended" in section
    assert section.index("Shelter 0") < section.index("Shelter 3")
    act_as(history.stranger)
    assert client.get(f"/intake/clients/{history.person.id}").status_code == 404


def test_coordinators_see_it_beside_the_queue_by_reference_audited(
    client: Any, session: Any, history: History, act_as: Callable[[Actor], None]
) -> None:
    act_as(history.coordinator)
    with clock.frozen_at(T0 + timedelta(hours=50)):
        items = client.get("/api/v1/reports/in-limbo").json["items"]
        page = client.get("/network/in-limbo").get_data(as_text=True)
    (item,) = [i for i in items if i["runaround"]["client_reference"] == history.person.reference]
    run = item["runaround"]
    assert (run["doors"], run["hops"], run["needs_placed"], run["needs_unmet"]) == (5, 4, 1, 1)
    assert "client_id" not in run
    assert "referrals" not in str(run)
    assert sorted((n["category"], n["hops"], n["days_to_placement"]) for n in run["needs"]) == [
        ("emergency_shelter", 3, 2.0),
        ("legal_advocacy", 1, None),
    ]
    assert f"Her runaround ({history.person.reference})" in page
    assert "emergency shelter placed in 2.0 days after 3 hops" in page
    assert "legal advocacy not met after 1 hop" in page
    reads = session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "report.viewed")
    ).all()
    assert [d["runarounds"] for d in reads if d.get("report") == "in_limbo"] == [1, 1]


def test_the_handoff_report_gives_the_distribution_per_sending_agency(
    client: Any, history: History, act_as: Callable[[Actor], None]
) -> None:
    act_as(history.coordinator)
    report = client.get("/api/v1/reports/handoffs?from=2026-04-06&to=2026-04-08").json
    rows = {row["agency_id"]: row for row in report["runaround_by_agency"]}
    assert rows[str(history.home.id)] == {
        "agency_id": str(history.home.id),
        "agency_name": history.home.name,
        "needs": 2,
        "placed": 1,
        "unmet": 1,
        "hops_median": 1,  # hops 1 and 3: nearest rank
        "hops_p90": 3,
        "placement_median_seconds": 48 * HOUR,
        "placement_p90_seconds": 48 * HOUR,
    }
    alone = rows[str(history.elsewhere.id)]
    assert (alone["needs"], alone["placed"], alone["unmet"], alone["hops_median"]) == (1, 1, 0, 0)
    assert alone["placement_median_seconds"] == 49 * HOUR - 48 * HOUR
    later = client.get("/api/v1/reports/handoffs?from=2026-04-07&to=2026-04-08").json
    assert str(history.home.id) not in {r["agency_id"] for r in later["runaround_by_agency"]}
    csv_text = client.get("/api/v1/reports/handoffs?from=2026-04-06&to=2026-04-08&format=csv")
    lines = csv_text.get_data(as_text=True).splitlines()
    assert f"runaround.hops_p90,{history.home.id},3" in lines
    with clock.frozen_at(T0 + timedelta(days=3)):
        page = client.get("/network/?from=2026-04-06&to=2026-04-08").get_data(as_text=True)
    chart = page[page.index('id="chart-runaround"') :]
    assert f"{history.home.name} (median 1 hops, 1 of 2 needs placed)" in chart
