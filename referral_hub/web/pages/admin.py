"""Administrators: users and roles, API clients, webhooks, services (to be filled in)."""

from __future__ import annotations

from typing import Any

from flask import render_template

from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("admin", __name__, url_prefix="/admin")


@blp.get("/users")
@staff_only("agency_admin", "hub_admin")
def users() -> Any:
    return render_template("admin/users.html")
