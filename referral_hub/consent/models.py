"""Consent records. Recipients are named agencies; never a class of agencies."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey


class Consent(UUIDPrimaryKey, Base):
    __tablename__ = "consent"
    __table_args__ = (CheckConstraint("expires_at > signed_at", name="expires_after_signing"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client.id", ondelete="CASCADE"), index=True
    )
    owner_agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    recipients: Mapped[list[str]] = mapped_column(JSON)  # agency ids
    # agencies she took back her permission from, one at a time (the rest still covered)
    withdrawn_from: Mapped[list[str]] = mapped_column(JSON, default=list)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(20))
    signer: Mapped[str] = mapped_column(String(20))
    # a representative's authority names them (and so her): sealed under her key
    signer_authority_sealed: Mapped[bytes | None]
    form_version: Mapped[str] = mapped_column(String(40))
    form_language: Mapped[str] = mapped_column(String(20))
    signed_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revocation_reason: Mapped[str | None] = mapped_column(String(500))
    expired_at: Mapped[datetime | None]  # set by the expiry sweep (reads check the clock anyway)

    @property
    def covered_recipients(self) -> list[str]:
        """The agencies it still names: its recipients less those she withdrew it from."""
        withdrawn = set(self.withdrawn_from or ())
        return [agency for agency in self.recipients if agency not in withdrawn]

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        return "active"

    def __repr__(self) -> str:
        return f"<Consent {self.id} client={self.client_id} revoked={self.revoked_at is not None}>"


class AccessGrant(UUIDPrimaryKey, Base):
    """An agency's window onto one client, opened by a referral: data, not code paths.

    Referrals open a grant at send (`accepted` false: profile only), widen it at accept,
    and end it at a terminal state; every read asks the consent policy with the grant's
    stage, what the referral shared (`data_categories`) for which service category
    (`purpose`), and the consent as it is *now*.
    """

    __tablename__ = "access_grant"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client.id", ondelete="CASCADE"), index=True
    )
    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    consent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consent.id", ondelete="SET NULL")
    )
    referral_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # what the referral shared, frozen at send: the most the receiver ever reads through it
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str | None] = mapped_column(String(40))  # the service's category
    accepted: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[datetime | None]
