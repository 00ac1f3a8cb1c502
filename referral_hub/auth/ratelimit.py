"""Fixed-window rate limits: in Redis when configured (shared by every process), else in
the database. Keys never hold personal data: account names are hashed first."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from flask import Flask, current_app
from sqlalchemy import Table, bindparam, case, delete, select

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


# Windows are fixed and back to back, each starting a whole number of window lengths after
# this instant (seconds since the epoch); every process agrees on them. Tests move it to
# their own start, so that no window ends halfway through a test's few requests.
WINDOW_ORIGIN = 0


def _window_start(window_seconds: int) -> tuple[datetime, int]:
    now = clock.now().timestamp()
    start = WINDOW_ORIGIN + int((now - WINDOW_ORIGIN) // window_seconds) * window_seconds
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
        """One statement: insert the key's counter, or count on (a new window restarts it).

        The upsert takes the row lock itself, so concurrent hits on a key serialise and
        none is lost, and there is no read-then-write gap for a purge to fall into.
        """
        start, retry_after = _window_start(window_seconds)
        dialect = db.session.get_bind(RateLimitCounter).dialect.name
        count = db.session.execute(_count_on(dialect), {"key": key, "start": start}).scalar_one()
        return Window(count, retry_after)

    def peek(self, key: str, window_seconds: int) -> Window:
        start, retry_after = _window_start(window_seconds)
        row = db.session.execute(
            select(RateLimitCounter.count.label("used"), RateLimitCounter.window_start).where(
                RateLimitCounter.key == key
            )
        ).one_or_none()
        used = row.used if row is not None and row.window_start == start else 0
        return Window(used, retry_after)


@functools.cache
def _count_on(dialect: str) -> Any:
    """The counting upsert, built once per dialect (building it costs more than running it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = cast(Table, RateLimitCounter.__table__)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).values(
        key=bindparam("key"), window_start=bindparam("start"), count=1
    )
    same_window = table.c.window_start == insert.excluded.window_start
    return insert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((same_window, table.c.count + 1), else_=1),
            "window_start": insert.excluded.window_start,
        },
    ).returning(table.c.count)


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
