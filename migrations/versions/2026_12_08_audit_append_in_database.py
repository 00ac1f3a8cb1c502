"""PostgreSQL appends an audit event in one call: `audit_append(...)` locks the chain head,
takes the next `seq` and the previous chain hash, hashes the event's canonical bytes with
them spliced in (the same bytes, the same hashes as the hub's Python code), inserts the
event read from those bytes and moves the head. SQLite keeps appending from Python; nothing changes there.

Revision ID: 8c1e5a7d2f40
Revises: 3b8d6f2a9c14
Create Date: 2026-12-08 02:10:00
"""

from alembic import op

revision = "8c1e5a7d2f40"
down_revision = "3b8d6f2a9c14"
branch_labels = None
depends_on = None

# The leaf covers `prev` and `seq`, which only the locked head knows: the caller sends the
# canonical JSON around them (`before`, `between`, `after`, see audit/chain.py
# hashed_parts) and the function hashes 0x00 || before || prev || between || seq || after.
# The columns are read back out of those same bytes (the inverse of models.event_document),
# so what is stored is what was hashed, and the call carries three values, not eighteen.
# `FOR UPDATE` under READ COMMITTED re-reads the head once the lock is granted, so a
# writer that waited chains onto the event committed before it, never a fork. It runs with
# the caller's rights (SECURITY INVOKER): no privilege beyond the application role's.
APPEND = """
CREATE FUNCTION audit_append(
  p_before bytea, p_between bytea, p_after bytea,
  OUT new_seq bigint, OUT new_prev varchar, OUT new_leaf varchar, OUT new_chain varchar
) LANGUAGE plpgsql AS $$
DECLARE
  hashed bytea;
  leaf bytea;
  doc jsonb;
BEGIN
  SELECT h.seq + 1, h.chain_hash INTO new_seq, new_prev
    FROM audit_head AS h WHERE h.id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit head row missing: run flask db upgrade';
  END IF;
  hashed := p_before || convert_to(new_prev, 'UTF8') || p_between
            || convert_to(new_seq::text, 'UTF8') || p_after;
  leaf := sha256('\\x00'::bytea || hashed);
  new_leaf := encode(leaf, 'hex');
  new_chain := encode(sha256(decode(new_prev, 'hex') || leaf), 'hex');
  doc := convert_from(hashed, 'UTF8')::jsonb;
  IF (doc->>'seq')::bigint IS DISTINCT FROM new_seq OR doc->>'prev' IS DISTINCT FROM new_prev
  THEN
    RAISE EXCEPTION 'audit event bytes do not place seq and prev where they belong';
  END IF;
  INSERT INTO audit_event (
    seq, event_id, at, actor_type, actor_id, actor_agency_id, actor_roles, action, outcome,
    subject_type, subject_id, client_reference, request_id, fields, consent_id, details,
    prev_hash, leaf_hash, chain_hash
  ) VALUES (
    new_seq, (doc->>'event_id')::uuid, (doc->>'at')::timestamptz, doc->'actor'->>'type',
    doc->'actor'->>'id', (doc->'actor'->>'agency_id')::uuid, doc->'actor'->'roles',
    doc->>'action', doc->>'outcome', doc->'subject'->>'type', doc->'subject'->>'id',
    doc->>'client_reference', doc->>'request_id', doc->'fields',
    (doc->>'consent_id')::uuid, doc->'details', new_prev, new_leaf, new_chain
  );
  UPDATE audit_head SET seq = new_seq, chain_hash = new_chain WHERE id = 1;
END $$
"""
DROP = "DROP FUNCTION IF EXISTS audit_append(bytea, bytea, bytea)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
