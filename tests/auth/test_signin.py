"""Staff sign-in: password + TOTP, server-side sessions, CSRF, timeouts, throttling."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.agencies.models import User
from referral_hub.audit.models import AuditEvent
from referral_hub.auth.models import StaffSession
from referral_hub.core import clock
from referral_hub.core.db import transaction
from tests import factories
from tests.factories import TEST_PASSWORD, csrf_from, fresh_code, sign_in


@pytest.fixture
def people(session: Any) -> dict[str, Any]:
    with transaction():
        agency = factories.agency()
        intake = factories.with_password(factories.user(agency, ["intake"]))
        coordinator = factories.with_password(factories.user(agency, ["coordinator"]))
        admin = factories.with_password(factories.user(agency, ["agency_admin"]))
        admin_secret = factories.with_totp(admin)
    return {
        "agency": agency,
        "intake": intake,
        "coordinator": coordinator,
        "admin": admin,
        "admin_secret": admin_secret,
    }


def actions(session: Any) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def post_login(http: Any, email: str, password: str) -> Any:
    token = csrf_from(http.get("/login").get_data(as_text=True))
    return http.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_password_sign_in_starts_a_rotated_http_only_session(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    client.get("/login")
    before = client.get_cookie("hub_session").value
    response = post_login(client, people["intake"].email, TEST_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("hub_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    after = client.get_cookie("hub_session").value
    assert after != before  # a token planted before sign-in is worthless after it
    me = client.get("/api/v1/me").json
    assert me["kind"] == "user"
    assert me["id"] == str(people["intake"].id)
    assert me["roles"] == ["intake"]
    assert "auth.login_succeeded" in actions(session)
    stored = session.scalars(
        select(StaffSession).where(StaffSession.user_id == people["intake"].id)
    ).one()
    assert stored.id_hash != after  # only the hash of the cookie is kept


def test_a_wrong_password_is_refused_counted_and_audited(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    response = post_login(client, people["intake"].email, "not the password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401
    failed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    ).one()
    assert failed.outcome == "failure"
    assert failed.subject_id == str(people["intake"].id)
    assert "not the password" not in str(failed.document())


def test_an_unknown_account_gets_the_same_answer(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    unknown = post_login(client, "nobody@agency.example", "whatever")
    wrong = post_login(client, people["intake"].email, "whatever")
    assert unknown.status_code == wrong.status_code == 401

    def strip(page: str) -> str:
        return page.replace("nobody@agency.example", "").replace(people["intake"].email, "")

    assert strip(csrf_free(unknown)) == strip(csrf_free(wrong))


def csrf_free(response: Any) -> str:
    import re

    return re.sub(r'value="[^"]+" ?>', "", response.get_data(as_text=True))


def test_the_sixth_bad_sign_in_in_a_minute_is_429(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    for _ in range(5):
        assert post_login(client, people["intake"].email, "wrong").status_code == 401
    limited = post_login(client, people["intake"].email, TEST_PASSWORD)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    with clock.frozen_at(clock.now() + timedelta(seconds=61)):
        assert post_login(client, people["intake"].email, TEST_PASSWORD).status_code == 302


def test_roles_that_need_totp_must_enrol_first(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    response = post_login(client, people["coordinator"].email, TEST_PASSWORD)
    assert response.headers["Location"].endswith("/login/enrol")
    assert client.get("/api/v1/me").status_code == 401  # a password alone is not enough
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page  # the QR code is drawn on the server
    import re

    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    wrong = client.post("/login/enrol", data={"code": "000000", "csrf_token": csrf_from(page)})
    assert wrong.status_code == 401
    done = client.post(
        "/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)}
    )
    assert done.status_code == 200  # the recovery codes, shown once, then on to the hub
    shown = done.get_data(as_text=True)
    assert "Save your recovery codes" in shown
    assert shown.count("<li><code>") == 10
    assert 'href="/"' in shown
    assert client.get("/api/v1/me").json["roles"] == ["coordinator"]
    session.expire_all()
    stored = session.get(User, people["coordinator"].id)
    assert stored.totp_secret is not None
    assert secret.encode() not in stored.totp_secret
    assert {"auth.totp_enrolled", "auth.login_succeeded"} <= set(actions(session))


def test_a_totp_code_works_once(
    client: Any, app: Flask, session: Any, people: dict[str, Any]
) -> None:
    admin, secret = people["admin"], people["admin_secret"]
    code = pyotp.TOTP(secret).now()
    assert (
        post_login(client, admin.email, TEST_PASSWORD).headers["Location"].endswith("/login/code")
    )
    page = client.get("/login/code").get_data(as_text=True)
    assert (
        client.post("/login/code", data={"code": code, "csrf_token": csrf_from(page)}).status_code
        == 302
    )
    other = app.test_client()
    assert post_login(other, admin.email, TEST_PASSWORD).status_code == 302
    page = other.get("/login/code").get_data(as_text=True)
    replay = other.post("/login/code", data={"code": code, "csrf_token": csrf_from(page)})
    assert replay.status_code == 401
    assert other.get("/api/v1/me").status_code == 401
    failed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.totp_failed")
    ).one()
    assert failed.details == {"reason": "code_reused"}


def test_logout_ends_the_session_and_a_replayed_cookie_is_worthless(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    csrf = sign_in(client, people["intake"])
    cookie = client.get_cookie("hub_session").value
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    client.set_cookie("hub_session", cookie)
    assert client.get("/api/v1/me").status_code == 401
    assert "auth.logout" in actions(session)


def test_disabling_a_user_ends_their_session_at_once(
    app: Flask, client: Any, session: Any, people: dict[str, Any]
) -> None:
    sign_in(client, people["intake"])
    assert client.get("/api/v1/me").status_code == 200
    admin_browser = app.test_client()
    csrf = sign_in(admin_browser, people["admin"], people["admin_secret"])
    response = admin_browser.patch(
        f"/api/v1/users/{people['intake'].id}",
        json={"is_active": False},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200, response.json
    assert client.get("/api/v1/me").status_code == 401
    assert post_login(client, people["intake"].email, TEST_PASSWORD).status_code == 401


def test_idle_and_absolute_timeouts(client: Any, session: Any, people: dict[str, Any]) -> None:
    sign_in(client, people["intake"])
    start = clock.now()
    with clock.frozen_at(start + timedelta(minutes=29)):
        assert client.get("/api/v1/me").status_code == 200  # activity keeps it alive
    with clock.frozen_at(start + timedelta(minutes=29 + 31)):
        assert client.get("/api/v1/me").status_code == 401  # 31 idle minutes
    sign_in(client, people["intake"])
    start = clock.now()
    with clock.frozen_at(start) as frozen:
        for _ in range(12 * 3 - 1):  # a request every 20 minutes, for 11 h 40 min
            frozen.advance(timedelta(minutes=20))
            assert client.get("/api/v1/me").status_code == 200
        frozen.advance(timedelta(minutes=20))
        assert client.get("/api/v1/me").status_code == 401  # 12 hours after sign-in


def test_csrf_is_required_on_forms_and_on_session_api_calls(
    app: Flask, client: Any, session: Any, people: dict[str, Any]
) -> None:
    client.get("/login")
    no_token = client.post(
        "/login", data={"email": people["intake"].email, "password": TEST_PASSWORD}
    )
    assert no_token.status_code == 403
    csrf = sign_in(client, people["intake"])
    other_csrf = csrf_from(app.test_client().get("/login").get_data(as_text=True))
    for headers in ({}, {"X-CSRFToken": other_csrf}, {"X-CSRFToken": "forged"}):
        refused = client.post(
            f"/api/v1/agencies/{people['agency'].id}/users", json={}, headers=headers
        )
        assert refused.status_code == 403, headers
        assert refused.json["errors"] == {"csrf_token": ["Missing or not this session's."]}
    assert client.post("/logout", data={"csrf_token": other_csrf}).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302


def test_a_token_and_a_session_together_are_400(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    sign_in(client, people["intake"])
    with transaction():
        client_id, secret = factories.api_client(people["agency"], ["directory:read"])
    access = factories.token(client, client_id, secret)
    response = client.get("/api/v1/agencies", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 400
    assert "Authorization" in response.json["errors"]


def test_security_headers(client: Any, session: Any) -> None:
    for path in ("/", "/login", "/api/v1/agencies", "/healthz"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in headers  # only in production, behind TLS


def test_production_adds_hsts_and_secure_cookies(tmp_path: Any) -> None:
    from referral_hub import create_app
    from tests.system.test_config import production

    app = create_app(production())
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.test_request_context("/healthz"):
        from flask import Response

        from referral_hub.app import security_headers

        response = Response()
        security_headers(app, response)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_open_redirects_are_refused(client: Any, session: Any, people: dict[str, Any]) -> None:
    client.get("/login?next=https://evil.example/")
    token = csrf_from(client.get("/login?next=//evil.example").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": people["intake"].email, "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_with_redis_the_limit_is_shared_by_two_app_instances(
    worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two web processes, one Redis: failures on one count on the other."""
    from referral_hub.auth.ratelimit import RedisBackend
    from referral_hub.extensions import db
    from tests.conftest import fresh_database_url, migrated_app

    url = fresh_database_url(f"rl_{worker_id}", tmp_path_factory)
    redis = redis_connection()
    redis.flushdb()
    with migrated_app(url, worker_id, tmp_path_factory, JOB_RUNNER="inline", REDIS_URL="") as first:
        second = __import__("referral_hub").create_app(first.config.copy())
        for app in (first, second):
            app.extensions["hub_rate_limits"] = RedisBackend(redis)
        with first.app_context():
            with transaction():
                agency = factories.agency()
                email = factories.with_password(factories.user(agency)).email
            db.session.remove()
        for attempt in range(6):
            app = (first, second)[attempt % 2]
            status = post_login(app.test_client(), email, "wrong").status_code
            assert status == (401 if attempt < 5 else 429), attempt
        with second.app_context():
            for engine in __import__("referral_hub.extensions").extensions.db.engines.values():
                engine.dispose()


