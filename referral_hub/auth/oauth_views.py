"""/oauth/token, /oauth/revoke, /oauth/introspect (form-encoded, as the RFCs say)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, current_app, request

from referral_hub.audit import service as audit
from referral_hub.auth import ratelimit
from referral_hub.core.actor import ANONYMOUS
from referral_hub.core.errors import RateLimited
from referral_hub.core.problems import problem_response

blp = Blueprint("oauth", __name__, url_prefix="/oauth")


def _client_id_presented() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
            return decoded.split(":", 1)[0][:64]
        except (ValueError, UnicodeDecodeError):
            return "malformed"
    return str(request.form.get("client_id", ""))[:64]


def _limited(endpoint: str) -> Any:
    """Run an OAuth endpoint under the per-client and per-address failure limits."""
    config = current_app.config
    limit, window = config["AUTH_FAILURES_PER_WINDOW"], config["AUTH_FAILURE_WINDOW_SECONDS"]
    client_id = _client_id_presented()
    keys = [f"oauth:client:{ratelimit.hashed(client_id)}", f"oauth:ip:{request.remote_addr}"]
    try:
        ratelimit.refuse_if_exhausted(keys, limit, window, "failed client authentications")
    except RateLimited as error:
        return problem_response(429, error.code, error.title, error.detail, headers=error.headers)
    server = current_app.extensions["hub_oauth_server"]
    response: Response = (
        server.create_token_response()
        if endpoint == "token"
        else server.create_endpoint_response(endpoint)
    )
    if response.status_code in (400, 401):
        ratelimit.count(keys, window)  # committed with the request: the view returned normally
        audit.record(
            ANONYMOUS,
            "auth.client_auth_failed",
            outcome="failure",
            details={"endpoint": endpoint, "status": response.status_code},
        )
    return response


@blp.post("/token")
def token() -> Any:
    return _limited("token")


@blp.post("/revoke")
def revoke() -> Any:
    return _limited("revocation")


@blp.post("/introspect")
def introspect() -> Any:
    return _limited("introspection")
