"""/api/v1/referrals and /api/v1/bundles."""

from __future__ import annotations

import uuid
from typing import Any

from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.core.schemas import page_schema
from referral_hub.referrals import assignment, bundles, conversation, service
from referral_hub.referrals.schemas import (
    AssignArgs,
    BundleCreateArgs,
    BundleSchema,
    ExtendHoldArgs,
    HandoverArgs,
    MessageArgs,
    MessageSchema,
    ReferralCreateArgs,
    ReferralListArgs,
    ReferralSchema,
    TimelineEntrySchema,
    TransitionArgs,
)
from referral_hub.referrals.states import PUBLIC_ACTIONS

blp = HubBlueprint("referrals", __name__, url_prefix="/api/v1", description="Referrals and bundles")
SENDERS = ("intake", "agency_admin")
PARTIES = ("intake", "provider", "agency_admin", "coordinator")
ReferralPageSchema = page_schema(ReferralSchema, "ReferralPageSchema")


@blp.route("/referrals", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.arguments(ReferralCreateArgs, as_kwargs=True)
@blp.response(201, ReferralSchema)
def send_referral(**fields: Any) -> Any:
    """Send (or, with `send: false`, draft) a referral under the consent rules."""
    return service.describe(service.send_referral(current_actor(), **fields))


@blp.route("/referrals")
@require(*PARTIES, scopes="referrals:read")
@blp.arguments(ReferralListArgs, location="query", as_kwargs=True)
@blp.response(200, ReferralPageSchema)
def list_referrals(**args: Any) -> Any:
    items, next_cursor = service.list_referrals(current_actor(), **args)
    return {"items": [service.describe(item) for item in items], "next_cursor": next_cursor}


@blp.route("/referrals/<uuid:referral_id>")
@require(*PARTIES, scopes="referrals:read")
@blp.response(200, ReferralSchema)
def get_referral(referral_id: uuid.UUID) -> Any:
    return service.describe(service.get_referral(current_actor(), referral_id))


@blp.route("/referrals/<uuid:referral_id>/messages")
@require(*PARTIES, scopes="referrals:read")
@blp.response(200, MessageSchema(many=True))
def list_messages(referral_id: uuid.UUID) -> Any:
    """The two parties' messages (survivor data: the read is recorded)."""
    return conversation.list_messages(current_actor(), referral_id)


@blp.route("/referrals/<uuid:referral_id>/messages", methods=["POST"])
@require(*PARTIES, scopes="referrals:write")
@blp.arguments(MessageArgs, as_kwargs=True)
@blp.response(201, MessageSchema)
def post_message(referral_id: uuid.UUID, body: str) -> Any:
    return conversation.post_message(current_actor(), referral_id, body)


@blp.route("/referrals/<uuid:referral_id>/timeline")
@require(*PARTIES, scopes="referrals:read")
@blp.response(200, TimelineEntrySchema(many=True))
def timeline(referral_id: uuid.UUID) -> Any:
    """The referral's audit events, in order."""
    return conversation.timeline(current_actor(), referral_id)


@blp.route("/referrals/<uuid:referral_id>/assign", methods=["POST"])
@require(*PARTIES, scopes="referrals:write")
@blp.arguments(AssignArgs, as_kwargs=True)
@blp.response(200, ReferralSchema)
def assign(referral_id: uuid.UUID, **fields: Any) -> Any:
    """Name or change the caseworker on your side (`sender`, or `receiver` once it is taken
    up): a colleague only; another agency's user or an unknown id is a 422 on `assignee_id`.
    An optional handover `note` is sealed as a message."""
    return service.describe(assignment.assign(current_actor(), referral_id, **fields))


@blp.route("/referrals/<uuid:referral_id>/extend-hold", methods=["POST"])
@require(*PARTIES, scopes="referrals:write")
@blp.arguments(ExtendHoldArgs, as_kwargs=True)
@blp.response(200, ReferralSchema)
def extend_hold(referral_id: uuid.UUID, **payload: Any) -> Any:
    """The receiver keeps an accepted referral's place longer, once, for a coded reason
    (by the hold's own length unless `minutes` is given). A second time: 409 conflict."""
    return service.describe(service.extend_hold(current_actor(), referral_id, **payload))


# the converter lists the actions, so the document gives them as an enum (others: 404)
ACTIONS = ", ".join(f'"{action}"' for action in PUBLIC_ACTIONS)


@blp.route(f"/referrals/<uuid:referral_id>/<any({ACTIONS}):action>", methods=["POST"])
@require(*PARTIES, scopes="referrals:write")
@blp.arguments(TransitionArgs, as_kwargs=True)
@blp.response(200, ReferralSchema)
def act(referral_id: uuid.UUID, action: str, **payload: Any) -> Any:
    """One of: send, acknowledge, request-info, provide-info, waitlist, accept, decline,
    withdraw, confirm-arrival, complete, end-unfinished, mark-error. Illegal from the current
    state: 409 illegal_transition; accepting with nothing free: 409 no_capacity."""
    return service.describe(service.transition(current_actor(), referral_id, action, **payload))


@blp.route("/bundles", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.arguments(BundleCreateArgs, as_kwargs=True)
@blp.response(201, BundleSchema)
def create_bundle(**fields: Any) -> Any:
    """One intake episode: every need sent to 1-3 services at once, all or nothing."""
    return bundles.describe(bundles.create_bundle(current_actor(), **fields))


@blp.route("/bundles/<uuid:bundle_id>")
@require(*PARTIES, scopes="referrals:read")
@blp.response(200, BundleSchema)
def get_bundle(bundle_id: uuid.UUID) -> Any:
    return bundles.describe(bundles.get_bundle(current_actor(), bundle_id))


@blp.route("/bundles/<uuid:bundle_id>/assign", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.arguments(HandoverArgs, as_kwargs=True)
@blp.response(200, BundleSchema)
def assign_bundle(bundle_id: uuid.UUID, **fields: Any) -> Any:
    """Hand the whole episode to a colleague: the bundle and its open referrals' sending side."""
    return bundles.describe(assignment.assign_bundle(current_actor(), bundle_id, **fields))
