"""Wiring features into the app: blueprints, job queue, periodic tasks, CLI.

The one place that knows every feature; each feature knows only those below it.
"""

from __future__ import annotations

from flask import Flask

from referral_hub.extensions import api


def register(app: Flask) -> None:
    from referral_hub import cli
    from referral_hub.agencies.api import blp as agencies_blp
    from referral_hub.api.health import blp as health_blp
    from referral_hub.core import idempotency
    from referral_hub.jobs import periodic
    from referral_hub.jobs import service as outbox
    from referral_hub.jobs.queue import build_queue
    from referral_hub.notifications import service as _notifications  # noqa: F401 - consumers
    from referral_hub.web.pages.home import blp as home_blp

    app.extensions["hub_queue"] = build_queue(app)
    periodic.register("outbox.sweep", "OUTBOX_SWEEP_SECONDS", outbox.sweep)
    periodic.register("idempotency.purge", "IDEMPOTENCY_PURGE_SECONDS", idempotency.purge_expired)

    api.register_blueprint(agencies_blp)
    app.register_blueprint(health_blp)
    app.register_blueprint(home_blp)
    app.cli.add_command(cli.hub)

    if app.config["RUN_EMBEDDED_SCHEDULER"]:
        app.extensions["hub_scheduler_stop"] = periodic.start_embedded_scheduler(app)
