"""/api/v1/webhooks: an agency's systems subscribe to their referrals' events."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields, validate

from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.core.schemas import HTTP_URL, HubSchema
from referral_hub.notifications import webhooks

blp = HubBlueprint("webhooks", __name__, url_prefix="/api/v1/webhooks", description="Webhooks")


class WebhookArgs(HubSchema):
    url = fields.String(required=True, validate=[validate.Length(max=500), HTTP_URL])
    events = fields.List(
        fields.String(validate=validate.OneOf(webhooks.EVENTS)),
        required=True,
        validate=validate.Length(min=1),
    )


class WebhookSchema(HubSchema):
    id = fields.UUID()
    url = fields.String()
    events = fields.List(fields.String())
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime()
    secret = fields.String(metadata={"description": "Only in the answer to the subscription."})


class DeliveryArgs(HubSchema):
    status = fields.String(
        load_default=None, validate=validate.OneOf(["pending", "delivered", "dead"])
    )


class DeliverySchema(HubSchema):
    id = fields.UUID()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)
    event = fields.String()


def view(hook: Any, secret: str | None = None) -> dict[str, Any]:
    shown = {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "is_active": hook.is_active,
        "created_at": hook.created_at,
    }
    return shown | ({"secret": secret} if secret else {})


@blp.route("", methods=["POST"])
@require("agency_admin", scopes="admin")
@blp.arguments(WebhookArgs, as_kwargs=True)
@blp.response(201, WebhookSchema)
def subscribe(url: str, events: list[str]) -> Any:
    """Deliveries carry ids and statuses only, signed with the secret returned here (once)."""
    hook, secret = webhooks.subscribe(current_actor(), url=url, events=events)
    return view(hook, secret)


@blp.route("")
@require("agency_admin", scopes="admin")
@blp.response(200, WebhookSchema(many=True))
def list_webhooks() -> Any:
    return [view(hook) for hook in webhooks.list_webhooks(current_actor())]


@blp.route("/<uuid:webhook_id>/disable", methods=["POST"])
@require("agency_admin", scopes="admin")
@blp.response(200, WebhookSchema)
def disable(webhook_id: uuid.UUID) -> Any:
    return view(webhooks.disable(current_actor(), webhook_id))


@blp.route("/<uuid:webhook_id>/deliveries")
@require("agency_admin", scopes="admin")
@blp.arguments(DeliveryArgs, location="query", as_kwargs=True)
@blp.response(200, DeliverySchema(many=True))
def deliveries(webhook_id: uuid.UUID, status: str | None) -> Any:
    """Delivery attempts, dead ones included (they gave up after the retries)."""
    return [
        {
            "id": row.id,
            "status": row.status.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "created_at": row.created_at,
            "delivered_at": row.delivered_at,
            "event": row.payload.get("event"),
        }
        for row in webhooks.deliveries(current_actor(), webhook_id, status)
    ]
