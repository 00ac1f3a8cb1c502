"""Domain errors: raised by services, rendered as problem+json by core.problems.

Each carries the machine `code` from the API contract. Raise the most specific one; the
docstring says when. Messages are fixed strings chosen by the code, never `str(exc)` of
something else, so no internal detail or survivor data reaches a client.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base: a rule of the hub said no. Subclasses fix status, code and title."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class MalformedRequest(DomainError):
    """The body is not acceptable JSON: broken, NaN, duplicate keys, too deep, wrong types."""

    status, code, title = 400, "validation_error", "Malformed request"


class ValidationFailed(DomainError):
    """Well-formed input that breaks a rule; `errors` names each field at fault."""

    status, code, title = 422, "validation_error", "Validation failed"


class Unauthorized(DomainError):
    """No credentials, or credentials that are not valid (expired, revoked, unknown)."""

    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    """Authenticated, but the role or scope does not allow this action."""

    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    """Missing, or another tenant's: the two must look exactly the same to the caller."""

    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    """The request fights the current state (duplicate, in-flight idempotent request)."""

    status, code, title = 409, "conflict", "Conflict"


class IllegalTransition(DomainError):
    """A state machine refused the action from the current state; nothing changed."""

    status, code, title = 409, "illegal_transition", "Illegal state transition"


class NoCapacity(DomainError):
    """A hold was asked for and no unit was free at that instant."""

    status, code, title = 409, "no_capacity", "No capacity available"


class ConsentRequired(DomainError):
    """Sharing this data needs a consent naming this recipient, and there is none."""

    status, code, title = 422, "consent_required", "Consent required"


class ConsentInactive(DomainError):
    """The consent exists but is expired or revoked."""

    status, code, title = 422, "consent_inactive", "Consent is not active"


class DoNotRefer(DomainError):
    """The client asked never to be sent to this agency."""

    status, code, title = 422, "do_not_refer", "The client asked not to be referred there"


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was used before with a different request body."""

    status, code, title = 422, "idempotency_key_reused", "Idempotency key reused"


class PayloadTooLarge(DomainError):
    """The body is over the request size limit."""

    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(DomainError):
    """A body was sent with a content type other than JSON."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class RateLimited(DomainError):
    """Too many requests; `Retry-After` says when to come back."""

    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(DomainError):
    """A dependency (database, queue) is not answering; try again later."""

    status, code, title = 503, "unavailable", "Service unavailable"


def all_error_classes() -> list[type[DomainError]]:
    """Every concrete error, for the /problems documentation page and the OpenAPI text."""
    seen: list[type[DomainError]] = []
    pending = list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        seen.append(cls)
        pending.extend(cls.__subclasses__())
    return seen
