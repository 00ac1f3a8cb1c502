"""Webhooks: ids and statuses only, signed, retried with backoff through the outbox.

A delivery is JSON `{"id", "event", "at", "data"}` with `X-Hub-Signature: sha256=<hex HMAC
of the body under the subscription's secret>` and `X-Hub-Delivery: <id>`. The id is the
outbox row's, the same on every retry: receivers drop what they have seen. Survivor data
never travels in a webhook — receivers fetch details through the API, as consent allows.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select

from referral_hub.audit import service as audit
from referral_hub.core import clock, crypto
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, NotFound, ValidationFailed
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db
from referral_hub.jobs import service as outbox
from referral_hub.jobs.handlers import DeliveryFailed, consumer
from referral_hub.jobs.models import OutboxMessage, OutboxStatus
from referral_hub.notifications import egress
from referral_hub.notifications.models import Webhook

EVENTS = (
    "referral.sent",
    "referral.acknowledged",
    "referral.info_requested",
    "referral.waitlisted",
    "referral.accepted",
    "referral.engaged",
    "referral.completed",
    "referral.not_completed",
    "referral.declined",
    "referral.withdrawn",
    "referral.expired",
    "referral.superseded",
    "referral.entered_in_error",
    # not a state: the consent an accepted referral went under ended; the receiver's access
    # to her data (messages and notes included) ended with it
    "referral.access_ended",
    # referrals to organisations not on the hub (told to the sending agency only)
    "referral.outside_sent",
    "referral.outside_accepted",
    "referral.outside_declined",
    "referral.outside_withdrawn",
    # not a state: the receiver kept the accepted referral's place longer (once)
    "referral.hold_extended",
)


def _admin_of(actor: Actor, agency_id: uuid.UUID) -> None:
    if actor.kind == ActorKind.SYSTEM:
        return
    if actor.agency_id != agency_id or not (
        actor.has_role("agency_admin")
        or (actor.kind == ActorKind.CLIENT and "admin" in actor.scopes)
    ):
        raise Forbidden("Agency administrators manage their agency's webhooks.")


def _public_only() -> bool:
    return bool(current_app.config["HUB_ENV"] == "production")


def _public_https(url: str) -> None:
    """In production a webhook must be https to a public host: no loopback, no private
    ranges, no link-local metadata addresses (a hub must not be made to call inwards).
    Hosts are read as the resolver reads them and names are resolved (`egress.check`)."""
    try:
        egress.check(url, public_only=True)
    except egress.Refused as refusal:
        raise ValidationFailed(errors={"url": [str(refusal)]}) from None


def subscribe(actor: Actor, *, url: str, events: list[str]) -> tuple[Webhook, str]:
    """A new subscription and its signing secret (shown once)."""
    if actor.agency_id is None:
        raise Forbidden("Webhooks belong to an agency.")
    _admin_of(actor, actor.agency_id)
    if _public_only():
        _public_https(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = Webhook(
        agency_id=actor.agency_id,
        url=url,
        events=sorted(set(events)),
        secret_encrypted=crypto.encrypt(secret.encode()),
        created_by=actor.id,
    )
    db.session.add(hook)
    db.session.flush()
    audit.record(actor, "webhook.created", hook, details={"events": hook.events})
    return hook, secret


def list_webhooks(actor: Actor) -> list[Webhook]:
    if actor.agency_id is None:
        return []
    _admin_of(actor, actor.agency_id)
    return list(db.session.scalars(select(Webhook).where(Webhook.agency_id == actor.agency_id)))


def disable(actor: Actor, webhook_id: uuid.UUID) -> Webhook:
    hook = db.session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound()
    if hook.agency_id != actor.agency_id and actor.kind != ActorKind.SYSTEM:
        raise foreign("webhook", hook.id)
    _admin_of(actor, hook.agency_id)
    hook.is_active = False
    audit.record(actor, "webhook.disabled", hook)
    return hook


def deliveries(actor: Actor, webhook_id: uuid.UUID, status: str | None) -> list[OutboxMessage]:
    """The outbox rows of one subscription — dead ones included, for the agency admin."""
    hook = db.session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound()
    if hook.agency_id != actor.agency_id and actor.kind != ActorKind.SYSTEM:
        raise foreign("webhook", hook.id)  # as missing, and on the record like every other
    _admin_of(actor, hook.agency_id)
    statement = select(OutboxMessage).where(
        OutboxMessage.target == str(hook.id), OutboxMessage.kind == "webhook"
    )
    if status is not None:
        statement = statement.where(OutboxMessage.status == OutboxStatus(status))
    return list(db.session.scalars(statement.order_by(OutboxMessage.created_at)))


def announce(event: str, agency_ids: set[uuid.UUID], data: dict[str, Any]) -> int:
    """In the business transaction: one outbox row per subscription that wants `event`."""
    count = 0
    for hook_id, events in db.session.execute(
        select(Webhook.id, Webhook.events).where(
            Webhook.agency_id.in_(agency_ids), Webhook.is_active.is_(True)
        )
    ):
        if event in events:
            outbox.add(
                "webhook",
                {
                    "webhook_id": str(hook_id),
                    "event": event,
                    "at": clock.isoformat(clock.now()),
                    **data,
                },
                target=str(hook_id),
            )
            count += 1
    return count


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# what a delivery needs of its subscription: three columns, not the ORM object
_subscription = select(Webhook.url, Webhook.secret_encrypted).where(
    Webhook.id == bindparam("webhook_id"), Webhook.is_active.is_(True)
)


@consumer("webhook", reads_only=True)
def deliver_webhook(message: OutboxMessage) -> None:
    hook = db.session.execute(
        _subscription, {"webhook_id": uuid.UUID(message.payload["webhook_id"])}
    ).first()
    if hook is None:
        return  # unsubscribed since: nothing to deliver, nothing to retry
    data = {k: v for k, v in message.payload.items() if k not in ("webhook_id", "event", "at")}
    body = json.dumps(
        {
            "id": str(message.id),
            "event": message.payload["event"],
            "at": message.payload["at"],
            "data": data,
        },
        separators=(",", ":"),
    ).encode()
    secret = crypto.decrypt(hook.secret_encrypted).decode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "referral-hub-webhooks",
        "X-Hub-Signature": sign(secret, body),
        "X-Hub-Delivery": str(message.id),
    }
    try:
        # resolved and checked again now, and the connection pinned to the address checked
        target = egress.check(hook.url, public_only=_public_only())
    except egress.Refused as refusal:
        raise DeliveryFailed(f"refused to call the receiver: {refusal}") from None
    try:
        status = egress.post(target, body, headers, timeout=5)
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryFailed(f"could not reach the receiver ({type(error).__name__})") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"receiver answered {status}")
