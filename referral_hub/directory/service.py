"""Services, live capacity and search.

Who may change a service: its own agency's administrators and providers (and that
agency's systems with `capacity:write` for numbers, `admin` for the rest), and hub
administrators. Everyone signed in may read the directory — but a street address leaves
the hub only to the owning agency.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Float, Integer, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.util import identity_key

from referral_hub.agencies.models import Agency, AgencyStatus
from referral_hub.agencies.service import email_staff
from referral_hub.agencies.vocabulary import Participation, receives_referrals
from referral_hub.audit import service as audit
from referral_hub.core import clock, crypto
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import UTCDateTime
from referral_hub.core.errors import Forbidden, NotFound, ValidationFailed
from referral_hub.core.pagination import paginate
from referral_hub.directory import geo, holds, overflow
from referral_hub.directory.freshness import WEIGHT, Freshness, tier, ttl_for
from referral_hub.directory.models import (
    Capacity,
    CapacityChange,
    OverflowWindow,
    Service,
    ServiceLanguage,
)
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
    Unit,
    default_unit,
    mask,
    primary_language,
    unmask,
)
from referral_hub.extensions import db

# --- permissions ----------------------------------------------------------------------------


def _may_edit(actor: Actor, agency_id: uuid.UUID, scope: str = "admin") -> None:
    if actor.is_hub_wide:
        return
    if actor.agency_id == agency_id:
        if actor.kind == ActorKind.CLIENT and scope in actor.scopes:
            return
        if actor.has_role("agency_admin", "provider"):
            return
    raise Forbidden("Only the agency that offers a service may change it.")


def _load(service_id: uuid.UUID) -> Service:
    statement = select(Service).options(joinedload(Service.agency)).where(Service.id == service_id)
    service = db.session.scalar(statement)
    if service is None:
        raise NotFound()
    return service


# --- services -------------------------------------------------------------------------------


@dataclass
class Eligibility:
    min_age: int | None = None
    max_age: int | None = None
    genders: list[str] = field(default_factory=list)
    populations: list[str] = field(default_factory=list)
    trafficking_types: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    accessibility: list[str] = field(default_factory=list)
    no_police_report_needed: bool = False
    no_id_needed: bool = False
    accepts_children: bool = False
    notes: str | None = None


def _apply_eligibility(service: Service, eligibility: dict[str, Any]) -> None:
    data = Eligibility(**eligibility)
    if data.min_age is not None and data.max_age is not None and data.max_age < data.min_age:
        raise ValidationFailed(errors={"eligibility.max_age": ["Must not be below min_age."]})
    service.min_age, service.max_age = data.min_age, data.max_age
    service.genders_mask = mask(data.genders, GENDERS)
    service.populations_mask = mask(data.populations, POPULATIONS)
    service.trafficking_mask = mask(data.trafficking_types, TRAFFICKING_TYPES)
    service.languages = list(dict.fromkeys(data.languages))
    service.accessibility = sorted(set(data.accessibility))
    service.no_police_report_needed = data.no_police_report_needed
    service.no_id_needed = data.no_id_needed
    service.accepts_children = data.accepts_children
    service.eligibility_notes = data.notes
    wanted = {primary_language(tag) for tag in service.languages}
    service.language_rows = [row for row in service.language_rows if row.language in wanted]
    have = {row.language for row in service.language_rows}
    service.language_rows.extend(ServiceLanguage(language=code) for code in sorted(wanted - have))


def _apply_location(service: Service, location: dict[str, Any]) -> None:
    """A confidential site's name goes with its address, encrypted (a shelter's name can
    say where she is); a public site's name is public."""
    service.city = location.get("city")
    service.region = location.get("region")
    service.country = location.get("country")
    service.confidential = bool(location.get("confidential", False))
    name = location.get("name")
    service.location_name = None if service.confidential else name
    latitude, longitude = location.get("latitude"), location.get("longitude")
    address = location.get("address") or {}
    private = {"address": address, "latitude": latitude, "longitude": longitude}
    if service.confidential and name:
        private["name"] = name
    kept = address or latitude is not None or "name" in private
    service.address_encrypted = crypto.encrypt(json.dumps(private).encode()) if kept else None
    if latitude is None or longitude is None:
        service.search_lat = service.search_lon = None
    elif service.confidential:
        service.search_lat, service.search_lon = geo.coarse(latitude, longitude)
    else:
        service.search_lat, service.search_lon = float(latitude), float(longitude)
    if service.confidential and service.hsds_extra:
        service.hsds_extra = without_places(service.hsds_extra)


