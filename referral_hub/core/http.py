"""The API's HTTP plumbing: flask-smorest Api and Blueprint with our parser and errors.

Every request body under /api/ goes through `core.jsonin.loads_strict` before a view sees
it; validation failures become problem+json (400 for wrong JSON types, 422 for rule
breaks) with a message per field.
"""

from __future__ import annotations

from typing import Any, NoReturn

import flask_smorest
from apispec import BasePlugin
from flask import current_app, g, request
from marshmallow import RAISE, Schema, ValidationError
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from referral_hub.core.errors import MalformedRequest, ValidationFailed
from referral_hub.core.problems import PROBLEM_MEDIA_TYPE, from_http_exception, wants_problem_json
from referral_hub.core.schemas import ProblemSchema, flatten_messages, has_type_mismatch

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# paths machines call with bearer tokens and JSON bodies: the JSON API and the FHIR interface
MACHINE_PREFIXES = ("/api/", "/fhir/")


class HubParser(FlaskParser):
    """Reads the body parsed once by the intake hook; turns validation errors into problems.

    A query parameter no schema declares is refused (webargs would drop it silently: a
    misspelt filter must not look as if it had filtered)."""

    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {  # noqa: RUF012 - webargs' shape
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
        "querystring": RAISE,
    }

    def _raw_load_json(self, req: Any) -> Any:
        # no body: the schema's defaults apply; a JSON `null` is a document, and not an
        # object (read as "no body", `null` created a client with nothing in it)
        if not g.get("json_present"):
            return webargs_core.missing
        return g.json_body

    def handle_error(
        self,
        error: ValidationError,
        req: Any,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Any,
    ) -> NoReturn:
        messages = error.messages
        # webargs nests messages under the location ("json", "query", "view_args")
        if isinstance(messages, dict) and len(messages) == 1:
            location, inner = next(iter(messages.items()))
            if location in ("json", "querystring", "query", "view_args", "path", "headers"):
                if location == "json" and has_type_mismatch(schema, g.get("json_body"), inner):
                    raise MalformedRequest(
                        "A field has the wrong JSON type", errors=flatten_messages(inner)
                    )
                if location in ("view_args", "path"):
                    # a malformed id in the path is a missing resource, not a bad body
                    from referral_hub.core.errors import NotFound

                    raise NotFound()
                raise ValidationFailed(errors=flatten_messages(inner))
        raise ValidationFailed(errors=flatten_messages(messages))


class HubBlueprint(flask_smorest.Blueprint):
    """Use for every API blueprint so all of them share the strict parser."""

    ARGUMENTS_PARSER = HubParser()

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """A JSON body whose every field is optional may be left out (its defaults apply,
        as for `{}`), and the document says so: `requestBody.required` is then false."""
        if location == "json" and "required" not in kwargs:
            instance = schema() if isinstance(schema, type) else schema
            kwargs["required"] = any(f.required for f in instance.fields.values())
        return super().arguments(schema, location=location, **kwargs)


class SchemaRulesPlugin(BasePlugin):
    """Adds a schema's `Meta.json_schema` keywords to its component in the document.

    For rules across fields (both latitude and longitude, or neither) that a schema checks
    in `@validates_schema`: stated here too, clients and schemathesis see them.
    """

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> Any:
        meta = getattr(kwargs.get("schema"), "Meta", None)
        return dict(getattr(meta, "json_schema", None) or {})


class HubApi(flask_smorest.Api):
    """flask-smorest Api whose error handler speaks problem+json only where it should.

    Without this, smorest's app-wide HTTPException handler turns HTML 404 pages into JSON,
    drops `Allow` from 405s and hides Authlib's `WWW-Authenticate` (see ecosystem notes).
    """

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: Any = None, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        spec_kwargs = {"extra_plugins": [SchemaRulesPlugin()], **(spec_kwargs or {})}
        super().__init__(app, spec_kwargs=spec_kwargs)

    def _register_responses(self) -> None:
        """Document every error response as application/problem+json."""
        saved: str = self.DEFAULT_RESPONSE_CONTENT_TYPE  # type: ignore[has-type]
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_MEDIA_TYPE
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = saved

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not wants_problem_json():
            return error
        if type(error).__module__.startswith("authlib."):
            return error.get_response()
        return from_http_exception(error)


