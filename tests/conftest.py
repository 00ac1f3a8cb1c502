"""Fixtures: one app per test session, each test inside a transaction that is rolled back.

The database is SQLite in memory unless TEST_DATABASE_URL names a PostgreSQL server; jobs
run inline unless REDIS_URL names a Redis server (then through rq, with real workers).
A server that is named but unreachable fails the run: nothing here skips.
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from referral_hub import create_app
from referral_hub.core.actor import Actor
from referral_hub.core.logging import JsonFormatter, RedactingFilter, RequestIdFilter
from referral_hub.extensions import db

ROOT = Path(__file__).resolve().parent.parent

# Property tests on a loaded two-core machine: no wall-clock health checks or deadlines
# (they measure the machine, not the code), each test's own fixed example budget, and the
# failing example printed so it can be replayed. `ci` (the default under CI=true) draws the
# same examples every run; `dev` explores new ones. HYPOTHESIS_PROFILE picks either.
_NOT_ABOUT_THE_CODE = [HealthCheck.too_slow, HealthCheck.data_too_large]
hypothesis_settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=_NOT_ABOUT_THE_CODE,
    derandomize=True,
    database=None,
    print_blob=True,
)
hypothesis_settings.register_profile(
    "dev",
    deadline=None,
    suppress_health_check=_NOT_ABOUT_THE_CODE,
    database=None,
    print_blob=True,
)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def _servers() -> str:
    database = (
        make_url(os.environ["TEST_DATABASE_URL"]) if os.environ.get("TEST_DATABASE_URL") else None
    )
    shown = database.render_as_string(hide_password=True) if database else "SQLite (in memory)"
    jobs = f"rq on {os.environ['REDIS_URL']}" if os.environ.get("REDIS_URL") else "inline"
    return f"database: {shown}; jobs: {jobs}"


def _runs_production_server_tests() -> bool:
    return bool(os.environ.get("TEST_DATABASE_URL")) or os.environ.get("FAULT_TESTS") == "1"


def pytest_report_header() -> str:
    lines = [_servers()]
    if not _runs_production_server_tests():
        lines.append(
            "fault-injection tests (private PostgreSQL, Redis, gunicorn) run in the PostgreSQL "
            "pass; FAULT_TESTS=1 runs them here too"
        )
    return "\n".join(lines)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that bring their own production servers test the same thing in either pass:
    they run in the one with TEST_DATABASE_URL (deselected, and said so, in the other)."""
    if _runs_production_server_tests():
        return
    elsewhere = [item for item in items if item.get_closest_marker("production_servers")]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker("production_servers")]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failure says which database and job runner it happened on."""
    report = yield
    if report.failed:
        report.sections.append(("servers", _servers()))
    return report


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


def fresh_database_url(suffix: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database: a new PostgreSQL database, or a new SQLite file."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / (suffix + '.db')}"
    url = make_url(base)
    name = f"{url.database}_{suffix}".replace("-", "_")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def test_config(database_url: str, worker_id: str, **extra: Any) -> dict[str, Any]:
    redis_url = os.environ.get("REDIS_URL", "")
    config: dict[str, Any] = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "JOB_RUNNER": "rq" if redis_url else "inline",
        "RQ_QUEUE": f"test-{worker_id}-{uuid.uuid4().hex[:8]}",
        "REDIS_KEY_PREFIX": f"test-{worker_id}-{uuid.uuid4().hex[:8]}",
    }
    config.update(extra)
    return config


test_config.__test__ = False  # type: ignore[attr-defined]


@contextmanager
def migrated_app(
    url: str, worker_id: str, tmp_path_factory: pytest.TempPathFactory, **extra: Any
) -> Iterator[Flask]:
    """An app on `url`, migrated to head, its own instance folder; engines disposed after."""
    application = create_app(test_config(url, worker_id, **extra))
    application.instance_path = str(tmp_path_factory.mktemp("instance"))
    with application.app_context():
        flask_migrate.upgrade()
    try:
        yield application
    finally:
        with application.app_context():
            for engine in db.engines.values():
                engine.dispose()


class RequestPerContextClient(FlaskClient):
    """Each request gets its own app context (fresh `g`, its own session), as in production.

    Flask reuses an app context that is already pushed — and the `session` fixture keeps
    one pushed for the test body — so without this every request in a test would share
    one `g`, hiding bugs that only show when state does not carry over between requests.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask.globals import _cv_app

        # hide the test's context (without tearing it down)
        held = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(held)


