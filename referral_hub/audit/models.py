"""Audit events (append-only, guarded by database triggers) and the chain head."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core.clock import isoformat
from referral_hub.core.db import Base

JSONVariant = JSON().with_variant(JSONB(), "postgresql")


class AuditEvent(Base):
    """One recorded action. Never updated or deleted: triggers refuse it on both databases."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_agency_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_roles: Mapped[list[str]] = mapped_column(JSONVariant)
    action: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    client_reference: Mapped[str | None] = mapped_column(String(40), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[list[str]] = mapped_column(JSONVariant)
    consent_id: Mapped[uuid.UUID | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONVariant)
    prev_hash: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))

    def document(self) -> dict[str, Any]:
        """The event as hashed and exported (chain.verify's input)."""
        return event_document(self)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.seq} {self.action} {self.outcome}>"


def event_document(event: Any) -> dict[str, Any]:
    """An event as hashed and exported, from its model or from a row of its columns
    (reading rows skips building model objects where thousands are only verified)."""
    return {
        "v": 1,
        "seq": event.seq,
        "event_id": str(event.event_id),
        "at": isoformat(event.at),
        "actor": {
            "type": event.actor_type,
            "id": event.actor_id,
            "agency_id": str(event.actor_agency_id) if event.actor_agency_id else None,
            "roles": list(event.actor_roles),
        },
        "action": event.action,
        "outcome": event.outcome,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "client_reference": event.client_reference,
        "request_id": event.request_id,
        "fields": list(event.fields),
        "consent_id": str(event.consent_id) if event.consent_id else None,
        "details": dict(event.details),
        "prev": event.prev_hash,
        "leaf": event.leaf_hash,
        "chain": event.chain_hash,
    }


class AuditHead(Base):
    """The single row holding the last seq and chain hash; its row lock serializes writers.

    A trigger only lets `seq` move forward by exactly one, so the head cannot be wound
    back to hide deleted events.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement "the chain reached `chain_hash` at `seq`". Append-only."""

    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    key_id: Mapped[str] = mapped_column(String(16), index=True)
    signature: Mapped[str] = mapped_column(String(96))

    def document(self) -> dict[str, Any]:
        """The checkpoint as signed, exported and served (signing.signed_bytes' input)."""
        return {
            "seq": self.seq,
            "chain": self.chain_hash,
            "at": isoformat(self.at),
            "key_id": self.key_id,
            "signature": self.signature,
        }


class AuditSigningKey(Base):
    """A public key that has signed checkpoints; kept after rotation so old ones verify."""

    __tablename__ = "audit_signing_key"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    first_used_at: Mapped[datetime]


class AuditVerification(Base):
    """A successful check of the stored chain: everything up to `seq` re-hashed to `chain_hash`.

    The online check starts from the newest of these instead of from the first event, so
    its cost follows the events added since, not the chain's length. Append-only, like
    the checkpoints; `full` tells a whole-chain check from one that started at an earlier
    verified point.
    """

    __tablename__ = "audit_verification"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    chain_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    full: Mapped[bool]
    from_seq: Mapped[int] = mapped_column(BigInteger)
    events_checked: Mapped[int] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"<AuditVerification {self.seq} full={self.full}>"
