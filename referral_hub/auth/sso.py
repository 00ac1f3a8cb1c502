"""Single sign-on with an agency's own OpenID Connect provider: its configuration, and
mapping a verified ID token to an existing staff account of that agency.

Never creates an account: an unknown person is refused (and audited, and counted like a
failed password) and told to ask their agency's administrator. The provider's subject is
linked to the account on the first sign-in (found by verified e-mail); from then on only
that subject signs in as that account. The network exchange with the provider lives in
`auth.sso_client`; this module only reads and writes the hub's own rows.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from referral_hub.agencies.models import Agency, AgencyStatus, User
from referral_hub.agencies.service import find_user_by_email, get_agency
from referral_hub.audit import service as audit
from referral_hub.auth import ratelimit
from referral_hub.auth.models import AgencySso, SsoLink
from referral_hub.auth.service import SignInResult, complete_sign_in, failure_limits, may_administer
from referral_hub.core import crypto
from referral_hub.core.actor import ANONYMOUS, Actor, user_actor
from referral_hub.core.errors import ValidationFailed
from referral_hub.extensions import db
from referral_hub.notifications import egress

DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# RFC 8176: the provider says more than one factor was used
MULTI_FACTOR_AMR = "mfa"


@dataclass(frozen=True)
class Provider:
    """What the sign-in pages need to talk to an agency's provider."""

    agency_id: uuid.UUID
    agency_name: str
    issuer: str
    client_id: str
    client_secret: str


# --- configuration (agency or hub administrators) -----------------------------------------


def describe(config: AgencySso | None, agency_id: uuid.UUID) -> dict[str, Any]:
    """The configuration as shown: the secret only as set or not set."""
    if config is None:
        return {
            "agency_id": agency_id,
            "issuer": None,
            "client_id": None,
            "client_secret_set": False,
            "email_domains": [],
            "enabled": False,
            "updated_at": None,
        }
    return {
        "agency_id": config.agency_id,
        "issuer": config.issuer,
        "client_id": config.client_id,
        "client_secret_set": config.client_secret is not None,
        "email_domains": list(config.email_domains),
        "enabled": config.enabled,
        "updated_at": config.updated_at,
    }


def get_sso(actor: Actor, agency_id: uuid.UUID) -> dict[str, Any]:
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    return describe(db.session.get(AgencySso, agency.id), agency.id)


def _issuer_problem(issuer: str) -> str | None:
    parts = urlsplit(issuer)
    plain_http_ok = current_app.config.get("SSO_ALLOW_PLAIN_HTTP", False)
    if parts.scheme not in (("https", "http") if plain_http_ok else ("https",)):
        return "Use the provider's https:// issuer address."
    if not parts.hostname or parts.query or parts.fragment or parts.username:
        return "Use the provider's issuer address, like https://login.agency.org."
    return inward_issuer(issuer)


def inward_issuer(issuer: str) -> str | None:
    """In production the hub must not be made to call inwards (loopback, private ranges,
    cloud metadata) through a provider address, as for webhooks; else None."""
    config = current_app.config
    if config["HUB_ENV"] != "production" or config.get("SSO_ALLOW_PLAIN_HTTP", False):
        return None
    try:
        egress.check(issuer, public_only=True)
    except egress.Refused as refusal:
        return str(refusal)
    return None


def _clean_domains(agency_id: uuid.UUID, domains: list[str]) -> list[str]:
    cleaned = sorted({d.strip().lower().lstrip("@") for d in domains})
    bad = [d for d in cleaned if not DOMAIN.fullmatch(d)]
    if bad or not cleaned:
        raise ValidationFailed(
            errors={"email_domains": ["Give the e-mail domains of your staff, like agency.org."]}
        )
    taken = db.session.scalars(
        select(AgencySso.email_domains).where(AgencySso.agency_id != agency_id)
    )
    if set(cleaned) & {d for row in taken for d in row}:
        raise ValidationFailed(
            errors={"email_domains": ["One of these domains signs in through another agency."]}
        )
    return cleaned


