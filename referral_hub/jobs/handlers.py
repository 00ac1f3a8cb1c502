"""Registry of outbox consumers by kind. Features register theirs at import time.

A consumer gets the outbox row (ids and statuses only in its payload) and must tolerate
running twice for the same row: delivery is at-least-once, and the outbox id travels
with every delivery so receivers can drop duplicates.
"""

from __future__ import annotations

from collections.abc import Callable

from referral_hub.jobs.models import OutboxMessage

Handler = Callable[[OutboxMessage], None]
_handlers: dict[str, Handler] = {}
_reads_only: set[str] = set()


class DeliveryFailed(Exception):
    """A consumer could not deliver; `reason` is safe to store (no PII, no remote body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:200]


def consumer(kind: str, *, reads_only: bool = False) -> Callable[[Handler], Handler]:
    """Register the consumer of `kind`. One that writes nothing to the database (not even
    its row's payload) says `reads_only`: it then runs without a savepoint around it."""

    def register(handler: Handler) -> Handler:
        if kind in _handlers and _handlers[kind] is not handler:
            raise RuntimeError(f"outbox kind {kind!r} already has a consumer")
        _handlers[kind] = handler
        if reads_only:
            _reads_only.add(kind)
        return handler

    return register


def reads_only(kind: str) -> bool:
    return kind in _reads_only


def get(kind: str) -> Handler:
    try:
        return _handlers[kind]
    except KeyError:
        raise RuntimeError(f"no consumer registered for outbox kind {kind!r}") from None


def known(kind: str) -> bool:
    return kind in _handlers