def without_places(extra: dict[str, Any]) -> dict[str, Any]:
    """A kept HSDS document with no site in it: what a confidential site's row may hold.

    An imported document's locations (its own, its service_at_locations', its
    organization's) leave the row when the site is or becomes confidential, so neither a
    later export nor a look at the database can give her address away.
    """
    kept: dict[str, Any] = json.loads(json.dumps(extra))
    kept.pop("service_at_locations", None)
    for holder in (kept.get("service"), kept.get("hub")):
        if isinstance(holder, dict):
            holder.pop("service_at_locations", None)
    for holder in (kept.get("organization"), (kept.get("service") or {}).get("organization")):
        if isinstance(holder, dict):
            holder.pop("locations", None)
    return kept


HOLD_RANGE = (15, 72 * 60)  # minutes: 15 min to 72 h


def _check_hold_lengths(day: Any, night: Any) -> None:
    """The provider's hold lengths, whole minutes in range (the pages and the API alike)."""
    low, high = HOLD_RANGE
    for name, value in (("hold_minutes", day), ("night_hold_minutes", night)):
        if value is None and name == "night_hold_minutes":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(
                errors={name: [f"Whole minutes from {low} to {high} (15 min to 72 h)."]}
            )


def create_service(actor: Actor, *, agency_id: uuid.UUID | None = None, **fields: Any) -> Service:
    agency_id = agency_id or actor.agency_id
    if agency_id is None:
        raise ValidationFailed(errors={"agency_id": ["Name the agency that offers the service."]})
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise NotFound()
    _may_edit(actor, agency.id)
    unit = fields.pop("unit", None)
    eligibility = fields.pop("eligibility", None) or {}
    location = fields.pop("location", None) or {}
    fields.setdefault("status", ServiceStatus.ACTIVE)
    fields.setdefault("hold_minutes", 90)
    _check_hold_lengths(fields["hold_minutes"], fields.get("night_hold_minutes"))
    service = Service(agency_id=agency.id, **fields)
    _apply_eligibility(service, eligibility)
    _apply_location(service, location)
    service.capacity = Capacity(unit=Unit(unit) if unit else default_unit(service.category))
    _sync_search(service)
    db.session.add(service)
    db.session.flush()
    audit.record(actor, "service.created", service, details={"category": service.category.value})
    return service


def update_service(actor: Actor, service_id: uuid.UUID, **changes: Any) -> Service:
    service = _load(service_id)
    _may_edit(actor, service.agency_id)
    touched = sorted(changes)
    if "hold_minutes" in changes or "night_hold_minutes" in changes:
        _check_hold_lengths(
            changes.get("hold_minutes", service.hold_minutes),
            changes.get("night_hold_minutes", service.night_hold_minutes),
        )
    if "eligibility" in changes:
        current = eligibility_of(service)
        _apply_eligibility(service, current | (changes.pop("eligibility") or {}))
    if "location" in changes:
        _apply_location(service, changes.pop("location") or {})
    unit = changes.pop("unit", None)
    if unit is not None and service.capacity is not None:
        service.capacity.unit = Unit(unit)
    for name, value in changes.items():
        setattr(service, name, value)
    _sync_search(service)
    db.session.flush()
    audit.record(actor, "service.updated", service, fields=touched)
    return service


def _sync_search(service: Service) -> None:
    """Copy what search filters on into the service's narrow capacity row."""
    capacity = service.capacity
    if capacity is None:
        capacity = service.capacity = Capacity(unit=default_unit(service.category))
    capacity.listed = service.status == ServiceStatus.ACTIVE
    capacity.category = service.category
    capacity.agency_id = service.agency_id
    capacity.search_lat, capacity.search_lon = service.search_lat, service.search_lon
    capacity.min_age, capacity.max_age = service.min_age, service.max_age
    capacity.genders_mask = service.genders_mask
    capacity.populations_mask = service.populations_mask
    capacity.trafficking_mask = service.trafficking_mask
    capacity.accessibility_mask = mask(service.accessibility, ACCESSIBILITY)
    capacity.no_police_report_needed = service.no_police_report_needed
    capacity.no_id_needed = service.no_id_needed
    capacity.accepts_children = service.accepts_children


