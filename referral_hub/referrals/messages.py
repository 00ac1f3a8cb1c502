"""Sealing a message on a referral the caller already holds: the one place a message is written.

Below `referrals.service` so that a move which speaks (a question, a decline's reasons)
writes its words on the referral it has loaded and locked, without loading it again;
`conversation.post_message` loads and checks the party first, then writes here.
"""

from __future__ import annotations

import uuid
from typing import Any

from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.core import envelope
from referral_hub.core.actor import Actor
from referral_hub.core.errors import Conflict, Forbidden
from referral_hub.extensions import db
from referral_hub.referrals.models import Message, Referral

NOT_OPEN = (
    "Your agency's access to this survivor's data through this referral has ended "
    "(the referral closed, or her consent no longer covers it): messages included."
)


def data_key(referral: Referral) -> bytes:
    key = clients.data_key(referral.client_id)
    if key is None:
        raise Conflict("This client's data was erased.")
    return key


def is_open_to(actor: Actor, referral: Referral) -> bool:
    """May this party read or write what is said about her on this referral now?"""
    readable, _ = consent.readable_now(
        actor, clients.load_client(referral.client_id), str(referral.id)
    )
    return policy.may_converse(readable)


def seal_message(actor: Actor, referral: Referral, body: str) -> dict[str, Any]:
    """Write `body` sealed under her key, on the record; refused once the referral is no
    longer open to the actor's agency (`is_open_to`)."""
    if not is_open_to(actor, referral):
        raise Forbidden(NOT_OPEN)
    message = Message(
        id=uuid.uuid4(),
        referral_id=referral.id,
        author_agency_id=actor.agency_id,
        author_id=actor.id,
        body=b"",
    )
    message.body = envelope.seal(
        data_key(referral), body.encode(), f"referral.message:{message.id}"
    )
    db.session.add(message)
    db.session.flush()
    audit.record(
        actor,
        "referral.message_sent",
        referral,
        client_reference=referral.client_reference,
        details={"message_id": str(message.id)},
    )
    return view(message, body)


def view(message: Message, body: str) -> dict[str, Any]:
    return {
        "id": message.id,
        "author_agency": message.author_agency_id,
        "author": message.author_id,
        "body": body,
        "created_at": message.created_at,
    }
