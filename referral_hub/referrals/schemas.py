"""Referral and bundle shapes for the API."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, fields, validate, validates_schema

from referral_hub.consent.policy import CATEGORIES
from referral_hub.core.schemas import HubSchema, PageArgs, StrictBoolean, StrictInteger
from referral_hub.directory.vocabulary import Category
from referral_hub.referrals.deadlines import EXTENSION_REASONS, Urgency, unset_urgencies
from referral_hub.referrals.states import (
    COMPLETION_OUTCOMES,
    DECLINE_REASONS,
    OUTCOME_CODES,
    UNFINISHED_REASONS,
    State,
)

URGENCIES = [u.value for u in Urgency]
ASSIGNEE_PATTERN = (
    r"\A(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\Z"
)

# what a need can be, derived from its referrals (bundles.classify)
NEED_STATUSES = ("searching", "pending", "placed", "met", "unmet")


class ReferralCreateArgs(HubSchema):
    client_id = fields.UUID(required=True)
    service_id = fields.UUID(required=True)
    consent_id = fields.UUID(load_default=None)
    urgency = fields.Enum(Urgency, by_value=True, required=True)
    data_categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)), load_default=lambda: ["profile"]
    )
    note = fields.String(validate=validate.Length(max=2000))
    send = StrictBoolean(load_default=True)
    previous_referral_id = fields.UUID(
        load_default=None,
        metadata={"description": "Refer again: the ended referral this one follows."},
    )


class ReferralSchema(HubSchema):
    id = fields.UUID()
    status = fields.String()
    urgency = fields.String()
    client_reference = fields.String()
    client_id = fields.UUID()
    sender_agency = fields.UUID()
    receiver_agency = fields.UUID()
    service = fields.UUID()
    bundle_id = fields.UUID(allow_none=True)
    need_id = fields.UUID(allow_none=True)
    consent_id = fields.UUID(allow_none=True)
    previous_referral_id = fields.UUID(allow_none=True)
    sender_assignee = fields.UUID(
        allow_none=True, metadata={"description": "The sending agency's caseworker (a user id)."}
    )
    receiver_assignee = fields.UUID(
        allow_none=True,
        metadata={"description": "The receiving agency's caseworker, once it took it up."},
    )
    data_categories = fields.List(fields.String())
    acknowledge_by = fields.AwareDateTime(allow_none=True)
    respond_by = fields.AwareDateTime(allow_none=True)
    arrive_by = fields.AwareDateTime(allow_none=True)
    hold_minutes = StrictInteger(
        allow_none=True,
        metadata={"description": "The hold's length, frozen from the service's at accept."},
    )
    hold_overflow = fields.Boolean(
        metadata={"description": "The hold took an overflow place, not a regular unit."}
    )
    hold_extended_at = fields.AwareDateTime(allow_none=True)
    hold_extension_reason = fields.String(allow_none=True)
    expire_by = fields.AwareDateTime(allow_none=True)
    suggested_service_ids = fields.List(
        fields.UUID(), metadata={"description": "Next best matches, when it expired."}
    )
    decline_reason = fields.String(allow_none=True)
    outcome = fields.String(
        allow_none=True, metadata={"description": "The coded outcome (same as outcome_code)."}
    )
    outcome_code = fields.String(
        allow_none=True,
        validate=validate.OneOf(OUTCOME_CODES),
        metadata={
            "description": (
                "How it ended, coded. The receiver's own words are kept sealed under her key."
            )
        },
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


def assignee_field() -> fields.String:
    return fields.String(
        load_default=None,
        validate=validate.Regexp(ASSIGNEE_PATTERN, error="me, none or a user id."),
        metadata={"description": "`me`, a user id, or `none`: whose (on your side) to list."},
    )


class MineArgs(HubSchema):
    """The dashboards' "mine / everyone" filter."""

    assignee = assignee_field()


class ReferralListArgs(PageArgs):
    box = fields.String(load_default="received", validate=validate.OneOf(["sent", "received"]))
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in State]))
    urgency = fields.String(load_default=None, validate=validate.OneOf(URGENCIES))
    assignee = assignee_field()


class HandoverArgs(HubSchema):
    assignee_id = fields.UUID(required=True)
    note = fields.String(
        validate=validate.Length(max=2000),
        metadata={"description": "A handover note, sealed like a message (both parties read it)."},
    )


