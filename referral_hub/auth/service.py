"""Who is calling: staff sign-in (password, then TOTP), agency systems' clients, and the
per-request actor. Every sign-in, failure and token event is on the audit chain."""

from __future__ import annotations

import functools
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError
from authlib.integrations.flask_oauth2.requests import FlaskJsonRequest
from authlib.oauth2 import OAuth2Error
from flask import current_app, g, request, session
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from referral_hub.agencies.models import Agency, AgencyStatus, User
from referral_hub.agencies.service import find_user_by_email, get_agency, password_hasher
from referral_hub.audit import service as audit
from referral_hub.auth import assertions, codes, ratelimit
from referral_hub.auth.models import SCOPES, AccessToken, ApiClient, digest
from referral_hub.auth.oauth import BearerView, forget_checked_bearers, protector
from referral_hub.core import clock, crypto
from referral_hub.core.actor import ANONYMOUS, Actor, ActorKind, user_actor
from referral_hub.core.errors import (
    Conflict,
    Forbidden,
    MalformedRequest,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db

_DUMMY_PASSWORD = secrets.token_urlsafe(16)


@functools.cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    """Verified against for unknown accounts, so they take as long as known ones."""
    return password_hasher().hash(_DUMMY_PASSWORD)


PENDING_SECONDS = 300


# --- the actor of a request ---------------------------------------------------------------


def resolve_actor() -> Actor:
    """From a bearer token or the staff session; both at once is refused."""
    if request.path.startswith(("/oauth/", "/static/")) or request.path in ("/healthz", "/readyz"):
        return ANONYMOUS
    header = request.headers.get("Authorization")
    user_id = session.get("user_id")
    if header and user_id:
        raise MalformedRequest(
            "Send either a bearer token or a session cookie, not both.",
            errors={"Authorization": ["A session cookie was sent too."]},
        )
    if header:
        return _actor_from_token(header)
    if user_id:
        g.auth_via = "session"  # so unsafe requests must carry the CSRF token
        return _actor_from_session(user_id)
    return ANONYMOUS


def _actor_from_token(header: str) -> Actor:
    challenge = 'Bearer realm="referral_hub", error="invalid_token"'
    if not header.lower().startswith("bearer "):
        raise Unauthorized("Use a bearer token.", headers={"WWW-Authenticate": challenge})
    try:
        token: BearerView = protector.validate_request(
            scopes=None, request=FlaskJsonRequest(request)
        )
    except OAuth2Error:
        g.credentials_refused = "invalid_token"
        raise Unauthorized(
            "The access token is invalid, expired or revoked.",
            headers={"WWW-Authenticate": challenge},
        ) from None
    if not token.client_active or not token.agency_active:
        g.credentials_refused = "client_suspended"
        raise Unauthorized(
            "This client or its agency is suspended.", headers={"WWW-Authenticate": challenge}
        )
    return Actor(
        ActorKind.CLIENT,
        token.client_id,
        token.agency_id,
        frozenset(),
        frozenset(token.scope.split()),
    )


def _actor_from_session(user_id: str) -> Actor:
    user = db.session.scalar(
        select(User).options(joinedload(User.agency)).where(User.id == uuid.UUID(user_id))
    )
    if user is None or not user.is_active or user.agency.status != AgencyStatus.ACTIVE:
        session.end()  # type: ignore[attr-defined]
        return ANONYMOUS
    return user_actor(user.id, user.agency_id, frozenset(user.roles))


# --- staff sign-in --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    """`next_step`: "done", "totp" (code needed), "enrol" (TOTP required, not set up), "failed".

    `recovery_codes`: a new set, made when TOTP was just turned on, to be shown once.
    """

    next_step: str
    user: User | None = None
    recovery_codes: tuple[str, ...] = ()


def _limits() -> tuple[int, int]:
    config = current_app.config
    return config["AUTH_FAILURES_PER_WINDOW"], config["AUTH_FAILURE_WINDOW_SECONDS"]


def failure_limits() -> tuple[int, int]:
    """(failures allowed, window seconds) for every kind of failed sign-in attempt."""
    return _limits()


def _failed(keys: list[str], user: User | None, action: str, reason: str) -> SignInResult:
    """Count and record a failure in the current transaction (the caller commits it)."""
    ratelimit.count(keys, _limits()[1])
    audit.record(
        user_actor(user.id, user.agency_id, frozenset(user.roles)) if user else ANONYMOUS,
        action,
        ("user", user.id) if user else None,
        outcome="failure",
        details={"reason": reason},
    )
    return SignInResult("failed", user)


def sign_in(email: str, password: str, client_ip: str) -> SignInResult:
    """Check a password; on success say what comes next. Raises RateLimited when throttled."""
    keys = [f"signin:acct:{ratelimit.hashed(email)}", f"signin:ip:{client_ip}"]
    limit, window = _limits()
    ratelimit.refuse_if_exhausted(keys, limit, window, "failed sign-ins")
    user = find_user_by_email(email)
    try:
        config = current_app.config
        stored = (
            user.password_hash
            if user and user.password_hash
            else _dummy_hash(config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"])
        )
        password_hasher().verify(stored, password)
        password_ok = user is not None and user.password_hash is not None
    except (VerificationError, InvalidHashError):
        password_ok = False
    if not password_ok:
        return _failed(keys, user, "auth.login_failed", "bad_credentials")
    if user is None:  # unreachable: password_ok needs a user; keeps the type checker honest
        raise NotFound()
    if not user.is_active or user.agency.status != AgencyStatus.ACTIVE:
        return _failed(keys, user, "auth.login_failed", "disabled")
    if password_hasher().check_needs_rehash(user.password_hash or ""):
        user.password_hash = password_hasher().hash(password)
    if user.totp_secret is not None:
        return SignInResult("totp", user)
    if user.needs_totp:
        return SignInResult("enrol", user)
    complete_sign_in(user, factors=["password"])
    return SignInResult("done", user)


def complete_sign_in(user: User, factors: list[str]) -> None:
    audit.record(
        user_actor(user.id, user.agency_id, frozenset(user.roles)),
        "auth.login_succeeded",
        ("user", user.id),
        details={"factors": factors},
    )


def _totp_for(secret: str, email: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, issuer=current_app.config["TOTP_ISSUER"], name=email)


def _matching_step(totp: pyotp.TOTP, code: str) -> int | None:
    """The time step (±1 for clock drift) whose code this is, or None."""
    code = code.strip().replace(" ", "")
    # isdigit() also takes other scripts' digits, which compare_digest refuses (a 500)
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    now = clock.now()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=30 * drift)
        if hmac.compare_digest(totp.at(moment), code):
            return int(totp.timecode(moment))
    return None


def second_factor_keys(user: User, client_ip: str) -> list[str]:
    """Rate-limit keys of second-factor attempts: TOTP and recovery codes count together."""
    return [f"totp:acct:{user.id}", f"totp:ip:{client_ip}"]


def refuse_if_second_factor_exhausted(user: User, client_ip: str) -> list[str]:
    keys = second_factor_keys(user, client_ip)
    limit, window = _limits()
    ratelimit.refuse_if_exhausted(keys, limit, window, "wrong codes")
    return keys


def failed_second_factor(keys: list[str], user: User, action: str, reason: str) -> SignInResult:
    """Count and record a wrong second-factor code (the caller's transaction commits it)."""
    return _failed(keys, user, action, reason)


def spend_totp_code(user: User, code: str) -> str | None:
    """Take a fresh code of the user's app (marking its time step used); else the reason."""
    if user.totp_secret is None:
        return "no_second_factor"
    secret = crypto.decrypt(user.totp_secret).decode()
    step = _matching_step(_totp_for(secret, user.email), code)
    if step is None:
        return "wrong_code"
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return "code_reused"
    user.totp_last_step = step
    return None


def verify_totp(user_id: uuid.UUID, code: str, client_ip: str) -> SignInResult:
    """Second step: a fresh code (never one used before) completes the sign-in."""
    user = db.session.get(User, user_id)
    if user is None or user.totp_secret is None:
        raise NotFound()
    keys = refuse_if_second_factor_exhausted(user, client_ip)
    refused = spend_totp_code(user, code)
    if refused is not None:
        return _failed(keys, user, "auth.totp_failed", refused)
    complete_sign_in(user, factors=["password", "totp"])
    return SignInResult("done", user)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user_id: uuid.UUID, secret: str) -> str:
    """The otpauth:// address an authenticator app reads (from the enrolment QR code)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    return _totp_for(secret, user.email).provisioning_uri()


def confirm_totp_enrolment(
    user_id: uuid.UUID, secret: str, code: str, client_ip: str, *, signing_in: bool = True
) -> SignInResult:
    """Save the secret only once the person proves their app makes the right codes."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    keys = [f"totp:acct:{user.id}", f"totp:ip:{client_ip}"]
    limit, window = _limits()
    ratelimit.refuse_if_exhausted(keys, limit, window, "wrong codes")
    step = _matching_step(_totp_for(secret, user.email), code)
    if step is None:
        return _failed(keys, user, "auth.totp_failed", "wrong_enrolment_code")
    user.totp_secret = crypto.encrypt(secret.encode())
    user.totp_last_step = step
    recovery_codes = codes.new_set(user.id)
    audit.record(
        user_actor(user.id, user.agency_id, frozenset(user.roles)),
        "auth.totp_enrolled",
        user,
        details={"recovery_codes": len(recovery_codes)},
    )
    if signing_in:
        complete_sign_in(user, factors=["password", "totp"])
    return SignInResult("done", user, tuple(recovery_codes))


def has_totp(user_id: uuid.UUID) -> bool:
    user = db.session.get(User, user_id)
    return user is not None and user.totp_secret is not None


def record_sign_out(actor: Actor) -> None:
    if actor.kind == ActorKind.USER:
        audit.record(actor, "auth.logout", ("user", actor.id))


# --- agency systems (API clients) -------------------------------------------------------------


def may_administer(actor: Actor, agency: Agency) -> None:
    """Hub admins administer every agency; agency admins (and `admin` systems) their own.

    Another agency's staff and systems are that agency's objects: 404, as if missing.
    """
    if actor.is_hub_wide:
        return
    if actor.agency_id == agency.id and (
        actor.has_role("agency_admin")
        or (actor.kind == ActorKind.CLIENT and "admin" in actor.scopes)
    ):
        return
    raise foreign("agency", agency.id)


def create_api_client(
    actor: Actor, *, agency_id: uuid.UUID, name: str, scopes: list[str]
) -> tuple[ApiClient, str]:
    """A new client and its secret. The secret is shown once and stored only as a hash."""
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationFailed(errors={"scopes": [f"Unknown scope: {', '.join(unknown)}."]})
    if "audit:read" in scopes and not actor.is_hub_wide:
        raise Forbidden("Only a hub administrator may give a system the audit:read scope.")
    secret = "rhs_" + secrets.token_urlsafe(32)
    client = ApiClient(
        agency_id=agency.id,
        name=name.strip(),
        client_id="rhc_" + secrets.token_urlsafe(12),
        secret_hash=digest(secret),
        scopes=sorted(set(scopes)),
        created_by=actor.id,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api_client.created", client, details={"scopes": client.scopes})
    return client, secret


def list_api_clients(actor: Actor, agency_id: uuid.UUID) -> list[ApiClient]:
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    return list(
        db.session.scalars(
            select(ApiClient).where(ApiClient.agency_id == agency.id).order_by(ApiClient.created_at)
        )
    )


def _administered_client(actor: Actor, agency_id: uuid.UUID, client_pk: uuid.UUID) -> ApiClient:
    """A client of an agency this actor administers; another agency's looks missing."""
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    client = db.session.get(ApiClient, client_pk)
    if client is None:
        raise NotFound()
    if client.agency_id != agency.id:
        raise foreign("api_client", client.id)
    return client


def set_api_client_keys(
    actor: Actor, agency_id: uuid.UUID, client_pk: uuid.UUID, jwks: Any
) -> ApiClient:
    """Register (or, with None, remove) the public keys a client signs its token requests
    with (`private_key_jwt`); its secret keeps working. Checked before anything is written."""
    client = _administered_client(actor, agency_id, client_pk)
    keys = assertions.parse_jwks(jwks)
    if not client.is_active:
        raise Conflict("This client is revoked; register a new one.")
    client.public_jwks = keys
    db.session.flush()
    audit.record(
        actor,
        "api_client.keys_set" if keys else "api_client.keys_removed",
        client,
        fields=["public_jwks"],
        details={"kids": [key["kid"] for key in keys["keys"]] if keys else []},
    )
    return client


def revoke_api_client(actor: Actor, agency_id: uuid.UUID, client_pk: uuid.UUID) -> ApiClient:
    """Turn a client off and revoke every token it holds, at once."""
    client = _administered_client(actor, agency_id, client_pk)
    client.is_active = False
    db.session.execute(
        update(AccessToken)
        .where(AccessToken.client_pk == client.id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    forget_checked_bearers()
    audit.record(actor, "api_client.revoked", client)
    return client


def describe(client: ApiClient) -> dict[str, Any]:
    return {
        "id": client.id,
        "client_id": client.client_id,
        "name": client.name,
        "scopes": client.scopes,
        "is_active": client.is_active,
        "created_at": client.created_at,
        "jwks": client.public_jwks,
    }
