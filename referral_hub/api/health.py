"""/healthz (the process answers) and /readyz (its database and queue answer too)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text

from referral_hub.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


def _check_database() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_queue(app: Flask) -> None:
    queue = app.extensions["hub_queue"]
    if not queue.ping():
        raise RuntimeError("queue did not answer")


@blp.get("/readyz")
def readyz() -> Any:
    """200 when every dependency answers within the timeout, else 503 naming the failing one."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    timeout = app.config["READINESS_TIMEOUT_SECONDS"]
    checks: dict[str, str] = {}

    def in_context(check: Any, *args: Any) -> None:
        with app.app_context():
            check(*args)

    probes = {"database": (_check_database,)}
    if app.extensions["hub_queue"].name == "rq":
        probes["redis"] = (_check_queue, app)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(probes))
    futures = {name: pool.submit(in_context, *probe) for name, probe in probes.items()}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            checks[name] = "ok"
        except concurrent.futures.TimeoutError:
            checks[name] = "timeout"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    pool.shutdown(wait=False, cancel_futures=True)  # never wait past the timeout
    ok = all(value == "ok" for value in checks.values())
    response = jsonify(status="ok" if ok else "unavailable", checks=checks)
    response.status_code = 200 if ok else 503
    return response
