"""Her runaround: for each client, the doors she was sent to, the hops, and the days from her
first referral to a place, per need — the number this hub exists to drive down.

One definition, in SQL (`need_rows`), read three ways: her own agency's view of one client
(`for_client`), the coordinators' view beside the in-limbo queue (`for_clients`, by
reference), and the handoff report's distribution per sending agency (`by_agency`).

A need is a bundle's need; a referral sent outside a bundle joins her other such referrals
of the same service category. A door is a referral that was sent (entered-in-error ones are
mistakes, not doors); a hop is a door that ended without help (declined, expired, ended
unfinished: `bundles.HOPS`); placement is the need's first acceptance (as in the handoff
report), timed from the episode's first referral (the bundle's, else the need's own).
Nothing here selects survivor data: ids, her reference, names of services and agencies,
statuses, times and counts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select

from referral_hub.agencies.models import Agency
from referral_hub.core.actor import Actor
from referral_hub.directory.models import Service
from referral_hub.extensions import db
from referral_hub.referrals.bundles import HOPS
from referral_hub.referrals.models import Need, Referral
from referral_hub.referrals.states import OPEN, State
from referral_hub.reports.sql import nearest_rank, seconds_between

DAY_SECONDS = 86400
DOOR = and_(Referral.sent_at.is_not(None), Referral.status != State.ENTERED_IN_ERROR.value)


def _count_in(states: Iterable[State]) -> Any:
    return func.sum(case((Referral.status.in_([s.value for s in states]), 1), else_=0))


def need_rows(*where: Any) -> Select[Any]:
    """One row per need of the doors matching `where`: its client, sending agency, bundle,
    need and category, doors, hops, open doors, first sent, placed at, and the seconds from
    the episode's first referral to placement (NULL while not placed)."""
    category = func.coalesce(Need.category, Service.category)
    grouped = (
        select(
            Referral.client_id,
            Referral.client_reference,
            Referral.sender_agency_id,
            Referral.bundle_id,
            Referral.need_id,
            category.label("category"),
            func.count().label("doors"),
            func.coalesce(_count_in(HOPS), 0).label("hops"),
            func.coalesce(_count_in(OPEN), 0).label("open"),
            func.min(Referral.sent_at).label("first_sent"),
            func.min(Referral.accepted_at).label("placed_at"),
        )
        .join(Service, Service.id == Referral.service_id)
        .outerjoin(Need, Need.id == Referral.need_id)
        .where(DOOR, *where)
        .group_by(
            Referral.client_id,
            Referral.client_reference,
            Referral.sender_agency_id,
            Referral.bundle_id,
            Referral.need_id,
            category,
        )
        .subquery("need")
    )
    episodes = (
        select(Referral.bundle_id, func.min(Referral.sent_at).label("started"))
        .where(DOOR, Referral.bundle_id.is_not(None))
        .group_by(Referral.bundle_id)
        .subquery("episode")
    )
    started = func.coalesce(episodes.c.started, grouped.c.first_sent)
    return select(
        grouped,
        started.label("started"),
        seconds_between(grouped.c.placed_at, started).label("seconds_to_placement"),
    ).outerjoin(episodes, episodes.c.bundle_id == grouped.c.bundle_id)


def _status(row: Any) -> str:
    if row.placed_at is not None:
        return "placed"
    return "waiting" if row.open else "unmet"


def _seconds(value: Any) -> int | None:
    """Whole seconds: SQLite's julianday arithmetic is a hair off the exact value."""
    return None if value is None else round(float(value))


def _days(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / DAY_SECONDS, 1)


def _need(row: Any) -> dict[str, Any]:
    seconds = _seconds(row.seconds_to_placement)
    return {
        "bundle_id": row.bundle_id,
        "need_id": row.need_id,
        "category": str(getattr(row.category, "value", row.category)),
        "status": _status(row),
        "doors": int(row.doors),
        "hops": int(row.hops),
        "first_referral_at": row.started,
        "placed_at": row.placed_at,
        "seconds_to_placement": seconds,
        "days_to_placement": _days(seconds),
    }


def _summary(needs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "doors": sum(need["doors"] for need in needs),
        "hops": sum(need["hops"] for need in needs),
        "needs_placed": sum(1 for need in needs if need["status"] == "placed"),
        "needs_unmet": sum(1 for need in needs if need["status"] == "unmet"),
    }


def _order(need: dict[str, Any]) -> tuple[Any, str]:
    return (need["first_referral_at"], need["category"])