class AssignArgs(HandoverArgs):
    side = fields.String(required=True, validate=validate.OneOf(["sender", "receiver"]))


class TransitionArgs(HubSchema):
    """What each action takes: decline `reason` (+ `note`, `suggested_service_id`), withdraw and
    mark-error `reason`, request-info `question`, provide-info `answer`, waitlist `position`/`eta`,
    complete `outcome_code` and `outcome` (words, kept sealed), end-unfinished `reason`."""

    reason = fields.String(validate=validate.Length(min=1, max=200))
    note = fields.String(validate=validate.Length(max=2000))
    suggested_service_id = fields.UUID()
    question = fields.String(validate=validate.Length(min=1, max=2000))
    answer = fields.String(validate=validate.Length(min=1, max=2000))
    position = StrictInteger(validate=validate.Range(min=1, max=10_000))
    eta = fields.AwareDateTime()
    outcome = fields.String(validate=validate.Length(max=200))
    outcome_code = fields.String(validate=validate.OneOf(COMPLETION_OUTCOMES))


class ExtendHoldArgs(HubSchema):
    reason = fields.String(required=True, validate=validate.OneOf(EXTENSION_REASONS))
    minutes = StrictInteger(
        validate=validate.Range(min=15, max=72 * 60),
        metadata={"description": "How much longer; the hold's own length when left out."},
    )


class NeedArgs(HubSchema):
    category = fields.String(required=True, validate=validate.OneOf([c.value for c in Category]))
    urgency = fields.Enum(
        Urgency,
        by_value=True,
        metadata={
            "description": "This need's own urgency: its referrals' deadlines follow it. "
            "Omitted: the bundle's `urgency`."
        },
    )
    service_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=3))
    data_categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)), load_default=lambda: ["profile"]
    )
    note = fields.String(validate=validate.Length(max=2000))


class BundleCreateArgs(HubSchema):
    client_id = fields.UUID(required=True)
    consent_id = fields.UUID(load_default=None)
    urgency = fields.Enum(
        Urgency,
        by_value=True,
        metadata={
            "description": "The urgency of every need that gives none of its own "
            "(required unless each need gives one)."
        },
    )
    needs = fields.List(
        fields.Nested(NeedArgs), required=True, validate=validate.Length(min=1, max=11)
    )

    @validates_schema(skip_on_field_errors=False)
    def _every_need_has_an_urgency(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Said with the other fields' errors (the service holds the same rule)."""
        needs = data.get("needs")
        if isinstance(needs, list):
            missing = unset_urgencies(needs, data.get("urgency"))
            if missing:
                raise ValidationError(
                    {
                        "needs": {
                            int(key.split(".")[1]): {"urgency": m} for key, m in missing.items()
                        }
                    }
                )

    class Meta(HubSchema.Meta):
        # the same rule, for the document (core.http.SchemaRulesPlugin)
        json_schema: ClassVar[dict[str, Any]] = {
            "anyOf": [
                {"required": ["urgency"]},
                {"properties": {"needs": {"items": {"required": ["urgency"]}}}},
            ]
        }


class NeedSchema(HubSchema):
    id = fields.UUID()
    category = fields.String()
    urgency = fields.String(validate=validate.OneOf(URGENCIES))
    status = fields.String(validate=validate.OneOf(NEED_STATUSES))
    hops = fields.Integer()
    referrals = fields.List(fields.Nested(ReferralSchema))


class BundleSchema(HubSchema):
    id = fields.UUID()
    status = fields.String()
    sender_assignee = fields.UUID(allow_none=True)
    in_limbo = fields.Boolean()
    limbo_reasons = fields.List(fields.String())
    needs = fields.List(fields.Nested(NeedSchema))


__all__ = ["DECLINE_REASONS", "UNFINISHED_REASONS"]


class MessageArgs(HubSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class MessageSchema(HubSchema):
    id = fields.UUID()
    author_agency = fields.UUID()
    author = fields.String(allow_none=True)
    body = fields.String()
    created_at = fields.AwareDateTime()


class TimelineEntrySchema(HubSchema):
    seq = fields.Integer()
    at = fields.AwareDateTime()
    action = fields.String()
    actor_type = fields.String()
    agency = fields.UUID(allow_none=True)
    details = fields.Dict()
