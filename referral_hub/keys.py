"""Master-key rotation: re-wrap every client's data key and re-encrypt every Fernet value
under the newest key, in small committed batches, so a run that is stopped resumes where
it stopped and a second run finds nothing left to do.

Retiring an old key (removing it from FIELD_ENCRYPTION_KEYS) is safe only when nothing
still needs it: `still_using(key_id)` says how many values do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import select

from referral_hub.agencies.models import User
from referral_hub.core import envelope, keystore
from referral_hub.core.db import transaction
from referral_hub.core.idempotency import IdempotencyRecord
from referral_hub.directory.models import Service
from referral_hub.extensions import db

# (model, column) of values sealed with Fernet under the master keys directly
FERNET_VALUES = [
    (Service, "address_encrypted"),
    (User, "totp_secret"),
    (IdempotencyRecord, "response"),
]


@dataclass
class Progress:
    rewrapped: int = 0
    reencrypted: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


def _keys() -> list[str]:
    keys: list[str] = current_app.config["FIELD_ENCRYPTION_KEYS"]
    return keys


def rotate(
    batch: int = 500, echo: Callable[[str], None] = print, limit: int | None = None
) -> Progress:
    """Bring everything under the newest master key; `limit` stops early (tests, canaries)."""
    progress = Progress()
    newest = envelope.key_id(_keys()[0])
    done = 0

    def rewrap(wrapped: bytes, kek_id: str) -> tuple[bytes, str]:
        return envelope.wrap(envelope.unwrap(wrapped, kek_id))

    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        moved = keystore.rewrap_batch(newest, size, rewrap)
        if not moved:
            break
        done += moved
        progress.rewrapped += moved
        echo(f"  client keys re-wrapped: {progress.rewrapped:,}")
    if limit is not None and done >= limit:
        return progress
    rotator = MultiFernet([Fernet(key) for key in _keys()])
    newest_only = Fernet(_keys()[0])
    for model, column in FERNET_VALUES:
        attribute = getattr(model, column)
        count = 0
        with transaction():
            for row in db.session.scalars(select(model).where(attribute.is_not(None))):
                value = getattr(row, column)
                try:
                    newest_only.decrypt(value)
                    continue  # already under the newest key
                except InvalidToken:
                    setattr(row, column, rotator.rotate(value))
                    count += 1
        progress.reencrypted += count
        progress.by_table[model.__tablename__] = count
        echo(f"  {model.__tablename__}.{column}: {count:,} re-encrypted")
    return progress


def still_using(key_id: str) -> int:
    """How many stored values still need the master key `key_id` (0: safe to retire)."""
    matching = [key for key in _keys() if envelope.key_id(key) == key_id]
    if not matching:
        return 0
    count = keystore.count_with(key_id)
    others = [Fernet(key) for key in _keys() if envelope.key_id(key) != key_id]
    for model, column in FERNET_VALUES:
        for value in db.session.scalars(
            select(getattr(model, column)).where(getattr(model, column).is_not(None))
        ):
            if not any(_opens(fernet, value) for fernet in others):
                count += 1
    return count


def _opens(fernet: Fernet, value: bytes) -> bool:
    try:
        fernet.decrypt(value)
    except InvalidToken:
        return False
    return True
