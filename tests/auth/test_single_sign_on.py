"""Single sign-on with an agency's own OpenID Connect provider, against a real (local)
provider: discovery, JWKS, authorization code with PKCE, state and nonce, a signed ID token.

It signs in existing active staff of that agency only, never makes an account, refuses
every bent token without a session and on the record, shares password sign-in's rate
limit, and never shows or logs the client secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from referral_hub.agencies.models import AgencyStatus, User
from referral_hub.audit.models import AuditEvent
from referral_hub.auth import sso
from referral_hub.auth.models import AgencySso, SsoLink
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from tests import factories
from tests.factories import csrf_from, fresh_code
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, LocalProvider, running_provider

DOMAIN = "shelter-sso.example.org"


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def world(
    app: Flask, session: Any, provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setitem(app.config, "SSO_ALLOW_PLAIN_HTTP", True)
    provider.claims = {}
    provider.signing_key = None
    with transaction():
        agency = factories.agency()
        other = factories.agency()
        worker = factories.user(agency, ["intake"])
        worker.email = f"worker@{DOMAIN}"
        admin = factories.with_password(factories.user(agency, ["agency_admin"]))
        admin.email = f"admin@{DOMAIN}"
        admin_secret = factories.with_totp(admin)
        outsider = factories.user(other, ["intake"])
        outsider.email = f"outsider@{DOMAIN}"
        sso.set_sso(
            SYSTEM,
            agency.id,
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            email_domains=[DOMAIN],
            enabled=True,
        )
    return {
        "agency": agency,
        "other": other,
        "worker": worker,
        "admin": admin,
        "admin_secret": admin_secret,
        "outsider": outsider,
    }


def as_person(provider: LocalProvider, email: str, sub: str | None = None, **more: Any) -> None:
    """Who signs in at the provider next (and anything bent in the ID token)."""
    provider.claims = {"sub": sub or f"sub-{email}", "email": email, "email_verified": True} | more


def through_provider(http: Any, email: str) -> Any:
    """Start at /login/sso, follow the provider's redirect, land on the hub's callback."""
    page = http.get("/login/sso").get_data(as_text=True)
    started = http.post("/login/sso", data={"email": email, "csrf_token": csrf_from(page)})
    assert started.status_code == 302, started.get_data(as_text=True)
    at_provider = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    return http.get(f"{back.path}?{back.query}")


def signed_in_as(http: Any) -> str | None:
    answer = http.get("/api/v1/me")
    return answer.json["id"] if answer.status_code == 200 else None


def sign_out(http: Any) -> None:
    token = csrf_from(http.get("/?overview=1").get_data(as_text=True))
    assert http.post("/logout", data={"csrf_token": token}).status_code == 302


def failures(session: Any) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "auth.login_failed")
            .order_by(AuditEvent.seq)
        )
    )


def users(session: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(User)))


# --- signing in -----------------------------------------------------------------------------


def test_an_existing_worker_signs_in_through_her_agency_and_is_linked_by_subject(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    worker = world["worker"]
    as_person(provider, worker.email, sub="abc-123")
    before = users(session)
    landed = through_provider(client, worker.email)
    assert landed.status_code == 302
    assert "/login" not in landed.headers["Location"]
    assert signed_in_as(client) == str(worker.id)
    asked = provider.seen[-1]
    assert asked["code_challenge_method"] == "S256"
    assert asked["code_challenge"]
    assert asked["nonce"]
    assert asked["state"]
    assert asked["login_hint"] == worker.email
    (link,) = session.scalars(select(SsoLink).where(SsoLink.user_id == worker.id))
    assert (link.issuer, link.subject) == (provider.issuer, "abc-123")
    succeeded = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_succeeded")
    ).all()
    assert succeeded[-1].details == {"factors": ["sso"]}
    assert users(session) == before

    # later: the same subject signs in even if the provider now gives another address
    sign_out(client)
    as_person(provider, f"renamed@{DOMAIN}", sub="abc-123")
    through_provider(client, worker.email)
    assert signed_in_as(client) == str(worker.id)


def _expired(provider: LocalProvider) -> None:
    provider.claims |= {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}


@pytest.mark.parametrize(
    ("bend", "reason"),
    [
        (lambda p: p.claims.update(nonce="not-the-nonce-sent"), "sso_invalid_claim_nonce"),
        (lambda p: p.claims.update(aud="someone-else"), "sso_invalid_claim_aud"),
        (
            lambda p: p.claims.update(aud="someone-else", azp=CLIENT_ID),
            "sso_invalid_claim_aud",
        ),
        (lambda p: p.claims.update(iss="https://impostor.example"), "sso_invalid_claim_iss"),
        (_expired, "sso_expired_token_exp"),
        (
            lambda p: setattr(
                p, "signing_key", RSAKey.generate_key(2048, parameters={"kid": "k1"})
            ),
            "sso_bad_signature",
        ),
        (lambda p: p.claims.update(email_verified=False), "sso_email_unverified"),
        (lambda p: p.claims.update(email=f"nobody@{DOMAIN}"), "sso_unknown_account"),
        (lambda p: p.claims.update(email=f"outsider@{DOMAIN}"), "sso_unknown_account"),
        (lambda p: p.claims.update(email="worker@elsewhere.example"), "sso_domain_not_allowed"),
    ],
    ids=[
        "wrong-nonce",
        "wrong-audience",
        "wrong-audience-naming-us-as-azp",
        "wrong-issuer",
        "expired",
        "bad-signature",
        "unverified-email",
        "unknown-email",
        "other-agencys-user",
        "domain-not-allowed",
    ],
)
def test_a_bent_or_unknown_sign_in_is_refused_without_a_session_or_an_account(
    client: Any,
    session: Any,
    world: dict[str, Any],
    provider: LocalProvider,
    bend: Any,
    reason: str,
) -> None:
    as_person(provider, world["worker"].email)
    bend(provider)
    before = users(session)
    refused = through_provider(client, world["worker"].email)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 401
    assert "ask your agency administrator to add you" in page
    assert signed_in_as(client) is None
    assert users(session) == before
    assert session.scalar(select(func.count()).select_from(SsoLink)) == 0
    last = failures(session)[-1]
    assert last.outcome == "failure"
    assert last.details == {"reason": reason, "method": "sso"}


def test_a_disabled_worker_or_a_suspended_agency_is_refused(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    worker = world["worker"]
    with transaction():
        session.get(User, worker.id).is_active = False
    as_person(provider, worker.email)
    assert through_provider(client, worker.email).status_code == 401
    assert signed_in_as(client) is None
    assert failures(session)[-1].details == {"reason": "disabled", "method": "sso"}
    with transaction():
        session.get(User, worker.id).is_active = True
        world["agency"].status = AgencyStatus.SUSPENDED
    assert through_provider(client, worker.email).status_code == 401
    assert signed_in_as(client) is None


def test_the_hubs_own_code_is_asked_unless_the_provider_says_it_used_two_factors(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    admin = world["admin"]
    as_person(provider, admin.email, amr=["pwd"])
    landed = through_provider(client, admin.email)
    assert landed.headers["Location"].endswith("/login/code")
    assert signed_in_as(client) is None
    page = client.get("/login/code").get_data(as_text=True)
    done = client.post(
        "/login/code",
        data={"code": fresh_code(world["admin_secret"], admin), "csrf_token": csrf_from(page)},
    )
    assert done.status_code == 302
    assert signed_in_as(client) == str(admin.id)

    sign_out(client)
    as_person(provider, admin.email, amr=["pwd", "otp", "mfa"])
    through_provider(client, admin.email)
    assert signed_in_as(client) == str(admin.id)
    last = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "auth.login_succeeded")
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert last.details == {"factors": ["sso", "sso_mfa"]}


def test_the_start_answers_alike_whether_or_not_the_address_has_an_account(
    client: Any, world: dict[str, Any]
) -> None:
    page = client.get("/login/sso").get_data(as_text=True)
    answers = [
        client.post("/login/sso", data={"email": email, "csrf_token": csrf_from(page)})
        for email in (world["worker"].email, f"nobody-at-all@{DOMAIN}")
    ]
    assert [a.status_code for a in answers] == [302, 302]
    targets = [urlsplit(a.headers["Location"]) for a in answers]
    assert targets[0].path == targets[1].path == "/authorize"
    elsewhere = client.post(
        "/login/sso", data={"email": "someone@no-sso.example", "csrf_token": csrf_from(page)}
    )
    assert elsewhere.status_code == 422
    assert "password" in elsewhere.get_data(as_text=True)


def test_a_callback_without_its_state_is_refused(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    page = client.get("/login/sso").get_data(as_text=True)
    client.post("/login/sso", data={"email": world["worker"].email, "csrf_token": csrf_from(page)})
    forged = client.get("/login/sso/callback?code=made-up&state=not-ours")
    assert forged.status_code == 401
    assert signed_in_as(client) is None
    assert failures(session)[-1].details == {"reason": "sso_state_mismatch", "method": "sso"}
    assert client.get("/login/sso/callback?code=x&state=y").status_code == 400


def test_failed_single_sign_ons_share_the_sign_in_limit(
    app: Flask, client: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    limit = app.config["AUTH_FAILURES_PER_WINDOW"]
    for _ in range(limit):
        as_person(provider, f"nobody@{DOMAIN}")
        assert through_provider(client, world["worker"].email).status_code == 401
    page = client.get("/login/sso").get_data(as_text=True)
    throttled = client.post(
        "/login/sso", data={"email": world["worker"].email, "csrf_token": csrf_from(page)}
    )
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"]
    password_page = client.get("/login").get_data(as_text=True)
    password = client.post(
        "/login",
        data={
            "email": world["admin"].email,
            "password": factories.TEST_PASSWORD,
            "csrf_token": csrf_from(password_page),
        },
    )
    assert password.status_code == 429


# --- configuration ----------------------------------------------------------------------------


def admin_token(client: Any, agency: Any) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(agency, ["admin"])
    return {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}


def good_settings(provider: LocalProvider, **more: Any) -> dict[str, Any]:
    return {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": "a-new-secret-value-" + "x" * 12,
        "email_domains": [DOMAIN],
        "enabled": True,
    } | more


def test_the_agency_admin_sets_it_and_the_secret_is_never_shown_or_logged(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider, log_lines: Any
) -> None:
    headers = admin_token(client, world["agency"])
    path = f"/api/v1/agencies/{world['agency'].id}/sso"
    settings = good_settings(provider)
    put = client.put(path, json=settings, headers=headers)
    assert put.status_code == 200, put.get_data(as_text=True)
    assert put.json["client_secret_set"] is True
    assert "client_secret" not in put.json
    assert put.json["redirect_uri"].endswith("/login/sso/callback")
    got = client.get(path, headers=headers)
    assert got.json["email_domains"] == [DOMAIN]
    assert got.json["enabled"] is True
    secret = settings["client_secret"]
    assert secret not in put.get_data(as_text=True) + got.get_data(as_text=True)
    stored = session.get(AgencySso, world["agency"].id)
    assert secret.encode() not in stored.client_secret
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "agency.sso_configured")
    ).all()
    assert events[-1].details == {"enabled": True, "secret_changed": True, "domains": 1}
    recorded = json.dumps([e.document() for e in events], default=str)
    assert secret not in recorded
    assert CLIENT_SECRET not in recorded
    assert secret not in json.dumps(log_lines())

    # a blank secret keeps the saved one
    kept = client.put(path, json=good_settings(provider, client_secret=""), headers=headers)
    assert kept.status_code == 200
    assert kept.json["client_secret_set"] is True
    session.refresh(stored)
    assert stored.client_secret is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"issuer": "ftp://login.example.org"}, "issuer"),
        ({"issuer": "https://login.example.org/?x=1"}, "issuer"),
        ({"email_domains": ["not a domain"]}, "email_domains"),
        ({"email_domains": []}, "email_domains"),
        ({"enabled": "yes"}, "enabled"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_nothing_is_written(
    client: Any,
    session: Any,
    world: dict[str, Any],
    provider: LocalProvider,
    change: dict[str, Any],
    field: str,
) -> None:
    headers = admin_token(client, world["other"])
    path = f"/api/v1/agencies/{world['other'].id}/sso"
    answer = client.put(path, json=good_settings(provider, **change), headers=headers)
    assert answer.status_code in (400, 422)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in answer.json["errors"]
    assert session.get(AgencySso, world["other"].id) is None


def test_a_domain_belongs_to_one_agency_and_no_secret_at_first_is_refused(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    headers = admin_token(client, world["other"])
    path = f"/api/v1/agencies/{world['other'].id}/sso"
    taken = client.put(path, json=good_settings(provider), headers=headers)
    assert taken.status_code == 422
    assert "email_domains" in taken.json["errors"]
    settings = good_settings(provider, email_domains=["other.example.org"])
    del settings["client_secret"]
    no_secret = client.put(path, json=settings, headers=headers)
    assert no_secret.status_code == 422
    assert "client_secret" in no_secret.json["errors"]
    assert session.get(AgencySso, world["other"].id) is None


def test_another_agencys_admin_sees_a_404(
    client: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    headers = admin_token(client, world["other"])
    path = f"/api/v1/agencies/{world['agency'].id}/sso"
    assert client.get(path, headers=headers).status_code == 404
    assert client.put(path, json=good_settings(provider), headers=headers).status_code == 404


def test_the_admin_page_saves_and_never_shows_the_secret(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    factories.sign_in(client, world["admin"], world["admin_secret"])
    page = client.get("/admin/sso").get_data(as_text=True)
    assert "Set" in page
    assert CLIENT_SECRET not in page
    assert "/login/sso/callback" in page
    saved = client.post(
        "/admin/sso",
        data={
            "csrf_token": csrf_from(page),
            "issuer": provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret": "",
            "email_domains": f"{DOMAIN}, sso2.example.org",
            "enabled.present": "1",
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    stored = session.get(AgencySso, world["agency"].id)
    session.refresh(stored)
    assert stored.enabled is False
    assert stored.email_domains == [DOMAIN, "sso2.example.org"]
    bad = client.post(
        "/admin/sso",
        data={
            "csrf_token": csrf_from(page),
            "issuer": "not a url",
            "client_id": CLIENT_ID,
            "client_secret": "typed-secret-should-not-return",
            "email_domains": DOMAIN,
        },
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "typed-secret-should-not-return" not in text
    assert 'id="f-issuer-error"' in text or "issuer" in text


def test_a_second_subject_for_a_linked_account_is_refused(
    client: Any, session: Any, world: dict[str, Any], provider: LocalProvider
) -> None:
    """The provider gave her address to someone else: the account stays with its subject."""
    worker = world["worker"]
    as_person(provider, worker.email, sub="first-person")
    through_provider(client, worker.email)
    assert signed_in_as(client) == str(worker.id)
    sign_out(client)
    as_person(provider, worker.email, sub="someone-new")
    assert through_provider(client, worker.email).status_code == 401
    assert signed_in_as(client) is None
    assert failures(session)[-1].details == {"reason": "sso_subject_mismatch", "method": "sso"}


def test_a_provider_that_does_not_answer_is_said_so_and_nothing_is_kept(
    app: Flask, client: Any, session: Any, world: dict[str, Any]
) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with transaction():
        sso.set_sso(
            SYSTEM,
            world["other"].id,
            issuer=f"http://127.0.0.1:{port}",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            email_domains=["silent.example.org"],
            enabled=True,
        )
    page = client.get("/login/sso").get_data(as_text=True)
    answer = client.post(
        "/login/sso", data={"email": "a@silent.example.org", "csrf_token": csrf_from(page)}
    )
    assert answer.status_code == 502
    assert "does not answer" in answer.get_data(as_text=True)
    assert signed_in_as(client) is None


@pytest.mark.parametrize(
    "issuer", ["https://127.0.0.1", "https://localhost", "https://10.0.0.8", "https://0x7f000001"]
)
def test_in_production_an_issuer_that_points_inwards_is_refused(
    app: Flask,
    client: Any,
    session: Any,
    world: dict[str, Any],
    provider: LocalProvider,
    monkeypatch: pytest.MonkeyPatch,
    issuer: str,
) -> None:
    monkeypatch.setitem(app.config, "SSO_ALLOW_PLAIN_HTTP", False)
    monkeypatch.setitem(app.config, "HUB_ENV", "production")
    headers = admin_token(client, world["other"])
    path = f"/api/v1/agencies/{world['other'].id}/sso"
    settings = good_settings(provider, issuer=issuer, email_domains=["inward.example.org"])
    answer = client.put(path, json=settings, headers=headers)
    assert answer.status_code == 422
    assert "public" in " ".join(answer.json["errors"]["issuer"])
    assert session.get(AgencySso, world["other"].id) is None
