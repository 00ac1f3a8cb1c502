"""The in-limbo queue as the coordinators' page shows it: each stuck need with its referrals.

`service.in_limbo_report` checks the role, pages the queue and records the read; this adds
one query for the referrals of the page's needs (their receiving agency, status and when
sent), so each links to its timeline. No survivor data: ids, names, statuses, times.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from referral_hub.agencies.models import Agency
from referral_hub.core.actor import Actor
from referral_hub.extensions import db
from referral_hub.referrals.models import Referral
from referral_hub.reports import service


def limbo_queue(actor: Actor, *, limit: int, cursor: str | None) -> dict[str, Any]:
    items, next_cursor = service.in_limbo_report(actor, limit=limit, cursor=cursor)
    need_ids = [need["need_id"] for item in items for need in item["needs"]]
    by_need = referrals_by_need(need_ids)
    for item in items:
        for need in item["needs"]:
            need["referrals"] = by_need.get(need["need_id"], [])
    return {"items": items, "next_cursor": next_cursor}


def referrals_by_need(need_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The referrals of these needs, oldest first, with the receiving agency's name."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    if not need_ids:
        return found
    rows = db.session.execute(
        select(Referral.id, Referral.need_id, Referral.status, Referral.sent_at, Agency.name)
        .join(Agency, Agency.id == Referral.receiver_agency_id)
        .where(Referral.need_id.in_(need_ids))
        .order_by(Referral.created_at, Referral.id)
    )
    for row in rows:
        found[row.need_id].append(
            {
                "id": row.id,
                "status": getattr(row.status, "value", row.status),
                "sent_at": row.sent_at,
                "receiver": row.name,
            }
        )
    return found
