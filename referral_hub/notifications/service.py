"""E-mail notifications through the outbox. Every text is fixed and says only that there
is something to see in the hub: no names, no case details, nothing about a survivor.

A referral's e-mail may say more, from a closed list of facts that are never about her:
how urgent it is, what is due and by when, and a link to the page where it is done (the
link holds the referral's random id, nothing else).

One e-mail carries a secret: the password reset link. Its token travels through the
outbox encrypted with the field keys (`link`, a Fernet token), is opened only to write
the message, and is dropped from the row once the message is handed over; the database
keeps only the token's hash (auth.recovery).
"""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from flask import current_app

from referral_hub.core import crypto
from referral_hub.jobs import service as outbox
from referral_hub.jobs.handlers import consumer
from referral_hub.jobs.models import OutboxMessage
from referral_hub.notifications import mailer

TEMPLATES = {
    "account_created": (
        "Your referral hub account",
        "An account was created for you at the referral hub.\n\n"
        "Sign in at {url}/login with this e-mail address. Ask your agency's administrator "
        "for your first password if you did not receive it in person.\n",
    ),
    "capacity_stale": (
        "Is your capacity in the referral hub still true?",
        "Some of the capacity your agency shows in the referral hub has not been updated for a "
        "while, so intake workers see it as out of date.\n\nSign in at {url} and confirm or "
        "update it: one click if the numbers are still right.\n",
    ),
    "survivor_code_locked": (
        "A survivor access code was locked in the referral hub",
        "A private access code your agency issued was locked after repeated wrong PINs. "
        "It opens again by itself in an hour.\n\nIf she may be trying to reach her page, "
        "sign in at {url} and look at her record; you can give her a new code. If someone "
        "else may hold her code, tell her when it is safe to.\n",
    ),
    "erasure_requested": (
        "A survivor asked to be erased in the referral hub",
        "A survivor your agency recorded asked for her data to be erased. Sign in at {url} "
        "and confirm it on your dashboard before its deadline.\n",
    ),
    "erasure_overdue": (
        "An erasure request is overdue in the referral hub",
        "A survivor's request to be erased was not confirmed by her agency in time. Sign in "
        "at {url} to follow it up.\n",
    ),
    "password_reset": (
        "Reset your referral hub password",
        "Someone asked to reset the password of the referral hub account of this e-mail "
        "address. If it was you, open this link within {minutes} minutes to choose a new "
        "password. It works once:\n\n{link}\n\n"
        "If it was not you, ignore this e-mail: your password stays as it is. Signing in "
        "always needs your second factor as well, if you have one.\n",
    ),
    "password_changed": (
        "Your referral hub password was changed",
        "The password of your referral hub account was just changed with an e-mailed reset "
        "link, and every place you were signed in was signed out.\n\n"
        "If this was not you, tell your agency's administrator at once.\n",
    ),
    "recovery_code_used": (
        "A recovery code was used on your referral hub account",
        "A second-factor recovery code was just used to sign in to your referral hub account. "
        "Each code works once.\n\nIf this was not you, tell your agency's administrator at "
        "once. If it was, sign in at {url}/account/second-factor to see how many codes are "
        "left or to make a new set.\n",
    ),
    "action_waiting": (
        "You have an action in the referral hub",
        "You have an action waiting in the referral hub.\n\nSign in at {url} to see it.\n",
    ),
    "referral_waiting": (
        "{Urgency} referral: {what} in the referral hub",
        "{Urgency} referral: {what}{due}.\n\nOpen it: {url}{path}\n",
    ),
    "referral_nudged": (
        "A hub coordinator asks you to {what}: {urgency} referral {reference}",
        "A coordinator of the referral hub is following up the {urgency} referral "
        "{reference}. Please {what}{due}.\n\nOpen it: {url}{path}\n",
    ),
    "outside_no_answer": (
        "No answer yet from {organisation} — call them",
        "No answer yet from {organisation} — call them.\n\nThe referral: {url}{path}\n",
    ),
}
# the templates that carry a referral's facts, and which: never anything about her
FACTS = {
    "referral_waiting": frozenset({"urgency", "what", "due", "path"}),
    "referral_nudged": frozenset({"urgency", "reference", "what", "due", "path"}),
    # an outside referral past its answer deadline: the organisation's name (theirs, not
    # hers; its phone and e-mail stay on the page) and the sender's page for it
    "outside_no_answer": frozenset({"organisation", "path"}),
}
OUTSIDE_LINK = "/intake/outside/{referral}"
ORGANISATION = re.compile(r"[^\x00-\x1f\x7f]{1,200}")  # one line of text: a name
REFERENCE = re.compile(r"[A-Za-z0-9-]{4,40}")  # a client reference (clients.schemas)