def redis_connection() -> Any:
    url = os.environ.get("REDIS_URL")
    if url:
        from redis import Redis

        return Redis.from_url(url)
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_session_ids_are_random_and_unguessable(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    sign_in(client, people["intake"])
    value = client.get_cookie("hub_session").value
    assert len(value) >= 40
    uuid.UUID(str(people["intake"].id))  # the cookie is not the user id
    assert str(people["intake"].id) not in value


def test_staff_may_turn_on_a_second_factor_themselves(
    app: Flask, client: Any, session: Any, people: dict[str, Any]
) -> None:
    import re

    assert client.get("/account/second-factor").status_code == 302  # signed out: to /login
    sign_in(client, people["intake"])
    page = client.get("/account/second-factor").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    done = client.post(
        "/account/second-factor",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)},
    )
    assert done.status_code == 200
    assert "second factor is on" in done.get_data(as_text=True)
    later = app.test_client()
    assert (
        post_login(later, people["intake"].email, TEST_PASSWORD)
        .headers["Location"]
        .endswith("/login/code")
    )
    page = later.get("/login/code").get_data(as_text=True)
    code = fresh_code(secret, people["intake"])
    assert (
        later.post("/login/code", data={"code": code, "csrf_token": csrf_from(page)}).status_code
        == 302
    )
