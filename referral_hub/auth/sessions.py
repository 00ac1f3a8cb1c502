"""Server-side staff sessions behind Flask's `session`.

The cookie carries a random token; the row (found by the token's hash) carries the data.
So signing out, or an administrator disabling a user, ends the session at once — there is
no signed cookie left that would still be believed. Sessions end after
SESSION_IDLE_MINUTES without a request and SESSION_ABSOLUTE_HOURS after they began, and
get a new token at sign-in.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete
from werkzeug.datastructures import CallbackDict

from referral_hub.auth.models import StaffSession, digest
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.extensions import db

TOUCH_EVERY = timedelta(seconds=60)
# a session that ran out leaves, in the signed-out session that follows it, whose it was
# and the work it held (never its sign-in): see `_after`
ENDED = "ended"
NOT_WORK = frozenset({"user_id", "signed_in_at", "pending", "next", "csrf_token", ENDED})


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, data: dict[str, Any] | None = None, id_hash: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.id_hash = id_hash
        self.new = id_hash is None
        self.modified = False
        self.rotate = False
        self.destroy = False
        self.touch = False

    def regenerate(self) -> None:
        """New token at sign-in, so a token planted before sign-in is worthless after it."""
        self.rotate = True
        self.modified = True

    def end(self) -> None:
        self.clear()
        self.destroy = True


class DatabaseSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if request.path.startswith("/static/"):
            return ServerSession()
        token = request.cookies.get(app.config["SESSION_COOKIE_NAME"])
        if not token or len(token) > 128:
            return ServerSession()
        row = db.session.get(StaffSession, digest(token))
        now = clock.now()
        idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
        if row is None:
            return ServerSession()
        if row.expires_at <= now or row.last_seen_at <= now - idle:
            return _after(row)
        session = ServerSession(dict(row.data), row.id_hash)
        session.touch = row.last_seen_at <= now - TOUCH_EVERY
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession):
            raise TypeError("DatabaseSessionInterface saves only its own sessions")
        name = app.config["SESSION_COOKIE_NAME"]
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        secure, samesite = self.get_cookie_secure(app), self.get_cookie_samesite(app) or "Lax"
        if session.destroy or (not session and not session.new):
            with transaction():
                _delete(session.id_hash)
            response.delete_cookie(
                name, path=path, domain=domain, secure=secure, httponly=True, samesite=samesite
            )
            return
        if not session or not (session.modified or session.touch or session.rotate):
            return
        now = clock.now()
        with transaction():
            token = None
            row = (
                None
                if session.new or session.rotate
                else db.session.get(StaffSession, session.id_hash)
            )
            if row is None:
                if session.rotate:
                    _delete(session.id_hash)
                token = secrets.token_urlsafe(32)
                row = StaffSession(
                    id_hash=digest(token),
                    created_at=now,
                    expires_at=now + timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"]),
                )
                db.session.add(row)
            row.data = dict(session)
            user_id = session.get("user_id")
            row.user_id = uuid.UUID(user_id) if user_id else None
            row.last_seen_at = now
        if token is not None:
            response.set_cookie(
                name,
                token,
                expires=row.expires_at,
                path=path,
                domain=domain,
                secure=secure,
                httponly=True,
                samesite=samesite,
            )
        response.vary.add("Cookie")


def _after(row: StaffSession) -> ServerSession:
    """The signed-out session that follows one that ran out (idle or too old): it remembers
    whose it was and the work it held (an intake plan, say), so that the same person
    signing in again in this browser carries on; the pages decide what of it to restore,
    and give none of it to anyone else. Signing out leaves nothing behind: that row is gone."""
    if row.user_id is None:
        return ServerSession()
    work = {key: value for key, value in row.data.items() if key not in NOT_WORK}
    return ServerSession({ENDED: {"user_id": str(row.user_id), "work": work}})


def _delete(id_hash: str | None) -> None:
    if id_hash:
        db.session.execute(delete(StaffSession).where(StaffSession.id_hash == id_hash))


def end_sessions_of(user_id: uuid.UUID) -> None:
    """In the caller's transaction: sign the user out everywhere (disable, password reset)."""
    db.session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))


def purge_expired() -> int:
    """Periodic: remove sessions past their idle or absolute limit."""
    from flask import current_app

    now = clock.now()
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    result = db.session.execute(
        delete(StaffSession).where(
            (StaffSession.expires_at <= now) | (StaffSession.last_seen_at <= now - idle)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
