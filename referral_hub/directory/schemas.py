"""Shapes of services, capacity and search for the API."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, fields, validate, validates_schema

from referral_hub.agencies.schemas import PARTICIPATION_NOTE
from referral_hub.core.schemas import (
    HTTP_URL,
    HubSchema,
    PageArgs,
    Pattern,
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    page_schema,
)
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
    Unit,
)

HOLD_MAX = 72 * 60
BCP47 = Pattern(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="Not a BCP 47 language tag.")


class EligibilitySchema(HubSchema):
    min_age = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=120))
    max_age = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=120))
    genders = fields.List(
        fields.String(validate=validate.OneOf(GENDERS)), validate=validate.Length(max=len(GENDERS))
    )
    populations = fields.List(
        fields.String(validate=validate.OneOf(POPULATIONS)),
        validate=validate.Length(max=len(POPULATIONS)),
    )
    trafficking_types = fields.List(fields.String(validate=validate.OneOf(TRAFFICKING_TYPES)))
    languages = fields.List(fields.String(validate=BCP47), validate=validate.Length(max=40))
    accessibility = fields.List(fields.String(validate=validate.OneOf(ACCESSIBILITY)))
    no_police_report_needed = StrictBoolean()
    no_id_needed = StrictBoolean()
    accepts_children = StrictBoolean()
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))


class AddressSchema(HubSchema):
    street = fields.String(validate=validate.Length(max=300))
    postal_code = fields.String(validate=validate.Length(max=20))


class LocationArgs(HubSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    address = fields.Nested(AddressSchema, allow_none=True)
    city = fields.String(allow_none=True, validate=validate.Length(max=120))
    region = fields.String(allow_none=True, validate=validate.Length(max=120))
    country = fields.String(allow_none=True, validate=Pattern(r"^[A-Z]{2}$"))
    latitude = StrictFloat(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = StrictFloat(allow_none=True, validate=validate.Range(min=-180, max=180))
    confidential = StrictBoolean(load_default=False)

    class Meta(HubSchema.Meta):
        # the rule below, for the document (core.http.SchemaRulesPlugin)
        json_schema: ClassVar[dict[str, Any]] = {
            "anyOf": [
                {
                    "properties": {
                        "latitude": {"type": "number"},
                        "longitude": {"type": "number"},
                    },
                    "required": ["latitude", "longitude"],
                },
                {
                    "properties": {
                        "latitude": {"type": "null"},
                        "longitude": {"type": "null"},
                    }
                },
            ]
        }

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise ValidationError("Give both latitude and longitude, or neither.", "latitude")


class LocationSchema(LocationArgs):
    address = fields.Nested(AddressSchema, allow_none=True, metadata={"description": "Owner only."})


class CapacitySchema(HubSchema):
    unit = fields.String(validate=validate.OneOf([u.value for u in Unit]))
    total = StrictInteger()
    available = StrictInteger()
    held = StrictInteger()
    overflow_available = StrictInteger(
        metadata={"description": "Free overflow places open now, counted apart from `available`."}
    )
    updated_at = fields.AwareDateTime(allow_none=True)
    freshness = fields.String(validate=validate.OneOf(["fresh", "aging", "stale", "unknown"]))
    stale = fields.Boolean()
    stale_after_hours = StrictFloat()


class ServiceFields(HubSchema):
    name = fields.String(validate=validate.Length(min=2, max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    category = fields.Enum(Category, by_value=True)
    status = fields.Enum(ServiceStatus, by_value=True)
    url = fields.String(allow_none=True, validate=[validate.Length(max=500), HTTP_URL])
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    eligibility = fields.Nested(EligibilitySchema)
    service_area = fields.String(allow_none=True, validate=validate.Length(max=300))
    hours = fields.String(allow_none=True, validate=validate.Length(max=300))
    location = fields.Nested(LocationArgs)
    unit = fields.Enum(Unit, by_value=True)
    hold_minutes = StrictInteger(
        validate=validate.Range(min=15, max=HOLD_MAX),
        metadata={"description": "How long an accepted referral holds a place (default 90)."},
    )
    night_hold_minutes = StrictInteger(
        allow_none=True,
        validate=validate.Range(min=15, max=HOLD_MAX),
        metadata={"description": "The hold for accepts from 22:00 to 07:00 hub time, if other."},
    )


class ServiceCreateArgs(ServiceFields):
    agency_id = fields.UUID(metadata={"description": "Defaults to the caller's agency."})
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    category = fields.Enum(Category, by_value=True, required=True)


class ServiceUpdateArgs(ServiceFields):
    pass


class ServiceSchema(HubSchema):
    id = fields.UUID()
    agency_id = fields.UUID()
    agency_name = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    category = fields.String()
    status = fields.String()
    url = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    eligibility = fields.Nested(EligibilitySchema)
    service_area = fields.String(allow_none=True)
    hours = fields.String(allow_none=True)
    hold_minutes = StrictInteger()
    night_hold_minutes = StrictInteger(allow_none=True)
    location = fields.Nested(LocationSchema)
    capacity = fields.Nested(CapacitySchema, allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class CapacityPutArgs(HubSchema):
    total = StrictInteger(required=True, validate=validate.Range(min=0, max=100_000))
    available = StrictInteger(required=True, validate=validate.Range(min=0, max=100_000))
    note = fields.String(allow_none=True, validate=validate.Length(max=300))

    @validates_schema
    def _fits(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("available", 0) > data.get("total", 0):
            raise ValidationError("Cannot exceed total.", "available")


class OverflowArgs(HubSchema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    places = StrictInteger(required=True, validate=validate.Range(min=1, max=500))
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=300),
        metadata={"description": "About the places (cots in the hall), never about a person."},
    )


class OverflowSchema(HubSchema):
    id = fields.UUID()
    service_id = fields.UUID()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    places = StrictInteger()
    held = StrictInteger()
    used = StrictInteger()
    available = StrictInteger()
    open = fields.Boolean()
    note = fields.String(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)


class CapacityChangeSchema(HubSchema):
    at = fields.AwareDateTime()
    kind = fields.String()
    total = StrictInteger()
    available = StrictInteger()
    held = StrictInteger()
    actor_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class HistoryArgs(PageArgs):
    since = fields.AwareDateTime(load_default=None)


class FilterArgs(HubSchema):
    """The hard filters shared by search and the services list."""

    category = fields.List(fields.Enum(Category, by_value=True), load_default=list)
    available = fields.Boolean(load_default=False)  # a query string: "true" is the value
    age = fields.Integer(load_default=None, validate=validate.Range(min=0, max=120))
    gender = fields.String(load_default=None, validate=validate.OneOf(GENDERS))
    population = fields.List(fields.String(validate=validate.OneOf(POPULATIONS)), load_default=list)
    language = fields.List(fields.String(validate=BCP47), load_default=list)
    near = fields.String(
        load_default=None,
        # latitude -90..90, longitude -180..180, in the pattern so the document says so
        validate=Pattern(
            r"^-?(90(\.0+)?|[0-8]?\d(\.\d+)?),-?(180(\.0+)?|(1[0-7]\d|0?\d?\d)(\.\d+)?)$",
            error="Use near=lat,lon (latitude -90..90, longitude -180..180).",
        ),
    )
    radius_km = fields.Float(load_default=None, validate=validate.Range(min=0.1, max=2000))
    trafficking_type = fields.List(
        fields.String(validate=validate.OneOf(TRAFFICKING_TYPES)),
        load_default=list,
        metadata={"description": "Services that take survivors of every type named."},
    )
    accessibility = fields.List(
        fields.String(validate=validate.OneOf(ACCESSIBILITY)),
        load_default=list,
        metadata={"description": "Services that offer every feature named."},
    )
    no_id_needed = fields.Boolean(
        load_default=False, metadata={"description": "true: only services that need no ID."}
    )
    no_police_report_needed = fields.Boolean(
        load_default=False,
        metadata={"description": "true: only services that need no police report."},
    )
    accepts_children = fields.Boolean(
        load_default=False,
        metadata={"description": "true: only services that take a parent with children."},
    )

    @validates_schema
    def _radius_needs_a_centre(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("radius_km") is not None and not data.get("near"):
            raise ValidationError("radius_km needs near=lat,lon.", "radius_km")
        if data.get("near"):
            lat, lon = (float(part) for part in data["near"].split(","))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValidationError("Latitude -90..90, longitude -180..180.", "near")


class SearchArgs(FilterArgs):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class ServiceListArgs(FilterArgs, PageArgs):
    agency_id = fields.UUID(load_default=None)


class SearchServiceSchema(HubSchema):
    id = fields.UUID()
    name = fields.String()
    category = fields.String()
    city = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    confidential = fields.Boolean()
    min_age = fields.Integer(allow_none=True)
    max_age = fields.Integer(allow_none=True)
    languages = fields.List(fields.String())
    phone = fields.String(
        allow_none=True, metadata={"description": "The service's phone for referrers."}
    )


class SearchAgencySchema(HubSchema):
    id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    participation = fields.String(metadata={"description": PARTICIPATION_NOTE})
    receives_referrals = fields.Boolean(
        metadata={"description": "False: counts only. Call the service; do not refer."}
    )


class SearchItemSchema(HubSchema):
    service = fields.Nested(SearchServiceSchema)
    agency = fields.Nested(SearchAgencySchema)
    capacity = fields.Nested(CapacitySchema)
    distance_km = fields.Float(
        allow_none=True, metadata={"description": "Coarse for confidential sites."}
    )
    score = fields.Float()
    stale = fields.Boolean()


MISS_REASONS = (
    "no_free_places",
    "capacity_unknown",
    "age_range",
    "genders_only",
    "populations_not_listed",
    "languages_not_listed",
    "trafficking_types_not_listed",
    "accessibility_not_listed",
    "may_ask_for_id",
    "may_ask_for_police_report",
    "children_not_listed",
    "outside_radius",
)


class MissSchema(HubSchema):
    """One filter a near miss fails, and the facts that say how."""

    filter = fields.String(
        metadata={"description": "The search parameter it fails (`population`, `radius_km`…)."}
    )
    reason = fields.String(validate=validate.OneOf(MISS_REASONS))
    values = fields.List(
        fields.String(),
        metadata={
            "description": "What it lacks of what was asked (populations, languages, "
            "trafficking types, accessibility); for `genders_only`, the genders it serves."
        },
    )
    offered = fields.List(
        fields.String(), metadata={"description": "`languages_not_listed`: those it lists."}
    )
    min_age = fields.Integer(allow_none=True, metadata={"description": "`age_range`."})
    max_age = fields.Integer(allow_none=True, metadata={"description": "`age_range`."})
    unit = fields.String(metadata={"description": "`no_free_places`: bed, slot, appointment."})
    held = fields.Integer(
        metadata={"description": "`no_free_places`: units held for accepted referrals."}
    )
    km_outside = fields.Integer(
        metadata={
            "description": "`outside_radius`: whole km beyond the radius (coarse point "
            "for confidential sites)."
        }
    )


class NearMissSchema(SearchItemSchema):
    misses = fields.List(fields.Nested(MissSchema))


class SearchResultSchema(HubSchema):
    items = fields.List(fields.Nested(SearchItemSchema))
    near_misses = fields.List(
        fields.Nested(NearMissSchema),
        metadata={
            "description": "Only when fewer than 3 items were found: up to 5 services that "
            "fail 1 to 3 of the filters (never the category), fewest misses first, then "
            "nearest, then most free capacity."
        },
    )


ServicePageSchema = page_schema(ServiceSchema, "ServicePageSchema")
CapacityHistoryPageSchema = page_schema(CapacityChangeSchema, "CapacityHistoryPageSchema")


HSDS_VERSIONS = ("3.0", "3.1")


class HsdsExportArgs(PageArgs):
    version = fields.String(
        load_default="3.0",
        validate=validate.OneOf(HSDS_VERSIONS),
        metadata={
            "description": "HSDS version of the service objects: 3.0 (the default) or 3.1, "
            "which adds `capacities[]` (live `available`, `maximum`, `updated`, `unit`)."
        },
    )


class HsdsPageSchema(HubSchema):
    contents = fields.List(
        fields.Dict(), metadata={"description": "HSDS 3.0 or 3.1 service objects."}
    )
    size = fields.Integer()
    next_cursor = fields.String(allow_none=True)


class HsdsImportArgs(HubSchema):
    agency_id = fields.UUID(
        load_default=None, metadata={"description": "For services that name no organization."}
    )
    version = fields.String(
        load_default=None,
        validate=validate.OneOf(HSDS_VERSIONS),
        metadata={
            "description": "The document's HSDS version; when left out, 3.1 if a service "
            "uses a field only 3.1 has, else 3.0. Checked against the 3.1 schema then, "
            "which accepts 3.0 documents."
        },
    )
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Check the document and report what would change; write nothing."},
    )


class HsdsChangeSchema(HubSchema):
    path = fields.String(metadata={"description": "Where the service is in the document."})
    id = fields.String(metadata={"description": "The service's id in the document."})
    name = fields.String()
    action = fields.String(metadata={"description": "create, update or unchanged."})
    changed = fields.List(
        fields.String(),
        attribute="fields",
        data_key="fields",
        metadata={"description": "HSDS fields whose export changes."},
    )


class HsdsImportReportSchema(HubSchema):
    created = fields.Integer()
    updated = fields.Integer()
    agencies_created = fields.Integer()
    warnings = fields.List(fields.String())
    version = fields.String()
    dry_run = fields.Boolean()
    changes = fields.List(fields.Nested(HsdsChangeSchema))
