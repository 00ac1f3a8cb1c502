"""schemathesis over the OpenAPI document: every operation, every default check (ignored_auth
included), with real credentials for an agency that owns data.

The document is docs/openapi.json, which tests/system/test_openapi.py keeps equal to the one the
app generates and serves. One pytest item per operation; each seeds a small world inside
the `session` fixture's transaction, and every request schemathesis sends goes through the
app's engines, which that fixture points at its connection: whatever an example creates is
rolled back with its test.

The example budget is small and deterministic here. SCHEMATHESIS_MAX_EXAMPLES=N sets a
deeper, randomised run (the nightly setting in the README).
"""

from __future__ import annotations

import fnmatch
import json
import os
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from referral_hub.auth.models import SCOPES
from referral_hub.core.db import transaction
from referral_hub.referrals.deadlines import Urgency
from tests import factories

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
NIGHTLY = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES")
MAX_EXAMPLES = int(NIGHTLY or 5)


class AppUnderTest:
    """The WSGI app schemathesis calls: the suite's app, known once the `app` fixture exists.

    As with tests/conftest.py's client, each request gets an app context of its own: the
    test body holds one pushed, and Flask would otherwise reuse it (its `g`, its session)
    for every request, including the probes schemathesis sends without the test client.
    """

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from flask.globals import _cv_app

        assert self.app is not None, "the `world` fixture sets the app"
        held = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            return self.app(environ, start_response)
        finally:
            _cv_app.reset(held)


def _document() -> dict[str, Any]:
    """The committed document, with one translation for schemathesis.

    schemathesis 4 takes the credentials that `ignored_auth` strips and forges only from
    `apiKey` and `http` schemes, never from `oauth2`: with the token under `oauth2` the
    check would strip the session cookie, keep the bearer token and call every operation
    unprotected. An OAuth 2.0 access token travels as an RFC 6750 bearer header, which is
    what `http`/`bearer` declares, so the scheme is shown to schemathesis that way, and the
    check really sends no token, then a forged one, and expects 401 or 403.
    """
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    schemes = document["components"]["securitySchemes"]
    assert schemes["oauth2"]["type"] == "oauth2"
    schemes["oauth2"] = {"type": "http", "scheme": "bearer"}
    return document


Case = schemathesis.Case[Any]
APP = AppUnderTest()
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": not NIGHTLY,  # the same cases on every CI run
            "database": "none",  # no .hypothesis/ directory in the tree
            # the hub refuses NUL in any JSON string with a 400 (core/jsonin.py; PostgreSQL
            # text cannot hold it): schemathesis' own switch for such servers
            "allow-x00": False,
        },
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)
schema.app = APP


@dataclass
class World:
    """What the current test seeded: credentials for agency A and ids worth aiming at."""

    token: str = ""
    sign_in: Callable[[], tuple[str, str]] | None = None
    staff_session: tuple[str, str] | None = None  # (hub_session cookie, CSRF token)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def session_and_csrf(self) -> tuple[str, str]:
        """Signed in on first use: only the staff-only operations need it (and it is slow)."""
        if self.staff_session is None:
            assert self.sign_in is not None
            self.staff_session = self.sign_in()
        return self.staff_session


CURRENT = World()


def _takes_a_token(case: Case) -> bool:
    security = case.operation.definition.raw.get("security", [])
    return any("oauth2" in requirement for requirement in security)


# schemathesis applies auth when it builds a case, and builds the coverage phase's cases
# while collecting, before any test has a world: cases carry these placeholders, and the
# test swaps in its own credentials just before sending (`_present_credentials`)
TOKEN_PLACEHOLDER = "world-token"
SESSION_PLACEHOLDER = "world-session"


@schema.auth(refresh_interval=None)
class HubAuth:
    """A bearer token with every scope where the operation takes one, else a staff session
    (hub and agency administrator, coordinator, intake and provider) with its CSRF token."""

    def get(self, case: Case, context: schemathesis.AuthContext) -> str:
        return "placeholders"

    def set(self, case: Case, data: str, context: schemathesis.AuthContext) -> None:
        if _takes_a_token(case):
            case.headers["Authorization"] = f"Bearer {TOKEN_PLACEHOLDER}"
        else:
            case.cookies["hub_session"] = SESSION_PLACEHOLDER