def get_service(actor: Actor, service_id: uuid.UUID) -> Service:
    return _load(service_id)


def eligibility_of(service: Service) -> dict[str, Any]:
    return {
        "min_age": service.min_age,
        "max_age": service.max_age,
        "genders": unmask(service.genders_mask, GENDERS),
        "populations": unmask(service.populations_mask, POPULATIONS),
        "trafficking_types": unmask(service.trafficking_mask, TRAFFICKING_TYPES),
        "languages": list(service.languages),
        "accessibility": list(service.accessibility),
        "no_police_report_needed": service.no_police_report_needed,
        "no_id_needed": service.no_id_needed,
        "accepts_children": service.accepts_children,
        "notes": service.eligibility_notes,
    }


def location_for(service: Service, viewer: Actor) -> dict[str, Any]:
    """City and region for everyone; the address and exact point only for the owner."""
    location: dict[str, Any] = {
        "name": None if service.confidential else service.location_name,
        "city": service.city,
        "region": service.region,
        "country": service.country,
        "confidential": service.confidential,
        "latitude": None if service.confidential else service.search_lat,
        "longitude": None if service.confidential else service.search_lon,
    }
    owner = viewer.kind == ActorKind.SYSTEM or viewer.agency_id == service.agency_id
    if owner and service.address_encrypted:
        private = json.loads(crypto.decrypt(service.address_encrypted))
        location.update(
            name=private.get("name", service.location_name),
            address=private["address"],
            latitude=private["latitude"],
            longitude=private["longitude"],
        )
    return location


def describe(service: Service, viewer: Actor, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": service.id,
        "agency_id": service.agency_id,
        "agency_name": service.agency.name,
        "name": service.name,
        "description": service.description,
        "category": service.category.value,
        "status": service.status.value,
        "url": service.url,
        "email": service.email,
        "phone": service.phone,
        "eligibility": eligibility_of(service),
        "service_area": service.service_area,
        "hours": service.hours,
        "hold_minutes": service.hold_minutes,
        "night_hold_minutes": service.night_hold_minutes,
        "location": location_for(service, viewer),
        "capacity": capacity_view(service, now or clock.now()),
        "created_at": service.created_at,
        "updated_at": service.updated_at,
    }


# --- capacity -------------------------------------------------------------------------------


def _ttl(category: Category) -> timedelta:
    config = current_app.config
    return ttl_for(category, config["CAPACITY_TTL_BED_HOURS"], config["CAPACITY_TTL_OTHER_HOURS"])


def capacity_view(
    service: Service, now: datetime, *, with_overflow: bool = True
) -> dict[str, Any] | None:
    """The live figures; `with_overflow` reads the service's open overflow windows too (the
    HSDS export, which has no field for them, leaves them unread)."""
    capacity = service.capacity
    if capacity is None:
        return None
    ttl = _ttl(service.category)
    freshness = tier(capacity.updated_at, ttl, now)
    return {
        "unit": capacity.unit.value,
        "total": capacity.total,
        "available": capacity.available,
        "held": capacity.held,
        "overflow_available": overflow.available_now(service, now) if with_overflow else 0,
        "updated_at": capacity.updated_at,
        "freshness": freshness.value,
        "stale": freshness in (Freshness.STALE, Freshness.UNKNOWN),
        "stale_after_hours": ttl.total_seconds() / 3600,
    }


def _stamp(category: Category, now: datetime, actor: Actor) -> dict[str, Any]:
    ttl = _ttl(category)
    return {
        "updated_at": now,
        "updated_by": actor.id,
        "aging_at": now + ttl / 4,
        "stale_at": now + ttl,
        "reminded_at": None,
    }


