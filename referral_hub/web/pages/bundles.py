"""Intake workers' bundles: send the plan as one bundle, follow it live, act on its
referrals (messages, answers, withdraw, refer again) and print the survivor's receipt."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError

from referral_hub.core import clock
from referral_hub.core.errors import DomainError, NotFound
from referral_hub.referrals import assignment, bundles, conversation
from referral_hub.referrals import service as referrals
from referral_hub.referrals.queries import sent
from referral_hub.referrals.schemas import (
    BundleCreateArgs,
    HandoverArgs,
    MessageArgs,
    NeedArgs,
    ReferralCreateArgs,
    TransitionArgs,
)
from referral_hub.web import forms, i18n, plan, words
from referral_hub.web.pagekit import context_of, is_htmx, page_blueprint, staff_only
from referral_hub.web.pages import her_access

blp = page_blueprint("bundles", __name__, url_prefix="/intake/bundles")

MAX_NEEDS = 11  # BundleCreateArgs allows 11; one more is read so the schema can refuse it


def client_page(client_id: uuid.UUID) -> str | None:
    """The client's page, once the intake pages offer one (built alongside these)."""
    try:
        return url_for("intake.client", client_id=client_id)
    except BuildError:
        return None


@blp.context_processor
def _words() -> dict[str, Any]:
    return {
        "client_page": client_page,
        "referral_words": words.REFERRAL_STATUS,
        "need_words": words.NEED_STATUS,
        "bundle_words": words.BUNDLE_STATUS,
        "decline_words": words.DECLINE_REASON,
        "unfinished_words": words.UNFINISHED_REASON,
        "extension_words": words.EXTENSION_REASON,
        "data_words": words.DATA_CATEGORY,
        "event_words": words.EVENT,
        "handover_words": words.HANDOVER_SIDE,
    }


def _uuid_arg(name: str) -> uuid.UUID | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


# --- list -----------------------------------------------------------------------------------


@blp.get("/")
@staff_only("intake")
def index() -> Any:
    return render_template(
        "bundles/index.html", items=sent.recent_bundles(g.actor), now=clock.now()
    )


# --- new ------------------------------------------------------------------------------------


