"""Administering access: suspension, roles, rehashing, the CLI, and the audit trail of it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select

from referral_hub.agencies.models import AgencyStatus, User
from referral_hub.audit.models import AuditEvent
from referral_hub.auth import admin
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from tests import factories
from tests.factories import TEST_PASSWORD, sign_in


def test_a_suspended_agencys_staff_are_refused_on_their_next_request(
    client: Any, session: Any
) -> None:
    with transaction():
        agency = factories.agency()
        person = factories.with_password(factories.user(agency))
    sign_in(client, person)
    assert client.get("/api/v1/me").status_code == 200
    with transaction():
        admin.set_agency_status(SYSTEM, agency.id, AgencyStatus.SUSPENDED)
    assert client.get("/api/v1/me").status_code == 401
    assert "agency.suspended" in set(session.scalars(select(AuditEvent.action)))


def test_an_old_password_hash_is_upgraded_at_sign_in(app: Flask, client: Any, session: Any) -> None:
    with transaction():
        person = factories.user(factories.agency())
        person.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
            TEST_PASSWORD
        )
    old = person.password_hash
    sign_in(client, person)
    session.expire_all()
    new = session.get(User, person.id).password_hash
    assert new != old
    assert f"m={app.config['ARGON2_MEMORY_KIB']},t={app.config['ARGON2_TIME_COST']}" in new


def test_role_changes_are_audited_and_end_sessions(client: Any, session: Any) -> None:
    with transaction():
        agency = factories.agency()
        person = factories.with_password(factories.user(agency, ["intake"]))
    sign_in(client, person)
    with transaction():
        admin.update_user(SYSTEM, person.id, roles=["intake", "provider"])
    assert client.get("/api/v1/me").status_code == 401  # new roles take effect at next sign-in
    changed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.roles_changed")
    ).one()
    assert changed.details == {"before": ["intake"], "after": ["intake", "provider"]}


def test_only_hub_admins_grant_hub_wide_roles_and_nobody_disables_themselves(
    app: Flask, client: Any, session: Any
) -> None:
    with transaction():
        agency = factories.agency()
        boss = factories.with_password(factories.user(agency, ["agency_admin"]))
        secret = factories.with_totp(boss)
        staff = factories.user(agency, ["intake"])
    csrf = sign_in(client, boss, secret)
    for hub_wide in ("hub_admin", "coordinator"):  # both see across agencies
        grant = client.patch(
            f"/api/v1/users/{staff.id}", json={"roles": [hub_wide]}, headers={"X-CSRFToken": csrf}
        )
        assert grant.status_code == 403
    assert session.get(type(staff), staff.id).roles == ["intake"]
    myself = client.patch(
        f"/api/v1/users/{boss.id}", json={"is_active": False}, headers={"X-CSRFToken": csrf}
    )
    assert myself.status_code == 409


def test_cli_creates_a_client_whose_secret_gets_a_token(
    app: Flask, client: Any, session: Any
) -> None:
    with transaction():
        agency = factories.agency(name="Cli Agency")
    result = app.test_cli_runner().invoke(
        args=[
            "hub",
            "create-client",
            "--agency",
            "Cli Agency",
            "--name",
            "Case system",
            "--scope",
            "directory:read",
        ]
    )
    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id:\s+(\S+)", result.output).group(1)
    secret = re.search(r"client_secret:\s+(\S+)", result.output).group(1)
    assert "curl" in result.output
    assert secret not in result.output.split("curl")[1]
    access = factories.token(client, client_id, secret)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"}).json
    assert me == {
        "kind": "client",
        "id": client_id,
        "agency_id": str(agency.id),
        "roles": [],
        "scopes": ["directory:read"],
    }


def test_cli_disables_users_and_suspends_agencies(app: Flask, client: Any, session: Any) -> None:
    with transaction():
        agency = factories.agency(name="Cli Suspended")
        person = factories.with_password(factories.user(agency))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["hub", "disable-user", "--email", person.email]).exit_code == 0
    session.expire_all()
    assert session.get(User, person.id).is_active is False
    assert runner.invoke(args=["hub", "suspend-agency", "--agency", "Cli Suspended"]).exit_code == 0
    session.expire_all()
    assert session.get(type(agency), agency.id).status == AgencyStatus.SUSPENDED
    missing = runner.invoke(args=["hub", "disable-user", "--email", "nobody@agency.example"])
    assert missing.exit_code != 0
    assert "flask hub create-user" in missing.output


def test_each_caller_has_a_general_api_limit(app: Flask, client: Any, session: Any) -> None:
    with transaction():
        agency = factories.agency()
        client_id, secret = factories.api_client(agency, ["directory:read"])
        other_id, other_secret = factories.api_client(agency, ["directory:read"])
    first = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    second = {"Authorization": f"Bearer {factories.token(client, other_id, other_secret)}"}
    saved = app.config["API_REQUESTS_PER_WINDOW"]
    app.config["API_REQUESTS_PER_WINDOW"] = 3
    try:
        statuses = [client.get("/api/v1/agencies", headers=first).status_code for _ in range(4)]
        other = client.get("/api/v1/agencies", headers=second)
    finally:
        app.config["API_REQUESTS_PER_WINDOW"] = saved
    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200  # limits are per caller


def test_the_database_counter_counts_peeks_and_restarts_with_the_window(session: Any) -> None:
    """Embedded mode's counters: each hit counts once, a peek reads without counting, and
    the next window starts from nothing."""
    from referral_hub.auth.ratelimit import DatabaseBackend

    counter = DatabaseBackend()
    with clock.frozen_at(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC)) as frozen:
        assert counter.peek("peek-key", 60).count == 0
        assert [counter.hit("peek-key", 60).count for _ in range(3)] == [1, 2, 3]
        assert counter.peek("peek-key", 60) == counter.peek("peek-key", 60)
        assert counter.peek("peek-key", 60).count == 3
        assert counter.peek("other-key", 60).count == 0
        frozen.advance(timedelta(seconds=60))
        assert counter.peek("peek-key", 60).count == 0
        assert counter.hit("peek-key", 60).count == 1


def test_client_addresses_come_from_the_proxy_only_when_trusted(
    worker_id: str, tmp_path_factory: Any
) -> None:
    """Behind one trusted proxy, X-Forwarded-For names the client; without, it is ignored."""
    from tests.conftest import fresh_database_url, migrated_app

    url = fresh_database_url(f"proxy_{worker_id}", tmp_path_factory)
    for trusted, expected_limited in ((1, False), (0, True)):
        with migrated_app(
            url,
            worker_id,
            tmp_path_factory,
            TRUSTED_PROXIES=trusted,
            REDIS_URL="",
            JOB_RUNNER="inline",
        ) as hub:
            import fakeredis

            from referral_hub.auth.ratelimit import RedisBackend

            hub.extensions["hub_rate_limits"] = RedisBackend(
                fakeredis.FakeRedis(server=fakeredis.FakeServer())
            )
            browser = hub.test_client()
            # one fixed window for all six: a window ending mid-test would restart the count
            with clock.frozen_at(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC)):
                for attempt in range(6):
                    page = browser.get("/login").get_data(as_text=True)
                    response = browser.post(
                        "/login",
                        data={
                            "email": f"nobody{attempt}@agency.example",
                            "password": "x",
                            "csrf_token": factories.csrf_from(page),
                        },
                        headers={"X-Forwarded-For": f"203.0.113.{attempt}"},
                    )
            # six different forwarded addresses: only one real socket address
            assert (response.status_code == 429) is expected_limited


def test_cli_changes_roles_and_refuses_unknown_ones(app: Flask, session: Any) -> None:
    with transaction():
        person = factories.user(factories.agency(), ["intake"])
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["hub", "set-roles", "--email", person.email, "--role", "provider", "--role", "intake"]
    )
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(User, person.id).roles == ["intake", "provider"]
    assert (
        runner.invoke(
            args=["hub", "set-roles", "--email", person.email, "--role", "wizard"]
        ).exit_code
        != 0
    )
