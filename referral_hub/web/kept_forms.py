"""Nothing typed is ever lost: a form posted after the session ended is kept, sealed, while
the worker signs in again, then offered back to finish in one click.

The fields (survivor data among them) are sealed with the hub's key inside the server-side
session, for KEEP_MINUTES at most, and never logged. Only staff page forms are kept: the
API answers 401 as ever, and sign-in and the survivor's own door keep nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from flask import g, request, session

from referral_hub.auth import sessions
from referral_hub.auth.guards import UNSAFE
from referral_hub.core import crypto
from referral_hub.core.actor import ActorKind
from referral_hub.core.errors import Unauthorized

KEEP_MINUTES = 30
SESSION_KEY = "kept_form"
# the staff page blueprints whose forms are worth keeping (sign-in itself is not among them)
STAFF_PAGES = frozenset(
    {"intake", "bundles", "provider", "coordinator", "admin", "her_access", "mail"}
)


def keep_if_signed_out() -> None:
    """A request guard, before the CSRF check: a staff form posted with no session is kept
    and answered as "sign in first" (a redirect, or HX-Redirect for htmx) — not a refusal
    that throws away what she typed."""
    if request.method not in UNSAFE or request.blueprint not in STAFF_PAGES:
        return
    if g.actor.kind != ActorKind.ANONYMOUS:
        return
    fields = [(key, value) for key, value in request.form.items(multi=True) if key != "csrf_token"]
    if fields and _from_our_own_page():
        sealed = crypto.encrypt(json.dumps(fields).encode()).decode()
        ended = session.get(sessions.ENDED) or {}
        session[SESSION_KEY] = {
            "path": request.path,
            "fields": sealed,
            "at": int(time.time()),
            "for": ended.get("user_id"),  # whose session ran out, when the hub knows
        }
    raise Unauthorized("Your session ended. Sign in again: what you typed is kept.")


def _from_our_own_page() -> bool:
    """Only a form posted from one of the hub's own pages is kept: another site's page could
    otherwise leave a form of its choosing to be offered after the next sign-in."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
        return False
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc == request.host


def carry_over(user_id: str) -> dict[str, Any] | None:
    """The kept form, to move into the new session at sign-in — not when another person
    signs in than the one whose session ran out (a shared computer at an intake desk)."""
    kept = session.get(SESSION_KEY)
    if not kept or time.time() - kept.get("at", 0) > KEEP_MINUTES * 60:
        return None
    if kept.get("for") not in (None, user_id):
        return None
    return dict(kept)


def take() -> tuple[str, list[tuple[str, str]]] | None:
    """The kept form's address and fields, once (None when there is none, or it is old)."""
    kept = carry_over(str(session.get("user_id", "")))
    session.pop(SESSION_KEY, None)
    if kept is None:
        return None
    fields = json.loads(crypto.decrypt(kept["fields"].encode()))
    return kept["path"], [(str(key), str(value)) for key, value in fields]
