"""Search at scale: `python bench/search_scale.py` (PostgreSQL, one command).

For a directory of 10,000 and one of 50,000 services (databases `<bench>_10k` and
`<bench>_50k`, migrated and seeded the first time), it runs the hub's own search statement
for each query of the mix in `bench/search.py`, with bound values through psycopg (which
prepares a statement after five runs, as under the hub):

- CPU per search, read from /proc: the PostgreSQL backend's and this client's;
- SQL time p50 / p95 per query and over the mix (on a shared machine a secondary figure);
- the plan of each query (EXPLAIN ANALYZE, BUFFERS, TIMING OFF): kept in the results,
  its shared buffers printed.

Then 1,000,000 capacity updates on the 50,000-service directory, in the hub's shapes
(holds and releases change `available` and `held`; sets also stamp the freshness
columns), 1,000 to a transaction: the table's and its indexes' size before and after,
the share of HOT updates, and the same search figures again; then once more after a
plain `VACUUM capacity` (what autovacuum would have done meanwhile: the run records
whether autovacuum is on). The updates accumulate in the database from run to run; drop
`<bench>_50k` for a fresh directory.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATABASE, say, summary, write_result
from bench.meter import cpu_seconds
from bench.search import QUERIES, ensure_directory

SIZES = {"10k": 10_000, "50k": 50_000}
WARM_UP = 20
BATCH = 1_000
HOLD = (
    "UPDATE capacity SET available = available - 1, held = held + 1"
    " WHERE service_id = %s AND available >= 1"
)
RELEASE = (
    "UPDATE capacity SET available = available + 1, held = held - 1"
    " WHERE service_id = %s AND held >= 1"
)
SET = (
    "UPDATE capacity SET available = GREATEST(total - held - %s, 0), updated_at = now(),"
    " updated_by = 'bench', aging_at = now() + interval '2 hours',"
    " stale_at = now() + interval '8 hours', reminded_at = NULL WHERE service_id = %s"
)
# how far back another session holds the cleanup horizon (a snapshot's xmin counts
# transactions of every database on the server): old rows can be neither pruned nor
# vacuumed while it lasts, so HOT updates run out of room and the table grows
HELD_BACK = (
    "SELECT coalesce(max(age(backend_xmin)), 0) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
)
TABLE_FIGURES = """
SELECT pg_relation_size('capacity'), pg_indexes_size('capacity'), n_tup_upd, n_tup_hot_upd,
       n_dead_tup, autovacuum_count
