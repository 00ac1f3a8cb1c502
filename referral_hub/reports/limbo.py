"""The in-limbo queue: one row per referral a survivor may be falling through, urgent first.

A row is a referral that is
- **overdue** in its state: sent and unacknowledged past `acknowledge_by`; acknowledged,
  waiting on her answer to their question (`info_requested`) or waitlisted past
  `respond_by`; accepted with no arrival past `arrive_by` (the hold is lapsing);
- still open in a need that bounced too often (`bundles.hop_limit`: 2 hops for an
  emergency, 3 otherwise) and is neither placed nor met;
- the latest referral of a need with nothing open that is neither placed nor met (the
  sender has to refer again: the row says where the need last went).

Which deadline a state runs against is `deadlines.DEADLINES`, the receiver's own list,
plus the waitlist (a waiting list answer still owes a decision by `respond_by`, which is
why the deadline sweep escalates it). The lateness test is the one `bundles.late_referral`
applies, so the bundle view and this queue agree on what is stuck.

The database selects, orders (`priority.sql_order`: overdue emergencies, overdue, due
soonest, the rest) and pages. The page is an offset: the order moves with the clock
(a row becomes overdue while the coordinator reads), so no cursor over it could be stable;
the queue is short and a coordinator reads it from the top.

Cost: the needs' facts are gathered only for needs with a referral neither placed nor
met, so the history of needs met long ago is passed over by one cheap filter (100,000
referrals, 4,000 of them in the queue: about 0.2 s for the first page on PostgreSQL).
The API's bundle items (`grouped`) page the same rows grouped by bundle in the same
statement: one window and one sort more over the queue's rows, never over the history.

No survivor data: her reference, agency and service names, the services' phone numbers for
referrers, states and times.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased

from referral_hub.agencies.models import Agency
from referral_hub.audit.models import AuditEvent
from referral_hub.directory.models import Service
from referral_hub.directory.vocabulary import ServiceStatus
from referral_hub.extensions import db
from referral_hub.referrals import bundles, priority
from referral_hub.referrals.deadlines import DEADLINES, Urgency
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import OPEN, State

# the deadline each state runs against (see the module's docstring for the waitlist)
WATCHED: dict[State, tuple[str, str]] = {**DEADLINES, State.WAITLISTED: ("decide", "respond_by")}
# why a row is in the queue: overdue in its state, too many hops, or nothing open
OVERDUE_WHY = {
    State.SENT: "unacknowledged",
    State.ACKNOWLEDGED: "decision_overdue",
    State.INFO_REQUESTED: "question_unanswered",
    State.WAITLISTED: "waitlist_overdue",
    State.ACCEPTED: "arrival_overdue",
}
WHY = (*OVERDUE_WHY.values(), "too_many_hops", "nothing_open")
NUDGE_ACTIONS = {"receiver": "referral.receiver_nudged", "sender": "referral.sender_nudged"}


def deadline_column() -> Any:
    """SQL: the deadline the referral's state runs against (NULL: none)."""
    return case(
        *(
            (Referral.status == state, getattr(Referral, column))
            for state, (_, column) in WATCHED.items()
        ),
        else_=None,
    )


def deadline_of(referral: Any) -> datetime | None:
    due = WATCHED.get(State(referral.status))
    return getattr(referral, due[1]) if due else None


def _unsettled_needs() -> Any:
    """Per need neither placed nor met (only those can be stuck for a need's reason): its
    hops and whether anything is open. A CTE: both uses below read it once."""

    def any_where(states: frozenset[State]) -> Any:
        return func.max(case((Referral.status.in_([s.value for s in states]), 1), else_=0))

    # only needs with a referral that is neither placed nor met are read at all: most of
    # the history (needs met long ago) is passed over by this cheap filter
    settled = bundles.PLACED | bundles.MET
    other = aliased(Referral)
    candidates = select(other.need_id).where(
        other.need_id.is_not(None), other.status.not_in([s.value for s in settled])
    )
    return (
        select(
            Referral.need_id.label("need_id"),
            func.sum(
                case((Referral.status.in_([s.value for s in bundles.HOPS]), 1), else_=0)
            ).label("hops"),
            any_where(OPEN).label("waiting"),
        )
        .where(Referral.need_id.in_(candidates))
        .group_by(Referral.need_id)
        .having(any_where(settled) == 0)
        .cte("unsettled_need")
    )


