"""Administration API: API clients, staff, who-am-I."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for

from referral_hub.agencies.schemas import AgencySchema, UserSchema
from referral_hub.auth import admin, service, sso
from referral_hub.auth.schemas import (
    AgencyUpdateArgs,
    ApiClientCreateArgs,
    ApiClientCreatedSchema,
    ApiClientKeysArgs,
    ApiClientSchema,
    MeSchema,
    SsoSchema,
    SsoUpdateArgs,
    UserUpdateArgs,
)
from referral_hub.core.authz import ANY_SCOPE, current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.core.schemas import PageArgs, page_schema

blp = HubBlueprint("access", __name__, url_prefix="/api/v1", description="Access administration")
UserPageSchema = page_schema(UserSchema, "UserPageSchema")


@blp.route("/me")
@require(scopes=ANY_SCOPE)
@blp.response(200, MeSchema)
def me() -> Any:
    """Who the credentials in this request belong to."""
    actor = current_actor()
    return {
        "kind": str(actor.kind),
        "id": actor.id,
        "agency_id": actor.agency_id,
        "roles": sorted(actor.roles),
        "scopes": sorted(actor.scopes),
    }


@blp.route("/agencies/<uuid:agency_id>/api-clients")
@require("agency_admin", "hub_admin")
@blp.response(200, ApiClientSchema(many=True))
def list_api_clients(agency_id: uuid.UUID) -> Any:
    return [service.describe(c) for c in service.list_api_clients(current_actor(), agency_id)]


@blp.route("/agencies/<uuid:agency_id>/api-clients", methods=["POST"])
@require("agency_admin", "hub_admin")
@blp.arguments(ApiClientCreateArgs, as_kwargs=True)
@blp.response(201, ApiClientCreatedSchema)
def create_api_client(agency_id: uuid.UUID, name: str, scopes: list[str]) -> Any:
    """Register an agency system. The response holds its secret: the only time it is shown."""
    client, secret = service.create_api_client(
        current_actor(), agency_id=agency_id, name=name, scopes=scopes
    )
    return {**service.describe(client), "client_secret": secret}


@blp.route("/agencies/<uuid:agency_id>/api-clients/<uuid:client_pk>/revoke", methods=["POST"])
@require("agency_admin", "hub_admin")
@blp.response(200, ApiClientSchema)
def revoke_api_client(agency_id: uuid.UUID, client_pk: uuid.UUID) -> Any:
    """Turn the system off: its tokens stop working at once."""
    return service.describe(service.revoke_api_client(current_actor(), agency_id, client_pk))


@blp.route("/agencies/<uuid:agency_id>/api-clients/<uuid:client_pk>/keys", methods=["PUT"])
@require("agency_admin", "hub_admin")
@blp.arguments(ApiClientKeysArgs, as_kwargs=True)
@blp.response(200, ApiClientSchema)
def set_api_client_keys(agency_id: uuid.UUID, client_pk: uuid.UUID, jwks: Any) -> Any:
    """Register the system's public keys (a JWK Set) so it can authenticate with signed
    assertions (`private_key_jwt`, SMART backend services); null removes them."""
    client = service.set_api_client_keys(current_actor(), agency_id, client_pk, jwks)
    return service.describe(client)


@blp.route("/agencies/<uuid:agency_id>/users")
@require("agency_admin", "hub_admin", scopes="admin")
@blp.arguments(PageArgs, location="query", as_kwargs=True)
@blp.response(200, UserPageSchema)
def list_users(agency_id: uuid.UUID, limit: int, cursor: str | None) -> Any:
    items, next_cursor = admin.list_users(current_actor(), agency_id, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/users/<uuid:user_id>", methods=["PATCH"])
@require("agency_admin", "hub_admin", scopes="admin")
@blp.arguments(UserUpdateArgs, as_kwargs=True)
@blp.response(200, UserSchema)
def update_user(user_id: uuid.UUID, **changes: Any) -> Any:
    """Change roles, disable (signs the person out everywhere at once) or rename."""
    return admin.update_user(current_actor(), user_id, **changes)


@blp.route("/agencies/<uuid:agency_id>", methods=["PATCH"])
@require("hub_admin", "agency_admin", scopes="admin")
@blp.arguments(AgencyUpdateArgs, as_kwargs=True)
@blp.response(200, AgencySchema)
def update_agency(agency_id: uuid.UUID, **changes: Any) -> Any:
    """Edit an agency; `status` (suspend or reinstate) is for hub administrators only."""
    return admin.update_agency(current_actor(), agency_id, **changes)


def _with_redirect_uri(described: dict[str, Any]) -> dict[str, Any]:
    return {**described, "redirect_uri": url_for("signin.sso_callback", _external=True)}


@blp.route("/agencies/<uuid:agency_id>/sso")
@require("agency_admin", "hub_admin", scopes="admin")
@blp.response(200, SsoSchema)
def get_sso(agency_id: uuid.UUID) -> Any:
    """The agency's single sign-on provider (the secret only as set or not set)."""
    return _with_redirect_uri(sso.get_sso(current_actor(), agency_id))


@blp.route("/agencies/<uuid:agency_id>/sso", methods=["PUT"])
@require("agency_admin", "hub_admin", scopes="admin")
@blp.arguments(SsoUpdateArgs, as_kwargs=True)
@blp.response(200, SsoSchema)
def put_sso(agency_id: uuid.UUID, **settings: Any) -> Any:
    """Set the agency's OpenID Connect provider for staff sign-in. It maps to existing
    staff accounts only; nobody gets an account by signing in."""
    return _with_redirect_uri(sso.set_sso(current_actor(), agency_id, **settings))
