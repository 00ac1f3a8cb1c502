"""Signed audit checkpoints and the public keys that signed them, both append-only.

Revision ID: 7c1d2e9a4b60
Revises: 02841dedc8d4
Create Date: 2026-11-22 16:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7c1d2e9a4b60"
down_revision = "02841dedc8d4"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)
TABLES = ("audit_checkpoint", "audit_signing_key")

PG_GUARD = """
CREATE FUNCTION audit_record_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""
PG_TABLE_GUARD = """
CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION audit_record_append_only();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION audit_record_append_only();
"""
SQLITE_TABLE_GUARD = (
    "CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}"
    " BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
    "CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}"
    " BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=96), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoint")),
    )
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoint_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_checkpoint_key_id"), ["key_id"], unique=False)
    op.create_table(
        "audit_signing_key",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("first_used_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_audit_signing_key")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARD)
        for table in TABLES:
            op.execute(PG_TABLE_GUARD.format(table=table))
    else:
        for table in TABLES:
            for statement in SQLITE_TABLE_GUARD:
                op.execute(statement.format(table=table))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        op.execute(
            f"DROP TRIGGER IF EXISTS {table}_no_update" + (f" ON {table}" if postgres else "")
        )
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS audit_record_append_only()")
    op.drop_table("audit_signing_key")
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoint_key_id"))
        batch_op.drop_index(batch_op.f("ix_audit_checkpoint_at"))
    op.drop_table("audit_checkpoint")
