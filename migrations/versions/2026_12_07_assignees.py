"""A named caseworker on each side of a referral, and on the sending side of a bundle.

Revision ID: 7d2a4c9e1b36
Revises: 9e4f1a2b3c5d
Create Date: 2026-12-07 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7d2a4c9e1b36"
down_revision = "9e4f1a2b3c5d"
branch_labels = None
depends_on = None

COLUMNS = {
    "referral": ("sender_assignee_id", "receiver_assignee_id"),
    "bundle": ("sender_assignee_id",),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.add_column(sa.Column(column, sa.Uuid(), nullable=True))
                batch_op.create_foreign_key(
                    batch_op.f(f"fk_{table}_{column}_user_account"),
                    "user_account",
                    [column],
                    ["id"],
                    ondelete="SET NULL",
                )
                batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)
            if table == "referral":
                batch_op.add_column(
                    sa.Column("assignee_reminded_at", sa.DateTime(timezone=True), nullable=True)
                )


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "referral":
                batch_op.drop_column("assignee_reminded_at")
            for column in reversed(columns):
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
                batch_op.drop_constraint(
                    batch_op.f(f"fk_{table}_{column}_user_account"), type_="foreignkey"
                )
                batch_op.drop_column(column)
