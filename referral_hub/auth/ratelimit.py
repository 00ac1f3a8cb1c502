"""Fixed-window rate limits: in Redis when configured (shared by every process), else in
the database. Keys never hold personal data: account names are hashed first."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import delete

from referral_hub.auth.models import RateLimitCounter
from referral_hub.core import clock
from referral_hub.core.errors import RateLimited
from referral_hub.extensions import db


@dataclass(frozen=True)
class Window:
    count: int
    retry_after: int  # seconds until this window ends


class Backend(Protocol):
    def hit(self, key: str, window_seconds: int) -> Window: ...

    def peek(self, key: str, window_seconds: int) -> Window: ...


def _window_start(window_seconds: int) -> tuple[datetime, int]:
    now = clock.now().timestamp()
    start = int(now // window_seconds) * window_seconds
    return datetime.fromtimestamp(start, UTC), max(1, int(start + window_seconds - now))


class RedisBackend:
    def __init__(self, redis: Any, prefix: str = "referral_hub") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, key: str, window_seconds: int) -> tuple[str, int]:
        start, retry_after = _window_start(window_seconds)
        return f"{self.prefix}:rl:{key}:{int(start.timestamp())}", retry_after

    def clear(self) -> None:
        """Forget every counter under this prefix (tests; an operator after an incident)."""
        for name in self.redis.scan_iter(f"{self.prefix}:rl:*"):
            self.redis.delete(name)

    def hit(self, key: str, window_seconds: int) -> Window:
        name, retry_after = self._key(key, window_seconds)
        pipe = self.redis.pipeline(transaction=False)  # one round trip, no MULTI/EXEC
        pipe.incr(name)
        pipe.expire(name, window_seconds + 5)
        count, _ = pipe.execute()
        return Window(int(count), retry_after)

    def peek(self, key: str, window_seconds: int) -> Window:
        name, retry_after = self._key(key, window_seconds)
        return Window(int(self.redis.get(name) or 0), retry_after)


class DatabaseBackend:
    """Counts in the current transaction (the caller decides when it commits)."""

    def hit(self, key: str, window_seconds: int) -> Window:
        start, retry_after = _window_start(window_seconds)
        row = db.session.get(RateLimitCounter, key, with_for_update=True)
        if row is None:
            row = RateLimitCounter(key=key, window_start=start, count=0)
            db.session.add(row)
        elif row.window_start != start:
            row.window_start, row.count = start, 0
        row.count += 1
        db.session.flush()
        return Window(row.count, retry_after)

    def peek(self, key: str, window_seconds: int) -> Window:
        start, retry_after = _window_start(window_seconds)
        row = db.session.get(RateLimitCounter, key)
        count = row.count if row is not None and row.window_start == start else 0
        return Window(count, retry_after)


def build_backend(app: Flask) -> Backend:
    """Chosen once, with the app: Redis when jobs go through rq (every process shares the
    counters), else the database."""
    queue = app.extensions["hub_queue"]
    if getattr(queue, "name", "") == "rq":
        return RedisBackend(queue.redis, app.config["REDIS_KEY_PREFIX"])
    return DatabaseBackend()


def backend() -> Backend:
    return current_app.extensions["hub_rate_limits"]  # type: ignore[no-any-return]


def hashed(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def refuse_if_exhausted(keys: list[str], limit: int, window_seconds: int, what: str) -> None:
    """429 with Retry-After if any key already used up its allowance in this window."""
    for key in keys:
        window = backend().peek(key, window_seconds)
        if window.count >= limit:
            raise RateLimited(
                f"Too many {what}; try again in {window.retry_after} seconds.",
                headers={"Retry-After": str(window.retry_after)},
            )


def count(keys: list[str], window_seconds: int) -> None:
    for key in keys:
        backend().hit(key, window_seconds)


def purge_expired() -> int:
    """Periodic: drop database counters whose window ended long ago."""
    cutoff = clock.now() - timedelta(hours=1)
    result = db.session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.window_start < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
