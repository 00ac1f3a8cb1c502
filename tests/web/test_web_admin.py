"""Administration pages (users, API clients, webhooks, services, agency) and the mail folder."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.agencies.models import Agency, AgencyStatus, User
from referral_hub.audit.models import AuditEvent
from referral_hub.auth.models import ApiClient
from referral_hub.core.db import transaction
from referral_hub.directory.models import Service
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxMessage, OutboxStatus
from referral_hub.notifications import mailbox, webhooks
from referral_hub.notifications.models import Webhook
from tests import factories
from tests.factories import csrf_from, sign_in

# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    home: Agency
    other: Agency
    boss: User  # agency_admin of home
    boss_totp: str
    hub: User  # hub_admin (of the hub's own agency)
    hub_totp: str
    worker: User  # intake at home, with a password
    staff: User  # intake at home
    stranger: User  # intake at other


@pytest.fixture
def world(session: Any) -> World:
    with transaction():
        home = factories.agency(name=f"Harbor {uuid.uuid4().hex[:6]}")
        other = factories.agency(name=f"Elsewhere {uuid.uuid4().hex[:6]}")
        hub_agency = factories.agency(name=f"Hub office {uuid.uuid4().hex[:6]}")
        boss = factories.with_password(factories.user(home, ["agency_admin"]))
        boss_totp = factories.with_totp(boss)
        hub = factories.with_password(factories.user(hub_agency, ["hub_admin"]))
        hub_totp = factories.with_totp(hub)
        worker = factories.with_password(factories.user(home, ["intake"]))
        staff = factories.user(home, ["intake"])
        stranger = factories.user(other, ["intake"])
    return World(home, other, boss, boss_totp, hub, hub_totp, worker, staff, stranger)


def as_boss(client: Any, w: World) -> str:
    return sign_in(client, w.boss, w.boss_totp)


def as_hub(client: Any, w: World) -> str:
    return sign_in(client, w.hub, w.hub_totp)


def count(session: Any, model: Any, *where: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)))


def audited(session: Any, action: str) -> int:
    return count(session, AuditEvent, AuditEvent.action == action)


def page(response: Any) -> str:
    return str(response.get_data(as_text=True))


def error_beside(html: str, field: str) -> str:
    fid = "f-" + field.replace(".", "-")
    match = re.search(rf'id="{fid}-error" class="field-error">([^<]+)<', html)
    assert match, f"no error beside {field}"
    return match.group(1)


# --- who may look -------------------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/users",
    "/admin/api-clients",
    "/admin/webhooks",
    "/admin/services",
    "/admin/services/new",
    "/admin/agency",
]


def test_anonymous_visitors_are_sent_to_sign_in(client: Any, world: World) -> None:
    for path in [*ADMIN_PAGES, "/mail/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=" + path


def test_staff_without_an_admin_role_are_refused(client: Any, world: World) -> None:
    sign_in(client, world.worker)
    for path in [*ADMIN_PAGES, "/mail/"]:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "This page is for" in page(response)


def test_every_admin_page_renders_for_both_kinds_of_admin(client: Any, world: World) -> None:
    as_boss(client, world)
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert world.home.name in page(response)
        assert 'aria-current="page"' in page(response)
    assert "Agency you are administering" not in page(client.get("/admin/users"))
    assert client.get("/mail/").status_code == 403  # the mail folder is the hub's
    client.post("/logout", data={"csrf_token": csrf_from(page(client.get("/admin/users")))})

    as_hub(client, world)
    for path in ADMIN_PAGES:
        response = client.get(f"{path}?agency={world.other.id}")
        assert response.status_code == 200, path
    users = page(client.get(f"/admin/users?agency={world.other.id}"))
    assert "Agency you are administering" in users
    assert world.stranger.email in users
    assert client.get("/mail/").status_code == 200


def test_an_agency_admin_cannot_reach_another_agencys_records(client: Any, world: World) -> None:
    with transaction():
        theirs = factories.directory_service(world.other)
        factories.api_client(world.other, ["directory:read"])
    as_boss(client, world)
    elsewhere = f"?agency={world.other.id}"
    for path in ["/admin/users", "/admin/api-clients", "/admin/services", "/admin/agency"]:
        assert client.get(path + elsewhere).status_code == 404, path
    assert client.get(f"/admin/users/{world.stranger.id}").status_code == 404
    assert client.get(f"/admin/services/{theirs.id}").status_code == 404
    assert client.get(f"/admin/users/{uuid.uuid4()}").status_code == 404
    listed = page(client.get("/admin/users"))
    assert world.staff.email in listed
    assert world.stranger.email not in listed


def test_an_agency_admin_cannot_change_another_agencys_records(
    client: Any, session: Any, world: World
) -> None:
    with transaction():
        theirs = factories.directory_service(world.other, name="Their shelter")
        factories.api_client(world.other, ["directory:read"])
    theirs_client = session.scalars(
        select(ApiClient).where(ApiClient.agency_id == world.other.id)
    ).one()
    csrf = as_boss(client, world)
    before = count(session, AuditEvent)
    tries: list[tuple[str, dict[str, Any]]] = [
        (f"/admin/users/{world.stranger.id}", {"display_name": "X", "roles": ["intake"]}),
        (f"/admin/users/{world.stranger.id}/active", {"is_active": "false"}),
        (f"/admin/users/{world.stranger.id}/reset-second-factor", {}),
        (f"/admin/services/{theirs.id}", {"name": "Renamed"}),
        (
            f"/admin/api-clients/{theirs_client.id}/revoke",
            {"agency": str(world.other.id)},
        ),
        (
            "/admin/users",
            {
                "agency": str(world.other.id),
                "display_name": "Y",
                "email": "y@x.org",
                "roles": ["intake"],
            },
        ),
    ]
    for path, form in tries:
        response = client.post(path, data={"csrf_token": csrf, **form})
        assert response.status_code == 404, path
    session.expire_all()
    assert session.get(User, world.stranger.id).is_active
    assert session.get(Service, theirs.id).name == "Their shelter"
    assert session.get(ApiClient, theirs_client.id).is_active
    # nothing changed; each refusal is on the record as a denied look at another agency
    assert count(session, AuditEvent, AuditEvent.action != "access.denied") == before
    assert audited(session, "access.denied") == len(tries)


# --- users --------------------------------------------------------------------------------------


def test_the_staff_list_shows_roles_in_words_and_second_factor(client: Any, world: World) -> None:
    as_boss(client, world)
    html = page(client.get("/admin/users"))
    assert world.boss.display_name in html
    assert world.staff.email in html
    assert "Agency admin" in html
    assert "Intake" in html
    assert "/account/second-factor" in html
    # agency admins are not offered the hub-wide roles
    assert 'value="coordinator"' not in html
    assert 'value="hub_admin"' not in html
    assert 'value="agency_admin"' in html
    assert "Off" in html  # staff without a second factor, in words


def test_creating_a_user_is_audited_and_mails_them(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "display_name": "Rosa Diaz",
            "email": "Rosa.Diaz@Harbor.example",
            "roles": ["intake", "provider"],
            "roles.present": "1",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    made = session.scalars(select(User).where(User.email == "rosa.diaz@harbor.example")).one()
    assert made.agency_id == world.home.id
    assert made.roles == ["intake", "provider"]
    assert audited(session, "user.created") == 1 + 5  # five made by the fixture, one here
    followed = page(client.get("/admin/users"))
    assert "Account created for Rosa Diaz" in followed
    assert "rosa.diaz@harbor.example" in followed


def test_a_taken_e_mail_is_refused_beside_the_field_and_nothing_written(
    client: Any, session: Any, world: World
) -> None:
    csrf = as_boss(client, world)
    users_before, audit_before = count(session, User), count(session, AuditEvent)
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "display_name": "Typed Name",
            "email": world.stranger.email.upper(),
            "roles": "intake",
            "roles.present": "1",
        },
    )
    assert response.status_code == 409
    html = page(response)
    assert error_beside(html, "email") == "Already taken."
    assert 'value="Typed Name"' in html  # nothing typed is lost
    assert count(session, User) == users_before
    assert count(session, AuditEvent) == audit_before


def test_an_agency_admin_granting_coordinator_is_refused_beside_roles(
    client: Any, session: Any, world: World
) -> None:
    csrf = as_boss(client, world)
    users_before, audit_before = count(session, User), count(session, AuditEvent)
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "display_name": "Would Be",
            "email": "would.be@harbor.example",
            "roles": ["intake", "coordinator"],
            "roles.present": "1",
        },
    )
    assert response.status_code == 403
    html = page(response)
    assert 'id="f-roles-error"' in html
    assert "Only a hub administrator may grant" in error_beside(html, "roles")
    assert 'value="would.be@harbor.example"' in html
    # nothing written; the refused grant itself is on the record, as for the API
    assert count(session, User) == users_before
    assert count(session, AuditEvent, AuditEvent.action != "access.denied") == audit_before
    assert audited(session, "access.denied") == 1

    edit = client.post(
        f"/admin/users/{world.staff.id}",
        data={"csrf_token": csrf, "display_name": "Staff", "roles": ["coordinator"]},
    )
    assert edit.status_code == 403
    assert "Only a hub administrator" in error_beside(page(edit), "roles")
    session.expire_all()
    assert session.get(User, world.staff.id).roles == ["intake"]


def test_a_bad_form_is_422_beside_the_fields(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    before = count(session, User)
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "display_name": "",
            "email": "not-an-email",
            "roles.present": "1",
        },
    )
    assert response.status_code == 422
    html = page(response)
    for field in ("display_name", "email", "roles"):
        error_beside(html, field)
    assert count(session, User) == before


def test_a_hub_admin_grants_coordinator_in_another_agency(
    client: Any, session: Any, world: World
) -> None:
    csrf = as_hub(client, world)
    html = page(client.get(f"/admin/users/{world.stranger.id}"))
    assert 'value="coordinator"' in html
    response = client.post(
        f"/admin/users/{world.stranger.id}",
        data={"csrf_token": csrf, "display_name": "Renamed", "roles": ["intake", "coordinator"]},
    )
    assert response.status_code == 302
    assert (
        response.headers["Location"] == f"/admin/users/{world.stranger.id}?agency={world.other.id}"
    )
    session.expire_all()
    person = session.get(User, world.stranger.id)
    assert person.roles == ["coordinator", "intake"]
    assert person.display_name == "Renamed"
    assert audited(session, "user.roles_changed") == 1
    assert audited(session, "user.updated") == 1


def test_disable_enable_and_reset_second_factor(client: Any, session: Any, world: World) -> None:
    with transaction():
        factories.with_totp(world.staff)
    csrf = as_boss(client, world)
    html = page(client.get(f"/admin/users/{world.staff.id}"))
    assert "hx-confirm=" in html
    assert "Reset sign-in codes" in html
    off = client.post(
        f"/admin/users/{world.staff.id}/active", data={"csrf_token": csrf, "is_active": "false"}
    )
    assert off.status_code == 302
    session.expire_all()
    assert not session.get(User, world.staff.id).is_active
    assert "Disabled" in page(client.get("/admin/users"))
    on = client.post(
        f"/admin/users/{world.staff.id}/active", data={"csrf_token": csrf, "is_active": "true"}
    )
    assert on.status_code == 302
    reset = client.post(
        f"/admin/users/{world.staff.id}/reset-second-factor", data={"csrf_token": csrf}
    )
    assert reset.status_code == 302
    session.expire_all()
    person = session.get(User, world.staff.id)
    assert person.is_active
    assert person.totp_secret is None
    for action in ("user.disabled", "user.enabled", "auth.totp_reset"):
        assert audited(session, action) == 1, action


def test_an_admin_cannot_disable_themselves(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    response = client.post(
        f"/admin/users/{world.boss.id}/active", data={"csrf_token": csrf, "is_active": "false"}
    )
    assert response.status_code == 409
    assert "You cannot disable yourself" in page(response)
    session.expire_all()
    assert session.get(User, world.boss.id).is_active


def test_setting_a_password(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    short = client.post(
        f"/admin/users/{world.staff.id}/password", data={"csrf_token": csrf, "password": "short"}
    )
    assert short.status_code == 422
    assert error_beside(page(short), "password") == "At least 12 characters."
    assert audited(session, "user.password_set") == 0
    good = client.post(
        f"/admin/users/{world.staff.id}/password",
        data={"csrf_token": csrf, "password": "a long enough passphrase"},
    )
    assert good.status_code == 302
    assert audited(session, "user.password_set") == 1
    assert "a long enough passphrase" not in page(client.get(f"/admin/users/{world.staff.id}"))


def test_an_agency_admin_cannot_take_over_a_hub_wide_account_of_their_agency(
    client: Any, session: Any, world: World
) -> None:
    """Issue 14, defect 4: no password, second factor, name or status of a coordinator or
    hub admin from an agency admin (who could then sign in as them); refusals on the record."""
    with transaction():
        overseer = factories.with_password(factories.user(world.home, ["coordinator"]))
        factories.with_totp(overseer)
    session.expire_all()
    before = session.get(User, overseer.id)
    password_hash, totp_secret = before.password_hash, before.totp_secret
    csrf = as_boss(client, world)
    assert "only a hub administrator may change it" in page(
        client.get(f"/admin/users/{overseer.id}")
    )
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("password", {"password": "a takeover passphrase"}),
        ("reset-second-factor", {}),
        ("active", {"is_active": "false"}),
        ("", {"display_name": "Renamed", "roles": ["coordinator"]}),
    ]
    for path, form in attempts:
        url = f"/admin/users/{overseer.id}/{path}".rstrip("/")
        response = client.post(url, data={"csrf_token": csrf, **form})
        assert response.status_code == 403, path
        assert "Only a hub administrator" in page(response)
    session.expire_all()
    after = session.get(User, overseer.id)
    assert (after.password_hash, after.totp_secret) == (password_hash, totp_secret)
    assert after.is_active
    assert after.display_name != "Renamed"
    denied = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "access.denied", AuditEvent.subject_id == str(overseer.id)
        )
    ).all()
    assert len(denied) == len(attempts)
    for action in ("user.password_set", "auth.totp_reset", "user.disabled", "user.updated"):
        assert audited(session, action) == 0, action
    # a hub administrator may, and it is on the record
    client.post("/logout", data={"csrf_token": csrf})
    csrf = as_hub(client, world)
    done = client.post(
        f"/admin/users/{overseer.id}/password",
        data={"csrf_token": csrf, "password": "a long enough passphrase"},
    )
    assert done.status_code == 302
    assert audited(session, "user.password_set") == 1


def test_an_api_client_with_admin_scope_cannot_change_a_coordinator(
    client: Any, session: Any, world: World
) -> None:
    with transaction():
        overseer = factories.user(world.home, ["coordinator"])
        client_id, secret = factories.api_client(world.home, ["admin"])
    bearer = factories.token(client, client_id, secret, "admin")
    response = client.patch(
        f"/api/v1/users/{overseer.id}",
        json={"is_active": False},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    session.expire_all()
    assert session.get(User, overseer.id).is_active


# --- API clients --------------------------------------------------------------------------------


def test_an_api_client_secret_is_shown_exactly_once(
    client: Any, session: Any, world: World
) -> None:
    csrf = as_boss(client, world)
    html = page(client.get("/admin/api-clients"))
    assert "Read the service directory" in html  # scopes are described
    assert 'value="audit:read"' not in html  # a hub-only scope is not offered
    response = client.post(
        "/admin/api-clients",
        data={
            "csrf_token": csrf,
            "name": "Case system",
            "scopes": ["directory:read", "referrals:read"],
            "scopes.present": "1",
        },
    )
    assert response.status_code == 200
    shown = page(response)
    secret = re.search(r'<code class="secret">(rhs_[^<]+)</code>', shown)
    assert secret, shown
    assert shown.count(secret.group(1)) == 1
    assert "shown only this once" in shown
    assert response.headers["Cache-Control"].startswith("no-store")
    made = session.scalars(select(ApiClient).where(ApiClient.agency_id == world.home.id)).one()
    assert made.client_id in shown
    assert made.scopes == ["directory:read", "referrals:read"]
    assert audited(session, "api_client.created") == 1
    # never again: not on the list, not in a flash, not in the session cookie
    later = page(client.get("/admin/api-clients"))
    assert secret.group(1) not in later
    assert made.client_id in later
    cookie = client.get_cookie("session") or client.get_cookie("hub_session")
    assert cookie is None or secret.group(1) not in cookie.value


def test_revoking_an_api_client(client: Any, session: Any, world: World) -> None:
    with transaction():
        factories.api_client(world.home, ["directory:read"])
    made = session.scalars(select(ApiClient).where(ApiClient.agency_id == world.home.id)).one()
    csrf = as_boss(client, world)
    assert "hx-confirm" in page(client.get("/admin/api-clients"))
    response = client.post(f"/admin/api-clients/{made.id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 302
    session.expire_all()
    assert not session.get(ApiClient, made.id).is_active
    assert audited(session, "api_client.revoked") == 1
    assert "Revoked" in page(client.get("/admin/api-clients"))


def test_an_api_client_needs_a_scope_and_a_name(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    response = client.post(
        "/admin/api-clients", data={"csrf_token": csrf, "name": "X", "scopes.present": "1"}
    )
    assert response.status_code == 422
    html = page(response)
    error_beside(html, "name")
    error_beside(html, "scopes")
    assert count(session, ApiClient, ApiClient.agency_id == world.home.id) == 0
    refused = client.post(
        "/admin/api-clients",
        data={"csrf_token": csrf, "name": "Auditor", "scopes": "audit:read", "scopes.present": "1"},
    )
    assert refused.status_code == 403
    assert "audit:read" in error_beside(page(refused), "scopes")


def test_a_hub_admin_registers_a_client_for_another_agency(
    client: Any, session: Any, world: World
) -> None:
    csrf = as_hub(client, world)
    assert 'value="audit:read"' in page(client.get(f"/admin/api-clients?agency={world.other.id}"))
    response = client.post(
        "/admin/api-clients",
        data={
            "csrf_token": csrf,
            "agency": str(world.other.id),
            "name": "Their system",
            "scopes": "directory:read",
            "scopes.present": "1",
        },
    )
    assert response.status_code == 200
    assert "rhs_" in page(response)
    assert count(session, ApiClient, ApiClient.agency_id == world.other.id) == 1


# --- webhooks -----------------------------------------------------------------------------------


def test_subscribing_shows_the_signing_secret_once(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    response = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": csrf,
            "url": "https://cases.harbor.example/hub",
            "events": ["referral.sent", "referral.accepted"],
            "events.present": "1",
        },
    )
    assert response.status_code == 200
    secret = re.search(r'<code class="secret">(whsec_[^<]+)</code>', page(response))
    assert secret
    assert page(response).count(secret.group(1)) == 1
    hook = session.scalars(select(Webhook).where(Webhook.agency_id == world.home.id)).one()
    assert hook.events == ["referral.accepted", "referral.sent"]
    assert audited(session, "webhook.created") == 1
    later = page(client.get("/admin/webhooks"))
    assert "https://cases.harbor.example/hub" in later
    assert secret.group(1) not in later


def test_a_bad_webhook_url_is_422_beside_the_field(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    response = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": csrf,
            "url": "not a url",
            "events": "referral.sent",
            "events.present": "1",
        },
    )
    assert response.status_code == 422
    html = page(response)
    assert error_beside(html, "url") == "Not an http or https URL."
    assert 'value="not a url"' in html
    assert count(session, Webhook, Webhook.agency_id == world.home.id) == 0
    assert audited(session, "webhook.created") == 0


def test_the_delivery_log_and_disabling(client: Any, session: Any, world: World) -> None:
    with transaction():
        boss = factories.actor_for(world.boss)
        hook, _ = webhooks.subscribe(boss, url="https://x.example/in", events=["referral.sent"])
        for status, error in [
            (OutboxStatus.DEAD, "receiver answered 500"),
            (OutboxStatus.DELIVERED, None),
        ]:
            db.session.add(
                OutboxMessage(
                    kind="webhook",
                    target=str(hook.id),
                    payload={"webhook_id": str(hook.id), "event": "referral.sent"},
                    status=status,
                    attempts=8 if error else 1,
                    last_error=error,
                )
            )
    csrf = as_boss(client, world)
    log = page(client.get(f"/admin/webhooks/{hook.id}"))
    assert "Gave up" in log
    assert "Delivered" in log
    assert "Your system answered with an error (HTTP status 500)." in log
    dead = page(client.get(f"/admin/webhooks/{hook.id}?status=dead"))
    assert "Gave up" in dead
    assert "<td>Delivered</td>" not in dead
    assert client.get(f"/admin/webhooks/{uuid.uuid4()}").status_code == 404
    off = client.post(f"/admin/webhooks/{hook.id}/disable", data={"csrf_token": csrf})
    assert off.status_code == 302
    session.expire_all()
    assert not session.get(Webhook, hook.id).is_active
    assert audited(session, "webhook.disabled") == 1


def test_another_agencys_webhook_log_is_missing(client: Any, world: World) -> None:
    with transaction():
        theirs = factories.with_password(factories.user(world.other, ["agency_admin"]))
        hook, _ = webhooks.subscribe(
            factories.actor_for(theirs), url="https://y.example/in", events=["referral.sent"]
        )
    csrf = as_boss(client, world)
    assert client.get(f"/admin/webhooks/{hook.id}").status_code == 404
    assert (
        client.post(f"/admin/webhooks/{hook.id}/disable", data={"csrf_token": csrf}).status_code
        == 404
    )


def test_a_hub_admin_is_told_webhooks_are_each_agencys(client: Any, world: World) -> None:
    as_hub(client, world)
    html = page(client.get("/admin/webhooks"))
    assert "Each agency's own administrator manages its webhooks" in html
    assert 'name="url"' not in html


# --- services -----------------------------------------------------------------------------------


def test_the_services_list_shows_every_status_and_capacity(client: Any, world: World) -> None:
    with transaction():
        open_one = factories.directory_service(world.home, name="Harbor beds")
        factories.capacity(open_one, total=10, available=3)
        factories.directory_service(world.home, name="Old drop-in", status="inactive")
        factories.directory_service(world.other, name="Not ours")
    as_boss(client, world)
    html = page(client.get("/admin/services"))
    assert "Harbor beds" in html
    assert "3 of 10 beds free" in html
    assert "Old drop-in" in html
    assert "Inactive" in html
    assert "Not ours" not in html
    assert "/provider/capacity" in html


def test_creating_a_service(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    form = {
        "csrf_token": csrf,
        "name": "Night shelter",
        "category": "emergency_shelter",
        "status": "active",
        "description": "Beds for the night.",
        "eligibility.min_age": "18",
        "eligibility.genders": ["female", "nonbinary"],
        "eligibility.genders.present": "1",
        "eligibility.languages_text": "en, es",
        "eligibility.no_id_needed.present": "1",
        "eligibility.no_id_needed": "on",
        "location.confidential.present": "1",
        "location.confidential": "on",
        "location.city": "Riverbend",
        "location.address.street": "1 Hidden Way",
        "location.latitude": "41.9",
        "location.longitude": "-87.6",
    }
    response = client.post("/admin/services/new", data=form)
    assert response.status_code == 302, page(response)
    made = session.scalars(select(Service).where(Service.agency_id == world.home.id)).one()
    assert made.name == "Night shelter"
    assert made.confidential
    assert made.min_age == 18
    assert made.languages == ["en", "es"]
    assert made.no_id_needed
    assert audited(session, "service.created") == 1
    edit = page(client.get(f"/admin/services/{made.id}"))
    assert "1 Hidden Way" in edit
    assert 'value="en, es"' in edit


def test_a_bad_service_form_keeps_what_was_typed(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    response = client.post(
        "/admin/services/new",
        data={
            "csrf_token": csrf,
            "name": "Drop-in",
            "eligibility.min_age": "forty",
            "eligibility.languages_text": "english!",
            "location.country": "usa",
            "location.confidential.present": "1",
        },
    )
    assert response.status_code == 422
    html = page(response)
    error_beside(html, "category")
    error_beside(html, "eligibility.min_age")
    error_beside(html, "location.country")
    assert 'id="f-eligibility-languages_text-error"' in html
    assert 'value="Drop-in"' in html
    assert 'value="english!"' in html
    assert count(session, Service, Service.agency_id == world.home.id) == 0


def test_editing_a_service(client: Any, session: Any, world: World) -> None:
    with transaction():
        mine = factories.directory_service(world.home, name="Clinic", description="Old text")
    csrf = as_boss(client, world)
    html = page(client.get(f"/admin/services/{mine.id}"))
    assert 'value="Clinic"' in html
    assert "Old text" in html
    response = client.post(
        f"/admin/services/{mine.id}",
        data={
            "csrf_token": csrf,
            "name": "Clinic (walk-in)",
            "category": "emergency_shelter",
            "status": "temporarily_closed",
            "description": "",
            "location.confidential.present": "1",
        },
    )
    assert response.status_code == 302
    session.expire_all()
    changed = session.get(Service, mine.id)
    assert changed.name == "Clinic (walk-in)"
    assert changed.description is None
    assert changed.status.value == "temporarily_closed"
    assert audited(session, "service.updated") == 1


def test_a_hub_admin_edits_another_agencys_service_without_its_address(
    client: Any, session: Any, world: World
) -> None:
    with transaction():
        theirs = factories.directory_service(
            world.other,
            name="Safe house",
            location={"confidential": True, "city": "Lakeside", "address": {"street": "9 Quiet"}},
        )
    csrf = as_hub(client, world)
    html = page(client.get(f"/admin/services/{theirs.id}"))
    assert "9 Quiet" not in html
    assert 'name="location.city"' not in html
    response = client.post(
        f"/admin/services/{theirs.id}",
        data={
            "csrf_token": csrf,
            "name": "Safe house",
            "category": "emergency_shelter",
            "status": "active",
            "location.confidential.present": "1",  # posted anyway: ignored
        },
    )
    assert response.status_code == 302
    session.expire_all()
    kept = session.get(Service, theirs.id)
    assert kept.confidential
    assert kept.city == "Lakeside"
    assert kept.address_encrypted is not None


# --- the agency ---------------------------------------------------------------------------------


def test_an_agency_admin_edits_their_agency(client: Any, session: Any, world: World) -> None:
    csrf = as_boss(client, world)
    html = page(client.get("/admin/agency"))
    assert "Suspend" not in html
    response = client.post(
        "/admin/agency",
        data={
            "csrf_token": csrf,
            "name": world.home.name,
            "city": "Riverbend",
            "region": "",
            "is_victim_service_provider.present": "1",
            "is_victim_service_provider": "on",
        },
    )
    assert response.status_code == 302
    session.expire_all()
    agency = session.get(Agency, world.home.id)
    assert agency.city == "Riverbend"
    assert agency.is_victim_service_provider
    assert audited(session, "agency.updated") == 1
    refused = client.post(
        "/admin/agency/status",
        data={"csrf_token": csrf, "agency": str(world.home.id), "status": "suspended"},
    )
    assert refused.status_code == 403
    short = client.post("/admin/agency", data={"csrf_token": csrf, "name": "X"})
    assert short.status_code == 422
    assert error_beside(page(short), "name")


def test_a_hub_admin_suspends_and_reactivates_an_agency(
    client: Any, session: Any, world: World
) -> None:
    csrf = as_hub(client, world)
    html = page(client.get(f"/admin/agency?agency={world.other.id}"))
    assert "Suspend" in html
    assert "hx-confirm" in html
    off = client.post(
        "/admin/agency/status",
        data={"csrf_token": csrf, "agency": str(world.other.id), "status": "suspended"},
    )
    assert off.status_code == 302
    assert off.headers["Location"] == f"/admin/agency?agency={world.other.id}"
    session.expire_all()
    assert session.get(Agency, world.other.id).status == AgencyStatus.SUSPENDED
    assert "Reactivate" in page(client.get(off.headers["Location"]))
    client.post(
        "/admin/agency/status",
        data={"csrf_token": csrf, "agency": str(world.other.id), "status": "active"},
    )
    session.expire_all()
    assert session.get(Agency, world.other.id).status == AgencyStatus.ACTIVE
    assert audited(session, "agency.suspended") == 1
    assert audited(session, "agency.reinstated") == 1


# --- the mail folder ----------------------------------------------------------------------------


def _write_mail(folder: Path, name: str, subject: str, to: str, body: str, at: float) -> None:
    import os
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "hub@example.org"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(bytes(message))
    os.utime(path, (at, at))


def test_mailbox_lists_newest_first_and_refuses_odd_names(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    _write_mail(folder, "a1.eml", "Old", "a@x.org", "first", 1_000_000)
    _write_mail(folder, "b2.eml", "New", "b@x.org", "second <b>bold</b>", 2_000_000)
    _write_mail(folder, "c3.eml", "Café ✓", "c@x.org", "third", 1_500_000)
    (folder / "notes.txt").write_text("not mail")
    (tmp_path / "secret.eml").write_text("Subject: secret\n\nkeep out")
    messages, total = mailbox.list_messages(folder)
    assert [m.subject for m in messages] == ["New", "Café ✓", "Old"]
    assert total == 3
    assert [m.subject for m in mailbox.list_messages(folder, limit=1)[0]] == ["New"]
    assert messages[0].to == "b@x.org"
    found = mailbox.read_message(folder, "b2.eml")
    assert found is not None
    assert found.body.strip() == "second <b>bold</b>"
    for bad in ["../secret.eml", "..", "notes.txt", "/etc/passwd", "a1.eml/..", ".eml", "a b.eml"]:
        assert mailbox.read_message(folder, bad) is None, bad
    assert mailbox.read_message(folder, "missing.eml") is None
    assert mailbox.list_messages(tmp_path / "none") == ([], 0)


def test_the_mail_folder_page(app: Flask, client: Any, world: World) -> None:
    folder = Path(app.instance_path) / app.config["MAIL_FOLDER"]
    name = f"{uuid.uuid4()}.eml"
    _write_mail(
        folder, name, "Your referral hub account", "new@x.org", "Hi <script>x</script>", 4e9
    )
    try:
        as_hub(client, world)
        listing = page(client.get("/mail/"))
        assert "Your referral hub account" in listing
        assert "new@x.org" in listing
        assert f"/mail/{name}" in listing
        shown = client.get(f"/mail/{name}")
        assert shown.status_code == 200
        assert "Hi &lt;script&gt;x&lt;/script&gt;" in page(shown)
        assert "<script>x</script>" not in page(shown)
        for bad in ["..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e", "x.txt", "..%5Csecret.eml"]:
            assert client.get(f"/mail/{bad}").status_code == 404, bad
    finally:
        (folder / name).unlink()


def test_the_mail_folder_says_smtp_when_configured(
    app: Flask, client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_hub(client, world)
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.example.org")
    html = page(client.get("/mail/"))
    assert "mail server (SMTP)" in html
    assert "<tbody>" not in html


def test_a_new_users_e_mail_lands_in_the_mail_folder(
    app: Flask, client: Any, session: Any, world: World, run_jobs: Any
) -> None:
    folder = Path(app.instance_path) / app.config["MAIL_FOLDER"]
    before = set(folder.glob("*.eml")) if folder.exists() else set()
    csrf = as_hub(client, world)
    client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "agency": str(world.other.id),
            "display_name": "Newcomer",
            "email": "newcomer@elsewhere.example",
            "roles": "intake",
            "roles.present": "1",
        },
    )
    run_jobs()  # on rq the e-mail is a queued job until a worker takes it
    try:
        listing = page(client.get("/mail/"))
        assert "newcomer@elsewhere.example" in listing
    finally:
        for path in set(folder.glob("*.eml")) - before:
            path.unlink()
