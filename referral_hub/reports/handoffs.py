"""The handoff figures, one SQL query each, over the referrals sent in a period.

Each referral counts as it stands now (a referral sent on the last day and declined the
next morning counts as declined). Referrals marked `entered_in_error` appear in the
counts by status and nowhere else: they are mistakes, not handoffs.

Read-only aggregates across referrals, bundles, agencies and capacity, so this module
reads those tables directly rather than through each feature's row-at-a-time services.
Nothing here selects a client id, reference or any survivor data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Float, Select, and_, case, cast, func, or_, select

from referral_hub.agencies.models import Agency, AgencyStatus
from referral_hub.directory.models import Capacity
from referral_hub.extensions import db
from referral_hub.referrals.bundles import HOPS
from referral_hub.referrals.models import OutsideReferral, Referral
from referral_hub.referrals.states import DECLINE_REASONS, State
from referral_hub.reports import runaround
from referral_hub.reports.sql import PERCENTS, nearest_rank, seconds_between

NO_SHOW = "no_show"


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), UTC)


def _sent_in(period: Period) -> Any:
    return and_(Referral.sent_at >= period.start, Referral.sent_at < period.end)


def _is(*states: State) -> Any:
    return Referral.status.in_([state.value for state in states])


def _count_where(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


COUNTED = Referral.status != State.ENTERED_IN_ERROR.value

# The receiver's first answer. The hub's own acknowledgement deadline treats any move out
# of `sent` as an answer, so accepting or declining straight away counts too. Asking a
# question or waitlisting leaves no time on the referral, so such a referral shows its
# next timed move instead (after a question, the sender's reply sets `acknowledged_at`):
# an overestimate, which the referral's deadlines keep short.
FIRST_ANSWER = func.coalesce(
    Referral.acknowledged_at,
    Referral.accepted_at,
    case((Referral.status == State.DECLINED.value, Referral.closed_at)),
)


def figures(period: Period, now: datetime) -> dict[str, Any]:
    counts = counts_by_status(period)
    return {
        "from": period.first_day,
        "to": period.last_day,
        "generated_at": now,
        "referrals_sent": sum(counts.values()),
        "by_status": counts,
        **outcome_counts(period),
        "time_to_acknowledge": durations(
            select(seconds_between(FIRST_ANSWER, Referral.sent_at)).where(_sent_in(period), COUNTED)
        ),
        "time_to_accept": durations(
            select(seconds_between(Referral.accepted_at, Referral.sent_at)).where(
                _sent_in(period), COUNTED
            )
        ),
        "receiving_agencies": receiving_agencies(period),
        "declines_by_reason": declines_by_reason(period),
        "hops_per_bundle": hops_per_bundle(period),
        "time_to_placement": durations(placement_seconds(period)),
        "stale_capacity_agencies": stale_capacity_agencies(now),
        "runaround_by_agency": runaround.by_agency(period.start, period.end),
        "referred_outside": referred_outside(period),
    }


OUTSIDE_STATES = (State.SENT, State.ACCEPTED, State.DECLINED, State.WITHDRAWN)


def referred_outside(period: Period) -> dict[str, int]:
    """Referrals to organisations not on the hub, sent in the period, as they stand now:
    each one a time the right agency was not on the hub."""
    counts = {"sent": 0, **{state.value: 0 for state in OUTSIDE_STATES if state != State.SENT}}
    counts["waiting"] = 0
    rows = db.session.execute(
        select(OutsideReferral.status, func.count())
        .where(OutsideReferral.sent_at >= period.start, OutsideReferral.sent_at < period.end)
        .group_by(OutsideReferral.status)
    )
    for status, count in rows:
        counts["sent"] += int(count)
        key = "waiting" if State(status) == State.SENT else State(status).value
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def counts_by_status(period: Period) -> dict[str, int]:
    """Every state a sent referral can be in, zeros included, so exports keep their shape."""
    counts = {state.value: 0 for state in State if state != State.DRAFT}
    rows = db.session.execute(
        select(Referral.status, func.count()).where(_sent_in(period)).group_by(Referral.status)
    )
    for status, count in rows:
        counts[State(status).value] = int(count)
    return counts


def outcome_counts(period: Period) -> dict[str, int]:
    """Expired (nobody answered in time), no-show (accepted, she never arrived), and the
    placements (acceptances) on regular units and on overflow places, counted apart."""
    accepted = and_(Referral.accepted_at.is_not(None), COUNTED)
    row = db.session.execute(
        select(
            _count_where(_is(State.EXPIRED)).label("expired"),
            _count_where(and_(_is(State.NOT_COMPLETED), Referral.outcome == NO_SHOW)).label(
                "no_show"
            ),
            _count_where(and_(accepted, Referral.hold_overflow_id.is_(None))).label("regular"),
            _count_where(and_(accepted, Referral.hold_overflow_id.is_not(None))).label("overflow"),
        ).where(_sent_in(period))
    ).one()
    return {
        "expired": int(row.expired),
        "no_show": int(row.no_show),
        "placements_regular": int(row.regular),
        "placements_overflow": int(row.overflow),
    }


def durations(values: Select[Any]) -> dict[str, Any]:
    """Count, median and 90th percentile (nearest rank) of a one-column set of seconds."""
    row = db.session.execute(nearest_rank(values, PERCENTS)).one()
    return {
        "count": int(row.observed),
        "median_seconds": _seconds(row.p50),
        "p90_seconds": _seconds(row.p90),
    }


def _seconds(value: Any) -> int | None:
    """Whole seconds: SQLite's julianday arithmetic is a float a hair off the exact value."""
    return None if value is None else round(float(value))


