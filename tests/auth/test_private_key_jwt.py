"""SMART backend services: a system registers public keys and authenticates at the token
endpoint with a signed assertion (`private_key_jwt`) instead of a secret."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest
from flask import Flask
from joserfc import jwk
from sqlalchemy import func, select

from referral_hub.audit.models import AuditEvent
from referral_hub.auth.models import AccessToken, ApiClient, SeenAssertion
from referral_hub.auth.service import create_api_client, set_api_client_keys
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from tests import factories
from tests import fhir_world as w

ASSERTION_TYPE = factories.ASSERTION_TYPE


def ec_key(kid: str = "clinic-1") -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-384", parameters={"kid": kid})


def rsa_key(kid: str = "clinic-rsa") -> jwk.RSAKey:
    return jwk.RSAKey.generate_key(2048, parameters={"kid": kid})


def weak_rsa() -> dict[str, Any]:
    """A 1024-bit RSA public key (joserfc refuses to make one)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the point: it is refused
    numbers = weak.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": "weak", "n": b64(numbers.n), "e": b64(numbers.e)}


def public_set(*keys: Any) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def token_url(app: Flask) -> str:
    return str(app.config["PUBLIC_URL"]).rstrip("/") + "/oauth/token"


def assertion(app: Flask, client_id: str, key: Any, *, alg: str = "ES384", **claims: Any) -> str:
    return factories.assertion(token_url(app), client_id, key, alg, **claims)


def ask(http: Any, signed: str, **form: str) -> Any:
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        }
        | form,
    )


def registered(agency: Any, keys: dict[str, Any] | None, scopes: list[str]) -> str:
    """A client of `agency` with these public keys (set through the one service)."""
    with transaction():
        client, _ = create_api_client(SYSTEM, agency_id=agency.id, name="EHR", scopes=scopes)
        if keys is not None:
            set_api_client_keys(SYSTEM, agency.id, client.id, keys)
    return client.client_id


def tokens(session: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(AccessToken)))


@pytest.fixture
def world(client: Any, session: Any) -> dict[str, Any]:
    return w.build(client)


@pytest.fixture
def ehr(app: Flask, world: dict[str, Any]) -> dict[str, Any]:
    key = ec_key()
    client_id = registered(world["clinic"], public_set(key), w.CLINIC_SCOPES)
    return {"key": key, "client_id": client_id}


# --- the happy path ---------------------------------------------------------------------------


