"""Services (HSDS-shaped, with structured eligibility), their live capacity and its history.

A service's street address is stored encrypted and only its owner (and, later, a receiver
after acceptance) ever reads it. Search works on `search_lat/search_lon`: the exact point
for public sites, a coarse one for confidential sites.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_hub.agencies.models import Agency
from referral_hub.core import clock
from referral_hub.core.db import Base, Timestamps, UUIDPrimaryKey, str_enum
from referral_hub.directory.vocabulary import Category, ServiceStatus, Unit


class Service(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "service"
    __table_args__ = (
        CheckConstraint("min_age IS NULL OR min_age >= 0", name="min_age_not_negative"),
        CheckConstraint(
            "max_age IS NULL OR min_age IS NULL OR max_age >= min_age", name="age_range_ordered"
        ),
        CheckConstraint("hold_minutes BETWEEN 15 AND 4320", name="hold_minutes_in_range"),
        CheckConstraint(
            "night_hold_minutes IS NULL OR night_hold_minutes BETWEEN 15 AND 4320",
            name="night_hold_minutes_in_range",
        ),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[Category] = mapped_column(str_enum(Category, "service_category"))
    status: Mapped[ServiceStatus] = mapped_column(
        str_enum(ServiceStatus, "service_status"), default=ServiceStatus.ACTIVE
    )
    url: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    # eligibility
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    genders_mask: Mapped[int] = mapped_column(default=0)  # 0: everyone
    populations_mask: Mapped[int] = mapped_column(default=0)  # populations explicitly served
    trafficking_mask: Mapped[int] = mapped_column(default=0)  # 0: any
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)  # BCP 47 tags as given
    accessibility: Mapped[list[str]] = mapped_column(JSON, default=list)
    no_police_report_needed: Mapped[bool] = mapped_column(default=False)
    no_id_needed: Mapped[bool] = mapped_column(default=False)
    accepts_children: Mapped[bool] = mapped_column(default=False)
    eligibility_notes: Mapped[str | None] = mapped_column(Text)
    service_area: Mapped[str | None] = mapped_column(String(300))
    hours: Mapped[str | None] = mapped_column(String(300))
    # how long an accepted referral holds a place here (frozen on the referral at accept);
    # `night_hold_minutes`, when set, applies to accepts between 22:00 and 07:00 hub time
    hold_minutes: Mapped[int] = mapped_column(default=90, server_default="90")
    night_hold_minutes: Mapped[int | None] = mapped_column(Integer)
    # location
    location_name: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    confidential: Mapped[bool] = mapped_column(default=False)
    address_encrypted: Mapped[bytes | None]  # street, postal code, exact point: owner only
    search_lat: Mapped[float | None] = mapped_column(Float)
    search_lon: Mapped[float | None] = mapped_column(Float)
    hsds_id: Mapped[str | None] = mapped_column(
        String(100), index=True
    )  # id in an imported document
    # what an imported HSDS document said that the hub does not model, kept so that the
    # export gives it back (see directory/hsds.py); None for services made in the hub
    hsds_extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    agency: Mapped[Agency] = relationship()
    capacity: Mapped[Capacity | None] = relationship(
        back_populates="service", uselist=False, cascade="all, delete-orphan"
    )
    language_rows: Mapped[list[ServiceLanguage]] = relationship(cascade="all, delete-orphan")
    # the windows not yet closed (the sweep closes ended ones): what capacity views count
    overflow_windows: Mapped[list[OverflowWindow]] = relationship(
        primaryjoin="and_(Service.id == OverflowWindow.service_id, "
        "OverflowWindow.closed_at.is_(None))",
        viewonly=True,
        order_by="OverflowWindow.ends_at",
    )

    def __repr__(self) -> str:
        return f"<Service {self.id} {self.category} {self.status}>"


class ServiceLanguage(Base):
    """Primary language subtags a service works in, indexed for the language filter."""

    __tablename__ = "service_language"

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True, index=True)


class Capacity(Base):
    """Live numbers — and the narrow row that search reads.

    Invariant (CHECK): held >= 0, available >= 0, available + held <= total.

    `aging_at` and `stale_at` are the moments this figure turns aging and stale, computed at
    write time from the category's time to live, so search ranks freshness with plain
    comparisons on both databases. The search columns (category, listed, point, ages,
    masks) are copies of the service's, kept by `directory.service` whenever a service is
    written: search filters, scores and sorts these narrow rows alone, and reads the wide
    service rows only for the twenty it returns.

    Kept lean for updates: holds and releases touch no indexed column, and on PostgreSQL
    the table leaves room in each page (fillfactor 70), so most updates are HOT — a new
    row version in the same page and no new index entries (docs/deploy.md).
    """

    __tablename__ = "capacity"
    __table_args__ = (
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("available + held <= total", name="within_total"),
        # the radius box is answered inside the index (latitude range, longitude checked on
        # the entries); see migration 2026_12_07_search_at_national_scale
        Index("ix_capacity_search", "listed", "category", "search_lat", "search_lon"),
    )

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), primary_key=True
    )
    unit: Mapped[Unit] = mapped_column(str_enum(Unit, "capacity_unit"))
    total: Mapped[int] = mapped_column(default=0)
    available: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    aging_at: Mapped[datetime | None]
    stale_at: Mapped[datetime | None]  # not indexed: updates that move it stay HOT
    reminded_at: Mapped[datetime | None]
    # copies of the service's searchable fields
    listed: Mapped[bool] = mapped_column(default=True)  # the service is active
    category: Mapped[Category] = mapped_column(str_enum(Category, "capacity_category"))
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    search_lat: Mapped[float | None] = mapped_column(Float)
    search_lon: Mapped[float | None] = mapped_column(Float)
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    genders_mask: Mapped[int] = mapped_column(default=0)
    populations_mask: Mapped[int] = mapped_column(default=0)
    trafficking_mask: Mapped[int] = mapped_column(default=0, server_default="0")
    accessibility_mask: Mapped[int] = mapped_column(default=0, server_default="0")
    no_police_report_needed: Mapped[bool] = mapped_column(default=False, server_default=false())
    no_id_needed: Mapped[bool] = mapped_column(default=False, server_default=false())
    accepts_children: Mapped[bool] = mapped_column(default=False, server_default=false())

    service: Mapped[Service] = relationship(back_populates="capacity")

    def __repr__(self) -> str:
        return f"<Capacity {self.service_id} {self.available}/{self.total} held={self.held}>"


class CapacityChange(UUIDPrimaryKey, Base):
    """Every change to a capacity row, kept: who set what, when, and why."""

    __tablename__ = "capacity_change"
    __table_args__ = (Index("ix_capacity_change_service_at", "service_id", "at"),)

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    kind: Mapped[str] = mapped_column(String(16))  # set, confirm, hold, release, consume
    total: Mapped[int]
    available: Mapped[int]
    held: Mapped[int]
    actor_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(300))


class OverflowWindow(UUIDPrimaryKey, Base):
    """Temporary places ("white-flag" nights) a provider opens on a service for a while.

    Open while `starts_at <= now < ends_at` and not closed early: read-time truth, so a
    window closes by itself at its end; the periodic sweep only stamps `closed_at` on the
    ended ones for the record. Invariant (CHECK): held + used <= places.
    """

    __tablename__ = "overflow_window"
    __table_args__ = (
        CheckConstraint("places >= 1", name="places_positive"),
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("used >= 0", name="used_not_negative"),
        CheckConstraint("held + used <= places", name="within_places"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_overflow_window_service_ends", "service_id", "ends_at"),
    )

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    places: Mapped[int]
    held: Mapped[int] = mapped_column(default=0)
    used: Mapped[int] = mapped_column(default=0)  # placements: held, then arrived
    note: Mapped[str | None] = mapped_column(String(300))  # about the places, never about her
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
