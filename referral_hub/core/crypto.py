"""Symmetric encryption of stored secrets with rotatable keys (MultiFernet, newest first).

Field-level encryption of survivor data builds on the same key list.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _fernet() -> MultiFernet:
    keys = current_app.config["FIELD_ENCRYPTION_KEYS"]
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is empty: set REFERRAL_HUB_FIELD_ENCRYPTION_KEYS")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: bytes) -> bytes:
    return _fernet().encrypt(plaintext)


def decrypt(token: bytes) -> bytes:
    try:
        return _fernet().decrypt(token)
    except InvalidToken:
        raise RuntimeError(
            "stored ciphertext does not open with any configured key; "
            "was a key removed before `flask hub rotate-keys` finished?"
        ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()
