"""The database itself refuses what the application must never do (docs/security.md).

Two layers. On PostgreSQL the hub runs as a role made by config/postgres/app_role.sql, which
may only SELECT and INSERT audit records: a rewrite is refused by privileges before any
trigger runs. The triggers stay for every role, the owner included. SQLite has no roles, so
there the triggers are the one layer, and the same tests check that layer.

On PostgreSQL each test applies the script (twice: it must be safe to re-run) for a role of
its own, then works through a separate connection that has `SET ROLE` to it.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import NullPool

from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent, AuditHead
from referral_hub.core import keystore
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from tests import factories

SCRIPT = Path(__file__).resolve().parents[2] / "config" / "postgres" / "app_role.sql"
TRIGGER_REFUSAL = r"append-only|only moves forward"
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


@dataclass
class AppRole:
    """Who the test's database work runs as: a fresh restricted role, or (SQLite) the file's
    owner, for whom only the triggers stand."""

    name: str | None
    owner: Engine | None  # PostgreSQL: the owner's (here: the superuser's) autocommit engine

    @property
    def postgres(self) -> bool:
        return self.name is not None

    def refused(self, table: str) -> str:
        """What the database says when the app tries to rewrite `table`."""
        if self.postgres:
            return f"permission denied for table {table}"
        return TRIGGER_REFUSAL

    def apply_script(self) -> None:
        assert self.owner is not None
        assert self.name is not None
        psql = shutil.which("psql")
        assert psql, "psql (the PostgreSQL client) is needed to apply the script"
        url = self.owner.url.set(drivername="postgresql").render_as_string(hide_password=False)
        variables = ["-v", "ON_ERROR_STOP=1", "-v", f"app_role={self.name}"]
        result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [psql, url, "-X", "-q", *variables, "-f", str(SCRIPT)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "ERROR" not in result.stderr, result.stderr
        assert "WARNING" not in result.stderr, result.stderr


@pytest.fixture
def app_role(app: Flask, session: Any) -> Iterator[AppRole]:
    if session.get_bind().dialect.name != "postgresql":
        yield AppRole(name=None, owner=None)
        return
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    owner = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    # the key store makes its table on first use, which the role may not: the owner makes it
    # once (docs/security.md), before the script runs
    keystore.KeysBase.metadata.create_all(owner)
    role = AppRole(name=f"hub_app_test_{uuid.uuid4().hex[:12]}", owner=owner)
    connections = []
    try:
        role.apply_script()
        role.apply_script()
        restricted = create_engine(url, poolclass=NullPool)
        saved = dict(db.engines)
        engines = cast(dict[str | None, Any], db.engines)  # each engine swapped for a connection
        db.session.remove()
        for key in saved:
            connection = restricted.connect()
            connection.begin()
            connection.exec_driver_sql(f'SET ROLE "{role.name}"')
            connections.append(connection)
            engines[key] = connection
        try:
            yield role
        finally:
            db.session.remove()
            engines.update(saved)
            for connection in connections:
                connection.rollback()
                connection.close()
            restricted.dispose()
    finally:
        with owner.connect() as admin:
            admin.execute(text(f'DROP OWNED BY "{role.name}"'))
            admin.execute(text(f'DROP ROLE "{role.name}"'))
        owner.dispose()


def record_one() -> audit.Recorded:
    with transaction():
        return audit.record(SYSTEM, "hardening.checked", ("test", uuid.uuid4().hex))


def test_the_app_role_appends_and_reads_events(app_role: AppRole) -> None:
    if app_role.postgres:
        assert db.session.scalar(text("SELECT current_user")) == app_role.name
    start, _ = audit.head()
    event = record_one()
    assert event.seq == start + 1
    stored = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == event.seq))
    assert stored is not None
    assert stored.action == "hardening.checked"
    assert audit.head() == (event.seq, event.chain_hash)


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(action="hardening.hidden"),
        delete(AuditEvent),
        "TRUNCATE audit_event",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_app_role_may_not_rewrite_events(app_role: AppRole, statement: Any) -> None:
    """Refused by privileges on PostgreSQL — the trigger never gets to say no."""
    before = record_one()
    if isinstance(statement, str):
        # SQLite has no TRUNCATE: its nearest statement is a DELETE of everything
        statement = text(statement if app_role.postgres else "DELETE FROM audit_event")
    with pytest.raises(DatabaseError, match=app_role.refused("audit_event")), transaction() as s:
        s.execute(statement)
    kept = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == before.seq))
    assert kept is not None
    assert kept.action == "hardening.checked"


def test_the_head_moves_forward_one_event_at_a_time_only(app_role: AppRole) -> None:
    start, _ = audit.head()
    record_one()
    record_one()
    assert audit.head()[0] == start + 2
    # UPDATE is the role's (the head must move), so here the trigger is what refuses
    with pytest.raises(DatabaseError, match="only moves forward"), transaction() as s:
        s.execute(update(AuditHead).values(seq=AuditHead.seq + 2))
    with pytest.raises(DatabaseError, match="only moves forward"), transaction() as s:
        s.execute(update(AuditHead).values(seq=AuditHead.seq - 1))
    with pytest.raises(DatabaseError, match=app_role.refused("audit_head")), transaction() as s:
        s.execute(delete(AuditHead))
    assert audit.head()[0] == start + 2
    assert audit.verify_stored().ok


def test_audited_writes_and_reads_through_the_api_work_under_the_role(
    client: Any, app_role: AppRole, act_as: Any
) -> None:
    with transaction():
        shelter = factories.agency()
        service = factories.directory_service(shelter)
    start, _ = audit.head()

    act_as(Actor(ActorKind.USER, "provider-1", shelter.id, frozenset({"provider"})))
    put = client.put(f"/api/v1/services/{service.id}/capacity", json={"total": 6, "available": 4})
    assert put.status_code == 200, put.get_data(as_text=True)

    act_as(Actor(ActorKind.USER, "intake-1", shelter.id, frozenset({"intake"})))
    made = client.post(
        "/api/v1/clients", json={"profile": {"language": "en"}, "pii": {"contact": "x"}}
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    read = client.get(f"/api/v1/clients/{made.json['id']}")
    assert read.status_code == 200, read.get_data(as_text=True)

    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.seq > start).order_by(AuditEvent.seq)
        )
    )
    assert actions[0] == "capacity.updated"
    assert "client.created" in actions
    assert actions[-1] == "client.pii_viewed"
    assert audit.verify_stored().ok


def audit_tables(role: AppRole) -> list[str]:
    if role.postgres:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    names = db.session.scalars(text(query)).all()
    return sorted(name for name in names if name.startswith("audit_"))


def triggered_operations(role: AppRole, table: str) -> set[str]:
    """Which writes on `table` a trigger stands in front of, for every role alike."""
    if role.postgres:
        masks = db.session.scalars(
            text("SELECT tgtype FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass)"),
            {"t": table},
        ).all()
        bits = {"DELETE": 8, "UPDATE": 16, "TRUNCATE": 32}  # pg_trigger.tgtype flags
        return {name for name, bit in bits.items() if any(mask & bit for mask in masks)}
    sql = db.session.scalars(
        text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": table},
    ).all()
    return {op for op in ("UPDATE", "DELETE") if any(f"BEFORE {op}" in s.upper() for s in sql)}


def may(role: AppRole, table: str) -> set[str]:
    """What the role may do with `table`, by any path (asked on a fresh connection: a
    long-lived one may answer from a catalog cache that has not seen the latest grants)."""
    assert role.owner is not None
    with role.owner.connect() as fresh:
        return {
            privilege
            for privilege in PRIVILEGES
            if fresh.scalar(
                text("SELECT has_table_privilege(:r, CAST(:t AS regclass), :p)"),
                {"r": role.name, "t": table, "p": privilege},
            )
        }


def test_every_table_is_fenced_as_far_as_the_database_can(app_role: AppRole) -> None:
    """Triggers on every audit table, for every role; on PostgreSQL also the app role's
    privileges, on the tables there now and on those a later migration makes."""
    tables = audit_tables(app_role)
    assert {"audit_event", "audit_head"} <= set(tables)
    for table in tables:
        wanted = {"UPDATE", "DELETE"} | ({"TRUNCATE"} if app_role.postgres else set())
        assert wanted <= triggered_operations(app_role, table), table
    if app_role.postgres:
        for table in tables:
            expected = {"SELECT", "UPDATE"} if table == "audit_head" else {"SELECT", "INSERT"}
            assert may(app_role, table) == expected, table
        assert_the_role_owns_and_makes_nothing(app_role)
        assert_later_tables_are_covered(app_role)


def assert_the_role_owns_and_makes_nothing(role: AppRole) -> None:
    assert may(role, "referral") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert may(role, "client_key") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert may(role, "alembic_version") == {"SELECT"}
    owned = db.session.scalar(
        text(
            "SELECT count(*) FROM pg_shdepend WHERE deptype = 'o' AND refobjid = "
            "(SELECT oid FROM pg_roles WHERE rolname = :r)"
        ),
        {"r": role.name},
    )
    assert owned == 0
    with pytest.raises(DatabaseError, match="permission denied for schema"), transaction() as s:
        s.execute(text("CREATE TABLE hardening_probe (id int)"))


def assert_later_tables_are_covered(role: AppRole) -> None:
    """Made after the script: read and append at once; the rest when the script runs again,
    except on an audit table."""
    assert role.owner is not None
    suffix = uuid.uuid4().hex[:8]
    later, later_audit = f"later_{suffix}", f"audit_later_{suffix}"
    with role.owner.connect() as owner:
        for name in (later, later_audit):
            owner.execute(text(f'CREATE TABLE "{name}" (id int)'))
    try:
        assert may(role, later) == may(role, later_audit) == {"SELECT", "INSERT"}
        role.apply_script()
        assert may(role, later) == {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert may(role, later_audit) == {"SELECT", "INSERT"}
    finally:
        with role.owner.connect() as owner:
            for name in (later, later_audit):
                owner.execute(text(f'DROP TABLE "{name}"'))
