"""Services keep what an imported HSDS document said that the hub does not model.

Revision ID: 4529f4030c77
Revises: 280ca305099a
Create Date: 2026-12-07 17:41:30

`service.hsds_extra` holds the imported service object (phones, contacts, programs, cost
options, ...) and the hub's own view of it at import, so an export gives the document back
whole until the hub changes what it shows. Existing rows get NULL: they were made in the
hub or imported before anything was kept, and export as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "4529f4030c77"
down_revision = "280ca305099a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hsds_extra", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_column("hsds_extra")