def _order(now: datetime) -> list[Any]:
    """The queue's one order: `priority.sql_order`, then oldest first, then by id."""
    return [
        *priority.sql_order(Referral.urgency, deadline_column(), now),
        Referral.created_at,
        Referral.id,
    ]


def _queue(now: datetime) -> Any:
    """The queue's statement, ordered, unpaged."""
    return _stuck(now).order_by(*_order(now))


def _stuck(now: datetime) -> Any:
    """The stuck referrals (the rules above, written once), unordered."""
    need = _unsettled_needs()
    # the latest referral of each need with nothing open, neither placed nor met: looked up
    # once per such need (a handful), not once per referral of the hub's history
    later = aliased(Referral)
    unanswered_needs = select(
        select(later.id)
        .where(later.need_id == need.c.need_id)
        .order_by(later.created_at.desc(), later.id.desc())
        .limit(1)
        .scalar_subquery()
    ).where(need.c.waiting == 0)
    hop_limit = case(
        *((Referral.urgency == u, bundles.hop_limit(u)) for u in Urgency),
        else_=bundles.hop_limit(Urgency.ROUTINE),
    )
    is_open = Referral.status.in_([s.value for s in OPEN - {State.DRAFT}])
    overdue = or_(  # `deadline < now`, spelt so the database tests each row cheaply
        *(
            and_(Referral.status == state, getattr(Referral, column) < now)
            for state, (_, column) in WATCHED.items()
        )
    )
    stuck = or_(
        overdue,
        and_(is_open, need.c.hops >= hop_limit),
        Referral.id.in_(unanswered_needs),
    )
    receiver, sender = aliased(Agency), aliased(Agency)
    own = aliased(Service)
    sender_phone = (
        select(own.phone)
        .where(
            own.agency_id == Referral.sender_agency_id,
            own.phone.is_not(None),
            own.phone != "",
            own.status == ServiceStatus.ACTIVE,
        )
        .order_by(own.name, own.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            Referral.id,
            Referral.client_id,  # for her runaround; never shown (her reference is)
            Referral.client_reference,
            Referral.created_at,
            Referral.status,
            Referral.urgency,
            Referral.acknowledge_by,
            Referral.respond_by,
            Referral.arrive_by,
            Referral.sent_at,
            Referral.closed_at,
            Referral.bundle_id,
            Referral.need_id,
            func.coalesce(need.c.hops, 0).label("hops"),
            Service.id.label("service_id"),
            Service.name.label("service_name"),
            Service.category.label("category"),
            Service.phone.label("receiver_phone"),
            receiver.id.label("receiver_agency_id"),
            receiver.name.label("receiver_agency_name"),
            sender.id.label("sender_agency_id"),
            sender.name.label("sender_agency_name"),
            sender_phone.label("sender_phone"),
        )
        .join(Service, Service.id == Referral.service_id)
        .join(receiver, receiver.id == Referral.receiver_agency_id)
        .join(sender, sender.id == Referral.sender_agency_id)
        .outerjoin(need, need.c.need_id == Referral.need_id)
        .where(Referral.status != State.DRAFT, stuck)
    )


