"""A referral's timeline as a coordinator reads it: the audit events, with names.

`conversation.timeline` decides who may see it (the two parties and coordinators, through
`get_referral`; anyone else's referral looks missing) and gives the events, which never
held survivor data. This adds what a person reads instead of ids: the agencies' and the
service's names, and the referral's own few facts (reference, status, urgency, times).
Messages are not shown: they are survivor data between the two parties.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from referral_hub.agencies.service import agency_names
from referral_hub.core.actor import Actor
from referral_hub.directory.models import Service
from referral_hub.extensions import db
from referral_hub.referrals import conversation
from referral_hub.referrals import service as referrals
from referral_hub.referrals.states import DECLINE_REASONS, UNFINISHED_REASONS

CODED_REASONS = frozenset(DECLINE_REASONS) | frozenset(UNFINISHED_REASONS)


@dataclass(frozen=True, slots=True)
class TimelineReferral:
    """The referral's own few facts, with names for its agencies and service."""

    id: uuid.UUID
    client_reference: str
    status: str
    urgency: str
    sender: str
    receiver: str
    service: str
    sent_at: datetime | None
    respond_by: datetime | None
    decline_reason: str | None
    outcome: str | None
    bundle_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event: when, what, who (an agency's name, else the kind of actor) and, for a
    decline or an unfinished end, its coded reason — nothing else of the details."""

    seq: int
    at: datetime
    action: str
    actor_type: str
    agency: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Timeline:
    referral: TimelineReferral
    events: list[TimelineEntry]


def timeline_view(actor: Actor, referral_id: uuid.UUID) -> Timeline:
    events = conversation.timeline(actor, referral_id)  # the access check is here
    referral = referrals.get_referral(actor, referral_id)
    agency_ids = {referral.sender_agency_id, referral.receiver_agency_id}
    agency_ids |= {event["agency"] for event in events if event["agency"] is not None}
    names = agency_names(agency_ids)
    service_name = db.session.scalar(select(Service.name).where(Service.id == referral.service_id))
    return Timeline(
        referral=TimelineReferral(
            id=referral.id,
            client_reference=referral.client_reference,
            status=referral.status.value,
            urgency=referral.urgency.value,
            sender=names.get(str(referral.sender_agency_id), ""),
            receiver=names.get(str(referral.receiver_agency_id), ""),
            service=service_name or "",
            sent_at=referral.sent_at,
            respond_by=referral.respond_by,
            decline_reason=referral.decline_reason,
            outcome=referral.outcome,
            bundle_id=referral.bundle_id,
        ),
        events=[
            TimelineEntry(
                seq=event["seq"],
                at=event["at"],
                action=event["action"],
                actor_type=event["actor_type"],
                agency=names.get(str(event["agency"])) if event["agency"] else None,
                reason=_coded_reason(event["details"]),
            )
            for event in events
        ],
    )


def _coded_reason(details: dict[str, object] | None) -> str | None:
    """Only a coded reason: anything else in the details is not for this page."""
    reason = (details or {}).get("reason")
    return reason if isinstance(reason, str) and reason in CODED_REASONS else None
