"""Providers: the received inbox, one referral with its answers, and the capacity board.

Reads go through `referrals.queries.received` (the receiver's view: bounded, tenant-
scoped, every look at her data audited) and `directory.queries` (the capacity board);
answers through the referral services themselves (the state machine, the hold, the
handover, the messages), which the API calls too. Every answer first reads the page's
facts without her data (the refused form's page): a referral this agency did not
receive, or a draft, looks missing there. A refused answer comes back on the referral
page with the error beside its form and without her data: the refused request is rolled
back, and with it any record of a look, so the page must not show what it could not
record.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from referral_hub.core import clock
from referral_hub.directory import service as directory
from referral_hub.directory.capacity import (
    adjust_available,
    close_overflow,
    confirm_capacity,
    open_overflow,
    set_capacity,
)
from referral_hub.directory.queries import board_card, board_services
from referral_hub.directory.schemas import CapacityPutArgs, OverflowArgs, ServiceUpdateArgs
from referral_hub.referrals import assignment, conversation
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import EXTENSION_REASONS
from referral_hub.referrals.queries import received as receiving
from referral_hub.referrals.schemas import (
    URGENCIES,
    ExtendHoldArgs,
    HandoverArgs,
    MessageArgs,
    ReferralListArgs,
    TransitionArgs,
)
from referral_hub.referrals.states import DECLINE_REASONS, UNFINISHED_REASONS, State
from referral_hub.web import forms, i18n, words
from referral_hub.web.pagekit import context_of, is_htmx, page_blueprint, staff_only

blp = page_blueprint("provider", __name__, url_prefix="/provider")

HOLD_FIELDS = ServiceUpdateArgs(only=("hold_minutes", "night_hold_minutes"))
ACTIONS_PATH = ", ".join(f'"{action}"' for action in receiving.RECEIVER_ACTIONS)


def _words() -> dict[str, Any]:
    return {
        "status_words": words.REFERRAL_STATUS,
        "deadline_words": words.DEADLINE,
        "decline_words": words.DECLINE_REASON,
        "unfinished_words": words.UNFINISHED_REASON,
        "action_words": words.RECEIVER_ACTION,
        "timeline_words": words.EVENT,
        "pii_labels": words.PII_FIELD,
        "decline_options": [(r, words.DECLINE_REASON[r]) for r in DECLINE_REASONS],
        "unfinished_options": [(r, words.UNFINISHED_REASON[r]) for r in UNFINISHED_REASONS],
        "extension_words": words.EXTENSION_REASON,
        "extension_options": [(r, words.EXTENSION_REASON[r]) for r in EXTENSION_REASONS],
        "now": clock.now(),
    }


# --- inbox ----------------------------------------------------------------------------------


@blp.get("/")
@staff_only("provider")
def inbox() -> Any:
    context = _words() | {
        "status_options": [(s.value, words.REFERRAL_STATUS[s]) for s in State if s != State.DRAFT],
        "urgency_options": [(u, words.URGENCY[u]) for u in URGENCIES],
        "assignee_options": list(words.WHOSE.items()),  # everyone's unless chosen
        "values": request.args,
        "items": [],
    }
    template = "provider/_inbox_list.html" if is_htmx() else "provider/inbox.html"
    with forms.rejecting(template, **context):
        args = forms.load(ReferralListArgs(), request.args)
    context["items"] = receiving.received(
        g.actor, status=args["status"], urgency=args["urgency"], assignee=args["assignee"]
    )
    return render_template(template, **context)


# --- one referral ---------------------------------------------------------------------------


@blp.get("/referrals/<uuid:referral_id>")
@staff_only("provider")
def referral(referral_id: uuid.UUID) -> Any:
    view = receiving.received_referral(g.actor, referral_id)
    return render_template("provider/referral.html", **_words(), **context_of(view), values={})


def _refused_page(referral_id: uuid.UUID, form_action: str) -> dict[str, Any]:
    """The page's facts without her data, for a form that is being refused. Read before
    the answer: a referral that is not this agency's received one looks missing."""
    view = receiving.received_referral(g.actor, referral_id, disclose=False)
    return _words() | context_of(view) | {"values": request.form, "form_action": form_action}


@blp.post(f"/referrals/<uuid:referral_id>/<any({ACTIONS_PATH}):action>")
@staff_only("provider")
def act(referral_id: uuid.UUID, action: str) -> Any:
    context = _refused_page(referral_id, action)
    with forms.rejecting("provider/referral.html", **context):
        payload = forms.load(TransitionArgs(), request.form)
        referrals.transition(g.actor, referral_id, action, **payload)
    flash(str(words.RECEIVER_ACTION[action][1]), "success")
    return redirect(url_for("provider.referral", referral_id=referral_id))


@blp.post("/referrals/<uuid:referral_id>/assign")
@staff_only("provider")
def hand_over(referral_id: uuid.UUID) -> Any:
    context = _refused_page(referral_id, "assign")
    with forms.rejecting("provider/referral.html", **context):
        fields = forms.load(HandoverArgs(), request.form)
        assignment.assign(
            g.actor,
            referral_id,
            side="receiver",
            assignee_id=fields["assignee_id"],
            note=fields.get("note"),
        )
    flash("Handed over: your colleague was told.", "success")
    return redirect(url_for("provider.referral", referral_id=referral_id))


