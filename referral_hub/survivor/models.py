"""Her access code (stored only as hashes) and her requests to be erased."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey


class SurvivorAccess(UUIDPrimaryKey, Base):
    """One issued access code. The code is only ever held as its SHA-256 (80 random bits:
    nothing to guess offline) and her PIN as an argon2 hash; both are needed to sign in."""

    __tablename__ = "survivor_access"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client.id", ondelete="CASCADE"), index=True
    )
    owner_agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    # the worker judged it unsafe for her to carry agency names: the safe receipt by default
    safe_to_carry_only: Mapped[bool] = mapped_column(default=False)
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    issued_by: Mapped[str | None] = mapped_column(String(64))
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(40))
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_signed_in_at: Mapped[datetime | None]


class ErasureRequest(UUIDPrimaryKey, Base):
    """She asked to be erased while help was still open: the owning agency confirms it
    before `due_at`, or coordinators are told it is overdue."""

    __tablename__ = "erasure_request"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client.id", ondelete="CASCADE"), index=True
    )
    owner_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime] = mapped_column(index=True)
    escalated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))
