"""`/me`: the survivor's own door, in her language, phone first, working without JavaScript.

Everything she sees lives at the one address `/me`, under a neutral title, never cached
(`no-store`), so neither the browser's history nor its cache holds anything about her; her
actions are forms that come back to `/me`. Quick exit ends her session and replaces the
page — and, with JavaScript, its history entry — with a neutral site. Her session ends
after SURVIVOR_IDLE_MINUTES without a request. The pages call the survivor services only.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from babel.dates import format_date
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from referral_hub.core import clock
from referral_hub.core.actor import Actor, survivor_actor
from referral_hub.core.errors import DomainError, RateLimited, ValidationFailed
from referral_hub.survivor import access, queries
from referral_hub.survivor import service as survivor
from referral_hub.web import i18n

blp = Blueprint("me", __name__, url_prefix="/me")
F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "me"


# --- her session and language ----------------------------------------------------------------


def _her_session() -> dict[str, Any] | None:
    """Her signed-in state, if it is still fresh and its code still works."""
    state = session.get(SESSION_KEY)
    if not state:
        return None
    idle = current_app.config["SURVIVOR_IDLE_MINUTES"] * 60
    if clock.now().timestamp() - state.get("seen", 0) > idle:
        _end_session()
        return None
    record = access.still_signed_in(uuid.UUID(state["access"]))
    if record is None:
        _end_session()
        return None
    session[SESSION_KEY] = {**state, "seen": int(clock.now().timestamp())}
    return {**state, "client_id": record.client_id}


def _end_session() -> None:
    language = session.get("me_lang")
    session.clear()
    if language:  # her language choice is not about her
        session["me_lang"] = language


@blp.before_request
def _language_and_her() -> None:
    wanted = request.args.get("lang") or request.form.get("lang")
    if wanted:
        session["me_lang"] = i18n.pick(wanted)
    g.language = session.get("me_lang") or i18n.pick(
        request.accept_languages.best_match(i18n.SUPPORTED)
    )
    state = _her_session()
    g.her = survivor_actor(state["client_id"]) if state else None


@blp.after_request
def _leave_nothing_behind(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.vary.add("Accept-Language")
    return response


@blp.errorhandler(DomainError)
def _refused(error: DomainError) -> Any:
    if isinstance(error, RateLimited):
        page = render_template("me/signin.html", problem=_TOO_MANY(), values={})
        return page, 429, {"Retry-After": error.headers.get("Retry-After", "60")}
    page = render_template("me/problem.html", status=error.status)
    return page, error.status


def _TOO_MANY() -> str:
    return i18n.gettext(
        "Too many tries from this connection. Wait a few minutes, or call the hotline."
    )


def her_only(view: F) -> F:
    """Signed in as herself, or back to the sign-in form at `/me`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.her is None:
            return redirect(url_for("me.home"), 303)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def her() -> Actor:
    return cast(Actor, g.her)


# --- signing in and out ------------------------------------------------------------------------


@blp.get("")
def home() -> Any:
    if g.her is None:
        return render_template("me/signin.html", values={})
    page = queries.her_page(her())
    return render_template("me/home.html", page=page, confirm=None)


@blp.post("/sign-in")
def sign_in() -> Any:
    code, pin = request.form.get("code", ""), request.form.get("pin", "")
    try:
        record = access.sign_in(code, pin, request.remote_addr or "-")
    except access.SignInRefused:
        problem = i18n.gettext(
            "That code and PIN did not work. Check both and try again, or call the hotline."
        )
        # returned, not raised: the failure counted above is committed with this page
        return render_template("me/signin.html", problem=problem, values={}), 401
    language = session.get("me_lang")
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    session[SESSION_KEY] = {"access": str(record.id), "seen": int(clock.now().timestamp())}
    if language:
        session["me_lang"] = language
    return redirect(url_for("me.home"), 303)


@blp.post("/sign-out")
def sign_out() -> Any:
    _end_session()
    flash(i18n.gettext("You are signed out."))
    return redirect(url_for("me.home"), 303)


@blp.route("/exit", methods=["GET", "POST"])
def quick_exit() -> Any:
    """Out at once, to a neutral site: no confirmation, nothing kept (works without JS;
    with it, the page's history entry is replaced too)."""
    session.clear()
    response = redirect(current_app.config["SURVIVOR_EXIT_URL"], 303)
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


# --- what she does -----------------------------------------------------------------------------


def _uuid(name: str) -> uuid.UUID | None:
    """The id she chose, if any; one that is not an id is refused, never read as no choice
    (a bad consent id beside `everything=1` must not withdraw everything)."""
    raw = request.form.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed(errors={name: ["Not one of your choices."]}) from None


@blp.post("/withdraw")
@her_only
def withdraw() -> Any:
    """Two steps: what exactly will stop, in plain words; then she says yes."""
    choice: dict[str, Any] = {
        "consent_id": _uuid("consent_id"),
        "agency_id": _uuid("agency_id"),
        "everything": request.form.get("everything") == "1",
    }
    if request.form.get("step") != "yes":
        page = queries.her_page(her())
        return render_template("me/home.html", page=page, confirm={"withdraw": choice})
    survivor.withdraw(her(), **choice)
    flash(i18n.gettext("Done. They can no longer see your information."))
    return redirect(url_for("me.home"), 303)


@blp.post("/erase")
@her_only
def erase() -> Any:
    if request.form.get("step") != "yes":
        page = queries.her_page(her())
        return render_template("me/home.html", page=page, confirm={"erase": True})
    choice = request.form.get("choice")
    if choice not in ("now", "request"):  # never a guess at which of the two she meant
        raise ValidationFailed(errors={"choice": ["Erase now, or ask your agency to."]})
    if choice == "now":
        survivor.erase_now(her())
        _end_session()
        flash(i18n.gettext("Your information was erased. Your code no longer works."))
    else:
        survivor.request_erasure(her())
        flash(i18n.gettext("Your agency was asked to erase your information."))
    return redirect(url_for("me.home"), 303)


@blp.post("/contact")
@her_only
def contact() -> Any:
    how = request.form.get("how", "")
    do_not_contact = request.form.get("do_not_contact") == "1"
    try:
        survivor.set_contact_preference(her(), None if do_not_contact else how)
    except ValidationFailed as error:  # nothing was changed; what she typed stays
        page = queries.her_page(her())
        errors = {field: True for field in error.errors or {}}
        return render_template("me/home.html", page=page, confirm=None, errors=errors), 422
    flash(i18n.gettext("Saved. Only agencies you allowed to contact you can read it."))
    return redirect(url_for("me.home"), 303)


@blp.context_processor
def _languages() -> dict[str, Any]:
    return {"languages": [(code, i18n.LANGUAGE_NAMES[code]) for code in i18n.SUPPORTED]}


def her_date(value: datetime | None) -> str:
    """A date as she reads it: "22 December 2026", "22 de diciembre de 2026"."""
    if value is None:
        return ""
    from referral_hub.web.forms import display_zone

    day = value.astimezone(display_zone()).date()
    return format_date(day, format="long", locale=i18n.current_language())


def register_filters(app: Any) -> None:
    app.jinja_env.globals["me_hotline"] = lambda: current_app.config["HUB_HOTLINE"]
    app.jinja_env.filters["her_date"] = her_date
