"""The key store: each client's data key, wrapped by a master key, kept apart from her data.

It lives in its own database (KEYSTORE_DATABASE_URI; a separate file in embedded mode), so
a backup of the main database holds sealed fields but never the keys that open them.
Erasing a client deletes her key here: every copy of her PII anywhere — rows, exports,
old backups of the main database — stops opening at once. Back the key store up on its
own, with a retention no longer than the erasure promise.

Writes here commit on their own (like a call to an outside key service): a key is stored
before the record that uses it, and destroyed only after the erasure has committed.
"""

from __future__ import annotations

import uuid
import weakref
from datetime import datetime

from flask import g, has_request_context
from sqlalchemy import LargeBinary, MetaData, String, Uuid, delete, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import UTCDateTime, current_engines

BIND = "keys"


class KeysBase(DeclarativeBase):
    metadata = MetaData(info={"bind_key": BIND})


class ClientKey(KeysBase):
    __tablename__ = "client_key"

    client_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def forget_prepared(bind: object) -> None:
    """Check for the table again on next use (after it was dropped, as tests do)."""
    if isinstance(bind, Engine):
        _ready.discard(bind)


def _prepare(bind: Engine | Connection) -> None:
    """Create the one table where missing. Every web process does this on first use, so
    two may try at once: the loser's error is fine as long as the table is there now."""
    try:
        KeysBase.metadata.create_all(bind)
    except DBAPIError:
        if isinstance(bind, Connection) or not inspect(bind).has_table(ClientKey.__tablename__):
            raise


def _session(one_statement: bool = False) -> Session:
    """A session of its own on the key store, its one table created where missing.

    `one_statement`: the work is a single statement, so on PostgreSQL it runs in autocommit,
    atomic all the same, without a BEGIN and a COMMIT (or ROLLBACK) round trip around it.
    """
    bind = current_engines()[BIND]
    if not isinstance(bind, Engine) or bind not in _ready:  # a test's connection: check each time
        _prepare(bind)
        if isinstance(bind, Engine):
            _ready.add(bind)
    session = Session(bind=bind, join_transaction_mode="create_savepoint")
    if one_statement and isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


def _note_use(client_id: uuid.UUID) -> None:
    """Remember, for this request, whose data key it touched: whatever it answers may hold
    her data, so a stored copy of the answer is sealed under her key (`core.idempotency`)."""
    if has_request_context():
        used: list[uuid.UUID] = g.setdefault("data_key_clients", [])
        if client_id not in used:
            used.append(client_id)


def used_in_request() -> list[uuid.UUID]:
    """The clients whose data keys this request touched, in order."""
    return list(g.get("data_key_clients", [])) if has_request_context() else []


def put(client_id: uuid.UUID, wrapped_key: bytes, kek_id: str) -> None:
    _note_use(client_id)
    with _session(one_statement=True) as session:
        session.add(ClientKey(client_id=client_id, wrapped_key=wrapped_key, kek_id=kek_id))
        session.commit()


def get(client_id: uuid.UUID) -> tuple[bytes, str] | None:
    _note_use(client_id)
    with _session(one_statement=True) as session:
        row = session.get(ClientKey, client_id)
        return (row.wrapped_key, row.kek_id) if row is not None else None


def destroy(client_ids: list[uuid.UUID]) -> int:
    with _session() as session, session.begin():
        result = session.execute(delete(ClientKey).where(ClientKey.client_id.in_(client_ids)))
        return int(getattr(result, "rowcount", 0) or 0)


def count_with(kek_id: str) -> int:
    from sqlalchemy import func

    with _session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(ClientKey).where(ClientKey.kek_id == kek_id)
            )
            or 0
        )


def rewrap_batch(newest_id: str, batch: int, rewrap: object) -> int:
    """Re-wrap up to `batch` keys not under `newest_id`; each batch commits (resumable)."""
    with _session() as session, session.begin():
        rows = session.scalars(
            select(ClientKey)
            .where(ClientKey.kek_id != newest_id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.wrapped_key, row.kek_id = rewrap(row.wrapped_key, row.kek_id)  # type: ignore[operator]
            row.rewrapped_at = clock.now()
        return len(rows)
