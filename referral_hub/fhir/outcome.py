"""The hub's problems as FHIR OperationOutcome: same status, same fields named (as FHIR
expressions), the problem's machine code kept in `details`, nothing else added."""

from __future__ import annotations

import json
import re
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask import Response

from referral_hub.fhir import codes

FHIR_JSON = "application/fhir+json"
PROBLEM_CODES = f"{codes.HUB}/problem"
ISSUE_TYPE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
}


def render(problem: dict[str, Any], headers: dict[str, str]) -> Response:
    """A problem body (core.problems) as an OperationOutcome response."""
    status = int(problem["status"])
    code = ISSUE_TYPE.get(status, "exception")
    details = {
        "coding": [{"system": PROBLEM_CODES, "code": problem["code"]}],
        "text": problem["title"],
    }
    errors: dict[str, list[str]] = problem.get("errors") or {}
    issues = [
        {
            "severity": "error",
            "code": code,
            "details": details,
            "diagnostics": "; ".join(messages),
            "expression": [field],
        }
        for field, messages in errors.items()
    ] or [{"severity": "error", "code": code, "details": details, "diagnostics": problem["detail"]}]
    body: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": issues}
    if re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", str(problem.get("request_id") or "")):
        body["id"] = str(problem["request_id"])[:64]
    outcome = OperationOutcome.model_validate(body)
    response = Response(
        json.dumps(outcome.model_dump(mode="json", by_alias=True, exclude_none=True)),
        status=status,
        mimetype=FHIR_JSON,
    )
    for name, value in headers.items():
        response.headers[name] = value
    return response
