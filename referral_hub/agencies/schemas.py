"""Agency and user shapes for the API."""

from __future__ import annotations

from marshmallow import fields, validate

from referral_hub.agencies.models import AgencyKind, AgencyStatus, Participation, Role
from referral_hub.core.schemas import HubSchema, PageArgs, StrictBoolean, page_schema

PARTICIPATION_NOTE = (
    "`receives_referrals` (the default): its services take referrals through the hub. "
    "`counts_only`: its capacity shows in search, but it receives no referrals (call it)."
)


class AgencySchema(HubSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    kind = fields.Enum(AgencyKind, by_value=True)
    is_victim_service_provider = fields.Boolean()
    status = fields.Enum(AgencyStatus, by_value=True)
    participation = fields.Enum(
        Participation,
        by_value=True,
        metadata={"description": PARTICIPATION_NOTE},
    )
    city = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class AgencyCreateArgs(HubSchema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = fields.Enum(AgencyKind, by_value=True, required=True)
    is_victim_service_provider = StrictBoolean(load_default=False)
    city = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    region = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))


class AgencyListArgs(PageArgs):
    status = fields.Enum(AgencyStatus, by_value=True, load_default=None)


AgencyPageSchema = page_schema(AgencySchema, "AgencyPageSchema")


class UserSchema(HubSchema):
    id = fields.UUID(dump_only=True)
    agency_id = fields.UUID(dump_only=True)
    email = fields.Email()
    display_name = fields.String()
    roles = fields.List(fields.String())
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime(dump_only=True)


class UserCreateArgs(HubSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    roles = fields.List(
        fields.String(validate=validate.OneOf([role.value for role in Role])),
        required=True,
        validate=validate.Length(min=1, max=5),
    )
