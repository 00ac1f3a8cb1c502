"""The survivor's own door: access codes (hashes only), erasure requests she makes, and
consents withdrawn from one agency at a time.

Revision ID: 280ca305099a
Revises: 9d4e2b7c1a53
Create Date: 2026-12-07 17:12:19.870322
"""

import sqlalchemy as sa
from alembic import op

revision = "280ca305099a"
down_revision = "9d4e2b7c1a53"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_request",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("owner_agency_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
            name=op.f("fk_erasure_request_client_id_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_agency_id"],
            ["agency.id"],
            name=op.f("fk_erasure_request_owner_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_request")),
    )
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_request_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_erasure_request_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_erasure_request_owner_agency_id"), ["owner_agency_id"], unique=False
        )

    op.create_table(
        "survivor_access",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("owner_agency_id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=False),
        sa.Column("safe_to_carry_only", sa.Boolean(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.String(length=40), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
            name=op.f("fk_survivor_access_client_id_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_agency_id"],
            ["agency.id"],
            name=op.f("fk_survivor_access_owner_agency_id_agency"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survivor_access")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_survivor_access_code_digest")),
    )
    with op.batch_alter_table("survivor_access", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survivor_access_client_id"), ["client_id"], unique=False
        )

    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("withdrawn_from", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_from")

    with op.batch_alter_table("survivor_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survivor_access_client_id"))

    op.drop_table("survivor_access")
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_request_owner_agency_id"))
        batch_op.drop_index(batch_op.f("ix_erasure_request_due_at"))
        batch_op.drop_index(batch_op.f("ix_erasure_request_client_id"))

    op.drop_table("erasure_request")
