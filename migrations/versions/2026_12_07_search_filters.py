"""Search filters for trafficking type, accessibility, and what a service does not ask for.

The capacity row (what search reads) gains copies of the service's trafficking types and
accessibility as bit masks, and its three "no ID / no police report / children" flags.

Revision ID: 9d2b7e4c1a58
Revises: 3f8a6c2d9e14
Create Date: 2026-12-07 14:30:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "9d2b7e4c1a58"
down_revision = "3f8a6c2d9e14"
branch_labels = None
depends_on = None

# the vocabularies as they stand at this revision (bit i = the i-th word)
ACCESSIBILITY = ("wheelchair", "sign_language", "braille", "service_animals", "ground_floor")
FLAGS = ("no_police_report_needed", "no_id_needed", "accepts_children")


def upgrade() -> None:
    with op.batch_alter_table("capacity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trafficking_mask", sa.Integer(), server_default="0"))
        batch_op.add_column(sa.Column("accessibility_mask", sa.Integer(), server_default="0"))
        for flag in FLAGS:
            batch_op.add_column(sa.Column(flag, sa.Boolean(), server_default=sa.false()))
    for column in ("trafficking_mask", "accessibility_mask", *FLAGS):
        with op.batch_alter_table("capacity", schema=None) as batch_op:
            batch_op.alter_column(column, nullable=False)
    _copy_from_services()


def _copy_from_services() -> None:
    connection = op.get_bind()
    service = sa.table(
        "service",
        sa.column("id", sa.Uuid()),
        sa.column("trafficking_mask", sa.Integer()),
        sa.column("accessibility", sa.JSON()),
        *(sa.column(flag, sa.Boolean()) for flag in FLAGS),
    )
    capacity = sa.table(
        "capacity",
        sa.column("service_id", sa.Uuid()),
        sa.column("trafficking_mask", sa.Integer()),
        sa.column("accessibility_mask", sa.Integer()),
        *(sa.column(flag, sa.Boolean()) for flag in FLAGS),
    )
    for row in connection.execute(sa.select(service)).mappings():
        features = row["accessibility"] or []
        if isinstance(features, str):
            features = json.loads(features)
        bits = sum(
            1 << ACCESSIBILITY.index(word) for word in set(features) if word in ACCESSIBILITY
        )
        connection.execute(
            capacity.update()
            .where(capacity.c.service_id == row["id"])
            .values(
                trafficking_mask=row["trafficking_mask"] or 0,
                accessibility_mask=bits,
                **{flag: bool(row[flag]) for flag in FLAGS},
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("capacity", schema=None) as batch_op:
        for column in ("accepts_children", "no_id_needed", "no_police_report_needed"):
            batch_op.drop_column(column)
        batch_op.drop_column("accessibility_mask")
        batch_op.drop_column("trafficking_mask")
