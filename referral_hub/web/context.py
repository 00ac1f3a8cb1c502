"""What every page template may use: the signed-in person, if any."""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from referral_hub.core.actor import ActorKind


def init_app(app: Flask) -> None:
    @app.context_processor
    def _signed_in() -> dict[str, Any]:
        actor = g.get("actor")
        return {"signed_in": actor is not None and actor.kind == ActorKind.USER, "actor": actor}
