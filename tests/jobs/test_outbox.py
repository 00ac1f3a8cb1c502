"""Outbox: delivered once after commit, never after rollback, retried with backoff, and
nothing lost while Redis is away."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.jobs import service as outbox
from referral_hub.jobs.handlers import DeliveryFailed, consumer
from referral_hub.jobs.models import OutboxMessage, OutboxStatus
from referral_hub.jobs.queue import RqQueue
from tests import factories

delivered: Counter[str] = Counter()
failures_left: dict[str, int] = {}


@consumer("test.count")
def count_delivery(message: OutboxMessage) -> None:
    key = message.payload["key"]
    if failures_left.get(key, 0) > 0:
        failures_left[key] -= 1
        raise DeliveryFailed("receiver answered 503")
    delivered[key] += 1


@pytest.fixture(autouse=True)
def _reset() -> None:
    delivered.clear()
    failures_left.clear()


def add_row(key: str) -> str:
    with transaction():
        return str(outbox.add("test.count", {"key": key}).id)


def row(session: Any, outbox_id: str) -> OutboxMessage:
    import uuid

    session.expire_all()
    return session.get(OutboxMessage, uuid.UUID(outbox_id))


def test_a_row_is_delivered_exactly_once_after_commit(
    session: Any, run_jobs: Callable[[], int]
) -> None:
    outbox_id = add_row("a")
    run_jobs()
    assert delivered["a"] == 1
    message = row(session, outbox_id)
    assert message.status == OutboxStatus.DELIVERED
    assert message.attempts == 1
    # the sweeper and a duplicate job both find it done: no second delivery
    with transaction():
        assert outbox.sweep() == 0
    assert outbox.deliver(outbox_id) == "already_delivered"
    run_jobs()
    assert delivered["a"] == 1


def test_nothing_is_delivered_after_a_rollback(session: Any, run_jobs: Callable[[], int]) -> None:
    # the raise inside is what rolls the transaction back: the work and it belong together
    with pytest.raises(RuntimeError), transaction():  # noqa: PT012
        outbox.add("test.count", {"key": "b"})
        raise RuntimeError("the business change failed")
    run_jobs()
    assert delivered["b"] == 0
    assert (
        session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "test.count")).all() == []
    )


def test_payloads_may_not_carry_personal_data(session: Any) -> None:
    with pytest.raises(ValueError, match="personal data"), transaction():
        outbox.add("test.count", {"key": "c", "narrative": "what happened"})


def test_failures_back_off_then_deliver(
    app: Flask, session: Any, run_jobs: Callable[[], int]
) -> None:
    failures_left["d"] = 2
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    with clock.frozen_at(start) as frozen:
        outbox_id = add_row("d")
        run_jobs()
        first = row(session, outbox_id)
        assert (first.status, first.attempts, first.last_error) == (
            OutboxStatus.PENDING,
            1,
            "receiver answered 503",
        )
        assert first.available_at == start + timedelta(seconds=10)
        assert outbox.deliver(outbox_id) == "not_due"
        frozen.advance(timedelta(seconds=10))
        with transaction():
            assert outbox.sweep() == 1
        run_jobs()
        assert row(session, outbox_id).available_at == start + timedelta(seconds=30)
        frozen.advance(timedelta(seconds=20))
        with transaction():
            outbox.sweep()
        run_jobs()
    final = row(session, outbox_id)
    assert (final.status, final.attempts, delivered["d"]) == (OutboxStatus.DELIVERED, 3, 1)


def test_a_row_is_dead_after_the_last_attempt(
    app: Flask, session: Any, run_jobs: Callable[[], int]
) -> None:
    failures_left["e"] = 100
    with clock.frozen_at(datetime(2026, 11, 22, tzinfo=UTC)) as frozen:
        outbox_id = add_row("e")
        run_jobs()
        for _ in range(app.config["OUTBOX_MAX_ATTEMPTS"]):
            frozen.advance(timedelta(hours=2))
            with transaction():
                outbox.sweep()
            run_jobs()
    final = row(session, outbox_id)
    assert final.status == OutboxStatus.DEAD
    assert final.attempts == app.config["OUTBOX_MAX_ATTEMPTS"]
    assert delivered["e"] == 0


def test_the_sweeper_leaves_recently_queued_rows_alone(app: Flask, session: Any) -> None:
    with clock.frozen_at(datetime(2026, 11, 22, tzinfo=UTC)) as frozen:
        with transaction():
            message = OutboxMessage(
                kind="test.count", payload={"key": "f"}, enqueued_at=clock.now()
            )
            session.add(message)
        with transaction():
            assert outbox.sweep() == 0
        frozen.advance(timedelta(seconds=app.config["OUTBOX_REQUEUE_AFTER_SECONDS"]))
        with transaction():
            assert outbox.sweep() == 1
    assert delivered["f"] == (0 if isinstance(app.extensions["hub_queue"], RqQueue) else 1)


def test_delivered_rows_are_purged_after_the_retention_but_dead_and_pending_stay(
    app: Flask, session: Any, run_jobs: Callable[[], int]
) -> None:
    failures_left["dead"] = 100
    days = app.config["OUTBOX_RETENTION_DAYS"]
    with clock.frozen_at(datetime(2026, 11, 1, tzinfo=UTC)) as frozen:
        old_delivered = add_row("old")
        run_jobs()
        with transaction():
            dead = outbox.add("test.count", {"key": "dead"})
            dead.status, dead.delivered_at = OutboxStatus.DEAD, None
        dead_id = str(dead.id)
        frozen.advance(timedelta(days=days) - timedelta(hours=1))
        recent_delivered = add_row("recent")
        run_jobs()
        with transaction():
            pending = outbox.add("test.count", {"key": "pending"})
            pending.available_at = clock.now() + timedelta(days=30)
        pending_id = str(pending.id)
        with transaction():
            assert outbox.purge_delivered() == 0  # nothing delivered is old enough yet
        frozen.advance(timedelta(hours=2))
        with transaction():
            assert outbox.purge_delivered() == 1
    assert row(session, old_delivered) is None
    assert row(session, recent_delivered).status == OutboxStatus.DELIVERED
    assert row(session, dead_id).status == OutboxStatus.DEAD
    assert row(session, pending_id).status == OutboxStatus.PENDING


def returning_redis() -> Any:
    """The Redis that 'comes back': the real server in the PostgreSQL run, else an in-memory one."""
    url = os.environ.get("REDIS_URL")
    if url:
        from redis import Redis

        return Redis.from_url(url)
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_with_redis_down_requests_succeed_and_rows_are_delivered_when_it_returns(
    app: Flask, client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    with transaction():
        shelter = factories.agency()
    act_as(Actor(ActorKind.USER, "admin-1", shelter.id, frozenset({"agency_admin"})))
    live_queue = app.extensions["hub_queue"]
    app.extensions["hub_queue"] = RqQueue("redis://127.0.0.1:1/0", "test-down")  # nothing listens
    try:
        response = client.post(
            f"/api/v1/agencies/{shelter.id}/users",
            json={"email": "new.staff@harbor.example", "display_name": "New", "roles": ["intake"]},
        )
        assert response.status_code == 201, response.json
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).one()
        assert message.status == OutboxStatus.PENDING

        back = RqQueue("", f"test-back-{os.getpid()}", connection=returning_redis())
        back.queue.empty()
        app.extensions["hub_queue"] = back
        back.redis.delete(back.wake_key)
        with clock.frozen_at(clock.now() + timedelta(minutes=5)), transaction():
            assert outbox.sweep() == 1
        assert back.wait_for_deliveries(1)  # the sweep woke the worker, which drains
        assert outbox.deliver_due(100) == 1
    finally:
        app.extensions["hub_queue"] = live_queue
    session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED
    mail = Path(app.instance_path) / app.config["MAIL_FOLDER"] / f"{message.id}.eml"
    text = mail.read_text()
    assert "To: new.staff@harbor.example" in text
    assert "An account was created for you" in text
