"""Service entries: create, update, read one, and how the directory describes one.

Who may change a service: its own agency's administrators and providers (and that
agency's systems with `capacity:write` for numbers, `admin` for the rest), and hub
administrators. Everyone signed in may read the directory — but a street address leaves
the hub only to the owning agency.

Its live numbers are written by `capacity`, found by `search`, and read for pages by
`queries`; how old the numbers are is `freshness`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from referral_hub.agencies.models import Agency
from referral_hub.audit import service as audit
from referral_hub.core import clock, crypto
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, NotFound, ValidationFailed
from referral_hub.directory import geo
from referral_hub.directory.freshness import capacity_view
from referral_hub.directory.models import Capacity, Service, ServiceLanguage
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    ServiceStatus,
    Unit,
    default_unit,
    mask,
    primary_language,
    unmask,
)
from referral_hub.extensions import db

# --- permissions ----------------------------------------------------------------------------


def may_edit(actor: Actor, agency_id: uuid.UUID, scope: str = "admin") -> None:
    """Refuse (403) anyone but the offering agency's editors and systems, and the hub."""
    if actor.is_hub_wide:
        return
    if actor.agency_id == agency_id:
        if actor.kind == ActorKind.CLIENT and scope in actor.scopes:
            return
        if actor.has_role("agency_admin", "provider"):
            return
    raise Forbidden("Only the agency that offers a service may change it.")


def load(service_id: uuid.UUID) -> Service:
    """The service with its agency; a missing one is a 404."""
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
    may_edit(actor, agency.id)
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
    service = load(service_id)
    may_edit(actor, service.agency_id)
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
    return load(service_id)


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
