"""The front page, the API docs page and the problem-type pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template

from referral_hub.core.actor import ActorKind
from referral_hub.web.pagekit import landing_for
from referral_hub.web.pages import status

blp = Blueprint("home", __name__)


@blp.get("/")
def index() -> Any:
    """Staff land on their own work; everyone else sees the network at a glance."""
    if g.actor.kind == ActorKind.USER and not _wants_overview():
        return redirect(landing_for(g.actor))
    return render_template("home.html", overview=status.overview())


@blp.get("/docs")
def docs() -> Any:
    return render_template("docs.html")


@blp.get("/problems/<code>")
def problem(code: str) -> Any:
    from referral_hub.core.errors import all_error_classes

    matches = [cls for cls in all_error_classes() if cls.code == code]
    if not matches:
        abort(404)
    return render_template("problem.html", code=code, errors=matches)


def _wants_overview() -> bool:
    from flask import request

    return request.args.get("overview") == "1"
