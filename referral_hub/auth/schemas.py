"""Shapes for administration: API clients, staff updates, agency updates, who-am-I."""

from __future__ import annotations

from marshmallow import fields, validate

from referral_hub.agencies.models import AgencyStatus, Participation, Role
from referral_hub.agencies.schemas import PARTICIPATION_NOTE
from referral_hub.auth.models import SCOPES
from referral_hub.core.schemas import HubSchema, StrictBoolean


class ApiClientSchema(HubSchema):
    id = fields.UUID(dump_only=True)
    client_id = fields.String(dump_only=True)
    name = fields.String()
    scopes = fields.List(fields.String())
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime(dump_only=True)
    jwks = fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Its public keys (JWK Set) for private_key_jwt, or null."},
    )


class ApiClientCreatedSchema(ApiClientSchema):
    client_secret = fields.String(
        dump_only=True, metadata={"description": "Shown once, now. Only a hash is kept."}
    )


class ApiClientCreateArgs(HubSchema):
    name = fields.String(required=True, validate=validate.Length(min=2, max=120))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1, max=len(SCOPES)),
    )


class ApiClientKeysArgs(HubSchema):
    jwks = fields.Dict(
        required=True,
        allow_none=True,
        metadata={
            "description": "A JWK Set of public keys (RS384: RSA of 2048 bits or more; "
            "ES384: EC P-384), each with its own kid; null removes them. Inline only: the "
            "hub never fetches a jwks_uri."
        },
    )


class UserUpdateArgs(HubSchema):
    display_name = fields.String(validate=validate.Length(min=1, max=120))
    roles = fields.List(
        fields.String(validate=validate.OneOf([role.value for role in Role])),
        validate=validate.Length(min=1, max=5),
    )
    is_active = StrictBoolean()


class AgencyUpdateArgs(HubSchema):
    name = fields.String(validate=validate.Length(min=2, max=200))
    city = fields.String(allow_none=True, validate=validate.Length(max=120))
    region = fields.String(allow_none=True, validate=validate.Length(max=120))
    is_victim_service_provider = StrictBoolean()
    status = fields.Enum(AgencyStatus, by_value=True)
    participation = fields.Enum(
        Participation, by_value=True, metadata={"description": PARTICIPATION_NOTE}
    )


class MeSchema(HubSchema):
    kind = fields.String()
    id = fields.String()
    agency_id = fields.UUID(allow_none=True)
    roles = fields.List(fields.String())
    scopes = fields.List(fields.String())


class SsoSchema(HubSchema):
    """An agency's single sign-on provider; the client secret is never shown, only whether
    one is set."""

    agency_id = fields.UUID(dump_only=True)
    issuer = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    client_secret_set = fields.Boolean(dump_only=True)
    email_domains = fields.List(fields.String())
    enabled = fields.Boolean()
    updated_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    redirect_uri = fields.String(
        dump_only=True,
        metadata={"description": "The address to register at the provider for this hub."},
    )


class SsoUpdateArgs(HubSchema):
    issuer = fields.String(
        required=True,
        validate=validate.Length(min=8, max=300),
        metadata={"description": "The provider's issuer, e.g. https://login.agency.org."},
    )
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    client_secret = fields.String(
        load_only=True,
        validate=validate.Length(max=500),
        metadata={"description": "Write-only; leave out to keep the one saved."},
    )
    # each domain is checked by the service (so a refusal names this field, not an item)
    email_domains = fields.List(
        fields.String(), required=True, validate=validate.Length(min=1, max=10)
    )
    enabled = StrictBoolean(required=True)
