"""Ways back into an account: second-factor recovery codes and password reset by e-mail.

Each rule of auth/recovery.py and auth/codes.py through the real pages: single use,
expiry, answers that do not tell whether an account exists, sessions ended, rate limits,
audit events, and no code or token in the logs, e-mails, audit details or outbox rows.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.agencies.models import User
from referral_hub.audit.models import AuditEvent
from referral_hub.auth import codes
from referral_hub.auth.models import PasswordResetToken, RecoveryCode, StaffSession
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.jobs.models import OutboxMessage
from tests import factories
from tests.factories import TEST_PASSWORD, csrf_from, fresh_code, sign_in

NEW_PASSWORD = "a brand new passphrase, long enough"


@pytest.fixture
def people(session: Any) -> dict[str, Any]:
    with transaction():
        agency = factories.agency()
        intake = factories.with_password(factories.user(agency, ["intake"]))
        admin = factories.with_password(factories.user(agency, ["agency_admin"]))
        admin_secret = factories.with_totp(admin)
        admin_codes = codes.new_set(admin.id)
    return {
        "agency": agency,
        "intake": intake,
        "admin": admin,
        "admin_secret": admin_secret,
        "admin_codes": admin_codes,
    }


def events(session: Any, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def half_way(http: Any, person: User) -> str:
    """Password accepted, second factor asked: the recovery page's CSRF token."""
    page = http.get("/login").get_data(as_text=True)
    response = http.post(
        "/login",
        data={"email": person.email, "password": TEST_PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert response.headers["Location"].endswith("/login/code")
    return csrf_from(http.get("/login/recovery").get_data(as_text=True))


def mails_to(app: Flask, session: Any, run_jobs: Any, address: str) -> list[tuple[Any, str]]:
    """(outbox row, .eml text) of every e-mail delivered to `address`, oldest first."""
    run_jobs()
    session.expire_all()
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == "email")
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    ).all()
    folder = Path(app.instance_path) / app.config["MAIL_FOLDER"]
    found = []
    for row in rows:
        if row.payload.get("to") != address:
            continue
        mail = folder / f"{row.id}.eml"
        text = ""
        if mail.exists():
            message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
            text = str(message["Subject"]) + "\n" + message.get_content()
        found.append((row, text))
    return found


def everything_recorded(session: Any) -> str:
    """Audit details and outbox payloads, as text: where no code or token may be."""
    audit = [e.document() for e in session.scalars(select(AuditEvent))]
    outbox = [row.payload for row in session.scalars(select(OutboxMessage))]
    return json.dumps([audit, outbox], default=str)


# --- recovery codes -------------------------------------------------------------------------


def test_turning_on_totp_shows_ten_codes_once_and_keeps_only_keyed_hashes(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    intake = people["intake"]
    sign_in(client, intake)
    page = client.get("/account/second-factor").get_data(as_text=True)
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    done = client.post(
        "/account/second-factor",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)},
    )
    shown = re.findall(r"<li><code>([0-9a-z-]+)</code></li>", done.get_data(as_text=True))
    assert done.status_code == 200
    assert len(shown) == 10
    assert len(set(shown)) == 10
    assert all(re.fullmatch(r"([0-9a-hjkmnp-tv-z]{4}-){3}[0-9a-hjkmnp-tv-z]{4}", c) for c in shown)
    stored = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == intake.id)).all()
    assert len(stored) == 10
    for code in shown:
        bare = code.replace("-", "")
        assert all(bare not in row.code_hash and code not in row.code_hash for row in stored)
    again = client.get("/account/second-factor").get_data(as_text=True)
    assert not any(code in again for code in shown)  # shown once: only the count after
    assert '<strong class="codes-left">10</strong>' in again
    (enrolled,) = events(session, "auth.totp_enrolled")
    assert enrolled.details == {"recovery_codes": 10}
    assert not any(code.replace("-", "") in everything_recorded(session) for code in shown)


