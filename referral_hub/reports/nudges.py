"""What a coordinator does about a row of the in-limbo queue: nudge the receiving agency,
or ask the sending agency to refer her elsewhere (or to answer the receiver's question).
The third action, calling, needs no write: the queue shows both sides' numbers for
referrers.

Why no more than that (domain.md, the coordinator role): coordinators read the audit
trail, timelines, reports and this queue, and see no survivor data unless a party. They
do not move a referral on an agency's behalf — accept, decline, withdraw and refer again
are the parties' moves; the one coordinator transition is `mark-error`. So "reassign" is
a request to the sending agency, which holds her consent and knows her, to refer her
elsewhere through its own refer-again page; the coordinator never picks a service for her.

A nudge is an e-mail through the outbox to the staff of one side (providers or intake
workers, and the agency's administrators), carrying only the closed list of facts
`notifications.FACTS` allows: urgency, her reference, what is due and by when, and the
link to the page where it is done. It is an audit event on the referral, so on its
timeline, in the same transaction as the e-mails. One nudge per referral and side in
`LIMBO_NUDGE_MINUTES`: each reaches every such person at the agency, so sooner it is noise
that teaches them to ignore the hub's e-mails, and two coordinators working the same
queue would each send one (the referral's row lock makes the second wait and see the first).
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app

from referral_hub.agencies.service import email_staff
from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from referral_hub.notifications.service import LINKS, referral_link
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State
from referral_hub.reports import limbo

SIDES = ("receiver", "sender")
STAFF = {"receiver": {"provider", "agency_admin"}, "sender": {"intake", "agency_admin"}}
# what the receiving agency owes in each state it can be nudged in (notifications.WHAT)
RECEIVER_OWES = {
    State.SENT: "acknowledge",
    State.ACKNOWLEDGED: "decide",
    State.WAITLISTED: "decide",
    State.ACCEPTED: "arrive",
}
# what the sending agency is asked: its answer, her arrival, else to refer her elsewhere
SENDER_OWES = {State.INFO_REQUESTED: "provide", State.ACCEPTED: "check"}
# states where asking the sender makes no sense: not sent, she is being served, or an error
SENDER_NOTHING = frozenset({State.DRAFT, State.ENGAGED, State.COMPLETED, State.ENTERED_IN_ERROR})


def may_nudge(actor: Actor) -> None:
    """Coordinators only: a nudge speaks for the hub's oversight, which agency systems and
    the agencies' own staff do not."""
    if actor.kind == ActorKind.USER and actor.has_role("coordinator"):
        return
    raise Forbidden("Nudges are for coordinators.")


def owed(status: State | str, side: str) -> str | None:
    """What `side` is asked to do about a referral in `status` (None: nothing to ask)."""
    state = State(status)
    if side == "receiver":
        return RECEIVER_OWES.get(state)
    if state in SENDER_NOTHING:
        return None
    return SENDER_OWES.get(state, "refer")


def nudge(actor: Actor, referral_id: uuid.UUID, to: str) -> dict[str, Any]:
    """E-mail one side of the referral that the hub is waiting on it, and record it."""
    may_nudge(actor)
    if to not in SIDES:
        raise ValidationFailed(errors={"to": ["Must be one of: receiver, sender."]})
    referral = referrals.get_referral(actor, referral_id, lock=True)
    what = owed(referral.status, to)
    if what is None:
        raise Conflict(
            f"Nothing waits on the {to} of a referral that is {referral.status.value}.",
            errors={"to": [f"Nothing waits on the {to} now."]},
        )
    now = clock.now()
    interval = timedelta(minutes=current_app.config["LIMBO_NUDGE_MINUTES"])
    last = limbo.last_nudge(referral.id, to)
    if last is not None and now < last + interval:
        wait = math.ceil((last + interval - now).total_seconds())
        raise RateLimited(
            f"The {to} was nudged {round((now - last).total_seconds() / 60)} minutes ago; "
            f"nudge again in {math.ceil(wait / 60)} minutes, or call them.",
            headers={"Retry-After": str(wait)},
        )
    agency_id = referral.receiver_agency_id if to == "receiver" else referral.sender_agency_id
    values = _facts(referral, to, what)
    notified = email_staff(
        agency_id, STAFF[to], "referral_nudged" if values else "action_waiting", values
    )
    audit.record(
        actor,
        limbo.NUDGE_ACTIONS[to],
        referral,
        client_reference=referral.client_reference,
        details={"to": to, "what": what, "notified": notified},
    )
    return {
        "referral_id": referral.id,
        "to": to,
        "what": what,
        "at": now,
        "notified": notified,
        "next_allowed_at": now + interval,
    }


def _facts(referral: Referral, side: str, what: str) -> dict[str, str] | None:
    """The e-mail's facts: the page to act on, what is due there and by when."""
    if side == "receiver":
        path = LINKS["receiver"].format(referral=referral.id)
        due = limbo.deadline_of(referral)
    else:
        link = referral_link("sender", referral.id, referral.bundle_id)
        if link is None:
            return None  # a referral outside any bundle: the sender's page is its list
        path, due = link, None
    return {
        "urgency": referral.urgency.value,
        "reference": referral.client_reference,
        "what": what,
        "due": due.isoformat() if due else "",
        "path": path,
    }
