"""Checked bearer tokens remembered per process for a few seconds, so that an agency
system's burst of calls reads its token once instead of once per call.

The bound, stated and tested (tests/auth/test_oauth.py): a token revoked — or its client or
agency suspended — by another process still passes in this one for at most
`BEARER_CACHE_SECONDS` after that change commits; in the process that made the change, not
at all after its commit (the change empties the cache, `oauth.forget_checked_bearers`).
Expiry is not cached: the remembered expiry is checked against the clock on every call.
Tenancy and consent are never here: they are checked in the domain layer on every request.
`BEARER_CACHE_SECONDS = 0` turns the memory off.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from referral_hub.core import clock

View = TypeVar("View")
# a process never holds more than this many tokens (a flood of distinct tokens empties it)
MOST_TOKENS = 10_000


class BearerCache(Generic[View]):
    """Token hash → what its row said, until `seconds` have passed. An entry ends when
    either the monotonic time or the hub's clock (which tests move) says it is too old."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._views: dict[str, tuple[float, datetime, View]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> View | None:
        entry = self._views.get(token_hash)
        if entry is None:
            return None
        until, until_clock, view = entry
        if time.monotonic() >= until or clock.now() >= until_clock:
            self._views.pop(token_hash, None)
            return None
        return view

    def put(self, token_hash: str, view: View) -> None:
        if self.seconds <= 0:
            return
        until = time.monotonic() + self.seconds
        until_clock = clock.now() + timedelta(seconds=self.seconds)
        with self._lock:
            if len(self._views) >= MOST_TOKENS:
                self._views.clear()
            self._views[token_hash] = (until, until_clock, view)

    def clear(self) -> None:
        with self._lock:
            self._views.clear()
