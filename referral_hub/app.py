"""Assembling the application: config, extensions, the request lifecycle, features."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from referral_hub.core import idempotency, settings
from referral_hub.core.actor import ANONYMOUS
from referral_hub.core.connection import CloseAfterRefusedBody
from referral_hub.core.db import install_sqlite_pragmas, transaction
from referral_hub.core.http import read_json_body, refuse_unknown_query
from referral_hub.core.lazy_begin import begin_before_first_write, start_outside_a_transaction
from referral_hub.core.liveness import replace_dropped_connections
from referral_hub.core.logging import configure_logging
from referral_hub.core.problems import register_error_handlers
from referral_hub.core.requestid import accept_or_make, current_request_id
from referral_hub.extensions import api, csrf, db, migrate
from referral_hub.web import i18n

access_log = logging.getLogger("referral_hub.access")
ROOT = Path(__file__).resolve().parent.parent


class HubFlask(Flask):
    """Flask whose every view runs in one transaction: any exception rolls all of it back.

    Errors are raised (domain errors, validation aborts), so bad input changes nothing. A
    view that *returns* an error response on purpose (a sign-in form saying "wrong
    password", an OAuth error) commits what it recorded about the failure. The
    idempotency record of a creating POST is completed inside the same transaction, so a
    stored answer never exists without the change it describes.
    """

    def dispatch_request(self) -> Any:
        with transaction():
            response = self.make_response(super().dispatch_request())
            idempotency.complete(response)
            return response


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
            elif engine.dialect.name == "postgresql":
                replace_dropped_connections(engine)
                begin_before_first_write(engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    api.init_app(app)
    csrf.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.wsgi_app = CloseAfterRefusedBody(app.wsgi_app)  # type: ignore[method-assign]
    register_error_handlers(app)
    i18n.init_app(app)
    _install_request_lifecycle(app)

    from referral_hub import features

    features.register(app)
    return app


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI sets inline styles; the docs page carries no client data
CSP_DOCS = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def security_headers(app: Flask, response: Response) -> None:
    """Headers on every response; nothing carrying client data may be cached anywhere."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP_DOCS if request.path == "/docs" else CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if app.config["HUB_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not request.path.startswith("/static/") and request.path != "/docs":
        headers.setdefault("Cache-Control", "no-store")


def _json_logs(app: Flask) -> bool:
    value = app.config["LOG_JSON"]
    if value in ("", None):
        return bool(app.config["HUB_ENV"] == "production")
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _starts_outside_a_transaction(path: str) -> bool:
    """Not static files and the liveness probe (no database for them), nor the readiness
    probe: a database that is down must reach its own check, which names it in the answer."""
    return not path.startswith("/static/") and path not in ("/healthz", "/readyz")


def _install_request_lifecycle(app: Flask) -> None:
    @app.before_request
    def _start() -> Response | None:
        g.started = time.perf_counter()
        if request.method in ("GET", "HEAD") and _starts_outside_a_transaction(request.path):
            start_outside_a_transaction(db.session)
        g.request_id = accept_or_make(request.headers.get("X-Request-Id"))
        g.request_id_token = current_request_id.set(g.request_id)
        read_json_body()
        g.actor = app.extensions.get("actor_resolver", lambda: ANONYMOUS)()
        for guard in app.extensions.get("request_guards", []):
            guard()
        refuse_unknown_query()  # after the guards: a forged CSRF token is a 403 wherever it is
        return idempotency.begin()

    @app.after_request
    def _finish(response: Response) -> Response:
        if response.status_code >= 400:
            idempotency.release_if_failed()
        response.headers["X-Request-Id"] = g.get("request_id") or accept_or_make(None)
        security_headers(app, response)
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
