"""The front page, the API docs page and the problem-type pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from referral_hub.web.pages import status

blp = Blueprint("home", __name__)


@blp.get("/")
def index() -> Any:
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