def test_a_signed_assertion_gets_a_token_that_reads_fhir(
    app: Flask, client: Any, session: Any, world: dict[str, Any], ehr: dict[str, Any]
) -> None:
    created = client.post("/fhir/Task", json=w.referral_task(world), headers=world["clinic_auth"])
    assert created.status_code == 201, created.get_data(as_text=True)
    response = ask(client, assertion(app, ehr["client_id"], ehr["key"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert set(body["scope"].split()) == set(w.CLINIC_SCOPES)
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/fhir/metadata", headers=auth).status_code == 200
    task = client.get(f"/fhir/Task/{created.json['id']}", headers=auth)
    assert task.status_code == 200, task.get_data(as_text=True)
    assert task.json["resourceType"] == "Task"
    assert task.json["status"] == "requested"
    # a narrower scope, as with a secret
    narrow = ask(client, assertion(app, ehr["client_id"], ehr["key"]), scope="directory:read")
    assert narrow.json["scope"] == "directory:read"
    issued = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "auth.token_issued")
    ).all()
    assert len(issued) >= 2


def test_an_rs384_key_works_too(app: Flask, client: Any, world: dict[str, Any]) -> None:
    key = rsa_key()
    client_id = registered(world["clinic"], public_set(ec_key("other"), key), ["directory:read"])
    response = ask(client, assertion(app, client_id, key, alg="RS384"))
    assert response.status_code == 200, response.get_data(as_text=True)


# --- refusals: invalid_client, nothing issued, counted --------------------------------------


def _refusals(app: Flask, ehr: dict[str, Any], stranger_key: Any) -> dict[str, str]:
    cid, key = ehr["client_id"], ehr["key"]
    now = int(time.time())
    return {
        "signed with a key it never registered": assertion(app, cid, ec_key("clinic-1")),
        "a kid it does not have": assertion(app, cid, ec_key("nope")),
        "expired": assertion(app, cid, key, exp=now - 120),
        "exp an hour ahead": assertion(app, cid, key, exp=now + 3600),
        "no exp": assertion(app, cid, key, exp=None),
        "wrong aud": assertion(app, cid, key, aud="https://elsewhere.example/oauth/token"),
        "aud the hub, not its token endpoint": assertion(
            app, cid, key, aud=app.config["PUBLIC_URL"]
        ),
        "iss is not sub": assertion(app, cid, key, iss="someone-else"),
        "no jti": assertion(app, cid, key, jti=None),
        "another client's key": assertion(app, cid, stranger_key),
        "HS256 with the public key as secret": assertion(
            app, cid, jwk.OctKey.import_key(key.as_dict()["x"], {"kid": key.kid}), alg="HS256"
        ),
        "not a JWT": "not-a-jwt",
    }


@pytest.mark.parametrize(
    "case",
    [
        "signed with a key it never registered",
        "a kid it does not have",
        "expired",
        "exp an hour ahead",
        "no exp",
        "wrong aud",
        "aud the hub, not its token endpoint",
        "iss is not sub",
        "no jti",
        "another client's key",
        "HS256 with the public key as secret",
        "not a JWT",
    ],
)
def test_a_bad_assertion_is_invalid_client_and_issues_nothing(
    app: Flask, client: Any, session: Any, world: dict[str, Any], ehr: dict[str, Any], case: str
) -> None:
    stranger_key = ec_key("clinic-1")  # same kid, another agency's client
    registered(world["outsider"], public_set(stranger_key), ["directory:read"])
    signed = _refusals(app, ehr, stranger_key)[case]
    before = tokens(session)
    response = ask(client, signed)
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert response.json["error"] == "invalid_client"
    assert tokens(session) == before


def test_a_replayed_jti_is_refused(
    app: Flask, client: Any, session: Any, ehr: dict[str, Any]
) -> None:
    signed = assertion(app, ehr["client_id"], ehr["key"])
    assert ask(client, signed).status_code == 200
    before = tokens(session)
    again = ask(client, signed)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_client"
    assert tokens(session) == before
    # the same jti in a freshly signed assertion is the same replay
    jti = session.scalars(select(SeenAssertion.jti)).one()
    fresh = ask(client, assertion(app, ehr["client_id"], ehr["key"], jti=jti))
    assert fresh.json["error"] == "invalid_client"


def test_failures_are_counted_against_the_client(
    app: Flask, client: Any, ehr: dict[str, Any]
) -> None:
    limit = app.config["AUTH_FAILURES_PER_WINDOW"]
    wrong = ec_key("clinic-1")
    for _ in range(limit):
        assert ask(client, assertion(app, ehr["client_id"], wrong)).status_code == 400
    blocked = ask(client, assertion(app, ehr["client_id"], ehr["key"]))
    assert blocked.status_code == 429


def test_a_secret_and_an_assertion_together_are_refused(
    app: Flask, client: Any, session: Any, world: dict[str, Any]
) -> None:
    key = ec_key()
    with transaction():
        made, secret = create_api_client(
            SYSTEM, agency_id=world["clinic"].id, name="EHR", scopes=["directory:read"]
        )
        set_api_client_keys(SYSTEM, world["clinic"].id, made.id, public_set(key))
    signed = assertion(app, made.client_id, key)
    both = ask(client, signed, client_id=made.client_id, client_secret=secret)
    assert both.status_code == 400
    assert both.json["error"] == "invalid_request"
    # its secret still works alone, and so do the other clients' secrets
    assert factories.token(client, made.client_id, secret)


def test_a_client_without_keys_cannot_use_an_assertion(
    app: Flask, client: Any, world: dict[str, Any]
) -> None:
    client_id = registered(world["clinic"], None, ["directory:read"])
    response = ask(client, assertion(app, client_id, ec_key()))
    assert response.json["error"] == "invalid_client"


def test_racing_uses_of_one_jti_get_exactly_one_token(committing_app: Flask) -> None:
    with committing_app.app_context():
        with transaction():
            agency = factories.agency()
        key = ec_key()
        client_id = registered(agency, public_set(key), ["directory:read"])
        signed = assertion(committing_app, client_id, key)
        db.session.remove()
    racers = 8
    barrier = threading.Barrier(racers)
    statuses: list[int] = []

    def race() -> None:
        http = committing_app.test_client()
        barrier.wait()
        response = ask(http, signed)
        if response.status_code == 400:
            assert response.json["error"] == "invalid_client"
        statuses.append(response.status_code)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # the losers are refused (or, once the failures reach the per-client limit, held off)
    assert len(statuses) == racers
    assert statuses.count(200) == 1
    assert set(statuses) - {200} <= {400, 429}
    assert 400 in statuses
    with committing_app.app_context():
        pk = db.session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
        issued = db.session.scalar(
            select(func.count()).select_from(AccessToken).where(AccessToken.client_pk == pk)
        )
        assert issued == 1
        db.session.remove()


# --- registering keys -------------------------------------------------------------------------


def keys_url(agency: Any, client_pk: Any) -> str:
    return f"/api/v1/agencies/{agency.id}/api-clients/{client_pk}/keys"


@pytest.fixture
def admins(client: Any, session: Any, world: dict[str, Any]) -> dict[str, Any]:
    with transaction():
        boss = factories.with_password(factories.user(world["clinic"], ["agency_admin"]))
        boss_totp = factories.with_totp(boss)
        outsider = factories.with_password(factories.user(world["outsider"], ["agency_admin"]))
        outsider_totp = factories.with_totp(outsider)
        made, _ = create_api_client(
            SYSTEM, agency_id=world["clinic"].id, name="EHR", scopes=["directory:read"]
        )
    return {
        "boss": (boss, boss_totp),
        "outsider": (outsider, outsider_totp),
        "client_pk": made.id,
        "client_id": made.client_id,
    }


def test_an_agency_admin_registers_keys_and_the_client_then_signs(
    app: Flask, client: Any, session: Any, world: dict[str, Any], admins: dict[str, Any]
) -> None:
    csrf = factories.sign_in(client, *admins["boss"])
    key = ec_key()
    given = public_set(key)
    given["keys"][0]["use"] = "sig"
    response = client.put(
        keys_url(world["clinic"], admins["client_pk"]),
        json={"jwks": given},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [k["kid"] for k in response.json["jwks"]["keys"]] == ["clinic-1"]
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "api_client.keys_set")
    ).one()
    assert event.details["kids"] == ["clinic-1"]
    client.post("/logout", data={"csrf_token": csrf})
    signed = assertion(app, admins["client_id"], key)
    assert ask(client, signed).status_code == 200


