"""Referring outside the hub: the worker's pages (record an organisation, refer her to it,
print the letter, make or revoke its one-time link) and the link page the outside worker
opens without an account (`/o/<token>`). Every page calls referrals.outside only."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from referral_hub.agencies import outside as organisations
from referral_hub.consent import service as consent
from referral_hub.consent.policy import CATEGORIES
from referral_hub.core import clock
from referral_hub.directory.vocabulary import Category
from referral_hub.referrals import outside
from referral_hub.referrals.outside_schemas import (
    AnswerArgs,
    OrganisationArgs,
    OutsideReferralArgs,
)
from referral_hub.referrals.states import DECLINE_REASONS
from referral_hub.web import forms, i18n, words
from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("outside", __name__, url_prefix="/intake/outside")
link_blp = page_blueprint("outside_link", __name__, url_prefix="/o")


@blp.context_processor
@link_blp.context_processor
def _words() -> dict[str, Any]:
    return {"status_words": words.REFERRAL_STATUS, "decline_words": words.DECLINE_REASON}


def _form_context(client_id: uuid.UUID) -> dict[str, Any]:
    now = clock.now()
    consents = [c for c in consent.list_consents(g.actor, client_id) if c.status(now) == "active"]
    return {
        "client_id": client_id,
        "organisations": [(str(o.id), o.name) for o in organisations.list_organisations(g.actor)],
        "consents": [
            (str(c.id), f"Signed {c.signed_at:%d/%m/%Y}, until {c.expires_at:%d/%m/%Y}")
            for c in consents
        ],
        "purposes": [(c.value, words.CATEGORY[c.value]) for c in Category],
        "data_options": [(d, words.DATA_CATEGORY[d]) for d in CATEGORIES if d != "profile"],
        "urgencies": list(words.URGENCY.items()),
        "sent": [
            (item, organisations.get_organisation(g.actor, item.organisation_id).name)
            for item in outside.list_outside(g.actor, client_id)
        ],
    }


@blp.route("/clients/<uuid:client_id>", methods=["GET", "POST"])
@staff_only("intake", "agency_admin")
def refer(client_id: uuid.UUID) -> Any:
    """Refer her to an organisation not on the hub (under a consent that names it)."""
    context = _form_context(client_id)
    if request.method == "GET":
        return render_template("outside/refer.html", values=None, **context)
    with forms.rejecting("outside/refer.html", values=request.form, **context):
        args = forms.load(OutsideReferralArgs(), request.form, client_id=str(client_id))
        referral = outside.refer_outside(g.actor, **args)
    flash("Referral recorded. Print the letter or make a link for them.")
    return redirect(url_for("outside.detail", referral_id=referral.id))


@blp.post("/clients/<uuid:client_id>/organisations")
@staff_only("intake", "agency_admin")
def add_organisation(client_id: uuid.UUID) -> Any:
    context = _form_context(client_id)
    with forms.rejecting("outside/refer.html", values=request.form, **context):
        args = forms.load(OrganisationArgs(), request.form)
        organisation = organisations.add_organisation(g.actor, **args)
    flash(f"{organisation.name} added. Record her consent naming it before referring.")
    return redirect(url_for("outside.refer", client_id=client_id))


def _detail(referral_id: uuid.UUID, **extra: Any) -> str:
    referral = outside.get_outside(g.actor, referral_id)
    organisation = organisations.get_organisation(g.actor, referral.organisation_id)
    return render_template(
        "outside/detail.html",
        r=referral,
        organisation=organisation,
        links=outside.links(g.actor, referral_id),
        now=clock.now(),
        **extra,
    )


@blp.get("/<uuid:referral_id>")
@staff_only("intake", "agency_admin")
def detail(referral_id: uuid.UUID) -> Any:
    return _detail(referral_id)


@blp.post("/<uuid:referral_id>/links")
@staff_only("intake", "agency_admin")
def issue_link(referral_id: uuid.UUID) -> Any:
    """The link is shown on this answer only: the hub keeps a hash of its token."""
    _, token = outside.issue_link(g.actor, referral_id)
    url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("outside_link.show", token=token)
    return _detail(referral_id, new_url=url)


@blp.post("/<uuid:referral_id>/links/<uuid:link_id>/revoke")
@staff_only("intake", "agency_admin")
def revoke_link(referral_id: uuid.UUID, link_id: uuid.UUID) -> Any:
    outside.revoke_link(g.actor, referral_id, link_id)
    flash("Link revoked: it no longer opens.")
    return redirect(url_for("outside.detail", referral_id=referral_id))


@blp.post("/<uuid:referral_id>/withdraw")
@staff_only("intake", "agency_admin")
def withdraw(referral_id: uuid.UUID) -> Any:
    outside.withdraw_outside(g.actor, referral_id)
    flash("Referral withdrawn; its links no longer open.")
    return redirect(url_for("outside.detail", referral_id=referral_id))


@blp.get("/<uuid:referral_id>/letter")
@staff_only("intake", "agency_admin")
def letter(referral_id: uuid.UUID) -> Any:
    """The printable letter, in her language when she has one."""
    shared = outside.letter(g.actor, referral_id)
    g.language = i18n.pick(shared.language)
    return render_template("outside/letter.html", s=shared, printable=True)


# --- the link page: no account -----------------------------------------------------------------


def _address() -> str:
    return request.remote_addr or "-"


@link_blp.after_request
def _private(response: Response) -> Response:
    """Nothing kept by the browser or told to the next site (the token is in the path)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@link_blp.get("/<token>")
def show(token: str) -> Any:
    shared = outside.open_link(token, address=_address())
    g.language = i18n.pick(shared.language)
    return render_template("outside/letter.html", s=shared, token=token, reasons=DECLINE_REASONS)


@link_blp.post("/<token>")
def answer(token: str) -> Any:
    """Accept, or decline with a reason; a refused answer shows the form again (nothing
    about her on it: the data is shown, and audited, only by opening the link)."""
    outside.check_link(token, address=_address())
    with forms.rejecting(
        "outside/answer.html", values=request.form, token=token, reasons=DECLINE_REASONS
    ):
        args = forms.load(AnswerArgs(), request.form)
        outside.answer_by_link(token, args["action"], address=_address(), reason=args["reason"])
    return redirect(url_for("outside_link.show", token=token), code=303)
