"""Access grants are found by their referral at every acceptance and ending: index it.

Revision ID: 5982484095ee
Revises: 958ab1b01b4e
Create Date: 2026-11-22 14:45:54.914959
"""

from alembic import op

revision = "5982484095ee"
down_revision = "958ab1b01b4e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_grant_referral_id"), ["referral_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grant_referral_id"))
