"""Per-request guards run after the actor is known: CSRF for browser sessions, the general
API rate limit, and the record of denied access."""

from __future__ import annotations

from flask import current_app, g, request
from flask_wtf.csrf import CSRFError

from referral_hub.audit import service as audit
from referral_hub.auth import ratelimit
from referral_hub.core.actor import ANONYMOUS, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.errors import DomainError, Forbidden, NotFound, RateLimited, Unauthorized
from referral_hub.core.http import MACHINE_PREFIXES
from referral_hub.extensions import csrf

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_csrf() -> None:
    """Every form, and every API call made with the session cookie, must carry the token.

    Agency systems use bearer tokens (nothing a browser sends on its own), and the OAuth
    endpoints authenticate the client itself: neither needs one.
    """
    if request.method not in UNSAFE or request.path.startswith("/oauth/"):
        return
    if request.path.startswith(MACHINE_PREFIXES) and g.get("auth_via") != "session":
        return
    try:
        csrf.protect()
    except CSRFError:
        raise Forbidden(
            "The form or request lacks a valid CSRF token for this session; reload the page.",
            errors={"csrf_token": ["Missing or not this session's."]},
        ) from None


def limit_api_calls() -> None:
    """Each caller gets API_REQUESTS_PER_WINDOW requests per window across the API."""
    if not request.path.startswith(MACHINE_PREFIXES) or g.actor.kind == ActorKind.ANONYMOUS:
        return
    config = current_app.config
    # counted at once (Redis, or a short transaction of its own when counted in the
    # database), whatever the request does next
    used = ratelimit.hit_now(f"api:{g.actor.key}", config["API_WINDOW_SECONDS"])
    if used.count > config["API_REQUESTS_PER_WINDOW"]:
        raise RateLimited(
            f"Request limit reached; try again in {used.retry_after} seconds.",
            headers={"Retry-After": str(used.retry_after)},
        )


def record_denial(error: DomainError) -> None:
    """Refused access goes on the chain: a forbidden action, a bad token, another agency's id.

    A request with no credentials at all is not recorded (there is nobody to name, and
    recording it would let anyone fill the chain).
    """
    reason = None
    if isinstance(error, Forbidden):
        reason = "forbidden"
    elif isinstance(error, Unauthorized) and g.get("credentials_refused"):
        reason = g.credentials_refused
    elif isinstance(error, NotFound) and g.get("foreign_subject"):
        reason = "other_tenant"
    if reason is None:
        return
    with transaction():
        audit.record(
            g.get("actor", ANONYMOUS),
            "access.denied",
            g.get("foreign_subject"),
            outcome="denied",
            details={
                "reason": reason,
                "status": error.status,
                "method": request.method,
                "endpoint": request.endpoint or "",
            },
        )
