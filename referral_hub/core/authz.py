"""Edge checks: is anyone there, and may their role do this? Tenancy is the services' job."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g

from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])


def current_actor() -> Actor:
    actor: Actor = g.actor
    if actor.kind == ActorKind.ANONYMOUS:
        raise Unauthorized(headers={"WWW-Authenticate": 'Bearer realm="referral_hub"'})
    return actor


def require(*roles: str) -> Callable[[F], F]:
    """Signed in, and (when roles are named) holding at least one of them."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if roles and not actor.has_role(*roles):
                raise Forbidden(f"Needs one of the roles: {', '.join(roles)}.")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
