"""The in-limbo queue as bundle items: the API's long-standing shape, read from the queue.

Which referrals are stuck, and in what order, is `limbo` alone: `limbo.grouped` pages the
queue's groups (a bundle's stuck referrals, or one stuck referral sent outside any bundle)
by their most urgent row, so the items come most urgent first. This adds what a bundle item
always said: the bundle's urgency, sender and age, and each of its needs' status and hops
(`bundles.classify`, as the bundle view gives them), with the need's `why` taken from its
most urgent stuck referral (null: the need is fine). A referral sent alone is an item with
`bundle_id` null and no needs. Four queries a page (the groups with their rows, the
nudges, the bundles, their needs' facts), whatever the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from referral_hub.agencies.models import Agency
from referral_hub.extensions import db
from referral_hub.referrals import bundles
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Bundle
from referral_hub.reports import limbo


def in_limbo(now: datetime, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` bundle items from `offset`, most urgent first, and whether more follow."""
    groups, more = limbo.grouped(now, limit, offset)
    bundle_ids = [rows[0].bundle_id for rows in groups if rows[0].bundle_id is not None]
    heads = _bundles(bundle_ids)
    facts = bundles.facts_by_need(bundle_ids, now)
    # one nudge query for the whole page's rows, then each group takes its own back
    every = iter(limbo.items_of([row for rows in groups for row in rows], now))
    items = []
    for rows in groups:
        referrals = [next(every) for _ in rows]
        head = heads.get(rows[0].bundle_id) or rows[0]
        item = _item(head, rows[0].bundle_id, referrals, now)
        item["needs"], item["reasons"] = _needs(
            facts.get(rows[0].bundle_id, []), head.urgency, referrals
        )
        items.append(item)
    return items, more


def _bundles(bundle_ids: list[Any]) -> dict[Any, Any]:
    """The page's bundles: urgency, sender, client and creation time (one query)."""
    if not bundle_ids:
        return {}
    rows = db.session.execute(
        select(
            Bundle.id,
            Bundle.urgency,
            Bundle.created_at,
            Bundle.client_id,
            Bundle.sender_agency_id,
            Agency.name.label("sender_agency_name"),
        )
        .join(Agency, Agency.id == Bundle.sender_agency_id)
        .where(Bundle.id.in_(bundle_ids))
    )
    return {row.id: row for row in rows}


def _item(
    head: Any, bundle_id: Any, referrals: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """The item's own fields: the bundle's, or (sent alone) the referral's."""
    return {
        "bundle_id": bundle_id,
        "urgency": Urgency(head.urgency).value,
        "sender_agency_id": head.sender_agency_id,
        "sender_agency_name": head.sender_agency_name,
        "client_id": head.client_id,  # for her runaround; never shown (her reference is)
        "client_reference": referrals[0]["client_reference"],
        "created_at": head.created_at,
        "waiting_seconds": round((now - head.created_at).total_seconds()),
        "referrals": referrals,
    }


def _needs(
    needs: list[tuple[Any, Any, bundles.NeedFacts]],
    urgency: Any,
    referrals: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every need of the bundle with its status and hops, and why the stuck ones are stuck
    (their most urgent referral's why); `category: why` per stuck need. Sent alone: no
    needs, and the referral's own reason."""
    why_of: dict[Any, str] = {}
    for row in referrals:
        why_of.setdefault(row["need_id"], row["why"])
    if not needs:
        return [], [bundles.limbo_reason(row["category"], row["why"]) for row in referrals[:1]]
    shown, reasons = [], []
    for need_id, category, facts in needs:
        status, hops, _ = bundles.classify(facts)
        name = str(getattr(category, "value", category))
        why = why_of.get(need_id)
        if why:
            reasons.append(bundles.limbo_reason(name, why))
        shown.append(
            {"need_id": need_id, "category": name, "status": status, "hops": hops, "why": why}
        )
    return shown, reasons
