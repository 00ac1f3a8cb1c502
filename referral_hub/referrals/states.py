"""The referral state machine, as a table. Pure: no database.

Every (state, action) pair not in `TRANSITIONS` is illegal. `side` says who may take the
action: the sending agency, the receiving agency, a coordinator, or the hub itself (sweeps
and the first-accept-wins rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    INFO_REQUESTED = "info_requested"
    WAITLISTED = "waitlisted"
    ACCEPTED = "accepted"
    ENGAGED = "engaged"
    COMPLETED = "completed"
    NOT_COMPLETED = "not_completed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    ENTERED_IN_ERROR = "entered_in_error"


class Side(StrEnum):
    SENDER = "sender"
    RECEIVER = "receiver"
    COORDINATOR = "coordinator"
    SYSTEM = "system"


TERMINAL = frozenset(
    {
        State.COMPLETED,
        State.NOT_COMPLETED,
        State.DECLINED,
        State.WITHDRAWN,
        State.EXPIRED,
        State.SUPERSEDED,
        State.ENTERED_IN_ERROR,
    }
)
# the receiver holds a unit (a bed, a slot) while the referral is in these states
HOLDING = frozenset({State.ACCEPTED})
# open: the receiver still has something to do, or is serving her now
OPEN = frozenset(State) - TERMINAL
# what the receiver sees of her data: profile before acceptance, consented data after
ACCEPTED_STAGE = frozenset({State.ACCEPTED, State.ENGAGED})

DECLINE_REASONS = (
    "no_capacity",
    "not_eligible",
    "safety_conflict",
    "out_of_area",
    "language",
    "other",
)
UNFINISHED_REASONS = ("no_show", "left", "unreachable", "ineligible_after_assessment")
# how a completed referral went, coded (what coordinators and reports see); words the
# receiver adds are sealed under her key beside it (`Referral.outcome_note`)
COMPLETION_OUTCOMES = ("completed", "goals_met", "partly_met", "moved_on", "other")
OUTCOME_CODES = COMPLETION_OUTCOMES + UNFINISHED_REASONS


@dataclass(frozen=True)
class Transition:
    action: str
    source: State
    target: State
    side: Side


_RECEIVER_ANSWERS = ("acknowledge", "request-info", "waitlist", "accept", "decline")
_TARGET = {
    "send": State.SENT,
    "acknowledge": State.ACKNOWLEDGED,
    "request-info": State.INFO_REQUESTED,
    "provide-info": State.ACKNOWLEDGED,
    "waitlist": State.WAITLISTED,
    "accept": State.ACCEPTED,
    "decline": State.DECLINED,
    "withdraw": State.WITHDRAWN,
    "confirm-arrival": State.ENGAGED,
    "complete": State.COMPLETED,
    "end-unfinished": State.NOT_COMPLETED,
    "mark-error": State.ENTERED_IN_ERROR,
    "expire": State.EXPIRED,
    "supersede": State.SUPERSEDED,
    "no-show": State.NOT_COMPLETED,  # the arrival window passed
}


def _build() -> dict[tuple[State, str], Transition]:
    rows: list[tuple[State, str, Side]] = [(State.DRAFT, "send", Side.SENDER)]
    for source in (State.SENT, State.ACKNOWLEDGED):
        answers = [
            a for a in _RECEIVER_ANSWERS if (source, a) != (State.ACKNOWLEDGED, "acknowledge")
        ]
        rows += [(source, action, Side.RECEIVER) for action in answers]
        rows += [
            (source, "withdraw", Side.SENDER),
            (source, "expire", Side.SYSTEM),
            (source, "supersede", Side.SYSTEM),
        ]
    rows += [
        (State.INFO_REQUESTED, "provide-info", Side.SENDER),
        (State.INFO_REQUESTED, "withdraw", Side.SENDER),
        (State.INFO_REQUESTED, "expire", Side.SYSTEM),
        (State.WAITLISTED, "accept", Side.RECEIVER),
        (State.WAITLISTED, "decline", Side.RECEIVER),
        (State.WAITLISTED, "withdraw", Side.SENDER),
        (State.WAITLISTED, "supersede", Side.SYSTEM),
        (State.ACCEPTED, "confirm-arrival", Side.RECEIVER),
        (State.ACCEPTED, "end-unfinished", Side.RECEIVER),
        (State.ACCEPTED, "withdraw", Side.SENDER),
        (State.ENGAGED, "complete", Side.RECEIVER),
        (State.ENGAGED, "end-unfinished", Side.RECEIVER),
    ]
    rows += [(source, "mark-error", Side.COORDINATOR) for source in OPEN]
    rows += [(State.ACCEPTED, "no-show", Side.SYSTEM)]
    return {
        (source, action): Transition(action, source, _TARGET[action], side)
        for source, action, side in rows
    }


TRANSITIONS = _build()
ACTIONS = tuple(sorted({action for _, action in TRANSITIONS}))
PUBLIC_ACTIONS = tuple(a for a in ACTIONS if a not in ("expire", "supersede", "no-show"))


def find(state: State, action: str) -> Transition | None:
    """The transition for `action` from `state`, or None when it is illegal."""
    return TRANSITIONS.get((state, action))
