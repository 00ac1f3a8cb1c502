"""One source of "now" so deadlines and expiry can be tested with a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware UTC (or the frozen test time)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[Clock]:
    """Freeze `now()` at `moment` for the block; the yielded handle moves it forward."""
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs an aware datetime")
    previous = _frozen
    _frozen = moment.astimezone(UTC)
    try:
        yield Clock()
    finally:
        _frozen = previous


class Clock:
    """Handle on a frozen clock, for tests that walk time forward."""

    def advance(self, delta: timedelta) -> datetime:
        global _frozen
        if _frozen is None:
            raise RuntimeError("advance() only works inside frozen_at()")
        _frozen = _frozen + delta
        return _frozen


def isoformat(moment: datetime) -> str:
    """RFC 3339 UTC with a Z, microseconds kept: the one wire and hash format for times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
