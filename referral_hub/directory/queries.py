"""The directory's reads for pages and the API, beside its writes (`service`, `capacity`) and
its search (`search`).

- the capacity board: a provider's own listed services as cards (`board_services`,
  `board_card`); its one-tap corrections are `capacity.adjust_available`;
- an agency's own services, every status, for its administrators (`owned_services`,
  `owned_service`): inactive and closed ones too, another agency's look missing;
- short descriptions of a handful of services at once (`summaries`), for pages that list
  picks: one query for any number of ids, no addresses, no capacity history;
- a service's capacity history and its overflow windows, the directory's for everyone.

Every signed-in actor may read the directory; what only the owning agency may see (who
changed a figure, the referral a hold was for) is left out for the others.

A tap on "-" (someone walked in, a bed broke) or "+" (someone left) on the board is the
agency correcting its count, not a hold for a referral: holds belong to accepted referrals
and move only with them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.orm import joinedload

from referral_hub.agencies.models import Agency
from referral_hub.agencies.service import get_agency
from referral_hub.agencies.vocabulary import receives_referrals
from referral_hub.auth.service import may_administer
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import NotFound
from referral_hub.core.pagination import paginate
from referral_hub.core.tenancy import foreign
from referral_hub.directory import overflow
from referral_hub.directory.freshness import Freshness, capacity_view
from referral_hub.directory.models import CapacityChange, OverflowWindow, Service
from referral_hub.directory.search import SearchQuery, list_services
from referral_hub.directory.service import load
from referral_hub.directory.vocabulary import GENDERS, POPULATIONS, TRAFFICKING_TYPES, unmask
from referral_hub.extensions import db

# --- the capacity board ---------------------------------------------------------------------

BOARD_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Figures:
    """A service's live numbers and how old they are (the API's `CapacitySchema`)."""

    unit: str
    total: int
    available: int
    held: int
    overflow_available: int
    updated_at: datetime | None
    freshness: str
    stale: bool
    stale_after_hours: float


@dataclass(frozen=True, slots=True)
class BoardCard:
    """One service on the capacity board."""

    id: uuid.UUID
    name: str
    category: str
    capacity: Figures | None
    stale_at: datetime | None
    fresh: bool
    hold_minutes: int
    night_hold_minutes: int | None
    # open and coming overflow windows, as `overflow.describe` gives them (the API's shape)
    overflow: tuple[dict[str, Any], ...]


def board_services(actor: Actor) -> list[Service]:
    """The actor's agency's listed services with their capacity (one query, name order)."""
    if actor.agency_id is None:
        return []
    services, _ = list_services(
        actor, SearchQuery(), agency_id=actor.agency_id, limit=BOARD_LIMIT, cursor=None
    )
    return services


def board_card(service: Service, now: datetime) -> BoardCard:
    """A service's numbers as the board shows them, with how old they are."""
    view = capacity_view(service, now)
    figures = Figures(**view) if view is not None else None
    stale_at = None
    if figures is not None and figures.updated_at is not None:
        stale_at = figures.updated_at + timedelta(hours=figures.stale_after_hours)
    return BoardCard(
        id=service.id,
        name=service.name,
        category=service.category.value,
        capacity=figures,
        stale_at=stale_at,
        fresh=figures is not None and figures.freshness == Freshness.FRESH.value,
        hold_minutes=service.hold_minutes,
        night_hold_minutes=service.night_hold_minutes,
        # ended windows count no more, swept or not
        overflow=tuple(
            overflow.describe(window, now)
            for window in service.overflow_windows
            if window.ends_at > now
        ),
    )


# --- an agency's own services ---------------------------------------------------------------

OWNED_LIMIT = 200


def owned_services(
    actor: Actor, agency_id: uuid.UUID, *, limit: int = OWNED_LIMIT
) -> list[Service]:
    """The agency's services in name order (capacity loaded with them), at most `limit`."""
    may_administer(actor, get_agency(actor, agency_id))
    statement = (
        select(Service)
        .options(joinedload(Service.capacity), joinedload(Service.agency))
        .where(Service.agency_id == agency_id)
        .order_by(Service.name, Service.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement).unique())


def owned_service(actor: Actor, service_id: uuid.UUID) -> Service:
    """One service of an agency this actor administers."""
    service = db.session.scalar(
        select(Service)
        .options(joinedload(Service.capacity), joinedload(Service.agency))
        .where(Service.id == service_id)
    )
    if service is None:
        raise NotFound()
    try:
        may_administer(actor, service.agency)
    except NotFound:
        raise foreign("service", service.id) from None
    return service


# --- short descriptions of picks ------------------------------------------------------------

MAX_IDS = 200


