"""Staff page blueprints, one module per kind of user."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from referral_hub.web.pages import admin, coordinator, home, intake, provider, signin

    for module in (home, signin, intake, provider, coordinator, admin):
        app.register_blueprint(module.blp)
