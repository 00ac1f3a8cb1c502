"""The live stream behind the provider inbox and the intake bundle page.

Not a page: a signed-out or refused request gets a plain problem answer (401/503), never a
redirect to the sign-in form, which an EventSource would take for a broken stream.
"""

from __future__ import annotations

from flask import Blueprint, Response, g

from referral_hub.live import service as live
from referral_hub.web.pagekit import staff_only

blp = Blueprint("live", __name__, url_prefix="/live")


@blp.get("/referrals")
@staff_only()
def referrals() -> Response:
    """Server-sent events: which of the agency's referrals changed, ids only."""
    stream = live.open_stream(g.actor)
    return Response(
        stream,
        mimetype="text/event-stream",
        headers={"X-Accel-Buffering": "no"},  # nginx-style proxies: pass each event on
        direct_passthrough=True,
    )
