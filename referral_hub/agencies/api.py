"""/api/v1/agencies: the directory of agencies."""

from __future__ import annotations

import uuid
from typing import Any

from referral_hub.agencies import service
from referral_hub.agencies.schemas import (
    AgencyCreateArgs,
    AgencyListArgs,
    AgencyPageSchema,
    AgencySchema,
    UserCreateArgs,
    UserSchema,
)
from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint

blp = HubBlueprint("agencies", __name__, url_prefix="/api/v1/agencies", description="Agencies")


@blp.route("")
@require(scopes="directory:read")
@blp.arguments(AgencyListArgs, location="query", as_kwargs=True)
@blp.response(200, AgencyPageSchema)
def list_agencies(limit: int, cursor: str | None, status: Any) -> dict[str, Any]:
    items, next_cursor = service.list_agencies(
        current_actor(), limit=limit, cursor=cursor, status=status
    )
    return {"items": items, "next_cursor": next_cursor}


@blp.route("", methods=["POST"])
@require("hub_admin")
@blp.arguments(AgencyCreateArgs, as_kwargs=True)
@blp.response(201, AgencySchema)
def create_agency(**fields: Any) -> Any:
    return service.create_agency(current_actor(), **fields)


@blp.route("/<uuid:agency_id>")
@require(scopes="directory:read")
@blp.response(200, AgencySchema)
def get_agency(agency_id: uuid.UUID) -> Any:
    return service.get_agency(current_actor(), agency_id)


@blp.route("/<uuid:agency_id>/users", methods=["POST"])
@require("hub_admin", "agency_admin", scopes="admin")
@blp.arguments(UserCreateArgs, as_kwargs=True)
@blp.response(201, UserSchema)
def create_user(agency_id: uuid.UUID, **fields: Any) -> Any:
    """Add a staff member; they get an e-mail saying an account exists (no password in it)."""
    return service.create_user(current_actor(), agency_id=agency_id, **fields)