def receiving_agencies(period: Period) -> list[dict[str, Any]]:
    """Per receiving agency: how its referrals ended, and its acceptance and decline rates.

    The rates are over the referrals whose fate was the agency's to settle and is settled:
    accepted (whatever happened after), declined, or left to expire. Referrals still open,
    withdrawn by the sender or superseded by another agency's acceptance are left out, so
    an agency is neither helped nor blamed for them; letting referrals expire lowers both
    rates, as it should.
    """
    counts = (
        select(
            Referral.receiver_agency_id.label("agency_id"),
            func.count().label("received"),
            _count_where(Referral.accepted_at.is_not(None)).label("accepted"),
            _count_where(_is(State.DECLINED)).label("declined"),
            _count_where(_is(State.EXPIRED)).label("expired"),
        )
        .where(_sent_in(period), COUNTED)
        .group_by(Referral.receiver_agency_id)
        .subquery("per_agency")
    )
    settled = counts.c.accepted + counts.c.declined + counts.c.expired

    def share(part: Any) -> Any:
        return cast(part, Float) / func.nullif(settled, 0)

    rows = db.session.execute(
        select(
            counts,
            Agency.name,
            settled.label("settled"),
            share(counts.c.accepted).label("acceptance_rate"),
            share(counts.c.declined).label("decline_rate"),
        )
        .join(Agency, Agency.id == counts.c.agency_id)
        .order_by(Agency.name, Agency.id)
    )
    return [
        {
            "agency_id": row.agency_id,
            "agency_name": row.name,
            "received": int(row.received),
            "accepted": int(row.accepted),
            "declined": int(row.declined),
            "expired": int(row.expired),
            "settled": int(row.settled),
            "acceptance_rate": _rate(row.acceptance_rate),
            "decline_rate": _rate(row.decline_rate),
        }
        for row in rows
    ]


