"""What every staff page blueprint shares: who may look, and errors as pages, not JSON.

`page_blueprint` gives a blueprint whose domain errors render `error.html` (a 404 for
another agency's record looks exactly like a missing one), whose anonymous visitors are
sent to sign in and back, and whose refused forms (`forms.Rejected`) come back with the
errors beside their fields. `staff_only(*roles)` is the role check at the edge; which
*records* a person may see is still decided by the services.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import DomainError, Forbidden, Unauthorized
from referral_hub.web.forms import Rejected

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

# the landing page of each role, first match wins (a person may hold several roles)
LANDING = [
    ("intake", "intake.dashboard"),
    ("provider", "provider.inbox"),
    ("coordinator", "coordinator.dashboard"),
    ("agency_admin", "admin.users"),
    ("hub_admin", "admin.users"),
]


def landing_for(actor: Actor) -> str:
    for role, endpoint in LANDING:
        if actor.has_role(role):
            return url_for(endpoint)
    return url_for("home.index")


def _sign_in_first() -> Any:
    """Back to the sign-in page; an htmx poll whose session ended moves the whole page
    there (a 302 would swap the sign-in form into the polled list)."""
    target = request.full_path if request.method == "GET" else request.path
    if request.headers.get("HX-Request") == "true":
        target = request.headers.get("HX-Current-URL", target)
        login = url_for("signin.login", next=_local(target))
        return "", 200, {"HX-Redirect": login}
    return redirect(url_for("signin.login", next=target.rstrip("?")))


def _local(url: str) -> str:
    """The path and query of a (same-site) URL htmx reports as the current page."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)

    @blueprint.errorhandler(Rejected)
    def _rejected(error: Rejected) -> Any:
        if error.problem is not None:  # e.g. another agency's service: forbidden, on record
            _run_problem_hooks(error.problem)
        return error.response

    @blueprint.errorhandler(DomainError)
    def _domain(error: DomainError) -> Any:
        _run_problem_hooks(error)
        if isinstance(error, Unauthorized):
            return _sign_in_first()
        headers = {k: v for k, v in error.headers.items() if k == "Retry-After"}
        page = render_template("error.html", error=error)
        return page, error.status, headers

    return blueprint


def _run_problem_hooks(error: DomainError) -> None:
    for hook in current_app.extensions.get("problem_hooks", []):
        try:
            hook(error)  # refused access is recorded, as for the API
        except Exception:  # a hook must never turn a clear 4xx into a 500
            log.exception("problem hook failed")


def staff_only(*roles: str) -> Callable[[F], F]:
    """Signed-in staff holding one of `roles` (none named: any staff member)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor: Actor = g.actor
            if actor.kind != ActorKind.USER:
                raise Unauthorized()
            if roles and not actor.has_role(*roles):
                raise Forbidden(
                    "This page is for " + " or ".join(r.replace("_", " ") for r in roles) + "."
                )
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def is_htmx() -> bool:
    """An htmx request that wants a fragment (a boosted page load wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def context_of(view: Any) -> dict[str, Any]:
    """A read's dataclass as template names, one level deep (its fields keep their types)."""
    return {field.name: getattr(view, field.name) for field in dataclasses.fields(view)}
