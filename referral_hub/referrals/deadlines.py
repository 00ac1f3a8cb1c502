"""Deadlines frozen on a referral when it is sent, and its hold's when accepted. Pure.

emergency: acknowledge in 15 min, decide in 30 min; urgent: 1 h, 4 h; routine: 1 and 3
business days (weekends skipped).

Arrival: an emergency or urgent referral holds its place for the service's hold length
(the provider's; 90 minutes unless set, its night value for accepts between 22:00 and
07:00 hub time), frozen on the referral at accept, extendable once. A routine referral is
an appointment, not a bed tonight: no arrival window, the hold lasts until it ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
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


HOLD_MINUTES_DEFAULT = 90
HOLD_MINUTES_MIN, HOLD_MINUTES_MAX = 15, 72 * 60
NIGHT_STARTS, NIGHT_ENDS = time(22, 0), time(7, 0)
# why a receiver keeps the place longer (coded: the timeline shows it, free text never)
EXTENSION_REASONS = (
    "transport_delayed",
    "discharge_delayed",
    "client_requested",
    "safety_planning",
    "other",
)


def is_night(local: datetime) -> bool:
    """22:00 up to (not including) 07:00, on the hub's clock."""
    moment = local.time()
    return moment >= NIGHT_STARTS or moment < NIGHT_ENDS


def hold_length(day_minutes: int, night_minutes: int | None, local: datetime) -> int:
    """The service's hold length for an accept at `local` (hub time)."""
    if night_minutes is not None and is_night(local):
        return night_minutes
    return day_minutes


def arrival_deadline(urgency: Urgency, accepted_at: datetime, hold_minutes: int) -> datetime | None:
    if urgency == Urgency.ROUTINE:
        return None
    return accepted_at + timedelta(minutes=hold_minutes)


# how long before the decision deadline its caseworker is reminded (the agency and the
# coordinators hear only once it has passed)
ASSIGNEE_NOTICE = {
    Urgency.EMERGENCY: timedelta(minutes=10),
    Urgency.URGENT: timedelta(hours=1),
    Urgency.ROUTINE: timedelta(days=1),
}