# where each side does its work on a referral (checked against the app's routes by a test)
LINKS = {
    "receiver": "/provider/referrals/{referral}",
    "sender": "/intake/bundles/{bundle}/referrals/{referral}",
}
# what a referral's e-mail may say, and nothing else
WHAT = {
    "acknowledge": "acknowledge it",
    "decide": "accept or decline it",
    "arrive": "confirm her arrival",
    "provide": "answer their question",
    "look": "see what changed",
    "refer": "refer her to another service",
    "check": "check that she is on her way",
}
URGENCIES = ("emergency", "urgent", "routine")


# templates that show a link made for one person: the token goes sealed in the payload
SECRET_LINKS = {"password_reset": "/login/reset?token="}


def send_email(
    to: str,
    template: str,
    values: dict[str, str] | None = None,
    *,
    link_token: str | None = None,
) -> OutboxMessage:
    """Queue a fixed-text e-mail to a staff address, in the current transaction."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown e-mail template {template!r}")
    if (values is not None) != (template in FACTS):
        raise ValueError("a referral's e-mails, and only they, carry values")
    if (template in SECRET_LINKS) != (link_token is not None):
        raise ValueError(f"template {template!r} and link token do not go together")
    payload: dict[str, object] = {"to": to, "template": template}
    if values is not None:
        payload["values"] = _checked(template, values)
    if link_token is not None:
        payload["link"] = crypto.encrypt(link_token.encode()).decode()
    return outbox.add("email", payload)


def _checked(template: str, values: dict[str, str]) -> dict[str, str]:
    """Only the closed list of facts a referral's e-mail may carry."""
    if set(values) != FACTS[template]:
        raise ValueError(f"{template} carries {sorted(FACTS[template])}: {values}")
    if template == "outside_no_answer":
        if not ORGANISATION.fullmatch(values["organisation"]):
            raise ValueError("an organisation's name is one line of text")
        if not _matches(OUTSIDE_LINK, values["path"]):
            raise ValueError(f"not an outside referral's page: {values['path']!r}")
        return dict(values)
    if "reference" in values and not REFERENCE.fullmatch(values["reference"]):
        raise ValueError(f"not a client reference: {values['reference']!r}")
    if values["urgency"] not in URGENCIES or values["what"] not in WHAT:
        raise ValueError(f"unknown urgency or action in {values}")
    if values["due"]:
        datetime.fromisoformat(values["due"])  # a moment, or nothing
    if not any(_matches(pattern, values["path"]) for pattern in LINKS.values()):
        raise ValueError(f"not a referral page: {values['path']!r}")
    return dict(values)


def _matches(pattern: str, path: str) -> bool:
    regex = re.escape(pattern).replace(r"\{referral\}", _UUID).replace(r"\{bundle\}", _UUID)
    return re.fullmatch(regex, path) is not None


_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def referral_link(side: str, referral_id: object, bundle_id: object | None) -> str | None:
    if side == "sender" and bundle_id is None:
        return None
    return LINKS[side].format(referral=referral_id, bundle=bundle_id)


@consumer("email")
def deliver_email(message: OutboxMessage) -> None:
    template = message.payload["template"]
    subject, body = TEMPLATES[template]
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    words = _words(message.payload.get("values"))
    link = ""
    if template in SECRET_LINKS:
        sealed = message.payload.get("link")
        if sealed is None:  # handed over already (delivered twice): nothing left to send
            return
        link = base + SECRET_LINKS[template] + crypto.decrypt(sealed.encode()).decode()
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.payload["to"]
    email["Subject"] = subject.format(**words)
    email["Message-ID"] = make_msgid(idstring=str(message.id))
    email["X-Hub-Outbox-Id"] = str(message.id)
    minutes = current_app.config["PASSWORD_RESET_LINK_MINUTES"]
    email.set_content(body.format(url=base, link=link, minutes=minutes, **words))
    mailer.send(email, str(message.id))
    if link:  # the row outlives the link: it keeps no way to open it
        message.payload = {k: v for k, v in message.payload.items() if k != "link"}


def _words(values: dict[str, str] | None) -> dict[str, str]:
    if not values:
        return {}
    if "organisation" in values:
        return {"organisation": values["organisation"], "path": values["path"]}
    due = ""
    if values["due"]:
        zone = ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE") or "UTC")
        moment = datetime.fromisoformat(values["due"]).astimezone(zone)
        due = f" by {moment:%H:%M on %d %b} ({moment.tzname()})"
    return {
        "Urgency": values["urgency"].capitalize(),
        "urgency": values["urgency"],
        "reference": values.get("reference", ""),
        "what": WHAT[values["what"]],
        "due": due,
        "path": values["path"],
    }
