"""A referral's hold on a unit, its release and its use: each one conditional write.

The row moves only if the unit is there (`available >= 1` to hold, `held >= 1` to release
or consume), so under any concurrency no unit is given twice and none is lost; the
history row is written from what the UPDATE returned, never from a read before it.

PostgreSQL does both in one statement: the UPDATE … RETURNING is a data-modifying CTE
and the history INSERT selects from it, so a move costs one round trip and a refused
move (nothing free) writes nothing. SQLite has no data-modifying CTEs; there the same
UPDATE … RETURNING is followed by the INSERT, and since every SQLite transaction here
starts with `BEGIN IMMEDIATE` no other writer can come between them.

Statements are built once and run on the session's connection with bound values: no
unit-of-work bookkeeping, no statement compiled per call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Uuid, bindparam, insert, literal, select, update
from sqlalchemy.engine import Connection

from referral_hub.core.db import UTCDateTime
from referral_hub.directory.models import Capacity, CapacityChange

_CAPACITY = cast(Table, Capacity.__table__)
_HISTORY = cast(Table, CapacityChange.__table__)


@dataclass(frozen=True)
class Move:
    """What a move needs (`guard` ≥ 1) and what it does to (available, held)."""

    guard: str
    available: int
    held: int


MOVES = {
    "hold": Move(guard="available", available=-1, held=+1),
    "release": Move(guard="held", available=+1, held=-1),
    "consume": Move(guard="held", available=0, held=-1),
}

_HISTORY_COLUMNS = ("id", "service_id", "at", "kind", "total", "available", "held")
_HISTORY_EXTRA = ("actor_id", "note")


def _update(move: Move) -> Any:
    c = _CAPACITY.c
    return (
        update(_CAPACITY)
        .where(c.service_id == bindparam("target", type_=Uuid()), c[move.guard] >= 1)
        .values(available=c.available + move.available, held=c.held + move.held)
        .returning(c.service_id, c.total, c.available, c.held)
    )


def _folded(kind: str, move: Move) -> Any:
    """PostgreSQL: the UPDATE as a CTE, the history row inserted from what it returned."""
    moved = _update(move).cte("moved")
    h = _HISTORY.c
    rows = select(
        bindparam("change_id", type_=Uuid()),
        moved.c.service_id,
        bindparam("at", type_=UTCDateTime()),
        literal(kind, type_=h.kind.type),
        moved.c.total,
        moved.c.available,
        moved.c.held,
        bindparam("actor_id", type_=h.actor_id.type),
        bindparam("note", type_=h.note.type),
    )
    return (
        insert(_HISTORY)
        .from_select([h[name] for name in _HISTORY_COLUMNS + _HISTORY_EXTRA], rows)
        .returning(h.total, h.available, h.held)
        .add_cte(moved)  # a data-modifying CTE must sit at the top of the statement
    )


_FOLDED = {kind: _folded(kind, move) for kind, move in MOVES.items()}
_UPDATES = {kind: _update(move) for kind, move in MOVES.items()}
_INSERT_HISTORY = insert(_HISTORY)


def move(
    connection: Connection,
    kind: str,
    service_id: uuid.UUID,
    *,
    actor_id: str | None,
    note: str | None,
    at: datetime,
) -> tuple[int, int, int] | None:
    """Apply one move and keep its history row; (total, available, held) after it, or
    None when the unit was not there (then nothing is written)."""
    values: dict[str, Any] = {"actor_id": actor_id, "note": note, "at": at}
    if connection.dialect.name == "postgresql":
        values |= {"target": service_id, "change_id": uuid.uuid4()}
        row = connection.execute(_FOLDED[kind], values).first()
        return None if row is None else (row.total, row.available, row.held)
    row = connection.execute(_UPDATES[kind], {"target": service_id}).first()
    if row is None:
        return None
    connection.execute(
        _INSERT_HISTORY,
        {
            **values,
            "id": uuid.uuid4(),
            "service_id": service_id,
            "kind": kind,
            "total": row.total,
            "available": row.available,
            "held": row.held,
        },
    )
    return row.total, row.available, row.held
