"""Coordinator reports: who may read them, and the record that they were read.

Reports span every agency (oversight is hub-wide) but carry no survivor data: ids,
agency names, statuses, counts and durations only. Each read is still an audit event,
since who looked at the network's performance, and when, is part of the oversight record.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, ValidationFailed
from referral_hub.core.pagination import decode_cursor, encode_cursor
from referral_hub.reports import handoffs, limbo

REPORT_SCOPE = "audit:read"


def may_read_reports(actor: Actor) -> None:
    """Coordinators, agency systems a hub administrator gave `audit:read`, and the hub."""
    if actor.kind == ActorKind.SYSTEM:
        return
    if actor.kind == ActorKind.CLIENT and REPORT_SCOPE in actor.scopes:
        return
    if actor.kind == ActorKind.USER and actor.has_role("coordinator"):
        return
    raise Forbidden("Reports are for coordinators.")


def handoff_report(
    actor: Actor, *, first_day: date, last_day: date, export_format: str = "json"
) -> dict[str, Any]:
    """The handoff figures for the referrals sent from `first_day` to `last_day` (UTC)."""
    may_read_reports(actor)
    figures = handoffs.figures(handoffs.Period(first_day, last_day), clock.now())
    audit.record(
        actor,
        "report.viewed",
        ("report", "handoffs"),
        details={
            "report": "handoffs",
            "from": first_day.isoformat(),
            "to": last_day.isoformat(),
            "format": export_format,
        },
    )
    return figures


def in_limbo_report(
    actor: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the in-limbo queue, urgent first (`priority`)."""
    may_read_reports(actor)
    offset = _offset(cursor)
    items, more = limbo.in_limbo(clock.now(), limit, offset)
    audit.record(
        actor,
        "report.viewed",
        ("report", "in_limbo"),
        details={"report": "in_limbo", "count": len(items)},
    )
    next_cursor = encode_cursor([offset + len(items)]) if more else None
    return items, next_cursor


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    values = decode_cursor(cursor)
    if len(values) != 1 or not isinstance(values[0], str) or not values[0].isdigit():
        raise ValidationFailed(errors={"cursor": ["Invalid cursor."]})
    return int(values[0])
