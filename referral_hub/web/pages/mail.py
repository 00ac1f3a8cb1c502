"""The embedded mail folder: what the hub "sent" while no SMTP server is configured.

Hub administrators only. Files are read through `notifications.mailbox`, which opens
nothing whose name is not a plain `<id>.eml`: no path leaves the folder.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from referral_hub.core import clock
from referral_hub.core.errors import NotFound
from referral_hub.notifications import mailbox
from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("mail", __name__, url_prefix="/mail")


@blp.get("/")
@staff_only("hub_admin")
def folder() -> Any:
    where = mailbox.embedded_folder()
    messages, total = mailbox.list_messages(where) if where is not None else ([], 0)
    return render_template(
        "mail/folder.html",
        smtp=where is None,
        messages=messages,
        total=total,
        now=clock.now(),
        limit=mailbox.LIMIT,
    )


@blp.get("/<name>")
@staff_only("hub_admin")
def message(name: str) -> Any:
    where = mailbox.embedded_folder()
    found = mailbox.read_message(where, name) if where is not None else None
    if found is None:
        raise NotFound("There is no such message in the mail folder.")
    return render_template("mail/message.html", message=found, now=clock.now())
