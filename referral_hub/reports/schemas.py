"""Report query arguments and the shapes of the reports."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from referral_hub.core import clock
from referral_hub.core.schemas import HubSchema, PageArgs
from referral_hub.referrals.schemas import NEED_STATUSES
from referral_hub.reports.limbo import WHY
from referral_hub.reports.nudges import SIDES

MAX_DAYS = 366
DEFAULT_DAYS = 30
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
PERCENTILE_NOTE = (
    "Nearest rank: with the n durations in ascending order, the P-th percentile is the one "
    "at rank ceil(P*n/100); the median of an even count is the lower middle value."
)


def _day(key: str, description: str) -> fields.Date:
    return fields.Date(
        data_key=key,
        load_default=None,
        validate=validate.Range(min=EARLIEST, max=LATEST),
        # the range above, for the document: years 2000 to 2100
        metadata={
            "description": description,
            "pattern": r"^(20\d\d|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
        },
    )


class HandoffReportArgs(HubSchema):
    """`from` and `to` are whole UTC days, both included, at most 366 days apart."""

    # `from` is a Python keyword: the attributes are first_day / last_day
    first_day = _day(
        "from", f"First day (UTC) of sending; default {DEFAULT_DAYS - 1} days before `to`."
    )
    last_day = _day("to", "Last day (UTC) of sending, included; default today.")
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))

    @validates_schema
    def _ordered_and_bounded(self, data: dict[str, Any], **_: Any) -> None:
        last = data.get("last_day") or clock.now().date()
        first = data.get("first_day")
        if first is None:
            return
        if first > last:
            raise ValidationError(
                "Must not be before `from` (today when not given).", field_name="to"
            )
        if (last - first).days + 1 > MAX_DAYS:
            raise ValidationError(f"The period may span at most {MAX_DAYS} days.", field_name="to")

    @post_load
    def _defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["last_day"] = data.get("last_day") or clock.now().date()
        if data.get("first_day") is None:
            data["first_day"] = data["last_day"] - timedelta(days=DEFAULT_DAYS - 1)
        return data


class DurationSchema(HubSchema):
    count = fields.Integer(metadata={"description": "Durations observed."})
    median_seconds = fields.Integer(allow_none=True, metadata={"description": PERCENTILE_NOTE})
    p90_seconds = fields.Integer(allow_none=True, metadata={"description": PERCENTILE_NOTE})


class ReceivingAgencySchema(HubSchema):
    agency_id = fields.UUID()
    agency_name = fields.String()
    received = fields.Integer(metadata={"description": "Referrals sent to it in the period."})
    accepted = fields.Integer(metadata={"description": "Accepted, whatever happened after."})
    declined = fields.Integer()
    expired = fields.Integer(metadata={"description": "Left unanswered until they expired."})
    settled = fields.Integer(
        metadata={
            "description": "accepted + declined + expired: the referrals whose fate was this "
            "agency's to settle and is settled (still open, withdrawn and superseded ones are "
            "left out). The denominator of both rates."
        }
    )
    acceptance_rate = fields.Float(allow_none=True, metadata={"description": "accepted / settled"})
    decline_rate = fields.Float(allow_none=True, metadata={"description": "declined / settled"})


class HopsBucketSchema(HubSchema):
    hops = fields.Integer()
    bundles = fields.Integer()


class HopsSchema(HubSchema):
    """Per bundle whose first referral was sent in the period: its referrals declined,
    expired or not completed so far."""

    bundles = fields.Integer()
    mean = fields.Float(allow_none=True)
    max = fields.Integer(allow_none=True)
    distribution = fields.List(
        fields.Nested(HopsBucketSchema),
        metadata={"description": "How many bundles had each number of hops (none listed: 0)."},
    )


class StaleAgencySchema(HubSchema):
    agency_id = fields.UUID()
    agency_name = fields.String()
    stale_services = fields.Integer(
        metadata={"description": "Listed services whose capacity is stale or was never set."}
    )
    never_set = fields.Integer()
    oldest_update = fields.AwareDateTime(allow_none=True)


class RunaroundAgencySchema(HubSchema):
    """Her runaround, per sending agency: over the needs whose episode began in the period."""

    agency_id = fields.UUID()
    agency_name = fields.String()
    needs = fields.Integer()
    placed = fields.Integer(metadata={"description": "Needs a receiver accepted."})
    unmet = fields.Integer(metadata={"description": "Needs whose every referral ended."})
    hops_median = fields.Integer(allow_none=True, metadata={"description": PERCENTILE_NOTE})
    hops_p90 = fields.Integer(allow_none=True, metadata={"description": PERCENTILE_NOTE})
    placement_median_seconds = fields.Integer(
        allow_none=True, metadata={"description": PERCENTILE_NOTE}
    )
    placement_p90_seconds = fields.Integer(
        allow_none=True, metadata={"description": PERCENTILE_NOTE}
    )


class RunaroundDoorSchema(HubSchema):
    referral_id = fields.UUID()
    service_name = fields.String()
    agency_name = fields.String()
    status = fields.String()
    sent_at = fields.AwareDateTime()
    accepted_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)


class RunaroundNeedSchema(HubSchema):
    bundle_id = fields.UUID(allow_none=True)
    need_id = fields.UUID(allow_none=True, metadata={"description": "Null: sent alone."})
    category = fields.String()
    status = fields.String(validate=validate.OneOf(["placed", "waiting", "unmet"]))
    doors = fields.Integer(metadata={"description": "Referrals sent for this need."})
    hops = fields.Integer(metadata={"description": "Declined, expired or ended unfinished."})
    first_referral_at = fields.AwareDateTime(
        metadata={"description": "The episode's first referral (the bundle's)."}
    )
    placed_at = fields.AwareDateTime(allow_none=True)
    seconds_to_placement = fields.Integer(allow_none=True)
    days_to_placement = fields.Float(allow_none=True)
    referrals = fields.List(
        fields.Nested(RunaroundDoorSchema), metadata={"description": "Oldest first."}
    )


class RunaroundSchema(HubSchema):
    """Her runaround: every door she was sent to, per need. No survivor data."""

    client_id = fields.UUID()
    client_reference = fields.String()
    doors = fields.Integer()
    hops = fields.Integer()
    needs_placed = fields.Integer()
    needs_unmet = fields.Integer()
    needs = fields.List(fields.Nested(RunaroundNeedSchema))


class OutsideFiguresSchema(HubSchema):
    """Referrals to organisations not on the hub: the right agency was not on the hub."""

    sent = fields.Integer()
    waiting = fields.Integer(metadata={"description": "Sent, not answered yet."})
    accepted = fields.Integer()
    declined = fields.Integer()
    withdrawn = fields.Integer()


class HandoffReportSchema(HubSchema):
    """Handoff figures over the referrals sent in the period, each as it stands now."""

    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    generated_at = fields.AwareDateTime()
    referrals_sent = fields.Integer()
    by_status = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Every state a sent referral can be in, zeros included."},
    )
    expired = fields.Integer()
    no_show = fields.Integer(metadata={"description": "Accepted, and she did not arrive."})
    placements_regular = fields.Integer(
        metadata={"description": "Accepted on a regular unit of the service."}
    )
    placements_overflow = fields.Integer(
        metadata={"description": "Accepted on an overflow place the provider opened for a while."}
    )
    time_to_acknowledge = fields.Nested(
        DurationSchema,
        metadata={
            "description": "From sending to the receiver's first answer (acknowledged, or "
            "accepted or declined straight away)."
        },
    )
    time_to_accept = fields.Nested(
        DurationSchema, metadata={"description": "From sending to acceptance."}
    )
    receiving_agencies = fields.List(fields.Nested(ReceivingAgencySchema))
    declines_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer())
    hops_per_bundle = fields.Nested(HopsSchema)
    time_to_placement = fields.Nested(
        DurationSchema,
        metadata={
            "description": "Per placed need of a bundle begun in the period: from the "
            "bundle's first referral to the need's first acceptance."
        },
    )
    stale_capacity_agencies = fields.List(
        fields.Nested(StaleAgencySchema),
        metadata={"description": "As of `generated_at`, whatever the period."},
    )
    runaround_by_agency = fields.List(
        fields.Nested(RunaroundAgencySchema),
        metadata={
            "description": "Per sending agency, over the needs whose episode (a bundle, or "
            "a referral sent alone) began in the period: hops, and time from the first "
            "referral to placement."
        },
    )
    referred_outside = fields.Nested(
        OutsideFiguresSchema,
        metadata={
            "description": "Referred outside the hub (sent in the period, as they stand now)."
        },
    )


class InLimboArgs(PageArgs):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class LimboReceiverSchema(HubSchema):
    id = fields.UUID()
    name = fields.String()


class LimboSenderSchema(LimboReceiverSchema):
    phone = fields.String(
        allow_none=True,
        metadata={
            "description": "A number for referrers: the first (by name) of the sending "
            "agency's active services that lists one."
        },
    )


class LimboServiceSchema(HubSchema):
    id = fields.UUID()
    name = fields.String()
    phone = fields.String(allow_none=True, metadata={"description": "Phone for referrers."})


class LimboNudgesSchema(HubSchema):
    receiver = fields.AwareDateTime(allow_none=True)
    sender = fields.AwareDateTime(allow_none=True)


class LimboItemSchema(HubSchema):
    """A referral a survivor may be falling through, with both agencies and their numbers."""

    referral_id = fields.UUID()
    client_reference = fields.String(metadata={"description": "Her random reference, no PII."})
    status = fields.String()
    urgency = fields.String()
    why = fields.String(
        validate=validate.OneOf(WHY),
        metadata={
            "description": "unacknowledged, decision_overdue, question_unanswered (the "
            "sender owes the receiver an answer), waitlist_overdue, arrival_overdue (accepted, "
            "no arrival by the end of the hold), too_many_hops (open in a need that bounced "
            "2+ times for an emergency, 3+ otherwise), nothing_open (the need's latest "
            "referral; nothing is open for it and it is not placed)"
        },
    )
    hops = fields.Integer(
        metadata={
            "description": "The need's declined, expired or unfinished referrals, while it "
            "is neither placed nor met (0 otherwise, and outside a bundle)."
        }
    )
    deadline = fields.AwareDateTime(
        allow_none=True, metadata={"description": "What the referral's state runs against."}
    )
    overdue_seconds = fields.Integer(allow_none=True)
    sent_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    bundle_id = fields.UUID(allow_none=True)
    need_id = fields.UUID(allow_none=True)
    category = fields.String()
    service = fields.Nested(LimboServiceSchema)
    receiver = fields.Nested(LimboReceiverSchema)
    sender = fields.Nested(LimboSenderSchema)
    last_nudged = fields.Nested(LimboNudgesSchema)


class NudgeArgs(HubSchema):
    to = fields.String(
        required=True,
        validate=validate.OneOf(SIDES),
        metadata={
            "description": "receiver: the receiving agency's providers are asked to act on "
            "it; sender: the sending agency's intake workers are asked to answer the "
            "receiver's question, or to refer her elsewhere (its refer-again page)"
        },
    )


class NudgeSchema(HubSchema):
    referral_id = fields.UUID()
    to = fields.String()
    what = fields.String()
    at = fields.AwareDateTime()
    notified = fields.Integer(metadata={"description": "Staff e-mailed (0: call them)."})
    next_allowed_at = fields.AwareDateTime()


class LimboNeedSchema(HubSchema):
    need_id = fields.UUID()
    category = fields.String()
    status = fields.String(validate=validate.OneOf(NEED_STATUSES))
    hops = fields.Integer()
    why = fields.String(allow_none=True, metadata={"description": "Null: this need is fine."})


class LimboBundleSchema(HubSchema):
    bundle_id = fields.UUID(
        allow_none=True,
        metadata={
            "description": "Null: a referral sent outside any bundle is stuck; the item is "
            "that referral alone (its urgency, sender and creation time, `needs` empty)."
        },
    )
    urgency = fields.String()
    sender_agency_id = fields.UUID()
    sender_agency_name = fields.String()
    created_at = fields.AwareDateTime()
    waiting_seconds = fields.Integer(metadata={"description": "Since the bundle was created."})
    reasons = fields.List(fields.String(), metadata={"description": "`category: why` per need."})
    needs = fields.List(fields.Nested(LimboNeedSchema))
    runaround = fields.Nested(
        "LimboRunaroundSchema",
        metadata={"description": "Her runaround across all her needs, by reference only."},
    )
    client_reference = fields.String(metadata={"description": "Her random reference, no PII."})
    referrals = fields.List(
        fields.Nested(LimboItemSchema),
        metadata={
            "description": "Its stuck referrals, most urgent first, as "
            "`/reports/in-limbo/referrals` gives them (the item's place in the queue is its "
            "first one's)."
        },
    )


class LimboRunaroundNeedSchema(HubSchema):
    bundle_id = fields.UUID(allow_none=True)
    category = fields.String()
    status = fields.String(validate=validate.OneOf(["placed", "waiting", "unmet"]))
    doors = fields.Integer()
    hops = fields.Integer()
    first_referral_at = fields.AwareDateTime()
    placed_at = fields.AwareDateTime(allow_none=True)
    seconds_to_placement = fields.Integer(allow_none=True)
    days_to_placement = fields.Float(allow_none=True)


class LimboRunaroundSchema(HubSchema):
    """Her runaround beside the queue: her reference and figures, no doors listed."""

    client_reference = fields.String()
    doors = fields.Integer()
    hops = fields.Integer()
    needs_placed = fields.Integer()
    needs_unmet = fields.Integer()
    needs = fields.List(fields.Nested(LimboRunaroundNeedSchema))


class LimboRowSchema(LimboItemSchema):
    """A referral in limbo with her runaround beside it (the coordinators' queue rows)."""

    runaround = fields.Nested(LimboRunaroundSchema, allow_none=True)
