"""GET requests on PostgreSQL open no transaction until they write: a search or a listing
costs its statements alone, without a BEGIN and a COMMIT round trip around them.

The request's connection starts in autocommit. Before the first statement that is not a
plain SELECT — an INSERT, an UPDATE, a row lock (`FOR UPDATE`), an advisory lock, a
savepoint — it leaves autocommit, so psycopg sends BEGIN with that statement and everything
from there to the request's end commits or rolls back as one, exactly as before. What this
changes is only the reads before the first write: each is its own snapshot instead of
sharing a transaction. At READ COMMITTED, PostgreSQL's default and the hub's, every
statement of a transaction takes its own snapshot anyway, so they see the same rows.
A write-free GET then commits nothing: psycopg sends no COMMIT for a connection that is
not in a transaction. Not used on SQLite (its BEGIN is no round trip) nor where the session
is bound to a connection the caller manages (the test suite's outer transaction).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

OPTION = "hub_begin_before_first_write"
_SELECT = re.compile(r"\s*SELECT\b", re.IGNORECASE)
# a SELECT that must run inside the transaction it belongs to
_HOLDS = re.compile(
    r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b|\bFOR\s+KEY\s+SHARE\b|pg_advisory|set_config|nextval|setval",
    re.IGNORECASE,
)


# a SELECT of a function that writes (the audit chain's append) says so with this comment
WRITES = "/* writes */"


def is_plain_read(statement: str) -> bool:
    return (
        bool(_SELECT.match(statement)) and not _HOLDS.search(statement) and WRITES not in statement
    )


def begin_before_first_write(engine: Engine) -> None:
    """Install the switch on a PostgreSQL engine (once, when the app is built)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(connection: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any) -> None:
        if not connection.get_execution_options().get(OPTION):
            return
        raw = connection.connection.dbapi_connection
        if raw.autocommit and not is_plain_read(statement):
            raw.autocommit = False  # psycopg sends BEGIN with this statement


def start_outside_a_transaction(session: Session | scoped_session[Any]) -> None:
    """Call first thing in a GET request: its reads run in autocommit until it writes."""
    current = session() if isinstance(session, scoped_session) else session
    bind = current.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return
    if current.in_transaction():
        return
    current.connection(execution_options={"isolation_level": "AUTOCOMMIT", OPTION: True})
