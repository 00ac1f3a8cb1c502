"""Search: the ranked matches for a person's needs, and the directory listed by name with the
same hard filters.

One compiled statement per shape of query (which filters are in play), values bound at
execution; the filters and the score are defined once here, and `near_misses` relaxes
the very same clauses. How old a figure is, and how that ranks, is `freshness`.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from referral_hub.agencies.models import Agency
from referral_hub.agencies.vocabulary import Participation, receives_referrals
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.db import UTCDateTime
from referral_hub.core.pagination import paginate
from referral_hub.directory import geo, overflow
from referral_hub.directory.freshness import WEIGHT, Freshness, tier, ttl_of
from referral_hub.directory.models import Capacity, Service, ServiceLanguage
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    mask,
    primary_language,
)
from referral_hub.extensions import db

# The filters a query uses, by name (not their values): the key of its compiled statement.
SearchShape = frozenset[str]
FILTERS = (
    "categories",
    "available",
    "age",
    "gender",
    "populations",
    "languages",
    "near",
    "trafficking_types",
    "accessibility",
    "no_id_needed",
    "no_police_report_needed",
    "accepts_children",
)


def _in_play(value: Any) -> bool:
    """A filter is used unless left at its default (age 0 is a filter)."""
    return value is not None and value is not False and value not in ((), "")


@dataclass(frozen=True)
class SearchQuery:
    categories: tuple[Category, ...] = ()
    available: bool = False
    age: int | None = None
    gender: str | None = None
    populations: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    near: tuple[float, float] | None = None
    radius_km: float | None = None
    limit: int = 20
    trafficking_types: tuple[str, ...] = ()
    accessibility: tuple[str, ...] = ()
    no_id_needed: bool = False
    no_police_report_needed: bool = False
    accepts_children: bool = False

    def shape(self) -> SearchShape:
        """Which filters are in play: one compiled statement per shape, values bound later."""
        names = {name for name in FILTERS if _in_play(getattr(self, name))}
        if self.near is not None and self.radius_km is not None:
            names.add("radius")
        return frozenset(names)

    def values(self, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"now": now, "limit": self.limit}
        # no category asked for: every category, so that the index on (listed, category,
        # latitude, longitude) is still read as a few ranges (the CHECK allows no other)
        wanted = self.categories or tuple(Category)
        values["categories"] = [Category(category).value for category in wanted]
        if self.age is not None:
            values["age"] = self.age
        if self.gender:
            values["gender_bit"] = mask([self.gender], GENDERS)
        if self.populations:
            values["population_bits"] = mask(self.populations, POPULATIONS)
        if self.languages:
            values["languages"] = sorted({primary_language(tag) for tag in self.languages})
        if self.trafficking_types:
            values["trafficking_bits"] = mask(self.trafficking_types, TRAFFICKING_TYPES)
        if self.accessibility:
            values["accessibility_bits"] = mask(self.accessibility, ACCESSIBILITY)
        if self.near is not None:
            lat, lon = self.near
            values |= {"lat": lat, "lon": lon, "lon_km": geo.KM_PER_DEGREE * geo.lon_scale(lat)}
            if self.radius_km is not None:
                min_lat, max_lat, min_lon, max_lon = geo.bounding_box(lat, lon, self.radius_km)
                values |= {
                    "min_lat": min_lat,
                    "max_lat": max_lat,
                    "min_lon": min_lon,
                    "max_lon": max_lon,
                    "radius_squared": self.radius_km**2,
                }
        return values


def to_query(args: dict[str, Any], limit: int = 20) -> SearchQuery:
    """A search's arguments as loaded by `schemas.SearchArgs` (or `FilterArgs`), for the API
    and the intake page alike."""
    near = None
    if args.get("near"):
        lat, lon = (float(part) for part in args["near"].split(","))
        near = (lat, lon)
    return SearchQuery(
        categories=tuple(args.get("category") or ()),
        available=bool(args.get("available")),
        age=args.get("age"),
        gender=args.get("gender"),
        populations=tuple(args.get("population") or ()),
        languages=tuple(args.get("language") or ()),
        near=near,
        radius_km=args.get("radius_km"),
        limit=limit,
        trafficking_types=tuple(args.get("trafficking_type") or ()),
        accessibility=tuple(args.get("accessibility") or ()),
        no_id_needed=bool(args.get("no_id_needed")),
        no_police_report_needed=bool(args.get("no_police_report_needed")),
        accepts_children=bool(args.get("accepts_children")),
    )


def _p(name: str, type_: Any = None, expanding: bool = False) -> Any:
    return bindparam(name, type_=type_, expanding=expanding)


def _filters(shape: SearchShape) -> list[Any]:
    """Hard filters on the narrow capacity rows (plus the small agency table), as bound
    parameters: see `SearchQuery.values` for what fills them."""
    return [*visible(), *filter_clauses(shape).values()]


def visible() -> list[Any]:
    """What every search reads, whatever its filters: listed services of active agencies
    in the categories asked for (near misses keep these too)."""
    c = Capacity.__table__.c
    return [
        c.listed.is_(True),
        Agency.__table__.c.status == "active",
        c.category.in_(_p("categories", expanding=True)),
    ]


def filter_clauses(shape: SearchShape) -> dict[str, Any]:
    """Each filter in play, by its name in `FILTERS` ("radius" for the distance): the one
    definition search filters on and near misses relax."""
    c = Capacity.__table__.c
    clauses: dict[str, Any] = {}
    if "available" in shape:  # a regular unit free, or an overflow place open and free
        clauses["available"] = or_(
            c.available > 0, overflow.has_free_place(c.service_id, _p("now", UTCDateTime()))
        )
    if "age" in shape:
        clauses["age"] = and_(
            or_(c.min_age.is_(None), c.min_age <= _p("age", Integer())),
            or_(c.max_age.is_(None), c.max_age >= _p("age", Integer())),
        )
    if "gender" in shape:
        clauses["gender"] = or_(
            c.genders_mask == 0, c.genders_mask.op("&")(_p("gender_bit", Integer())) != 0
        )
    if "populations" in shape:
        bits = _p("population_bits", Integer())
        clauses["populations"] = c.populations_mask.op("&")(bits) == bits
    if "trafficking_types" in shape:
        # no types listed: the service takes survivors of any; else every type asked for
        bits = _p("trafficking_bits", Integer())
        clauses["trafficking_types"] = or_(
            c.trafficking_mask == 0, c.trafficking_mask.op("&")(bits) == bits
        )
    if "accessibility" in shape:
        bits = _p("accessibility_bits", Integer())
        clauses["accessibility"] = c.accessibility_mask.op("&")(bits) == bits
    for flag in ("no_id_needed", "no_police_report_needed", "accepts_children"):
        if flag in shape:
            clauses[flag] = c[flag].is_(True)
    if "languages" in shape:
        language = ServiceLanguage.__table__.c
        clauses["languages"] = (
            select(language.service_id)
            .where(
                language.service_id == c.service_id,
                language.language.in_(_p("languages", expanding=True)),
            )
            .exists()
        )
    if "radius" in shape:
        # the box is answered inside the index (both are its columns): only rows in the
        # box are read from the table, whatever lies in the same band of latitude elsewhere
        clauses["radius"] = and_(
            c.search_lat.between(_p("min_lat", Float()), _p("max_lat", Float())),
            c.search_lon.between(_p("min_lon", Float()), _p("max_lon", Float())),
            within_radius(),
        )
    return clauses


def within_radius() -> Any:
    return squared_distance() <= _p("radius_squared", Float())


def squared_distance() -> Any:
    """Flat-earth km² to the search point: monotone with distance, no roots, any database."""
    c = Capacity.__table__.c
    dy = (c.search_lat - _p("lat", Float())) * geo.KM_PER_DEGREE
    dx = (c.search_lon - _p("lon", Float())) * _p("lon_km", Float())
    return dx * dx + dy * dy


def ranking(shape: SearchShape) -> tuple[Any, Any]:
    """(score, stale_last): free capacity, fresh numbers, near, quick to answer."""
    c, a = Capacity.__table__.c, Agency.__table__.c
    now = _p("now", UTCDateTime())
    freshness = case(
        (c.updated_at.is_(None), WEIGHT[Freshness.UNKNOWN]),
        (c.stale_at < now, WEIGHT[Freshness.STALE]),
        (c.aging_at <= now, WEIGHT[Freshness.AGING]),
        else_=WEIGHT[Freshness.FRESH],
    )
    stale_last = case((or_(c.updated_at.is_(None), c.stale_at < now), 1), else_=0)
    availability = case((c.available > 0, 1.0), else_=0.0)
    response = func.coalesce(1.0 / (1.0 + a.response_minutes / 60.0), 0.5)
    nearness: Any = (
        func.coalesce(1.0 / (1.0 + squared_distance() / 400.0), 0.0) if "near" in shape else 0.5
    )
    score = 0.35 * availability + 0.30 * freshness + 0.25 * nearness + 0.10 * response
    return score, stale_last


def ranked_rows(shape: SearchShape, *extra: Any) -> Any:
    """The narrow capacity rows joined to the small agency table, with what a result
    shows of them (and `extra` columns); the caller adds the filters and the order."""
    c, a = Capacity.__table__.c, Agency.__table__.c
    score, stale_last = ranking(shape)
    return select(
        c.service_id,
        c.unit,
        c.total,
        c.available,
        c.held,
        c.updated_at,
        c.category,
        c.search_lat,
        c.search_lon,
        a.name.label("agency_name"),
        a.kind.label("agency_kind"),
        a.participation.label("agency_participation"),
        score.label("score"),
        stale_last.label("stale_last"),
        *extra,
    ).select_from(Capacity.__table__.join(Agency.__table__, a.id == c.agency_id))


def with_service(ranked: Any) -> Any:
    """The few ranked rows with the wide service row's fields a result shows."""
    s = Service.__table__.c
    return select(
        ranked,
        s.name,
        s.agency_id,
        s.city,
        s.region,
        s.confidential,
        s.min_age,
        s.max_age,
        s.languages,
        s.phone,
        overflow.free_places(ranked.c.service_id, _p("now", UTCDateTime())).label(
            "overflow_available"
        ),
    ).join(Service.__table__, s.id == ranked.c.service_id)


