"""Outbox rows: side effects written in the business transaction, delivered after commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey, str_enum


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after OUTBOX_MAX_ATTEMPTS; shown to admins, re-sendable


class OutboxMessage(UUIDPrimaryKey, Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "available_at"),
        Index("ix_outbox_message_target", "target", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(40))
    # whom the row is for, when someone asks after its rows (a webhook subscription's id)
    target: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status", length=16), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    available_at: Mapped[datetime] = mapped_column(default=clock.now)
    enqueued_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status} attempts={self.attempts}>"
