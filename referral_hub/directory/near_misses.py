"""Near misses: the services a search only just missed, each with what it misses.

At 11 pm an empty result is a dead end; "would fit except: children not listed" or "12 km
outside your radius" is a phone call the worker can make. When a search finds fewer than a
handful, the same filters are relaxed and the closest services come back ranked by how
little they miss (fewest filters failed, then nearest, then most free capacity).

Why one query that counts misses, rather than one search per dropped filter: dropping one
filter at a time finds nothing when every candidate misses two things (the commonest 11 pm
case), and dropping pairs is dozens of queries. Here each filter is a 0/1 column computed
from the very clauses search uses (`search.filter_clauses`), summed, and the database
keeps the best few (top-N sort, LIMIT). It reads the index range the search reads —
(listed, category, point), a radius search's box widened to `REACH` times the radius, never
the whole directory — and only the few returned reach Python, where the reasons are
worded. It runs only when the search came back short (`for_search`).

What search never shows, a near miss never shows: the same visibility (listed services of
active agencies, in the categories asked for — the need is never relaxed), the same coarse
point and rounded distance for a confidential site.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any

from sqlalchemy import Float, Integer, and_, bindparam, case

from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.directory import geo
from referral_hub.directory import search as finder
from referral_hub.directory.models import Capacity
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    mask,
    primary_language,
    unmask,
)
from referral_hub.extensions import db

HANDFUL = 3  # a search with fewer results than this also shows its near misses
LIMIT = 5  # near misses shown
MAX_MISSES = 3  # a service failing more of the filters is not "near"
REACH = 2.0  # a radius search looks this many times as far (and at least 10 km further)

# the search parameter each filter is set by, as the API names it
PARAMETERS = {
    "available": "available",
    "age": "age",
    "gender": "gender",
    "populations": "population",
    "languages": "language",
    "trafficking_types": "trafficking_type",
    "accessibility": "accessibility",
    "no_id_needed": "no_id_needed",
    "no_police_report_needed": "no_police_report_needed",
    "accepts_children": "accepts_children",
    "radius": "radius_km",
}


def for_search(
    actor: Actor, query: finder.SearchQuery, found: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The near misses to show beside `found` (search's results): none once it found a
    handful (or as many as its limit asked for)."""
    if len(found) >= min(HANDFUL, query.limit):
        return []
    return find(actor, query)


