"""Intake workers: dashboard, search, clients, consent, bundles (to be filled in)."""

from __future__ import annotations

from typing import Any

from flask import render_template

from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("intake", __name__, url_prefix="/intake")


@blp.get("/")
@staff_only("intake")
def dashboard() -> Any:
    return render_template("intake/dashboard.html")


@blp.get("/search")
@staff_only("intake")
def search() -> Any:
    return render_template("intake/search.html")