def _rate(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def declines_by_reason(period: Period) -> dict[str, int]:
    counts = dict.fromkeys(DECLINE_REASONS, 0)
    rows = db.session.execute(
        select(Referral.decline_reason, func.count())
        .where(_sent_in(period), _is(State.DECLINED))
        .group_by(Referral.decline_reason)
    )
    for reason, count in rows:
        counts[reason or "unknown"] = int(count)
    return counts


def bundles_started(period: Period) -> Any:
    """Bundles whose first referral was sent in the period: when, and their hops so far."""
    return (
        select(
            Referral.bundle_id,
            func.min(Referral.sent_at).label("started"),
            func.sum(case((_is(*HOPS), 1), else_=0)).label("hops"),
        )
        .where(Referral.bundle_id.is_not(None), Referral.sent_at.is_not(None), COUNTED)
        .group_by(Referral.bundle_id)
        .having(
            and_(
                func.min(Referral.sent_at) >= period.start,
                func.min(Referral.sent_at) < period.end,
            )
        )
        .subquery("started")
    )


def hops_per_bundle(period: Period) -> dict[str, Any]:
    """How many times episodes bounced (declined, expired, not completed), per bundle.

    The distribution says more than the mean: most bundles at 0 and a tail at 3+ is the
    runaround this hub exists to catch.
    """
    started = bundles_started(period)
    summary = db.session.execute(
        select(
            func.count().label("bundles"),
            func.avg(started.c.hops).label("mean"),
            func.max(started.c.hops).label("max"),
        )
    ).one()
    distribution = db.session.execute(
        select(started.c.hops, func.count()).group_by(started.c.hops).order_by(started.c.hops)
    )
    return {
        "bundles": int(summary.bundles),
        "mean": None if summary.mean is None else round(float(summary.mean), 2),
        "max": None if summary.max is None else int(summary.max),
        "distribution": [{"hops": int(hops), "bundles": int(n)} for hops, n in distribution],
    }


def placement_seconds(period: Period) -> Select[Any]:
    """Seconds from a bundle's first referral to each of its needs' first acceptance.

    Placement is acceptance, not arrival: the domain calls a need `placed` once a receiver
    accepts (the unit is reserved for her at that moment), and what this measures is how
    long agencies took to find her a place. Arrival depends on her travel, is not timed
    on the referral, and a missed one is counted separately as a no-show. Each placed need
    is one figure, timed from when the episode began (her one intake), so a bundle whose
    shelter took an hour and lawyer three days gives both.
    """
    started = bundles_started(period)
    placed = (
        select(
            Referral.bundle_id,
            Referral.need_id,
            func.min(Referral.accepted_at).label("placed_at"),
        )
        .where(Referral.need_id.is_not(None), Referral.accepted_at.is_not(None), COUNTED)
        .group_by(Referral.bundle_id, Referral.need_id)
        .subquery("placed")
    )
    return select(seconds_between(placed.c.placed_at, started.c.started)).join_from(
        placed, started, placed.c.bundle_id == started.c.bundle_id
    )


def stale_capacity_agencies(now: datetime) -> list[dict[str, Any]]:
    """Active agencies with a listed service whose capacity is stale now, or never set.

    The directory's own rule: stale once older than the category's time to live
    (`Capacity.stale_at`, stamped at each update), and a figure never set is shown as
    stale too. It describes today, whatever the period.
    """
    stale = or_(Capacity.updated_at.is_(None), Capacity.stale_at < now)
    rows = db.session.execute(
        select(
            Agency.id,
            Agency.name,
            func.count().label("stale_services"),
            _count_where(Capacity.updated_at.is_(None)).label("never_set"),
            func.min(Capacity.updated_at).label("oldest_update"),
        )
        .join(Capacity, Capacity.agency_id == Agency.id)
        .where(Capacity.listed.is_(True), Agency.status == AgencyStatus.ACTIVE.value, stale)
        .group_by(Agency.id, Agency.name)
        .order_by(Agency.name, Agency.id)
    )
    return [
        {
            "agency_id": row.id,
            "agency_name": row.name,
            "stale_services": int(row.stale_services),
            "never_set": int(row.never_set),
            "oldest_update": row.oldest_update,
        }
        for row in rows
    ]
