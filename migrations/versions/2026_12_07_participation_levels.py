"""Participation levels: an agency receives referrals (as before) or publishes counts only.

Revision ID: 7d2a4c6e8f10
Revises: 5b0e3c7d9a21
Create Date: 2026-12-07 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7d2a4c6e8f10"
down_revision = "5b0e3c7d9a21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "participation",
                sa.Enum(
                    "receives_referrals",
                    "counts_only",
                    name="agency_participation",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                server_default="receives_referrals",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_agency_agency_participation"), type_="check")
        batch_op.drop_column("participation")
