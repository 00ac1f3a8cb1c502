"""Staff sign-in: password, then a TOTP code (or enrolment, or a recovery code), sign-out;
recovery codes on the account page; password reset by e-mailed link.

Pages call the auth services only; every form carries a CSRF token (checked for every
unsafe request in app.py).

The reset link necessarily carries its token in the URL (`/login/reset?token=…`). The
page it opens sends `Referrer-Policy: no-referrer` (as every page does, and this one says
so itself), puts the token in a hidden field and POSTs it; the access log writes the path
only, never the query, and audit events never hold the token.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import segno
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from markupsafe import Markup

from referral_hub.auth import recovery, service, sessions, sso, sso_client
from referral_hub.core import crypto
from referral_hub.core.errors import NotFound, RateLimited, ValidationFailed
from referral_hub.web import kept_forms, plan
from referral_hub.web.i18n import gettext

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


def _signed_in(user_id: uuid.UUID) -> str:
    """Turn the half-way session into a signed-in one (new token); returns where to go."""
    target = _safe_next(session.get("next"))
    kept = kept_forms.carry_over(str(user_id))
    work = plan.work_after(session.get(sessions.ENDED), str(user_id))
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    session.update(work)  # her plan, when it was this person's session that ran out
    session["user_id"] = str(user_id)
    session["signed_in_at"] = int(time.time())
    if kept is not None:  # a form posted after the last session ended: offer it back
        session[kept_forms.SESSION_KEY] = kept
        return url_for("signin.resume")
    return target


def _finish(user_id: uuid.UUID) -> Any:
    return redirect(_signed_in(user_id))


def _client_ip() -> str:
    return request.remote_addr or "-"


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


@blp.route("/login/recovery", methods=["GET", "POST"])
def recovery_code() -> Any:
    """Lost phone: one of the recovery codes shown when the second factor was set up."""
    user_id = _pending_user()
    if user_id is None:
        return redirect(url_for("signin.login"))
    if request.method == "GET":
        return render_template("signin/recovery.html")
    try:
        result, left = recovery.use_recovery_code(
            user_id, request.form.get("code", "")[:64], _client_ip()
        )
    except RateLimited as error:
        return _throttled(error, "signin/recovery.html")
    except NotFound:
        return redirect(url_for("signin.login"))
    if result.next_step != "done":
        message = "That recovery code is not right, or was used already."
        return render_template("signin/recovery.html", error=message), 401
    target = _signed_in(user_id)
    flash(
        f"You signed in with a recovery code; it will not work again. {left} of your codes "
        "are left: make a new set from your account page (Second factor) when you can.",
        "warning" if left <= 3 else "info",
    )
    return redirect(target)


EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


@blp.route("/login/forgot", methods=["GET", "POST"])
def forgot() -> Any:
    """Ask for a reset link. The answer never says whether the address has an account."""
    if request.method == "GET":
        return render_template("signin/forgot.html")
    email = request.form.get("email", "")[:254].strip()
    if not (EMAIL.fullmatch(email) and email.isprintable()):
        message = "Enter your work e-mail address, like name@agency.org."
        return render_template("signin/forgot.html", error=message), 422
    try:
        recovery.request_password_reset(email, _client_ip())
    except RateLimited as error:
        return _throttled(error, "signin/forgot.html")
    return render_template("signin/forgot_sent.html")


def _no_referrer(page: Any, status: int = 200) -> Any:
    """The reset page is opened by a URL holding the token: no Referer may carry it on."""
    return page, status, {"Referrer-Policy": "no-referrer"}


@blp.route("/login/reset", methods=["GET", "POST"])
def reset() -> Any:
    """Choose a new password through an e-mailed link (its token is POSTed back)."""
    if request.method == "GET":
        token = request.args.get("token", "")[: recovery.MAX_TOKEN_LENGTH + 1]
        if not recovery.reset_link_works(token):
            return _no_referrer(render_template("signin/reset_invalid.html"), 400)
        return _no_referrer(render_template("signin/reset.html", token=token))
    token = request.form.get("token", "")[: recovery.MAX_TOKEN_LENGTH + 1]
    password = request.form.get("password", "")[:1025]
    again = request.form.get("password_again", "")[:1025]
    if password != again:
        page = render_template(
            "signin/reset.html",
            token=token,
            errors={"password_again": "The two passwords are not the same."},
        )
        return _no_referrer(page, 422)
    try:
        user = recovery.reset_password(token, password, _client_ip())
    except RateLimited as error:
        page, status, headers = _throttled(error, "signin/reset_invalid.html")
        return page, status, {**headers, "Referrer-Policy": "no-referrer"}
    except ValidationFailed as error:
        problems = (error.errors or {}).get("password") or [error.detail]
        page = render_template("signin/reset.html", token=token, errors={"password": problems[0]})
        return _no_referrer(page, 422)
    if user is None:
        return _no_referrer(render_template("signin/reset_invalid.html"), 400)
    session.clear()  # nothing of an earlier sign-in in this browser survives the reset
    session.regenerate()  # type: ignore[attr-defined]
    flash(
        "Your password is changed, and you were signed out everywhere. Sign in with the new "
        "password (and your second factor, if you have one).",
        "info",
    )
    return redirect(url_for("signin.login"))


SSO_PENDING_SECONDS = 600


@blp.route("/login/sso", methods=["GET", "POST"])
def sso_start() -> Any:
    """Her work e-mail picks her agency's provider (by domain only: the answer is the same
    whether or not the address has an account here), then off to its sign-in page."""
    if request.method == "GET":
        return render_template("signin/sso.html")
    email = request.form.get("email", "")[:254].strip()
    if not (EMAIL.fullmatch(email) and email.isprintable()):
        error = gettext("Enter your work e-mail address, like name@agency.org.")
        return render_template("signin/sso.html", error=error), 422
    try:
        sso.refuse_if_throttled(_client_ip(), email)
    except RateLimited as throttled:
        return _throttled(throttled, "signin/sso.html", email=email)
    provider = sso.provider_for_email(email)
    if provider is None:
        message = gettext(
            "Staff with this address sign in with their password here, not through an "
            "agency's own sign-in."
        )
        return render_template("signin/sso.html", error=message, email=email), 422
    session["sso"] = {"agency_id": str(provider.agency_id), "at": int(time.time())}
    try:
        return sso_client.start(
            provider, url_for("signin.sso_callback", _external=True), login_hint=email
        )
    except sso_client.SsoFailed:
        message = gettext("Your agency's sign-in service does not answer. Try again soon.")
        return render_template("signin/sso.html", error=message, email=email), 502


def _sso_refused(status: int = 401, error: str | None = None) -> Any:
    return render_template("signin/sso_refused.html", error=error), status


@blp.get("/login/sso/callback")
def sso_callback() -> Any:
    """Back from the provider: verify its ID token, then an existing account or a refusal."""
    pending = session.pop("sso", None)
    if not pending or time.time() - pending["at"] > SSO_PENDING_SECONDS:
        return _sso_refused(400)
    provider = sso.provider_of(uuid.UUID(pending["agency_id"]))
    if provider is None:
        return _sso_refused(400)
    try:
        sso.refuse_if_throttled(_client_ip())
        try:
            claims = sso_client.finish(provider)
        except sso_client.SsoFailed as failure:
            sso.refused(provider.agency_id, failure.reason, _client_ip())
            return _sso_refused()
        result = sso.sign_in_with_claims(provider, claims, _client_ip())
    except RateLimited as error:
        return _throttled(error, "signin/sso_refused.html")
    if result.next_step == "failed" or result.user is None:
        return _sso_refused()
    if result.next_step == "done":
        return _finish(result.user.id)
    session["pending"] = {"user_id": str(result.user.id), "at": int(time.time())}
    return redirect(url_for("signin.code" if result.next_step == "totp" else "signin.enrol"))


@blp.route("/login/enrol", methods=["GET", "POST"])
def enrol() -> Any:
    """A role that requires TOTP, signing in without one yet: set it up, then sign in."""
    user_id = _pending_user()
    if user_id is None:
        return redirect(url_for("signin.login"))
    return _enrolment(
        user_id,
        optional=False,
        on_success=lambda result: render_template(
            "signin/recovery_codes.html",
            codes=result.recovery_codes,
            continue_to=_signed_in(user_id),
        ),
    )


def _enrolment(
    user_id: uuid.UUID, *, optional: bool, on_success: Callable[[service.SignInResult], Any]
) -> Any:
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
            return on_success(result)
        error = "That code does not match. Check the time on your phone and try the newest code."
    page = render_template(
        "signin/enrol.html", error=error, optional=optional, **_qr(user_id, secret)
    )
    return page, 401 if error else 200


def _qr(user_id: uuid.UUID, secret: str) -> dict[str, Any]:
    uri = service.provisioning_uri(user_id, secret)
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
        return _second_factor_on(user_id)
    return _enrolment(
        user_id,
        optional=True,
        on_success=lambda result: _second_factor_on(
            user_id, just_enabled=True, codes=result.recovery_codes
        ),
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


def _second_factor_on(user_id: uuid.UUID, **context: Any) -> Any:
    return render_template(
        "signin/second_factor_on.html", left=recovery.recovery_codes_left(user_id), **context
    )


@blp.post("/account/recovery-codes")
def recovery_codes() -> Any:
    """A new set of recovery codes (the old set stops working); needs a fresh TOTP code."""
    actor = g.actor
    if actor.kind != "user" or actor.id is None:
        return redirect(url_for("signin.login", next=url_for("signin.second_factor")))
    user_id = uuid.UUID(actor.id)
    if not service.has_totp(user_id):
        return redirect(url_for("signin.second_factor"))
    try:
        codes = recovery.regenerate_recovery_codes(
            user_id, request.form.get("code", "")[:16], _client_ip()
        )
    except RateLimited as error:
        page = render_template(
            "signin/second_factor_on.html",
            left=recovery.recovery_codes_left(user_id),
            error=error.detail,
        )
        return page, 429, {"Retry-After": error.headers.get("Retry-After", "60")}
    if codes is None:
        message = "That code is not right, or was used already. Your codes are unchanged."
        return _second_factor_on(user_id, error=message), 401
    return _second_factor_on(user_id, codes=codes, regenerated=True)


@blp.post("/logout")
def logout() -> Any:
    service.record_sign_out(g.actor)
    session.end()  # type: ignore[attr-defined]
    return redirect(url_for("signin.login"))
