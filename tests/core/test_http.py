"""HTTP conventions: strict JSON intake, problem+json everywhere, request ids, paging,
idempotency keys, health checks — and bad input changes nothing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.agencies.models import Agency
from referral_hub.audit import service as audit
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.idempotency import IdempotencyRecord
from referral_hub.jobs.models import OutboxMessage
from tests import factories

HUB_ADMIN = Actor(ActorKind.USER, "hub-admin-1", uuid.uuid4(), frozenset({"hub_admin"}))
GOOD = {"name": "Harbor Light", "kind": "shelter"}


def fingerprint(session: Any) -> tuple[int, int, int, int]:
    """Rows that a bad request must not change."""
    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return (count(Agency), audit.head()[0], count(OutboxMessage), count(IdempotencyRecord))


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.fixture
def admin(act_as: Callable[[Actor], None]) -> None:
    act_as(HUB_ADMIN)


def post_raw(client: Any, body: bytes, content_type: str = "application/json") -> Any:
    return client.post("/api/v1/agencies", data=body, headers={"Content-Type": content_type})


MALFORMED = {
    "broken json": (b'{"name": "x", ', 400, "$"),
    "trailing garbage": (b'{"name": "x"} extra', 400, "$"),
    "NaN": (b'{"name": "Harbor", "kind": "shelter", "x": NaN}', 400, "$"),
    "Infinity": (b'{"name": "Harbor", "kind": "shelter", "x": -Infinity}', 400, "$"),
    "overflowing float": (b'{"name": "Harbor", "kind": "shelter", "x": 1e999}', 400, "$"),
    "5000-digit integer": (b'{"x": ' + b"9" * 5000 + b"}", 400, "$"),
    "duplicate keys": (b'{"name": "A", "name": "B", "kind": "shelter"}', 400, "name"),
    "NUL in string": (b'{"name": "Har\\u0000bor", "kind": "shelter"}', 400, "$.name"),
    "lone surrogate": (b'{"name": "Har\\ud800bor", "kind": "shelter"}', 400, "$.name"),
    "invalid UTF-8": (b'{"name": "Har\xffbor", "kind": "shelter"}', 400, "$"),
    "byte order mark": ('\ufeff{"name": "Harbor", "kind": "shelter"}'.encode(), 400, "$"),
    "33 levels deep": (b'{"x": ' + b"[" * 32 + b"]" * 32 + b"}", 400, "$"),
    "100k levels deep": (b"[" * 100_000 + b"]" * 100_000, 400, "$"),
    "a list, not an object": (b'["Harbor", "shelter"]', 400, "$"),
    "wrong type for a string": (b'{"name": 42, "kind": "shelter"}', 400, "name"),
    "wrong type for a boolean": (
        b'{"name": "Harbor", "kind": "shelter", "is_victim_service_provider": "yes"}',
        400,
        "is_victim_service_provider",
    ),
    "unknown field": (b'{"name": "Harbor", "kind": "shelter", "colour": "red"}', 422, "colour"),
    "server-owned field": (
        b'{"name": "Harbor", "kind": "shelter", "status": "active"}',
        422,
        "status",
    ),
    "value out of the enum": (b'{"name": "Harbor", "kind": "spaceship"}', 422, "kind"),
    "too short": (b'{"name": "H", "kind": "shelter"}', 422, "name"),
    "missing required": (b'{"kind": "shelter"}', 422, "name"),
    "null for required": (b'{"name": null, "kind": "shelter"}', 422, "name"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_input_gets_its_status_and_changes_nothing(
    client: Any, session: Any, admin: None, case: str
) -> None:
    body, status, field = MALFORMED[case]
    before = fingerprint(session)
    problem = assert_problem(post_raw(client, body), status, "validation_error")
    assert field in problem["errors"], problem
    assert fingerprint(session) == before


def test_a_body_over_one_mebibyte_is_413(client: Any, session: Any, admin: None) -> None:
    before = fingerprint(session)
    body = json.dumps({"name": "x" * (1024 * 1024), "kind": "shelter"}).encode()
    assert_problem(post_raw(client, body), 413, "payload_too_large")
    assert fingerprint(session) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=latin-1",
    ],
)
def test_a_body_that_is_not_json_is_415(
    client: Any, session: Any, admin: None, content_type: str
) -> None:
    before = fingerprint(session)
    assert_problem(
        post_raw(client, json.dumps(GOOD).encode(), content_type), 415, "unsupported_media_type"
    )
    assert fingerprint(session) == before


def test_good_input_creates_and_is_audited(client: Any, session: Any, admin: None) -> None:
    before = fingerprint(session)
    response = client.post("/api/v1/agencies", json=GOOD)
    assert response.status_code == 201, response.json
    assert response.json["name"] == "Harbor Light"
    assert response.json["status"] == "active"
    assert response.headers["Cache-Control"] == "no-store"
    after = fingerprint(session)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_no_credentials_is_401_with_a_challenge(client: Any, session: Any) -> None:
    before = fingerprint(session)
    response = client.post("/api/v1/agencies", json=GOOD)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/api/v1/agencies"), 401, "unauthorized")
    assert fingerprint(session) == before


def test_the_wrong_role_is_403(client: Any, session: Any, act_as: Callable[[Actor], None]) -> None:
    act_as(Actor(ActorKind.USER, "u1", uuid.uuid4(), frozenset({"intake"})))
    assert_problem(client.post("/api/v1/agencies", json=GOOD), 403, "forbidden")


def test_missing_and_malformed_ids_are_404_alike(client: Any, session: Any, admin: None) -> None:
    missing = assert_problem(client.get(f"/api/v1/agencies/{uuid.uuid4()}"), 404, "not_found")
    malformed = assert_problem(client.get("/api/v1/agencies/not-a-uuid"), 404, "not_found")
    assert missing["detail"] == malformed["detail"]


def test_wrong_method_is_405_with_allow(client: Any, session: Any, admin: None) -> None:
    response = client.delete("/api/v1/agencies")
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_staff_pages_keep_html_errors(client: Any, session: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_request_ids_are_echoed_when_safe_and_replaced_when_not(client: Any, session: Any) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-Id": "abc-123-def"}).headers["X-Request-Id"]
        == "abc-123-def"
    )
    replaced = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"}).headers[
        "X-Request-Id"
    ]
    assert len(replaced) == 32
    assert replaced.isalnum()
    a, b = client.get("/healthz"), client.get("/healthz")
    assert a.headers["X-Request-Id"] != b.headers["X-Request-Id"]


def test_cursor_paging_walks_every_item_once(client: Any, session: Any, admin: None) -> None:
    with transaction():
        created = {str(factories.agency(name=f"Paging Agency {i}").id) for i in range(5)}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/agencies", query_string=query).json
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert created <= set(seen)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 201}, {"cursor": "forged"}, {"limit": "many"}]
)
def test_bad_paging_arguments_are_422(
    client: Any, session: Any, admin: None, query: dict[str, Any]
) -> None:
    problem = assert_problem(
        client.get("/api/v1/agencies", query_string=query), 422, "validation_error"
    )
    assert set(problem["errors"]) & {"limit", "cursor"}


def test_same_idempotency_key_and_body_returns_the_first_response(
    client: Any, session: Any, admin: None
) -> None:
    headers = {"Idempotency-Key": "create-harbor-1"}
    first = client.post("/api/v1/agencies", json=GOOD, headers=headers)
    before = fingerprint(session)
    again = client.post("/api/v1/agencies", json=GOOD, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert fingerprint(session) == before


def test_same_idempotency_key_with_another_body_is_422(
    client: Any, session: Any, admin: None
) -> None:
    headers = {"Idempotency-Key": "create-harbor-2"}
    assert client.post("/api/v1/agencies", json=GOOD, headers=headers).status_code == 201
    before = fingerprint(session)
    other = client.post("/api/v1/agencies", json={**GOOD, "name": "Other"}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")
    assert fingerprint(session) == before


def test_a_key_still_in_flight_is_409(client: Any, session: Any, admin: None) -> None:
    import hashlib
    from datetime import timedelta

    from referral_hub.core import clock

    body = json.dumps(GOOD).encode()
    digest = hashlib.sha256()
    for part in ("POST", "/api/v1/agencies", ""):
        digest.update(part.encode() + b"\x00")
    digest.update(body)
    with transaction():  # another process has claimed the key and not finished yet
        session.add(
            IdempotencyRecord(
                actor_key=HUB_ADMIN.key,
                key="busy-key",
                fingerprint=digest.hexdigest(),
                expires_at=clock.now() + timedelta(hours=24),
            )
        )
    before = fingerprint(session)
    busy = client.post(
        "/api/v1/agencies",
        data=body,
        headers={"Idempotency-Key": "busy-key", "Content-Type": "application/json"},
    )
    assert_problem(busy, 409, "conflict")
    assert busy.headers["Retry-After"] == "1"
    assert fingerprint(session) == before


def test_a_failed_request_releases_its_key(client: Any, session: Any, admin: None) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    assert client.post("/api/v1/agencies", json={"name": "X"}, headers=headers).status_code == 422
    assert client.post("/api/v1/agencies", json=GOOD, headers=headers).status_code == 201


def test_keys_belong_to_one_actor(
    client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    act_as(HUB_ADMIN)
    assert client.post("/api/v1/agencies", json=GOOD, headers=headers).status_code == 201
    act_as(Actor(ActorKind.USER, "another-admin", uuid.uuid4(), frozenset({"hub_admin"})))
    other = client.post("/api/v1/agencies", json={**GOOD, "name": "Second"}, headers=headers)
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "spaces are not allowed", "é"])
def test_malformed_idempotency_keys_are_422(
    client: Any, session: Any, admin: None, key: str
) -> None:
    before = fingerprint(session)
    response = client.post("/api/v1/agencies", json=GOOD, headers={"Idempotency-Key": key})
    assert_problem(response, 422, "validation_error")
    assert fingerprint(session) == before


def test_health_and_readiness(client: Any, session: Any) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"]["database"] == "ok"


def test_readiness_is_503_naming_the_failing_dependency(
    app: Flask, client: Any, session: Any
) -> None:
    from referral_hub.jobs.queue import RqQueue

    live = app.extensions["hub_queue"]
    app.extensions["hub_queue"] = RqQueue("redis://127.0.0.1:1/0", "down")
    try:
        response = client.get("/readyz")
    finally:
        app.extensions["hub_queue"] = live
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"].startswith("error")


def test_problem_types_resolve_to_a_page(client: Any, session: Any) -> None:
    page = client.get("/problems/no_capacity")
    assert page.status_code == 200
    assert b"No capacity available" in page.data
    assert client.get("/problems/made_up").status_code == 404


def test_an_unknown_query_parameter_is_422_naming_it_on_every_api_route(
    app: Flask, client: Any, session: Any, admin: None
) -> None:
    """Never silently ignored, on routes with query schemas and on routes without any."""
    before = fingerprint(session)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        values: dict[str, Any] = {name: uuid.uuid4() for name in rule.arguments if name != "action"}
        if "action" in rule.arguments:
            values["action"] = "accept"
        adapter = app.url_map.bind("localhost")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path = adapter.build(rule.endpoint, values, method=method)
            response = client.open(f"{path}?no_such_filter=1", method=method)
            assert response.status_code == 422, (method, path, response.status_code)
            assert response.mimetype == "application/problem+json"
            assert response.json["errors"] == {"no_such_filter": ["Unknown field."]}, path
            checked += 1
    assert checked >= 45  # every operation in the document
    assert fingerprint(session) == before


def test_declared_query_parameters_are_still_read(client: Any, session: Any, admin: None) -> None:
    listed = client.get("/api/v1/agencies?limit=1")
    assert listed.status_code == 200, listed.json
    assert len(listed.json["items"]) <= 1


# --- an empty JSON body (issue 14, defect 10) -----------------------------------------------


def _row_counts(session: Any) -> dict[str, int]:
    from referral_hub.extensions import db

    session.expire_all()
    return {
        table.name: int(session.scalar(select(func.count()).select_from(table)))
        for table in db.metadata.sorted_tables
    }


def _json_body_routes(app: Flask) -> list[tuple[str, str]]:
    """Every API route (method, URL with ids filled in) whose view takes a JSON body."""
    from referral_hub.core.http import _takes_json_body

    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions[rule.endpoint]
        if not _takes_json_body(view):
            continue
        url = re.sub(r"<any\(\W*(\w[\w-]*)[^>]*>", r"\1", rule.rule)  # its first choice
        url = re.sub(r"<uuid:\w+>", lambda _: str(uuid.uuid4()), url)
        url = re.sub(r"<[^>]+>", "x", url)
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"}):
            routes.append((method, url))
    return routes


def test_an_empty_json_body_creates_no_client(
    client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    with transaction():
        agency = factories.agency()
    act_as(Actor(ActorKind.USER, "intake-1", agency.id, frozenset({"intake"})))
    before = _row_counts(session)
    response = client.post(
        "/api/v1/clients", data=b"", headers={"Content-Type": "application/json"}
    )
    body = assert_problem(response, 400, "validation_error")
    assert "$" in body["errors"]
    assert _row_counts(session) == before


def test_an_empty_json_body_is_malformed_on_every_route_that_takes_a_body(
    app: Flask, client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    routes = _json_body_routes(app)
    assert len(routes) >= 15  # the URL map was read
    act_as(HUB_ADMIN)
    before = _row_counts(session)
    for method, url in routes:
        for content_type in ("application/json", "application/json; charset=utf-8"):
            response = client.open(
                url,
                method=method,
                data=b"",
                headers={"Content-Type": content_type, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert response.status_code == 400, (method, url, response.status_code)
            assert response.mimetype == "application/problem+json", (method, url)
            assert "$" in response.get_json(force=True)["errors"], (method, url)
    assert _row_counts(session) == before


def test_an_empty_body_without_json_is_still_no_body(
    client: Any, act_as: Callable[[Actor], None]
) -> None:
    """A route that takes no body: an empty JSON-typed one is no body there."""
    act_as(HUB_ADMIN)
    response = client.post(
        f"/api/v1/agencies/{uuid.uuid4()}/api-clients/{uuid.uuid4()}/revoke",
        data=b"",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 404