def for_clients(client_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Her runaround by client id, needs in the order they began (no doors listed): what
    the coordinators see beside the in-limbo queue. The caller checks who may read it."""
    wanted = sorted(set(client_ids))
    if not wanted:
        return {}
    found: dict[uuid.UUID, dict[str, Any]] = {}
    needs: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in db.session.execute(need_rows(Referral.client_id.in_(wanted))):
        found[row.client_id] = {
            "client_id": row.client_id,
            "client_reference": row.client_reference,
        }
        needs[row.client_id].append(_need(row))
    for client_id, item in found.items():
        ordered = sorted(needs[client_id], key=_order)
        item.update(_summary(ordered), needs=ordered)
    return found


def for_client(actor: Actor, client_id: uuid.UUID, reference: str) -> dict[str, Any]:
    """One client's runaround with each need's doors, oldest first: for her own agency
    (the caller has loaded her as the owner's; `reference` is hers)."""
    item = for_clients([client_id]).get(client_id) or {
        "client_id": client_id,
        "client_reference": reference,
        **_summary([]),
        "needs": [],
    }
    doors = db.session.execute(
        select(
            Referral.id,
            Referral.need_id,
            Referral.bundle_id,
            Referral.status,
            Referral.sent_at,
            Referral.accepted_at,
            Referral.closed_at,
            Service.name.label("service_name"),
            Service.category,
            Agency.name.label("agency_name"),
        )
        .join(Service, Service.id == Referral.service_id)
        .join(Agency, Agency.id == Referral.receiver_agency_id)
        .where(DOOR, Referral.client_id == client_id)
        .order_by(Referral.sent_at, Referral.id)
    )
    by_need: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for door in doors:
        key = (door.need_id,) if door.need_id else (None, door.category.value)
        by_need[key].append(
            {
                "referral_id": door.id,
                "service_name": door.service_name,
                "agency_name": door.agency_name,
                "status": door.status.value,
                "sent_at": door.sent_at,
                "accepted_at": door.accepted_at,
                "closed_at": door.closed_at,
            }
        )
    for need in item["needs"]:
        key = (need["need_id"],) if need["need_id"] else (None, need["category"])
        need["referrals"] = by_need.get(key, [])
    return item


def by_agency(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per sending agency, over the needs whose episode began in [start, end): how many,
    placed and unmet, and the median and 90th percentile (nearest rank) of hops and of the
    seconds to placement (placed needs only). Three grouped queries, on both databases."""
    needs = need_rows().subquery("needs")
    began = and_(needs.c.started >= start, needs.c.started < end)
    counts = db.session.execute(
        select(
            needs.c.sender_agency_id,
            Agency.name,
            func.count().label("needs"),
            func.sum(case((needs.c.placed_at.is_not(None), 1), else_=0)).label("placed"),
            func.sum(
                case((and_(needs.c.placed_at.is_(None), needs.c.open == 0), 1), else_=literal(0))
            ).label("unmet"),
        )
        .join(Agency, Agency.id == needs.c.sender_agency_id)
        .where(began)
        .group_by(needs.c.sender_agency_id, Agency.name)
        .order_by(Agency.name, needs.c.sender_agency_id)
    ).all()
    hops = _percentiles(select(needs.c.sender_agency_id, needs.c.hops).where(began))
    waits = _percentiles(
        select(needs.c.sender_agency_id, needs.c.seconds_to_placement).where(began)
    )
    return [
        {
            "agency_id": row.sender_agency_id,
            "agency_name": row.name,
            "needs": int(row.needs),
            "placed": int(row.placed or 0),
            "unmet": int(row.unmet or 0),
            "hops_median": _whole(hops.get(row.sender_agency_id, {}).get("p50")),
            "hops_p90": _whole(hops.get(row.sender_agency_id, {}).get("p90")),
            "placement_median_seconds": _seconds(waits.get(row.sender_agency_id, {}).get("p50")),
            "placement_p90_seconds": _seconds(waits.get(row.sender_agency_id, {}).get("p90")),
        }
        for row in counts
    ]


def _percentiles(values: Select[Any]) -> dict[Any, dict[str, Any]]:
    rows = db.session.execute(nearest_rank(values, grouped=True))
    return {_uuid(row.grp): {"p50": row.p50, "p90": row.p90} for row in rows}


def _uuid(value: Any) -> Any:
    """SQLite hands a grouped UUID back as text from the window subquery."""
    return value if isinstance(value, uuid.UUID) or value is None else uuid.UUID(str(value))


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)