FROM pg_stat_user_tables WHERE relname = 'capacity'
"""


def _libpq_url(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def _sized(database_url: str, size: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return url.set(database=f"{url.database}_{size}").render_as_string(False)


def hub_statements(database_url: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each query of the mix as the hub sends it: SQL with placeholders, and its values."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from referral_hub import create_app
    from referral_hub.core import clock
    from referral_hub.directory.schemas import SearchArgs
    from referral_hub.directory.search import _search_statement, to_query

    dialect = PGDialect_psycopg()
    statements = {}
    with create_app().app_context():
        for name, query in QUERIES.items():
            args = SearchArgs().load(
                {k: (v if isinstance(v, list) else str(v)) for k, v in query.items()}
            )
            search = to_query(args, args["limit"])
            compiled = _search_statement(search.shape()).compile(dialect=dialect)
            state = compiled.construct_expanded_state(search.values(clock.now()))
            statements[name] = (state.statement, dict(state.parameters))
    return statements


def measure(
    database_url: str, statements: dict[str, tuple[str, dict[str, Any]]], rounds: int
) -> dict[str, Any]:
    """CPU per search (backend and client), SQL time and plan, per query of the mix."""
    import psycopg

    figures: dict[str, Any] = {}
    every: list[float] = []
    backend_total = client_total = 0.0
    with psycopg.connect(_libpq_url(database_url), autocommit=True) as connection:
        backend, client = connection.info.backend_pid, os.getpid()
        for name, (sql, values) in statements.items():
            for _ in range(WARM_UP):
                connection.execute(sql, values).fetchall()
            timings = []
            server, own = cpu_seconds(backend), cpu_seconds(client)
            for _ in range(rounds):
                started = time.perf_counter()
                connection.execute(sql, values).fetchall()
                timings.append((time.perf_counter() - started) * 1000)
            backend_ms = (cpu_seconds(backend) - server) * 1000 / rounds
            client_ms = (cpu_seconds(client) - own) * 1000 / rounds
            plan = [
                row[0]
                for row in connection.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + sql, values
                ).fetchall()
            ]
            buffers = next((line.split("hit=")[-1] for line in plan if "Buffers" in line), "?")
            figures[name] = {
                **summary(timings),
                "backend_cpu_ms": round(backend_ms, 3),
                "client_cpu_ms": round(client_ms, 3),
                "shared_buffers_hit": buffers,
                "plan": plan,
            }
            every += timings
            backend_total += backend_ms
            client_total += client_ms
    count = len(statements)
    return {
        "queries": figures,
        "all": summary(every),
        "backend_cpu_ms": round(backend_total / count, 3),
        "client_cpu_ms": round(client_total / count, 3),
    }


def table_figures(database_url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(_libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(TABLE_FIGURES).fetchone()
    assert row is not None
    keys = ("table_bytes", "index_bytes", "updates", "hot_updates", "dead_rows", "autovacuums")
    return dict(zip(keys, (int(value or 0) for value in row), strict=True))


def update_capacity(database_url: str, count: int) -> dict[str, Any]:
    """`count` updates on random services: 40 % holds, 40 % releases, 20 % sets."""
    import psycopg

    rng = random.Random(20)
    with psycopg.connect(_libpq_url(database_url)) as connection:
        ids = [row[0] for row in connection.execute("SELECT service_id FROM capacity")]
        connection.commit()
        backend, client = connection.info.backend_pid, os.getpid()
        server, own = cpu_seconds(backend), cpu_seconds(client)
        started = time.perf_counter()
        held_back = 0
        with connection.cursor() as cursor:
            for done in range(0, count, BATCH):
                picks = [rng.choice(ids) for _ in range(min(BATCH, count - done))]
                holds, releases, sets = picks[: len(picks) * 2 // 5], [], []
                for service_id in picks[len(holds) :]:
                    if rng.random() < 2 / 3:
                        releases.append((service_id,))
                    else:
                        sets.append((rng.randint(0, 3), service_id))
                cursor.executemany(HOLD, [(service_id,) for service_id in holds])
                cursor.executemany(RELEASE, releases)
                cursor.executemany(SET, sets)
                connection.commit()
                oldest = cursor.execute(HELD_BACK).fetchone()
                held_back = max(held_back, int(oldest[0]) if oldest else 0)
                connection.commit()
                if (done + BATCH) % 200_000 == 0:
                    say(f"    {done + BATCH:,} updates")
        seconds = time.perf_counter() - started
        backend_s, client_s = cpu_seconds(backend) - server, cpu_seconds(client) - own
        connection.execute("SELECT pg_stat_force_next_flush()")
        connection.commit()
    return {
        "updates": count,
        "updates_per_s_wall": round(count / seconds),
        "backend_cpu_us_per_update": round(backend_s * 1e6 / count, 1),
        "client_cpu_us_per_update": round(client_s * 1e6 / count, 1),
        "cleanup_held_back_by_xids": held_back,
    }


def vacuum(database_url: str) -> str:
    """VACUUM the table (as autovacuum would); whether autovacuum itself is on."""
    import psycopg

    with psycopg.connect(_libpq_url(database_url), autocommit=True) as connection:
        connection.execute("VACUUM capacity")
        row = connection.execute("SHOW autovacuum").fetchone()
    return str(row[0]) if row else "unknown"


def _print(label: str, figures: dict[str, Any]) -> None:
    say(f"\n{label}")
    say(f"  {'query':<24} {'backend CPU':>11} {'p50':>7} {'p95':>7} {'buffers':>8}")
    for name, entry in figures["queries"].items():
        say(
            f"  {name:<24} {entry['backend_cpu_ms']:>8.2f} ms {entry['p50_ms']:>7.2f}"
            f" {entry['p95_ms']:>7.2f} {entry['shared_buffers_hit']:>8}"
        )
    every = figures["all"]
    say(
        f"  {'mix':<24} {figures['backend_cpu_ms']:>8.2f} ms {every['p50_ms']:>7.2f}"
        f" {every['p95_ms']:>7.2f}   (client CPU {figures['client_cpu_ms']:.2f} ms per search)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--rounds", type=int, default=200, help="runs of each query")
    parser.add_argument("--updates", type=int, default=1_000_000)
    options = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    result: dict[str, Any] = {}
    for size, services in SIZES.items():
        url = _sized(options.database_url, size)
        ensure_directory(url, services, instance)
        say(f"searching {services:,} services …")
        result[size] = measure(url, hub_statements(url), options.rounds)
        _print(f"{services:,} services", result[size])
    url = _sized(options.database_url, "50k")
    before = table_figures(url)
    say(f"\n{options.updates:,} capacity updates on 50,000 services …")
    result["updates"] = update_capacity(url, options.updates)
    time.sleep(2)  # statistics are flushed asynchronously
    after = table_figures(url)
    updates = after["updates"] - before["updates"]
    hot = after["hot_updates"] - before["hot_updates"]
    result["table"] = {
        "before": before,
        "after": after,
        "hot_share": round(hot / updates, 3) if updates else None,
    }
    result["50k_after_updates"] = measure(url, hub_statements(url), options.rounds)
    _print(f"50,000 services after {options.updates:,} updates", result["50k_after_updates"])
    result["autovacuum"] = vacuum(url)
    result["50k_after_vacuum"] = measure(url, hub_statements(url), options.rounds)
    _print("the same after VACUUM capacity", result["50k_after_vacuum"])
    changes = result["updates"]
    say(
        f"\nupdates: {changes['backend_cpu_us_per_update']:.0f} µs backend CPU each"
        f" ({changes['updates_per_s_wall']:,}/s wall); HOT {result['table']['hot_share']:.0%};"
        f" table {before['table_bytes'] / 2**20:.1f} → {after['table_bytes'] / 2**20:.1f} MiB,"
        f" indexes {before['index_bytes'] / 2**20:.1f} → {after['index_bytes'] / 2**20:.1f} MiB;"
        f" autovacuum runs {after['autovacuums'] - before['autovacuums']}"
        f" (autovacuum {result['autovacuum']} on this server); cleanup held back by up to"
        f" {changes['cleanup_held_back_by_xids']:,} transactions by other sessions"
    )
    say(f"written to {write_result('search-scale', result)}")


if __name__ == "__main__":
    main()
