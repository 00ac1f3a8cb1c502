"""Coordinator reports: who may read them, and the record that they were read.

Reports span every agency (oversight is hub-wide) but carry no survivor data: ids,
agency names, statuses, counts and durations only. Each read is still an audit event,
since who looked at the network's performance, and when, is part of the oversight record.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, ValidationFailed
from referral_hub.core.pagination import decode_cursor, encode_cursor
from referral_hub.reports import handoffs, limbo, runaround

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
    """One page of the in-limbo queue, oldest bundle first."""
    may_read_reports(actor)
    items, next_position = limbo.in_limbo(clock.now(), limit, _position(cursor))
    client_ids = [item.pop("client_id") for item in items]
    runarounds = runaround.for_clients(client_ids)  # by her reference only: no survivor data
    for item, client_id in zip(items, client_ids, strict=True):
        item["runaround"] = runarounds.get(client_id)
    audit.record(
        actor,
        "report.viewed",
        ("report", "in_limbo"),
        details={"report": "in_limbo", "count": len(items), "runarounds": len(runarounds)},
    )
    next_cursor = encode_cursor(list(next_position)) if next_position else None
    return items, next_cursor


def client_runaround(actor: Actor, client_id: uuid.UUID) -> dict[str, Any]:
    """Her runaround for her own agency (another agency's client: 404, as if missing)."""
    client = clients.load_owned(actor, client_id)
    return runaround.for_client(actor, client.id, client.reference)


def _position(cursor: str | None) -> limbo.Position | None:
    if not cursor:
        return None
    values = decode_cursor(cursor)
    try:
        moment, bundle_id = values
        return datetime.fromisoformat(moment), uuid.UUID(bundle_id)
    except (TypeError, ValueError):
        raise ValidationFailed(errors={"cursor": ["Invalid cursor."]}) from None
