"""The network dashboard's chart data: the few aggregates the handoff report has no shape for.

Referrals by status over time (per UTC day in SQL, gathered into weeks or months here),
the time-to-accept distribution in buckets, and capacity freshness per agency. Like
`handoffs`, these are hub-wide, read-only aggregates for coordinators (oversight spans
every agency), so `dashboard` checks the role before any query and records the read
(through `queries.handoff_report`). No query here selects a client id, reference or any
survivor data: counts by day, status, bucket and agency only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Select, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from referral_hub.agencies.models import Agency, AgencyStatus
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.directory.models import Capacity
from referral_hub.extensions import db
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State
from referral_hub.reports import limbo, queries
from referral_hub.reports.handoffs import COUNTED, Period
from referral_hub.reports.sql import seconds_between

# the statuses a chart can tell apart at a glance; `entered_in_error` is a mistake, not a handoff
STATUS_GROUPS: dict[str, tuple[State, ...]] = {
    "waiting": (State.SENT, State.ACKNOWLEDGED, State.INFO_REQUESTED, State.WAITLISTED),
    "placed": (State.ACCEPTED, State.ENGAGED),
    "completed": (State.COMPLETED,),
    "declined": (State.DECLINED,),
    "expired": (State.EXPIRED,),
    "ended_otherwise": (State.NOT_COMPLETED, State.WITHDRAWN, State.SUPERSEDED),
}
GROUP_OF = {state.value: group for group, states in STATUS_GROUPS.items() for state in states}

# time to accept, in buckets: (upper bound in seconds, excluded; None = no bound, label)
ACCEPT_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (15 * 60, "under 15 min"),
    (60 * 60, "15 to 60 min"),
    (4 * 3600, "1 to 4 hours"),
    (24 * 3600, "4 to 24 hours"),
    (3 * 86400, "1 to 3 days"),
    (None, "over 3 days"),
)
FRESHNESS = ("fresh", "aging", "stale", "unknown")


class utc_day(FunctionElement[date]):  # lower case, like the SQL functions it joins
    """`utc_day(moment)`: the UTC calendar day of a stored time, as a date."""

    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)  # PostgreSQL (timestamptz), and the default for printing a statement
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(({moment}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({moment})"  # stored as UTC text; an offset suffix is honoured


def _sent_in(period: Period) -> Any:
    return (Referral.sent_at >= period.start) & (Referral.sent_at < period.end)


# --- the service the page calls ---------------------------------------------------------------


def dashboard(actor: Actor, *, first_day: date, last_day: date) -> dict[str, Any]:
    """Everything the network dashboard shows: the handoff figures (the read recorded as
    the handoff report's), the status series, the time-to-accept buckets, freshness now."""
    queries.may_read_reports(actor)
    figures = queries.handoff_report(actor, first_day=first_day, last_day=last_day)
    period = Period(first_day, last_day)
    now = clock.now()
    return {
        "figures": figures,
        "status_series": status_series(period),
        "accept_buckets": accept_buckets(period),
        "freshness": capacity_freshness(now),
        "in_limbo_now": in_limbo_count(now),
    }


LIMBO_CAP = 100


def in_limbo_count(now: datetime) -> dict[str, Any]:
    """How many rows the in-limbo queue has now, counted up to `LIMBO_CAP` (then "100 or
    more")."""
    found, more = limbo.count(now, LIMBO_CAP)
    return {"count": found, "more": more}


# --- the queries ------------------------------------------------------------------------------


def bucket_size(period: Period) -> str:
    """Days for a fortnight, weeks up to four months, months beyond: 5 to 19 bars."""
    days = (period.last_day - period.first_day).days + 1
    if days <= 14:
        return "day"
    if days <= 124:
        return "week"
    return "month"


def bucket_start(day: date, size: str) -> date:
    if size == "week":
        return day - timedelta(days=day.weekday())  # the Monday
    if size == "month":
        return day.replace(day=1)
    return day


def status_counts_statement(period: Period) -> Select[*tuple[Any, ...]]:
    day = utc_day(Referral.sent_at)
    return (
        select(day.label("day"), Referral.status, func.count())
        .where(_sent_in(period), COUNTED)
        .group_by(day, Referral.status)
        .order_by(day)
    )


def status_counts_by_day(period: Period) -> list[tuple[date, str, int]]:
    """(UTC day sent, status, referrals) for every referral sent in the period."""
    out = []
    for raw_day, status, count in db.session.execute(status_counts_statement(period)):
        parsed = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day)[:10])
        out.append((parsed, State(status).value, int(count)))
    return out


def status_series(period: Period) -> dict[str, Any]:
    """Referrals sent per day, week or month of the period, by status group, gaps as zeros."""
    size = bucket_size(period)
    starts: list[date] = []
    cursor = bucket_start(period.first_day, size)
    while cursor <= period.last_day:
        starts.append(cursor)
        if size == "day":
            cursor += timedelta(days=1)
        elif size == "week":
            cursor += timedelta(days=7)
        else:
            cursor = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
    counts: dict[str, dict[date, int]] = {group: defaultdict(int) for group in STATUS_GROUPS}
    for day, status, count in status_counts_by_day(period):
        counts[GROUP_OF[status]][bucket_start(day, size)] += count
    return {
        "bucket": size,
        "starts": starts,
        "groups": {group: [counts[group][start] for start in starts] for group in STATUS_GROUPS},
    }


def accept_buckets_statement(period: Period) -> Select[Any]:
    # whole seconds: SQLite's julianday arithmetic puts 900 s a hair under 900
    waited = func.round(seconds_between(Referral.accepted_at, Referral.sent_at))
    whens = [(waited < bound, index) for index, (bound, _) in enumerate(ACCEPT_BUCKETS) if bound]
    bucket = case(*whens, else_=len(ACCEPT_BUCKETS) - 1)
    accepted = (
        select(bucket.label("bucket"))
        .where(_sent_in(period), COUNTED, Referral.accepted_at.is_not(None))
        .subquery("accepted")
    )
    return select(accepted.c.bucket, func.count()).group_by(accepted.c.bucket)


def accept_buckets(period: Period) -> list[dict[str, Any]]:
    """How many referrals sent in the period were accepted within each time bucket."""
    rows = db.session.execute(accept_buckets_statement(period)).all()
    found = {int(index): int(count) for index, count in rows}
    return [
        {"label": label, "referrals": found.get(index, 0)}
        for index, (_, label) in enumerate(ACCEPT_BUCKETS)
    ]


def capacity_freshness(now: datetime) -> list[dict[str, Any]]:
    """Per active agency with listed services: how many figures are fresh, aging, stale or
    never set, by the directory's own moments (`aging_at`, `stale_at`, stamped at update)."""
    unknown = Capacity.updated_at.is_(None)
    stale = Capacity.stale_at < now
    aging = Capacity.aging_at <= now

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    rows = db.session.execute(
        select(
            Agency.id,
            Agency.name,
            count(unknown).label("unknown"),
            count(~unknown & stale).label("stale"),
            count(~unknown & ~stale & aging).label("aging"),
            count(~unknown & ~or_(stale, aging)).label("fresh"),
        )
        .join(Capacity, Capacity.agency_id == Agency.id)
        .where(Capacity.listed.is_(True), Agency.status == AgencyStatus.ACTIVE.value)
        .group_by(Agency.id, Agency.name)
        .order_by(Agency.name, Agency.id)
    )
    return [
        {
            "agency_id": row.id,
            "agency_name": row.name,
            **{kind: int(getattr(row, kind)) for kind in FRESHNESS},
        }
        for row in rows
    ]
