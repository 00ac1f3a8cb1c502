"""Coordinator reports read referrals by the time they were sent and bundles oldest first.

Revision ID: 3f8a6c2d9e14
Revises: 7c1d2e9a4b60
Create Date: 2026-11-22 16:40:00
"""

from alembic import op

revision = "3f8a6c2d9e14"
down_revision = "7c1d2e9a4b60"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_sent_at"), ["sent_at"], unique=False)
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bundle_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bundle_created_at"))
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_sent_at"))
