"""Reading the audit trail for oversight: coordinators, and systems given `audit:read`.

Who sees what. The trail is hub-wide on purpose: a coordinator oversees every agency's
handoffs (referrals already treat the role as a party to every referral), verifying the
chain needs every event, and an event holds no survivor data — ids, statuses, category
names and the client's random reference only. So a coordinator, or a system a hub
administrator gave `audit:read`, sees every event, whichever agency it belongs to.
Everyone else is refused at the edge (403, itself recorded as `access.denied`).

Reading the trail is itself on the record. Each page read is one `audit.events_read` event
naming its filters (and the client reference, when the query follows one survivor, so it
shows on her trail). The event is appended when the request commits, after the page was
read, so it always lands after everything that page saw: keyset paging on `seq` sees no
gap and no repeat. A paged query reads the trail as it stood at its first page (its
cursor carries that head), so its own records never make it endless; a poller tails with
`after_seq`. Every page is one event (a later page names the `seq` it starts
after), so a reader cannot page through the trail unseen. A cursor is bound to the query's
filters, to the caller it was issued to and to a lifetime (AUDIT_CURSOR_SECONDS): another
caller's cursor, a stale one or one from other filters is refused (422 naming `cursor`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, select

from referral_hub.audit import checkpoints, verification
from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import ValidationFailed
from referral_hub.core.pagination import decode_cursor, encode_cursor
from referral_hub.extensions import db

READ_ACTION = "audit.events_read"
_BAD_CURSOR = {
    "cursor": ["Invalid cursor: not yours, expired, or from a query with other filters."]
}
_API_NAMES = {"since": "from", "until": "to"}
_SEQ = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class EventFilter:
    """What to look for; filters combine with AND. `action` may end in `.*` (a prefix)."""

    after_seq: int | None = None
    action: str | None = None
    outcome: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    client_reference: str | None = None
    actor_id: str | None = None
    actor_agency_id: uuid.UUID | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def given(self) -> dict[str, str | int]:
        """The filters set, named as in the API, as text and numbers (record and cursor)."""
        given: dict[str, str | int] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            name = _API_NAMES.get(item.name, item.name)
            if isinstance(value, datetime):
                given[name] = value.isoformat()
            else:
                given[name] = value if isinstance(value, int) else str(value)
        return given

    def apply(self, statement: Select[Any]) -> Select[Any]:
        if self.after_seq is not None:
            statement = statement.where(AuditEvent.seq > self.after_seq)
        if self.action is not None and self.action.endswith(".*"):
            prefix = self.action[:-1]
            statement = statement.where(AuditEvent.action.startswith(prefix, autoescape=True))
        elif self.action is not None:
            statement = statement.where(AuditEvent.action == self.action)
        for column, value in (
            (AuditEvent.outcome, self.outcome),
            (AuditEvent.subject_type, self.subject_type),
            (AuditEvent.subject_id, self.subject_id),
            (AuditEvent.client_reference, self.client_reference),
            (AuditEvent.actor_id, self.actor_id),
            (AuditEvent.actor_agency_id, self.actor_agency_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if self.since is not None:
            statement = statement.where(AuditEvent.at >= self.since)
        if self.until is not None:
            statement = statement.where(AuditEvent.at < self.until)
        return statement


def list_events(
    actor: Actor, query: EventFilter, *, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of event documents in `seq` order, and the cursor of the next page."""
    given = query.given()
    fingerprint = hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:16]
    statement = query.apply(select(AuditEvent))
    if cursor is None:
        after, upto = None, audit.head()[0]
    else:
        after, upto = _reader_cursor(actor, cursor, fingerprint)
        statement = statement.where(AuditEvent.seq > after)
    statement = statement.where(AuditEvent.seq <= upto)
    rows = list(db.session.scalars(statement.order_by(AuditEvent.seq).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        expires = int(clock.now().timestamp()) + int(current_app.config["AUDIT_CURSOR_SECONDS"])
        next_cursor = encode_cursor([rows[-1].seq, fingerprint, actor.key, expires, upto])
    page = {} if after is None else {"page_after_seq": after}
    audit.record(
        actor,
        READ_ACTION,
        client_reference=query.client_reference,
        fields=sorted(given),
        details={**given, **page, "limit": limit, "returned": len(rows)},
    )
    return [row.document() for row in rows], next_cursor


def _reader_cursor(actor: Actor, cursor: str, fingerprint: str) -> tuple[int, int]:
    """The last seq a page showed and the head when the query began, from a cursor issued
    to this caller, for these filters, and still within its lifetime."""
    values = decode_cursor(cursor)
    if (
        len(values) != 5
        or values[1] != fingerprint
        or values[2] != actor.key
        or not all(_SEQ.fullmatch(str(values[i])) for i in (0, 3, 4))
    ):
        raise ValidationFailed(errors=_BAD_CURSOR)
    if int(values[3]) <= clock.now().timestamp():
        raise ValidationFailed(
            "The cursor has expired; run the query again.",
            errors={"cursor": ["Expired: run the query again from its first page."]},
        )
    return int(values[0]), int(values[4])


def _cursor_seq(cursor: str, fingerprint: str) -> int:
    """The last seq a page showed; the cursor must come from a query with these filters."""
    values = decode_cursor(cursor)
    if len(values) != 2 or values[1] != fingerprint or not _SEQ.fullmatch(str(values[0])):
        raise ValidationFailed(errors=_BAD_CURSOR)
    return int(values[0])


def list_checkpoints(
    *, after_seq: int, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    if cursor is not None:
        after_seq = max(after_seq, _cursor_seq(cursor, "checkpoints"))
    rows = checkpoints.listed(after_seq=after_seq, limit=limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].seq, "checkpoints"])
    return [row.document() for row in rows], next_cursor


def public_keys() -> dict[str, Any]:
    keys = checkpoints.public_keys()
    current = next((key["key_id"] for key in keys if key["current"]), None)
    return {"current_key_id": current, "keys": keys}


def verify(
    actor: Actor, *, full: bool = False, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """The online check, recorded with its outcome (who checked the record is on the record).

    From the last verified point unless `full` (see `verification.py` for what each proves).
    """
    checked, how = verification.verify_stored(full=full, progress=progress)
    report = {**checked.as_dict(), **how}
    audit.record(
        actor,
        "audit.verified",
        outcome="success" if report["ok"] else "failure",
        details={
            "mode": how["mode"],
            "from_seq": how["from_seq"],
            "events_checked": report["events_checked"],
            "head_seq": report["head"]["seq"],
            "first_bad_seq": report["first_bad_seq"],
            "reason": report["reason"],
        },
    )
    return report
