"""The periodic sweep that keeps referrals from dying silently. Idempotent: every step
marks what it did, so running it twice (or late) does each thing once.

1. unacknowledged past `acknowledge_by`: the receiver is reminded;
2. undecided past `respond_by`: coordinators are told (escalation);
3. still unanswered past `expire_by`: expired, the sender told, and the next best matches
   (same category, free now, nearby, not the same service, not a do-not-refer agency) kept
   on the referral for the sender;
4. accepted but not arrived by `arrive_by`: no-show, and the bed is released.
"""

from __future__ import annotations

from sqlalchemy import select

from referral_hub.agencies.service import email_staff
from referral_hub.audit import service as audit
from referral_hub.clients.models import Client
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.directory import service as directory
from referral_hub.extensions import db
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State

AWAITING_ANSWER = [
    State.SENT.value,
    State.ACKNOWLEDGED.value,
    State.INFO_REQUESTED.value,
    State.WAITLISTED.value,
]


def sweep() -> dict[str, int]:
    now = clock.now()
    done = {"reminded": 0, "escalated": 0, "expired": 0, "no_show": 0}
    for referral in db.session.scalars(
        select(Referral).where(
            Referral.status == State.SENT,
            Referral.acknowledge_by < now,
            Referral.reminded_at.is_(None),
        )
    ).all():
        referral.reminded_at = now
        email_staff(
            referral.receiver_agency_id,
            {"provider", "agency_admin"},
            "referral_waiting",
            referrals.what_waits(referral, "receiver"),
        )
        audit.record(
            SYSTEM, "referral.reminded", referral, client_reference=referral.client_reference
        )
        done["reminded"] += 1
    for referral in db.session.scalars(
        select(Referral).where(
            Referral.status.in_(AWAITING_ANSWER),
            Referral.respond_by < now,
            Referral.escalated_at.is_(None),
        )
    ).all():
        referral.escalated_at = now
        email_staff(None, {"coordinator"}, "action_waiting")
        audit.record(
            SYSTEM, "referral.escalated", referral, client_reference=referral.client_reference
        )
        done["escalated"] += 1
    expirable = [State.SENT.value, State.ACKNOWLEDGED.value, State.INFO_REQUESTED.value]
    for referral in db.session.scalars(
        select(Referral).where(Referral.status.in_(expirable), Referral.expire_by < now)
    ).all():
        referral.suggested_service_ids = _next_best(referral)
        referrals.transition(SYSTEM, referral.id, "expire")
        done["expired"] += 1
    for referral in db.session.scalars(
        select(Referral).where(Referral.status == State.ACCEPTED, Referral.arrive_by < now)
    ).all():
        referrals.transition(SYSTEM, referral.id, "no-show")
        done["no_show"] += 1
    return done


def _next_best(referral: Referral) -> list[str]:
    service = directory.get_service(SYSTEM, referral.service_id)
    client = db.session.get(Client, referral.client_id)
    avoid = set(client.do_not_refer if client else []) | {str(service.agency_id)}
    near = None
    if service.search_lat is not None and service.search_lon is not None:
        near = (service.search_lat, service.search_lon)
    query = directory.SearchQuery(
        categories=(service.category,), available=True, near=near, limit=10
    )
    matches = [
        str(item["service"]["id"])
        for item in directory.search(SYSTEM, query)
        if str(item["agency"]["id"]) not in avoid and item["service"]["id"] != service.id
    ]
    return matches[:3]
