"""Deadlines through the real job path (rq on Redis in the PostgreSQL run): remind, escalate,
expire with the next best matches, release a no-show's bed — once each. Messages and the
timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.directory.models import Capacity
from referral_hub.jobs.models import OutboxMessage
from referral_hub.referrals import bundles, conversation
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency, add_business_days
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State
from tests import factories


@pytest.fixture
def setting(session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, other, task_force = (factories.agency() for _ in range(4))
        shelter = factories.directory_service(
            receiver, "emergency_shelter", location={"latitude": 41.9, "longitude": -87.6}
        )
        factories.capacity(shelter, total=4, available=2)
        alternative = factories.directory_service(
            other, "emergency_shelter", location={"latitude": 41.95, "longitude": -87.6}
        )
        factories.capacity(alternative, total=4, available=2)
        factories.user(receiver, ["provider"])
        factories.user(sender, ["intake"])
        factories.user(task_force, ["coordinator"])
        intake = Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"}))
        person = clients.create_client(intake, profile={"language": "es"})
    return {
        "intake": intake,
        "receiver": receiver,
        "shelter": shelter,
        "alternative": alternative,
        "client": person,
    }


def run_sweep(app: Flask, run_jobs: Callable[[], int]) -> None:
    """As the scheduler would: hand the sweep to the queue, let a worker run it."""
    app.extensions["hub_queue"].enqueue_task(
        "referrals.deadlines", slot=int(clock.now().timestamp())
    )
    run_jobs()


def actions(session: Any, referral_id: Any) -> list[str]:
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_id == str(referral_id))
            .order_by(AuditEvent.seq)
        )
    )


def emails(session: Any) -> int:
    return len(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all())


def test_in_one_bundle_the_emergency_need_expires_and_the_routine_one_waits_its_days(
    app: Flask, session: Any, setting: dict[str, Any], run_jobs: Callable[[], int]
) -> None:
    """Issue 17: the clinic in a bundle no longer gets the shelter's 30-minute night."""
    with transaction():
        clinic = factories.directory_service(factories.agency(), "immigration_counsel")
        factories.capacity(clinic, total=4, available=2)
    # a periodic job's id is its slot (the frozen second): the next test's sweep 16 minutes
    # after its own start must not find this test's job of the same second already done
    start = clock.now() + timedelta(hours=7, seconds=13)
    with clock.frozen_at(start) as frozen:
        with transaction():
            bundle = bundles.create_bundle(
                setting["intake"],
                client_id=setting["client"].id,
                urgency=Urgency.ROUTINE,  # the default; the shelter need says emergency
                needs=[
                    {
                        "category": "emergency_shelter",
                        "urgency": Urgency.EMERGENCY,
                        "service_ids": [setting["shelter"].id],
                        "data_categories": ["profile"],
                    },
                    {
                        "category": "immigration_counsel",
                        "service_ids": [clinic.id],
                        "data_categories": ["profile"],
                    },
                ],
            )
        for minutes in (16, 15, 15):  # reminded, escalated, then past expire_by (45 min)
            frozen.advance(timedelta(minutes=minutes))
            run_sweep(app, run_jobs)
    session.expire_all()
    by_service = {
        r.service_id: r
        for r in session.scalars(select(Referral).where(Referral.bundle_id == bundle.id))
    }
    shelter, counsel = by_service[setting["shelter"].id], by_service[clinic.id]
    assert shelter.status == State.EXPIRED
    assert counsel.status == State.SENT
    assert counsel.acknowledge_by == add_business_days(start, 1)
    assert counsel.respond_by == add_business_days(start, 3)
    assert actions(session, counsel.id) == ["referral.created", "referral.sent"]  # no reminder


def test_remind_then_escalate_then_expire_with_next_best_matches(
    app: Flask, session: Any, setting: dict[str, Any], run_jobs: Callable[[], int]
) -> None:
    start = clock.now()
    with clock.frozen_at(start) as frozen:
        with transaction():
            referral = referrals.send_referral(
                setting["intake"],
                client_id=setting["client"].id,
                service_id=setting["shelter"].id,
                urgency=Urgency.EMERGENCY,
                data_categories=["profile"],
            )
        sent_mails = emails(session)
        frozen.advance(timedelta(minutes=16))  # past acknowledge_by (15 min)
        run_sweep(app, run_jobs)
        run_sweep(app, run_jobs)  # twice: still one reminder
        assert actions(session, referral.id).count("referral.reminded") == 1
        assert emails(session) == sent_mails + 1
        frozen.advance(timedelta(minutes=15))  # past respond_by (30 min)
        run_sweep(app, run_jobs)
        assert actions(session, referral.id).count("referral.escalated") == 1
        frozen.advance(timedelta(minutes=15))  # past expire_by (45 min)
        run_sweep(app, run_jobs)
    session.expire_all()
    expired = session.get(Referral, referral.id)
    assert expired.status == State.EXPIRED
    assert expired.suggested_service_ids == [str(setting["alternative"].id)]
    assert actions(session, referral.id)[-1] == "referral.expired"


def test_a_no_show_releases_the_bed(
    app: Flask, session: Any, setting: dict[str, Any], run_jobs: Callable[[], int]
) -> None:
    provider = Actor(ActorKind.USER, "p", setting["receiver"].id, frozenset({"provider"}))
    start = clock.now()
    with clock.frozen_at(start) as frozen:
        with transaction():
            referral = referrals.send_referral(
                setting["intake"],
                client_id=setting["client"].id,
                service_id=setting["shelter"].id,
                urgency=Urgency.EMERGENCY,
                data_categories=["profile"],
            )
            referrals.transition(provider, referral.id, "accept")
        assert session.get(Capacity, setting["shelter"].id).held == 1
        frozen.advance(timedelta(hours=3, minutes=1))
        run_sweep(app, run_jobs)
    session.expire_all()
    row = session.get(Referral, referral.id)
    assert (row.status, row.outcome) == (State.NOT_COMPLETED, "no_show")
    capacity = session.get(Capacity, setting["shelter"].id)
    assert (capacity.available, capacity.held) == (2, 0)


def test_messages_are_sealed_audited_and_for_the_parties_only(
    session: Any, setting: dict[str, Any]
) -> None:
    provider = Actor(ActorKind.USER, "p", setting["receiver"].id, frozenset({"provider"}))
    with transaction():
        referral = referrals.send_referral(
            setting["intake"],
            client_id=setting["client"].id,
            service_id=setting["shelter"].id,
            urgency=Urgency.URGENT,
            data_categories=["profile"],
        )
        conversation.post_message(setting["intake"], referral.id, "She arrives by bus at 6pm")
        conversation.post_message(provider, referral.id, "We will meet her")
    stored = session.scalars(
        select(__import__("referral_hub.referrals.models").referrals.models.Message)
    ).all()
    assert all(b"bus" not in row.body for row in stored)
    with transaction():
        thread = conversation.list_messages(provider, referral.id)
    assert [m["body"] for m in thread] == ["She arrives by bus at 6pm", "We will meet her"]
    outsider = Actor(ActorKind.USER, "x", factories_agency_id(session), frozenset({"intake"}))
    from referral_hub.core.errors import NotFound

    with pytest.raises(NotFound), transaction():
        conversation.list_messages(outsider, referral.id)
    steps = [entry["action"] for entry in conversation.timeline(setting["intake"], referral.id)]
    assert steps[:2] == ["referral.created", "referral.sent"]
    assert "referral.messages_read" in steps
    assert "bus" not in str(conversation.timeline(provider, referral.id))


def factories_agency_id(session: Any) -> Any:
    with transaction():
        return factories.agency().id