def in_limbo(now: datetime, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` rows from `offset`, and whether more follow."""
    rows = db.session.execute(_queue(now).offset(offset).limit(limit + 1)).all()
    items = items_of(rows[:limit], now)
    for item, row in zip(items, rows, strict=False):
        item["client_id"] = row.client_id  # for her runaround; never shown
    return items, len(rows) > limit


def grouped(now: datetime, limit: int, offset: int = 0) -> tuple[list[list[Any]], bool]:
    """Up to `limit` groups of stuck rows from `offset` (a bundle's, or one referral sent
    outside any bundle), each group's rows in the queue's order, and whether more follow.

    Groups are ordered in SQL by their most urgent row: every stuck row is numbered in the
    one order (a window over the stuck rows only), a group's place is the least of its
    rows' numbers, and the page is an offset and limit over the groups. One statement; its
    cost is the queue's own (the stuck rows and one sort), whatever the page or history.
    """
    ranked = (
        _stuck(now)
        .add_columns(
            func.coalesce(Referral.bundle_id, Referral.id).label("item_key"),
            func.row_number().over(order_by=_order(now)).label("place"),
        )
        .cte("ranked")
    )
    first = func.min(ranked.c.place)
    page = (
        select(ranked.c.item_key, first.label("first"))
        .group_by(ranked.c.item_key)
        .order_by(first)
        .offset(offset)
        .limit(limit + 1)
        .subquery("page_item")
    )
    rows = db.session.execute(
        select(ranked)
        .join(page, page.c.item_key == ranked.c.item_key)
        .order_by(page.c.first, ranked.c.place)
    ).all()
    groups: dict[Any, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.item_key, []).append(row)
    found = list(groups.values())
    return found[:limit], len(found) > limit


def items_of(rows: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    """The queue's rows as items, with when each side was last nudged."""
    items = [_item(row, now) for row in rows]
    _add_nudges(items)
    return items


def count(now: datetime, cap: int) -> tuple[int, bool]:
    """How many rows, counted up to `cap` (and whether there are more)."""
    found = db.session.scalar(
        select(func.count()).select_from(_queue(now).limit(cap + 1).subquery())
    )
    return min(found or 0, cap), (found or 0) > cap


def _item(row: Any, now: datetime) -> dict[str, Any]:
    status = State(row.status)
    deadline = deadline_of(row)
    if deadline is not None and deadline < now:
        why = OVERDUE_WHY[status]
    elif status in OPEN:
        why = "too_many_hops"
    else:
        why = "nothing_open"
    return {
        "referral_id": row.id,
        "client_reference": row.client_reference,
        "status": status.value,
        "urgency": Urgency(row.urgency).value,
        "why": why,
        "hops": int(row.hops),
        "deadline": deadline,
        "overdue_seconds": round((now - deadline).total_seconds())
        if deadline is not None and deadline < now
        else None,
        "group": priority.group(row.urgency, deadline, now),
        "sent_at": row.sent_at,
        "closed_at": row.closed_at,
        "bundle_id": row.bundle_id,
        "need_id": row.need_id,
        "category": getattr(row.category, "value", row.category),
        "service": {"id": row.service_id, "name": row.service_name, "phone": row.receiver_phone},
        "receiver": {"id": row.receiver_agency_id, "name": row.receiver_agency_name},
        "sender": {
            "id": row.sender_agency_id,
            "name": row.sender_agency_name,
            "phone": row.sender_phone,
        },
        "last_nudged": {"receiver": None, "sender": None},
    }


def _add_nudges(items: list[dict[str, Any]]) -> None:
    """When each row's receiver and sender were last nudged: one query for the page."""
    if not items:
        return
    by_id = {str(item["referral_id"]): item for item in items}
    side_of = {action: side for side, action in NUDGE_ACTIONS.items()}
    rows = db.session.execute(
        select(AuditEvent.subject_id, AuditEvent.action, func.max(AuditEvent.at))
        .where(
            AuditEvent.subject_type == "referral",
            AuditEvent.subject_id.in_(list(by_id)),
            AuditEvent.action.in_(list(side_of)),
        )
        .group_by(AuditEvent.subject_id, AuditEvent.action)
    )
    for subject_id, action, at in rows:
        by_id[str(subject_id)]["last_nudged"][side_of[action]] = at


def last_nudge(referral_id: uuid.UUID, side: str) -> datetime | None:
    """When this referral's `side` was last nudged (the audit trail is the record)."""
    return db.session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.subject_type == "referral",
            AuditEvent.subject_id == str(referral_id),
            AuditEvent.action == NUDGE_ACTIONS[side],
        )
    )