@blp.post("/referrals/<uuid:referral_id>/messages")
@staff_only("provider")
def message(referral_id: uuid.UUID) -> Any:
    context = _refused_page(referral_id, "message")
    with forms.rejecting("provider/referral.html", **context):
        fields = forms.load(MessageArgs(), request.form)
        conversation.post_message(g.actor, referral_id, fields["body"])
    flash("Message sent.", "success")
    return redirect(url_for("provider.referral", referral_id=referral_id, _anchor="messages"))


@blp.post("/referrals/<uuid:referral_id>/extend-hold")
@staff_only("provider")
def extend_hold(referral_id: uuid.UUID) -> Any:
    """Keep her place longer, once (the API's `extend-hold`: the same service)."""
    context = _refused_page(referral_id, "extend-hold")
    with forms.rejecting("provider/referral.html", **context):
        payload = forms.load(ExtendHoldArgs(), request.form)
        referrals.extend_hold(g.actor, referral_id, **payload)
    flash(i18n.gettext("Hold extended: the sender sees the new arrival time."), "success")
    return redirect(url_for("provider.referral", referral_id=referral_id))


# --- capacity board -------------------------------------------------------------------------


def _board(**extra: Any) -> dict[str, Any]:
    now = clock.now()
    cards = [board_card(service, now) for service in board_services(g.actor)]
    return {"cards": cards, "now": now, "values": {}, "error_for": None} | extra


@blp.get("/capacity")
@staff_only("provider")
def capacity() -> Any:
    return render_template("provider/capacity.html", **_board())


def _card_done(service_id: uuid.UUID, said: str) -> Any:
    """htmx: the service's new card (and the words for the live region); else back to the board."""
    now = clock.now()
    card = board_card(directory.get_service(g.actor, service_id), now)
    numbers = card.capacity
    words = f"{card.name}: {said}"
    if numbers is not None:
        words += f" {numbers.available} of {numbers.total} free."
    if is_htmx():
        return render_template("provider/_capacity_card.html", c=card, now=now, announce=words)
    flash(words, "success")
    return redirect(url_for("provider.capacity", _anchor=f"service-{service_id}"))


def _refusing(service_id: uuid.UUID) -> Any:
    """Refused: the card (htmx) or the whole board, the error beside the field — read only
    when the tap is refused, so a tap that counts costs its write and the new card alone."""

    def card() -> dict[str, Any]:
        now = clock.now()
        shown = board_card(directory.get_service(g.actor, service_id), now)
        return {"c": shown, "now": now, "error_for": shown.id}

    if is_htmx():
        return forms.rejecting("provider/_capacity_card.html", values=request.form, later=card)
    return forms.rejecting(
        "provider/capacity.html",
        later=lambda: _board(values=request.form, error_for=service_id),
    )


@blp.post("/capacity/<uuid:service_id>/less")
@staff_only("provider")
def capacity_less(service_id: uuid.UUID) -> Any:
    with _refusing(service_id):
        adjust_available(g.actor, service_id, -1)
    return _card_done(service_id, "one fewer free.")


@blp.post("/capacity/<uuid:service_id>/more")
@staff_only("provider")
def capacity_more(service_id: uuid.UUID) -> Any:
    with _refusing(service_id):
        adjust_available(g.actor, service_id, +1)
    return _card_done(service_id, "one more free.")


@blp.post("/capacity/<uuid:service_id>/confirm")
@staff_only("provider")
def capacity_confirm(service_id: uuid.UUID) -> Any:
    with _refusing(service_id):
        confirm_capacity(g.actor, service_id)
    return _card_done(service_id, "confirmed as still true.")


@blp.post("/capacity/<uuid:service_id>/set")
@staff_only("provider")
def capacity_set(service_id: uuid.UUID) -> Any:
    with _refusing(service_id):
        numbers = forms.load(CapacityPutArgs(), request.form)
        set_capacity(g.actor, service_id, **numbers)
    return _card_done(service_id, "numbers set.")


@blp.post("/capacity/<uuid:service_id>/hold")
@staff_only("provider")
def capacity_hold(service_id: uuid.UUID) -> Any:
    """The service's hold lengths; a blank night value means the day value all day."""
    with _refusing(service_id):
        lengths = forms.load(HOLD_FIELDS, request.form)
        lengths.setdefault("night_hold_minutes", None)  # left blank: no night value
        directory.update_service(g.actor, service_id, **lengths)
    return _card_done(service_id, i18n.gettext("hold length saved."))


@blp.post("/capacity/<uuid:service_id>/overflow")
@staff_only("provider")
def overflow_open(service_id: uuid.UUID) -> Any:
    with _refusing(service_id):
        window = forms.load(OverflowArgs(), request.form)
        open_overflow(g.actor, service_id, **window)
    return _card_done(service_id, i18n.gettext("overflow places opened."))


@blp.post("/overflow/<uuid:window_id>/close")
@staff_only("provider")
def overflow_close(window_id: uuid.UUID) -> Any:
    window = close_overflow(g.actor, window_id)
    return _card_done(window.service_id, i18n.gettext("overflow places closed."))
