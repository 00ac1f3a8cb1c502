"""Audit event shapes for the oversight API: the query a coordinator may ask, and the event
exactly as it was hashed (so a reader can re-hash what it is given)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields, validate

from referral_hub.audit.service import OUTCOMES
from referral_hub.core.schemas import HubSchema, PageArgs, page_schema

MAX_SEQ = 2**53 - 1  # seqs are hashed as JSON numbers: none can be larger than this
NAME = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="Lower-case letters, digits and underscores.")
# an action (`referral.accepted`), or every action under a prefix (`referral.*`)
ACTION = validate.Regexp(
    r"^[a-z][a-z_]*(\.[a-z][a-z_]*)*(\.\*)?$",
    error="A dotted lower-case action such as referral.accepted, or a prefix such as referral.*.",
)
# ids as the audit table stores them: uuids, user ids, API client ids (no spaces, no controls)
IDENTIFIER = validate.Regexp(r"^[A-Za-z0-9_.:-]{1,64}$", error="Not an identifier.")
REFERENCE = validate.Regexp(r"^[A-Za-z0-9-]{4,40}$", error="Not a client reference.")


class UTCQueryDateTime(fields.AwareDateTime):
    """An aware time turned into UTC; one that has no UTC equivalent is invalid, not a 500."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type="datetime") from None


class AuditEventListArgs(PageArgs):
    """Filters combine with AND; the result is always in `seq` order."""

    after_seq = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=MAX_SEQ),
        metadata={"description": "Only events after this sequence number (for tailing)."},
    )
    action = fields.String(
        load_default=None,
        validate=[validate.Length(max=80), ACTION],
        metadata={"description": "Exact action, or `prefix.*` for every action under it."},
    )
    outcome = fields.String(load_default=None, validate=validate.OneOf(sorted(OUTCOMES)))
    subject_type = fields.String(load_default=None, validate=[validate.Length(max=40), NAME])
    subject_id = fields.String(load_default=None, validate=IDENTIFIER)
    client_reference = fields.String(load_default=None, validate=REFERENCE)
    actor_id = fields.String(load_default=None, validate=IDENTIFIER)
    actor_agency_id = fields.UUID(load_default=None)
    since = UTCQueryDateTime(
        data_key="from",
        load_default=None,
        metadata={"description": "Events at or after this time (RFC 3339 with offset)."},
    )
    until = UTCQueryDateTime(
        data_key="to",
        load_default=None,
        metadata={"description": "Events before this time; `to` before `from` finds nothing."},
    )


class AuditActorSchema(HubSchema):
    type = fields.String(required=True)
    id = fields.String(allow_none=True, required=True)
    agency_id = fields.String(allow_none=True, required=True)
    roles = fields.List(fields.String(), required=True)


class AuditSubjectSchema(HubSchema):
    type = fields.String(allow_none=True, required=True)
    id = fields.String(allow_none=True, required=True)


class AuditEventSchema(HubSchema):
    """One event as stored and hashed: `leaf` is SHA-256 over every other key but `chain`."""

    v = fields.Integer(required=True, metadata={"description": "Event format version."})
    seq = fields.Integer(required=True)
    event_id = fields.String(required=True)
    at = fields.String(
        required=True, metadata={"description": "RFC 3339 UTC, as hashed (microseconds kept)."}
    )
    actor = fields.Nested(AuditActorSchema, required=True)
    action = fields.String(required=True)
    outcome = fields.String(required=True)
    subject = fields.Nested(AuditSubjectSchema, required=True)
    client_reference = fields.String(allow_none=True, required=True)
    request_id = fields.String(allow_none=True, required=True)
    fields_ = fields.List(
        fields.String(),
        data_key="fields",
        attribute="fields",
        required=True,
        metadata={"description": "Names of the fields or data categories touched."},
    )
    consent_id = fields.String(allow_none=True, required=True)
    details = fields.Dict(
        keys=fields.String(), required=True, metadata={"description": "Never personal data."}
    )
    prev = fields.String(required=True)
    leaf = fields.String(required=True)
    chain = fields.String(required=True)


AuditEventPageSchema = page_schema(AuditEventSchema, "AuditEventPageSchema")


class CheckpointListArgs(PageArgs):
    after_seq = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_SEQ),
        metadata={"description": "Only checkpoints after this sequence number."},
    )


class CheckpointSchema(HubSchema):
    """A signed checkpoint: Ed25519 over the canonical JSON of purpose, seq, chain, at, key_id."""

    seq = fields.Integer(required=True)
    chain = fields.String(required=True, metadata={"description": "The chain hash at `seq`."})
    at = fields.String(required=True, metadata={"description": "RFC 3339 UTC, as signed."})
    key_id = fields.String(required=True)
    signature = fields.String(required=True, metadata={"description": "Base64 Ed25519."})


CheckpointPageSchema = page_schema(CheckpointSchema, "CheckpointPageSchema")


class PublicKeySchema(HubSchema):
    key_id = fields.String(required=True)
    algorithm = fields.String(required=True)
    public_key = fields.String(required=True, metadata={"description": "Base64 of 32 raw bytes."})
    pem = fields.String(required=True)
    first_used_at = fields.String(required=True)
    current = fields.Boolean(required=True)


class PublicKeysSchema(HubSchema):
    current_key_id = fields.String(allow_none=True, required=True)
    keys = fields.List(fields.Nested(PublicKeySchema), required=True)


class ChainHeadSchema(HubSchema):
    seq = fields.Integer(required=True)
    hash = fields.String(required=True)


class VerifyArgs(HubSchema):
    full = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Re-hash the whole chain instead of only the events after the last"
            " verified point (slower; also catches edits before that point)."
        },
    )


class VerificationSchema(HubSchema):
    """The verifier's report; `reason` names the kind of damage at `first_bad_seq`."""

    mode = fields.String(
        required=True,
        validate=validate.OneOf(["full", "incremental"]),
        metadata={"description": "`full`: from the first event; `incremental`: from `from_seq`."},
    )
    from_seq = fields.Integer(
        required=True,
        metadata={
            "description": "Where the walk began: 1, or the last verified point (that event is"
            " re-hashed and must still have the chain hash verified then)."
        },
    )

    ok = fields.Boolean(required=True)
    events_checked = fields.Integer(required=True)
    head = fields.Nested(ChainHeadSchema, required=True)
    first_bad_seq = fields.Integer(allow_none=True, required=True)
    reason = fields.String(allow_none=True, required=True)
    explanation = fields.String(allow_none=True, required=True)
    checkpoints_checked = fields.Integer(required=True)
    last_checkpoint = fields.Nested(CheckpointSchema, allow_none=True, required=True)
    unsigned_events = fields.Integer(required=True)
