"""FHIR search parameters read strictly: an unknown parameter is refused (400), never
ignored, and each known one becomes the filter the hub's own queries already take."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from flask import request

from referral_hub.core.actor import Actor
from referral_hub.core.errors import MalformedRequest
from referral_hub.directory.vocabulary import Category
from referral_hub.fhir import codes

COMMON = frozenset({"_count", "_cursor", "_format"})
HEALTHCARE_SERVICE = COMMON | {"category", "location.near"}
TASK = COMMON | {"owner", "requester", "status", "_lastUpdated"}
DEFAULT_COUNT = 50
MAX_COUNT = 200
PREFIXED = re.compile(r"^(gt|ge|lt|le|eq)?(\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?)$")


def _refuse(name: str, message: str) -> MalformedRequest:
    return MalformedRequest("A search parameter is not understood.", errors={name: [message]})


def parameters(known: frozenset[str]) -> dict[str, list[str]]:
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise MalformedRequest(
            "Unknown search parameter.",
            errors={name: ["Not supported here (see /fhir/metadata)."] for name in unknown},
        )
    if request.args.get("_format") not in (None, "json", "application/fhir+json"):
        raise _refuse("_format", "Only JSON is served.")
    return {name: request.args.getlist(name) for name in request.args}


def _values(raw: Iterable[str]) -> list[str]:
    """Repeated parameters AND, comma-separated values OR: both read as one list here."""
    return [value for item in raw for value in item.split(",") if value]


def count(params: dict[str, list[str]]) -> int:
    raw = params.get("_count", [str(DEFAULT_COUNT)])[-1]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise _refuse("_count", f"A whole number from 1 to {MAX_COUNT}.")
    return int(raw)


def cursor(params: dict[str, list[str]]) -> str | None:
    values = params.get("_cursor")
    return values[-1] if values else None


def categories(raw: list[str]) -> list[str]:
    """`category=[system|]code`: the hub's service categories."""
    wanted = []
    for value in _values(raw):
        system, _, code = value.rpartition("|")
        if system not in ("", codes.SERVICE_CATEGORY) or code not in {c.value for c in Category}:
            raise _refuse("category", f"Not a service category of this hub: {code[:40]}.")
        wanted.append(code)
    return wanted


def near(raw: list[str]) -> tuple[tuple[float, float] | None, float | None]:
    """`location.near=latitude|longitude|distance|km` (distance in km, default 25)."""
    if not raw:
        return None, None
    parts = raw[-1].split("|")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        radius = float(parts[2]) if len(parts) > 2 and parts[2] else 25.0
    except (ValueError, IndexError):
        raise _refuse("location.near", "latitude|longitude|distance|km") from None
    unit = parts[3] if len(parts) > 3 else "km"
    if unit != "km" or not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < radius <= 1000):
        raise _refuse("location.near", "latitude|longitude|distance|km, distance up to 1000")
    return (lat, lon), radius


def _agency(value: str, name: str) -> uuid.UUID:
    ident = value.rsplit("Organization/", 1)[-1]
    try:
        return uuid.UUID(ident)
    except ValueError:
        raise _refuse(name, "Organization/<agency id>.") from None


def box(actor: Actor, params: dict[str, list[str]]) -> str | None:
    """owner = the caller's agency: what it received; requester = the caller's agency: what
    it sent; neither: both. Another agency as owner or requester matches nothing of the
    caller's, so it is refused rather than answered with someone else's view."""
    owners = [_agency(v, "owner") for v in _values(params.get("owner", []))]
    requesters = [_agency(v, "requester") for v in _values(params.get("requester", []))]
    for name, agencies in (("owner", owners), ("requester", requesters)):
        if any(agency != actor.agency_id for agency in agencies):
            raise _refuse(name, "Search Tasks of your own agency.")
    if owners and requesters:
        raise _refuse("owner", "Use owner or requester, not both.")
    if owners:
        return "received"
    if requesters:
        return "sent"
    return None


def task_states(raw: list[str]) -> list[str]:
    """FHIR Task statuses -> the hub states that read as them."""
    wanted = _values(raw)
    known = {mapped.status for mapped in codes.TASK_STATUS.values()}
    for value in wanted:
        if value not in known:
            raise _refuse("status", f"Not a Task status this hub uses: {value[:40]}.")
    return [state.value for state, mapped in codes.TASK_STATUS.items() if mapped.status in wanted]


def last_updated(raw: list[str]) -> list[tuple[str, datetime]]:
    """`_lastUpdated=[gt|ge|lt|le|eq]instant` (repeatable: a range)."""
    bounds = []
    for value in raw:
        match = PREFIXED.match(value)
        if not match:
            raise _refuse("_lastUpdated", "[gt|ge|lt|le|eq]YYYY-MM-DD[Thh:mm:ss+zz:zz]")
        text = match.group(2).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _refuse("_lastUpdated", "Not a date.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        bounds.append((match.group(1) or "eq", moment))
    return bounds
