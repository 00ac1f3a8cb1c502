"""Agency (the tenant) and User (a staff member of exactly one agency)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_hub.agencies.vocabulary import AgencyKind as AgencyKind
from referral_hub.agencies.vocabulary import AgencyStatus as AgencyStatus
from referral_hub.agencies.vocabulary import Participation as Participation
from referral_hub.core.db import Base, Timestamps, UUIDPrimaryKey, str_enum


class Role(StrEnum):
    INTAKE = "intake"
    PROVIDER = "provider"
    COORDINATOR = "coordinator"
    AGENCY_ADMIN = "agency_admin"
    HUB_ADMIN = "hub_admin"


TOTP_REQUIRED_ROLES = frozenset({"coordinator", "agency_admin", "hub_admin"})


class Agency(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "agency"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[AgencyKind] = mapped_column(str_enum(AgencyKind, "agency_kind"))
    is_victim_service_provider: Mapped[bool] = mapped_column(default=False)
    status: Mapped[AgencyStatus] = mapped_column(
        str_enum(AgencyStatus, "agency_status"), default=AgencyStatus.ACTIVE
    )
    # counts only: its capacity shows in search, but it receives no referrals
    participation: Mapped[Participation] = mapped_column(
        str_enum(Participation, "agency_participation"),
        default=Participation.RECEIVES_REFERRALS,
        server_default=Participation.RECEIVES_REFERRALS.value,
    )
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    # median minutes this agency took to answer referrals lately (kept by the referral
    # sweeps); search ranks quick responders higher. None: not known yet.
    response_minutes: Mapped[float | None]

    users: Mapped[list[User]] = relationship(back_populates="agency")

    def __repr__(self) -> str:
        return f"<Agency {self.id} {self.kind} {self.status}>"


class User(UUIDPrimaryKey, Timestamps, Base):
    """A staff member. E-mail is a work address (not survivor data); it is unique hub-wide."""

    __tablename__ = "user_account"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(120))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # TOTP: the secret encrypted with the field keys; the last accepted time step, so a
    # code cannot be used twice
    totp_secret: Mapped[bytes | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def needs_totp(self) -> bool:
        """Roles that can see across agencies or change who may act must use a second factor."""
        return bool(set(self.roles) & TOTP_REQUIRED_ROLES)

    agency: Mapped[Agency] = relationship(back_populates="users")

    def __repr__(self) -> str:
        return f"<User {self.id} agency={self.agency_id} active={self.is_active}>"
