"""Plain factory functions: each makes one realistic row through the real services."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import Agency, AgencyKind, User
from referral_hub.core.actor import SYSTEM, Actor, ActorKind

_counter = itertools.count(1)


def agency(kind: AgencyKind = AgencyKind.SHELTER, **fields: object) -> Agency:
    number = next(_counter)
    return agencies.create_agency(
        SYSTEM,
        name=str(fields.pop("name", f"Agency {number}")),
        kind=kind,
        **fields,  # type: ignore[arg-type]
    )


def user(of: Agency, roles: Iterable[str] = ("intake",), notify: bool = False) -> User:
    """A staff member without a password (hashing is slow); see `with_password`."""
    number = next(_counter)
    return agencies.create_user(
        SYSTEM,
        agency_id=of.id,
        email=f"staff{number}@agency.example",
        display_name=f"Staff {number}",
        roles=roles,
        notify=notify,
    )


def actor_for(person: User) -> Actor:
    return Actor(ActorKind.USER, str(person.id), person.agency_id, frozenset(person.roles))


# --- credentials, obtained the way callers obtain them --------------------------------------

TEST_PASSWORD = "correct horse battery staple"


def with_password(person: User) -> User:
    from referral_hub.agencies.service import password_hasher

    person.password_hash = password_hasher().hash(TEST_PASSWORD)
    return person


def with_totp(person: User) -> str:
    """Give the user a second factor; returns the secret an authenticator app would hold."""
    import pyotp

    from referral_hub.core import crypto

    secret = pyotp.random_base32()
    person.totp_secret = crypto.encrypt(secret.encode())
    return secret


def api_client(of: Agency, scopes: Iterable[str]) -> tuple[str, str]:
    """Register an agency system; returns (client_id, secret)."""
    from referral_hub.auth.service import create_api_client

    client, secret = create_api_client(
        SYSTEM, agency_id=of.id, name="Case system", scopes=list(scopes)
    )
    return client.client_id, secret


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion(audience: str, client_id: str, key: Any, alg: str = "ES384", **claims: Any) -> str:
    """A client assertion (private_key_jwt) signed with `key`; a claim given as None is left
    out, `kid` overrides the header's."""
    import time

    from joserfc import jwt

    kid = claims.pop("kid", key.kid)
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": int(time.time()) + 240,
        "jti": uuid.uuid4().hex,
    } | claims
    kept = {name: value for name, value in body.items() if value is not None}
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, kept, key, algorithms=[alg])


def assertion_token(http: Any, audience: str, client_id: str, key: Any) -> str:
    """A bearer token from the real token endpoint, the client authenticated by a signed
    assertion instead of a secret."""
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(audience, client_id, key),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.json["access_token"])


def token(http: Any, client_id: str, secret: str, scope: str | None = None) -> str:
    """A bearer token from the real token endpoint."""
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope is not None else {})
    response = http.post("/oauth/token", data=form, auth=(client_id, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.json["access_token"])


def csrf_from(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(http: Any, person: User, totp_secret: str | None = None) -> str:
    """Sign in through /login (and /login/code); returns the CSRF token for API calls."""
    page = http.get("/login").get_data(as_text=True)
    response = http.post(
        "/login",
        data={"email": person.email, "password": TEST_PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    if response.headers["Location"].endswith("/login/code"):
        assert totp_secret, "this user needs a TOTP secret"
        page = http.get("/login/code").get_data(as_text=True)
        response = http.post(
            "/login/code",
            data={"code": fresh_code(totp_secret, person), "csrf_token": csrf_from(page)},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_from(http.get("/?overview=1").get_data(as_text=True))


def fresh_code(secret: str, person: User) -> str:
    """A code for a time step the user has not used yet (codes cannot be replayed)."""
    import pyotp

    from referral_hub.core import clock
    from referral_hub.extensions import db

    db.session.refresh(person)  # the last sign-in happened in another session
    totp = pyotp.TOTP(secret)
    for drift in (0, 1):
        moment = clock.now() + timedelta(seconds=30 * drift)
        if person.totp_last_step is None or totp.timecode(moment) > person.totp_last_step:
            return str(totp.at(moment))
    raise AssertionError("both usable time steps were already used")


def directory_service(of: Agency, category: str = "emergency_shelter", **fields: Any) -> Any:
    """A directory service through the real service layer (SYSTEM acts)."""
    from referral_hub.directory import service as directory
    from referral_hub.directory.vocabulary import Category

    number = next(_counter)
    fields.setdefault("name", f"Service {number}")
    return directory.create_service(SYSTEM, agency_id=of.id, category=Category(category), **fields)


def capacity(of_service: Any, total: int, available: int) -> Any:
    from referral_hub.directory.capacity import set_capacity

    return set_capacity(SYSTEM, of_service.id, total=total, available=available)


def sent_referral(sender: Actor, client_id: Any, service_id: Any, **fields: Any) -> Any:
    """A referral sent (profile only, urgent unless told) through the real service."""
    from referral_hub.referrals import service as referrals

    fields.setdefault("urgency", "urgent")
    fields.setdefault("data_categories", ["profile"])
    return referrals.send_referral(sender, client_id=client_id, service_id=service_id, **fields)


def written_consent(
    actor: Actor,
    client_id: Any,
    *,
    recipients: Iterable[Any],
    purposes: Iterable[str],
    data_categories: Iterable[str],
    **fields: Any,
) -> Any:
    """Her written consent, signed now in Spanish on form version 1 unless told otherwise,
    recorded through the real service."""
    from referral_hub.consent import service as consent
    from referral_hub.core import clock

    fields.setdefault("method", "written")
    fields.setdefault("signer", "survivor")
    fields.setdefault("form_version", "1")
    fields.setdefault("form_language", "es")
    fields.setdefault("signed_at", clock.now())
    return consent.record_consent(
        actor,
        client_id,
        recipients=list(recipients),
        purposes=list(purposes),
        data_categories=list(data_categories),
        **fields,
    )
