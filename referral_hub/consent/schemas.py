"""Consent and disclosure shapes for the API."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import fields, validate

from referral_hub.clients.schemas import BCP47
from referral_hub.consent.policy import CATEGORIES
from referral_hub.consent.service import METHODS, PURPOSES, SIGNERS
from referral_hub.core.schemas import HubSchema


class ConsentCreateArgs(HubSchema):
    recipients = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=50))
    purposes = fields.List(
        fields.String(validate=validate.OneOf(PURPOSES)),
        required=True,
        validate=validate.Length(min=1),
    )
    data_categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=validate.Length(min=1),
    )
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    signer = fields.String(required=True, validate=validate.OneOf(SIGNERS))
    signer_authority = fields.String(validate=validate.Length(max=200))
    form_version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    form_language = fields.String(required=True, validate=BCP47)
    signed_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime()

    class Meta(HubSchema.Meta):
        # consent.service's rule, for the document (core.http.SchemaRulesPlugin)
        json_schema: ClassVar[dict[str, Any]] = {
            "if": {"properties": {"signer": {"const": "representative"}}, "required": ["signer"]},
            "then": {
                "properties": {"signer_authority": {"pattern": "\\S"}},
                "required": ["signer_authority"],
            },
        }


class ConsentSchema(HubSchema):
    id = fields.UUID()
    client_id = fields.UUID()
    recipients = fields.List(fields.UUID())
    withdrawn_from = fields.List(
        fields.UUID(), metadata={"description": "Recipients it was withdrawn from, one by one."}
    )
    purposes = fields.List(fields.String())
    data_categories = fields.List(fields.String())
    method = fields.String()
    signer = fields.String()
    signer_authority = fields.String(allow_none=True)
    form_version = fields.String()
    form_language = fields.String()
    signed_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    status = fields.String(validate=validate.OneOf(["active", "expired", "revoked"]))
    revoked_at = fields.AwareDateTime(allow_none=True)
    revocation_reason = fields.String(allow_none=True)


class RevokeArgs(HubSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ConsentRevokeArgs(RevokeArgs):
    agency_id = fields.UUID(
        load_default=None,
        metadata={
            "description": "Withdraw the consent from this agency only; the others it names "
            "stay covered. Omitted: revoked for every agency."
        },
    )


class DisclosureSchema(HubSchema):
    at = fields.AwareDateTime()
    agency = fields.UUID(allow_none=True)
    user = fields.String(allow_none=True)
    action = fields.String()
    data_categories = fields.List(fields.String())
    consent_id = fields.UUID(allow_none=True)


class DisclosureArgs(HubSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