@functools.lru_cache(maxsize=512)
def _search_statement(shape: SearchShape) -> Any:
    """The ranked search for one shape of query, built once and reused with new values.

    The inner query filters, scores and orders the narrow capacity rows (indexed on listed,
    category and a latitude band) joined only to the small agency table; the outer query
    reads the wide service rows for the few it returns.
    """
    rows = ranked_rows(shape)
    columns = rows.selected_columns
    ranked = (
        rows.where(and_(*_filters(shape)))
        .order_by(columns.stale_last, columns.score.desc(), columns.service_id)
        .limit(_p("limit", Integer()))
        .subquery("ranked")
    )
    return with_service(ranked).order_by(
        ranked.c.stale_last, ranked.c.score.desc(), ranked.c.service_id
    )


def search(actor: Actor, query: SearchQuery) -> list[dict[str, Any]]:
    """Ranked matches: free capacity, fresh numbers, near, quick to answer — stale last.

    The reported `distance_km` is the great-circle distance to the service's search point
    (a coarse one for confidential sites).
    """
    now = clock.now()
    rows = db.session.execute(_search_statement(query.shape()), query.values(now)).all()
    return [result(row, query, now) for row in rows]


def result(row: Any, query: SearchQuery, now: datetime) -> dict[str, Any]:
    category = Category(row.category)
    ttl = ttl_of(category)
    updated_at = row.updated_at
    if updated_at is not None and updated_at.tzinfo is None:  # SQLite hands back naive UTC
        updated_at = updated_at.replace(tzinfo=now.tzinfo)
    freshness = tier(updated_at, ttl, now)
    distance = None
    if query.near is not None and row.search_lat is not None:
        distance = geo.haversine_km(*query.near, row.search_lat, row.search_lon)
        distance = round(distance) if row.confidential else round(distance, 1)
    stale = freshness in (Freshness.STALE, Freshness.UNKNOWN)
    return {
        "service": {
            "id": row.service_id,
            "name": row.name,
            "category": category.value,
            "city": row.city,
            "region": row.region,
            "confidential": row.confidential,
            "min_age": row.min_age,
            "max_age": row.max_age,
            "languages": row.languages,
            "phone": row.phone,
        },
        "agency": {
            "id": row.agency_id,
            "name": row.agency_name,
            "kind": row.agency_kind,
            "participation": Participation(row.agency_participation).value,
            "receives_referrals": receives_referrals(row.agency_participation),
        },
        "capacity": {
            "unit": row.unit,
            "total": row.total,
            "available": row.available,
            "held": row.held,
            "overflow_available": int(row.overflow_available or 0),
            "updated_at": updated_at,
            "freshness": freshness.value,
            "stale": stale,
            "stale_after_hours": ttl.total_seconds() / 3600,
        },
        "distance_km": distance,
        "score": round(float(row.score), 4),
        "stale": stale,
    }


def list_services(
    actor: Actor, query: SearchQuery, *, agency_id: uuid.UUID | None, limit: int, cursor: str | None
) -> tuple[list[Service], str | None]:
    """The directory in name order, with the search's hard filters."""
    values = query.values(clock.now())
    values.pop("limit")
    statement = (
        select(Service)
        .options(
            joinedload(Service.agency),
            joinedload(Service.capacity),
            selectinload(Service.overflow_windows),
        )
        .join(Capacity, Capacity.service_id == Service.id)
        .join(Agency, Agency.id == Service.agency_id)
        .where(*_filters(query.shape()))
        .params(**values)
    )
    if agency_id is not None:
        statement = statement.where(Service.agency_id == agency_id)
    return paginate(statement, [Service.name, Service.id], limit, cursor, [str, uuid.UUID])
