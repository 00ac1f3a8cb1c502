"""Envelope encryption for survivor data.

Each client gets her own random 256-bit data key. Her PII fields are sealed with AES-GCM
under that key, with associated data naming the row and the field, so a ciphertext moved to
another row or column does not open. The data key itself is stored wrapped by the hub's
master keys (FIELD_ENCRYPTION_KEYS, newest first) with the id of the master key that
wrapped it, so master keys can be rotated by re-wrapping small keys, never re-encrypting
fields, and a key still wrapping anything can be found before it is retired.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

VERSION = b"\x01"


class Undecryptable(RuntimeError):
    """The ciphertext does not open: wrong row or field, altered, or its key is gone."""


def key_id(master_key: str) -> str:
    """A short public name for a master key (never the key)."""
    return hashlib.sha256(master_key.encode()).hexdigest()[:12]


def _masters() -> list[str]:
    keys: list[str] = current_app.config["FIELD_ENCRYPTION_KEYS"]
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is empty: set REFERRAL_HUB_FIELD_ENCRYPTION_KEYS")
    return keys


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(data_key: bytes) -> tuple[bytes, str]:
    """(wrapped key, id of the newest master key that wrapped it)."""
    newest = _masters()[0]
    return Fernet(newest).encrypt(data_key), key_id(newest)


def unwrap(wrapped: bytes, kek_id: str) -> bytes:
    for master in _masters():
        if key_id(master) == kek_id:
            try:
                return Fernet(master).decrypt(wrapped)
            except InvalidToken:
                break
    raise Undecryptable(
        f"master key {kek_id} is not configured (or does not open this key); "
        "was it retired before `flask hub rotate-keys` finished?"
    )


def seal(data_key: bytes, plaintext: bytes, context: str) -> bytes:
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(data_key).encrypt(nonce, plaintext, context.encode())


def open_sealed(data_key: bytes, blob: bytes, context: str) -> bytes:
    if not blob or blob[:1] != VERSION:
        raise Undecryptable("unknown ciphertext format")
    try:
        return AESGCM(data_key).decrypt(blob[1:13], blob[13:], context.encode())
    except InvalidTag:
        raise Undecryptable(f"ciphertext does not open in {context.split(':')[0]}") from None
