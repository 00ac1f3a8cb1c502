"""The periodic sweep that keeps referrals from dying silently. Idempotent: every step
marks what it did, so running it twice (or late) does each thing once.

1. unacknowledged past `acknowledge_by`: the receiver is reminded (nobody there owns it
   yet, so its staff);
2. undecided and nearing `respond_by` (`ASSIGNEE_NOTICE` before it): the caseworker whose
   move it is — the receiver's, or the sender's while a question waits for her answer — is
   reminded, alone: the assignee first;
3. undecided past `respond_by`: escalation — that side's agency staff and the coordinators
   are told (and the caseworker, if step 2 could not reach her first);
4. still unanswered past `expire_by`: expired, the sender told, and the next best matches
   (same category, free now, nearby, not the same service, not a do-not-refer agency) kept
   on the referral for the sender;
5. accepted but not arrived by `arrive_by`: no-show, and the bed is released;
6. a referral outside the hub still unanswered past its `respond_by`: nobody there has an
   account to remind, so the sender is told to call them (`outside.tell_unanswered`).
"""

from __future__ import annotations

from sqlalchemy import select

from referral_hub.agencies.service import email_staff
from referral_hub.audit import service as audit
from referral_hub.clients.models import Client
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.directory import search as finder
from referral_hub.directory import service as directory
from referral_hub.extensions import db
from referral_hub.notifications.service import send_email
from referral_hub.referrals import notices, outside
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import ASSIGNEE_NOTICE
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
    done = {
        "reminded": 0,
        "assignee_reminded": 0,
        "escalated": 0,
        "expired": 0,
        "no_show": 0,
        "outside_unanswered": 0,
    }
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
            set(notices.SIDE_ROLES["receiver"]),
            "referral_waiting",
            referrals.what_waits(referral, "receiver"),
        )
        audit.record(
            SYSTEM, "referral.reminded", referral, client_reference=referral.client_reference
        )
        done["reminded"] += 1
    soonest = now + max(ASSIGNEE_NOTICE.values())
    for referral in db.session.scalars(
        select(Referral).where(
            Referral.status.in_(AWAITING_ANSWER),
            Referral.respond_by < soonest,
            Referral.assignee_reminded_at.is_(None),
            Referral.escalated_at.is_(None),
        )
    ).all():
        if (
            referral.respond_by is None
            or referral.respond_by - ASSIGNEE_NOTICE[referral.urgency] >= now
        ):
            continue
        if _remind_assignee(referral):
            done["assignee_reminded"] += 1
    for referral in db.session.scalars(
        select(Referral).where(
            Referral.status.in_(AWAITING_ANSWER),
            Referral.respond_by < now,
            Referral.escalated_at.is_(None),
        )
    ).all():
        _remind_assignee(referral)  # late to the sweep: she still hears first
        referral.escalated_at = now
        side = _whose_move(referral)
        values = referrals.what_waits(referral, side)
        email_staff(
            notices.side_agency(referral, side),
            set(notices.SIDE_ROLES[side]),
            "referral_waiting" if values else "action_waiting",
            values,
        )
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
    done["outside_unanswered"] = outside.tell_unanswered()
    return done


def _whose_move(referral: Referral) -> str:
    return "sender" if referral.status == State.INFO_REQUESTED else "receiver"


def _remind_assignee(referral: Referral) -> bool:
    """E-mail the caseworker whose move it is (once per referral): urgency, what is due by
    when, the link — nothing about her. False when nobody is named or was reminded."""
    if referral.assignee_reminded_at is not None:
        return False
    side = _whose_move(referral)
    user = notices.caseworker(referral, side)  # the one rule of who owns a side
    if user is None:
        return False
    values = referrals.what_waits(referral, side)
    referral.assignee_reminded_at = referral.respond_by
    send_email(user.email, "referral_waiting" if values else "action_waiting", values)
    audit.record(
        SYSTEM,
        "referral.assignee_reminded",
        referral,
        client_reference=referral.client_reference,
        details={"side": side, "to": str(user.id)},
    )
    return True


def _next_best(referral: Referral) -> list[str]:
    service = directory.get_service(SYSTEM, referral.service_id)
    client = db.session.get(Client, referral.client_id)
    avoid = set(client.do_not_refer if client else []) | {str(service.agency_id)}
    near = None
    if service.search_lat is not None and service.search_lon is not None:
        near = (service.search_lat, service.search_lon)
    query = finder.SearchQuery(categories=(service.category,), available=True, near=near, limit=10)
    matches = [
        str(item["service"]["id"])
        for item in finder.search(SYSTEM, query)
        if str(item["agency"]["id"]) not in avoid and item["service"]["id"] != service.id
    ]
    return matches[:3]
