"""Counting the round trips a hub process makes to PostgreSQL and Redis, for benchmarks only.

`python -m bench.roundtrips MODULE ARGS…` runs MODULE (`gunicorn`, `referral_hub.worker`)
as `python -m` would, after wrapping the two client libraries so that every exchange with
a server adds one to a counter in a small file of its own under $BENCH_COUNTER_DIR (one file
per process, so gunicorn's forked workers and rq's scheduler each count their own).
`read_counts(dir)` adds them up. The hub's code is not touched.

Why counted in the client, at the driver: PostgreSQL's own statement counter
(`pg_stat_statements`) needs a server restart to load, and the cluster is shared;
`pg_stat_database` counts transactions, not statements; statement logging costs the server
CPU and misses empty queries. The driver sees every exchange whoever starts it — the ORM's
statements, psycopg's own BEGIN, COMMIT and ROLLBACK (only sent when a transaction is
open, which is checked the way psycopg checks it), and the pool's pre-ping — so:

- PostgreSQL: one per `cursor.execute`/`executemany` (a pipeline of many rows is one), one
  more when psycopg first opens a transaction for it (its BEGIN is a separate exchange), one
  per COMMIT or ROLLBACK actually sent;
- Redis: one per `send_packed_command` (a pipeline sends once, then reads its answers).
"""

from __future__ import annotations

import mmap
import os
import runpy
import struct
import sys
import threading
from pathlib import Path
from typing import Any

SERVERS = ("postgres", "redis")
_LAYOUT = struct.Struct("<" + "q" * len(SERVERS))


class _Counter:
    """This process's counts, kept in a file the benchmark reads while the process runs."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._open()
        os.register_at_fork(after_in_child=self._open)

    def _open(self) -> None:
        path = Path(self.folder) / str(os.getpid())
        path.write_bytes(b"\0" * _LAYOUT.size)
        with path.open("r+b") as file:
            self.map = mmap.mmap(file.fileno(), _LAYOUT.size)
        self.lock = threading.Lock()

    def add(self, server: int, count: int = 1) -> None:
        with self.lock:
            values = list(_LAYOUT.unpack_from(self.map))
            values[server] += count
            _LAYOUT.pack_into(self.map, 0, *values)


def read_counts(folder: str) -> dict[int, dict[str, int]]:
    """Round trips so far of every counting process (ended ones included), by pid."""
    return {
        int(path.name): dict(
            zip(SERVERS, _LAYOUT.unpack(path.read_bytes()[: _LAYOUT.size]), strict=True)
        )
        for path in Path(folder).iterdir()
    }


def install(folder: str) -> None:
    """Wrap psycopg (through SQLAlchemy's connect hook) and redis-py in this process."""
    import psycopg
    from psycopg import pq
    from redis.connection import AbstractConnection
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counter = _Counter(folder)
    postgres, redis = SERVERS.index("postgres"), SERVERS.index("redis")
    idle = pq.TransactionStatus.IDLE

    def begins(connection: Any) -> int:
        return 0 if connection.autocommit or connection.info.transaction_status != idle else 1

    class CountingCursor(psycopg.Cursor[Any]):
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            counter.add(postgres, 1 + begins(self.connection))
            return super().execute(*args, **kwargs)

        def executemany(self, *args: Any, **kwargs: Any) -> Any:
            counter.add(postgres, 1 + begins(self.connection))
            return super().executemany(*args, **kwargs)

    class CountingConnection(psycopg.Connection[Any]):
        def commit(self) -> None:
            if self.info.transaction_status != idle:
                counter.add(postgres)
            super().commit()

        def rollback(self) -> None:
            if self.info.transaction_status != idle:
                counter.add(postgres)
            super().rollback()

    @event.listens_for(Engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if dialect.driver != "psycopg":
            return None
        return CountingConnection.connect(*cargs, cursor_factory=CountingCursor, **cparams)

    send: Any = AbstractConnection.send_packed_command

    def send_counted(self: Any, command: Any, check_health: bool = True) -> None:
        counter.add(redis)
        send(self, command, check_health)

    AbstractConnection.send_packed_command = send_counted  # type: ignore[method-assign]


def main() -> None:
    folder = os.environ["BENCH_COUNTER_DIR"]
    install(folder)
    module, *arguments = sys.argv[1:]
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
