"""The OAuth 2.0 server for agency systems, on Authlib: client credentials, revocation
(RFC 7009), introspection (RFC 7662), and the bearer-token check for the API.

Hardening over Authlib's defaults (see the ecosystem notes): tokens and client secrets
are stored as SHA-256 hashes; unknown scopes and scopes the client was not given are
refused with `invalid_scope` instead of silently dropped; tokens live 15 minutes; both
HTTP Basic and form client authentication are accepted, and at the token endpoint a signed
assertion from a client that registered public keys (`auth.assertions`, SMART backend
services).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import InvalidScopeError, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, current_app
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from referral_hub.agencies.models import Agency, AgencyStatus
from referral_hub.audit import service as audit
from referral_hub.auth.assertions import METHOD as PRIVATE_KEY_JWT
from referral_hub.auth.assertions import PrivateKeyJwt
from referral_hub.auth.bearer_cache import BearerCache
from referral_hub.auth.models import SCOPES, AccessToken, ApiClient, digest
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import after_commit
from referral_hub.extensions import db

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_AUTH_METHODS = [*CLIENT_AUTH_METHODS, PRIVATE_KEY_JWT]


def client_actor(client: ApiClient, scope: str = "") -> Actor:
    return Actor(
        ActorKind.CLIENT, client.client_id, client.agency_id, frozenset(), frozenset(scope.split())
    )


def query_client(client_id: str) -> ApiClient | None:
    client = db.session.scalar(
        select(ApiClient)
        .options(joinedload(ApiClient.agency))
        .where(ApiClient.client_id == client_id)
    )
    if client is None or not client.is_active or client.agency.status != AgencyStatus.ACTIVE:
        return None
    return client


def query_token(token_string: str) -> AccessToken | None:
    if not token_string or len(token_string) > 512:
        return None
    return db.session.scalar(
        select(AccessToken)
        .options(joinedload(AccessToken.client).joinedload(ApiClient.agency))
        .where(AccessToken.token_hash == digest(token_string))
    )


def save_token(token: dict[str, Any], request: Any) -> None:
    """Keep only the hash; Authlib hands the plain token to the client, once."""
    client: ApiClient = request.client
    now = clock.now()
    row = AccessToken(
        client_pk=client.id,
        token_hash=digest(token["access_token"]),
        scope=token.get("scope", ""),
        issued_at=now,
        expires_at=now + timedelta(seconds=int(token["expires_in"])),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        client_actor(client, row.scope),
        "auth.token_issued",
        ("api_client", client.id),
        details={"scope": row.scope, "token": str(row.id)},
    )


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = set((self.request.payload.scope or "").split())
        if not requested <= set(self.request.client.scopes):
            raise InvalidScopeError("The client was not given every scope asked for.")


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        return query_token(token_string)

    def revoke_token(self, token: AccessToken, request: Any) -> None:
        if token.revoked_at is None:
            token.revoked_at = clock.now()
            forget_checked_bearers()
            audit.record(
                client_actor(token.client),
                "auth.token_revoked",
                ("api_client", token.client.id),
                details={"token": str(token.id)},
            )


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        return query_token(token_string)

    def check_permission(self, token: AccessToken, client: ApiClient, request: Any) -> bool:
        """An agency's systems may introspect that agency's tokens, nobody else's."""
        return bool(token.client.agency_id == client.agency_id)

    def introspect_token(self, token: AccessToken) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client.client_id,
            "scope": token.scope,
            "token_type": "Bearer",
            "exp": int(token.expires_at.timestamp()),
            "iat": int(token.issued_at.timestamp()),
        }


@dataclass(frozen=True)
class BearerView:
    """What checking a bearer token needs, read in one narrow query (every API call does it)."""

    scope: str
    expires_at: datetime
    revoked_at: datetime | None
    client_id: str
    agency_id: uuid.UUID
    client_active: bool
    agency_active: bool

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_scope(self) -> str:
        return self.scope


# built once: every API call runs it
_BEARER = (
    select(
        AccessToken.scope,
        AccessToken.expires_at,
        AccessToken.revoked_at,
        ApiClient.client_id,
        ApiClient.agency_id,
        ApiClient.is_active,
        Agency.status,
    )
    .join(ApiClient, ApiClient.id == AccessToken.client_pk)
    .join(Agency, Agency.id == ApiClient.agency_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)


def lookup_bearer(token_string: str) -> BearerView | None:
    """The token's row, from this process's short memory when it was read moments ago."""
    if not token_string or len(token_string) > 512:
        return None
    token_hash = digest(token_string)
    checked: BearerCache[BearerView] = current_app.extensions["hub_bearer_cache"]
    view = checked.get(token_hash)
    if view is not None:
        return view
    row = db.session.connection().execute(_BEARER, {"token_hash": token_hash}).first()
    if row is None:
        return None
    view = BearerView(
        row.scope,
        row.expires_at,
        row.revoked_at,
        row.client_id,
        row.agency_id,
        row.is_active,
        row.status == AgencyStatus.ACTIVE,
    )
    checked.put(token_hash, view)
    return view


def forget_checked_bearers() -> None:
    """Call where a token is revoked or a client or agency suspended: once that commits,
    this process reads every token afresh (other processes within BEARER_CACHE_SECONDS)."""
    after_commit(db.session, current_app.extensions["hub_bearer_cache"].clear)


class HashedBearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> BearerView | None:
        return lookup_bearer(token_string)


protector = ResourceProtector()
protector.register_token_validator(HashedBearerValidator(realm="referral_hub"))


def init_app(app: Flask) -> None:
    """One authorization server per app (its settings are the app's)."""
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(SCOPES)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "client_credentials": app.config["ACCESS_TOKEN_SECONDS"]
    }
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = False
    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJwt())
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions["hub_oauth_server"] = server
    app.extensions["hub_bearer_cache"] = BearerCache[BearerView](
        float(app.config["BEARER_CACHE_SECONDS"])
    )
