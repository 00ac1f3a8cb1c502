"""Coordinators: network dashboard, in-limbo queue, audit, disclosures (to be filled in)."""

from __future__ import annotations

from typing import Any

from flask import render_template

from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("coordinator", __name__, url_prefix="/network")


@blp.get("/")
@staff_only("coordinator")
def dashboard() -> Any:
    return render_template("coordinator/dashboard.html")


@blp.get("/in-limbo")
@staff_only("coordinator")
def limbo() -> Any:
    return render_template("coordinator/limbo.html")


@blp.get("/audit")
@staff_only("coordinator")
def audit() -> Any:
    return render_template("coordinator/audit.html")