PRIVATE = ec_key("leaky").as_dict(private=True)
BAD_SETS: dict[str, Any] = {
    "not an object": ["keys"],
    "no keys list": {"kty": "EC"},
    "empty": {"keys": []},
    "private key material": {"keys": [PRIVATE]},
    "a P-256 key": {"keys": [jwk.ECKey.generate_key("P-256", parameters={"kid": "a"}).as_dict()]},
    "an RSA key of 1024 bits": {"keys": [weak_rsa()]},
    "no kid": {"keys": [{k: v for k, v in ec_key().as_dict().items() if k != "kid"}]},
    "a shared secret": {"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]},
    "an EC key that says RS384": {"keys": [ec_key().as_dict() | {"alg": "RS384"}]},
    "two keys with one kid": {"keys": [ec_key("x").as_dict(), ec_key("x").as_dict()]},
    "a broken point": {"keys": [ec_key().as_dict() | {"x": "AAAA"}]},
    "for encryption": {"keys": [ec_key().as_dict() | {"use": "enc"}]},
    "a kty that is a list": {"keys": [ec_key().as_dict() | {"kty": ["EC"]}]},
    "an exponent that is a number": {"keys": [rsa_key().as_dict() | {"e": 65537}]},
}


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_a_bad_jwks_is_problem_json_naming_the_field_and_writes_nothing(
    client: Any, session: Any, world: dict[str, Any], admins: dict[str, Any], case: str
) -> None:
    csrf = factories.sign_in(client, *admins["boss"])
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    response = client.put(
        keys_url(world["clinic"], admins["client_pk"]),
        json={"jwks": BAD_SETS[case]},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "jwks" in response.json["errors"]
    session.expire_all()
    assert session.get(ApiClient, admins["client_pk"]).public_jwks is None
    assert not session.scalars(
        select(AuditEvent).where(
            AuditEvent.seq > before, AuditEvent.action.like("api_client.keys%")
        )
    ).all()


def test_another_agencys_admin_cannot_set_keys(
    client: Any, session: Any, world: dict[str, Any], admins: dict[str, Any]
) -> None:
    csrf = factories.sign_in(client, *admins["outsider"])
    for agency in (world["clinic"], world["outsider"]):
        response = client.put(
            keys_url(agency, admins["client_pk"]),
            json={"jwks": public_set(ec_key())},
            headers={"X-CSRFToken": csrf},
        )
        assert response.status_code == 404, response.get_data(as_text=True)
    session.expire_all()
    assert session.get(ApiClient, admins["client_pk"]).public_jwks is None


def test_the_admin_page_takes_a_pasted_jwks_and_refuses_a_bad_one(
    client: Any, session: Any, world: dict[str, Any], admins: dict[str, Any]
) -> None:
    import json

    csrf = factories.sign_in(client, *admins["boss"])
    page = client.get("/admin/api-clients").get_data(as_text=True)
    assert "Public keys" in page
    assert admins["client_id"] in page
    url = f"/admin/api-clients/{admins['client_pk']}/keys"
    bad = client.post(url, data={"csrf_token": csrf, "jwks": "{not json"})
    assert bad.status_code == 422
    assert "Not valid JSON" in bad.get_data(as_text=True)
    session.expire_all()
    assert session.get(ApiClient, admins["client_pk"]).public_jwks is None
    good = client.post(url, data={"csrf_token": csrf, "jwks": json.dumps(public_set(ec_key()))})
    assert good.status_code == 302
    session.expire_all()
    assert session.get(ApiClient, admins["client_pk"]).public_jwks["keys"][0]["kid"] == "clinic-1"
    cleared = client.post(url, data={"csrf_token": csrf, "jwks": ""})
    assert cleared.status_code == 302
    session.expire_all()
    assert session.get(ApiClient, admins["client_pk"]).public_jwks is None


# --- discovery --------------------------------------------------------------------------------


def test_smart_configuration_and_the_capability_statement(app: Flask, client: Any) -> None:
    response = client.get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    config = response.json
    assert config["token_endpoint"] == token_url(app)
    assert config["token_endpoint_auth_methods_supported"] == [
        "private_key_jwt",
        "client_secret_basic",
    ]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert "referrals:read" in config["scopes_supported"]
    security = client.get("/fhir/metadata").json["rest"][0]["security"]
    codes = {coding["code"] for coding in security["service"][0]["coding"]}
    assert codes == {"OAuth", "SMART-on-FHIR"}
    assert "private_key_jwt" in security["description"]
    uris = security["extension"][0]["extension"]
    assert uris == [{"url": "token", "valueUri": token_url(app)}]


def test_the_cli_registers_a_client_with_keys(
    app: Flask, client: Any, session: Any, world: dict[str, Any], tmp_path: Any
) -> None:
    import json

    key = ec_key()
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(json.dumps(public_set(key)))
    result = app.test_cli_runner().invoke(
        args=[
            "hub",
            "create-client",
            "--agency",
            world["clinic"].name,
            "--name",
            "EHR",
            "--scope",
            "directory:read",
            "--jwks",
            str(keys_file),
        ]
    )
    assert result.exit_code == 0, result.output
    client_id = result.output.split("client_id:", 1)[1].split()[0]
    assert ask(client, assertion(app, client_id, key)).status_code == 200
    # a private key is refused, naming the field, and nothing is made
    keys_file.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    before = session.scalar(select(func.count()).select_from(ApiClient))
    refused = app.test_cli_runner().invoke(
        args=[
            "hub",
            "create-client",
            "--agency",
            world["clinic"].name,
            "--name",
            "EHR 2",
            "--scope",
            "directory:read",
            "--jwks",
            str(keys_file),
        ]
    )
    assert refused.exit_code != 0
    assert "jwks: " in refused.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ApiClient)) == before