@contextmanager
def rolled_back_app(
    suffix: str, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """An app whose tests run in conftest's rolled-back `session`: SQLite in memory, or a
    new PostgreSQL database `<test db>_<suffix>`. Jobs its setup committed are dropped from
    Redis at the end (nobody will run them)."""
    base = os.environ.get("TEST_DATABASE_URL")
    url = fresh_database_url(suffix, tmp_path_factory) if base else "sqlite://"
    with migrated_app(url, worker_id, tmp_path_factory) as application:
        application.test_client_class = RequestPerContextClient
        yield application
        from referral_hub.jobs.queue import RqQueue

        queue = application.extensions["hub_queue"]
        if isinstance(queue, RqQueue):
            queue.queue.empty()


@pytest.fixture(scope="session")
def app(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with rolled_back_app(f"w{worker_id}", worker_id, tmp_path_factory) as application:
        yield application


@pytest.fixture
def committing_app(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app on its own empty database where transactions really commit (races, threads)."""
    url = fresh_database_url(f"commit_{worker_id}", tmp_path_factory)
    # a connection for every racing thread: a starved pool would be the test's bottleneck
    pool = {"pool_size": 64, "max_overflow": 16}
    with migrated_app(
        url,
        worker_id,
        tmp_path_factory,
        JOB_RUNNER="inline",
        REDIS_URL="",
        SQLALCHEMY_ENGINE_OPTIONS=pool,
        # SQLite serialises writers and its busy handler is not fair: with a dozen threads
        # racing on a loaded machine one can wait past the 10 s default without anything
        # being wrong; the races under test are decided by the database, not this timeout
        SQLITE_BUSY_TIMEOUT_MS=60_000,
    ) as a:
        yield a


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """The app's session joined to an outer transaction that is rolled back after the test."""
    with app.app_context():
        # each engine is swapped for one connection in an outer transaction, rolled back after
        engines = cast(dict[str | None, Any], db.engines)
        undo = []
        for key, engine in list(engines.items()):
            connection = engine.connect()
            outer = connection.begin()
            engines[key] = connection
            undo.append((key, engine, connection, outer))
        try:
            yield db.session
        finally:
            db.session.remove()
            for key, engine, connection, outer in undo:
                outer.rollback()
                connection.close()
                engines[key] = engine


@pytest.fixture
def client(app: Flask, session: Any) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def act_as(app: Flask) -> Iterator[Callable[[Actor], None]]:
    """Make every request in this test act as `actor`, for tests about something other
    than how the actor is found (tests/auth/test_access_admin.py and
    tests/system/test_access_grid.py use real tokens and sessions)."""
    real = app.extensions["actor_resolver"]

    def set_actor(actor: Actor) -> None:
        app.extensions["actor_resolver"] = lambda: actor

    yield set_actor
    app.extensions["actor_resolver"] = real


@pytest.fixture
def run_jobs(app: Flask) -> Callable[[], int]:
    """Run every queued job now: nothing to do inline; with Redis, an rq burst worker for
    the sweeps, then the worker's drain of every due outbox row (in the test's session)."""
    from referral_hub.jobs.queue import RqQueue
    from referral_hub.jobs.service import deliver_due

    def run() -> int:
        queue = app.extensions["hub_queue"]
        if not isinstance(queue, RqQueue):
            return 0
        from rq import SimpleWorker

        count = queue.queue.count
        SimpleWorker([queue.queue], connection=queue.redis).work(burst=True)
        queue.redis.delete(queue.wake_key)
        return count + deliver_due(1_000_000)

    return run


@pytest.fixture(autouse=True)
def _empty_test_queue(app: Flask) -> None:
    """Jobs left in Redis by an earlier (rolled back) test must not leak into this one."""
    from referral_hub.jobs.queue import RqQueue

    queue = app.extensions["hub_queue"]
    if isinstance(queue, RqQueue):
        queue.queue.empty()
        queue.redis.delete(queue.wake_key)
        # a periodic job's id is its task and slot (one job per slot): an earlier test's
        # finished job with the same slot (the same whole second) would make this test's
        # enqueue a silent duplicate, and its sweep never run
        stale = list(queue.redis.scan_iter(match="rq:job:periodic-*"))
        if stale:
            queue.redis.delete(*stale)
        from referral_hub.auth.ratelimit import RedisBackend

        RedisBackend(queue.redis, app.config["REDIS_KEY_PREFIX"]).clear()


@pytest.fixture(autouse=True)
def _rate_limit_windows_start_with_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test making a few requests and expecting the sixth to be refused must not see a
    window end between them (fixed windows would otherwise restart the count at every
    whole minute): the windows begin at the test's own start, whole seconds."""
    import time

    from referral_hub.auth import ratelimit

    monkeypatch.setattr(ratelimit, "WINDOW_ORIGIN", int(time.time()))


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)
