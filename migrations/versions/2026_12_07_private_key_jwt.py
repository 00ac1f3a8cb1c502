"""SMART backend services: API clients' public keys and the single-use assertion ids.

Revision ID: 9e4f1a2b3c5d
Revises: 7d2a9c4e1b63
Create Date: 2026-12-07 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9e4f1a2b3c5d"
down_revision = "7d2a9c4e1b63"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_jwks", sa.JSON(), nullable=True))
    op.create_table(
        "seen_assertion",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_seen_assertion")),
    )
    with op.batch_alter_table("seen_assertion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_seen_assertion_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("seen_assertion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_assertion_expires_at"))
    op.drop_table("seen_assertion")
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.drop_column("public_jwks")
