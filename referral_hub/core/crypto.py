"""Symmetric encryption of stored secrets with rotatable keys (MultiFernet, newest first).

Field-level encryption of survivor data builds on the same key list.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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


def new_signing_key_text() -> str:
    """A fresh Ed25519 signing key as base64 of its 32-byte seed (what AUDIT_SIGNING_KEY holds).

    Here rather than in audit.signing so that first-run settings (core) need no feature.
    """
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(seed).decode()
