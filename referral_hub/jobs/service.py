"""Outbox: add rows in the business transaction; hand them to the queue after commit;
deliver each at least once, exactly once per successful delivery; sweep up leftovers."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import bindparam, delete, exists, func, or_, select
from sqlalchemy.orm import aliased

from referral_hub.core import clock
from referral_hub.core.db import UTCDateTime, after_commit, transaction
from referral_hub.core.nopii import assert_no_pii
from referral_hub.extensions import db
from referral_hub.jobs import handlers
from referral_hub.jobs.models import OutboxMessage, OutboxStatus
from referral_hub.jobs.runtime import app_job

if TYPE_CHECKING:  # the queues call back into this module to deliver
    from referral_hub.jobs.queue import JobQueue

log = logging.getLogger(__name__)


def queue() -> JobQueue:
    return current_app.extensions["hub_queue"]  # type: ignore[no-any-return]


def add(kind: str, payload: dict[str, Any], *, target: str | None = None) -> OutboxMessage:
    """Write an outbox row in the current transaction; it is queued only if that commits."""
    if not handlers.known(kind):
        raise ValueError(f"no consumer registered for outbox kind {kind!r}")
    assert_no_pii(payload, where=f"outbox payload ({kind})")
    message = OutboxMessage(id=uuid.uuid4(), kind=kind, payload=payload, target=target)
    db.session.add(message)
    db.session.flush()
    message_id = str(message.id)
    after_commit(db.session, lambda: dispatch([message_id]))
    return message


def dispatch(outbox_ids: list[str]) -> None:
    """After commit: hand ids to the queue. If it is away, the sweeper tries again later."""
    target = queue()
    for outbox_id in outbox_ids:
        try:
            target.enqueue_delivery(outbox_id)
        except Exception as exc:  # Redis down must not fail a request that already committed
            log.warning(
                "outbox %s not queued (%s); the sweeper will retry", outbox_id, type(exc).__name__
            )


def backoff(attempts: int) -> timedelta:
    config = current_app.config
    seconds = min(
        config["OUTBOX_BACKOFF_BASE_SECONDS"] * 2 ** max(attempts - 1, 0),
        config["OUTBOX_BACKOFF_MAX_SECONDS"],
    )
    return timedelta(seconds=seconds)


@app_job
def deliver(outbox_id: str) -> str:
    """The job: deliver one row unless it is done, not yet due, or being delivered elsewhere."""
    with transaction() as session:
        message = session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.id == uuid.UUID(outbox_id))
            .with_for_update(skip_locked=True)
        )
        if message is None:
            return "missing_or_busy"
        if message.status != OutboxStatus.PENDING:
            return "already_" + message.status.value
        if message.available_at > clock.now():
            return "not_due"
        return _attempt(session, message)


def deliver_due(limit: int = 100) -> int:
    """Drain: deliver due rows, oldest first, each in its own transaction holding its row
    locked (so two workers never send the same row, and a worker that dies mid-delivery
    lets go of it at once). Returns how many rows were attempted; fewer than `limit` means
    none is due any more. Rows that fail get their backoff and wait until due again.

    The statement that takes a row also says whether another is due, so a drain that has
    emptied the outbox stops without one more round of BEGIN, SELECT, COMMIT."""
    attempted = 0
    while attempted < limit:
        with transaction() as session:
            taken = session.execute(_next_due).first()
            if taken is None:
                return attempted
            message, more = taken
            _attempt(session, message)
        attempted += 1
        if not more:
            break
    return attempted


_now = bindparam("now", type_=UTCDateTime(), callable_=clock.now)
_other = aliased(OutboxMessage)
# the oldest due row nobody is delivering (the due index serves it), and whether any other
# row is due (one being delivered elsewhere counts too: then one more look finds nothing)
_next_due = (
    select(
        OutboxMessage,
        exists()
        .where(_other.status == OutboxStatus.PENDING, _other.available_at <= _now)
        .where(_other.id != OutboxMessage.id)
        .label("more"),
    )
    .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= _now)
    .order_by(OutboxMessage.available_at)
    .limit(1)
    .with_for_update(skip_locked=True, of=OutboxMessage)
)


def _attempt(session: Any, message: OutboxMessage) -> str:
    """One delivery attempt of a row this transaction holds locked; its outcome is written
    with it (one UPDATE per attempt)."""
    outbox_id = str(message.id)
    now = clock.now()
    attempt = message.attempts + 1
    handler = handlers.get(message.kind)
    try:
        if handlers.reads_only(message.kind):  # nothing of its own to undo: no savepoint
            handler(message)
        else:
            with session.begin_nested():  # a consumer's own writes vanish if it fails
                handler(message)
    except Exception as exc:
        message.attempts = attempt
        reason = exc.reason if isinstance(exc, handlers.DeliveryFailed) else type(exc).__name__
        message.last_error = reason
        if message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
            message.status = OutboxStatus.DEAD
            # no traceback: a consumer's exception may quote her data; the reason is its type
            log.error("outbox %s dead after %s attempts", outbox_id, message.attempts)  # noqa: TRY400
        else:
            message.available_at = now + backoff(message.attempts)
            log.warning("outbox %s attempt %s failed (%s)", outbox_id, message.attempts, reason)
        return "failed"
    message.attempts = attempt
    message.status = OutboxStatus.DELIVERED
    message.delivered_at = now
    message.last_error = None
    return "delivered"


def sweep(limit: int = 500) -> int:
    """Periodic: re-queue pending rows that are due and were not handed over recently."""
    now = clock.now()
    grace = timedelta(seconds=current_app.config["OUTBOX_REQUEUE_AFTER_SECONDS"])
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.available_at <= now,
            or_(
                OutboxMessage.enqueued_at.is_(None),
                OutboxMessage.enqueued_at <= now - grace,
                OutboxMessage.enqueued_at < OutboxMessage.available_at,
            ),
        )
        .order_by(OutboxMessage.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    ids = []
    for row in rows:
        row.enqueued_at = now
        ids.append(str(row.id))
    if ids:
        after_commit(db.session, lambda: dispatch(ids))
    return len(ids)


def purge_delivered(batch: int = 5000) -> int:
    """Periodic: delivered rows older than OUTBOX_RETENTION_DAYS go (dead rows stay until an
    admin has seen them; pending rows are still work). Batched to keep transactions short."""
    cutoff = clock.now() - timedelta(days=current_app.config["OUTBOX_RETENTION_DAYS"])
    ids = db.session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.DELIVERED,
            OutboxMessage.delivered_at < cutoff,
        )
        .limit(batch)
    ).all()
    if ids:
        db.session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    return len(ids)


def counts() -> dict[str, int]:
    """Rows per status, for /readyz details and metrics."""
    result = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {str(status): int(count) for status, count in result}
