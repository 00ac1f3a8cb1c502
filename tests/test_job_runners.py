"""The three ways jobs run: a thread in the web process (embedded), rq workers, and the
scheduler that hands periodic sweeps to either — each against a real, committing database."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.jobs import periodic
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
    assert queue.queue.count == 1
    queue.enqueue_task("outbox.sweep", slot=1)
    result = committing_app.test_cli_runner().invoke(args=["hub", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert queue.queue.count == 0
    (row,) = outbox_rows(committing_app)
    assert row.status == OutboxStatus.DELIVERED


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
