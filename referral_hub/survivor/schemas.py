"""Issuing her access code through the API (an agency's own intake system may do it)."""

from __future__ import annotations

from marshmallow import fields

from referral_hub.core.schemas import HubSchema, Pattern, StrictBoolean


class IssueCodeArgs(HubSchema):
    pin = fields.String(
        required=True,
        validate=Pattern(r"^[0-9]{4,8}$", error="Four to eight digits, chosen by her."),
        metadata={"description": "The PIN she chose; stored only as an argon2 hash."},
    )
    safe_to_carry_only = StrictBoolean(
        load_default=False,
        metadata={"description": "Her situation is unsafe: print only the safe receipt."},
    )


class AccessSchema(HubSchema):
    issued_at = fields.AwareDateTime()
    works_until = fields.AwareDateTime()
    locked = fields.Boolean()
    safe_to_carry_only = fields.Boolean()


class IssuedCodeSchema(AccessSchema):
    code = fields.String(
        metadata={"description": "Shown this once, never stored in clear: give it to her now."}
    )
