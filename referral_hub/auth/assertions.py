"""`private_key_jwt` client authentication (RFC 7523, as SMART backend services use it).

A client registers a JWK Set of public keys (inline: the token endpoint never fetches a
remote `jwks_uri`, so a client cannot make the hub call out, hang on a slow host or reach
inside the network). It then authenticates with an assertion it signs: iss = sub = its
client id, aud = this hub's token endpoint, an `exp` at most five minutes ahead, a `jti`
used once (kept in `seen_assertion` until it expires), a `kid` naming one of its keys.
Every refusal is `invalid_client`, like a wrong secret, and is counted the same way.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc import jwk, jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from referral_hub.auth.models import ApiClient, SeenAssertion
from referral_hub.core import clock
from referral_hub.core.errors import ValidationFailed
from referral_hub.extensions import db

METHOD = "private_key_jwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# what SMART backend services require servers to support; nothing weaker is accepted
ALGORITHMS = ("RS384", "ES384")
MAX_LIFETIME = timedelta(minutes=5)
SKEW = timedelta(seconds=30)  # clocks disagree a little
MAX_KEYS = 10
MIN_RSA_BITS = 2048
_PUBLIC = {
    "RSA": ("kty", "kid", "alg", "use", "n", "e"),
    "EC": ("kty", "kid", "alg", "use", "crv", "x", "y"),
}
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_KEY_ALG = {"RSA": "RS384", "EC": "ES384"}


def token_endpoint() -> str:
    """The audience assertions must name: the public URL of /oauth/token (never the Host
    header, which the caller chooses)."""
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + "/oauth/token"


# --- registering keys -------------------------------------------------------------------------


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(errors={"jwks": [message]})


def _public_key(index: int, key: Any) -> dict[str, Any]:
    where = f"Key {index + 1}"
    if not isinstance(key, dict):
        raise _refuse(f"{where} is not a JSON object.")
    if any(name in key for name in _PRIVATE):
        raise _refuse(f"{where} holds private key material: register the public key only.")
    kty = key.get("kty")
    if not isinstance(kty, str) or kty not in _PUBLIC:
        raise _refuse(f"{where}: kty must be RSA (RS384) or EC (ES384, P-384).")
    kid = key.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 200:
        raise _refuse(f"{where} needs a kid (1 to 200 characters).")
    if key.get("alg", _KEY_ALG[kty]) != _KEY_ALG[kty]:
        raise _refuse(f"{where}: a {kty} key signs with {_KEY_ALG[kty]} here.")
    if key.get("use", "sig") != "sig":
        raise _refuse(f"{where}: use must be sig.")
    if kty == "EC" and key.get("crv") != "P-384":
        raise _refuse(f"{where}: an EC key must be on the P-384 curve (ES384).")
    if kty == "RSA" and _bits(key.get("n")) < MIN_RSA_BITS:  # before joserfc warns of it
        raise _refuse(f"{where}: an RSA key must have at least {MIN_RSA_BITS} bits.")
    public = {name: key[name] for name in _PUBLIC[kty] if name in key}
    try:
        jwk.import_key(public)
    except (JoseError, ValueError, TypeError, KeyError):
        raise _refuse(f"{where} is not a valid {kty} public key.") from None
    return public


def _bits(modulus: Any) -> int:
    """The size of a base64url RSA modulus, 0 when it is not one."""
    if not isinstance(modulus, str) or len(modulus) > 2000:
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()


def parse_jwks(value: Any) -> dict[str, Any] | None:
    """A JWK Set as given (an object or its JSON text) checked and reduced to public
    members; None or "" clears the keys. Anything else is refused, naming `jwks`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _refuse('Not valid JSON: paste the JWK Set, {"keys": [...]}.') from None
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise _refuse('A JWK Set is an object with a "keys" list.')
    keys = value["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise _refuse(f"Give 1 to {MAX_KEYS} keys.")
    public = [_public_key(index, key) for index, key in enumerate(keys)]
    kids = [key["kid"] for key in public]
    if len(set(kids)) != len(kids):
        raise _refuse("Each key needs its own kid.")
    return {"keys": public}


# --- checking assertions ----------------------------------------------------------------------


def claimed_client_id(assertion: str) -> str:
    """The unverified `sub` of an assertion: only to count failures per client id."""
    try:
        claims = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, UnicodeError):
        return "malformed"
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub[:64] if isinstance(sub, str) else "malformed"


def _instant(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _no(f"The assertion needs a numeric {name}.")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise _no(f"The assertion's {name} is out of range.") from None


def _no(description: str) -> InvalidClientError:
    """A refused assertion: `invalid_client`, as a wrong secret is."""
    return InvalidClientError(description=description)


def consume(client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record the jti; False when it was seen before (the unique key decides, so two
    racing uses cannot both pass). Its own savepoint keeps the request's work intact."""
    try:
        with db.session.begin_nested():
            db.session.add(SeenAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def purge_expired() -> int:
    """Periodic: forget ids of assertions that expired (they are refused for that anyway)."""
    result = db.session.execute(
        delete(SeenAssertion).where(SeenAssertion.expires_at < clock.now() - SKEW)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """Authlib's RFC 7523 client authentication with the SMART rules and our clock."""

    CLIENT_AUTH_METHOD = METHOD

    def get_audiences(self) -> list[str]:
        return [token_endpoint()]

    def resolve_client_public_key(self, client: ApiClient) -> jwk.KeySet:
        if not client.public_jwks:
            raise _no("This client has registered no public keys.")
        return jwk.KeySet.import_key_set(client.public_jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: jwk.KeySet) -> Any:
        headers, _ = self.extract_assertion(assertion)
        if headers.get("alg") not in ALGORITHMS:
            raise _no("Sign the assertion with RS384 or ES384.")
        kid = headers.get("kid")
        if not isinstance(kid, str):
            raise _no("The assertion's header needs a kid.")
        try:
            key = resolve_key.get_by_kid(kid)
            token = jwt.decode(assertion, key, algorithms=[headers["alg"]])
        except (JoseError, ValueError):
            raise _no("The assertion's signature is not valid.") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: dict[str, Any]) -> None:
        now = clock.now()
        if not (claims.get("iss") == claims.get("sub") and isinstance(claims.get("sub"), str)):
            raise _no("The assertion's iss and sub must be the client id.")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not set(self.get_audiences()) & {a for a in audiences if isinstance(a, str)}:
            raise _no("The assertion's aud is not this token endpoint.")
        expires = _instant(claims, "exp")
        if expires <= now - SKEW:
            raise _no("The assertion has expired.")
        if expires > now + MAX_LIFETIME + SKEW:
            raise _no("The assertion's exp is more than 5 minutes ahead.")
        if "nbf" in claims and _instant(claims, "nbf") > now + SKEW:
            raise _no("The assertion is not valid yet.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
            raise _no("The assertion needs a jti (1 to 255 characters).")
        if not consume(claims["sub"], jti, expires):
            raise _no("This assertion was used before.")
