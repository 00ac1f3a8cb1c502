"""Sending one e-mail: SMTP when configured, else an .eml file in the instance mail folder."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from referral_hub.jobs.handlers import DeliveryFailed


def send(message: EmailMessage, message_id: str) -> None:
    """Deliver `message`; the outbox id names the file so a second run overwrites, not doubles."""
    config = current_app.config
    if not config["SMTP_HOST"]:
        folder = Path(current_app.instance_path) / config["MAIL_FOLDER"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{message_id}.eml").write_bytes(bytes(message))
        return
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls()
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"smtp: {type(exc).__name__}") from None
