"""Ed25519 signatures over audit checkpoints: standard library and `cryptography` only.

A checkpoint says "the chain reached hash H at sequence number S, at time T". The
signed bytes are the RFC 8785 canonical JSON of exactly those fields plus the key id and
a fixed purpose string, so a signature can never be replayed as anything else. A key id
is the first 16 hex digits of SHA-256 over the raw public key: keys can rotate, and a
verifier holding several public keys picks the right one without trying them all.

Only the process that signs (the checkpoint job) needs the private key; everything here
that verifies needs public keys only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from referral_hub.audit.canonical import canonical_bytes

PURPOSE = "referral_hub.audit.checkpoint.v1"
CHECKPOINT_FIELDS = ("seq", "chain", "at", "key_id")


class SigningKeyError(ValueError):
    """A key that cannot be read; the message says what was expected."""


def load_private_key(text: str) -> Ed25519PrivateKey:
    """Read a signing key: base64 of the 32-byte seed, or a PKCS#8 PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the PEM key is not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise SigningKeyError("expected base64 of a 32-byte Ed25519 seed, or a PEM key") from None
    if len(seed) != 32:
        raise SigningKeyError(f"an Ed25519 seed is 32 bytes, this one is {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_public_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(key)).decode()


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Every public key in a file's text, by key id: PEM blocks, or base64 raw keys a line."""
    keys: list[Ed25519PublicKey] = []
    if "-----BEGIN" in text:
        for block in text.split("-----END PUBLIC KEY-----"):
            if "-----BEGIN PUBLIC KEY-----" not in block:
                continue
            pem = block[block.index("-----BEGIN PUBLIC KEY-----") :] + "-----END PUBLIC KEY-----\n"
            loaded = serialization.load_pem_public_key(pem.encode())
            if not isinstance(loaded, Ed25519PublicKey):
                raise SigningKeyError("a PEM public key in the file is not an Ed25519 key")
            keys.append(loaded)
    else:
        for line in text.split():
            try:
                raw = base64.b64decode(line, validate=True)
            except binascii.Error:
                raise SigningKeyError(f"not a PEM or base64 public key: {line[:20]}…") from None
            if len(raw) != 32:
                raise SigningKeyError("an Ed25519 public key is 32 bytes")
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
    if not keys:
        raise SigningKeyError("no public key found (expected PEM blocks or base64 lines)")
    return {key_id(key): key for key in keys}


def signed_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    fields = {name: checkpoint[name] for name in CHECKPOINT_FIELDS}
    return canonical_bytes({"purpose": PURPOSE, **fields})


def sign_checkpoint(private: Ed25519PrivateKey, seq: int, chain: str, at: str) -> dict[str, Any]:
    """A checkpoint document: the signed fields and the base64 signature."""
    document: dict[str, Any] = {
        "seq": seq,
        "chain": chain,
        "at": at,
        "key_id": key_id(private.public_key()),
    }
    document["signature"] = base64.b64encode(private.sign(signed_bytes(document))).decode()
    return document


def signature_problem(
    checkpoint: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
) -> str | None:
    """None if the checkpoint is signed by one of `keys`; otherwise what is wrong."""
    try:
        key = keys.get(str(checkpoint["key_id"]))
        if key is None:
            return f"signed by key {checkpoint['key_id']!s:.16}, which is not one you trust"
        key.verify(
            base64.b64decode(str(checkpoint["signature"]), validate=True), signed_bytes(checkpoint)
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        return "the checkpoint is not well formed"
    except InvalidSignature:
        return "the signature does not match the checkpoint's fields"
    return None


def public_keys_by_id(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    return {key_id(key): key for key in keys}