def set_sso(
    actor: Actor,
    agency_id: uuid.UUID,
    *,
    issuer: str,
    client_id: str,
    email_domains: list[str],
    enabled: bool,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """Save the agency's provider (a blank secret keeps the one saved); audited, never the
    secret itself."""
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    issuer = issuer.strip().rstrip("/")
    problem = _issuer_problem(issuer)
    if problem:
        raise ValidationFailed(errors={"issuer": [problem]})
    if not client_id.strip():
        raise ValidationFailed(errors={"client_id": ["Give the client ID the provider gave you."]})
    domains = _clean_domains(agency.id, email_domains)
    config = db.session.get(AgencySso, agency.id)
    secret = (client_secret or "").strip()
    if not secret and (config is None or config.client_secret is None):
        raise ValidationFailed(errors={"client_secret": ["Give the client secret."]})
    if config is None:
        config = AgencySso(agency_id=agency.id)
        db.session.add(config)
    config.issuer = issuer
    config.client_id = client_id.strip()
    config.email_domains = domains
    config.enabled = enabled
    if secret:
        config.client_secret = crypto.encrypt(secret.encode())
    db.session.flush()
    audit.record(
        actor,
        "agency.sso_configured",
        ("agency", agency.id),
        details={"enabled": enabled, "secret_changed": bool(secret), "domains": len(domains)},
    )
    return describe(config, agency.id)


# --- signing in -----------------------------------------------------------------------------


def _provider(config: AgencySso) -> Provider | None:
    owner = db.session.get(Agency, config.agency_id)
    if not config.enabled or config.client_secret is None or owner is None:
        return None
    return Provider(
        agency_id=config.agency_id,
        agency_name=owner.name,
        issuer=config.issuer,
        client_id=config.client_id,
        client_secret=crypto.decrypt(config.client_secret).decode(),
    )


def provider_for_email(email: str) -> Provider | None:
    """The enabled provider of the agency that owns this address's domain, if any.

    Decided by the domain alone, never by whether an account has the address.
    """
    domain = email.rpartition("@")[2].strip().lower()
    if not domain:
        return None
    for config in db.session.scalars(select(AgencySso).where(AgencySso.enabled.is_(True))):
        if domain in config.email_domains:
            return _provider(config)
    return None


def provider_of(agency_id: uuid.UUID) -> Provider | None:
    config = db.session.get(AgencySso, agency_id)
    return _provider(config) if config is not None else None


def _keys(client_ip: str, email: str | None = None) -> list[str]:
    """The same counters as password sign-in: switching doors does not earn more tries."""
    keys = [f"signin:ip:{client_ip}"]
    if email:
        keys.insert(0, f"signin:acct:{ratelimit.hashed(email.lower())}")
    return keys


def refuse_if_throttled(client_ip: str, email: str | None = None) -> None:
    """Raises RateLimited when this address (or account) failed too often lately."""
    limit, window = failure_limits()
    ratelimit.refuse_if_exhausted(_keys(client_ip, email), limit, window, "failed sign-ins")


def refused(
    agency_id: uuid.UUID, reason: str, client_ip: str, user: User | None = None
) -> SignInResult:
    """Count and audit a refused single sign-on (the caller's transaction commits it)."""
    ratelimit.count(_keys(client_ip, user.email if user else None), failure_limits()[1])
    audit.record(
        user_actor(user.id, user.agency_id, frozenset(user.roles)) if user else ANONYMOUS,
        "auth.login_failed",
        ("user", user.id) if user else ("agency", agency_id),
        outcome="failure",
        details={"reason": reason, "method": "sso"},
    )
    return SignInResult("failed", user)


def _account_for(provider: Provider, claims: dict[str, Any]) -> tuple[User | None, str]:
    """The staff account these verified claims name, or None and why not."""
    subject = str(claims.get("sub") or "")
    if not subject:
        return None, "sso_no_subject"
    link = db.session.scalar(
        select(SsoLink).where(SsoLink.issuer == provider.issuer, SsoLink.subject == subject)
    )
    if link is not None:
        return db.session.get(User, link.user_id), "linked"
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        return None, "sso_email_unverified"
    config = db.session.get(AgencySso, provider.agency_id)
    domain = email.rpartition("@")[2].lower()
    if config is None or domain not in config.email_domains:
        return None, "sso_domain_not_allowed"
    user = find_user_by_email(email)
    if user is None or user.agency_id != provider.agency_id:
        return None, "sso_unknown_account"
    held = db.session.scalar(
        select(SsoLink).where(SsoLink.user_id == user.id, SsoLink.issuer == provider.issuer)
    )
    if held is not None:  # the address moved to another person at the provider
        return None, "sso_subject_mismatch"
    db.session.add(SsoLink(user_id=user.id, issuer=provider.issuer, subject=subject))
    db.session.flush()
    audit.record(
        user_actor(user.id, user.agency_id, frozenset(user.roles)), "auth.sso_linked", user
    )
    return user, "linked"


def sign_in_with_claims(provider: Provider, claims: dict[str, Any], client_ip: str) -> SignInResult:
    """Claims of an ID token `sso_client` verified → an existing account, or a refusal.

    The provider's own second factor (`amr` holding "mfa") stands in for the hub's TOTP;
    without it the hub asks for its own code as after a password.
    """
    refuse_if_throttled(client_ip)
    user, why = _account_for(provider, claims)
    if user is None:
        return refused(provider.agency_id, why, client_ip)
    if (
        user.agency_id != provider.agency_id
        or not user.is_active
        or user.agency.status != AgencyStatus.ACTIVE
    ):
        return refused(provider.agency_id, "disabled", client_ip, user)
    amr = claims.get("amr")
    if isinstance(amr, list) and MULTI_FACTOR_AMR in amr:
        complete_sign_in(user, factors=["sso", "sso_mfa"])
        return SignInResult("done", user)
    if user.totp_secret is not None:
        return SignInResult("totp", user)
    if user.needs_totp:
        return SignInResult("enrol", user)
    complete_sign_in(user, factors=["sso"])
    return SignInResult("done", user)
