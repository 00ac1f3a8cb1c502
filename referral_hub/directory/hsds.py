"""Open Referral HSDS 3.0: export the directory as service objects, import them back.

What HSDS has no field for (category, populations, requirements, trafficking types,
accessibility, confidentiality) travels as attributes whose taxonomy terms come from the
hub's own vocabulary (`taxonomy: "referral_hub"`), so an export imports back whole.

A confidential site's export carries no address and no coordinates — only the city and
region, in its service area.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy import func, select

from referral_hub.agencies.models import Agency, AgencyKind
from referral_hub.agencies.service import create_agency
from referral_hub.audit import service as audit
from referral_hub.core.actor import Actor
from referral_hub.core.errors import Forbidden, ValidationFailed
from referral_hub.directory import service as directory
from referral_hub.directory.models import Service
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
)
from referral_hub.extensions import db

TAXONOMY = "referral_hub"
NAMESPACE = uuid.UUID("5b1c9a64-0d7e-4c55-9f0e-6f7f1c3a2b10")  # stable ids for sub-objects
STATUS_OUT = {ServiceStatus.TEMPORARILY_CLOSED: "temporarily closed"}
STATUS_IN = {"temporarily closed": ServiceStatus.TEMPORARILY_CLOSED}
BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
FLAGS = ("no_police_report_needed", "no_id_needed", "accepts_children")
MAX_ERRORS = 20


@cache
def _validator() -> Draft202012Validator:
    path = Path(__file__).parent / "hsds_schema" / "service.schema.json"
    return Draft202012Validator(json.loads(path.read_text()))


@cache
def _location_validator() -> Draft202012Validator:
    """For the location beside a service_at_location (one inside a service is checked with it)."""
    definitions = _validator().schema["definitions"]
    return Draft202012Validator({"$ref": "#/definitions/location", "definitions": definitions})


def _format_errors(service: dict[str, Any]) -> dict[str, str]:
    """The formats the schema names but does not enforce, for the two fields we import."""
    problems = {}
    url = service.get("url")
    if isinstance(url, str) and url and not re.match(r"(?i)^https?://[^\s/]+", url):
        problems["url"] = "Not an http(s) URL."
    email = service.get("email")
    if isinstance(email, str) and email:
        try:
            Email()(email)
        except ValidationError:
            problems["email"] = "Not an e-mail address."
    return problems


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(str(part) for part in parts)))


# --- export ---------------------------------------------------------------------------------


def _term(service_id: uuid.UUID, code: str, name: str) -> dict[str, Any]:
    term_id = _id("term", code)
    return {
        "id": _id("attribute", service_id, code),
        "link_id": str(service_id),
        "link_type": "service",
        "link_entity": "service",
        "taxonomy_term_id": term_id,
        "taxonomy_term": {
            "id": term_id,
            "code": code,
            "name": name,
            "description": f"referral_hub vocabulary: {code}",
            "taxonomy": TAXONOMY,
        },
    }


def export_service(service: Service, viewer: Actor) -> dict[str, Any]:
    eligibility = directory.eligibility_of(service)
    codes = [f"category:{service.category.value}"]
    codes += [f"population:{p}" for p in eligibility["populations"]]
    codes += [f"gender:{g}" for g in eligibility["genders"]]
    codes += [f"trafficking:{t}" for t in eligibility["trafficking_types"]]
    codes += [f"accessibility:{a}" for a in eligibility["accessibility"]]
    codes += [f"requirement:{flag}" for flag in FLAGS if eligibility[flag]]
    if service.confidential:
        codes.append("location:confidential")
    document: dict[str, Any] = {
        "id": str(service.id),
        "organization_id": str(service.agency_id),
        "name": service.name,
        "description": service.description or "",
        "status": STATUS_OUT.get(service.status, service.status.value),
        "eligibility_description": _eligibility_text(eligibility),
        "languages": [
            {
                "id": _id("language", service.id, tag),
                "service_id": str(service.id),
                "name": tag,
                "code": tag,
            }
            for tag in eligibility["languages"]
        ],
        "attributes": [
            _term(service.id, code, code.split(":", 1)[1].replace("_", " ")) for code in codes
        ],
        "organization": {
            "id": str(service.agency_id),
            "name": service.agency.name,
            "description": f"{service.agency.kind.value.replace('_', ' ')} agency",
        },
        "service_at_locations": [_location(service, viewer)],
        "last_modified": service.updated_at.isoformat(),
    }
    for name, value in (("url", service.url), ("email", service.email)):
        if value:
            document[name] = value
    if eligibility["min_age"] is not None:
        document["minimum_age"] = eligibility["min_age"]
    if eligibility["max_age"] is not None:
        document["maximum_age"] = eligibility["max_age"]
    area = service.service_area or ", ".join(p for p in (service.city, service.region) if p)
    if area:
        document["service_areas"] = [
            {
                "id": _id("area", service.id),
                "service_id": str(service.id),
                "name": area,
                "description": area,
            }
        ]
    if service.hours:
        document["schedules"] = [
            {
                "id": _id("schedule", service.id),
                "service_id": str(service.id),
                "description": service.hours,
            }
        ]
    if service.phone:
        document["phones"] = [
            {"id": _id("phone", service.id), "service_id": str(service.id), "number": service.phone}
        ]
    return document


def _eligibility_text(eligibility: dict[str, Any]) -> str:
    parts = []
    if eligibility["min_age"] is not None or eligibility["max_age"] is not None:
        parts.append(f"ages {eligibility['min_age'] or 0} to {eligibility['max_age'] or 'any'}")
    if eligibility["genders"]:
        parts.append("genders: " + ", ".join(eligibility["genders"]))
    if eligibility["populations"]:
        parts.append(
            "serves: " + ", ".join(p.replace("_", " ") for p in eligibility["populations"])
        )
    for flag in FLAGS:
        if eligibility[flag]:
            parts.append(flag.replace("_", " "))
    if eligibility["notes"]:
        parts.append(eligibility["notes"])
    return "; ".join(parts)


def _location(service: Service, viewer: Actor) -> dict[str, Any]:
    location_id = _id("location", service.id)
    place: dict[str, Any] = {"id": location_id, "location_type": "physical"}
    if service.confidential:
        place["description"] = (
            "Confidential site; the address is shared with a referral's receiver after acceptance."
        )
    else:
        full = directory.location_for(service, _owner_view(service))
        if full.get("name"):
            place["name"] = full["name"]
        if full.get("latitude") is not None:
            place["latitude"], place["longitude"] = full["latitude"], full["longitude"]
        address = full.get("address") or {}
        if address.get("street"):
            place["addresses"] = [
                {
                    "id": _id("address", service.id),
                    "location_id": location_id,
                    "address_1": address["street"],
                    "city": service.city or "",
                    "state_province": service.region or "",
                    "postal_code": address.get("postal_code") or "",
                    "country": service.country or "",
                    "address_type": "physical",
                }
            ]
    return {
        "id": _id("service_at_location", service.id),
        "service_id": str(service.id),
        "location_id": location_id,
        "location": place,
    }


def _owner_view(service: Service) -> Actor:
    """A public site's address is public: read it as its owner would, for the export."""
    from referral_hub.core.actor import ActorKind

    return Actor(ActorKind.SYSTEM, "hsds-export", service.agency_id)


