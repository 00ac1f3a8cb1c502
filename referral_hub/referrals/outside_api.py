"""/api/v1/outside-organisations and /api/v1/outside-referrals: referring to organisations
not on the hub (their answer comes through the link page, not the API)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, url_for

from referral_hub.agencies import outside as organisations
from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.referrals import outside
from referral_hub.referrals.outside_schemas import (
    OrganisationArgs,
    OrganisationSchema,
    OutsideLinkSchema,
    OutsideReferralArgs,
    OutsideReferralSchema,
)

blp = HubBlueprint(
    "outside_referrals", __name__, url_prefix="/api/v1", description="Referrals outside the hub"
)
SENDERS = ("intake", "agency_admin")


@blp.route("/outside-organisations", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.arguments(OrganisationArgs, as_kwargs=True)
@blp.response(201, OrganisationSchema)
def add_organisation(**fields: Any) -> Any:
    """An organisation not on the hub that this agency refers to (name, phone or e-mail)."""
    return organisations.describe(organisations.add_organisation(current_actor(), **fields))


@blp.route("/outside-organisations")
@require(*SENDERS, scopes="referrals:read")
@blp.response(200, OrganisationSchema(many=True))
def list_organisations() -> Any:
    return [organisations.describe(o) for o in organisations.list_organisations(current_actor())]


@blp.route("/outside-referrals", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.arguments(OutsideReferralArgs, as_kwargs=True)
@blp.response(201, OutsideReferralSchema)
def refer_outside(**fields: Any) -> Any:
    """Refer her to an outside organisation, under a consent that names it."""
    return outside.describe(outside.refer_outside(current_actor(), **fields))


@blp.route("/outside-referrals")
@require(*SENDERS, scopes="referrals:read")
@blp.response(200, OutsideReferralSchema(many=True))
def list_outside() -> Any:
    return [outside.describe(item) for item in outside.list_outside(current_actor())]


@blp.route("/outside-referrals/<uuid:referral_id>")
@require(*SENDERS, scopes="referrals:read")
@blp.response(200, OutsideReferralSchema)
def get_outside(referral_id: uuid.UUID) -> Any:
    return outside.describe(outside.get_outside(current_actor(), referral_id))


@blp.route("/outside-referrals/<uuid:referral_id>/withdraw", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.response(200, OutsideReferralSchema)
def withdraw_outside(referral_id: uuid.UUID) -> Any:
    """Take it back: its links stop working."""
    return outside.describe(outside.withdraw_outside(current_actor(), referral_id))


def link_url(token: str) -> str:
    public = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    return public + url_for("outside_link.show", token=token)


@blp.route("/outside-referrals/<uuid:referral_id>/links", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.response(201, OutsideLinkSchema)
def issue_link(referral_id: uuid.UUID) -> Any:
    """A one-time link for the organisation; any earlier one stops working. The URL is in
    this answer only (the hub keeps a hash of its token)."""
    link, token = outside.issue_link(current_actor(), referral_id)
    return {**outside.describe_link(link), "url": link_url(token)}


@blp.route("/outside-referrals/<uuid:referral_id>/links")
@require(*SENDERS, scopes="referrals:read")
@blp.response(200, OutsideLinkSchema(many=True))
def list_links(referral_id: uuid.UUID) -> Any:
    return [outside.describe_link(link) for link in outside.links(current_actor(), referral_id)]


@blp.route("/outside-referrals/<uuid:referral_id>/links/<uuid:link_id>/revoke", methods=["POST"])
@require(*SENDERS, scopes="referrals:write")
@blp.response(200, OutsideLinkSchema)
def revoke_link(referral_id: uuid.UUID, link_id: uuid.UUID) -> Any:
    return outside.describe_link(outside.revoke_link(current_actor(), referral_id, link_id))
