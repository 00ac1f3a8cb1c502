"""The in-limbo queue: bundles stuck somewhere, oldest first, with why.

Which needs are stuck is decided by `referrals.bundles.classify`, the rule the bundle view
uses too; here its facts come from one grouped query per batch of bundles, walked in
(created_at, id) order so a page costs a bounded amount of work however long the history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from referral_hub.agencies.models import Agency
from referral_hub.extensions import db
from referral_hub.referrals import bundles
from referral_hub.referrals.models import Bundle

BATCH = 200
Position = tuple[datetime, uuid.UUID]


def in_limbo(
    now: datetime, limit: int, after: Position | None
) -> tuple[list[dict[str, Any]], Position | None]:
    """Up to `limit` bundles in limbo after `after`, and where the next page starts."""
    found: list[dict[str, Any]] = []
    while True:
        rows = _bundles_after(after)
        facts = bundles.facts_by_need([row.id for row in rows], now)
        for row in rows:
            item = _limbo_item(row, facts.get(row.id, []), now)
            if item is None:
                continue
            if len(found) == limit:
                last = found[-1]
                return found, (last["created_at"], last["bundle_id"])
            found.append(item)
        if len(rows) < BATCH:
            return found, None
        after = (rows[-1].created_at, rows[-1].id)


def _bundles_after(after: Position | None) -> list[Any]:
    statement = (
        select(
            Bundle.id,
            Bundle.created_at,
            Bundle.urgency,
            Bundle.sender_agency_id,
            Bundle.client_id,
            Agency.name.label("sender_agency_name"),
        )
        .join(Agency, Agency.id == Bundle.sender_agency_id)
        .order_by(Bundle.created_at, Bundle.id)
        .limit(BATCH)
    )
    if after is not None:
        moment, bundle_id = after
        statement = statement.where(
            or_(
                Bundle.created_at > moment,
                and_(Bundle.created_at == moment, Bundle.id > bundle_id),
            )
        )
    return list(db.session.execute(statement).all())


def _limbo_item(
    row: Any, needs: list[tuple[uuid.UUID, str, bundles.NeedFacts]], now: datetime
) -> dict[str, Any] | None:
    shown = []
    reasons = []
    for need_id, category, facts in needs:
        status, hops, why = bundles.classify(facts)
        if why:
            reasons.append(bundles.limbo_reason(category, why))
        shown.append(
            {"need_id": need_id, "category": category, "status": status, "hops": hops, "why": why}
        )
    if not reasons:
        return None
    return {
        "bundle_id": row.id,
        "urgency": row.urgency.value,
        "sender_agency_id": row.sender_agency_id,
        "sender_agency_name": row.sender_agency_name,
        "client_id": row.client_id,  # for her runaround; never shown (her reference is)
        "created_at": row.created_at,
        "waiting_seconds": round((now - row.created_at).total_seconds()),
        "reasons": reasons,
        "needs": shown,
    }
