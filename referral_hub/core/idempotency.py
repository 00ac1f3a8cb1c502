"""`Idempotency-Key` for creating POSTs: a retried request gets the first answer, once.

Follows the IETF httpapi idempotency-key draft: the first request with a key stores an
in-flight marker (its own short transaction, so a concurrent retry sees it and gets 409);
its response is stored in the *same* transaction as the change it made, so either both
exist or neither does; a later request with the same key and body replays that response,
with another body it is refused (422). Failed requests release the key: they changed
nothing, so trying again is safe. Stored responses are encrypted; records live 24 hours.

A stored answer may hold survivor text (a message's body). When the request touched a
client's data key, the answer is sealed under that key too (`core.envelope`), so erasing
her (destroying the key) shreds the copy at once instead of 24 hours later; a retry after
that gets 409 saying the first answer is gone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Response, current_app, g, request
from sqlalchemy import String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock, crypto, envelope, keystore
from referral_hub.core.db import (
    Base,
    UUIDPrimaryKey,
    current_session,
    is_unavailable,
    transaction,
)
from referral_hub.core.errors import Conflict, IdempotencyKeyReused, ValidationFailed
from referral_hub.core.http import MACHINE_PREFIXES

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,255}$")
_REPLAYED_HEADERS = ("Location", "Content-Type")


class IdempotencyRecord(UUIDPrimaryKey, Base):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("actor_key", "key", name="uq_idempotency_record_actor_key"),)

    actor_key: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    in_flight: Mapped[bool] = mapped_column(default=True)
    status_code: Mapped[int | None]
    response: Mapped[bytes | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<IdempotencyRecord {self.id} in_flight={self.in_flight}>"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode() + b"\x00")
    digest.update(g.get("raw_body", b""))
    return digest.hexdigest()


def begin() -> Response | None:
    """Before the view: claim the key, replay a finished answer, or refuse."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or not request.path.startswith(MACHINE_PREFIXES):
        return None
    if not _KEY_FORMAT.match(key):
        raise ValidationFailed(errors={HEADER: ["1 to 255 visible ASCII characters."]})
    actor_key = g.actor.key
    fingerprint = _fingerprint()
    now = clock.now()
    stale_after = timedelta(seconds=current_app.config["IDEMPOTENCY_IN_FLIGHT_SECONDS"])
    try:
        with transaction() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.actor_key == actor_key, IdempotencyRecord.key == key
                )
            )
            if record is not None and record.expires_at <= now:
                session.delete(record)
                session.flush()
                record = None
            if record is None:
                record = IdempotencyRecord(
                    actor_key=actor_key,
                    key=key,
                    fingerprint=fingerprint,
                    expires_at=now + timedelta(hours=24),
                )
                session.add(record)
                session.flush()
            elif record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used with a different request; use a new key.",
                    errors={HEADER: ["Already used with another body."]},
                )
            elif record.in_flight and record.created_at > now - stale_after:
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.",
                    errors={HEADER: ["In flight."]},
                    headers={"Retry-After": "1"},
                )
            elif record.in_flight:
                record.created_at = now  # abandoned by a crashed process: take it over
            else:
                return _replay(record)
            g.idempotency_record_id = record.id
    except IntegrityError:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            errors={HEADER: ["In flight."]},
            headers={"Retry-After": "1"},
        ) from None
    return None


def _context(record: IdempotencyRecord) -> str:
    return f"idempotency.response:{record.id}"


def _seal(record: IdempotencyRecord, stored: dict[str, Any]) -> bytes:
    """The answer, sealed under the data key of every client the request touched."""
    document = json.dumps(stored).encode()
    clients = keystore.used_in_request()
    if not clients:
        return crypto.encrypt(document)
    for client_id in clients:
        wrapped = keystore.get(client_id)
        if wrapped is None:  # her key is gone already: keep no copy at all
            document = b""
            break
        document = envelope.seal(envelope.unwrap(*wrapped), document, _context(record))
    sealed = {"sealed_for": [str(c) for c in clients], "blob": base64.b64encode(document).decode()}
    return crypto.encrypt(json.dumps(sealed).encode())


def _open(record: IdempotencyRecord, response: bytes) -> dict[str, Any]:
    outer = json.loads(crypto.decrypt(response))
    if "sealed_for" not in outer:
        return dict(outer)
    blob = base64.b64decode(outer["blob"])
    for client_id in reversed(outer["sealed_for"]):
        wrapped = keystore.get(uuid.UUID(client_id)) if blob else None
        if wrapped is None:
            raise Conflict(
                "This Idempotency-Key was answered, and the answer was erased with the "
                "survivor's record; the request was not repeated.",
                errors={HEADER: ["Answered before; that answer is no longer kept."]},
            )
        blob = envelope.open_sealed(envelope.unwrap(*wrapped), blob, _context(record))
    return dict(json.loads(blob))


def _replay(record: IdempotencyRecord) -> Response:
    if record.response is None or record.status_code is None:
        raise RuntimeError(f"idempotency record {record.id} is done but has no response")
    stored = _open(record, record.response)
    response = Response(stored["body"], status=record.status_code)
    for name, value in stored["headers"].items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def complete(response: Response) -> None:
    """Inside the request's transaction: store a successful answer next to its change."""
    record_id = g.get("idempotency_record_id")
    if record_id is None or response.status_code >= 400:
        return
    record = current_session().get(IdempotencyRecord, record_id)
    if record is None:
        return
    stored = {
        "body": response.get_data(as_text=True),
        "headers": {h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers},
    }
    record.in_flight = False
    record.status_code = response.status_code
    record.response = _seal(record, stored)
    g.idempotency_completed = True


def release_if_failed() -> None:
    """After a failed request: drop the marker so the client may retry with the same key."""
    record_id = g.get("idempotency_record_id")
    if record_id is None or g.get("idempotency_completed"):
        return
    try:
        with transaction() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id, IdempotencyRecord.in_flight.is_(True)
                )
            )
    except Exception as error:
        if not is_unavailable(error):
            raise
        # the database failed the request and is still away: the marker stays until
        # IDEMPOTENCY_IN_FLIGHT_SECONDS, when a retry takes it over; the answer stays 503
        log.warning("idempotency key not released (%s)", type(error).__name__)


def purge_expired() -> int:
    """Periodic: forget records past their 24 hours."""
    result = current_session().execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= clock.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def new_key() -> str:
    return uuid.uuid4().hex
