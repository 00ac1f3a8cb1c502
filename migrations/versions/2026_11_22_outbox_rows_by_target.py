"""Outbox rows name their target (a webhook subscription), so an agency admin's list of
deliveries is one indexed query instead of a pass over every webhook row.

Revision ID: 02841dedc8d4
Revises: 5982484095ee
Create Date: 2026-11-22 14:51:14.690063
"""

import sqlalchemy as sa
from alembic import op

revision = "02841dedc8d4"
down_revision = "5982484095ee"
branch_labels = None
depends_on = None

WEBHOOK_ID = {
    "postgresql": "payload->>'webhook_id'",
    "sqlite": "json_extract(payload, '$.webhook_id')",
}


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_outbox_message_target", ["target", "created_at"], unique=False)
    webhook_id = WEBHOOK_ID[op.get_bind().dialect.name]
    op.execute(f"UPDATE outbox_message SET target = {webhook_id} WHERE kind = 'webhook'")  # noqa: S608 - fixed text


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_target")
        batch_op.drop_column("target")
