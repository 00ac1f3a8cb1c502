"""Request ids: accepted from a trusted front proxy when well-formed, else made here."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_SAFE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_make(incoming: str | None) -> str:
    """Keep a caller's id only if it cannot smuggle anything into logs; otherwise a new one."""
    if incoming and _SAFE.match(incoming):
        return incoming
    return uuid.uuid4().hex
