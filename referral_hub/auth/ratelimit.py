"""Fixed-window rate limits: in Redis when configured (shared by every process), else in
the database. Keys never hold personal data: account names are hashed first."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import delete

from referral_hub.auth.models import RateLimitCounter
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.core.errors import RateLimited
from referral_hub.extensions import db

log = logging.getLogger(__name__)


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
    """Counters in Redis; while Redis does not answer, counters in the database instead.

    A Redis outage must not fail every request: the hub then counts in the database (as
    in embedded mode) until Redis answers again. Counts made during the outage are not
    carried over, so limits are briefly looser, never stricter. One warning when Redis
    goes away and one line when it is back; meanwhile Redis is tried again at most every
    RETRY_SECONDS, so requests do not each wait for its socket timeout.
    """

    RETRY_SECONDS = 5.0

    def __init__(
        self, redis: Any, prefix: str = "referral_hub", fallback: Backend | None = None
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback: Backend = fallback or DatabaseBackend()
        self._retry_at = 0.0  # time.monotonic() before which Redis is not tried; 0: it answers
        self._lock = threading.Lock()

    def _key(self, key: str, window_seconds: int) -> tuple[str, int]:
        start, retry_after = _window_start(window_seconds)
        return f"{self.prefix}:rl:{key}:{int(start.timestamp())}", retry_after

    def clear(self) -> None:
        """Forget every counter under this prefix (tests; an operator after an incident)."""
        for name in self.redis.scan_iter(f"{self.prefix}:rl:*"):
            self.redis.delete(name)

    def _in_redis(self, call: Callable[[], Window]) -> Window | None:
        """`call()` against Redis, or None when Redis is away (now or a moment ago)."""
        from redis.exceptions import ConnectionError, TimeoutError

        if self._retry_at and time.monotonic() < self._retry_at:
            return None
        try:
            window = call()
        except (ConnectionError, TimeoutError) as error:
            with self._lock:
                first = not self._retry_at
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
            if first:
                log.warning(
                    "Redis does not answer (%s): rate limits are counted in the database "
                    "until it does",
                    type(error).__name__,
                )
            return None
        if self._retry_at:
            with self._lock:
                recovered, self._retry_at = bool(self._retry_at), 0.0
            if recovered:
                log.info("Redis answers again: rate limits are counted in Redis")
        return window

    def _hit_redis(self, key: str, window_seconds: int) -> Window:
        name, retry_after = self._key(key, window_seconds)
        pipe = self.redis.pipeline(transaction=False)  # one round trip, no MULTI/EXEC
        pipe.incr(name)
        pipe.expire(name, window_seconds + 5)
        count, _ = pipe.execute()
        return Window(int(count), retry_after)

    def _peek_redis(self, key: str, window_seconds: int) -> Window:
        name, retry_after = self._key(key, window_seconds)
        return Window(int(self.redis.get(name) or 0), retry_after)

    def hit_redis(self, key: str, window_seconds: int) -> Window | None:
        """Count in Redis only; None when Redis is away (the caller picks the fallback)."""
        return self._in_redis(lambda: self._hit_redis(key, window_seconds))

    def hit(self, key: str, window_seconds: int) -> Window:
        window = self.hit_redis(key, window_seconds)
        return window if window is not None else self.fallback.hit(key, window_seconds)

    def peek(self, key: str, window_seconds: int) -> Window:
        window = self._in_redis(lambda: self._peek_redis(key, window_seconds))
        return window if window is not None else self.fallback.peek(key, window_seconds)


class DatabaseBackend:
    """Counts in the current transaction (the caller decides when it commits)."""

    def hit(self, key: str, window_seconds: int) -> Window:
        start, retry_after = _window_start(window_seconds)
        row = db.session.get(RateLimitCounter, key, with_for_update=True)
        if row is None:  # first hit: concurrent first hits must not collide on the key
            _insert_if_missing(key, start)
            row = db.session.get(RateLimitCounter, key, with_for_update=True)
            if row is None:  # deleted between the two statements (purge_expired)
                raise RuntimeError("rate limit counter vanished; the request may be retried")
        if row.window_start != start:
            row.window_start, row.count = start, 0
        row.count += 1
        db.session.flush()
        return Window(row.count, retry_after)

    def peek(self, key: str, window_seconds: int) -> Window:
        start, retry_after = _window_start(window_seconds)
        row = db.session.get(RateLimitCounter, key)
        count = row.count if row is not None and row.window_start == start else 0
        return Window(count, retry_after)


def _insert_if_missing(key: str, start: datetime) -> None:
    """INSERT … ON CONFLICT DO NOTHING (PostgreSQL and SQLite alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = db.session.get_bind(RateLimitCounter).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(RateLimitCounter)
        .values(key=key, window_start=start, count=0)
        .on_conflict_do_nothing(index_elements=[RateLimitCounter.key])
    )


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


def hit_now(key: str, window_seconds: int) -> Window:
    """Count one hit that stays counted whatever the request does next.

    Redis counts at once; the database (embedded mode, or Redis away) counts in a short
    transaction of its own, so the counter row is not held locked for the whole request.
    """
    current = backend()
    if isinstance(current, RedisBackend):
        window = current.hit_redis(key, window_seconds)
        if window is not None:
            return window
        current = current.fallback
    with transaction():
        return current.hit(key, window_seconds)


def purge_expired() -> int:
    """Periodic: drop database counters whose window ended long ago."""
    cutoff = clock.now() - timedelta(hours=1)
    result = db.session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.window_start < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
