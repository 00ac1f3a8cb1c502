"""Open Referral HSDS 3.0 and 3.1: export the directory as service objects, import them back.

What HSDS has no field for (category, populations, requirements, trafficking types,
accessibility, confidentiality) travels as attributes whose taxonomy terms come from the
hub's own vocabulary (`taxonomy: "referral_hub"`), so an export imports back whole.
3.1 adds `capacities[]`: the live figure, with a `unit` per capacity kind.

An imported document is kept whole: the service object as sent (`service.hsds_extra`,
with the organization or service_at_location around it) and the hub's own view of it
at that moment. An export gives each field back as sent while the hub has not changed
what it shows there; a field the hub changed since (capacity, eligibility, name, ...) is
the hub's. What does not come back is listed, with why, in `NOT_ROUND_TRIPPED`.

A confidential site's export carries no address and no coordinates — only the city and
region, in its service area — whatever a document imported for it said.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
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
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, ValidationFailed
from referral_hub.directory import service as directory
from referral_hub.directory.freshness import capacity_view
from referral_hub.directory.models import Service
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
    Unit,
)
from referral_hub.extensions import db

TAXONOMY = "referral_hub"
NAMESPACE = uuid.UUID("5b1c9a64-0d7e-4c55-9f0e-6f7f1c3a2b10")  # stable ids for sub-objects
STATUS_OUT = {ServiceStatus.TEMPORARILY_CLOSED: "temporarily closed"}
STATUS_IN = {"temporarily closed": ServiceStatus.TEMPORARILY_CLOSED}
BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
FLAGS = ("no_police_report_needed", "no_id_needed", "accepts_children")
MAX_ERRORS = 20
VERSIONS = ("3.0", "3.1")
DEFAULT_VERSION = "3.0"
SCHEMAS = {"3.0": "service.schema.json", "3.1": "service-3.1.schema.json"}
ONLY_31 = ("capacities", "additional_urls")  # service fields 3.0 does not have
UNIT_NAMES = {Unit.BED: "Bed", Unit.SLOT: "Slot", Unit.APPOINTMENT: "Appointment"}
ProgressEcho = Callable[[str], None]

# What an import followed by an export does not give back, and why. Everything else in a
# service, its organization and its service_at_location comes back as it was sent.
NOT_ROUND_TRIPPED: dict[str, str] = {
    "service.id (not a UUID)": "HSDS ids are UUIDs; a source id that is not one stays the "
    "key a re-import matches on, but the export carries the hub's id.",
    "service.service_at_locations (confidential site)": "a confidential site's address and "
    "point are never stored or exported; its export names only the town and region.",
    "organization.locations (confidential site)": "dropped for the same reason.",
    "organization.services": "an export is a list of services, each carrying its "
    "organization without the list of the organization's services.",
    "organization without services": "becomes (or matches) an agency by name; the hub "
    "exports services, so an organization alone does not come back.",
    "service.capacities (3.0 export)": "3.0 has no capacities; ask for ?version=3.1.",
    "any field the hub changed since the import": "the hub's value wins (a new capacity "
    "figure, an edited name or eligibility, a renamed agency); last_modified is then the "
    "hub's. Foreign attributes (other taxonomies) are kept beside the hub's own.",
}


@cache
def _validator(version: str = DEFAULT_VERSION) -> Draft202012Validator:
    path = Path(__file__).parent / "hsds_schema" / SCHEMAS[version]
    return Draft202012Validator(json.loads(path.read_text()))


@cache
def _location_validator(version: str = DEFAULT_VERSION) -> Draft202012Validator:
    """For the location beside a service_at_location (one inside a service is checked with it)."""
    schema = _validator(version).schema
    if "definitions" in schema:
        definitions = schema["definitions"]
        return Draft202012Validator({"$ref": "#/definitions/location", "definitions": definitions})
    links = schema["properties"]["service_at_locations"]["items"]
    return Draft202012Validator(links["properties"]["location"])


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


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


def export_service(
    service: Service, viewer: Actor, version: str = DEFAULT_VERSION
) -> dict[str, Any]:
    """One service as an HSDS `version` service object; an imported one as it was sent."""
    hub = _hub_view(service, viewer)
    document = _kept(service, hub) if service.hsds_extra else hub
    if version == "3.0":
        document.pop("capacities", None)
    return document


def _hub_view(service: Service, viewer: Actor) -> dict[str, Any]:
    """What the hub itself knows of a service, in HSDS 3.1 terms."""
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
    capacities = _capacities(service)
    if capacities:
        document["capacities"] = capacities
    return document


def _capacities(service: Service) -> list[dict[str, Any]]:
    """The live figure as an HSDS 3.1 service_capacity; none while it was never set."""
    view = capacity_view(service, clock.now(), with_overflow=False)
    if view is None or view["updated_at"] is None:
        return []
    unit = Unit(view["unit"])
    unit_id = _id("unit", unit.value)
    return [
        {
            "id": _id("capacity", service.id),
            "service_id": str(service.id),
            "unit_id": unit_id,
            "unit": {
                "id": unit_id,
                "name": UNIT_NAMES[unit],
                "scheme": TAXONOMY,
                "identifier": unit.value,
            },
            "available": view["available"],
            "maximum": view["total"],
            "description": (
                f"{UNIT_NAMES[unit]}s free now; {view['held']} held for accepted referrals. "
                f"The figure is {view['freshness']} (stale after "
                f"{view['stale_after_hours']:g} h)."
            ),
            "updated": view["updated_at"].isoformat(),
        }
    ]


def _ours(attribute: Any) -> bool:
    term = attribute.get("taxonomy_term") if isinstance(attribute, dict) else None
    return isinstance(term, dict) and term.get("taxonomy") == TAXONOMY


def _kept(service: Service, hub: dict[str, Any]) -> dict[str, Any]:
    """An imported service as it was sent, except where the hub has changed it since."""
    extra = service.hsds_extra or {}
    source: dict[str, Any] = extra.get("service") or {}
    then: dict[str, Any] = extra.get("hub") or {}
    changed = {
        key for key in {*hub, *then} if key != "last_modified" and hub.get(key) != then.get(key)
    }
    document: dict[str, Any] = {}
    for key in [*source, *(key for key in hub if key not in source)]:
        if key == "last_modified":
            value = hub.get(key) if changed else source.get(key)
            if value is not None:
                document[key] = value
        elif key in changed:
            if key in hub:
                document[key] = hub[key]
                if key == "attributes":  # other taxonomies' terms stay beside the hub's own
                    document[key] = hub[key] + [a for a in source.get(key) or [] if not _ours(a)]
        elif key in source:
            document[key] = source[key]
    if "id" not in changed and not _is_uuid(document.get("id")):
        document["id"] = hub["id"]
    organization = extra.get("organization")
    if organization and "organization" not in source and "organization" not in changed:
        document["organization"] = organization
    links = extra.get("service_at_locations") or []
    if links and "service_at_locations" not in changed:
        present = {link.get("id") for link in document.get("service_at_locations") or []}
        document["service_at_locations"] = [
            *(document.get("service_at_locations") or []),
            *(link for link in links if link.get("id") not in present),
        ]
    if service.confidential:  # town-level only, whatever was kept before it became one
        document["service_at_locations"] = hub["service_at_locations"]
        if isinstance(document.get("organization"), dict):
            document["organization"] = {
                k: v for k, v in document["organization"].items() if k != "locations"
            }
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
    return Actor(ActorKind.SYSTEM, "hsds-export", service.agency_id)


def export_all(
    viewer: Actor, *, limit: int, cursor: str | None, version: str = DEFAULT_VERSION
) -> tuple[list[dict[str, Any]], str | None]:
    statement = select(Service).where(Service.status != ServiceStatus.DEFUNCT)
    from referral_hub.core.pagination import paginate

    rows, next_cursor = paginate(
        statement, [Service.name, Service.id], limit, cursor, [str, uuid.UUID]
    )
    return [export_service(row, viewer, version) for row in rows], next_cursor


# --- import ---------------------------------------------------------------------------------


@dataclass
class Found:
    """A service object in a document, the organization it belongs to, and its location."""

    path: str
    service: dict[str, Any]
    organization: dict[str, Any] | None
    location: dict[str, Any] | None = None
    wrapper: dict[str, Any] | None = None  # the service_at_location it came in


@dataclass
class Change:
    """What importing one service does (or, in a dry run, would do)."""

    path: str
    id: str
    name: str
    action: str  # create, update, unchanged
    fields: list[str]  # the HSDS fields whose export changes


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    agencies_created: int = 0
    warnings: list[str] = field(default_factory=list)
    version: str = DEFAULT_VERSION
    dry_run: bool = False
    changes: list[Change] = field(default_factory=list)


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
            yield Found(f"{path}.service", service, service.get("organization"), location, item)
        else:
            raise ValidationFailed(
                "Send HSDS services, organizations (with services) or services at locations.",
                errors={path: ["Not a service, organization or service_at_location."]},
            )


def detect_version(found: list[Found]) -> str:
    """3.1 when a service uses a field only 3.1 has; 3.0 otherwise (3.1 accepts both)."""
    uses_31 = any(
        isinstance(item.service, dict) and any(k in item.service for k in ONLY_31) for item in found
    )
    return "3.1" if uses_31 else "3.0"


def validate(document: Any, version: str | None = None) -> list[Found]:
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
        checks = [(item.path, _validator(version or "3.1"), item.service)]
        if item.location is not None:
            checks.append(
                (
                    item.path.rsplit(".", 1)[0] + ".location",
                    _location_validator(version or "3.1"),
                    item.location,
                )
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
            f"The document does not follow the HSDS {version or '3.1'} service schema.",
            errors=errors,
        )
    return found


def import_document(
    actor: Actor,
    document: Any,
    *,
    agency_id: uuid.UUID | None = None,
    version: str | None = None,
    dry_run: bool = False,
    echo: ProgressEcho | None = None,
) -> ImportReport:
    """Create or update the services in an HSDS document; all or nothing.

    A service is matched by its id in the document within its agency, so importing the
    same document again updates instead of duplicating. `dry_run` checks everything and
    reports what would change, writing nothing. `echo` hears progress (the CLI's).
    """
    checks_only = dry_run and actor.kind == ActorKind.CLIENT and "admin" in actor.scopes
    if not actor.is_hub_wide and not checks_only:
        raise Forbidden(
            "Only a hub administrator may import a directory; "
            "an agency system with the admin scope may dry-run (dry_run=true)."
        )
    found = validate(document, version)
    report = ImportReport(version=version or detect_version(found), dry_run=dry_run)
    services = sum(1 for item in found if item.service)
    done = 0
    planned_agencies: set[str] = set()
    for item in found:
        agency = _agency_for(actor, item, agency_id, report, dry_run, planned_agencies)
        if not item.service:
            continue
        fields = _fields(item, report)
        existing = (
            db.session.scalar(
                select(Service).where(
                    Service.hsds_id == str(item.service["id"]), Service.agency_id == agency.id
                )
            )
            if agency is not None
            else None
        )
        change = _change(item, existing)
        report.changes.append(change)
        if existing is None:
            report.created += 1
            if agency is not None and not dry_run:  # a dry run's new agency is None
                service = directory.create_service(actor, agency_id=agency.id, **fields)
                service.hsds_id = str(item.service["id"])
                _keep(item, service, report.version)
        else:
            report.updated += 1
            if not dry_run:
                fields.pop("unit", None)
                _keep(item, directory.update_service(actor, existing.id, **fields), report.version)
        done += 1
        if echo is not None and (services <= 50 or done % 50 == 0 or done == services):
            verb = "would " + change.action if dry_run else change.action
            echo(f"  [{done}/{services}] {verb}: {change.name}")
    if not dry_run:
        audit.record(
            actor,
            "hsds.imported",
            details={
                "created": report.created,
                "updated": report.updated,
                "agencies_created": report.agencies_created,
                "version": report.version,
            },
        )
    return report


def _change(item: Found, existing: Service | None) -> Change:
    """Which HSDS fields of the service's export an import of `item` changes."""
    source = item.service
    name = str(source.get("name"))[:200]
    if existing is None:
        return Change(item.path, str(source["id"]), name, "create", sorted(source))
    before = export_service(existing, SYSTEM_VIEW, "3.1")
    fields = {
        key
        for key in {*source, *before}
        if key not in ("id", "last_modified")  # the id is what matched
        and source.get(key) != before.get(key)
        and not (key == "organization" and key not in source)  # a document's organization
        and not (key == "service_at_locations" and key not in source)  # and its links
    }
    links = {link.get("id"): link for link in before.get("service_at_locations") or []}
    if item.wrapper is not None and links.get(_link_of(item).get("id")) != _link_of(item):
        fields.add("service_at_locations")
    organization = _organization_of(item)
    if "organization" not in source and organization and before.get("organization") != organization:
        fields.add("organization")
    return Change(
        item.path, str(source["id"]), name, "update" if fields else "unchanged", sorted(fields)
    )


SYSTEM_VIEW = Actor(ActorKind.SYSTEM, "hsds-import", None)


def _link_of(item: Found) -> dict[str, Any]:
    """The service_at_location a service came in, without the service inside it."""
    wrapper = item.wrapper or {}
    return {key: value for key, value in wrapper.items() if key != "service"}


def _organization_of(item: Found) -> dict[str, Any]:
    """The organization a service came in, without its list of services."""
    return {key: value for key, value in (item.organization or {}).items() if key != "services"}


def _keep(item: Found, service: Service, version: str) -> None:
    """Keep the document's service object, and the hub's view of it now, for the export."""
    db.session.flush()
    previous = service.hsds_extra or {}
    source = json.loads(json.dumps(item.service))
    extra: dict[str, Any] = {"version": version, "service": source}
    if item.organization is not None and "organization" not in item.service:
        extra["organization"] = _organization_of(item)
    links = list(previous.get("service_at_locations") or [])
    if item.wrapper is not None:
        link = _link_of(item)
        links = [old for old in links if old.get("id") != link.get("id")] + [link]
    if links:
        extra["service_at_locations"] = links
    extra["hub"] = _hub_view(service, SYSTEM_VIEW)
    extra["hub"].pop("last_modified", None)
    # a confidential site's address is never kept, so never exported
    service.hsds_extra = directory.without_places(extra) if service.confidential else extra
    db.session.flush()


def _agency_for(
    actor: Actor,
    item: Found,
    agency_id: uuid.UUID | None,
    report: ImportReport,
    dry_run: bool,
    planned: set[str],
) -> Agency | None:
    """The agency a service belongs to, created when new (None: a dry run would create it)."""
    organization = item.organization
    if organization and organization.get("name"):
        name = str(organization["name"]).strip()[:200]
        agency = db.session.scalar(
            select(Agency).where(func.lower(Agency.name) == func.lower(name))
        )
        if agency is None and dry_run:
            if name.lower() not in planned:
                planned.add(name.lower())
                report.agencies_created += 1
            return None
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
