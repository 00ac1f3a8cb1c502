"""Providers: received inbox, referral detail and actions, capacity board (to be filled in)."""

from __future__ import annotations

from typing import Any

from flask import render_template

from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("provider", __name__, url_prefix="/provider")


@blp.get("/")
@staff_only("provider")
def inbox() -> Any:
    return render_template("provider/inbox.html")


@blp.get("/capacity")
@staff_only("provider")
def capacity() -> Any:
    return render_template("provider/capacity.html")
