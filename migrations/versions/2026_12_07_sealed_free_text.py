"""Free text that can identify her or a confidential site leaves plain columns.

A referral's outcome becomes a code (`outcome`), the receiver's own words sealed under her
data key (`outcome_note`); a consent's `signer_authority` is sealed under her key
(`signer_authority_sealed`); a confidential site's location name moves into its encrypted
address. Existing rows are sealed here; a client already erased keeps no words at all.

Revision ID: 9d4b7e2a1c58
Revises: 9d2b7e4c1a58
Create Date: 2026-12-07 14:30:00
"""

import json
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "9d4b7e2a1c58"
down_revision = "9d2b7e4c1a58"
branch_labels = None
depends_on = None

# as in referral_hub.referrals.states at this revision
OUTCOME_CODES = (
    "completed",
    "goals_met",
    "partly_met",
    "moved_on",
    "other",
    "no_show",
    "left",
    "unreachable",
    "ineligible_after_assessment",
)


def _data_key(client_id: object) -> bytes | None:
    from referral_hub.core import envelope, keystore

    stored = keystore.get(uuid.UUID(str(client_id)))
    return envelope.unwrap(*stored) if stored is not None else None


def _seal(client_id: object, text: str, context: str) -> bytes | None:
    from referral_hub.core import envelope

    key = _data_key(client_id)
    return envelope.seal(key, text.encode(), context) if key is not None else None


def _open(client_id: object, sealed: bytes | None, context: str) -> str | None:
    from referral_hub.core import envelope

    key = _data_key(client_id) if sealed is not None else None
    return envelope.open_sealed(key, sealed, context).decode() if key and sealed else None


def _rows(statement: str) -> list[sa.Row[tuple[object, ...]]]:
    return list(op.get_bind().execute(sa.text(statement)))


def _update(statement: str, **values: object) -> None:
    op.get_bind().execute(sa.text(statement), values)


def _authorities(source: str, target: str, convert: Callable[[object, Any, str], Any]) -> None:
    """Each consent's signer authority from one column to the other, through `convert`."""
    for ident, client_id, value in _rows(
        f"SELECT id, client_id, {source} FROM consent WHERE {source} IS NOT NULL"  # noqa: S608
    ):
        context = f"consent.signer_authority:{uuid.UUID(str(ident))}"
        _update(
            f"UPDATE consent SET {target} = :value WHERE id = :id",  # noqa: S608
            value=convert(client_id, value, context),
            id=ident,
        )


def upgrade() -> None:
    from referral_hub.core import crypto

    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_note", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signer_authority_sealed", sa.LargeBinary(), nullable=True))

    for ident, client_id, outcome in _rows(
        "SELECT id, client_id, outcome FROM referral WHERE outcome IS NOT NULL"
    ):
        if outcome in OUTCOME_CODES:
            continue
        sealed = _seal(client_id, outcome, f"referral.outcome:{uuid.UUID(str(ident))}")
        _update(
            "UPDATE referral SET outcome = 'other', outcome_note = :sealed WHERE id = :id",
            sealed=sealed,
            id=ident,
        )
    _authorities("signer_authority", "signer_authority_sealed", _seal)
    for ident, name, encrypted in _rows(
        "SELECT id, location_name, address_encrypted FROM service "
        "WHERE confidential AND location_name IS NOT NULL"
    ):
        private = (
            json.loads(crypto.decrypt(encrypted))
            if encrypted
            else {
                "address": {},
                "latitude": None,
                "longitude": None,
            }
        )
        private["name"] = name
        _update(
            "UPDATE service SET location_name = NULL, address_encrypted = :sealed WHERE id = :id",
            sealed=crypto.encrypt(json.dumps(private).encode()),
            id=ident,
        )

    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_column("signer_authority")


def downgrade() -> None:
    from referral_hub.core import crypto

    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signer_authority", sa.String(length=200), nullable=True))

    for ident, encrypted in _rows(
        "SELECT id, address_encrypted FROM service "
        "WHERE confidential AND address_encrypted IS NOT NULL"
    ):
        private = json.loads(crypto.decrypt(encrypted))
        name = private.pop("name", None)
        if name is not None:
            _update(
                "UPDATE service SET location_name = :name, address_encrypted = :sealed "
                "WHERE id = :id",
                name=name,
                sealed=crypto.encrypt(json.dumps(private).encode()),
                id=ident,
            )
    _authorities("signer_authority_sealed", "signer_authority", _open)
    for ident, client_id, sealed in _rows(
        "SELECT id, client_id, outcome_note FROM referral WHERE outcome_note IS NOT NULL"
    ):
        words = _open(client_id, sealed, f"referral.outcome:{uuid.UUID(str(ident))}")
        if words:
            _update(
                "UPDATE referral SET outcome = :words WHERE id = :id", words=words[:40], id=ident
            )

    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_column("signer_authority_sealed")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("outcome_note")
