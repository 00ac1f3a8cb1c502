"""The intake worker's plan: services picked while searching, by need, before a client exists.

Kept in the (server-side) session so it follows the worker from search to client to
consent to bundle, with no survivor data in it — only service ids and their categories,
and the search's non-identifying facts about her (age, gender, language), so New client
starts from them instead of asking again. At most `PER_NEED` services per need.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from flask import session

PER_NEED = 3
KEY = "plan"
WHO = "plan_who"
AGE_RANGES = ((12, "under_12"), (18, "12_17"), (25, "18_24"), (40, "25_39"), (60, "40_59"))
GENDERS = ("female", "male", "nonbinary", "transgender")


def work_after(ended: dict[str, Any] | None, user_id: str) -> dict[str, Any]:
    """The plan a session that ran out held, for the same person signing in again (the
    session layer keeps it; this says which of it is the plan); nothing for anyone else."""
    if not ended or ended.get("user_id") != user_id:
        return {}
    work = ended.get("work") or {}
    return {key: work[key] for key in (KEY, WHO) if key in work}


def remember_search(query: str) -> None:
    """Keep what the search said about her (nothing identifying) for New client."""
    asked = {key: values[-1].strip() for key, values in parse_qs(query.lstrip("?")).items()}
    who: dict[str, str] = {}
    age = asked.get("age", "")
    if age.isdigit() and int(age) <= 120:
        who["profile.age_range"] = next(
            (label for below, label in AGE_RANGES if int(age) < below), "60_plus"
        )
    if asked.get("gender") in GENDERS:
        who["profile.gender"] = asked["gender"]
    language = asked.get("language", "")
    if language and len(language) <= 35:
        who["profile.language"] = language
    if who:
        session[WHO] = who


def profile_defaults() -> dict[str, str]:
    """New client's fields as the search left them (empty when there was no search)."""
    return dict(session.get(WHO) or {})


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
    session.pop(WHO, None)
