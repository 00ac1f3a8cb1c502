"""Staff page blueprints, one module per kind of user."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from referral_hub.web.pages import (
        admin,
        bundles,
        coordinator,
        home,
        intake,
        mail,
        provider,
        signin,
    )

    for module in (home, signin, intake, provider, coordinator, admin, mail, bundles):
        app.register_blueprint(module.blp)
