"""RFC 9457 problem details: the one shape every API error takes.

`{"type", "title", "status", "detail", "code", "errors"?, "request_id"}` with media type
`application/problem+json`. Domain errors, HTTP errors and the last-resort handler all end
here; the body is built from fixed titles and field messages, never from `str(exception)`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from werkzeug.exceptions import HTTPException, InternalServerError

from referral_hub.core.db import is_unavailable
from referral_hub.core.errors import DomainError, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# another wire format for the same problems under a path prefix (the FHIR interface answers
# OperationOutcome): `app.extensions["problem_renderers"][prefix] = render(body, headers)`
ProblemRenderer = Callable[[dict[str, Any], dict[str, str]], Response]

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
    renderer = _renderer()
    if renderer is not None:
        return renderer(body, dict(headers or {}))
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _renderer() -> ProblemRenderer | None:
    if not has_request_context():
        return None
    renderers: dict[str, ProblemRenderer] = current_app.extensions.get("problem_renderers", {})
    for prefix, render in renderers.items():
        if request.path.startswith(prefix):
            return render
    return None


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
    """API, OAuth and FHIR paths answer problems; staff pages keep HTML error pages."""
    if _renderer() is not None:
        return True
    return request.path.startswith(("/api/", "/oauth/")) or request.path in (
        "/openapi.json",
        "/healthz",
        "/readyz",
    )


# Seconds a client is told to wait when the database is out of reach: a restart or
# failover usually takes a few.
RETRY_AFTER_UNAVAILABLE = 5


class _Throttle:
    """Lets one log line through per `seconds`; `due()` says how many it held back."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.next_at = 0.0
        self.held = 0
        self.lock = threading.Lock()

    def due(self) -> int | None:
        with self.lock:
            now = time.monotonic()
            if now < self.next_at:
                self.held += 1
                return None
            held, self.held, self.next_at = self.held, 0, now + self.seconds
            return held


_unavailable_log = _Throttle(10.0)


def database_unavailable() -> ServiceUnavailable:
    """The answer to a request the database could not serve (its transaction was lost)."""
    return ServiceUnavailable(
        "The database is not answering; try again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
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

    def _unavailable(error: BaseException) -> Response:
        cause = getattr(error, "original_exception", None) or error
        held = _unavailable_log.due()
        if held is not None:  # one line per interval in an outage, not one per request
            log.warning(
                "database unavailable on %s %s (%s); %s more 503s since the last line",
                request.method,
                request.path,
                type(cause).__name__,
                held,
            )
        return from_domain_error(database_unavailable())

    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError) -> Response | HTTPException:
        """What werkzeug makes of an error raised outside a view (an after_request hook);
        registered by class so it comes before flask-smorest's catch-all HTTP handler."""
        if is_unavailable(error):
            return _unavailable(error)
        return from_http_exception(error) if wants_problem_json() else error

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | HTTPException:
        if is_unavailable(error):
            return _unavailable(error)
        if isinstance(error, HTTPException):  # routed here only when no other handler took it
            return from_http_exception(error) if wants_problem_json() else error
        # flask calls this handler outside any `except` of ours: the traceback is the error's
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return problem_response(
            500,
            "internal_error",
            "Internal server error",
            "Something went wrong on our side; "
            "the request was not applied. Quote the request_id when reporting it.",
        )