def posted_needs(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    """`needs-0.category`, `needs-0.service_ids` (repeated), ... → NeedArgs-shaped dicts."""
    needs = []
    for index in range(MAX_NEEDS + 1):
        prefix = f"needs-{index}."
        if f"{prefix}category" not in form:
            break
        group: MultiDict[str, str] = MultiDict(
            [(k[len(prefix) :], v) for k, v in form.items(multi=True) if k.startswith(prefix)]
        )
        needs.append(forms.shape(NeedArgs(), group))
    return needs


@blp.route("/new", methods=["GET", "POST"])
@staff_only("intake")
def new() -> Any:
    client_id = _uuid_arg("client")
    if client_id is None:
        raise NotFound("Start a bundle from a client's page.")
    consent_id = _uuid_arg("consent")
    page = sent.bundle_form(g.actor, client_id, consent_id, plan.needs())
    context: dict[str, Any] = {
        "page": page,
        "urgencies": list(words.URGENCY_DEADLINES.items()),
        "now": clock.now(),
    }
    if request.method == "GET" or not page.needs:
        return render_template("bundles/new.html", values=None, errors=None, **context)
    needs = posted_needs(request.form)
    with forms.rejecting("bundles/new.html", values=request.form, sent=needs, **context):
        args = forms.load(
            BundleCreateArgs(),
            request.form,
            client_id=str(client_id),
            consent_id=str(consent_id) if consent_id else None,
            needs=needs,
        )
        bundle = bundles.create_bundle(g.actor, **args)
    plan.clear()
    count = sum(len(need["service_ids"]) for need in args["needs"])
    plural = "s" if count != 1 else ""
    flash(f"Bundle sent: {count} referral{plural} for {page.client.reference}.")
    return redirect(url_for(".detail", bundle_id=bundle.id))


# --- follow ---------------------------------------------------------------------------------


@blp.get("/<uuid:bundle_id>")
@staff_only("intake")
def detail(bundle_id: uuid.UUID) -> Any:
    view = sent.follow_bundle(g.actor, bundle_id)
    if is_htmx():
        return render_template("bundles/_live.html", b=view, now=view.now)
    choices = sent.handover_choices(g.actor, bundle_id)
    return render_template("bundles/detail.html", b=view, now=view.now, choices=choices)


@blp.post("/<uuid:bundle_id>/assign")
@staff_only("intake")
def hand_over(bundle_id: uuid.UUID) -> Any:
    """Hand the bundle (and the sending side of its open referrals) to a colleague, with an
    optional note sealed on each of them — the API's `assign`, through the same service.
    Another agency's bundle looks missing: the page's own read refuses it first."""
    view = sent.follow_bundle(g.actor, bundle_id)
    refused: dict[str, Any] = {
        "b": view,
        "now": view.now,
        "choices": sent.handover_choices(g.actor, bundle_id),
        "values": request.form,
        "failed": "assign",
    }
    with forms.rejecting("bundles/detail.html", **refused):
        fields = forms.load(HandoverArgs(), request.form)
        assignment.assign_bundle(
            g.actor, bundle_id, assignee_id=fields["assignee_id"], note=fields.get("note")
        )
    flash(i18n.gettext("Handed over: your colleague was told."))
    return redirect(url_for(".detail", bundle_id=bundle_id))


@blp.get("/<uuid:bundle_id>/referrals/<uuid:referral_id>")
@staff_only("intake")
def referral(bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Any:
    view = sent.follow_referral(g.actor, bundle_id, referral_id)
    return render_template(
        "bundles/referral.html", values=None, errors=None, now=view.bundle.now, **context_of(view)
    )


@contextmanager
def _refusing(bundle_id: uuid.UUID, referral_id: uuid.UUID, form: str) -> Iterator[None]:
    """A refused action shows the referral page again, the error beside the form that was
    sent (`form`). The messages are left out: the refusal rolls back, and with it the audit
    event their read would need."""
    try:
        yield
    except (ValidationError, DomainError) as error:
        if isinstance(error, DomainError) and (error.status >= 500 or error.status in (401, 404)):
            raise
        view = sent.follow_referral(g.actor, bundle_id, referral_id, with_messages=False)
        with forms.rejecting(
            "bundles/referral.html",
            values=request.form,
            now=view.bundle.now,
            failed=form,
            **context_of(view),
        ):
            raise


def _back(bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Any:
    return redirect(url_for(".referral", bundle_id=bundle_id, referral_id=referral_id))


@blp.post("/<uuid:bundle_id>/referrals/<uuid:referral_id>/messages")
@staff_only("intake")
def post_message(bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Any:
    with _refusing(bundle_id, referral_id, "message"):
        args = forms.load(MessageArgs(), request.form)
        referral = bundles.referral_in_bundle(g.actor, bundle_id, referral_id)
        conversation.post_message(g.actor, referral.id, args["body"])
    flash("Message sent.")
    return _back(bundle_id, referral_id)


@blp.post("/<uuid:bundle_id>/referrals/<uuid:referral_id>/provide-info")
@staff_only("intake")
def provide_info(bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Any:
    with _refusing(bundle_id, referral_id, "answer"):
        args = forms.load(TransitionArgs(only=("answer",)), request.form)
        referral = bundles.referral_in_bundle(g.actor, bundle_id, referral_id)
        referrals.transition(g.actor, referral.id, "provide-info", answer=args.get("answer"))
    flash("Answer sent; the referral is back with them to decide.")
    return _back(bundle_id, referral_id)


@blp.post("/<uuid:bundle_id>/referrals/<uuid:referral_id>/withdraw")
@staff_only("intake")
def withdraw(bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Any:
    with _refusing(bundle_id, referral_id, "withdraw"):
        args = forms.load(TransitionArgs(only=("reason",)), request.form)
        referral = bundles.referral_in_bundle(g.actor, bundle_id, referral_id)
        referrals.transition(g.actor, referral.id, "withdraw", **args)
    flash("Referral withdrawn.")
    return _back(bundle_id, referral_id)


@blp.post("/<uuid:bundle_id>/referrals/<uuid:referral_id>/refer-again")
@staff_only("intake")
def refer_again(bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Any:
    with _refusing(bundle_id, referral_id, "refer_again"):
        args = forms.load(ReferralCreateArgs(only=("service_id",)), request.form)
        earlier = bundles.referral_in_bundle(g.actor, bundle_id, referral_id)
        referrals.refer_again(g.actor, earlier.id, args["service_id"])
    flash("Referred again: the new referral is on its way.")
    return redirect(url_for(".detail", bundle_id=bundle_id))


# --- the survivor's receipt -----------------------------------------------------------------


@blp.get("/<uuid:bundle_id>/receipt")
@staff_only("intake")
def receipt(bundle_id: uuid.UUID) -> Any:
    facts = sent.receipt(g.actor, bundle_id)
    safe = request.args.get("safe") == "1" or her_access.safe_only(facts.client_id)
    if safe and request.args.get("full") != "1":
        return her_access.render_safe_receipt(facts.client_id)
    g.language = i18n.pick(facts.language)
    me_url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("me.home")
    hotline = current_app.config["HUB_HOTLINE"]
    return render_template("bundles/receipt.html", r=facts, me_url=me_url, hotline=hotline)
