"""Second-factor recovery codes: made in sets, shown once, kept only as keyed hashes.

A code is 16 characters of Crockford's base32 (80 random bits), shown in groups of four.
It is stored as HMAC-SHA256 under a key derived from SECRET_KEY, over the user's id and
the code, and not with argon2:

- the hub makes the codes, so they are not guessable the way passwords are: with 80 bits,
  trying every code offline is out of reach even for a fast hash, and a slow hash would
  add nothing but cost;
- the cost would be real: a code is checked against every unused code of the account
  (up to ten), so argon2 at 64 MiB would make each attempt, right or wrong, ten slow
  hashes, handing anyone with a password a lever on the server's CPU and memory;
- the key is not in the database, so a stolen copy of it alone cannot test a single
  guess, and the user id in the MAC ties each hash to its account.

SECRET_KEY_FALLBACKS are tried too, so rotating SECRET_KEY the way Flask supports keeps
codes working; a key dropped from both voids the codes made under it (TOTP still works,
and a new set is one click on the account page).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from flask import current_app
from sqlalchemy import delete, func, select, update

from referral_hub.auth.models import RecoveryCode
from referral_hub.core import clock
from referral_hub.extensions import db

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: no i, l, o, u
LENGTH = 16
_READ_AS = str.maketrans({"i": "1", "l": "1", "o": "0"})  # what people mistype for what


def _keys() -> list[bytes]:
    config = current_app.config
    secrets_ = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or [])]
    return [
        hmac.new(str(secret).encode(), b"referral_hub recovery codes v1", hashlib.sha256).digest()
        for secret in secrets_
        if secret
    ]


def _hashes(user_id: uuid.UUID, code: str) -> list[str]:
    """The code's hash under the current key first, then under each fallback key."""
    message = user_id.bytes + code.encode()
    return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in _keys()]


def normalise(text: str) -> str | None:
    """The code as stored, from what a person typed (any case, spaces and dashes, the
    letters people take for digits); None if it cannot be a code."""
    cleaned = text.strip().replace(" ", "").replace("-", "").lower().translate(_READ_AS)
    if len(cleaned) != LENGTH or not all(c in ALPHABET for c in cleaned):
        return None
    return cleaned


def shown(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def new_set(user_id: uuid.UUID) -> list[str]:
    """Void the user's codes and make a new set; the codes are returned to be shown once."""
    void(user_id)
    count = int(current_app.config["RECOVERY_CODES_PER_SET"])
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(count)]
    for code in codes:
        db.session.add(RecoveryCode(user_id=user_id, code_hash=_hashes(user_id, code)[0]))
    db.session.flush()
    return [shown(code) for code in codes]


def void(user_id: uuid.UUID) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def spend(user_id: uuid.UUID, text: str) -> bool:
    """Use one code: one conditional UPDATE, so two requests racing with the same code
    cannot both succeed."""
    code = normalise(text)
    if code is None:
        return False
    result = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash.in_(_hashes(user_id, code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) > 0


def remaining(user_id: uuid.UUID) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )
