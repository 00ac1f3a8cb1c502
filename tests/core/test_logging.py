"""Log lines are JSON with the request id, and personal data is scrubbed from them."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.logging import redact_text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("write to maria.lopez@example.org now", "maria.lopez@example.org"),
        ("call +1 (555) 010-2233 tonight", "555"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("name=Maria dob=2001-02-03", "Maria"),
    ],
)
def test_personal_data_shapes_are_redacted(text: str, leak: str) -> None:
    assert leak not in redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "Running upgrade 958ab1b01b4e -> 5982484095ee, Access grants by referral",
        "Running upgrade 02841dedc8d4 -> 7c1d2e9a4b60",
        "job 3f8a6c2d9e14 done in 12 ms",
    ],
)
def test_identifiers_that_are_not_personal_data_stay_whole(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("call 5550102233, then", "5550102233"),
        ("phone:+44 20 7946 0958.", "7946"),
        ("(555) 010-2233", "010-2233"),
    ],
)
def test_phone_numbers_beside_punctuation_are_still_redacted(text: str, leak: str) -> None:
    assert leak not in redact_text(text)


def test_each_request_logs_one_json_line_with_its_request_id(
    client: Any, session: Any, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = client.get("/api/v1/agencies", headers={"X-Request-Id": "req-12345678"})
    lines = [line for line in log_lines() if line["logger"] == "referral_hub.access"]
    assert len(lines) == 1
    assert lines[0]["request_id"] == "req-12345678" == response.headers["X-Request-Id"]
    assert lines[0]["status"] == 401
    assert lines[0]["message"] == "GET /api/v1/agencies 401"


def test_an_unexpected_error_is_a_generic_500_and_a_logged_traceback(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    from referral_hub import create_app

    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "JOB_RUNNER": "inline"}
    )

    @app.get("/api/v1/test-explodes")
    def explodes() -> Any:
        raise KeyError("maria.lopez@example.org")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/api/v1/test-explodes")
    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "internal_error"
    assert "maria" not in response.get_data(as_text=True)
    errors = [line for line in log_lines() if line["level"] == "error"]
    assert errors
    assert errors[0]["request_id"] == body["request_id"]
    assert "KeyError" in errors[0]["exception"]
    assert "maria.lopez@example.org" not in json.dumps(errors)


def test_extra_fields_named_like_pii_are_redacted(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    logging.getLogger("referral_hub.test").info(
        "client %s updated",
        uuid.UUID(int=7),
        extra={"narrative": "long story", "client_ref": "R-1"},
    )
    (line,) = log_lines()
    assert line["narrative"] == "[redacted]"
    assert line["client_ref"] == "R-1"
    assert line["message"] == f"client {uuid.UUID(int=7)} updated"


def test_actor_is_logged_by_key_only(
    client: Any,
    session: Any,
    act_as: Callable[[Actor], None],
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    act_as(Actor(ActorKind.USER, "user-42", uuid.uuid4(), frozenset({"intake"})))
    client.get("/api/v1/agencies")
    access = [line for line in log_lines() if line["logger"] == "referral_hub.access"]
    assert access[0]["actor"] == "user:user-42"
