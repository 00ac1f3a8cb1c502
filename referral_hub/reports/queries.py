"""Coordinator reports: who may read them, the reads themselves, and the record that they
were read.

Reports span every agency (oversight is hub-wide) but carry no survivor data: ids,
agency names, statuses, counts and durations only. Each read is still an audit event,
since who looked at the network's performance, and when, is part of the oversight record.

This is the reports' read home: the handoff report, the in-limbo queue in each of its
shapes (bundle items for the API, rows for the API's row view, rows with what may be
asked of each side for the coordinators' page), her runaround for her own agency. The SQL
behind them lives by topic (`handoffs`, `limbo`, `limbo_bundles`, `runaround`); the
dashboard's charts (`series`), the audit page (`audit_page`) and disclosure accounting
(`disclosures`) are reads of their own that check the role through `may_read_reports`.
The reports' one write, the nudges, is `nudges`.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from flask import current_app

from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, ValidationFailed
from referral_hub.core.pagination import decode_cursor, encode_cursor
from referral_hub.reports import handoffs, limbo, limbo_bundles, nudges, runaround

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
    """One page of the in-limbo queue as bundle items, most urgent first (`priority`)."""
    return _in_limbo(actor, limit, cursor, "bundles")


def in_limbo_rows(
    actor: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the in-limbo queue as its stuck referrals, most urgent first."""
    return _in_limbo(actor, limit, cursor, "referrals")


def limbo_queue(actor: Actor, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """The in-limbo queue as the coordinators' page shows it: each row with what may be
    asked of each side now (`nudges.owed`) and when that side may next be nudged. No
    survivor data: her reference, names, numbers for referrers, states and times."""
    items, next_cursor = in_limbo_rows(actor, limit=limit, cursor=cursor)
    interval = timedelta(minutes=current_app.config["LIMBO_NUDGE_MINUTES"])
    now = clock.now()
    for item in items:
        item["asks"] = {}
        for side in nudges.SIDES:
            what = nudges.owed(item["status"], side)
            if what is None:
                continue
            last = item["last_nudged"][side]
            again = last + interval if last is not None and now < last + interval else None
            item["asks"][side] = {"what": what, "last": last, "again_at": again}
    return {"items": items, "next_cursor": next_cursor}


def _in_limbo(
    actor: Actor, limit: int, cursor: str | None, shape: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The one read behind both shapes (the queue's rules and order are `limbo`'s alone):
    the role, the page, her runaround beside each item by her reference only, and the
    audited read."""
    may_read_reports(actor)
    offset = _offset(cursor)
    read = limbo_bundles.in_limbo if shape == "bundles" else limbo.in_limbo
    items, more = read(clock.now(), limit, offset)
    client_ids = [item.pop("client_id") for item in items]
    runarounds = runaround.for_clients(client_ids)  # by her reference only: no survivor data
    for item, client_id in zip(items, client_ids, strict=True):
        item["runaround"] = runarounds.get(client_id)
    audit.record(
        actor,
        "report.viewed",
        ("report", "in_limbo"),
        details={
            "report": "in_limbo",
            "shape": shape,
            "count": len(items),
            "runarounds": len(runarounds),
        },
    )
    next_cursor = encode_cursor([offset + len(items)]) if more else None
    return items, next_cursor


def client_runaround(actor: Actor, client_id: uuid.UUID) -> dict[str, Any]:
    """Her runaround for her own agency (another agency's client: 404, as if missing)."""
    client = clients.load_owned(actor, client_id)
    return runaround.for_client(actor, client.id, client.reference)


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    values = decode_cursor(cursor)
    if len(values) != 1 or not isinstance(values[0], str) or not values[0].isdigit():
        raise ValidationFailed(errors={"cursor": ["Invalid cursor."]})
    return int(values[0])
