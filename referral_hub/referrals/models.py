"""Referrals, and the bundles (intake episodes) and needs that group them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey, str_enum
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.states import State


class Bundle(UUIDPrimaryKey, Base):
    __tablename__ = "bundle"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client.id", ondelete="CASCADE"), index=True
    )
    sender_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    consent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consent.id", ondelete="SET NULL")
    )
    # the most urgent of its needs': what lists of bundles label and sort by (each need
    # keeps its own, and its referrals' deadlines follow that one)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, "bundle_urgency", 16))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)  # limbo queue
    created_by: Mapped[str | None] = mapped_column(String(64))
    # the caseworker who owns the episode at the sending agency (`referrals.assignment`)
    sender_assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )


class Need(UUIDPrimaryKey, Base):
    __tablename__ = "need"

    bundle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bundle.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(32))
    # a shelter tonight and immigration counsel next week: each need's own deadlines
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, "need_urgency", 16))
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)


class Referral(UUIDPrimaryKey, Base):
    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_receiver_status", "receiver_agency_id", "status"),
        Index("ix_referral_sender_status", "sender_agency_id", "status"),
        Index("ix_referral_client_service", "client_id", "service_id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"))
    client_reference: Mapped[str] = mapped_column(String(40))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    sender_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT")
    )
    receiver_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT")
    )
    consent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consent.id", ondelete="SET NULL")
    )
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bundle.id", ondelete="CASCADE"), index=True
    )
    need_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("need.id", ondelete="CASCADE"), index=True
    )
    previous_referral_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referral.id", ondelete="SET NULL")
    )
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, "referral_urgency", 16))
    status: Mapped[State] = mapped_column(
        str_enum(State, "referral_status", 20), default=State.DRAFT
    )
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # frozen at send
    note: Mapped[bytes | None]  # sealed under the client's key, like her PII
    holds_unit: Mapped[bool] = mapped_column(default=False)
    # the hold's terms, frozen at accept: its length (the service's day or night value then),
    # the overflow window it took a place from (None: regular capacity), and its one extension
    hold_minutes: Mapped[int | None]
    hold_overflow_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("overflow_window.id", ondelete="SET NULL")
    )
    hold_extended_at: Mapped[datetime | None]
    hold_extension_reason: Mapped[str | None] = mapped_column(String(40))
    acknowledge_by: Mapped[datetime | None]
    respond_by: Mapped[datetime | None]
    arrive_by: Mapped[datetime | None]
    expire_by: Mapped[datetime | None] = mapped_column(index=True)
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    suggested_service_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)  # reports filter by period
    acknowledged_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(40))  # a code (states.OUTCOME_CODES)
    outcome_note: Mapped[bytes | None]  # the receiver's words, sealed under her key
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(64))
    # the named caseworker on each side (`referrals.assignment`): the sender's from the
    # start, the receiver's once it takes the referral up
    sender_assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    receiver_assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # the decision deadline the receiver's assignee was reminded of (once per deadline)
    assignee_reminded_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Referral {self.id} {self.status}>"


class Message(UUIDPrimaryKey, Base):
    """A note between the two parties of a referral, sealed under the client's key."""

    __tablename__ = "referral_message"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referral.id", ondelete="CASCADE"), index=True
    )
    author_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT")
    )
    author_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OutsideReferral(UUIDPrimaryKey, Base):
    """A referral to an organisation not on the hub: recorded here, carried there by a
    printed letter or a one-time link. States are the referral machine's (sent, accepted,
    declined, withdrawn); nothing is held and no grant is opened (there is no account)."""

    __tablename__ = "outside_referral"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client.id", ondelete="CASCADE"), index=True
    )
    client_reference: Mapped[str] = mapped_column(String(40))
    sender_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outside_organisation.id", ondelete="RESTRICT"), index=True
    )
    consent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consent.id", ondelete="SET NULL")
    )
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bundle.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(40))  # the kind of help: a service category
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, "outside_referral_urgency", 16))
    status: Mapped[State] = mapped_column(
        str_enum(State, "outside_referral_status", 20), default=State.SENT
    )
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # frozen at send
    sent_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    # the answer is due by then (`deadlines.answer_deadlines`, as a hub referral's decision);
    # once it passes unanswered the sender is told to call them, once (`no_answer_told_at`)
    respond_by: Mapped[datetime | None] = mapped_column(index=True)
    no_answer_told_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class OutsideLink(UUIDPrimaryKey, Base):
    """A one-time link to one outside referral: the token (128+ random bits) is shown once
    and kept only as its SHA-256; it expires, the sender can revoke it, and it answers once."""

    __tablename__ = "outside_link"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outside_referral.id", ondelete="CASCADE"), index=True
    )
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    first_opened_at: Mapped[datetime | None]
    opens: Mapped[int] = mapped_column(default=0)
    answered_at: Mapped[datetime | None]
