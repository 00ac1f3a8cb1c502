"""E-mail notifications through the outbox. Every text is fixed and says only that there
is something to see in the hub: no names, no case details, nothing about a survivor.

One e-mail carries a secret: the password reset link. Its token travels through the
outbox encrypted with the field keys (`link`, a Fernet token), is opened only to write
the message, and is dropped from the row once the message is handed over; the database
keeps only the token's hash (auth.recovery).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

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
}


# templates that show a link made for one person: the token goes sealed in the payload
LINKS = {"password_reset": "/login/reset?token="}


def send_email(to: str, template: str, *, link_token: str | None = None) -> OutboxMessage:
    """Queue a fixed-text e-mail to a staff address, in the current transaction."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown e-mail template {template!r}")
    if (template in LINKS) != (link_token is not None):
        raise ValueError(f"template {template!r} and link token do not go together")
    payload = {"to": to, "template": template}
    if link_token is not None:
        payload["link"] = crypto.encrypt(link_token.encode()).decode()
    return outbox.add("email", payload)


@consumer("email")
def deliver_email(message: OutboxMessage) -> None:
    template = message.payload["template"]
    subject, body = TEMPLATES[template]
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    link = ""
    if template in LINKS:
        sealed = message.payload.get("link")
        if sealed is None:  # handed over already (delivered twice): nothing left to send
            return
        link = base + LINKS[template] + crypto.decrypt(sealed.encode()).decode()
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.payload["to"]
    email["Subject"] = subject
    email["Message-ID"] = make_msgid(idstring=str(message.id))
    email["X-Hub-Outbox-Id"] = str(message.id)
    minutes = current_app.config["PASSWORD_RESET_LINK_MINUTES"]
    email.set_content(body.format(url=base, link=link, minutes=minutes))
    mailer.send(email, str(message.id))
    if link:  # the row outlives the link: it keeps no way to open it
        message.payload = {k: v for k, v in message.payload.items() if k != "link"}
