"""API shapes for outside organisations and the referrals sent to them."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import fields, validate

from referral_hub.consent.policy import CATEGORIES
from referral_hub.core.schemas import HubSchema
from referral_hub.directory.vocabulary import Category
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.states import DECLINE_REASONS


class OrganisationArgs(HubSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(load_default=None, validate=validate.Length(max=40))
    email = fields.Email(load_default=None, validate=validate.Length(max=254))

    class Meta(HubSchema.Meta):
        # the service's rule, for the document (core.http.SchemaRulesPlugin): a way to
        # reach them, a phone or an e-mail that is not blank
        json_schema: ClassVar[dict[str, Any]] = {
            "anyOf": [
                {
                    "properties": {"phone": {"type": "string", "pattern": "\\S"}},
                    "required": ["phone"],
                },
                {
                    "properties": {"email": {"type": "string", "pattern": "\\S"}},
                    "required": ["email"],
                },
            ]
        }


class OrganisationSchema(HubSchema):
    id = fields.UUID()
    name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class OutsideReferralArgs(HubSchema):
    client_id = fields.UUID(required=True)
    organisation_id = fields.UUID(required=True)
    consent_id = fields.UUID(
        required=True, metadata={"description": "A consent naming this organisation."}
    )
    purpose = fields.String(required=True, validate=validate.OneOf([c.value for c in Category]))
    urgency = fields.Enum(Urgency, by_value=True, required=True)
    data_categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)), load_default=lambda: ["profile"]
    )
    bundle_id = fields.UUID(load_default=None)


class OutsideReferralSchema(HubSchema):
    id = fields.UUID()
    status = fields.String()
    urgency = fields.String()
    client_id = fields.UUID()
    client_reference = fields.String()
    organisation_id = fields.UUID()
    consent_id = fields.UUID(allow_none=True)
    bundle_id = fields.UUID(allow_none=True)
    purpose = fields.String()
    data_categories = fields.List(fields.String())
    sent_at = fields.AwareDateTime()
    respond_by = fields.AwareDateTime(
        allow_none=True,
        metadata={
            "description": "The answer is due by then (from the urgency, as a hub referral's "
            "decision); past it unanswered, the sender is told to call them."
        },
    )
    answered_at = fields.AwareDateTime(allow_none=True)
    decline_reason = fields.String(allow_none=True)


class OutsideLinkSchema(HubSchema):
    id = fields.UUID()
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)
    first_opened_at = fields.AwareDateTime(allow_none=True)
    opens = fields.Integer()
    answered_at = fields.AwareDateTime(allow_none=True)
    url = fields.String(
        metadata={"description": "Shown once, when the link is made: send it to them."}
    )


class AnswerArgs(HubSchema):
    """The outside worker's answer through the link page."""

    action = fields.String(required=True, validate=validate.OneOf(("accept", "decline")))
    reason = fields.String(load_default=None, validate=validate.OneOf(DECLINE_REASONS))
