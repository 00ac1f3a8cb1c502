"""Where the stored audit chain was last verified, so the online check resumes there.

Revision ID: 5b0e3c7d9a21
Revises: 5c3e9b7a2f14
Create Date: 2026-12-07 20:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5b0e3c7d9a21"
down_revision = "5c3e9b7a2f14"
branch_labels = None
depends_on = None

TABLE = "audit_verification"
# the guard function comes with the signed checkpoints' migration (it names the table)
GUARD = {
    "postgresql": [
        f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE OR DELETE ON {TABLE}"
        " FOR EACH ROW EXECUTE FUNCTION audit_record_append_only()",
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_record_append_only()",
    ],
    "sqlite": [
        f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}"
        f" BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}"
        f" BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END",
    ],
}
UNGUARD = {
    "postgresql": [
        f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
        f"DROP TRIGGER IF EXISTS {TABLE}_no_update ON {TABLE}",
    ],
    "sqlite": [
        f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
        f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    ],
}


def _execute(statements: dict[str, list[str]]) -> None:
    for statement in statements[op.get_bind().dialect.name]:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("from_seq", sa.BigInteger(), nullable=False),
        sa.Column("events_checked", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verification")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_verification_seq"), ["seq"], unique=False)
    _execute(GUARD)


def downgrade() -> None:
    _execute(UNGUARD)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_verification_seq"))
    op.drop_table(TABLE)