@dataclass(frozen=True, slots=True)
class Rules:
    """Whom a service takes: the eligibility a worker weighs."""

    min_age: int | None
    max_age: int | None
    genders: tuple[str, ...]
    populations: tuple[str, ...]
    trafficking_types: tuple[str, ...]
    languages: tuple[str, ...]
    accessibility: tuple[str, ...]
    no_police_report_needed: bool
    no_id_needed: bool
    accepts_children: bool


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    """Name, category, agency and eligibility: no address, no capacity history."""

    id: uuid.UUID
    name: str
    category: str
    status: str
    city: str | None
    confidential: bool
    agency_id: uuid.UUID
    agency_name: str
    agency_kind: str
    eligibility: Rules
    active: bool  # the service and its agency both active: it can take a referral today
    receives_referrals: bool  # its agency's participation: referrals, or counts only


def summaries(service_ids: Collection[uuid.UUID | str]) -> dict[uuid.UUID, ServiceSummary]:
    """id → summary, for those of `service_ids` that exist (unknown ids are left out)."""
    wanted = []
    for value in list(service_ids)[:MAX_IDS]:
        try:
            wanted.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = db.session.execute(_summaries_statement(), {"ids": wanted}).all()
    return {row.id: _summary(row) for row in rows}


@functools.lru_cache(maxsize=1)
def _summaries_statement() -> Any:
    """Built once; the ids are bound at execution."""
    return (
        select(
            Service.id,
            Service.name,
            Service.category,
            Service.status,
            Service.city,
            Service.confidential,
            Service.min_age,
            Service.max_age,
            Service.genders_mask,
            Service.populations_mask,
            Service.trafficking_mask,
            Service.languages,
            Service.accessibility,
            Service.no_police_report_needed,
            Service.no_id_needed,
            Service.accepts_children,
            Agency.id.label("agency_id"),
            Agency.name.label("agency_name"),
            Agency.kind.label("agency_kind"),
            Agency.status.label("agency_status"),
            Agency.participation.label("agency_participation"),
        )
        .join(Agency, Agency.id == Service.agency_id)
        .where(Service.id.in_(bindparam("ids", expanding=True, type_=Uuid())))
    )


def _summary(row: Any) -> ServiceSummary:
    return ServiceSummary(
        id=row.id,
        name=row.name,
        category=row.category.value,
        status=row.status.value,
        city=row.city,
        confidential=row.confidential,
        agency_id=row.agency_id,
        agency_name=row.agency_name,
        agency_kind=row.agency_kind.value,
        eligibility=Rules(
            min_age=row.min_age,
            max_age=row.max_age,
            genders=tuple(unmask(row.genders_mask, GENDERS)),
            populations=tuple(unmask(row.populations_mask, POPULATIONS)),
            trafficking_types=tuple(unmask(row.trafficking_mask, TRAFFICKING_TYPES)),
            languages=tuple(row.languages or ()),
            accessibility=tuple(row.accessibility or ()),
            no_police_report_needed=row.no_police_report_needed,
            no_id_needed=row.no_id_needed,
            accepts_children=row.accepts_children,
        ),
        active=row.status.value == "active" and row.agency_status.value == "active",
        receives_referrals=receives_referrals(row.agency_participation),
    )


# --- a service's history and overflow windows -----------------------------------------------

# changes the hub makes as referrals move (their notes name the referral)
REFERRAL_MOVES = frozenset({"hold", "release", "consume"})


def capacity_history(
    actor: Actor, service_id: uuid.UUID, *, since: datetime | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The numbers are the directory's, for everyone; who changed them and the referral a
    hold or release was for are the owning agency's only (another agency's referral ids and
    staff ids are not the reader's to see)."""
    service = load(service_id)
    statement = select(CapacityChange).where(CapacityChange.service_id == service.id)
    if since is not None:
        statement = statement.where(CapacityChange.at >= since)
    rows, next_cursor = paginate(
        statement,
        [CapacityChange.at, CapacityChange.id],
        limit,
        cursor,
        [datetime.fromisoformat, uuid.UUID],
    )
    owner = actor.kind == ActorKind.SYSTEM or actor.agency_id == service.agency_id
    return [_change_view(row, owner) for row in rows], next_cursor


def _change_view(change: CapacityChange, owner: bool) -> dict[str, Any]:
    return {
        "at": change.at,
        "kind": change.kind,
        "total": change.total,
        "available": change.available,
        "held": change.held,
        "actor_id": change.actor_id if owner else None,
        "note": change.note if owner or change.kind not in REFERRAL_MOVES else None,
    }


def overflow_windows(actor: Actor, service_id: uuid.UUID) -> list[OverflowWindow]:
    """A service's open and coming overflow windows: the directory's, for everyone."""
    return overflow.windows(load(service_id), clock.now())
