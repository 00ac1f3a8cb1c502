"""RFC 9457 problem details: the one shape every API error takes.

`{"type", "title", "status", "detail", "code", "errors"?, "request_id"}` with media type
`application/problem+json`. Domain errors, HTTP errors and the last-resort handler all end
here; the body is built from fixed titles and field messages, never from `str(exception)`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from referral_hub.core.errors import DomainError, NotFound

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

CODE_BY_STATUS = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def problem_type(code: str) -> str:
    """Problem `type` URI: a page on this hub that explains the code."""
    return f"/problems/{code}"


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: dict[str, list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    body["request_id"] = getattr(g, "request_id", None)
    return body


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = problem_body(status, code, title, detail, errors, **extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_domain_error(error: DomainError) -> Response:
    return problem_response(
        error.status,
        error.code,
        error.title,
        error.detail,
        error.errors,
        error.headers,
        **error.extra,
    )


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    title = error.name or "Error"
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    detail = _safe_description(error)
    if status == 404:  # an unknown route must read exactly like a missing or foreign object
        title = detail = NotFound.title
    return problem_response(
        status, CODE_BY_STATUS.get(status, "error"), title, detail, None, headers
    )


def _safe_description(error: HTTPException) -> str:
    """Werkzeug's own descriptions are fixed texts; anything else is replaced by the title."""
    default = type(error).description
    text = error.description or ""
    return text if text == default else (error.name or "Error")


def wants_problem_json() -> bool:
    """API and OAuth paths answer problems; staff pages keep HTML error pages."""
    return request.path.startswith(("/api/", "/oauth/")) or request.path in (
        "/openapi.json",
        "/healthz",
        "/readyz",
    )


def register_error_handlers(app: Flask) -> None:
    """Domain errors and the last resort; HTTP errors go through HubApi (core.api)."""

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        for hook in app.extensions.get("problem_hooks", []):
            try:
                hook(error)
            except Exception:  # a hook must never turn a clear 4xx into a 500
                log.exception("problem hook failed")
        return from_domain_error(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | HTTPException:
        if isinstance(error, HTTPException):  # routed here only when no other handler took it
            return from_http_exception(error) if wants_problem_json() else error
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            500,
            "internal_error",
            "Internal server error",
            "Something went wrong on our side; "
            "the request was not applied. Quote the request_id when reporting it.",
        )
