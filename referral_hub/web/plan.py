"""The intake worker's plan: services picked while searching, by need, before a client exists.

Kept in the (server-side) session so it follows the worker from search to client to
consent to bundle, with no survivor data in it — only service ids and their categories.
At most `PER_NEED` services per need, as a bundle allows.
"""

from __future__ import annotations

from flask import session

PER_NEED = 3
KEY = "plan"


def needs() -> dict[str, list[str]]:
    """category → service ids (as strings), in the order they were picked."""
    raw = session.get(KEY) or {}
    return {category: list(ids) for category, ids in raw.items() if ids}


def add(category: str, service_id: str) -> bool:
    """Pick a service for a need; False when that need already has `PER_NEED`."""
    current = needs()
    picked = current.setdefault(category, [])
    if service_id in picked:
        return True
    if len(picked) >= PER_NEED:
        return False
    picked.append(service_id)
    session[KEY] = current
    return True


def remove(service_id: str) -> None:
    session[KEY] = {c: [s for s in ids if s != service_id] for c, ids in needs().items()}


def service_ids() -> list[str]:
    return [service for ids in needs().values() for service in ids]


def clear() -> None:
    session.pop(KEY, None)
