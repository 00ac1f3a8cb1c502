"""Recording audit events in the caller's transaction, and reading the chain back.

`record()` runs inside a service: it checks and prepares the event, and the transaction
appends every prepared event just before it commits — taking the head (row lock on
PostgreSQL, inside the database function `audit_append`, which also hashes; SQLite
transactions already hold the write lock from BEGIN IMMEDIATE), chaining the events in
order and moving the head. So there is no change without its
event, no event without its change, and no gap in `seq` — and the head is held for a few
inserts, not for the whole transaction, so writers queue for microseconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import g, has_request_context
from sqlalchemy import Table, bindparam, insert, select, update

from referral_hub.audit.chain import (
    GENESIS,
    Verification,
    chain_hash,
    hashed_parts,
    leaf_hash,
    verify,
)
from referral_hub.audit.models import AuditEvent, AuditHead, event_document
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.db import TRANSIENT, before_commit
from referral_hub.core.nopii import assert_no_pii
from referral_hub.extensions import db

HEAD_ID = 1
TRANSIENT.add("audit_pending")
_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
OUTCOMES = frozenset({"success", "denied", "failure"})

Subject = tuple[str, "uuid.UUID | str"] | Any


def _subject_parts(subject: Subject | None) -> tuple[str | None, str | None]:
    if subject is None:
        return None, None
    if isinstance(subject, tuple):
        kind, ident = subject
        return kind, str(ident)
    return str(subject.__tablename__), str(subject.id)


# built once: the append runs in every writing transaction
_LOCK_HEAD = (
    select(AuditHead.seq, AuditHead.chain_hash).where(AuditHead.id == HEAD_ID).with_for_update()
)
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_INSERT_EVENTS = insert(_EVENTS)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), chain_hash=bindparam("new_chain"))
)
_EVENT_COLUMNS = tuple(column.key for column in _EVENTS.columns)
# PostgreSQL: one call per event — `audit_append` (a migration creates it) locks the head,
# hashes the event's canonical bytes with the `prev` and `seq` it read there spliced in,
# inserts the event those bytes describe and moves the head
# marked as a write (`core.lazy_begin.WRITES`): in a GET that has only read so far the call
# must open the request's transaction, not run in autocommit beside it
_APPEND_IN_DATABASE = (
    "SELECT new_seq, new_prev, new_leaf, new_chain FROM audit_append(%s, %s, %s) /* writes */"
)


@dataclass(slots=True)
class Recorded:
    """An event as `record` took it; `seq` and the hashes are set when it is appended.

    A plain object, not a mapped `AuditEvent`: the append inserts with plain statements,
    and building a mapped instance (instrumented attributes, its state) for nothing cost
    about as much as hashing the event.
    """

    event_id: uuid.UUID
    at: datetime
    actor_type: str
    actor_id: str | None
    actor_agency_id: uuid.UUID | None
    actor_roles: list[str]
    action: str
    outcome: str
    subject_type: str | None
    subject_id: str | None
    client_reference: str | None
    request_id: str | None
    fields: list[str]
    consent_id: uuid.UUID | None
    details: dict[str, Any]
    seq: int = 0
    prev_hash: str = ""
    leaf_hash: str = ""
    chain_hash: str = ""

    def document(self) -> dict[str, Any]:
        """The event as hashed and exported (the same document a stored event gives)."""
        return event_document(self)


def record(
    actor: Actor,
    action: str,
    subject: Subject | None = None,
    *,
    outcome: str = "success",
    client_reference: str | None = None,
    fields: Sequence[str] = (),
    consent_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> Recorded:
    """Append one event to the chain, in the current transaction. Never commits."""
    if not _ACTION.match(action):
        raise ValueError(
            f"audit action {action!r} must be dotted lower-case, e.g. referral.accepted"
        )
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {sorted(OUTCOMES)}")
    details = dict(details or {})
    assert_no_pii(details, where="audit details")
    subject_type, subject_id = _subject_parts(subject)
    event = Recorded(
        event_id=uuid.uuid4(),
        at=clock.now(),
        actor_type=str(actor.kind),
        actor_id=actor.id,
        actor_agency_id=actor.agency_id,
        actor_roles=sorted(actor.roles),
        action=action,
        outcome=outcome,
        subject_type=subject_type,
        subject_id=subject_id,
        client_reference=client_reference,
        request_id=g.get("request_id") if has_request_context() else None,
        fields=sorted(set(fields)),
        consent_id=consent_id,
        details=details,
    )
    pending = db.session.info.setdefault("audit_pending", [])
    if not pending:
        before_commit(db.session, _append_pending)
    pending.append(event)
    return event


def _append_pending() -> None:
    """Chain this transaction's events onto the head, in the order they were recorded.

    Plain statements, not the unit of work. PostgreSQL: one `audit_append` call per event
    (it locks the head, hashes with the `prev` and `seq` it found there, inserts the event
    and moves the head). SQLite: one locking read, the events hashed here, a multi-row
    insert, and the head moved past each (its trigger lets `seq` advance by exactly one).
    """
    events: list[Recorded] = db.session.info.pop("audit_pending", [])
    if not events:
        return
    db.session.flush()  # the changes being recorded are written before their events
    connection = db.session.connection()  # Core statements: no unit-of-work bookkeeping
    if connection.dialect.name == "postgresql":
        for event in events:
            parts = hashed_parts(event.document())
            appended = connection.exec_driver_sql(_APPEND_IN_DATABASE, parts).one()
            event.seq, event.prev_hash, event.leaf_hash, event.chain_hash = appended
        return
    locked = connection.execute(_LOCK_HEAD).first()
    if locked is None:
        raise RuntimeError("audit head row missing: run `flask db upgrade`")
    seq, chain = locked
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, chain
        event.leaf_hash = leaf_hash(event.document())
        event.chain_hash = chain = chain_hash(event.prev_hash, event.leaf_hash)
    rows = [{key: getattr(event, key) for key in _EVENT_COLUMNS} for event in events]
    connection.execute(_INSERT_EVENTS, rows)
    for row in rows:
        connection.execute(_MOVE_HEAD, {"new_seq": row["seq"], "new_chain": row["chain_hash"]})


def head() -> tuple[int, str]:
    current = db.session.execute(
        select(AuditHead.seq, AuditHead.chain_hash).where(AuditHead.id == HEAD_ID)
    ).first()
    return (current.seq, current.chain_hash) if current else (0, GENESIS)


def iter_documents(after_seq: int = 0, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every event after `after_seq` in order, in batches (keeps memory flat).

    Plain rows, not model objects: an export or a check reads every event once and keeps
    none, and building a million tracked objects to throw away was most of their cost.
    """
    last = after_seq
    while True:
        rows = db.session.execute(
            select(_EVENTS).where(_EVENTS.c.seq > last).order_by(_EVENTS.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        last = rows[-1].seq
        for row in rows:
            yield event_document(row)


def verify_stored() -> Verification:
    """Verify the whole stored chain against the head row."""
    head_seq, head_chain = head()
    anchors = {head_seq: head_chain} if head_seq else {}
    return verify(iter_documents(), anchors=anchors)
