"""Holds on the provider's terms (length per service, frozen and extendable on the referral)
and overflow places opened for a while.

Revision ID: 7c41e2b9d0a5
Revises: 7e0a1c5d3b92
Create Date: 2026-12-07 23:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7c41e2b9d0a5"
down_revision = "7e0a1c5d3b92"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overflow_window",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("places >= 1", name=op.f("ck_overflow_window_places_positive")),
        sa.CheckConstraint("held >= 0", name=op.f("ck_overflow_window_held_not_negative")),
        sa.CheckConstraint("used >= 0", name=op.f("ck_overflow_window_used_not_negative")),
        sa.CheckConstraint("held + used <= places", name=op.f("ck_overflow_window_within_places")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_overflow_window_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_overflow_window_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_overflow_window_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overflow_window")),
    )
    op.create_index("ix_overflow_window_service_ends", "overflow_window", ["service_id", "ends_at"])
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hold_minutes", sa.Integer(), server_default="90", nullable=False)
        )
        batch_op.add_column(sa.Column("night_hold_minutes", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_service_hold_minutes_in_range"), "hold_minutes BETWEEN 15 AND 4320"
        )
        batch_op.create_check_constraint(
            op.f("ck_service_night_hold_minutes_in_range"),
            "night_hold_minutes IS NULL OR night_hold_minutes BETWEEN 15 AND 4320",
        )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hold_overflow_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("hold_extended_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("hold_extension_reason", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_referral_hold_overflow_id_overflow_window"),
            "overflow_window",
            ["hold_overflow_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_referral_hold_overflow_id_overflow_window"), type_="foreignkey"
        )
        batch_op.drop_column("hold_extension_reason")
        batch_op.drop_column("hold_extended_at")
        batch_op.drop_column("hold_overflow_id")
        batch_op.drop_column("hold_minutes")
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_service_night_hold_minutes_in_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_service_hold_minutes_in_range"), type_="check")
        batch_op.drop_column("night_hold_minutes")
        batch_op.drop_column("hold_minutes")
    op.drop_index("ix_overflow_window_service_ends", table_name="overflow_window")
    op.drop_table("overflow_window")