def test_a_recovery_code_signs_in_once_is_audited_and_the_person_is_told(
    app: Flask,
    client: Any,
    session: Any,
    people: dict[str, Any],
    run_jobs: Any,
    log_lines: Any,
) -> None:
    admin, code = people["admin"], people["admin_codes"][3]
    csrf = half_way(client, admin)
    typed = code.upper().replace("-", " ")  # any case, spaces for dashes
    response = client.post("/login/recovery", data={"code": typed, "csrf_token": csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/api/v1/me").json["id"] == str(admin.id)
    landing = client.get("/?overview=1").get_data(as_text=True)
    assert "9 of your codes" in landing
    (used,) = events(session, "auth.recovery_code_used")
    assert used.details == {"remaining": 9}
    assert used.subject_id == str(admin.id)
    succeeded = events(session, "auth.login_succeeded")[-1]
    assert succeeded.details == {"factors": ["password", "recovery_code"]}

    other = app.test_client()
    csrf = half_way(other, admin)
    replay = other.post("/login/recovery", data={"code": code, "csrf_token": csrf})
    assert replay.status_code == 401
    assert "used already" in replay.get_data(as_text=True)
    assert other.get("/api/v1/me").status_code == 401
    (failed,) = events(session, "auth.recovery_code_failed")
    assert failed.outcome == "failure"
    assert failed.details == {"reason": "wrong_code"}

    ((row, mail),) = mails_to(app, session, run_jobs, admin.email)
    assert row.payload == {"to": admin.email, "template": "recovery_code_used"}
    assert "A recovery code was used" in mail
    bare = code.replace("-", "")
    for text in (mail, everything_recorded(session), json.dumps(log_lines())):
        assert bare not in text
        assert code not in text
        assert typed not in text


def test_wrong_recovery_codes_count_with_totp_codes_toward_the_limit(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    admin = people["admin"]
    csrf = half_way(client, admin)
    for wrong in ("not a code", "0000-0000-0000-0000", "", "x" * 64, "\u0661" * 16):
        answer = client.post("/login/recovery", data={"code": wrong, "csrf_token": csrf})
        assert answer.status_code == 401, wrong
    good = people["admin_codes"][0]
    limited = client.post("/login/recovery", data={"code": good, "csrf_token": csrf})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    totp = client.post(
        "/login/code",
        data={"code": fresh_code(people["admin_secret"], admin), "csrf_token": csrf},
    )
    assert totp.status_code == 429  # one allowance for both kinds of code
    assert codes.remaining(admin.id) == 10  # the good code was not spent by the refusal
    with clock.frozen_at(clock.now() + timedelta(seconds=61)):
        csrf = half_way(client, admin)
        taken = client.post("/login/recovery", data={"code": good, "csrf_token": csrf})
        assert taken.status_code == 302


def test_a_new_set_needs_a_fresh_totp_code_and_voids_the_old_one(
    app: Flask, client: Any, session: Any, people: dict[str, Any]
) -> None:
    admin, old = people["admin"], people["admin_codes"]
    csrf = sign_in(client, admin, people["admin_secret"])
    before = sorted(session.scalars(select(RecoveryCode.code_hash)))
    for wrong in ("000000", "12345x", "<script>"):  # 3 of the 5 wrong codes a minute allows
        refused = client.post("/account/recovery-codes", data={"code": wrong, "csrf_token": csrf})
        assert refused.status_code == 401
        assert "unchanged" in refused.get_data(as_text=True)
    session.expire_all()
    assert sorted(session.scalars(select(RecoveryCode.code_hash))) == before
    assert client.post("/account/recovery-codes", data={"code": "1"}).status_code == 403  # CSRF
    made = client.post(
        "/account/recovery-codes",
        data={"code": fresh_code(people["admin_secret"], admin), "csrf_token": csrf},
    )
    page = made.get_data(as_text=True)
    new = re.findall(r"<li><code>([0-9a-z-]+)</code></li>", page)
    assert made.status_code == 200
    assert len(new) == 10
    assert "no longer work" in page
    assert not set(new) & set(old)
    (generated,) = events(session, "auth.recovery_codes_generated")
    assert generated.details == {"recovery_codes": 10}

    later = app.test_client()
    csrf = half_way(later, admin)
    assert later.post("/login/recovery", data={"code": old[0], "csrf_token": csrf}).status_code == (
        401
    )
    assert later.post("/login/recovery", data={"code": new[0], "csrf_token": csrf}).status_code == (
        302
    )


def test_the_recovery_pages_need_the_password_first_and_a_signed_in_person(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    assert client.get("/login/recovery").headers["Location"] == "/login"
    csrf = csrf_from(client.get("/login").get_data(as_text=True))
    code = people["admin_codes"][0]
    assert client.post("/login/recovery", data={"code": code, "csrf_token": csrf}).status_code == (
        302
    )
    assert client.get("/api/v1/me").status_code == 401
    assert codes.remaining(people["admin"].id) == 10
    refused = client.post("/account/recovery-codes", data={"code": "1", "csrf_token": csrf})
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/login")


def test_an_administrators_second_factor_reset_voids_the_codes(
    session: Any, people: dict[str, Any]
) -> None:
    from referral_hub.auth.admin import reset_totp

    with transaction():
        reset_totp(SYSTEM, people["admin"].id)
    assert codes.remaining(people["admin"].id) == 0


# --- password reset by e-mailed link --------------------------------------------------------


def ask_for_link(http: Any, email: str) -> Any:
    token = csrf_from(http.get("/login/forgot").get_data(as_text=True))
    return http.post("/login/forgot", data={"email": email, "csrf_token": token})


def link_in(mail: str) -> str:
    match = re.search(r"http://\S+/login/reset\?token=[A-Za-z0-9_-]+", mail)
    assert match, "no reset link in the e-mail"
    return match.group(0)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def without_csrf(response: Any) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))


def test_asking_for_a_link_answers_the_same_whether_or_not_the_account_exists(
    app: Flask, client: Any, session: Any, people: dict[str, Any], run_jobs: Any
) -> None:
    known = ask_for_link(client, people["intake"].email)
    unknown = ask_for_link(app.test_client(), "nobody@agency.example")
    assert known.status_code == unknown.status_code == 200
    assert without_csrf(known) == without_csrf(unknown)
    assert "Check your e-mail" in known.get_data(as_text=True)
    assert len(session.scalars(select(PasswordResetToken)).all()) == 1
    assert mails_to(app, session, run_jobs, "nobody@agency.example") == []
    ((row, mail),) = mails_to(app, session, run_jobs, people["intake"].email)
    assert "Reset your referral hub password" in mail
    assert "30 minutes" in mail
    requested = events(session, "auth.password_reset_requested")
    assert [(e.outcome, e.subject_id) for e in requested] == [
        ("success", str(people["intake"].id)),
        ("failure", None),
    ]
    token = token_of(link_in(mail))
    assert token not in everything_recorded(session)
    assert "link" not in row.payload  # handed over: the row keeps no way to open the link
    stored = session.scalars(select(PasswordResetToken)).one()
    assert token not in stored.token_hash


def test_a_disabled_account_gets_no_link_and_the_same_answer(
    app: Flask, client: Any, session: Any, people: dict[str, Any], run_jobs: Any
) -> None:
    with transaction():
        session.get(User, people["intake"].id).is_active = False
    answer = ask_for_link(client, people["intake"].email)
    unknown = ask_for_link(app.test_client(), "nobody@agency.example")
    assert answer.status_code == 200
    assert without_csrf(answer) == without_csrf(unknown)
    assert session.scalars(select(PasswordResetToken)).all() == []
    assert mails_to(app, session, run_jobs, people["intake"].email) == []


@pytest.mark.parametrize(
    "address",
    ["", "not an address", "a@b", "@agency.example", "x@y@z.example", "a\u202e@b.example"],
)
def test_a_malformed_address_is_422_and_nothing_is_written(
    client: Any, session: Any, people: dict[str, Any], address: str
) -> None:
    answer = ask_for_link(client, address)
    assert answer.status_code == 422
    assert "Enter your work e-mail" in answer.get_data(as_text=True)
    assert session.scalars(select(PasswordResetToken)).all() == []
    assert events(session, "auth.password_reset_requested") == []


def test_the_link_sets_a_new_password_once_and_ends_every_session(
    app: Flask,
    client: Any,
    session: Any,
    people: dict[str, Any],
    run_jobs: Any,
    log_lines: Any,
) -> None:
    admin = people["admin"]
    signed_in = app.test_client()
    sign_in(signed_in, admin, people["admin_secret"])
    assert signed_in.get("/api/v1/me").status_code == 200
    ask_for_link(client, admin.email)
    ((_, mail),) = mails_to(app, session, run_jobs, admin.email)
    link = link_in(mail)
    token = token_of(link)
    path = link.split("://", 1)[1].split("/", 1)[1]

    form = client.get("/" + path)
    page = form.get_data(as_text=True)
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert f'name="token" value="{token}"' in page
    assert 'method="post"' in page
    csrf = csrf_from(page)
    hash_before = session.get(User, admin.id).password_hash

    def post(password: str, again: str | None = None, link_token: str = token) -> Any:
        data = {"token": link_token, "password": password, "csrf_token": csrf}
        return client.post("/login/reset", data={**data, "password_again": again or password})

    for password, again, problem in (
        (NEW_PASSWORD, NEW_PASSWORD + "x", "not the same"),
        ("too short", None, "At least 12 characters."),
        ("x" * 1025, None, "At most 1024 characters."),
        ("twelve chars\x00nul", None, "NUL"),
    ):
        refused = post(password, again)
        assert refused.status_code == 422
        assert problem in refused.get_data(as_text=True)
        assert refused.headers["Referrer-Policy"] == "no-referrer"
        session.expire_all()
        assert session.get(User, admin.id).password_hash == hash_before
        assert signed_in.get("/api/v1/me").status_code == 200  # nothing changed
    assert post(NEW_PASSWORD, link_token=token + "x").status_code == 400

    done = post(NEW_PASSWORD)
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    assert "signed out everywhere" in client.get("/login").get_data(as_text=True)
    assert signed_in.get("/api/v1/me").status_code == 401
    assert session.scalars(select(StaffSession).where(StaffSession.user_id == admin.id)).all() == []
    csrf = csrf_from(client.get("/login").get_data(as_text=True))  # a new session: new token
    assert post(NEW_PASSWORD).status_code == 400  # single use
    assert client.get("/" + path).status_code == 400

    fresh = app.test_client()
    page = fresh.get("/login").get_data(as_text=True)
    old = fresh.post(
        "/login",
        data={"email": admin.email, "password": TEST_PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert old.status_code == 401
    new = fresh.post(
        "/login",
        data={"email": admin.email, "password": NEW_PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert new.headers["Location"].endswith("/login/code")  # the second factor is still asked
    assert fresh.get("/api/v1/me").status_code == 401

    (reset,) = events(session, "auth.password_reset")
    assert reset.subject_id == str(admin.id)
    assert reset.fields == ["password"]
    failed = events(session, "auth.password_reset_failed")
    assert len(failed) == 2
    assert all(e.details == {"reason": "link_not_valid"} for e in failed)
    told = mails_to(app, session, run_jobs, admin.email)
    assert [row.payload["template"] for row, _ in told] == ["password_reset", "password_changed"]
    for text in (everything_recorded(session), json.dumps(log_lines()), told[1][1]):
        assert token not in text
        assert NEW_PASSWORD not in text


def test_a_link_expires_and_only_the_newest_works(
    app: Flask, client: Any, session: Any, people: dict[str, Any], run_jobs: Any
) -> None:
    intake = people["intake"]
    ask_for_link(client, intake.email)
    ask_for_link(client, intake.email)
    first, second = (
        token_of(link_in(mail)) for _, mail in mails_to(app, session, run_jobs, intake.email)
    )
    assert client.get(f"/login/reset?token={first}").status_code == 400  # asked again: void
    assert client.get(f"/login/reset?token={second}").status_code == 200
    data = {"token": second, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    with clock.frozen_at(clock.now() + timedelta(minutes=31)):
        csrf = csrf_from(client.get("/login").get_data(as_text=True))
        assert client.get(f"/login/reset?token={second}").status_code == 400
        expired = client.post("/login/reset", data={**data, "csrf_token": csrf})
        assert expired.status_code == 400
        assert "does not work" in expired.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, intake.id).password_hash is not None
    assert events(session, "auth.password_reset") == []
    for junk in ("", "x" * 500, "<script>", "\u202e"):
        assert client.get("/login/reset", query_string={"token": junk}).status_code == 400


def test_requests_are_limited_per_address_and_per_client(
    app: Flask, client: Any, session: Any, people: dict[str, Any], monkeypatch: Any
) -> None:
    for address in (people["intake"].email, "nobody@agency.example"):
        answers = [ask_for_link(client, address).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429], address  # the same for a known and unknown one
    monkeypatch.setitem(app.config, "PASSWORD_RESET_REQUESTS_PER_ADDRESS", 8)
    answers = [ask_for_link(client, f"someone{i}@agency.example").status_code for i in range(3)]
    assert answers == [200, 200, 429]  # 6 earlier requests and these: the 9th is refused
    assert len(session.scalars(select(PasswordResetToken)).all()) == 1
    with clock.frozen_at(clock.now() + timedelta(hours=1, seconds=1)):
        assert ask_for_link(client, people["intake"].email).status_code == 200


def test_bad_links_are_limited_per_client(
    client: Any, session: Any, people: dict[str, Any]
) -> None:
    csrf = csrf_from(client.get("/login").get_data(as_text=True))
    data = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD, "csrf_token": csrf}
    for attempt in range(5):
        answer = client.post("/login/reset", data={**data, "token": f"guess{attempt}"})
        assert answer.status_code == 400
    limited = client.post("/login/reset", data={**data, "token": "guess5"})
    assert limited.status_code == 429
    assert limited.headers["Referrer-Policy"] == "no-referrer"


def test_codes_survive_a_secret_key_change_through_the_fallbacks(
    app: Flask, session: Any, people: dict[str, Any], monkeypatch: Any
) -> None:
    admin, code = people["admin"], people["admin_codes"][0]
    old = app.config["SECRET_KEY"]
    monkeypatch.setitem(app.config, "SECRET_KEY", "another secret key, at least 32 chars")
    with transaction():
        assert not codes.spend(admin.id, code)  # made under the old key
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old])
    with transaction():
        assert codes.spend(admin.id, code)
        assert not codes.spend(admin.id, code)
