"""Edge checks: is anyone there, and may their role (staff) or scope (agency system) do this?

Tenancy — *which* objects — is checked by the services, not here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from flask import g

from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="referral_hub"'}
ANY_SCOPE = ""  # `scopes=ANY_SCOPE`: any valid token will do


def current_actor() -> Actor:
    actor: Actor = g.actor
    if actor.kind == ActorKind.ANONYMOUS:
        raise Unauthorized(headers=CHALLENGE)
    return actor


def scopes_satisfied(granted: frozenset[str], required: str | Sequence[str]) -> bool:
    """`"a b"` needs a AND b; `["a", "b c"]` needs a OR (b AND c)."""
    alternatives = [required] if isinstance(required, str) else list(required)
    return any(set(option.split()) <= granted for option in alternatives)


def check(actor: Actor, roles: Sequence[str], scopes: str | Sequence[str] | None) -> None:
    """Raise unless `actor` may pass; see `require` for the rules."""
    if actor.kind == ActorKind.ANONYMOUS:
        raise Unauthorized(headers=CHALLENGE)
    if actor.kind == ActorKind.CLIENT:
        if scopes is None:
            raise Forbidden("This endpoint is for staff in the browser, not agency systems.")
        if not scopes_satisfied(actor.scopes, scopes):
            wanted = scopes if isinstance(scopes, str) else " or ".join(scopes)
            raise Forbidden(
                f"The token lacks the scope this needs: {wanted}.",
                headers={
                    "WWW-Authenticate": f'Bearer realm="referral_hub", error="insufficient_scope", '
                    f'scope="{wanted}"'
                },
            )
        return
    if actor.kind == ActorKind.USER and roles and not actor.has_role(*roles):
        raise Forbidden(f"Needs one of the roles: {', '.join(roles)}.")


def require(*roles: str, scopes: str | Sequence[str] | None = None) -> Callable[[F], F]:
    """Staff must hold one of `roles` (none named: any signed-in staff member).

    Agency systems must hold `scopes`: a string needs every space-separated scope in it, a
    list needs any one of its strings. An endpoint that names no scopes is for staff only.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(g.actor, roles, scopes)
            return view(*args, **kwargs)

        _document(wrapper, roles, scopes)
        return cast(F, wrapper)

    return decorate


def _document(view: Any, roles: Sequence[str], scopes: str | Sequence[str] | None) -> None:
    """Say in the OpenAPI document who may call: OAuth scopes, or the staff session."""
    security: list[dict[str, list[str]]] = [{"session": []}]
    if scopes is not None:
        options = [scopes] if isinstance(scopes, str) else list(scopes)
        security = [{"oauth2": option.split()} for option in options] + security
    doc = view.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})
    doc["security"] = security
    if roles:
        note = f"Staff roles: {', '.join(roles)}."
        doc["description"] = f"{doc.get('description', '')}\n\n{note}".strip()
