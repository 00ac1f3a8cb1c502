"""The embedded mail folder: the e-mails the hub "sent" while no SMTP server is configured.

`mailer.send` writes each message as `<outbox id>.eml` into the instance's MAIL_FOLDER.
These functions read them back for the hub administrator's mail page: newest first,
headers only for the list, one message's plain text on request. A name must match
`NAME` (letters, digits, `-`, `_`, then `.eml`): nothing else is ever opened, so no
path can climb out of the folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

from flask import current_app

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.eml")
LIMIT = 50
MAX_BYTES = 1_000_000  # the hub's own messages are a few hundred bytes


@dataclass(frozen=True)
class MailSummary:
    name: str
    to: str
    subject: str
    at: datetime  # when the file was written (UTC)


@dataclass(frozen=True)
class MailMessage(MailSummary):
    sender: str
    body: str


def embedded_folder() -> Path | None:
    """Where mail goes when SMTP_HOST is empty; None when mail goes out by SMTP."""
    config = current_app.config
    if config["SMTP_HOST"]:
        return None
    return Path(current_app.instance_path) / str(config["MAIL_FOLDER"])


def valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def _written_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _header(headers: Message, name: str) -> str:
    """A header as text, encoded words (=?utf-8?...?=) decoded."""
    raw = headers.get(name)
    if raw is None:
        return ""
    try:
        return str(make_header(decode_header(str(raw))))
    except (HeaderParseError, LookupError, UnicodeDecodeError):
        return str(raw)


def list_messages(folder: Path, *, limit: int = LIMIT) -> tuple[list[MailSummary], int]:
    """The newest `limit` messages (headers only) and how many there are in all."""
    if not folder.is_dir():
        return [], 0
    with os.scandir(folder) as entries:
        files = [
            (entry.stat().st_mtime, entry.name)
            for entry in entries
            if valid_name(entry.name) and entry.is_file(follow_symlinks=False)
        ]
    files.sort(reverse=True)
    # compat32 reads headers some thirty times faster than the default policy
    parser = BytesHeaderParser(policy=policy.compat32)
    summaries = []
    for mtime, name in files[:limit]:
        with (folder / name).open("rb") as handle:
            headers = parser.parse(handle)
        summaries.append(
            MailSummary(
                name=name,
                to=_header(headers, "To"),
                subject=_header(headers, "Subject"),
                at=datetime.fromtimestamp(mtime, tz=UTC),
            )
        )
    return summaries, len(files)


def read_message(folder: Path, name: str) -> MailMessage | None:
    """One message by file name, or None (a bad name, a missing or oversized file)."""
    if not valid_name(name):
        return None
    path = folder / name
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_BYTES:
        return None
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    return MailMessage(
        name=name,
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        at=_written_at(path),
        sender=str(message.get("From", "")),
        body=str(body),
    )
