"""Outside referrals get an answer deadline: `respond_by` (from the urgency, as a hub
referral's decision deadline) and `no_answer_told_at` (the sender was told, once).

Existing referrals take the deadline their urgency and sending time give.

Revision ID: 3b8d6f2a9c14
Revises: 5e0c1d9a7b21
Create Date: 2026-12-08 01:30:00
"""

import sqlalchemy as sa
from alembic import op

from referral_hub.core.db import UTCDateTime
from referral_hub.referrals.deadlines import Urgency, answer_deadlines

revision = "3b8d6f2a9c14"
down_revision = "5e0c1d9a7b21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outside_referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("no_answer_told_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_outside_referral_respond_by"), ["respond_by"])
    _backfill()


def _backfill() -> None:
    table = sa.table(
        "outside_referral",
        sa.column("id", sa.Uuid()),
        sa.column("urgency", sa.String()),
        sa.column("sent_at", UTCDateTime()),
        sa.column("respond_by", UTCDateTime()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(table.c.id, table.c.urgency, table.c.sent_at)).all()
    for row_id, urgency, sent_at in rows:
        _, respond_by = answer_deadlines(Urgency(urgency), sent_at)
        connection.execute(table.update().where(table.c.id == row_id).values(respond_by=respond_by))


def downgrade() -> None:
    with op.batch_alter_table("outside_referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outside_referral_respond_by"))
        batch_op.drop_column("no_answer_told_at")
        batch_op.drop_column("respond_by")
