"""Pooled PostgreSQL connections that the server dropped are replaced on checkout, with no
round trip.

A connection the server ended (a restart, `pg_terminate_backend`, an idle timeout) has a
readable socket while it sits in the pool: the server's last message, or end-of-file. One
`poll()` on checkout sees it; the pool then opens a new connection and checks out again,
before the request has sent anything. This replaces `pool_pre_ping`, which paid a round
trip on every checkout for the same answer. What no check short of a round trip can see —
a peer that vanished without closing, behind a firewall that forgets idle flows — is
what `pool_recycle` is for: connections are retired before such timeouts.
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

# a pooled connection older than this is closed and replaced at its next checkout
RECYCLE_SECONDS = 1800


def dropped(dbapi_connection: Any) -> bool:
    """True when psycopg knows the connection is closed or the server has spoken since the
    last exchange (an idle connection in the pool has nothing to read)."""
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def replace_dropped_connections(engine: Engine) -> None:
    """On checkout, a dropped connection makes the pool reconnect and try again."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dropped(dbapi_connection):
            raise exc.DisconnectionError("the server closed this pooled connection")
