"""Urgency per need: each need of a bundle keeps its own (its referrals' deadlines follow it).

Existing needs take their bundle's urgency, which their referrals were sent with.

Revision ID: 7d2a9c4e1b63
Revises: 7d2a4c6e8f10
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7d2a9c4e1b63"
down_revision = "7d2a4c6e8f10"
branch_labels = None
depends_on = None


def _urgency(nullable: bool) -> "sa.Column[str]":
    return sa.Column(
        "urgency",
        sa.Enum(
            "emergency",
            "urgent",
            "routine",
            name="need_urgency",
            native_enum=False,
            create_constraint=True,
            length=16,
        ),
        nullable=nullable,
    )


def upgrade() -> None:
    with op.batch_alter_table("need", schema=None) as batch_op:
        batch_op.add_column(_urgency(nullable=True))
    op.execute(
        "UPDATE need SET urgency = (SELECT bundle.urgency FROM bundle"
        " WHERE bundle.id = need.bundle_id)"
    )
    with op.batch_alter_table("need", schema=None) as batch_op:
        batch_op.alter_column(
            "urgency",
            existing_type=sa.String(length=16),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("need", schema=None) as batch_op:
        # named, so SQLite's table copy does not carry a check on a column it drops
        batch_op.drop_constraint(batch_op.f("ck_need_need_urgency"), type_="check")
        batch_op.drop_column("urgency")
