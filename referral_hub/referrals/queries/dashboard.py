"""A sending agency's bundles at a glance: the intake worker's dashboard and a client's page.

Tenant-scoped to the actor's own agency (bundles it sent). Two queries per batch of
bundles — the bundles with their client's reference, then every need's facts and next
deadline grouped in SQL — and a bounded walk, newest first, however long the history.
Need statuses and "in limbo" come from `referrals.bundles.classify`, the rule the bundle
view and the coordinators' queue use.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Uuid, and_, bindparam, case, func, or_, select

from referral_hub.agencies.models import User
from referral_hub.clients.models import Client
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import Forbidden
from referral_hub.extensions import db
from referral_hub.referrals import bundles, priority
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Bundle, Need, Referral
from referral_hub.referrals.states import OPEN, State

BATCH = 200
MAX_SCANNED = 2000  # bundles looked at for one page, at most: the page stays cheap


@dataclass(frozen=True, slots=True)
class SentNeed:
    """One need of a sent bundle: its status (`bundles.classify`), failed hops, why it is in
    limbo (None: it is not) and, while pending or placed, what the sender waits for next."""

    need_id: uuid.UUID
    category: str
    urgency: str
    status: str
    hops: int
    why: str | None
    next_deadline: datetime | None


@dataclass(frozen=True, slots=True)
class SentBundle:
    """A bundle on the intake dashboard (and a client's page): references, statuses,
    categories and times only."""

    bundle_id: uuid.UUID
    client_id: uuid.UUID
    client_reference: str
    caseworker: str | None  # the sending caseworker's name; None: nobody yet
    urgency: str
    created_at: datetime
    status: str
    in_limbo: bool
    limbo_reasons: list[str]
    next_deadline: datetime | None
    needs: list[SentNeed]


def sent_bundles(
    actor: Actor,
    *,
    client_id: uuid.UUID | None = None,
    open_only: bool = True,
    limit: int = 50,
    now: datetime | None = None,
    assignee: str | None = None,
) -> list[SentBundle]:
    """Up to `limit` bundles the actor's agency sent (of one client, if given).

    `open_only` leaves out bundles whose every need is met. Ordered for a worker: in limbo
    first, then by urgency, then newest first. Each item: bundle id, client id and
    reference, caseworker (a staff name, or None), urgency, created_at, status, in_limbo,
    limbo_reasons, next_deadline and needs (category, status, hops, why, next_deadline).
    `assignee` (`me`, a user id, `none`) keeps the bundles whose caseworker is that person
    (or nobody).
    """
    if actor.agency_id is None:
        raise Forbidden("Bundles belong to an agency.")
    owner = referrals.assignee_filter(actor, assignee)
    whose = owner(Bundle.sender_assignee_id) if owner is not None else None
    now = now or clock.now()
    found: list[SentBundle] = []
    after: tuple[datetime, uuid.UUID] | None = None
    scanned = 0
    while len(found) < limit and scanned < MAX_SCANNED:
        rows = _bundles(actor.agency_id, client_id, after, whose)
        scanned += len(rows)
        needs = _needs(actor.agency_id, [row.id for row in rows], now)
        for row in rows:
            item = _item(row, needs.get(row.id, []))
            if open_only and item.status == "met":
                continue
            found.append(item)
            if len(found) == limit:
                break
        if len(rows) < BATCH:
            break
        after = (rows[-1].created_at, rows[-1].id)
    found.sort(
        key=lambda item: (
            item.status == "met",
            *_most_pressing(item, now),
            not item.in_limbo,
            -item.created_at.timestamp(),
        )
    )
    return found


def _most_pressing(item: SentBundle, now: datetime) -> tuple[Any, ...]:
    """The bundle's place in the one order: that of its most pressing need, each need with
    its own urgency and deadline (an overdue emergency shelter, not a routine clinic)."""
    timed = [
        priority.key(need.urgency, need.next_deadline, now)
        for need in item.needs
        if need.next_deadline is not None
    ]
    return min(timed, default=priority.key(item.urgency, None, now))


def _bundles(
    agency_id: uuid.UUID,
    client_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    whose: Any = None,
) -> list[Any]:
    values: dict[str, Any] = {"agency_id": agency_id, "batch": BATCH}
    if client_id is not None:
        values["client_id"] = client_id
    if after is not None:
        values["moment"], values["last_id"] = after
    statement = _bundles_statement(client_id is not None, after is not None)
    if whose is not None:
        statement = statement.where(whose)
    return list(db.session.execute(statement, values).all())


@functools.lru_cache(maxsize=8)
def _bundles_statement(of_client: bool, paged: bool) -> Any:
    """Built once per shape, values bound at execution: a page pays for SQL, not for
    building SQL."""
    statement = (
        select(
            Bundle.id,
            Bundle.client_id,
            Bundle.urgency,
            Bundle.created_at,
            Client.reference.label("client_reference"),
            User.display_name.label("caseworker"),
        )
        .join(Client, Client.id == Bundle.client_id)
        .outerjoin(User, User.id == Bundle.sender_assignee_id)
        .where(Bundle.sender_agency_id == bindparam("agency_id", type_=Uuid()))
        .order_by(Bundle.created_at.desc(), Bundle.id.desc())
        .limit(bindparam("batch", type_=Integer()))
    )
    if of_client:
        statement = statement.where(Bundle.client_id == bindparam("client_id", type_=Uuid()))
    if paged:
        moment = bindparam("moment", type_=Bundle.__table__.c.created_at.type)
        last_id = bindparam("last_id", type_=Uuid())
        statement = statement.where(
            or_(Bundle.created_at < moment, and_(Bundle.created_at == moment, Bundle.id < last_id))
        )
    return statement


def _in(states: Iterable[State]) -> Any:
    return Referral.status.in_([state.value for state in states])


def _needs(
    agency_id: uuid.UUID, bundle_ids: Collection[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Every need of these bundles with its facts and the next deadline: one grouped query."""
    if not bundle_ids:
        return {}
    rows = db.session.execute(
        _needs_statement(), {"agency_id": agency_id, "bundle_ids": list(bundle_ids), "now": now}
    ).all()
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in rows:
        facts = bundles.NeedFacts(
            urgency=Urgency(row.urgency),
            hops=int(row.hops or 0),
            met=bool(row.met),
            placed=bool(row.placed),
            waiting=bool(row.waiting),
            late=bool(row.late),
        )
        found.setdefault(row.bundle_id, []).append(
            {"need_id": row.id, "category": row.category, "facts": facts, "next": _aware(row)}
        )
    return found


@functools.lru_cache(maxsize=1)
def _needs_statement() -> Any:
    def any_where(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    now = bindparam("now", type_=Referral.__table__.c.respond_by.type)
    # what the sender waits for next on each open referral
    deadline = case(
        (Referral.status == State.SENT.value, Referral.acknowledge_by),
        (
            Referral.status.in_(
                [State.ACKNOWLEDGED.value, State.INFO_REQUESTED.value, State.WAITLISTED.value]
            ),
            Referral.respond_by,
        ),
        (Referral.status == State.ACCEPTED.value, Referral.arrive_by),
        else_=None,
    )
    return (
        select(
            Need.bundle_id,
            Need.id,
            Need.category,
            Need.urgency,
            func.sum(case((_in(bundles.HOPS), 1), else_=0)).label("hops"),
            any_where(_in(bundles.MET)).label("met"),
            any_where(_in(bundles.PLACED)).label("placed"),
            any_where(_in(OPEN)).label("waiting"),
            any_where(bundles.late_referral(now)).label("late"),
            func.min(deadline).label("next_deadline"),
        )
        .join(Bundle, Bundle.id == Need.bundle_id)
        .outerjoin(Referral, Referral.need_id == Need.id)
        .where(
            Need.bundle_id.in_(bindparam("bundle_ids", expanding=True, type_=Uuid())),
            Bundle.sender_agency_id == bindparam("agency_id", type_=Uuid()),
        )
        .group_by(Need.bundle_id, Need.id, Need.category, Need.urgency)
        .order_by(Need.bundle_id, Need.category)
    )


def _aware(row: Any) -> datetime | None:
    """min() over a case() loses the column type: SQLite hands back text or naive UTC."""
    value = row.next_deadline
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.now().tzinfo)
    return value  # type: ignore[no-any-return]


def _item(row: Any, needs: list[dict[str, Any]]) -> SentBundle:
    shown = []
    reasons = []
    for need in needs:
        status, hops, why = bundles.classify(need["facts"])
        if why:
            reasons.append(bundles.limbo_reason(need["category"], why))
        shown.append(
            SentNeed(
                need_id=need["need_id"],
                category=need["category"],
                urgency=need["facts"].urgency.value,
                status=status,
                hops=hops,
                why=why,
                next_deadline=need["next"] if status in ("pending", "placed") else None,
            )
        )
    statuses = {need.status for need in shown}
    overall = (
        "met" if statuses <= {"met"} else "placed" if statuses <= {"met", "placed"} else "open"
    )
    deadlines = [need.next_deadline for need in shown if need.next_deadline is not None]
    created_at = row.created_at
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=clock.now().tzinfo)
    return SentBundle(
        bundle_id=row.id,
        client_id=row.client_id,
        client_reference=row.client_reference,
        caseworker=row.caseworker,
        urgency=row.urgency.value,
        created_at=created_at,
        status=overall,
        in_limbo=bool(reasons),
        limbo_reasons=reasons,
        next_deadline=min(deadlines) if deadlines else None,
        needs=shown,
    )
