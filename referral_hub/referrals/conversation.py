"""Messages between a referral's two parties, and the referral's timeline.

Messages are survivor data: sealed under her key (gone when she is erased), and every read
is on the record. The sender (her record's owner) keeps them; the receiver reads and writes
them — and the sender's note — only while the consent policy gives it anything of her
through this referral (`policy.may_converse`): not once the referral ended, nor once the
consent it went under was revoked, expired or no longer covers the agency and purpose.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent
from referral_hub.core import envelope
from referral_hub.core.actor import Actor
from referral_hub.core.errors import Forbidden
from referral_hub.extensions import db
from referral_hub.referrals import messages
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Message, Referral
from referral_hub.referrals.states import Side


def _party(actor: Actor, referral_id: uuid.UUID) -> Referral:
    referral = referrals.get_referral(actor, referral_id)
    if not {Side.SENDER, Side.RECEIVER} & referrals._sides(actor, referral):
        raise Forbidden("Messages are between the sending and the receiving agency.")
    if not messages.is_open_to(actor, referral):
        raise Forbidden(messages.NOT_OPEN)
    return referral


def post_message(actor: Actor, referral_id: uuid.UUID, body: str) -> dict[str, Any]:
    return messages.seal_message(actor, _party(actor, referral_id), body)


def list_messages(actor: Actor, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    referral = _party(actor, referral_id)
    rows = list(
        db.session.scalars(
            select(Message).where(Message.referral_id == referral.id).order_by(Message.created_at)
        )
    )
    if not rows:
        return []
    key = messages.data_key(referral)
    audit.record(
        actor,
        "referral.messages_read",
        referral,
        client_reference=referral.client_reference,
        details={"count": len(rows)},
    )
    return [
        messages.view(
            row, envelope.open_sealed(key, row.body, f"referral.message:{row.id}").decode()
        )
        for row in rows
    ]


def timeline(actor: Actor, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    """The referral's audit events in order (they never held PII)."""
    referral = referrals.get_referral(actor, referral_id)
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "referral", AuditEvent.subject_id == str(referral.id))
        .order_by(AuditEvent.seq)
    )
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "action": e.action,
            "actor_type": e.actor_type,
            "agency": e.actor_agency_id,
            "details": e.details,
        }
        for e in events
    ]