def read_json_body() -> None:
    """Before-request intake for API bodies: size, media type and strict JSON, or a problem."""
    from referral_hub.core.errors import PayloadTooLarge, UnsupportedMediaType

    g.json_body = None
    g.json_present = False
    if request.method not in BODY_METHODS or not request.path.startswith(MACHINE_PREFIXES):
        return
    limit = int(request.max_content_length or 1024 * 1024)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body may be at most {limit} bytes.")
    raw = _read_at_most(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body may be at most {limit} bytes.")
    g.raw_body = raw
    mimetype = request.mimetype or ""
    if not raw:
        _refuse_empty_json(mimetype)
        return
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            "Send the body as JSON with Content-Type: application/json.",
            errors={"Content-Type": [f"{mimetype or 'missing'} is not supported."]},
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "JSON bodies must be UTF-8.", errors={"Content-Type": [f"charset {charset}"]}
        )
    from referral_hub.core.jsonin import loads_strict

    g.json_body = loads_strict(raw)
    g.json_present = True
    request._cached_json = (g.json_body, g.json_body)  # so request.get_json() agrees
    _refuse_unwanted_body(g.json_body)


def _read_at_most(size: int) -> bytes:
    """Up to `size` bytes of the body. One read of a chunked body may return a part only,
    which would have slipped an oversized body past the 413 as a truncated (400) one."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = request.stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _refuse_empty_json(mimetype: str) -> None:
    """A zero-length body sent as JSON is not a JSON document (not `{}`): to an endpoint that
    takes a body it is malformed, never a record made of defaults. With no Content-Type, or
    to an endpoint that takes no body (`accept`), an empty body is simply no body."""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and _takes_json_body(view):
        raise MalformedRequest(
            "The body is empty: send a JSON document (at least {}).",
            errors={"$": ["Empty body: not a JSON document."]},
        )


def _refuse_unwanted_body(document: Any) -> None:
    """A view that declares no JSON body takes none: what it would silently ignore (a
    `status`, another agency's id) is refused as unknown, as every input schema does."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or _takes_json_body(view) or document == {}:
        return
    if not isinstance(document, dict):
        raise MalformedRequest("This endpoint takes no body.", errors={"$": ["Send no body."]})
    raise ValidationFailed(
        "This endpoint takes no body.", errors={str(key): ["Unknown field."] for key in document}
    )


def _takes_json_body(view: Any) -> bool:
    """Declared with `@blp.arguments(Schema)` (JSON), a documented `requestBody`, or marked
    `takes_body = True` (views outside flask-smorest, such as the FHIR interface's)."""
    if getattr(view, "takes_body", False):
        return True
    doc = getattr(view, "_apidoc", {})
    parameters = doc.get("arguments", {}).get("parameters", [])
    return any(p.get("in", "json") == "json" for p in parameters) or (
        "requestBody" in doc.get("manual_doc", {})
    )


def refuse_unknown_query() -> None:
    """Before-request check for /api/: every query parameter must be one the view declares.

    Covers views that declare no query schema at all (where the parser never runs), so
    `?status=accepted` on a route without filters is a 422 naming `status`, not ignored.
    """
    if not request.path.startswith("/api/") or not request.args:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return
    unknown = sorted(set(request.args) - declared_query_names(view))
    if unknown:
        raise ValidationFailed(
            "Unknown query parameter.", errors={name: ["Unknown field."] for name in unknown}
        )


def declared_query_names(view: Any) -> frozenset[str]:
    """The query parameter names a view's `@blp.arguments(..., location="query")` declare."""
    cached = getattr(view, "_hub_query_names", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names: set[str] = set()
    doc = getattr(view, "_apidoc", {})
    for parameter in doc.get("arguments", {}).get("parameters", []):
        if parameter.get("in") not in ("query", "querystring"):
            continue
        schema = parameter["schema"]
        instance = schema() if isinstance(schema, type) else schema
        names.update(field.data_key or name for name, field in instance.fields.items())
    frozen = frozenset(names)
    view._hub_query_names = frozen
    return frozen