def _present_credentials(case: Case, world: World) -> None:
    """The world's credentials where the auth provider left placeholders (a case meant to
    go without credentials, or with forged ones, has none)."""
    headers, cookies = case.headers, case.cookies
    if not isinstance(headers, MutableMapping) or not isinstance(cookies, MutableMapping):
        return  # a negative case with no place for credentials
    if headers.get("Authorization") == f"Bearer {TOKEN_PLACEHOLDER}":
        headers["Authorization"] = f"Bearer {world.token}"
    if cookies.get("hub_session") == SESSION_PLACEHOLDER:
        cookies["hub_session"], headers["X-CSRFToken"] = world.session_and_csrf()


@pytest.fixture
def world(app: Flask, client: FlaskClient, session: Any) -> Iterator[World]:
    """Agency A (ours) and B, each with a shelter; A's client with a consent naming B; a
    referral A→B, one B→A and a bundle; a webhook; A's system with every scope."""
    from referral_hub.auth.models import ApiClient
    from referral_hub.clients import service as clients
    from referral_hub.notifications import webhooks
    from referral_hub.referrals import bundles
    from referral_hub.referrals import service as referrals

    with transaction():
        mine, theirs = factories.agency(), factories.agency()
        roles = ("intake", "provider", "coordinator", "agency_admin", "hub_admin")
        staff = factories.user(mine, roles=roles)
        their_staff = factories.user(theirs, roles=("intake", "provider", "agency_admin"))
        me, them = factories.actor_for(staff), factories.actor_for(their_staff)
        my_shelter = factories.directory_service(mine, "emergency_shelter")
        factories.capacity(my_shelter, total=10, available=5)
        their_shelter = factories.directory_service(theirs, "emergency_shelter")
        factories.capacity(their_shelter, total=10, available=5)
        their_counsel = factories.directory_service(theirs, "legal_advocacy")
        person = clients.create_client(me, pii={"contact": "c"}, profile={"language": "es"})
        granted = factories.written_consent(
            me,
            person.id,
            recipients=[theirs.id],
            purposes=["emergency_shelter", "legal_advocacy"],
            data_categories=["contact"],
        )
        sent = referrals.send_referral(
            me,
            client_id=person.id,
            service_id=their_shelter.id,
            urgency=Urgency.URGENT,
            data_categories=["profile", "contact"],
            consent_id=granted.id,
        )
        need = {
            "category": "legal_advocacy",
            "service_ids": [their_counsel.id],
            "data_categories": ["profile"],
        }
        bundle = bundles.create_bundle(
            me, client_id=person.id, urgency=Urgency.ROUTINE, consent_id=granted.id, needs=[need]
        )
        their_person = clients.create_client(them, profile={"language": "en"})
        received = referrals.send_referral(
            them,
            client_id=their_person.id,
            service_id=my_shelter.id,
            urgency=Urgency.ROUTINE,
            data_categories=["profile"],
        )
        hook, _secret = webhooks.subscribe(me, url="https://hooks.example/hub", events=[])
        client_id, secret = factories.api_client(mine, SCOPES)
    api_client = session.query(ApiClient).filter_by(client_id=client_id).one()

    def sign_in() -> tuple[str, str]:
        with transaction():
            factories.with_password(staff)
            totp = factories.with_totp(staff)
        browser = app.test_client()
        csrf = factories.sign_in(browser, staff, totp)
        cookie = browser.get_cookie("hub_session")
        assert cookie is not None
        return cookie.value, csrf

    CURRENT.token = factories.token(client, client_id, secret)
    CURRENT.sign_in, CURRENT.staff_session = sign_in, None
    CURRENT.ids = {
        "agency_id": [str(theirs.id), str(mine.id)],
        "service_id": [str(their_shelter.id), str(my_shelter.id), str(their_counsel.id)],
        "client_id": [str(person.id)],
        "consent_id": [str(granted.id)],
        "referral_id": [str(sent.id), str(received.id)],
        "bundle_id": [str(bundle.id)],
        "webhook_id": [str(hook.id)],
        "user_id": [str(staff.id)],
        "client_pk": [str(api_client.id)],
    }
    APP.app = app
    # thousands of requests under one token in a nightly run: not what this test is about
    saved = app.config["API_REQUESTS_PER_WINDOW"]
    app.config["API_REQUESTS_PER_WINDOW"] = 1_000_000
    try:
        yield CURRENT
    finally:
        app.config["API_REQUESTS_PER_WINDOW"] = saved


