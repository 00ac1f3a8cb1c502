"""OAuth 2.0 for agency systems: client credentials, scopes, revocation, introspection —
and nothing secret stored in the clear."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from referral_hub.audit.models import AuditEvent
from referral_hub.auth.models import AccessToken
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from tests import factories


@pytest.fixture
def system(session: Any) -> dict[str, Any]:
    with transaction():
        agency = factories.agency()
        other = factories.agency()
        client_id, secret = factories.api_client(agency, ["directory:read", "referrals:read"])
        other_id, other_secret = factories.api_client(other, ["directory:read"])
    return {"agency": agency, "id": client_id, "secret": secret, "other": (other_id, other_secret)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_client_credentials_with_basic_auth(client: Any, system: dict[str, Any]) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(system["id"], system["secret"]),
    )
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert set(body["scope"].split()) == {"directory:read", "referrals:read"}
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/agencies", headers=bearer(body["access_token"])).status_code == 200


def test_client_credentials_with_form_auth_and_a_narrower_scope(
    client: Any, system: dict[str, Any]
) -> None:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": system["id"],
            "client_secret": system["secret"],
            "scope": "directory:read",
        },
    )
    assert response.status_code == 200
    assert response.json["scope"] == "directory:read"


@pytest.mark.parametrize("scope", ["admin", "directory:read teleport", "capacity:write"])
def test_unknown_or_ungranted_scopes_are_invalid_scope(
    client: Any, system: dict[str, Any], scope: str
) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(system["id"], system["secret"]),
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


@pytest.mark.parametrize(
    "auth",
    [("rhc_nobody", "whatever"), ("WRONG", "x"), None],
    ids=["unknown client", "wrong id", "no credentials"],
)
def test_bad_client_credentials_are_invalid_client(
    client: Any, system: dict[str, Any], auth: Any
) -> None:
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code in (400, 401)
    assert response.json["error"] in ("invalid_client", "invalid_request")


def test_a_wrong_secret_is_401_and_audited(
    client: Any, session: Any, system: dict[str, Any]
) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(system["id"], "rhs_wrong")
    )
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    actions = list(
        session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(1))
    )
    assert actions == ["auth.client_auth_failed"]


def test_no_plaintext_token_or_secret_anywhere_in_the_database(
    client: Any, session: Any, system: dict[str, Any]
) -> None:
    access = factories.token(client, system["id"], system["secret"])
    with transaction():
        pass
    found = []
    for table in db.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):  # noqa: S608 - names from metadata
            blob = " ".join(str(value) for value in row)
            if access in blob or system["secret"] in blob:
                found.append(table.name)
    assert found == []
    stored = session.scalars(select(AccessToken)).all()
    assert stored
    assert all(len(row.token_hash) == 64 for row in stored)


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "not-a-token",
        "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJzb21lb25lLWVsc2UifQ.c2lnbmF0dXJl",
        "x" * 600,
    ],
    ids=["empty", "malformed", "other audience (a foreign JWT)", "oversized"],
)
def test_tokens_this_hub_did_not_issue_are_401(client: Any, session: Any, credential: str) -> None:
    response = client.get("/api/v1/agencies", headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_401(client: Any, system: dict[str, Any]) -> None:
    access = factories.token(client, system["id"], system["secret"])
    with clock.frozen_at(clock.now() + timedelta(seconds=901)):
        response = client.get("/api/v1/agencies", headers=bearer(access))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_is_401_and_introspects_inactive(
    client: Any, session: Any, system: dict[str, Any]
) -> None:
    access = factories.token(client, system["id"], system["secret"])
    introspect = client.post(
        "/oauth/introspect", data={"token": access}, auth=(system["id"], system["secret"])
    )
    assert introspect.json["active"] is True
    assert introspect.json["client_id"] == system["id"]
    revoke = client.post(
        "/oauth/revoke", data={"token": access}, auth=(system["id"], system["secret"])
    )
    assert revoke.status_code == 200
    assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 401
    introspect = client.post(
        "/oauth/introspect", data={"token": access}, auth=(system["id"], system["secret"])
    )
    assert introspect.json == {"active": False}
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"auth.token_issued", "auth.token_revoked", "access.denied"} <= actions


def test_another_agencys_system_cannot_introspect_or_revoke_a_token(
    client: Any, system: dict[str, Any]
) -> None:
    access = factories.token(client, system["id"], system["secret"])
    other = system["other"]
    assert client.post("/oauth/introspect", data={"token": access}, auth=other).json == {
        "active": False
    }
    assert client.post("/oauth/revoke", data={"token": access}, auth=other).status_code == 400
    assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 200


def test_a_token_with_one_scope_cannot_call_an_endpoint_needing_another(
    client: Any, session: Any
) -> None:
    with transaction():
        agency = factories.agency()
        client_id, secret = factories.api_client(agency, ["referrals:read"])
    access = factories.token(client, client_id, secret)
    response = client.get("/api/v1/agencies", headers=bearer(access))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert denied.details["reason"] == "forbidden"
    assert denied.actor_id == client_id


def test_suspending_the_agency_refuses_its_tokens_at_once(
    client: Any, session: Any, system: dict[str, Any]
) -> None:
    from referral_hub.agencies.models import AgencyStatus
    from referral_hub.auth import admin
    from referral_hub.core.actor import SYSTEM

    access = factories.token(client, system["id"], system["secret"])
    with transaction():
        admin.set_agency_status(SYSTEM, system["agency"].id, AgencyStatus.SUSPENDED)
    assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 401
    again = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(system["id"], system["secret"]),
    )
    assert again.status_code == 401


@pytest.mark.parametrize("change", ["token revoked", "client turned off", "agency suspended"])
def test_a_revocation_made_by_another_process_bites_within_the_cache_seconds(
    app: Any, client: Any, session: Any, system: dict[str, Any], change: str
) -> None:
    """The stated bound: a web process remembers a checked token for BEARER_CACHE_SECONDS,
    so a change committed by *another* process (written here straight to the database, as
    that process's commit would look from this one) passes until then and never after.
    The process that makes the change refuses at once (the tests above)."""
    from referral_hub.agencies.models import Agency, AgencyStatus
    from referral_hub.auth.models import ApiClient, digest

    seconds = app.config["BEARER_CACHE_SECONDS"]
    assert seconds > 0
    access = factories.token(client, system["id"], system["secret"])
    elsewhere = {
        "token revoked": update(AccessToken)
        .where(AccessToken.token_hash == digest(access))
        .values(revoked_at=clock.now()),
        "client turned off": update(ApiClient)
        .where(ApiClient.client_id == system["id"])
        .values(is_active=False),
        "agency suspended": update(Agency)
        .where(Agency.id == system["agency"].id)
        .values(status=AgencyStatus.SUSPENDED),
    }[change]
    with clock.frozen_at(clock.now()) as frozen:
        assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 200
        session.execute(elsewhere)
        frozen.advance(timedelta(seconds=seconds) - timedelta(milliseconds=1))
        assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 200
        frozen.advance(timedelta(milliseconds=1))
        assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 401


def test_a_revocation_here_empties_this_process_memory_on_commit(
    client: Any, system: dict[str, Any]
) -> None:
    access = factories.token(client, system["id"], system["secret"])
    other = factories.token(client, system["id"], system["secret"])
    assert client.get("/api/v1/agencies", headers=bearer(other)).status_code == 200
    revoke = client.post(
        "/oauth/revoke", data={"token": other}, auth=(system["id"], system["secret"])
    )
    assert revoke.status_code == 200
    assert client.get("/api/v1/agencies", headers=bearer(other)).status_code == 401
    assert client.get("/api/v1/agencies", headers=bearer(access)).status_code == 200


def test_the_sixth_failed_client_authentication_in_a_minute_is_429(
    client: Any, system: dict[str, Any]
) -> None:
    for _ in range(5):
        bad = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(system["id"], "nope")
        )
        assert bad.status_code == 401
    limited = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(system["id"], system["secret"]),
    )
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json["code"] == "rate_limited"


def _token(client: Any, auth: tuple[str, str], scope: str | None = None) -> Any:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return client.post("/oauth/token", data=data, auth=auth)


def test_a_right_secret_asking_a_wrong_scope_locks_out_nobody(
    client: Any, system: dict[str, Any]
) -> None:
    """Issue 14, defect 7: `invalid_scope` from a client whose secret was right counted as a
    failure in a per-address bucket shared by every client behind the same NAT."""
    for _ in range(12):
        asked = _token(client, (system["id"], system["secret"]), "admin")
        assert asked.status_code == 400
        assert asked.json["error"] == "invalid_scope"
    assert _token(client, system["other"]).status_code == 200  # a neighbour behind the NAT
    assert _token(client, (system["id"], system["secret"])).status_code == 200


def test_one_clients_failures_do_not_lock_out_its_neighbours(
    client: Any, system: dict[str, Any]
) -> None:
    for _ in range(5):
        assert _token(client, (system["id"], "rhs_wrong")).status_code == 401
    assert _token(client, (system["id"], system["secret"])).status_code == 429
    assert _token(client, system["other"]).status_code == 200


def test_failures_across_many_client_ids_from_one_address_are_limited(
    app: Any, client: Any, system: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "OAUTH_ADDRESS_FAILURES_PER_WINDOW", 8)
    for number in range(8):  # spraying: never five failures on one id
        assert _token(client, (f"rhc_guess{number}", "x")).status_code == 401
    limited = _token(client, system["other"])
    assert limited.status_code == 429
    assert limited.json["code"] == "rate_limited"
    elsewhere = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=system["other"],
        environ_base={"REMOTE_ADDR": "192.0.2.77"},
    )
    assert elsewhere.status_code == 200


def test_basic_credentials_are_refused_on_the_api(client: Any, system: dict[str, Any]) -> None:
    raw = base64.b64encode(f"{system['id']}:{system['secret']}".encode()).decode()
    response = client.get("/api/v1/agencies", headers={"Authorization": f"Basic {raw}"})
    assert response.status_code == 401
