"""/healthz (the process answers) and /readyz (its database and queue answer too)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from referral_hub.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    """Liveness: no dependencies, so a load balancer never kills a process for a slow database."""
    return jsonify(status="ok")


def _probe(check: Any) -> str:
    try:
        check()
    except Exception as exc:  # the class name says enough; no connection strings in replies
        return f"error: {type(exc).__name__}"
    return "ok"


@blp.get("/readyz")
def readyz() -> Any:
    """Readiness: 200 when the database (and Redis, when used) answer, else 503 naming which.

    Both checks are bounded: the Redis client has 1-2 s socket timeouts, and the database
    check uses a pooled connection.
    """
    queue = current_app.extensions["hub_queue"]
    checks = {"database": _probe(lambda: db.session.execute(text("SELECT 1")))}
    if queue.name == "rq":
        checks["redis"] = _probe(queue.ping)
    ok = all(value == "ok" for value in checks.values())
    response = jsonify(status="ok" if ok else "unavailable", checks=checks)
    response.status_code = 200 if ok else 503
    return response