# ids in bodies, by the key that holds them (alone or in a list)
BODY_IDS = {
    "client_id": "client_id",
    "service_id": "service_id",
    "service_ids": "service_id",
    "suggested_service_id": "service_id",
    "consent_id": "consent_id",
    "previous_referral_id": "referral_id",
    "agency_id": "agency_id",
    "recipients": "agency_id",
    "do_not_refer": "agency_id",
}


def _seeded(kind: str, value: Any, world: World) -> Any:
    """A well-formed id becomes a seeded one, chosen by the generated id (one choice in
    n + 1 keeps it, so missing objects stay covered); anything else is a case of its own."""
    choices = world.ids.get(kind)
    if not choices or not isinstance(value, str):
        return value
    try:
        generated = uuid.UUID(value)
    except ValueError:
        return value
    pick = generated.int % (len(choices) + 1)
    return choices[pick] if pick < len(choices) else value


def _aim_body(body: Any, world: World) -> Any:
    if isinstance(body, list):
        return [_aim_body(item, world) for item in body]
    if not isinstance(body, dict):
        return body
    aimed = {}
    for key, value in body.items():
        kind = BODY_IDS.get(key)
        if kind and isinstance(value, list):
            aimed[key] = [_seeded(kind, item, world) for item in value]
        elif kind:
            aimed[key] = _seeded(kind, value, world)
        else:
            aimed[key] = _aim_body(value, world)
    return aimed


def _aim(case: Case, world: World) -> None:
    """Point ids at seeded objects, so operations reach their rules instead of a 404."""
    for name, value in list(case.path_parameters.items()):
        case.path_parameters[name] = _seeded(name, value, world)
    if isinstance(case.body, dict | list):
        case.body = _aim_body(case.body, world)


# 422s answering rules no OpenAPI document can state: they depend on stored data or on the
# clock, or compare one value with another. A schema-valid request that breaks one is
# rightly refused, so `positive_data_acceptance` (ST202) does not apply to *that* answer;
# every other refusal of a schema-valid request still fails. Keys: operations ("*": all);
# values: the fields the problem's `errors` names (fnmatch patterns), with the rule.
RULES_BEYOND_THE_DOCUMENT: dict[str, dict[str, str]] = {
    "*": {"cursor": "a cursor is opaque: only one the hub issued for this same query is valid"},
    "GET /api/v1/search": {
        "radius_km": "needs `near`: OpenAPI cannot tie one query parameter to another",
    },
    "GET /api/v1/services": {
        "radius_km": "needs `near`: OpenAPI cannot tie one query parameter to another",
    },
    "POST /api/v1/services": {
        "eligibility.max_age": "not below min_age: JSON Schema cannot compare two values",
    },
    "PATCH /api/v1/services/{service_id}": {
        "eligibility.max_age": "not below min_age, as sent or as stored",
    },
    "PUT /api/v1/services/{service_id}/capacity": {
        "available": "at most `total`: JSON Schema cannot compare two values",
    },
    "POST /api/v1/services/{service_id}/overflow": {
        "ends_at": "after starts_at, at most 31 days after it, and not past",
    },
    "POST /api/v1/hsds/import": {
        "$*": "an HSDS 3.0 document, checked against the 75 KB HSDS service schema, which "
        "the OpenAPI document names but does not inline",
    },
    "POST /api/v1/clients": {"do_not_refer.*": "agencies that exist"},
    "POST /api/v1/outside-organisations": {
        "name": "not blank (spaces alone are no name)",
        "email": "an address whose domain has a dot and a real top-level part: the document's "
        "`email` format is looser than the check",
    },
    "POST /api/v1/clients/{client_id}/consents": {
        "recipients.*": "agencies that exist",
        "purposes": "law_enforcement_contact when a recipient is a law-enforcement agency",
        "signed_at": "not in the future",
        "expires_at": "after signed_at, at most 90 days after it, and not past",
    },
    "POST /api/v1/referrals": {
        "service_id": "a service taking referrals, from an agency she did not rule out",
        "consent_id": "a consent of this client, and active",
        "data_categories": "covered by a consent naming the receiver",
        "previous_referral_id": "an ended referral of the same client",
    },
    "POST /api/v1/bundles": {
        "needs": "one need per category: JSON Schema cannot compare items' fields",
        "consent_id": "a consent of this client",
        "needs.*.service_ids.*": "each service of the need's category, and sendable as above",
    },
    "POST /api/v1/referrals/{referral_id}/{action}": {
        "reason": "which reasons an action takes depends on the action, in the path",
        "question": "required by request-info, in the path",
        "answer": "required by provide-info, in the path",
    },
    "GET /api/v1/referrals": {
        "assignee": "`me` needs a person: a machine client has no referrals of its own",
    },
    "POST /api/v1/referrals/{referral_id}/assign": {
        "assignee_id": "an active colleague of that side's agency, in a role working that side",
    },
    "POST /api/v1/bundles/{bundle_id}/assign": {
        "assignee_id": "an active colleague of the sending agency, in an intake role",
    },
    "GET /api/v1/reports/handoffs": {
        "to": "not before `from`, at most 366 days after it (default: today)",
    },
}


