"""Urgent first, everywhere: one order for the provider's inbox and the intake dashboard —
overdue emergencies, then anything overdue, then what is due soonest, then the untimed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.referrals import priority
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Bundle, Referral
from referral_hub.referrals.queries import dashboard
from referral_hub.referrals.queries import received as inbox
from tests import factories


def test_the_rule_itself() -> None:
    now = clock.now()
    hour = timedelta(hours=1)
    rows = {
        "untimed emergency": (Urgency.EMERGENCY, None),
        "due in an hour, routine": (Urgency.ROUTINE, now + hour),
        "due in ten minutes, urgent": (Urgency.URGENT, now + hour / 6),
        "an hour overdue, routine": (Urgency.ROUTINE, now - hour),
        "two hours overdue, urgent": (Urgency.URGENT, now - 2 * hour),
        "a minute overdue, emergency": (Urgency.EMERGENCY, now - hour / 60),
        "untimed routine": (Urgency.ROUTINE, None),
    }
    ordered = sorted(rows, key=lambda name: priority.key(*rows[name], now))
    assert ordered == [
        "a minute overdue, emergency",
        "two hours overdue, urgent",
        "an hour overdue, routine",
        "due in ten minutes, urgent",
        "due in an hour, routine",
        "untimed emergency",
        "untimed routine",
    ]


def _world() -> dict[str, Any]:
    sender, receiver = factories.agency(), factories.agency()
    intake = factories.actor_for(factories.user(sender, ["intake"]))
    provider = factories.actor_for(factories.user(receiver, ["provider"]))
    services = []
    for _ in range(3):
        service = factories.directory_service(receiver, "emergency_shelter")
        factories.capacity(service, total=5, available=5)
        services.append(service)
    return {"intake": intake, "provider": provider, "services": services}


def test_the_inbox_puts_an_overdue_referral_above_one_with_nothing_due(session: Any) -> None:
    with transaction():
        w = _world()
        arrived = factories.sent_referral(
            w["intake"],
            clients.create_client(w["intake"]).id,
            w["services"][0].id,
            urgency="emergency",
        )
        for action in ("accept", "confirm-arrival"):
            referrals.transition(w["provider"], arrived.id, action)
        overdue = factories.sent_referral(
            w["intake"],
            clients.create_client(w["intake"]).id,
            w["services"][1].id,
            urgency="urgent",
        )
        soon = factories.sent_referral(
            w["intake"],
            clients.create_client(w["intake"]).id,
            w["services"][2].id,
            urgency="routine",
        )
        db.session.get(Referral, overdue.id).acknowledge_by = clock.now() - timedelta(hours=2)
        db.session.get(Referral, soon.id).acknowledge_by = clock.now() + timedelta(minutes=5)
    listed = [row.id for row in inbox.received(w["provider"])]
    assert listed == [overdue.id, soon.id, arrived.id]


def test_the_dashboard_puts_overdue_work_above_fresh_work_of_any_urgency(session: Any) -> None:
    with transaction():
        w = _world()
        made = {}
        for name, urgency, service, due in (
            ("fresh emergency", "emergency", w["services"][0], timedelta(minutes=20)),
            ("overdue routine", "routine", w["services"][1], timedelta(minutes=-30)),
            ("overdue emergency", "emergency", w["services"][2], timedelta(minutes=-5)),
        ):
            person = clients.create_client(w["intake"])
            made[name] = referrals_bundle(w["intake"], person.id, service.id, urgency)
            sent = db.session.query(Referral).filter(Referral.bundle_id == made[name].id).one()
            sent.acknowledge_by = clock.now() + due
    listed = [item.bundle_id for item in dashboard.sent_bundles(w["intake"], limit=10)]
    ours = [bundle_id for bundle_id in listed if bundle_id in {b.id for b in made.values()}]
    assert ours == [
        made["overdue emergency"].id,
        made["overdue routine"].id,
        made["fresh emergency"].id,
    ]


def referrals_bundle(actor: Any, client_id: Any, service_id: Any, urgency: str) -> Bundle:
    from referral_hub.referrals import bundles

    return bundles.create_bundle(
        actor,
        client_id=client_id,
        urgency=urgency,  # type: ignore[arg-type]
        needs=[
            {"category": "emergency_shelter", "service_ids": [service_id], "data_categories": []}
        ],
    )


def test_a_referral_unacknowledged_past_its_deadline_is_in_limbo(session: Any) -> None:
    from referral_hub.reports import limbo

    with transaction():
        w = _world()
        person = clients.create_client(w["intake"])
        bundle = referrals_bundle(w["intake"], person.id, w["services"][0].id, "urgent")
        sent = db.session.query(Referral).filter(Referral.bundle_id == bundle.id).one()
    stuck = {item["referral_id"] for item in limbo.in_limbo(clock.now(), 500)[0]}
    assert sent.id not in stuck  # nothing is due yet
    with transaction():
        sent.acknowledge_by = clock.now() - timedelta(minutes=1)  # respond_by still ahead
    items = {item["referral_id"]: item for item in limbo.in_limbo(clock.now(), 500)[0]}
    assert items[sent.id]["why"] == "unacknowledged"
    assert items[sent.id]["bundle_id"] == bundle.id
    mine = dashboard.sent_bundles(w["intake"], limit=10)
    assert [item.in_limbo for item in mine if item.bundle_id == bundle.id] == [True]
