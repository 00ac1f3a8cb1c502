"""The network side of single sign-on, through Authlib's Flask OAuth client.

`start` sends the browser to the agency's provider (authorization code flow with PKCE,
`state` and `nonce` kept in the hub's server-side session); `finish` takes the code back,
swaps it for tokens and verifies the ID token (signature against the provider's JWKS,
issuer, audience, nonce, expiry). Whatever goes wrong becomes `SsoFailed(reason)` with a
short category for the audit chain; the provider's words and tokens are never logged.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from joserfc.errors import JoseError
from requests import RequestException

from referral_hub.auth.sso import Provider, inward_issuer

TIMEOUT_SECONDS = 10
LEEWAY_SECONDS = 60


class SsoFailed(Exception):
    """The provider's answer cannot be trusted; `reason` says which check refused it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _app(provider: Provider) -> FlaskOAuth2App:
    """A client for this agency's provider (made per request: settings may change)."""
    name = f"sso_{provider.agency_id.hex}"
    return FlaskOAuth2App(
        FlaskIntegration(name),
        name=name,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        server_metadata_url=f"{provider.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid email",
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT_SECONDS,
        },
    )


def start(provider: Provider, redirect_uri: str, login_hint: str | None) -> Any:
    """The redirect to the provider's sign-in page."""
    hint = {"login_hint": login_hint} if login_hint else {}
    if inward_issuer(provider.issuer):  # its name may point inwards since it was saved
        raise SsoFailed("sso_provider_not_public")
    try:
        return _app(provider).authorize_redirect(redirect_uri, **hint)
    except (OAuthError, RequestException, ValueError, KeyError, RuntimeError):
        raise SsoFailed("sso_provider_unreachable") from None


def _reason(error: Exception) -> str:
    """A short category for the audit chain (never the provider's own words)."""
    if isinstance(error, JoseError):
        claim = getattr(error, "claim", None)
        kind = str(getattr(error, "error", "") or "bad_token")
        return f"sso_{kind}_{claim}"[:60] if claim else f"sso_{kind}"[:60]
    if isinstance(error, MismatchingStateError):
        return "sso_state_mismatch"
    if isinstance(error, OAuthError):
        return "sso_provider_error"
    return "sso_provider_unreachable"


def finish(provider: Provider) -> dict[str, Any]:
    """The verified claims of the ID token in this callback request."""
    app = _app(provider)
    try:
        token = app.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [provider.issuer]},
                "exp": {"essential": True},
                # Authlib checks the audience only when told to: without this, a token for
                # another client that names us as `azp` would pass
                "aud": {"essential": True, "values": [provider.client_id]},
            },
            leeway=LEEWAY_SECONDS,
        )
    except (OAuthError, JoseError, RequestException, ValueError, KeyError, RuntimeError) as error:
        raise SsoFailed(_reason(error)) from None
    claims = token.get("userinfo")
    if not claims:  # no ID token, or no nonce kept: nothing verified
        raise SsoFailed("sso_no_id_token")
    return dict(claims)