def _refused_by_a_rule_beyond_the_document(case: Case, response: Any) -> bool:
    if response.status_code != 422:
        return False
    try:
        named = list(response.json().get("errors") or {})
    except ValueError:
        return False
    rules = RULES_BEYOND_THE_DOCUMENT["*"] | RULES_BEYOND_THE_DOCUMENT.get(case.operation.label, {})
    return bool(named) and all(
        any(fnmatch.fnmatchcase(name, pattern) for pattern in rules) for name in named
    )


@schema.parametrize()
# the world is seeded once per operation on purpose: its examples share it, and the
# `session` fixture's rollback ends it with the test
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api(case: Case, world: World) -> None:
    _present_credentials(case, world)
    _aim(case, world)
    response = case.call()
    beyond = _refused_by_a_rule_beyond_the_document(case, response)
    case.validate_response(response, excluded_checks=[positive_data_acceptance] if beyond else [])


# --- what schemathesis found, pinned: the quick budget above need not find it again -------


def test_the_same_agency_name_with_a_non_ascii_capital_is_a_conflict(session: Any) -> None:
    """Python's lower() folded the "Ë" and the database's did not: the duplicate check
    missed the very same name, and the insert hit the unique constraint (a 500)."""
    from referral_hub.agencies.models import AgencyKind
    from referral_hub.core.errors import Conflict

    with transaction():
        factories.agency(name="ËLAN House")
    with pytest.raises(Conflict), transaction():
        factories.agency(name="ËLAN House", kind=AgencyKind.OTHER)


def test_a_whole_number_written_with_a_fraction_is_an_integer(session: Any) -> None:
    """JSON Schema counts 3.0 as an integer; the hub answered 400 "wrong JSON type"."""
    from marshmallow import ValidationError

    from referral_hub.directory.schemas import CapacityPutArgs

    assert CapacityPutArgs().load({"total": 10.0, "available": 5}) == {
        "total": 10,
        "available": 5,
    }
    with pytest.raises(ValidationError):
        CapacityPutArgs().load({"total": 10.5, "available": 5})


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://0.a", True),  # schema-valid, and refused before (a TLD was required)
        ("http://127.0.0.1:8080/hooks?x=1#y", True),
        ("https://\u00cf", False),  # not a URI, and accepted before
        ("javascript:alert(1)", False),
        ("https://partner.example/a b", False),
        ("https://partner.example/\n", False),
    ],
)
def test_urls_are_what_the_document_says(url: str, valid: bool) -> None:
    """The document's `pattern` for a URL is this validator's expression."""
    from marshmallow import ValidationError

    from referral_hub.core.schemas import HTTP_URL

    try:
        HTTP_URL(url)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is valid
