"""Intake's side of her door: issue (or re-issue) her private code, print the card that
carries it, print the safe receipt, and confirm an erasure she asked for.

The card and the safe receipt are in her language and carry nothing that could lead
someone to her: no agency name, no service, no date — only the code (on the card, shown
this once), the hub's hotline and how to use `/me`.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from referral_hub.clients import service as clients
from referral_hub.consent import service as consent
from referral_hub.survivor import access
from referral_hub.survivor import service as survivor
from referral_hub.survivor.schemas import IssueCodeArgs
from referral_hub.web import forms, i18n
from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("her_access", __name__, url_prefix="/intake")


def _her_language(client_id: uuid.UUID) -> str:
    """Her consent's language, else her profile's: the card speaks hers."""
    records = consent.list_consents(g.actor, client_id)
    if records:
        return i18n.pick(records[-1].form_language)
    return i18n.pick(str(clients.load_owned(g.actor, client_id).profile.get("language") or ""))


def _card_context(client_id: uuid.UUID) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "me_url": current_app.config["PUBLIC_URL"].rstrip("/") + url_for("me.home"),
        "hotline": current_app.config["HUB_HOTLINE"],
    }


@blp.route("/clients/<uuid:client_id>/access-code", methods=["GET", "POST"])
@staff_only("intake")
def issue(client_id: uuid.UUID) -> Any:
    record = clients.load_owned(g.actor, client_id)  # another agency's: 404
    current = access.current_access(g.actor, client_id)
    context: dict[str, Any] = {
        "record": record,
        "current": current,
        "works_until": access.works_until(current) if current else None,
        "locked": access.is_locked(current),
    }
    if request.method == "GET":
        return render_template("intake/access_code.html", values=MultiDict(), **context)
    with forms.rejecting("intake/access_code.html", values=request.form, **context):
        args = forms.load(IssueCodeArgs(), request.form)
        if request.form.get("pin_again", "") != args["pin"]:
            raise ValidationError({"pin_again": ["The two PINs differ: ask her to type it again."]})
        issued = access.issue_code(g.actor, client_id, **args)
    g.language = _her_language(client_id)
    page = render_template("intake/access_card.html", code=issued.code, **_card_context(client_id))
    return page, 201, {"Cache-Control": "no-store"}


@blp.get("/clients/<uuid:client_id>/safe-receipt")
@staff_only("intake")
def safe_receipt(client_id: uuid.UUID) -> Any:
    """Safe to carry: how to use her page and whom to call; nothing else about her."""
    clients.load_owned(g.actor, client_id)
    return render_safe_receipt(client_id)


def render_safe_receipt(client_id: uuid.UUID) -> Any:
    g.language = _her_language(client_id)
    return render_template("intake/access_card.html", code=None, **_card_context(client_id))


def safe_only(client_id: uuid.UUID) -> bool:
    """Her worker judged it unsafe for her to carry more than the safe receipt."""
    current = access.current_access(g.actor, client_id)
    return current is not None and current.safe_to_carry_only


@blp.post("/erasure-requests/<uuid:request_id>/confirm")
@staff_only("intake")
def confirm_erasure(request_id: uuid.UUID) -> Any:
    survivor.confirm_erasure(g.actor, request_id)
    flash("Erased as she asked. Her code no longer works.")
    return redirect(url_for("intake.dashboard"))
