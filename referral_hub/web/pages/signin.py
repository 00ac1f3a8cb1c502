"""Staff sign-in: password, then a TOTP code (or enrolment), sign-out.

Pages call the auth services only; every form carries a CSRF token (checked for every
unsafe request in app.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import segno
from flask import Blueprint, g, redirect, render_template, request, session, url_for
from markupsafe import Markup

from referral_hub.auth import service
from referral_hub.core import crypto
from referral_hub.core.errors import NotFound, RateLimited
from referral_hub.web import kept_forms

blp = Blueprint("signin", __name__)
PENDING_SECONDS = service.PENDING_SECONDS


def _safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect to another site."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    return target


def _pending_user() -> uuid.UUID | None:
    pending = session.get("pending")
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    return uuid.UUID(pending["user_id"])


def _finish(user_id: uuid.UUID) -> Any:
    target = _safe_next(session.get("next"))
    kept = kept_forms.carry_over()
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    session["user_id"] = str(user_id)
    session["signed_in_at"] = int(time.time())
    if kept is not None:  # a form posted after the last session ended: offer it back
        session[kept_forms.SESSION_KEY] = kept
        return redirect(url_for("signin.resume"))
    return redirect(target)


def _throttled(error: RateLimited, template: str, **context: Any) -> Any:
    page = render_template(template, error=error.detail, **context)
    return page, 429, {"Retry-After": error.headers.get("Retry-After", "60")}


@blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        session["next"] = _safe_next(request.args.get("next"))
        return render_template("signin/login.html")
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:1024]
    if "\x00" in email or "\x00" in password:  # no account has one; PostgreSQL refuses it
        message = "That e-mail address or password holds a character no account can have."
        return render_template("signin/login.html", error=message, email=""), 422
    try:
        result = service.sign_in(email, password, request.remote_addr or "-")
    except RateLimited as error:
        return _throttled(error, "signin/login.html", email=email)
    if result.next_step == "failed" or result.user is None:
        message = "That e-mail address and password do not match an active account."
        return render_template("signin/login.html", error=message, email=email), 401
    if result.next_step == "done":
        return _finish(result.user.id)
    session["pending"] = {"user_id": str(result.user.id), "at": int(time.time())}
    return redirect(url_for("signin.code" if result.next_step == "totp" else "signin.enrol"))


@blp.route("/login/code", methods=["GET", "POST"])
def code() -> Any:
    user_id = _pending_user()
    if user_id is None:
        return redirect(url_for("signin.login"))
    if request.method == "GET":
        return render_template("signin/code.html")
    try:
        result = service.verify_totp(
            user_id, request.form.get("code", "")[:16], request.remote_addr or "-"
        )
    except RateLimited as error:
        return _throttled(error, "signin/code.html")
    except NotFound:
        return redirect(url_for("signin.login"))
    if result.next_step != "done":
        return render_template(
            "signin/code.html", error="That code is not right, or was used already."
        ), 401
    return _finish(user_id)


@blp.route("/login/enrol", methods=["GET", "POST"])
def enrol() -> Any:
    """A role that requires TOTP, signing in without one yet: set it up, then sign in."""
    user_id = _pending_user()
    if user_id is None:
        return redirect(url_for("signin.login"))
    return _enrolment(user_id, optional=False, on_success=lambda: _finish(user_id))


def _enrolment(user_id: uuid.UUID, *, optional: bool, on_success: Callable[[], Any]) -> Any:
    """Show the QR code; on a correct code save the secret and hand over to `on_success`."""
    if "enrol_secret" not in session:
        session["enrol_secret"] = crypto.encrypt(service.new_totp_secret().encode()).decode()
    secret = crypto.decrypt(session["enrol_secret"].encode()).decode()
    error = None
    if request.method == "POST":
        try:
            result = service.confirm_totp_enrolment(
                user_id,
                secret,
                request.form.get("code", "")[:16],
                request.remote_addr or "-",
                signing_in=not optional,
            )
        except RateLimited as throttled:
            return _throttled(
                throttled, "signin/enrol.html", optional=optional, **_qr(user_id, secret)
            )
        if result.next_step == "done":
            session.pop("enrol_secret", None)
            return on_success()
        error = "That code does not match. Check the time on your phone and try the newest code."
    page = render_template(
        "signin/enrol.html", error=error, optional=optional, **_qr(user_id, secret)
    )
    return page, 401 if error else 200


def _qr(user_id: uuid.UUID, secret: str) -> dict[str, Any]:
    from referral_hub.agencies.models import User
    from referral_hub.extensions import db

    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    uri = service.provisioning_uri(secret, user.email)
    svg = segno.make(uri, error="m").svg_inline(omitsize=True, dark="#1b1b1b", light="#ffffff")
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"qr_svg": Markup(svg), "secret": grouped}  # noqa: S704 - segno's own SVG markup


@blp.route("/account/second-factor", methods=["GET", "POST"])
def second_factor() -> Any:
    """Staff whose role does not require TOTP may still turn it on (recommended)."""
    actor = g.actor
    if actor.kind != "user" or actor.id is None:
        return redirect(url_for("signin.login", next=request.path))
    user_id = uuid.UUID(actor.id)
    if service.has_totp(user_id):
        return render_template("signin/second_factor_on.html")
    return _enrolment(
        user_id,
        optional=True,
        on_success=lambda: render_template("signin/second_factor_on.html", just_enabled=True),
    )


@blp.get("/resume")
def resume() -> Any:
    """The form she was sending when her session ended, with everything she typed, to send
    now (with this session's token) or to drop."""
    if g.actor.kind != "user":
        return redirect(url_for("signin.login"))
    kept = kept_forms.take()
    if kept is None:
        return redirect(_safe_next(None))
    path, fields = kept
    return render_template("signin/resume.html", path=_safe_next(path), fields=fields)


@blp.post("/logout")
def logout() -> Any:
    service.record_sign_out(g.actor)
    session.end()  # type: ignore[attr-defined]
    return redirect(url_for("signin.login"))
