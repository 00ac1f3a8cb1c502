"""Referrals to organisations not on the hub, and their one-time links.

Revision ID: 7e0a1c5d3b92
Revises: 7d2a4c9e1b36
Create Date: 2026-12-07 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7e0a1c5d3b92"
down_revision = "7d2a4c9e1b36"
branch_labels = None
depends_on = None

STATES = (
    "draft",
    "sent",
    "acknowledged",
    "info_requested",
    "waitlisted",
    "accepted",
    "engaged",
    "completed",
    "not_completed",
    "declined",
    "withdrawn",
    "expired",
    "superseded",
    "entered_in_error",
)


def upgrade() -> None:
    op.create_table(
        "outside_organisation",
        sa.Column("owner_agency_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_agency_id"],
            ["agency.id"],
            name=op.f("fk_outside_organisation_owner_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outside_organisation")),
    )
    with op.batch_alter_table("outside_organisation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outside_organisation_owner_agency_id"), ["owner_agency_id"]
        )

    op.create_table(
        "outside_referral",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("client_reference", sa.String(length=40), nullable=False),
        sa.Column("sender_agency_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("consent_id", sa.Uuid(), nullable=True),
        sa.Column("bundle_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column(
            "urgency",
            sa.Enum(
                "emergency",
                "urgent",
                "routine",
                name="outside_referral_urgency",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                *STATES,
                name="outside_referral_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"],
            ["bundle.id"],
            name=op.f("fk_outside_referral_bundle_id_bundle"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
            name=op.f("fk_outside_referral_client_id_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consent.id"],
            name=op.f("fk_outside_referral_consent_id_consent"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["outside_organisation.id"],
            name=op.f("fk_outside_referral_organisation_id_outside_organisation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sender_agency_id"],
            ["agency.id"],
            name=op.f("fk_outside_referral_sender_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outside_referral")),
    )
    with op.batch_alter_table("outside_referral", schema=None) as batch_op:
        for column in ("client_id", "sender_agency_id", "organisation_id", "bundle_id", "sent_at"):
            batch_op.create_index(batch_op.f(f"ix_outside_referral_{column}"), [column])

    op.create_table(
        "outside_link",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("first_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["outside_referral.id"],
            name=op.f("fk_outside_link_referral_id_outside_referral"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outside_link")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_outside_link_token_digest")),
    )
    with op.batch_alter_table("outside_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outside_link_referral_id"), ["referral_id"])


def downgrade() -> None:
    with op.batch_alter_table("outside_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outside_link_referral_id"))
    op.drop_table("outside_link")
    with op.batch_alter_table("outside_referral", schema=None) as batch_op:
        for column in ("client_id", "sender_agency_id", "organisation_id", "bundle_id", "sent_at"):
            batch_op.drop_index(batch_op.f(f"ix_outside_referral_{column}"))
    op.drop_table("outside_referral")
    with op.batch_alter_table("outside_organisation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outside_organisation_owner_agency_id"))
    op.drop_table("outside_organisation")
