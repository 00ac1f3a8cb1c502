"""The three ways jobs run: a thread in the web process (embedded), rq workers, and the
scheduler that hands periodic sweeps to either — each against a real, committing database."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.jobs import consumer as consumer_loop
from referral_hub.jobs import handlers, periodic
from referral_hub.jobs.handlers import consumer
from referral_hub.jobs.models import OutboxMessage, OutboxStatus
from referral_hub.jobs.queue import RqQueue, ThreadQueue
from referral_hub.notifications.service import send_email
from tests.conftest import fresh_database_url, migrated_app


@pytest.fixture
def committing_app(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """Like conftest's, but with the embedded job thread."""
    url = fresh_database_url(f"jobs_{worker_id}", tmp_path_factory)
    with migrated_app(url, worker_id, tmp_path_factory, JOB_RUNNER="thread", REDIS_URL="") as a:
        yield a


def outbox_rows(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        try:
            return list(db.session.scalars(select(OutboxMessage)))
        finally:
            db.session.remove()


def redis_connection() -> Any:
    url = os.environ.get("REDIS_URL")
    if url:
        from redis import Redis

        return Redis.from_url(url)
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_embedded_thread_delivers_after_commit_in_its_own_context(committing_app: Flask) -> None:
    queue = committing_app.extensions["hub_queue"]
    assert isinstance(queue, ThreadQueue)
    with committing_app.app_context():
        with transaction():
            message_id = send_email("staff@agency.example", "action_waiting").id
        db.session.remove()
    queue.drain()
    (row,) = outbox_rows(committing_app)
    assert (row.id, row.status, row.attempts) == (message_id, OutboxStatus.DELIVERED, 1)
    mail = Path(committing_app.instance_path) / "mail" / f"{message_id}.eml"
    assert "You have an action waiting" in mail.read_text()


def test_the_scheduler_hands_each_task_over_once_per_slot(committing_app: Flask) -> None:
    queue = RqQueue("", f"sched-{uuid.uuid4().hex[:8]}", connection=redis_connection())
    committing_app.extensions["hub_queue"] = queue
    stop = threading.Event()
    schedulers = [
        threading.Thread(
            target=periodic.run_scheduler,
            args=(committing_app,),
            kwargs={"stop": stop, "tick_seconds": 0.02},
        )
        for _ in range(2)  # one too many, by accident
    ]
    for scheduler in schedulers:
        scheduler.start()
    stop.wait(0.3)  # about fifteen ticks each
    stop.set()
    for scheduler in schedulers:
        scheduler.join(timeout=10)
    job_ids = sorted(queue.queue.job_ids)
    task_names = {task.name.replace(".", "_") for task in periodic.tasks()}
    assert {job_id.split("-")[1] for job_id in job_ids} == task_names
    # two schedulers, one job per task and slot: no slot handed over twice. A task with a
    # short period may cross one slot boundary in the 0.3 s window, so a task may have two
    # consecutive slots — never the same one twice, never more.
    assert len(job_ids) == len(set(job_ids)), job_ids
    for name in task_names:
        slots = sorted(int(j.split("-")[2]) for j in job_ids if j.split("-")[1] == name)
        assert slots in ([slots[0]], [slots[0], slots[0] + 1]), (name, slots)
    queue.queue.empty()


def test_the_worker_command_runs_deliveries_and_sweeps(committing_app: Flask) -> None:
    queue = RqQueue("", f"work-{uuid.uuid4().hex[:8]}", connection=redis_connection())
    committing_app.extensions["hub_queue"] = queue
    with committing_app.app_context():
        with transaction():
            send_email("staff@agency.example", "action_waiting")
        db.session.remove()
    # the commit woke the deliveries through Redis; no rq job per row
    assert (queue.queue.count, queue.redis.llen(queue.wake_key)) == (0, 1)
    queue.enqueue_task("outbox.sweep", slot=1)
    result = committing_app.test_cli_runner().invoke(args=["hub", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert queue.queue.count == 0
    (row,) = outbox_rows(committing_app)
    assert row.status == OutboxStatus.DELIVERED


raced: Counter[str] = Counter()
raced_lock = threading.Lock()


@consumer("test.raced")
def count_raced(message: OutboxMessage) -> None:
    with raced_lock:
        raced[message.payload["key"]] += 1
    time.sleep(0.001)  # a receiver that takes a moment: workers overlap


def committed_rows(app: Flask, count: int, kind: str = "test.raced") -> list[str]:
    """Rows committed straight to the table (no hand-over: only a drain will find them)."""
    with app.app_context():
        with transaction() as session:
            rows = [OutboxMessage(kind=kind, payload={"key": f"k{n}"}) for n in range(count)]
            session.add_all(rows)
        ids = [str(row.id) for row in rows]
        db.session.remove()
    return ids


def test_racing_workers_deliver_each_due_row_exactly_once(committing_app: Flask) -> None:
    """Three workers drain the same 60 due rows at once: every row is attempted by exactly
    one of them (each holds its row locked while delivering; the others skip it)."""
    raced.clear()
    committed_rows(committing_app, 60)
    workers = 3
    barrier = threading.Barrier(workers)
    attempted: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            attempted.append(consumer_loop.drain(committing_app))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(attempted) == 60
    assert raced == Counter({f"k{n}": 1 for n in range(60)})
    assert {row.status for row in outbox_rows(committing_app)} == {OutboxStatus.DELIVERED}


def test_a_row_held_by_a_worker_that_died_is_delivered_by_the_next_drain(
    committing_app: Flask,
) -> None:
    """A worker holds a row (locked, mid-delivery) and dies: while it holds the row the
    others pass it by; once its connection is gone the row is due as before."""
    raced.clear()
    (held_id,) = committed_rows(committing_app, 1)
    with committing_app.app_context():
        engine = db.engine
        dying = engine.connect()
        dying.execute(
            select(OutboxMessage.id).where(OutboxMessage.id == uuid.UUID(held_id)).with_for_update()
        )
        if engine.dialect.name == "postgresql":  # SQLite has one writer at a time anyway
            assert consumer_loop.drain(committing_app) == 0
            assert raced == Counter()
        dying.invalidate()  # the process is gone: its transaction with it
        db.session.remove()
    assert consumer_loop.drain(committing_app) == 1
    assert raced == Counter({"k0": 1})
    (row,) = outbox_rows(committing_app)
    assert (row.status, row.attempts) == (OutboxStatus.DELIVERED, 1)


def test_a_drain_leaves_rows_not_yet_due_and_takes_the_oldest_first(
    committing_app: Flask,
) -> None:
    raced.clear()
    order: list[str] = []
    with committing_app.app_context():
        now = clock.now()
        with transaction() as session:
            for key, due in (("late", 30), ("second", -10), ("first", -20), ("later", 3600)):
                session.add(
                    OutboxMessage(
                        kind="test.raced",
                        payload={"key": key},
                        available_at=now + timedelta(seconds=due),
                    )
                )
        db.session.remove()
    real = handlers.get("test.raced")
    try:
        handlers._handlers["test.raced"] = lambda m: order.append(m.payload["key"])
        assert consumer_loop.drain(committing_app) == 2
    finally:
        handlers._handlers["test.raced"] = real
    assert order == ["first", "second"]
    statuses = {row.payload["key"]: row.status for row in outbox_rows(committing_app)}
    assert statuses == {
        "first": OutboxStatus.DELIVERED,
        "second": OutboxStatus.DELIVERED,
        "late": OutboxStatus.PENDING,
        "later": OutboxStatus.PENDING,
    }


@pytest.mark.parametrize("redis_there", [True, False])
def test_the_delivery_loop_wakes_on_commit_and_polls_while_redis_is_away(
    committing_app: Flask, redis_there: bool
) -> None:
    """Production's loop on its thread: a commit's hand-over wakes it; with Redis away the
    hand-over fails (the request does not) and the loop still finds the row by polling."""
    if redis_there:
        queue = RqQueue("", f"loop-{uuid.uuid4().hex[:8]}", connection=redis_connection())
    else:
        queue = RqQueue("redis://127.0.0.1:1/0", "nobody-listens")
    committing_app.extensions["hub_queue"] = queue
    committing_app.config["OUTBOX_POLL_SECONDS"] = 0.05 if not redis_there else 1.0
    stop = threading.Event()
    thread = consumer_loop.start_deliveries(committing_app, queue, stop)
    try:
        with committing_app.app_context():
            with transaction():
                message_id = send_email("staff@agency.example", "action_waiting").id
            db.session.remove()
        wait_until_delivered(committing_app, message_id)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    (row,) = outbox_rows(committing_app)
    assert (row.status, row.attempts) == (OutboxStatus.DELIVERED, 1)


def wait_until_delivered(app: Flask, message_id: uuid.UUID, within: float = 60) -> None:
    """Poll the row (a generous bound for a loaded machine: not a timing assertion)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(r.id == message_id and r.status == OutboxStatus.DELIVERED for r in outbox_rows(app)):
            return
        time.sleep(0.02)
    raise AssertionError(f"row {message_id} not delivered within {within:.0f} s")


def test_the_worker_command_explains_embedded_mode(committing_app: Flask) -> None:
    result = committing_app.test_cli_runner().invoke(args=["hub", "worker", "--burst"])
    assert result.exit_code != 0
    assert "no REDIS_URL" in result.output


@pytest.mark.parametrize(("hub_env", "level"), [("embedded", "debug"), ("production", "info")])
def test_a_periodic_sweep_logs_at_info_only_in_production(
    app: Flask,
    session: Any,
    log_lines: Callable[[], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    hub_env: str,
    level: str,
) -> None:
    """In embedded mode a sweep every fifteen seconds would scroll `make run`'s banner away."""
    monkeypatch.setitem(app.config, "HUB_ENV", hub_env)
    periodic.run_periodic("outbox.sweep")
    (line,) = [entry for entry in log_lines() if entry["message"] == "periodic outbox.sweep done"]
    assert line["level"] == level


def test_serve_on_a_taken_port_says_what_to_do(app: Flask) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = app.test_cli_runner().invoke(args=["hub", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Port {port} is in use by another program" in result.output
    assert "Referral hub is running" not in result.output  # no banner for a hub that is not
