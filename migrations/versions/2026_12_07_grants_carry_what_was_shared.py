"""Access grants carry what their referral shared and for which purpose (minimum necessary).

Revision ID: 9d4e2b7c1a53
Revises: 9d4b7e2a1c58
Create Date: 2026-12-07 14:20:00.000000

Existing grants take their referral's `data_categories` and its service's category; a grant
whose referral cannot be found keeps `["profile"]` and no purpose, which the policy reads as
profile only without consent, and nothing under one: when in doubt, less.
"""

import sqlalchemy as sa
from alembic import op

revision = "9d4e2b7c1a53"
down_revision = "9d4b7e2a1c58"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_categories", sa.JSON(), nullable=False, server_default='["profile"]')
        )
        batch_op.add_column(sa.Column("purpose", sa.String(length=40), nullable=True))
    grant = sa.table(
        "access_grant",
        sa.column("id", sa.Uuid()),
        sa.column("referral_id", sa.String()),
        sa.column("data_categories", sa.JSON()),
        sa.column("purpose", sa.String()),
    )
    referral = sa.table(
        "referral",
        sa.column("id", sa.Uuid()),
        sa.column("service_id", sa.Uuid()),
        sa.column("data_categories", sa.JSON()),
    )
    service = sa.table("service", sa.column("id", sa.Uuid()), sa.column("category", sa.String()))
    connection = op.get_bind()
    shared = {
        str(row.id): (row.data_categories, row.category)
        for row in connection.execute(
            sa.select(referral.c.id, referral.c.data_categories, service.c.category).join(
                service, service.c.id == referral.c.service_id
            )
        )
    }
    for row in connection.execute(sa.select(grant.c.id, grant.c.referral_id)).all():
        found = shared.get(row.referral_id or "")
        if found is not None:
            connection.execute(
                grant.update()
                .where(grant.c.id == row.id)
                .values(data_categories=list(found[0]), purpose=found[1])
            )
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.alter_column("data_categories", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_column("purpose")
        batch_op.drop_column("data_categories")
