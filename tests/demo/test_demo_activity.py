"""The demo's month of activity: seeded through the services by `flask hub seed-demo`, once.

One seed per test is slow (a month of referral work), so one test checks the whole story:
the mix of states the pages need, idempotency, and the audit chain.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from referral_hub.agencies.models import Agency, OutsideOrganisation
from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.demo.activity import HARBOR, HOTLINE, OPEN_DOOR, Timeline
from referral_hub.directory import hsds
from referral_hub.directory.freshness import capacity_view
from referral_hub.directory.models import Capacity, Service
from referral_hub.referrals import bundles
from referral_hub.referrals.models import Bundle, Message, OutsideReferral, Referral
from referral_hub.referrals.states import OPEN, State
from tests.directory.test_hsds import validator_for


def invoke(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["hub", *args])


def test_seed_demo_adds_a_month_of_activity_once(app: Flask, session: Any) -> None:
    first = invoke(app, "seed-demo")
    assert first.exit_code == 0, first.output
    assert "demo activity ready: 40 bundles" in first.output
    assert "activity: day 30/30" in first.output  # progress shown
    now = clock.now()

    demo = list(session.scalars(select(Referral).where(Referral.client_reference.like("DEMO-%"))))
    states = Counter(referral.status for referral in demo)
    wanted = {
        State.SENT,
        State.ACKNOWLEDGED,
        State.INFO_REQUESTED,
        State.WAITLISTED,
        State.ACCEPTED,
        State.ENGAGED,
        State.COMPLETED,
        State.NOT_COMPLETED,
        State.DECLINED,
        State.WITHDRAWN,
        State.EXPIRED,
        State.SUPERSEDED,
    }
    assert wanted <= set(states), states
    reasons = {r.decline_reason for r in demo if r.status == State.DECLINED}
    assert len(reasons) >= 3, reasons
    assert sum(1 for r in demo if r.previous_referral_id is not None) >= 8  # refer again

    # spread over the month, for the charts
    sent = [r.sent_at for r in demo if r.sent_at is not None]
    assert min(sent) < now - timedelta(days=25)
    assert max(sent) > now - timedelta(hours=2)
    assert len({moment.date() for moment in sent}) >= 15
    assert all(moment <= now for moment in sent)

    # the demo provider's agency received referrals in many states
    harbor = session.scalar(select(Agency).where(Agency.name == HARBOR))
    harbor_states = {r.status for r in demo if r.receiver_agency_id == harbor.id}
    assert len(harbor_states) >= 8, harbor_states

    # both intake agencies have open bundles; a few are in limbo, most are not
    demo_bundles = list(
        session.scalars(
            select(Bundle)
            .join(Client, Client.id == Bundle.client_id)
            .where(Client.reference.like("DEMO-%"))
        )
    )
    assert len(demo_bundles) == 40
    described = {bundle.id: bundles.describe(bundle, now) for bundle in demo_bundles}
    for name in (HOTLINE, OPEN_DOOR):
        agency = session.scalar(select(Agency).where(Agency.name == name))
        mine = [b for b in demo_bundles if b.sender_agency_id == agency.id]
        assert any(described[b.id]["status"] == "open" for b in mine), name
    limbo = sum(1 for view in described.values() if view["in_limbo"])
    # a few: stuck past a deadline (unacknowledged or undecided) or after too many hops
    assert 1 <= limbo <= 8, limbo
    soon = [
        r
        for r in demo
        if r.status in OPEN
        and r.respond_by is not None
        and now < r.respond_by < now + timedelta(hours=8)
    ]
    assert soon, "some open referrals have deadlines in the next hours"

    # messages, and capacity both freshly confirmed and stale
    assert session.scalar(select(func.count()).select_from(Message)) >= 5
    beds = session.scalar(
        select(Service).where(
            Service.agency_id == harbor.id, Service.category == "emergency_shelter"
        )
    )
    assert capacity_view(beds, now)["freshness"] == "fresh"  # type: ignore[index]
    views = [capacity_view(s, now) for s in session.scalars(select(Service))]
    assert any(view and view["freshness"] == "stale" for view in views)
    # capacity holds match the referrals holding units
    held = session.scalar(select(func.count()).select_from(Referral).where(Referral.holds_unit))
    assert session.scalar(select(func.sum(Capacity.held))) == held

    # fictional people only
    assert all(c.startswith("DEMO-") for c in {r.client_reference for r in demo})
    client = session.scalar(select(Client).where(Client.reference == "DEMO-001"))
    assert clients.unseal(client, {"identity"})["name"] == "Demo Person 1"

    # the whole demo directory exports valid HSDS, 3.1 (with live capacity) and 3.0
    listed = session.scalar(select(func.count()).select_from(Service))
    with_capacity = {}
    for version in ("3.1", "3.0"):
        exported, cursor = hsds.export_all(SYSTEM, limit=500, cursor=None, version=version)
        assert cursor is None
        assert len(exported) == listed
        check = validator_for(version)
        assert [d["id"] for d in exported if not check.is_valid(d)] == [], version
        with_capacity[version] = sum(1 for d in exported if d.get("capacities"))
    assert with_capacity["3.0"] == 0, with_capacity
    assert with_capacity["3.1"] >= listed // 2, with_capacity

    # an organisation not on the hub, on the hotline's list, with a referral sent to it
    # and its answer still due
    hotline = session.scalar(select(Agency).where(Agency.name == HOTLINE))
    [organisation] = session.scalars(
        select(OutsideOrganisation).where(OutsideOrganisation.owner_agency_id == hotline.id)
    ).all()
    [sent_outside] = session.scalars(select(OutsideReferral)).all()
    assert sent_outside.organisation_id == organisation.id
    assert sent_outside.sender_agency_id == hotline.id
    assert sent_outside.status == State.SENT
    assert sent_outside.respond_by is not None
    assert sent_outside.respond_by > now

    # the chain verifies; a second run adds nothing
    verified = invoke(app, "audit-verify")
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("OK:"), verified.output
    head = audit.head()
    second = invoke(app, "seed-demo")
    assert second.exit_code == 0, second.output
    assert "demo activity present" in second.output
    assert audit.head() == head
    assert session.scalar(select(func.count()).select_from(Bundle)) == 40


def test_timeline_runs_steps_in_time_order_and_nothing_after_its_end(session: Any) -> None:
    end = clock.now()
    seen: list[tuple[str, Any]] = []
    timeline = Timeline(end)

    def script(name: str, gaps: list[timedelta]) -> Any:
        for gap in gaps:
            seen.append((name, clock.now()))
            yield gap
        seen.append((name, clock.now()))

    timeline.at(end - timedelta(hours=5), script("a", [timedelta(hours=2), timedelta(hours=9)]))
    timeline.at(end - timedelta(hours=4), script("b", [timedelta(hours=1)]))
    timeline.at(end + timedelta(seconds=1), script("late", []))
    timeline.run(lambda moment: None)
    assert [name for name, _ in seen] == ["a", "b", "a", "b"]
    moments = [moment for _, moment in seen]
    assert moments == sorted(moments)
    assert moments[-1] <= end
