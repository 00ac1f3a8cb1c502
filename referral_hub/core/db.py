"""Declarative base, shared column mixins and the one transaction boundary."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, Enum, ForeignKey, MetaData, TypeDecorator, Uuid, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    registry,
    scoped_session,
)

from referral_hub.core import clock

# Named constraints keep SQLite batch migrations and downgrades deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL (timestamptz) and SQLite (text) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use core.clock.now()")
        value = value.astimezone(UTC)
        # SQLite keeps the text as given; store it without offset so ordering stays lexical
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum: type[Any], name: str, length: int = 32) -> Enum:
    """A portable enum column: VARCHAR plus a named CHECK, the same on both databases."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [member.value for member in e],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Every model's base: one metadata with the naming convention, UTC datetimes by default."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), uuid.UUID: Uuid()},
    )


class UUIDPrimaryKey:
    """Random UUID ids: unguessable, and safe to show in URLs."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class AgencyOwned:
    """Rows that belong to one agency; tenant-scoped loaders filter on this column."""

    @declared_attr
    def agency_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)


def install_sqlite_pragmas(engine: Engine) -> None:
    """WAL, enforced foreign keys, a busy timeout, and BEGIN IMMEDIATE for every transaction.

    pysqlite's own implicit BEGIN is turned off so that SQLAlchemy's `begin` event issues
    `BEGIN IMMEDIATE`: the write lock is taken at the start, so a transaction never fails
    half-way trying to upgrade a read lock, and writers (the audit chain head) serialize.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        busy_ms = int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", 10_000))
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_unavailable(error: BaseException | None) -> bool:
    """Whether `error` means the database could not serve the request rather than a bug:
    it refused or dropped the connection, is shutting down or starting up, the pool is
    exhausted — or, also OperationalErrors, a deadlock, lock or statement timeout.

    The request's transaction is lost (unless only the COMMIT's acknowledgement was), and
    trying again is the remedy, so it is answered 503 with Retry-After, not 500. Follows
    explicit causes (`raise ... from`) and werkzeug's `original_exception`, never implicit
    context (an unrelated bug raised while handling one must stay a 500).
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(error, sa_exc.PendingRollbackError) and error.code == "8s2b":
            return True  # the connection was invalidated (dropped) inside this transaction
        error = error.__cause__ or getattr(error, "original_exception", None)
    return False


Callback = Callable[[], object]
# session.info keys that belong to one transaction: cleared when it starts and when it rolls
# back (features add their own, e.g. the audit events waiting to be chained)
TRANSIENT: set[str] = {"after_commit", "before_commit"}


def after_commit(session: Session | scoped_session[Any], callback: Callback) -> None:
    """Run `callback` once the surrounding transaction() has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


def before_commit(session: Session | scoped_session[Any], callback: Callback) -> None:
    """Run `callback` inside the transaction, just before it commits (once per registration)."""
    session.info.setdefault("before_commit", []).append(callback)


def after_rollback(session: Session | scoped_session[Any], callback: Callback) -> None:
    """Run `callback` in a fresh transaction if the surrounding one rolls back.

    For records that must survive the failure they describe: a denied access, a failed
    sign-in. The callback must not raise; if it does, the error is logged and the
    original failure still propagates.
    """
    session.info.setdefault("after_rollback", []).append(callback)


def current_session() -> scoped_session[Any]:
    """The app's session, found through the current app (Flask-SQLAlchemy registers itself
    there) so that core needs nothing from `referral_hub.extensions`, which sits above it."""
    session: scoped_session[Any] = current_app.extensions["sqlalchemy"].session
    return session


def current_engines() -> Mapping[str | None, Engine]:
    """The app's engines by bind key (None is the default database)."""
    engines: Mapping[str | None, Engine] = current_app.extensions["sqlalchemy"].engines
    return engines


@contextmanager
def transaction() -> Iterator[scoped_session[Any]]:
    """The unit of work: commit once at the end, roll back everything on any error.

    Services only flush. Requests and jobs wrap their whole work in this, so a change, its
    audit event and its outbox rows land together or not at all. Callbacks registered with
    `after_commit` (enqueueing jobs) run only after a successful commit.
    """
    session = current_session()
    for key in (*TRANSIENT, "after_rollback"):
        session.info.pop(key, None)
    try:
        yield session
        for callback in session.info.pop("before_commit", []):
            callback()
        session.commit()
    except BaseException:
        session.rollback()
        for key in TRANSIENT:
            session.info.pop(key, None)
        _run_after_rollback(session.info.pop("after_rollback", []))
        raise
    session.info.pop("after_rollback", None)
    for callback in session.info.pop("after_commit", []):
        callback()


def _run_after_rollback(callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            with transaction():
                callback()
        except Exception:
            logging.getLogger(__name__).exception("after-rollback record could not be written")
