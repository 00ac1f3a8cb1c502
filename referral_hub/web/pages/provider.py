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
from referral_hub.web import forms, i18n
from referral_hub.web.pagekit import context_of, is_htmx, page_blueprint, staff_only

blp = page_blueprint("provider", __name__, url_prefix="/provider")

# the state in words, as the receiving worker reads it
STATUS_WORDS = {
    State.SENT: "New: acknowledge it",
    State.ACKNOWLEDGED: "Acknowledged: decide",
    State.INFO_REQUESTED: "Waiting for the sender's answer",
    State.WAITLISTED: "On your waiting list",
    State.ACCEPTED: "Accepted: waiting for her to arrive",
    State.ENGAGED: "Arrived: in your service",
    State.COMPLETED: "Completed",
    State.NOT_COMPLETED: "Ended unfinished",
    State.DECLINED: "Declined",
    State.WITHDRAWN: "Withdrawn by the sender",
    State.EXPIRED: "Expired: not answered in time",
    State.SUPERSEDED: "Placed elsewhere first",
    State.ENTERED_IN_ERROR: "Entered in error",
    State.DRAFT: "Draft",
}
DEADLINE_WORDS = {"acknowledge": "Acknowledge", "decide": "Decide", "arrive": "Arrival due"}
DECLINE_WORDS = {
    "no_capacity": "No space free",
    "not_eligible": "Not eligible for this service",
    "safety_conflict": "Safety conflict",
    "out_of_area": "Outside our service area",
    "language": "We cannot serve her language",
    "other": "Other reason (say why in the note)",
}
UNFINISHED_WORDS = {
    "no_show": "She did not arrive",
    "left": "She left",
    "unreachable": "We cannot reach her",
    "ineligible_after_assessment": "Not eligible after assessment",
}
ACTION_WORDS = {
    "acknowledge": ("Acknowledge", "Acknowledged: the sender knows you are looking at it."),
    "request-info": ("Ask the sender", "Question sent; the referral waits for the answer."),
    "waitlist": ("Put on the waiting list", "Put on your waiting list."),
    "accept": ("Accept", "Accepted: one place is held for her."),
    "decline": ("Decline", "Declined; the sender was told."),
    "confirm-arrival": ("Confirm she arrived", "Arrival confirmed."),
    "complete": ("Complete", "Marked completed."),
    "end-unfinished": ("End unfinished", "Ended unfinished."),
}
TIMELINE_WORDS = {
    "referral.created": "Drafted",
    "referral.sent": "Sent to you",
    "referral.acknowledged": "Acknowledged",
    "referral.info_requested": "More information asked for",
    "referral.waitlisted": "Put on the waiting list",
    "referral.accepted": "Accepted",
    "referral.engaged": "Arrival confirmed",
    "referral.completed": "Completed",
    "referral.not_completed": "Ended unfinished",
    "referral.declined": "Declined",
    "referral.withdrawn": "Withdrawn",
    "referral.expired": "Expired",
    "referral.superseded": "Placed elsewhere first",
    "referral.entered_in_error": "Marked as entered in error",
    "referral.reminded": "Reminder sent",
    "referral.escalated": "Escalated to coordinators",
    "referral.message_sent": "Message sent",
    "referral.assigned": "Caseworker changed",
    "referral.assignee_reminded": "Caseworker reminded",
    "referral.hold_extended": i18n.lazy_gettext("Hold extended"),
}
# the inbox's "whose" filter: everyone's by default (see docs/web.md)
ASSIGNEE_OPTIONS = [("me", "Mine"), ("none", "Nobody's yet")]
EXTENSION_WORDS = {
    "transport_delayed": i18n.lazy_gettext("Her transport is delayed"),
    "discharge_delayed": i18n.lazy_gettext("Her hospital discharge is delayed"),
    "client_requested": i18n.lazy_gettext("She asked for more time"),
    "safety_planning": i18n.lazy_gettext("Safety planning takes longer"),
    "other": i18n.lazy_gettext("Another reason"),
}
HOLD_FIELDS = ServiceUpdateArgs(only=("hold_minutes", "night_hold_minutes"))
PII_LABELS = {
    "name": "Name",
    "dob": "Date of birth",
    "contact": "Contact",
    "narrative": "Her story",
    "immigration": "Immigration",
    "health": "Health",
    "justice": "Justice",
}
ACTIONS_PATH = ", ".join(f'"{action}"' for action in receiving.RECEIVER_ACTIONS)


def _words() -> dict[str, Any]:
    return {
        "status_words": STATUS_WORDS,
        "deadline_words": DEADLINE_WORDS,
        "decline_words": DECLINE_WORDS,
        "unfinished_words": UNFINISHED_WORDS,
        "action_words": ACTION_WORDS,
        "timeline_words": TIMELINE_WORDS,
        "pii_labels": PII_LABELS,
        "decline_options": [(r, DECLINE_WORDS.get(r, r)) for r in DECLINE_REASONS],
        "unfinished_options": [(r, UNFINISHED_WORDS.get(r, r)) for r in UNFINISHED_REASONS],
        "extension_words": EXTENSION_WORDS,
        "extension_options": [(r, EXTENSION_WORDS[r]) for r in EXTENSION_REASONS],
        "now": clock.now(),
    }


# --- inbox ----------------------------------------------------------------------------------


@blp.get("/")
@staff_only("provider")
def inbox() -> Any:
    context = _words() | {
        "status_options": [(s.value, w) for s, w in STATUS_WORDS.items() if s != State.DRAFT],
        "urgency_options": [(u, u.capitalize()) for u in URGENCIES],
        "assignee_options": ASSIGNEE_OPTIONS,
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
    flash(ACTION_WORDS[action][1], "success")
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
    """Refused: the card (htmx) or the whole board, the error beside the field."""
    if is_htmx():
        now = clock.now()
        card = board_card(directory.get_service(g.actor, service_id), now)
        return forms.rejecting(
            "provider/_capacity_card.html",
            c=card,
            now=now,
            values=request.form,
            error_for=card.id,
        )
    return forms.rejecting(
        "provider/capacity.html", **_board(values=request.form, error_for=service_id)
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