def export_all(
    viewer: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    statement = select(Service).where(Service.status != ServiceStatus.DEFUNCT)
    from referral_hub.core.pagination import paginate

    rows, next_cursor = paginate(
        statement, [Service.name, Service.id], limit, cursor, [str, uuid.UUID]
    )
    return [export_service(row, viewer) for row in rows], next_cursor


# --- import ---------------------------------------------------------------------------------


@dataclass
class Found:
    """A service object in a document, the organization it belongs to, and its location."""

    path: str
    service: dict[str, Any]
    organization: dict[str, Any] | None
    location: dict[str, Any] | None = None


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    agencies_created: int = 0
    warnings: list[str] = field(default_factory=list)


def _kind(item: dict[str, Any]) -> str:
    if "service" in item and "location" in item:
        return "service_at_location"
    if "services" in item or any(key in item for key in ("website", "tax_status", "legal_status")):
        return "organization"
    if "status" in item and "name" in item:
        return "service"
    return "unknown"


def _walk(document: Any) -> Iterator[Found]:
    if isinstance(document, list):
        items = [(f"$[{i}]", item) for i, item in enumerate(document)]
    elif isinstance(document, dict) and isinstance(document.get("contents"), list):
        items = [(f"$.contents[{i}]", item) for i, item in enumerate(document["contents"])]
    else:
        items = [("$", document)]
    for path, item in items:
        if not isinstance(item, dict):
            raise ValidationFailed("Not an HSDS object.", errors={path: ["Expected an object."]})
        kind = _kind(item)
        if kind == "service":
            yield Found(path, item, item.get("organization"))
        elif kind == "organization":
            services = item.get("services") or []
            if not services:  # an organization alone still becomes (or matches) an agency
                yield Found(path, {}, item)
            for index, service in enumerate(services):
                yield Found(f"{path}.services[{index}]", service, item)
        elif kind == "service_at_location":
            service, location = item["service"], item.get("location")
            for name, value in (("service", service), ("location", location)):
                if not isinstance(value, dict) and (name == "service" or value is not None):
                    raise ValidationFailed(
                        "Not an HSDS object.", errors={f"{path}.{name}": ["Expected an object."]}
                    )
            yield Found(f"{path}.service", service, service.get("organization"), location)
        else:
            raise ValidationFailed(
                "Send HSDS services, organizations (with services) or services at locations.",
                errors={path: ["Not a service, organization or service_at_location."]},
            )


def validate(document: Any) -> list[Found]:
    """Every service object in `document`, each checked against the HSDS service schema."""
    found = list(_walk(document))
    if not found:
        raise ValidationFailed("The document holds no services.", errors={"$": ["No services."]})
    errors: dict[str, list[str]] = {}
    for item in found:
        if not item.service:
            if not str((item.organization or {}).get("name") or "").strip():
                errors.setdefault(f"{item.path}.name", []).append("An organization needs a name.")
            continue
        checks = [(item.path, _validator(), item.service)]
        if item.location is not None:
            checks.append(
                (item.path.rsplit(".", 1)[0] + ".location", _location_validator(), item.location)
            )
        for path, validator, document in checks:
            for error in validator.iter_errors(document):
                where = path + "".join(
                    f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
                )
                errors.setdefault(where, []).append(error.message[:200])
                if len(errors) >= MAX_ERRORS:
                    break
        if isinstance(item.service, dict):
            for name, message in _format_errors(item.service).items():
                errors.setdefault(f"{item.path}.{name}", []).append(message)
    if errors:
        raise ValidationFailed(
            "The document does not follow the HSDS 3.0 service schema.", errors=errors
        )
    return found


def import_document(
    actor: Actor, document: Any, *, agency_id: uuid.UUID | None = None
) -> ImportReport:
    """Create or update the services in an HSDS document; all or nothing."""
    if actor.kind != "system" and not actor.has_role("hub_admin"):
        raise Forbidden("Only a hub administrator may import a directory.")
    found = validate(document)
    report = ImportReport()
    for item in found:
        agency = _agency_for(actor, item, agency_id, report)
        if not item.service:
            continue
        fields = _fields(item, report)
        existing = db.session.scalar(
            select(Service).where(
                Service.hsds_id == str(item.service["id"]), Service.agency_id == agency.id
            )
        )
        if existing is None:
            created = directory.create_service(actor, agency_id=agency.id, **fields)
            created.hsds_id = str(item.service["id"])
            report.created += 1
        else:
            fields.pop("unit", None)
            directory.update_service(actor, existing.id, **fields)
            report.updated += 1
    audit.record(
        actor,
        "hsds.imported",
        details={
            "created": report.created,
            "updated": report.updated,
            "agencies_created": report.agencies_created,
        },
    )
    return report


def _agency_for(
    actor: Actor, item: Found, agency_id: uuid.UUID | None, report: ImportReport
) -> Agency:
    organization = item.organization
    if organization and organization.get("name"):
        name = str(organization["name"]).strip()[:200]
        agency = db.session.scalar(
            select(Agency).where(func.lower(Agency.name) == func.lower(name))
        )
        if agency is None:
            agency = create_agency(actor, name=name, kind=AgencyKind.OTHER)
            report.agencies_created += 1
        return agency
    if agency_id is not None:
        agency = db.session.get(Agency, agency_id)
        if agency is not None:
            return agency
    raise ValidationFailed(
        "A service names no organization; give agency_id for it.",
        errors={f"{item.path}.organization": ["Missing: name the agency that offers it."]},
    )


def _codes(service: dict[str, Any]) -> list[str]:
    codes = []
    for attribute in service.get("attributes") or []:
        term = attribute.get("taxonomy_term") or {}
        if term.get("taxonomy") == TAXONOMY and isinstance(term.get("code"), str):
            codes.append(term["code"])
    return codes


def _fields(item: Found, report: ImportReport) -> dict[str, Any]:
    service = item.service
    codes = _codes(service)

    def picked(prefix: str, vocabulary: tuple[str, ...]) -> list[str]:
        return [
            c.split(":", 1)[1]
            for c in codes
            if c.startswith(prefix) and c.split(":", 1)[1] in vocabulary
        ]

    categories = [c.split(":", 1)[1] for c in codes if c.startswith("category:")]
    category = (
        Category(categories[0])
        if categories and categories[0] in Category._value2member_map_
        else Category.OTHER
    )
    languages = []
    for language in service.get("languages") or []:
        tag = language.get("code") or ""
        if BCP47.fullmatch(tag):
            languages.append(tag)
        elif language.get("name"):
            report.warnings.append(
                f"{item.path}: language {str(language['name'])[:40]!r} has no BCP 47 code; skipped"
            )
    status = STATUS_IN.get(service.get("status", "")) or ServiceStatus(
        service.get("status", "active")
    )
    min_age, max_age = _age(service.get("minimum_age")), _age(service.get("maximum_age"))
    if min_age is not None and max_age is not None and max_age < min_age:
        report.warnings.append(f"{item.path}: maximum_age below minimum_age; ages dropped")
        min_age = max_age = None
    eligibility = {
        "min_age": min_age,
        "max_age": max_age,
        "genders": picked("gender:", GENDERS),
        "populations": picked("population:", POPULATIONS),
        "trafficking_types": picked("trafficking:", TRAFFICKING_TYPES),
        "accessibility": picked("accessibility:", ACCESSIBILITY),
        "languages": languages,
        "notes": (service.get("eligibility_description") or None),
        **{flag: f"requirement:{flag}" in codes for flag in FLAGS},
    }
    phones = service.get("phones") or []
    schedules = service.get("schedules") or []
    areas = service.get("service_areas") or []
    return {
        "name": str(service["name"])[:200] or "Unnamed service",
        "description": (service.get("description") or None),
        "category": category,
        "status": status,
        "url": _short(service.get("url"), 500),
        "email": _short(service.get("email"), 254),
        "phone": _short(phones[0].get("number") if phones else None, 40),
        "hours": _short(
            "; ".join(s.get("description") or "" for s in schedules if s.get("description")), 300
        ),
        "service_area": _short(", ".join(a.get("name") or "" for a in areas if a.get("name")), 300),
        "eligibility": eligibility,
        "location": _location_in(item, "location:confidential" in codes, report),
    }


def _age(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 120:
        return int(value)
    return None


def _short(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value else None


def _location_in(item: Found, confidential: bool, report: ImportReport) -> dict[str, Any]:
    place = item.location
    if place is None:
        links = item.service.get("service_at_locations") or []
        place = links[0].get("location") if links else None
    if not place:
        return {"confidential": confidential}
    latitude, longitude = place.get("latitude"), place.get("longitude")
    if not (isinstance(latitude, int | float) and isinstance(longitude, int | float)) or not (
        -90 <= latitude <= 90 and -180 <= longitude <= 180
    ):
        if latitude is not None or longitude is not None:
            report.warnings.append(f"{item.path}: location coordinates out of range; ignored")
        latitude = longitude = None
    addresses = place.get("addresses") or []
    address = addresses[0] if addresses else {}
    street = " ".join(p for p in (address.get("address_1"), address.get("address_2")) if p)
    country = address.get("country") or None
    return {
        "name": _short(place.get("name"), 200),
        "address": {
            "street": street[:300],
            "postal_code": str(address.get("postal_code") or "")[:20],
        }
        if street
        else None,
        "city": _short(address.get("city"), 120),
        "region": _short(address.get("state_province") or address.get("region"), 120),
        "country": country if country and re.fullmatch(r"[A-Z]{2}", country) else None,
        "latitude": latitude,
        "longitude": longitude,
        "confidential": confidential,
    }
