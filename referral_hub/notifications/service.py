"""E-mail notifications through the outbox. Every text is fixed and says only that there
is something to see in the hub: no names, no case details, nothing about a survivor."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

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
    "action_waiting": (
        "You have an action in the referral hub",
        "You have an action waiting in the referral hub.\n\nSign in at {url} to see it.\n",
    ),
}


def send_email(to: str, template: str) -> OutboxMessage:
    """Queue a fixed-text e-mail to a staff address, in the current transaction."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown e-mail template {template!r}")
    return outbox.add("email", {"to": to, "template": template})


@consumer("email")
def deliver_email(message: OutboxMessage) -> None:
    subject, body = TEMPLATES[message.payload["template"]]
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.payload["to"]
    email["Subject"] = subject
    email["Message-ID"] = make_msgid(idstring=str(message.id))
    email["X-Hub-Outbox-Id"] = str(message.id)
    email.set_content(body.format(url=current_app.config["PUBLIC_URL"].rstrip("/")))
    mailer.send(email, str(message.id))
