"""Agency and user shapes for the API."""

from __future__ import annotations

from marshmallow import fields, validate

from referral_hub.agencies.models import AgencyKind, AgencyStatus
from referral_hub.core.schemas import HubSchema, PageArgs, page_schema


class AgencySchema(HubSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    kind = fields.Enum(AgencyKind, by_value=True)
    is_victim_service_provider = fields.Boolean()
    status = fields.Enum(AgencyStatus, by_value=True)
    city = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class AgencyCreateArgs(HubSchema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = fields.Enum(AgencyKind, by_value=True, required=True)
    is_victim_service_provider = fields.Boolean(load_default=False)
    city = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    region = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))


class AgencyListArgs(PageArgs):
    status = fields.Enum(AgencyStatus, by_value=True, load_default=None)


AgencyPageSchema = page_schema(AgencySchema, "AgencyPageSchema")
