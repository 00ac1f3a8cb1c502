"""Assembling the application: config, extensions, the request lifecycle, features."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

from referral_hub.core import idempotency, settings
from referral_hub.core.actor import ANONYMOUS
from referral_hub.core.db import install_sqlite_pragmas, transaction
from referral_hub.core.http import read_json_body
from referral_hub.core.logging import configure_logging
from referral_hub.core.problems import register_error_handlers
from referral_hub.core.requestid import accept_or_make, current_request_id
from referral_hub.extensions import api, db, migrate

access_log = logging.getLogger("referral_hub.access")
ROOT = Path(__file__).resolve().parent.parent


class HubFlask(Flask):
    """Flask whose every view runs in one transaction, committed only on success.

    The idempotency record of a creating POST is completed inside that same transaction,
    so a stored answer never exists without the change it describes.
    """

    def dispatch_request(self) -> Any:
        with transaction():
            response = self.make_response(super().dispatch_request())
            if response.status_code >= 400:
                raise _RollbackWithResponse(response)
            idempotency.complete(response)
            return response

    def handle_user_exception(self, e: Exception) -> Any:
        if isinstance(e, _RollbackWithResponse):
            return e.response
        return super().handle_user_exception(e)


class _RollbackWithResponse(Exception):
    """A view answered with an error status without raising: roll back, keep its answer."""

    def __init__(self, response: Response) -> None:
        super().__init__("rollback")
        self.response = response


def build_app(overrides: dict[str, Any] | None = None) -> HubFlask:
    app = HubFlask(
        "referral_hub",
        instance_path=os.environ.get("REFERRAL_HUB_INSTANCE_PATH") or str(ROOT / "instance"),
        static_folder="web/static",
        template_folder="web/templates",
    )
    settings.load(app, overrides)
    if not app.config.get("TESTING"):
        configure_logging(app.config["LOG_LEVEL"], _json_logs(app))

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                install_sqlite_pragmas(engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    api.init_app(app)
    register_error_handlers(app)
    _install_request_lifecycle(app)

    from referral_hub import features

    features.register(app)
    return app


def _json_logs(app: Flask) -> bool:
    value = app.config["LOG_JSON"]
    if value in ("", None):
        return bool(app.config["HUB_ENV"] == "production")
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _install_request_lifecycle(app: Flask) -> None:
    @app.before_request
    def _start() -> Response | None:
        g.started = time.perf_counter()
        g.request_id = accept_or_make(request.headers.get("X-Request-Id"))
        g.request_id_token = current_request_id.set(g.request_id)
        read_json_body()
        g.actor = app.extensions.get("actor_resolver", lambda: ANONYMOUS)()
        return idempotency.begin()

    @app.after_request
    def _finish(response: Response) -> Response:
        if response.status_code >= 400:
            idempotency.release_if_failed()
        response.headers["X-Request-Id"] = g.get("request_id") or accept_or_make(None)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if request.path not in ("/healthz", "/readyz") and not request.path.startswith("/static/"):
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 2),
                    "actor": g.actor.key if "actor" in g else None,
                },
            )
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            current_request_id.reset(token)
