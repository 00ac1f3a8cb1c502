"""/oauth/token, /oauth/revoke, /oauth/introspect (form-encoded, as the RFCs say)."""

from __future__ import annotations

import base64
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from flask import Blueprint, Response, current_app, request

from referral_hub.audit import service as audit
from referral_hub.auth import ratelimit
from referral_hub.auth.assertions import claimed_client_id
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
    if "client_assertion" in request.form:
        return claimed_client_id(request.form["client_assertion"])
    return str(request.form.get("client_id", ""))[:64]


def _unreadable_basic() -> bool:
    """A Basic header that is not base64 of UTF-8 `id:secret` ("Basic ", "Basic //46/w=="):
    Authlib raises on it (a 500) instead of refusing the client, so it is refused here."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return True
    return ":" not in decoded  # RFC 7617: "client-id:secret"


def _ambiguous() -> str | None:
    """RFC 6749 forbids a parameter sent twice (3.1) and two ways of authenticating the
    client (2.3); Authlib takes the first value and the Basic header, silently."""
    for name in request.form:
        if len(request.form.getlist(name)) > 1:
            return "A parameter is sent more than once."
    if "client_assertion" in request.form and (
        "client_secret" in request.form or request.headers.get("Authorization")
    ):
        return "Authenticate the client one way: a secret or a signed assertion."
    if request.headers.get("Authorization", "").strip().lower().startswith("basic "):
        if "client_secret" in request.form:
            return "Authenticate the client one way: the Basic header or the form."
        if request.form.get("client_id", _client_id_presented()) != _client_id_presented():
            return "The client_id does not match the Basic credentials."
    return None


def _authentication_failed(response: Response) -> bool:
    """The client's credentials were refused (`invalid_client`): only that is a failure to
    count. A client that authenticated and then asked for a scope it lacks, or sent a bad
    request, guessed nothing."""
    if response.status_code not in (400, 401):
        return False
    body = response.get_json(silent=True)
    return isinstance(body, dict) and body.get("error") == "invalid_client"


def _limited(endpoint: str) -> Any:
    """Run an OAuth endpoint under the per-client and per-address failure limits.

    Failed authentications are counted per client id and, separately and with a larger
    allowance, per address: many agencies' systems may share one office NAT, and a
    neighbour's mistakes must not lock them out.
    """
    config = current_app.config
    window = config["AUTH_FAILURE_WINDOW_SECONDS"]
    client_key = f"oauth:client:{ratelimit.hashed(_client_id_presented())}"
    address_key = f"oauth:ip:{request.remote_addr}"
    try:
        ratelimit.refuse_if_exhausted(
            [client_key],
            config["AUTH_FAILURES_PER_WINDOW"],
            window,
            "failed client authentications",
        )
        ratelimit.refuse_if_exhausted(
            [address_key],
            config["OAUTH_ADDRESS_FAILURES_PER_WINDOW"],
            window,
            "failed client authentications from this address",
        )
    except RateLimited as error:
        return problem_response(429, error.code, error.title, error.detail, headers=error.headers)
    server = current_app.extensions["hub_oauth_server"]
    response: Response
    if _unreadable_basic():
        response = server.handle_error_response(
            None, InvalidClientError(status_code=401, description="Unreadable Basic credentials.")
        )
    elif ambiguous := _ambiguous():
        response = server.handle_error_response(None, InvalidRequestError(description=ambiguous))
    elif endpoint == "token":
        response = server.create_token_response()
    else:
        response = server.create_endpoint_response(endpoint)
    if response.status_code in (400, 401):
        if _authentication_failed(response):
            # committed with the request: the view returned normally
            ratelimit.count([client_key, address_key], window)
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