def set_capacity(
    actor: Actor, service_id: uuid.UUID, *, total: int, available: int, note: str | None = None
) -> Service:
    """Set total and free units in one conditional UPDATE; units on hold are never touched.

    If units are held (accepted referrals), `available + held` must still fit in `total`:
    otherwise 422 and nothing changes.
    """
    service = _load(service_id)
    _may_edit(actor, service.agency_id, scope="capacity:write")
    now = clock.now()
    row = db.session.execute(
        update(Capacity)
        .where(Capacity.service_id == service.id, Capacity.held + available <= total)
        .values(total=total, available=available, **_stamp(service.category, now, actor))
        .returning(Capacity.total, Capacity.available, Capacity.held)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        held = (
            db.session.scalar(select(Capacity.held).where(Capacity.service_id == service.id)) or 0
        )
        raise ValidationFailed(
            f"{held} units are held for accepted referrals: available + held cannot exceed total.",
            errors={
                "available": [f"With {held} held, at most {max(total - held, 0)} can be free."]
            },
        )
    _record_change(service.id, "set", row, actor, note, now)
    audit.record(
        actor,
        "capacity.updated",
        service,
        fields=["total", "available"],
        details={"total": row.total, "available": row.available, "held": row.held},
    )
    db.session.expire(service, ["capacity"])
    return service


def confirm_capacity(actor: Actor, service_id: uuid.UUID) -> Service:
    """ "Still true": refresh the timestamp, keep the numbers."""
    service = _load(service_id)
    _may_edit(actor, service.agency_id, scope="capacity:write")
    now = clock.now()
    row = db.session.execute(
        update(Capacity)
        .where(Capacity.service_id == service.id)
        .values(**_stamp(service.category, now, actor))
        .returning(Capacity.total, Capacity.available, Capacity.held)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise NotFound()
    _record_change(service.id, "confirm", row, actor, None, now)
    audit.record(actor, "capacity.confirmed", service, details={"available": row.available})
    db.session.expire(service, ["capacity"])
    return service


def adjust_available(actor: Actor, service_id: uuid.UUID, delta: int) -> Service:
    """One more (+1) or one fewer (-1) free unit, total and holds untouched."""
    if delta not in (-1, 1):
        raise ValidationFailed(errors={"delta": ["One step at a time: -1 or +1."]})
    service = get_service(actor, service_id)
    _may_edit(actor, service.agency_id, scope="capacity:write")
    now = clock.now()
    row = db.session.execute(
        update(Capacity)
        .where(
            Capacity.service_id == service.id,
            Capacity.available + delta >= 0,
            Capacity.available + Capacity.held + delta <= Capacity.total,
        )
        .values(
            available=Capacity.available + delta,
            **_stamp(service.category, now, actor),
        )
        .returning(Capacity.total, Capacity.available, Capacity.held)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        message = (
            "None are free: nothing to take away."
            if delta < 0
            else "All units are already free or held: raise the total to add more."
        )
        raise ValidationFailed(message, errors={"available": [message]})
    _record_change(service.id, "set", row, actor, f"board {delta:+d}", now)
    audit.record(
        actor,
        "capacity.updated",
        service,
        fields=["available"],
        details={"total": row.total, "available": row.available, "held": row.held},
    )
    db.session.expire(service, ["capacity"])
    return service


def hold_unit(actor: Actor, service_id: uuid.UUID, *, note: str | None = None) -> bool:
    """Reserve one unit atomically (accepting a referral); False when none was free.

    One conditional write with its history row (`directory.holds`): under any concurrency
    no unit is given twice and none is lost.
    """
    return _move(actor, service_id, "hold", note)


def release_unit(actor: Actor, service_id: uuid.UUID, *, note: str | None = None) -> bool:
    """Give a held unit back (declined, withdrawn, no-show)."""
    return _move(actor, service_id, "release", note)


def consume_unit(actor: Actor, service_id: uuid.UUID, *, note: str | None = None) -> bool:
    """The person arrived: the held unit is now in use (neither free nor held)."""
    return _move(actor, service_id, "consume", note)


def hold_place(
    actor: Actor, service_id: uuid.UUID, *, note: str | None = None
) -> tuple[bool, uuid.UUID | None]:
    """Hold a place for an accepted referral: a regular unit first, an open overflow place
    when none is free. (held, the overflow window's id or None)."""
    if _move(actor, service_id, "hold", note):
        return True, None
    window_id = overflow.hold(db.session.connection(), service_id, clock.now())
    if window_id is None:
        return False, None
    _forget_loaded(service_id)
    return True, window_id


def release_place(
    actor: Actor, service_id: uuid.UUID, window_id: uuid.UUID | None, *, note: str | None = None
) -> bool:
    """Give a held place back to where it came from."""
    if window_id is None:
        return release_unit(actor, service_id, note=note)
    _forget_loaded(service_id)
    return overflow.release(db.session.connection(), window_id)


def consume_place(
    actor: Actor, service_id: uuid.UUID, window_id: uuid.UUID | None, *, note: str | None = None
) -> bool:
    """She arrived: the held place (regular or overflow) is in use."""
    if window_id is None:
        return consume_unit(actor, service_id, note=note)
    _forget_loaded(service_id)
    return overflow.consume(db.session.connection(), window_id)


def _forget_loaded(service_id: uuid.UUID) -> None:
    loaded = db.session.identity_map.get(identity_key(Service, service_id))
    if loaded is not None:  # a service object read earlier in this transaction is stale now
        db.session.expire(loaded, ["capacity", "overflow_windows"])


def open_overflow(
    actor: Actor,
    service_id: uuid.UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    places: int,
    note: str | None = None,
) -> OverflowWindow:
    """Open temporary places on one's own service (`directory.overflow`)."""
    service = _load(service_id)
    _may_edit(actor, service.agency_id, scope="capacity:write")
    return overflow.open_window(
        actor, service, starts_at=starts_at, ends_at=ends_at, places=places, note=note
    )


def close_overflow(actor: Actor, window_id: uuid.UUID) -> OverflowWindow:
    """Close a window early: a directory entry's, so another agency's is refused (403)."""
    window = overflow.get(window_id)
    service = _load(window.service_id)
    _may_edit(actor, service.agency_id, scope="capacity:write")
    return overflow.close_window(actor, service, window)


def overflow_windows(actor: Actor, service_id: uuid.UUID) -> list[OverflowWindow]:
    """A service's open and coming overflow windows: the directory's, for everyone."""
    return overflow.windows(_load(service_id), clock.now())


def _move(actor: Actor, service_id: uuid.UUID, kind: str, note: str | None) -> bool:
    """Callers (referral transitions) have already checked who may touch this service."""
    moved = holds.move(
        db.session.connection(), kind, service_id, actor_id=actor.id, note=note, at=clock.now()
    )
    if moved is None:
        return False
    _forget_loaded(service_id)
    return True


def _record_change(
    service_id: uuid.UUID, kind: str, row: Any, actor: Actor, note: str | None, now: datetime
) -> None:
    db.session.add(
        CapacityChange(
            service_id=service_id,
            at=now,
            kind=kind,
            total=row.total,
            available=row.available,
            held=row.held,
            actor_id=actor.id,
            note=note,
        )
    )


# changes the hub makes as referrals move (their notes name the referral)
REFERRAL_MOVES = frozenset({"hold", "release", "consume"})


def capacity_history(
    actor: Actor, service_id: uuid.UUID, *, since: datetime | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The numbers are the directory's, for everyone; who changed them and the referral a
    hold or release was for are the owning agency's only (another agency's referral ids and
    staff ids are not the reader's to see)."""
    service = _load(service_id)
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


def remind_stale() -> int:
    """Periodic: e-mail each agency whose capacity went stale and was not reminded since."""
    now = clock.now()
    rows = db.session.execute(
        select(Capacity.service_id, Service.agency_id)
        .join(Service, Service.id == Capacity.service_id)
        .join(Agency, Agency.id == Service.agency_id)
        .where(
            Capacity.stale_at < now,
            Capacity.reminded_at.is_(None),
            Service.status == ServiceStatus.ACTIVE,
            Agency.status == AgencyStatus.ACTIVE,
        )
    ).all()
    agencies = {agency_id for _, agency_id in rows}
    for agency_id in agencies:
        email_staff(agency_id, {"provider", "agency_admin"}, "capacity_stale")
    if rows:
        db.session.execute(
            update(Capacity)
            .where(Capacity.service_id.in_([service_id for service_id, _ in rows]))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(agencies)


# --- search ---------------------------------------------------------------------------------


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
    ttl = _ttl(category)
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
