"""Urgent first, everywhere: the one order for lists of referral work.

Overdue emergencies first, then everything else overdue (longest overdue first), then what
is due soonest, then what has no deadline (by urgency). The provider's inbox and the intake
dashboard both sort by it, so a referral two hours overdue never sits below one that has
nothing due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case

from referral_hub.referrals.deadlines import Urgency

URGENCY_ORDER = (Urgency.EMERGENCY, Urgency.URGENT, Urgency.ROUTINE)
URGENCY_RANK = {urgency: rank for rank, urgency in enumerate(URGENCY_ORDER)}

OVERDUE_EMERGENCY, OVERDUE, DUE, UNTIMED = range(4)


def group(urgency: Urgency | str, deadline: datetime | None, now: datetime) -> int:
    if deadline is None:
        return UNTIMED
    if deadline <= now:
        return OVERDUE_EMERGENCY if Urgency(urgency) == Urgency.EMERGENCY else OVERDUE
    return DUE


def key(urgency: Urgency | str, deadline: datetime | None, now: datetime) -> tuple[Any, ...]:
    """Sort key for rows already in memory."""
    rank = URGENCY_RANK.get(Urgency(urgency), len(URGENCY_ORDER))
    moment = deadline.timestamp() if deadline is not None else 0.0
    return (group(urgency, deadline, now), moment, rank)


def sql_order(urgency: Any, deadline: Any, now: datetime) -> list[Any]:
    """The same order as ORDER BY terms, for lists the database sorts and limits."""
    return [
        case(
            (deadline.is_(None), UNTIMED),
            ((deadline <= now) & (urgency == Urgency.EMERGENCY), OVERDUE_EMERGENCY),
            (deadline <= now, OVERDUE),
            else_=DUE,
        ),
        deadline,
        case(
            *((urgency == u, rank) for u, rank in URGENCY_RANK.items()),
            else_=len(URGENCY_ORDER),
        ),
    ]
