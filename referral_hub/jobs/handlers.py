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


class DeliveryFailed(Exception):
    """A consumer could not deliver; `reason` is safe to store (no PII, no remote body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:200]


def consumer(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if kind in _handlers and _handlers[kind] is not handler:
            raise RuntimeError(f"outbox kind {kind!r} already has a consumer")
        _handlers[kind] = handler
        return handler

    return register


def get(kind: str) -> Handler:
    try:
        return _handlers[kind]
    except KeyError:
        raise RuntimeError(f"no consumer registered for outbox kind {kind!r}") from None


def known(kind: str) -> bool:
    return kind in _handlers
