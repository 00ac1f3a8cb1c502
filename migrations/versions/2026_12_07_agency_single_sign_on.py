"""Agency single sign-on: an agency's OpenID Connect provider, and provider subjects
linked to existing staff accounts.

Revision ID: 5e0c1d9a7b21
Revises: 7c41e2b9d0a5
Create Date: 2026-12-07 23:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5e0c1d9a7b21"
down_revision = "7c41e2b9d0a5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_sso",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret", sa.LargeBinary(), nullable=True),
        sa.Column("email_domains", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_agency_sso_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_agency_sso")),
    )
    op.create_table(
        "sso_link",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_sso_link_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_link")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_sso_link_issuer")),
        sa.UniqueConstraint("user_id", "issuer", name=op.f("uq_sso_link_user_id")),
    )
    with op.batch_alter_table("sso_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_link_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sso_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_link_user_id"))
    op.drop_table("sso_link")
    op.drop_table("agency_sso")
