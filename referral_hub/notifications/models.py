"""Webhook subscriptions: an agency's system asks to be told when its referrals move."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey


class Webhook(UUIDPrimaryKey, Base):
    __tablename__ = "webhook"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[bytes]  # the signing secret, encrypted with the master keys
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<Webhook {self.id} agency={self.agency_id} active={self.is_active}>"
