"""Connections: pooled ones kept while healthy and replaced when the server dropped them,
without a round trip on checkout (core/liveness.py); GET requests in no transaction until
they write (core/lazy_begin.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from psycopg import pq
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.core.lazy_begin import start_outside_a_transaction
from referral_hub.extensions import db


def _which_connection() -> Any:
    """The server process behind the session's connection (PostgreSQL), or the connection
    itself (SQLite, in-process)."""
    if db.engine.dialect.name == "postgresql":
        return db.session.scalar(text("SELECT pg_backend_pid()"))
    return id(db.session.connection().connection.dbapi_connection)


def _terminate_every_other_backend(app: Flask) -> int:
    """What a database restart or an administrator does to the hub's idle connections."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    try:
        with admin.connect() as connection:
            ended = connection.scalar(text("SELECT count(pg_terminate_backend(pid)) " + others))
            deadline = time.monotonic() + 10
            while connection.scalar(text("SELECT count(*) " + others)):
                assert time.monotonic() < deadline, "terminated backends did not go away"
                time.sleep(0.05)
    finally:
        admin.dispose()
    return int(ended or 0)


def test_a_healthy_pooled_connection_is_used_again(committing_app: Flask) -> None:
    with committing_app.app_context():
        first = _which_connection()
        db.session.remove()
        assert _which_connection() == first
        db.session.remove()


def test_a_connection_the_server_dropped_is_replaced_before_the_request_uses_it(
    committing_app: Flask,
) -> None:
    postgres = committing_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    with committing_app.app_context():
        first = _which_connection()
        db.session.remove()  # back to the pool, where the server will end it
    if postgres:
        assert _terminate_every_other_backend(committing_app) >= 1
    answer = committing_app.test_client().get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checks"]["database"] == "ok"
    with committing_app.app_context():
        assert (_which_connection() != first) is postgres
        db.session.remove()


@contextmanager
def _transaction_states(app: Flask) -> Iterator[list[str]]:
    """For each statement the app's engine runs: did the connection have a transaction
    open after it ("idle": none, as in autocommit)? PostgreSQL only; SQLite records nothing."""
    states: list[str] = []
    with app.app_context():
        engine = db.engine

    def after(connection: Any, *_args: Any) -> None:
        status = connection.connection.dbapi_connection.info.transaction_status
        states.append("idle" if status == pq.TransactionStatus.IDLE else "in transaction")

    postgres = engine.dialect.name == "postgresql"
    if postgres:
        event.listen(engine, "after_cursor_execute", after)
    try:
        yield states
    finally:
        if postgres:
            event.remove(engine, "after_cursor_execute", after)


def test_a_get_that_only_reads_opens_no_transaction(committing_app: Flask) -> None:
    def newest_event() -> Any:  # a read-only view, added to this test's own app
        return {"seq": db.session.scalar(select(func.max(AuditEvent.seq)))}

    committing_app.add_url_rule("/test-only/newest-event", view_func=newest_event)
    with _transaction_states(committing_app) as states:
        answer = committing_app.test_client().get("/test-only/newest-event")
    assert answer.status_code == 200, answer.get_json()
    if committing_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert states == ["idle"]


def test_a_get_that_writes_keeps_its_writes_in_one_transaction(committing_app: Flask) -> None:
    """From its first write on, a GET is one transaction: committed together, or (on an
    error) rolled back together."""
    postgres = committing_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    subject = ("test", str(uuid.uuid4()))

    def read_then_write(fail: bool) -> None:
        with committing_app.test_request_context("/api/v1/example", method="GET"):
            start_outside_a_transaction(db.session)
            with transaction():
                db.session.execute(select(AuditEvent.seq).limit(1)).all()
                audit.record(SYSTEM, "test.read_then_wrote", subject)
                audit.record(SYSTEM, "test.read_then_wrote", subject)
                if fail:
                    raise RuntimeError("after the writes")
            db.session.remove()

    with _transaction_states(committing_app) as states:
        read_then_write(fail=False)
    if postgres:
        assert states[0] == "idle", states
        assert set(states[1:]) == {"in transaction"}, states
    with pytest.raises(RuntimeError):
        read_then_write(fail=True)
    with committing_app.app_context():
        written = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == subject[1])
        ).all()
        assert written == ["test.read_then_wrote"] * 2
        assert audit.verify_stored().ok
        db.session.remove()