def find(actor: Actor, query: finder.SearchQuery, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Up to `limit` services failing 1 to `MAX_MISSES` of the query's filters, best first:
    each a search result (same shape) with `misses`, what it fails and why."""
    shape = query.shape()
    if not set(PARAMETERS) & shape:
        return []  # nothing to relax: the need alone
    now = clock.now()
    values = query.values(now) | {"limit": limit, "max_misses": MAX_MISSES}
    if query.near is not None and query.radius_km is not None:
        reach = max(query.radius_km * REACH, query.radius_km + 10)
        box = geo.bounding_box(*query.near, reach)
        names = ("reach_min_lat", "reach_max_lat", "reach_min_lon", "reach_max_lon")
        values |= dict(zip(names, box, strict=True))
    rows = db.session.execute(_statement(shape), values).all()
    return [finder.result(row, query, now) | {"misses": misses(row, query)} for row in rows]


def _p(name: str, type_: Any = None) -> Any:
    return bindparam(name, type_=type_)


@functools.lru_cache(maxsize=512)
def _statement(shape: finder.SearchShape) -> Any:
    """Built once per shape of query, like search's; values are bound at execution."""
    c = Capacity.__table__.c
    flags: dict[str, Any] = {}
    for name, clause in finder.filter_clauses(shape).items():
        # the radius's box is for the index: the miss is the distance alone
        kept = finder.within_radius() if name == "radius" else clause
        flags[name] = case((kept, 0), else_=1)
    missed = functools.reduce(operator.add, flags.values())
    where = [*finder.visible(), missed.between(1, _p("max_misses", Integer()))]
    if "radius" in shape:
        where += [
            c.search_lat.between(_p("reach_min_lat", Float()), _p("reach_max_lat", Float())),
            c.search_lon.between(_p("reach_min_lon", Float()), _p("reach_max_lon", Float())),
        ]
    placed: list[Any] = []  # nearest first; a service with no point after those with one
    if "near" in shape:
        placed = [
            case((c.search_lat.is_(None), 1), else_=0).label("no_point"),
            finder.squared_distance().label("distance_order"),
        ]
    rows = finder.ranked_rows(
        shape,
        *(flag.label(f"miss_{name}") for name, flag in flags.items()),
        missed.label("missed"),
        *placed,
        c.genders_mask,
        c.populations_mask,
        c.trafficking_mask,
        c.accessibility_mask,
    )
    columns = rows.selected_columns
    order = [columns.missed, *(columns[column.name] for column in placed)]
    ranked = (
        rows.where(and_(*where))
        .order_by(*order, columns.available.desc(), columns.service_id)
        .limit(_p("limit", Integer()))
        .subquery("near")
    )
    outer = [ranked.c.missed, *(ranked.c[column.name] for column in placed)]
    return finder.with_service(ranked).order_by(
        *outer, ranked.c.available.desc(), ranked.c.service_id
    )


# --- why ------------------------------------------------------------------------------------


def misses(row: Any, query: finder.SearchQuery) -> list[dict[str, Any]]:
    """What the service fails, in the order of search's filters: `filter` (the search
    parameter), `reason` (a code the pages word), and the facts the words need."""
    found = []
    for name in PARAMETERS:
        if getattr(row, f"miss_{name}", 0):
            found.append({"filter": PARAMETERS[name]} | _why(name, row, query))
    return found


def _missing(wanted: tuple[str, ...], bits: int, vocabulary: tuple[str, ...]) -> list[str]:
    """Those of `wanted` the service's mask lacks, in the order asked."""
    return [value for value in dict.fromkeys(wanted) if not bits & mask([value], vocabulary)]


def _why(name: str, row: Any, query: finder.SearchQuery) -> dict[str, Any]:
    if name == "available":
        if row.updated_at is None:
            return {"reason": "capacity_unknown"}
        return {"reason": "no_free_places", "unit": row.unit, "held": row.held}
    if name == "age":
        return {"reason": "age_range", "min_age": row.min_age, "max_age": row.max_age}
    if name == "gender":
        return {"reason": "genders_only", "values": unmask(row.genders_mask, GENDERS)}
    if name == "populations":
        missing = _missing(query.populations, row.populations_mask, POPULATIONS)
        return {"reason": "populations_not_listed", "values": missing}
    if name == "languages":
        asked = sorted({primary_language(tag) for tag in query.languages})
        return {
            "reason": "languages_not_listed",
            "values": asked,
            "offered": list(row.languages or []),
        }
    if name == "trafficking_types":
        missing = _missing(query.trafficking_types, row.trafficking_mask, TRAFFICKING_TYPES)
        return {"reason": "trafficking_types_not_listed", "values": missing}
    if name == "accessibility":
        missing = _missing(query.accessibility, row.accessibility_mask, ACCESSIBILITY)
        return {"reason": "accessibility_not_listed", "values": missing}
    if name == "radius":
        return {"reason": "outside_radius", "km_outside": _km_outside(row, query)}
    return {  # the three "needs no …" flags
        "no_id_needed": {"reason": "may_ask_for_id"},
        "no_police_report_needed": {"reason": "may_ask_for_police_report"},
        "accepts_children": {"reason": "children_not_listed"},
    }[name]


def _km_outside(row: Any, query: finder.SearchQuery) -> int:
    """Whole km beyond the radius, from the same (coarse, for a confidential site) point
    and the same rounding as the distance search reports: it says no more than that."""
    (lat, lon), radius = query.near or (row.search_lat, row.search_lon), query.radius_km or 0.0
    distance = geo.haversine_km(lat, lon, row.search_lat, row.search_lon)
    shown = round(distance) if row.confidential else round(distance, 1)
    return max(1, math.ceil(shown - radius))
