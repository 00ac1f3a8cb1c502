"""Every endpoint x {no credentials, wrong scope or role, another agency's object, own
object} x {bearer token, staff session}: the status each must answer, and a foreign
object's 404 indistinguishable from a missing id's."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from joserfc.jwk import ECKey

from referral_hub.auth.models import SCOPES
from referral_hub.core.db import transaction
from referral_hub.referrals.deadlines import Urgency
from tests import factories

EDITORS = ("agency_admin", "provider", "hub_admin")
INTAKE = ("intake", "agency_admin")
READERS = ("intake", "provider", "agency_admin")
PARTIES = ("intake", "provider", "agency_admin", "coordinator")


def consent_body(world: dict[str, Any]) -> dict[str, Any]:
    from referral_hub.core import clock

    return {
        "recipients": [str(world["other"].id)],
        "purposes": ["emergency_shelter"],
        "data_categories": ["contact"],
        "method": "written",
        "signer": "survivor",
        "form_version": "1",
        "form_language": "en",
        "signed_at": clock.now().isoformat(),
    }


GRID_JWKS = {"keys": [ECKey.generate_key("P-384", parameters={"kid": "grid"}).as_dict()]}
ALL_SCOPES = [scope for scope in SCOPES if scope != "audit:read"]  # audit: hub admins only
_emails = itertools.count(1)


def clock_now() -> datetime:
    from referral_hub.core import clock

    return clock.now()


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {agency}, {user}, {client} filled per case
    roles: tuple[str, ...] = ()  # staff who may; () = any signed-in staff
    scopes: str | None = None  # systems who may; None = staff only; "" = any token
    ok: int = 200
    other: int = 404  # answer for another agency's object
    body: Callable[[dict[str, Any], str], dict[str, Any]] | None = field(default=None)


def new_user_body(world: dict[str, Any], case: str) -> dict[str, Any]:
    return {
        "email": f"grid{next(_emails)}@agency.example",
        "display_name": "Grid",
        "roles": ["intake"],
    }


ENDPOINTS = [
    Endpoint("list agencies", "GET", "/api/v1/agencies", scopes="directory:read", other=200),
    Endpoint("get agency", "GET", "/api/v1/agencies/{agency}", scopes="directory:read", other=200),
    Endpoint(
        "create agency",
        "POST",
        "/api/v1/agencies",
        roles=("hub_admin",),
        ok=201,
        other=201,
        body=lambda world, case: {"name": f"Grid Agency {next(_emails)}", "kind": "other"},
    ),
    Endpoint(
        "update agency",
        "PATCH",
        "/api/v1/agencies/{agency}",
        roles=("hub_admin", "agency_admin"),
        scopes="admin",
        other=403,
        body=lambda world, case: {"city": "Riverbend"},
    ),
    Endpoint(
        "create user",
        "POST",
        "/api/v1/agencies/{agency}/users",
        roles=("hub_admin", "agency_admin"),
        scopes="admin",
        ok=201,
        body=new_user_body,
    ),
    Endpoint(
        "list users",
        "GET",
        "/api/v1/agencies/{agency}/users",
        roles=("hub_admin", "agency_admin"),
        scopes="admin",
    ),
    Endpoint(
        "update user",
        "PATCH",
        "/api/v1/users/{user}",
        roles=("hub_admin", "agency_admin"),
        scopes="admin",
        body=lambda world, case: {"display_name": "Renamed"},
    ),
    Endpoint(
        "list api clients",
        "GET",
        "/api/v1/agencies/{agency}/api-clients",
        roles=("hub_admin", "agency_admin"),
    ),
    Endpoint(
        "create api client",
        "POST",
        "/api/v1/agencies/{agency}/api-clients",
        roles=("hub_admin", "agency_admin"),
        ok=201,
        body=lambda world, case: {"name": "Grid system", "scopes": ["directory:read"]},
    ),
    Endpoint(
        "set api client keys",
        "PUT",
        "/api/v1/agencies/{agency}/api-clients/{client}/keys",
        roles=("hub_admin", "agency_admin"),
        body=lambda world, case: {"jwks": GRID_JWKS},
    ),
    Endpoint(
        "revoke api client",
        "POST",
        "/api/v1/agencies/{agency}/api-clients/{client}/revoke",
        roles=("hub_admin", "agency_admin"),
    ),
    Endpoint("who am I", "GET", "/api/v1/me", scopes="", other=200),
    Endpoint(
        "search",
        "GET",
        "/api/v1/search?category=emergency_shelter",
        scopes="directory:read",
        other=200,
    ),
    Endpoint("list services", "GET", "/api/v1/services", scopes="directory:read", other=200),
    Endpoint(
        "create service",
        "POST",
        "/api/v1/services",
        roles=EDITORS,
        scopes="admin",
        ok=201,
        other=403,
        body=lambda world, case: {
            "name": "Grid service",
            "category": "case_management",
            "agency_id": str(world["other" if case == "other" else "own"].id),
        },
    ),
    Endpoint(
        "get service", "GET", "/api/v1/services/{service}", scopes="directory:read", other=200
    ),
    Endpoint(
        "update service",
        "PATCH",
        "/api/v1/services/{service}",
        roles=EDITORS,
        scopes="admin",
        other=403,
        body=lambda world, case: {"hours": "Mon-Fri 9-17"},
    ),
    Endpoint(
        "set capacity",
        "PUT",
        "/api/v1/services/{service}/capacity",
        roles=EDITORS,
        scopes="capacity:write",
        other=403,
        body=lambda world, case: {"total": 4, "available": 2},
    ),
    Endpoint(
        "confirm capacity",
        "POST",
        "/api/v1/services/{service}/capacity/confirm",
        roles=EDITORS,
        scopes="capacity:write",
        other=403,
    ),
    Endpoint(
        "create client",
        "POST",
        "/api/v1/clients",
        roles=INTAKE,
        scopes="clients:write",
        ok=201,
        other=201,
        body=lambda world, case: {"profile": {"language": "es"}},
    ),
    Endpoint(
        "get client", "GET", "/api/v1/clients/{client_record}", roles=READERS, scopes="clients:read"
    ),
    Endpoint(
        "record consent",
        "POST",
        "/api/v1/clients/{client_record}/consents",
        roles=INTAKE,
        scopes="clients:write",
        ok=201,
        body=lambda world, case: consent_body(world),
    ),
    Endpoint(
        "list consents",
        "GET",
        "/api/v1/clients/{client_record}/consents",
        roles=INTAKE,
        scopes="clients:read",
    ),
    Endpoint(
        "revoke consent",
        "POST",
        "/api/v1/consents/{consent}/revoke",
        roles=INTAKE,
        scopes="clients:write",
        body=lambda world, case: {"reason": "she asked"},
    ),
    Endpoint(
        "disclosures",
        "GET",
        "/api/v1/clients/{client_record}/disclosures",
        roles=INTAKE,
        scopes="clients:read",
    ),
    Endpoint(
        "erase client",
        "POST",
        "/api/v1/clients/{client_record}/erase",
        roles=INTAKE,
        scopes="clients:write",
        body=lambda world, case: {"reason": "she asked"},
    ),
    Endpoint(
        "send referral",
        "POST",
        "/api/v1/referrals",
        roles=INTAKE,
        scopes="referrals:write",
        ok=201,
        body=lambda world, case: {
            "client_id": str(
                world["other_client_record" if case == "other" else "own_client_record"].id
            ),
            "service_id": str(world["third_service"].id),
            "urgency": "routine",
            "data_categories": ["profile"],
        },
    ),
    Endpoint(
        "list referrals",
        "GET",
        "/api/v1/referrals?box=sent",
        roles=PARTIES,
        scopes="referrals:read",
        other=200,
    ),
    Endpoint(
        "get referral",
        "GET",
        "/api/v1/referrals/{referral}",
        roles=PARTIES,
        scopes="referrals:read",
    ),
    Endpoint(
        "act on referral",
        "POST",
        "/api/v1/referrals/{referral}/withdraw",
        roles=PARTIES,
        scopes="referrals:write",
        body=lambda world, case: {"reason": "grid"},
    ),
    Endpoint(
        "read messages",
        "GET",
        "/api/v1/referrals/{referral}/messages",
        roles=PARTIES,
        scopes="referrals:read",
    ),
    Endpoint(
        "post message",
        "POST",
        "/api/v1/referrals/{referral}/messages",
        roles=PARTIES,
        scopes="referrals:write",
        ok=201,
        body=lambda world, case: {"body": "hello"},
    ),
    Endpoint(
        "timeline",
        "GET",
        "/api/v1/referrals/{referral}/timeline",
        roles=PARTIES,
        scopes="referrals:read",
    ),
    Endpoint(
        "subscribe webhook",
        "POST",
        "/api/v1/webhooks",
        roles=("agency_admin",),
        scopes="admin",
        ok=201,
        other=201,
        body=lambda world, case: {"url": "https://partner.example/h", "events": ["referral.sent"]},
    ),
    Endpoint(
        "list webhooks",
        "GET",
        "/api/v1/webhooks",
        roles=("agency_admin",),
        scopes="admin",
        other=200,
    ),
    Endpoint(
        "webhook deliveries",
        "GET",
        "/api/v1/webhooks/{webhook}/deliveries",
        roles=("agency_admin",),
        scopes="admin",
    ),
    Endpoint(
        "disable webhook",
        "POST",
        "/api/v1/webhooks/{webhook}/disable",
        roles=("agency_admin",),
        scopes="admin",
    ),
    Endpoint(
        "create bundle",
        "POST",
        "/api/v1/bundles",
        roles=INTAKE,
        scopes="referrals:write",
        ok=201,
        body=lambda world, case: {
            "client_id": str(
                world["other_client_record" if case == "other" else "own_client_record"].id
            ),
            "urgency": "routine",
            "needs": [
                {"category": "case_management", "service_ids": [str(world["fourth_service"].id)]}
            ],
        },
    ),
    Endpoint(
        "get bundle", "GET", "/api/v1/bundles/{bundle}", roles=PARTIES, scopes="referrals:read"
    ),
    Endpoint("hsds export", "GET", "/api/v1/hsds/services", scopes="directory:read", other=200),
    Endpoint(
        "hsds import",
        "POST",
        "/api/v1/hsds/import",
        roles=("hub_admin",),
        other=200,
        body=lambda world, case: {
            "id": f"grid-{case}",
            "name": "Grid HSDS",
            "status": "active",
            "organization": {"id": "o", "name": "Grid Org", "description": "d"},
        },
    ),
    Endpoint(
        "capacity history",
        "GET",
        "/api/v1/services/{service}/capacity/history",
        scopes="directory:read",
        other=200,
    ),
]


@pytest.fixture
def world(client: Any, session: Any) -> dict[str, Any]:
    """Agency A (whose credentials we use) and agency B (the other tenant)."""
    with transaction():
        own, other = factories.agency(), factories.agency()
        admin = factories.with_password(factories.user(own, ["agency_admin"]))
        admin_secret = factories.with_totp(admin)
        hub_admin = factories.with_password(factories.user(own, ["hub_admin"]))
        hub_secret = factories.with_totp(hub_admin)
        intake = factories.with_password(factories.user(own, ["intake"]))
        provider = factories.with_password(factories.user(own, ["provider"]))
        coordinator = factories.with_password(factories.user(own, ["coordinator"]))
        coordinator_secret = factories.with_totp(coordinator)
        own_user = factories.user(own, ["provider"])
        other_user = factories.user(other, ["provider"])
        from referral_hub.auth.service import create_api_client
        from referral_hub.core.actor import SYSTEM

        own_client, _ = create_api_client(
            SYSTEM, agency_id=own.id, name="Own", scopes=["directory:read"]
        )
        other_client, _ = create_api_client(
            SYSTEM, agency_id=other.id, name="Other", scopes=["directory:read"]
        )
        own_service = factories.directory_service(own)
        other_service = factories.directory_service(other)
        records: dict[str, Any] = {}
        for name, agency in (("own", own), ("other", other)):
            from referral_hub.clients.service import create_client
            from referral_hub.consent.service import record_consent
            from referral_hub.core.actor import Actor, ActorKind

            actor = Actor(ActorKind.USER, "grid", agency.id, frozenset({"intake"}))
            record = create_client(actor, pii={"contact": "grid"})
            records[f"{name}_client_record"] = record
            records[f"{name}_consent"] = record_consent(
                actor,
                record.id,
                recipients=[other.id if name == "own" else own.id],
                purposes=["emergency_shelter"],
                data_categories=["contact"],
                method="written",
                signer="survivor",
                form_version="1",
                form_language="en",
                signed_at=clock_now(),
            )
        from referral_hub.referrals import bundles as bundle_service
        from referral_hub.referrals import service as referral_service

        third = factories.agency()
        third_service = factories.directory_service(third, "emergency_shelter")
        fourth_service = factories.directory_service(third, "case_management")
        for name, agency in (("own", own), ("other", other)):
            actor = Actor(ActorKind.USER, "grid", agency.id, frozenset({"intake"}))
            person = create_client(actor, profile={"language": "en"})
            records[f"{name}_referral"] = referral_service.send_referral(
                actor,
                client_id=person.id,
                service_id=third_service.id,
                urgency=Urgency.ROUTINE,
                data_categories=["profile"],
            )
            from referral_hub.notifications.webhooks import subscribe

            admin_actor = Actor(
                ActorKind.USER, "grid-admin", agency.id, frozenset({"agency_admin"})
            )
            records[f"{name}_webhook"] = subscribe(
                admin_actor, url="https://partner.example/h", events=["referral.sent"]
            )[0]
            records[f"{name}_bundle"] = bundle_service.create_bundle(
                actor,
                client_id=person.id,
                urgency=Urgency.ROUTINE,
                needs=[
                    {
                        "category": "case_management",
                        "service_ids": [fourth_service.id],
                        "data_categories": ["profile"],
                    }
                ],
            )
        right_id, right_secret = factories.api_client(own, ALL_SCOPES)
        wrong_id, wrong_secret = factories.api_client(
            own, ["audit:read"]
        )  # needed by no endpoint yet
    return {
        "own": own,
        "other": other,
        "admin": (admin, admin_secret),
        "hub_admin": (hub_admin, hub_secret),
        "intake": (intake, None),
        "provider": (provider, None),
        "coordinator": (coordinator, coordinator_secret),
        "own_user": own_user,
        "other_user": other_user,
        "own_client": own_client,
        "own_service": own_service,
        **records,
        "third_service": third_service,
        "fourth_service": fourth_service,
        "other_service": other_service,
        "other_client": other_client,
        "right_token": factories.token(client, right_id, right_secret),
        "wrong_token": factories.token(client, wrong_id, wrong_secret),
    }


def path_for(endpoint: Endpoint, world: dict[str, Any], case: str) -> str:
    foreign = case == "other"
    values = {
        "agency": world["other" if foreign else "own"].id,
        "user": world["other_user" if foreign else "own_user"].id,
        "client": world["other_client" if foreign else "own_client"].id,
        "service": world["other_service" if foreign else "own_service"].id,
        "client_record": world["other_client_record" if foreign else "own_client_record"].id,
        "consent": world["other_consent" if foreign else "own_consent"].id,
        "referral": world["other_referral" if foreign else "own_referral"].id,
        "bundle": world["other_bundle" if foreign else "own_bundle"].id,
        "webhook": world["other_webhook" if foreign else "own_webhook"].id,
    }
    if case == "missing":
        values = {key: uuid.uuid4() for key in values}
    if endpoint.name == "revoke api client" and case in ("other", "missing"):
        values["agency"] = world["own"].id  # own agency's path, someone else's (or no) client
    return endpoint.path.format(**values)


def call(
    http: Any,
    endpoint: Endpoint,
    path: str,
    headers: dict[str, str],
    world: dict[str, Any],
    case: str,
) -> Any:
    body = endpoint.body(world, case) if endpoint.body else None
    return http.open(path, method=endpoint.method, json=body, headers=headers)


def staff_for(endpoint: Endpoint, world: dict[str, Any], right: bool) -> tuple[Any, str | None]:
    if not right:  # someone whose roles are none of the endpoint's
        for name in ("intake", "provider", "coordinator", "hub_admin"):
            if name not in endpoint.roles:
                return world[name]
        raise AssertionError(f"no wrong role for {endpoint.name}")
    if endpoint.roles == ("hub_admin",):
        return world["hub_admin"]
    if endpoint.roles:
        return world["admin"]
    return world["intake"]


def expected(endpoint: Endpoint, kind: str, case: str) -> int:
    if case == "none":
        return 401
    if kind == "token" and endpoint.scopes is None:
        return 403  # staff-only endpoint
    if case == "wrong":
        if kind == "token":
            return 403 if endpoint.scopes else endpoint.ok
        return 403 if endpoint.roles else endpoint.ok
    if case == "other":
        return endpoint.other
    return endpoint.ok


@pytest.mark.parametrize("kind", ["token", "session"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_access_grid(
    app: Any, client: Any, world: dict[str, Any], endpoint: Endpoint, kind: str
) -> None:
    results = {}
    for case in ("none", "wrong", "other", "own"):
        http = app.test_client()
        headers: dict[str, str] = {}
        if case != "none" and kind == "token":
            headers["Authorization"] = (
                f"Bearer {world['right_token' if case != 'wrong' else 'wrong_token']}"
            )
        elif case != "none":
            person, secret = staff_for(endpoint, world, right=case != "wrong")
            headers["X-CSRFToken"] = factories.sign_in(http, person, secret)
        response = call(http, endpoint, path_for(endpoint, world, case), headers, world, case)
        results[case] = response.status_code
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
        if case == "other" and response.status_code == 404:
            missing = call(
                http, endpoint, path_for(endpoint, world, "missing"), headers, world, case
            )
            assert missing.status_code == 404
            strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
            assert strip(response.json) == strip(missing.json)
        if case == "none":
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert results == {case: expected(endpoint, kind, case) for case in results}, endpoint.name
