"""Deadlines frozen on a referral when it is sent. Pure.

emergency: acknowledge in 15 min, decide in 30 min, arrive within 3 h of acceptance;
urgent: 1 h, 4 h, 24 h; routine: 1 and 3 business days (weekends skipped), no arrival
window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from referral_hub.referrals.states import State


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


UNSET = "Say how urgent this need is (or give the bundle's urgency)."


def unset_urgencies(needs: Iterable[Mapping[str, Any]], default: object) -> dict[str, list[str]]:
    """The needs that have no urgency of their own and no bundle default, by field path."""
    if default is not None:
        return {}
    return {
        f"needs.{index}.urgency": [UNSET]
        for index, need in enumerate(needs)
        if need.get("urgency") is None
    }


# the deadline the receiver works against in each state: (what is due, the column)
DEADLINES: dict[State, tuple[str, str]] = {
    State.SENT: ("acknowledge", "acknowledge_by"),
    State.ACKNOWLEDGED: ("decide", "respond_by"),
    State.INFO_REQUESTED: ("decide", "respond_by"),
    State.ACCEPTED: ("arrive", "arrive_by"),
}


def add_business_days(start: datetime, days: int) -> datetime:
    moment = start
    added = 0
    while added < days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            added += 1
    return moment


def answer_deadlines(urgency: Urgency, sent_at: datetime) -> tuple[datetime, datetime]:
    """(acknowledge by, decide by)."""
    if urgency == Urgency.EMERGENCY:
        return sent_at + timedelta(minutes=15), sent_at + timedelta(minutes=30)
    if urgency == Urgency.URGENT:
        return sent_at + timedelta(hours=1), sent_at + timedelta(hours=4)
    return add_business_days(sent_at, 1), add_business_days(sent_at, 3)


def arrival_deadline(urgency: Urgency, accepted_at: datetime) -> datetime | None:
    if urgency == Urgency.EMERGENCY:
        return accepted_at + timedelta(hours=3)
    if urgency == Urgency.URGENT:
        return accepted_at + timedelta(hours=24)
    return None


# how long before the decision deadline its caseworker is reminded (the agency and the
# coordinators hear only once it has passed)
ASSIGNEE_NOTICE = {
    Urgency.EMERGENCY: timedelta(minutes=10),
    Urgency.URGENT: timedelta(hours=1),
    Urgency.ROUTINE: timedelta(days=1),
}
