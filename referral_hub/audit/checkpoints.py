"""Signing checkpoints of the chain, listing them and exporting them.

The checkpoint job is the only code that reads the signing key, so a web process can run
without it. A checkpoint signs what the head row says *after* commit: every event up to
that seq is already written, and the head's trigger stops anyone winding it back.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from referral_hub.audit import service as audit
from referral_hub.audit import signing
from referral_hub.audit.models import AuditCheckpoint, AuditSigningKey
from referral_hub.audit.verify import event_line, json_line
from referral_hub.core import clock
from referral_hub.extensions import db

log = logging.getLogger(__name__)


def signing_key() -> Ed25519PrivateKey | None:
    text = current_app.config.get("AUDIT_SIGNING_KEY") or ""
    return signing.load_private_key(text) if text else None


def latest() -> AuditCheckpoint | None:
    return db.session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).first()


def latest_up_to(seq: int) -> AuditCheckpoint | None:
    return db.session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq <= seq)
        .order_by(AuditCheckpoint.seq.desc())
        .limit(1)
    ).first()


def make_checkpoint(*, force: bool = False) -> dict[str, Any] | None:
    """Sign the head if enough events or minutes have passed since the last checkpoint.

    Periodic and idempotent: a second run finds nothing new to sign; two racing runs
    cannot both sign one seq (the primary key refuses the second, which steps aside).
    """
    key = signing_key()
    if key is None:
        log.error("audit checkpoints are not being signed: set AUDIT_SIGNING_KEY on the worker")
        return None
    head_seq, head_chain = audit.head()
    last = latest()
    if head_seq == 0 or (last is not None and last.seq >= head_seq):
        return None
    config = current_app.config
    now = clock.now()
    due = (
        force
        or last is None
        or head_seq - last.seq >= config["AUDIT_CHECKPOINT_EVERY_EVENTS"]
        or now - last.at >= timedelta(minutes=config["AUDIT_CHECKPOINT_EVERY_MINUTES"])
    )
    if not due:
        return None
    document = signing.sign_checkpoint(key, head_seq, head_chain, clock.isoformat(now))
    try:
        with db.session.begin_nested():
            _register_key(key.public_key(), now)
            db.session.add(
                AuditCheckpoint(
                    seq=head_seq,
                    chain_hash=head_chain,
                    at=now,
                    key_id=document["key_id"],
                    signature=document["signature"],
                )
            )
    except IntegrityError:
        return None  # another run signed this seq first
    return {"seq": head_seq, "key_id": document["key_id"]}


def _register_key(public: Ed25519PublicKey, now: Any) -> None:
    identifier = signing.key_id(public)
    if db.session.get(AuditSigningKey, identifier) is None:
        raw = signing.raw_public_b64(public)
        db.session.add(AuditSigningKey(key_id=identifier, public_key=raw, first_used_at=now))
        db.session.flush()


def public_keys() -> list[dict[str, Any]]:
    """Every key that has signed, oldest first, with its PEM; `current` marks the newest signer."""
    rows = db.session.scalars(select(AuditSigningKey).order_by(AuditSigningKey.first_used_at)).all()
    newest = latest()
    return [
        {
            "key_id": row.key_id,
            "algorithm": "Ed25519",
            "public_key": row.public_key,
            "pem": signing.public_pem(_public(row)),
            "first_used_at": clock.isoformat(row.first_used_at),
            "current": newest is not None and newest.key_id == row.key_id,
        }
        for row in rows
    ]


def _public(row: AuditSigningKey) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key))


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """The keys the hub itself has recorded (an outside auditor brings her own)."""
    rows = db.session.scalars(select(AuditSigningKey)).all()
    return {row.key_id: _public(row) for row in rows}


def listed(after_seq: int = 0, limit: int = 100) -> list[AuditCheckpoint]:
    return list(
        db.session.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.seq > after_seq)
            .order_by(AuditCheckpoint.seq)
            .limit(limit)
        )
    )


def _all_checkpoints(up_to: int | None = None) -> list[dict[str, Any]]:
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.seq)
    if up_to is not None:
        query = query.where(AuditCheckpoint.seq <= up_to)
    return [row.document() for row in db.session.scalars(query)]


def export_lines(
    *, after_seq: int = 0, include_unsigned: bool = False
) -> tuple[dict[str, Any], Iterator[bytes]]:
    """The export's header and its lines (header, keys, checkpoints, then events).

    By default the export ends at the latest checkpoint, so every event in it is covered
    by a signature; `include_unsigned` adds the events after it. A start after seq 0
    moves back to the checkpoint at or before it, which vouches for where it starts.
    """
    head_seq, _ = audit.head()
    checkpoints = _all_checkpoints()
    to_seq = head_seq if include_unsigned or not checkpoints else checkpoints[-1]["seq"]
    start = 0
    if after_seq > 0:
        start = max((cp["seq"] for cp in checkpoints if cp["seq"] <= after_seq), default=0)
    header = {
        "v": 1,
        "exported_at": clock.isoformat(clock.now()),
        "from_seq": start + 1,
        "to_seq": to_seq,
    }

    def lines() -> Iterator[bytes]:
        yield json_line("audit_export", header)
        for key in public_keys():
            yield json_line(
                "public_key", {"key_id": key["key_id"], "public_key": key["public_key"]}
            )
        for checkpoint in checkpoints:
            if start <= checkpoint["seq"] <= to_seq:
                yield json_line("checkpoint", checkpoint)
        for document in audit.iter_documents(after_seq=start):
            if document["seq"] > to_seq:
                break
            yield event_line(document)

    return header, lines()
