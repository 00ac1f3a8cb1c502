"""Staff page blueprints, one module per kind of user."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from referral_hub.web.pages import (
        admin,
        bundles,
        coordinator,
        her_access,
        home,
        intake,
        live,
        mail,
        outside,
        provider,
        signin,
        survivor,
    )

    for module in (
        home,
        signin,
        intake,
        provider,
        coordinator,
        admin,
        mail,
        bundles,
        her_access,
        live,
        outside,
    ):
        app.register_blueprint(module.blp)
    app.register_blueprint(outside.link_blp)
    app.register_blueprint(survivor.blp)
    survivor.register_filters(app)
