"""Capacity contention benchmark: `python bench/contention.py` (PostgreSQL, one command).

1. Last bed: one free unit, N racers (default 50: 5 processes of 10 threads, each racer its
   own connection) reserve it at once through the hub's hold, for R rounds (default 200).
   Exactly one winner per round, and the row left at (available 0, held 1), is the
   correctness figure; anything else is reported and makes the run exit non-zero.
2. CPU per hold: P processes (default 4, not threads of one process) each make H holds on
   1,000 services, first through the hub (`transaction()` around `hold_unit`: the session,
   the one-statement hold with its history row, the commit), then as the same work written
   by hand as one raw psycopg transaction (UPDATE … RETURNING, the history INSERT, COMMIT).
   For every client process and its PostgreSQL backend the CPU it spent is read from /proc;
   the figure is CPU per hold, all processes summed, and the ratio raw/hub (holds per
   CPU-second of the hub as a share of raw's). The two alternate, `--repeats` times, and
   the medians are reported. Round trips per hold come from libpq's protocol trace.
   Holds per second (wall clock) are printed too, as a secondary figure: on a shared
   machine they are noise. `--compare-with DIR` adds a third contender in the same run:
   the hub as another checkout (DIR) has it, e.g. the code before a change.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATABASE, say, write_result
from bench.meter import cpu_seconds
from bench.meter import libpq_round_trips as round_trips
from bench.search import ensure_directory

PLENTY = 1_000_000_000
TRACED_HOLDS = 200
RAW_HOLD = (
    "UPDATE capacity SET available = available - 1, held = held + 1"
    " WHERE service_id = %s AND available >= 1 RETURNING total, available, held"
)
RAW_HISTORY = (
    "INSERT INTO capacity_change (id, service_id, at, kind, total, available, held, actor_id,"
    " note) VALUES (%s, %s, now(), 'hold', %s, %s, %s, 'hub', NULL)"
)


def _libpq_url(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def _hub(connections: int) -> Any:
    from referral_hub import create_app

    return create_app({"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": connections, "max_overflow": 0}})


def _set_capacity(database_url: str, ids: list[uuid.UUID], available: int) -> None:
    import psycopg

    with psycopg.connect(_libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "UPDATE capacity SET total = %s, available = %s, held = 0 WHERE service_id = ANY(%s)",
            (available, available, ids),
        )


def _service_ids(database_url: str, count: int) -> list[uuid.UUID]:
    import psycopg

    with psycopg.connect(_libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT service_id FROM capacity ORDER BY service_id LIMIT %s", (count,)
        ).fetchall()
    if len(rows) < count:
        raise SystemExit(f"need {count} services with capacity, found {len(rows)}")
    return [row[0] for row in rows]


# --- 1. the last bed ------------------------------------------------------------------------


def _racers(
    service_id: uuid.UUID, threads: int, first: int, start: Any, done: Any, won: Any, stop: Any
) -> None:
    """One process of racers: each thread holds through the hub, once per round."""
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory.capacity import hold_unit
    from referral_hub.extensions import db

    app = _hub(threads)

    def racer(index: int) -> None:
        with app.app_context():
            while True:
                start.wait()
                if stop.value:
                    return
                try:
                    with transaction():
                        won[index] = int(hold_unit(SYSTEM, service_id))
                except Exception:  # a racer's failure is a finding: counted as -1
                    won[index] = -1
                finally:
                    db.session.remove()
                done.wait()

    pool = [threading.Thread(target=racer, args=(first + n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def last_bed(
    database_url: str, service_id: uuid.UUID, processes: int, threads: int, rounds: int
) -> dict[str, Any]:
    import psycopg

    spawn = multiprocessing.get_context("spawn")
    racers = processes * threads
    start, done = spawn.Barrier(racers + 1), spawn.Barrier(racers + 1)
    won, stop = spawn.Array("i", racers), spawn.Value("i", 0)
    children = [
        spawn.Process(
            target=_racers, args=(service_id, threads, n * threads, start, done, won, stop)
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()
    wrong: list[dict[str, Any]] = []
    with psycopg.connect(_libpq_url(database_url), autocommit=True) as connection:
        started = time.perf_counter()
        for index in range(rounds):
            if index == 1:  # the first round waits for the racers to start up
                started = time.perf_counter()
            connection.execute(
                "UPDATE capacity SET total = 1, available = 1, held = 0 WHERE service_id = %s",
                (service_id,),
            )
            won[:] = [0] * racers
            start.wait(timeout=300)
            done.wait(timeout=300)
            winners, errors = sum(1 for w in won if w == 1), sum(1 for w in won if w == -1)
            row = connection.execute(
                "SELECT available, held FROM capacity WHERE service_id = %s", (service_id,)
            ).fetchone()
            if winners != 1 or errors or row != (0, 1):
                wrong.append({"round": index, "winners": winners, "errors": errors, "row": row})
            if (index + 1) % 50 == 0:
                say(f"  round {index + 1}/{rounds}")
        seconds = time.perf_counter() - started
    stop.value = 1
    start.wait(timeout=60)
    for child in children:
        child.join(timeout=60)
    return {
        "racers": racers,
        "processes": processes,
        "rounds": rounds,
        "rounds_with_exactly_one_winner": rounds - len(wrong),
        "wrong_rounds": wrong[:10],
        "attempts_per_s": round(racers * (rounds - 1) / seconds),
    }


# --- 2. CPU per hold ------------------------------------------------------------------------


def _hub_holder(
    root: str | None, ids: list[uuid.UUID], holds: int, seed: int, start: Any, out: Any
) -> None:
    if root is not None:  # another checkout's hub (nothing of the hub is imported yet)
        sys.path.insert(0, root)
    from sqlalchemy import text

    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory.capacity import hold_unit
    from referral_hub.extensions import db

    app = _hub(1)
    rng = random.Random(seed)
    with app.app_context():
        with transaction():
            backend = int(db.session.execute(text("SELECT pg_backend_pid()")).scalar_one())

        def hold() -> bool:
            with transaction():
                return hold_unit(SYSTEM, rng.choice(ids), note="bench")

        trips = _traced(db.engine.raw_connection, hold)
        start.wait()
        _measured(backend, holds, hold, out, trips)
        with transaction():
            same = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one() == backend
        if not same:
            out.put({"error": "the hub changed connections during the run"})


def _raw_holder(
    database_url: str, ids: list[uuid.UUID], holds: int, seed: int, start: Any, out: Any
) -> None:
    import psycopg

    rng = random.Random(seed)
    with psycopg.connect(_libpq_url(database_url)) as connection:
        backend = connection.info.backend_pid

        def hold() -> bool:
            service_id = rng.choice(ids)
            with connection.transaction():
                row = connection.execute(RAW_HOLD, (service_id,)).fetchone()
                if row is not None:
                    connection.execute(RAW_HISTORY, (uuid.uuid4(), service_id, *row))
            return row is not None

        connection.commit()
        trips = _traced(lambda: connection, hold)
        start.wait()
        _measured(backend, holds, hold, out, trips)


class _Borrowed:
    """A DBAPI connection as `raw_connection()` hands it out, or a bare psycopg one."""

    def __init__(self, borrowed: Any) -> None:
        self.borrowed = borrowed
        self.pgconn = getattr(borrowed, "dbapi_connection", borrowed).pgconn

    def give_back(self) -> None:
        if hasattr(self.borrowed, "dbapi_connection"):
            self.borrowed.close()  # back to the pool, still the same connection


def _traced(borrow: Any, hold: Any) -> float:
    """Round trips per hold: libpq's protocol trace over `TRACED_HOLDS` holds (warm-up too)."""
    import psycopg

    with tempfile.NamedTemporaryFile("w+", suffix=".trace") as trace:
        connection = _Borrowed(borrow())
        connection.pgconn.trace(trace.fileno())
        connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        connection.give_back()
        for _ in range(TRACED_HOLDS):
            hold()
        connection = _Borrowed(borrow())
        connection.pgconn.untrace()
        connection.give_back()
        trace.seek(0)
        return round_trips(trace.read()) / TRACED_HOLDS


def _measured(backend: int, holds: int, hold: Any, out: Any, trips: float) -> None:
    own, server = cpu_seconds(os.getpid()), cpu_seconds(backend)
    started = time.perf_counter()
    won = sum(1 for _ in range(holds) if hold())
    out.put(
        {
            "pid": os.getpid(),
            "backend_pid": backend,
            "client_cpu_s": cpu_seconds(os.getpid()) - own,
            "backend_cpu_s": cpu_seconds(backend) - server,
            "wall_s": time.perf_counter() - started,
            "holds": won,
            "round_trips_per_hold": trips,
        }
    )


def cpu_per_hold(
    way: str, database_url: str, ids: list[uuid.UUID], processes: int, holds: int, root: str | None
) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    start, out = spawn.Barrier(processes + 1), spawn.Queue()
    children = []
    for n in range(processes):
        if way == "raw":
            child = spawn.Process(
                target=_raw_holder, args=(database_url, ids, holds, n, start, out)
            )
        else:
            tree = root if way == "before" else None
            child = spawn.Process(target=_hub_holder, args=(tree, ids, holds, n, start, out))
        children.append(child)
        child.start()
    start.wait(timeout=300)
    started = time.perf_counter()
    results = [out.get(timeout=900) for _ in range(processes)]
    seconds = time.perf_counter() - started
    for child in children:
        child.join(timeout=60)
    broken = [result["error"] for result in results if "error" in result]
    if broken:
        raise SystemExit(broken[0])
    made = sum(result["holds"] for result in results)
    client = sum(result["client_cpu_s"] for result in results)
    backend = sum(result["backend_cpu_s"] for result in results)
    return {
        "holds": made,
        "cpu_ms_per_hold": round((client + backend) * 1000 / made, 3),
        "client_cpu_ms_per_hold": round(client * 1000 / made, 3),
        "backend_cpu_ms_per_hold": round(backend * 1000 / made, 3),
        "round_trips_per_hold": statistics.fmean(r["round_trips_per_hold"] for r in results),
        "holds_per_s_wall": round(made / seconds),
        "processes": [
            {
                "pid": r["pid"],
                "client_cpu_ms_per_hold": round(r["client_cpu_s"] * 1000 / r["holds"], 3),
                "backend_pid": r["backend_pid"],
                "backend_cpu_ms_per_hold": round(r["backend_cpu_s"] * 1000 / r["holds"], 3),
            }
            for r in results
        ],
    }


def compare(
    database_url: str,
    ids: list[uuid.UUID],
    processes: int,
    holds: int,
    repeats: int,
    before: str | None = None,
) -> dict[str, Any]:
    """Hub and raw (and the hub `before`) in turn, `repeats` times each; medians."""
    runs: dict[str, list[dict[str, Any]]] = {"raw": [], "hub": []}
    if before is not None:
        runs["before"] = []
    for repeat in range(repeats):
        for way in runs:
            _set_capacity(database_url, ids, PLENTY)
            say(f"  {way}: {processes} processes x {holds:,} holds (run {repeat + 1}) …")
            runs[way].append(cpu_per_hold(way, database_url, ids, processes, holds, before))
            run = runs[way][-1]
            say(
                f"    {run['cpu_ms_per_hold']:.3f} ms CPU per hold (client"
                f" {run['client_cpu_ms_per_hold']:.3f}, PostgreSQL"
                f" {run['backend_cpu_ms_per_hold']:.3f}), {run['round_trips_per_hold']:.2f}"
                f" round trips, {run['holds_per_s_wall']:,} holds/s wall"
            )

    def median(way: str, key: str) -> float:
        return round(statistics.median(run[key] for run in runs[way]), 3)

    keys = ("cpu_ms_per_hold", "client_cpu_ms_per_hold", "backend_cpu_ms_per_hold")
    summary = {way: {key: median(way, key) for key in keys} for way in runs}
    for way in runs:
        summary[way]["round_trips_per_hold"] = median(way, "round_trips_per_hold")
        summary[way]["holds_per_s_wall"] = median(way, "holds_per_s_wall")
    raw = summary["raw"]["cpu_ms_per_hold"]
    ratios = {f"{way}_over_raw": round(raw / summary[way]["cpu_ms_per_hold"], 3) for way in runs}
    return {"summary": summary, **ratios, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--race-processes", type=int, default=5)
    parser.add_argument("--race-threads", type=int, default=10, help="racers per process")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4, help="holders for CPU per hold")
    parser.add_argument("--holds", type=int, default=1500, help="holds per process and run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-race", action="store_true")
    parser.add_argument("--compare-with", help="another checkout whose hub also holds")
    options = parser.parse_args()

    ensure_directory(options.database_url, 1_000, tempfile.mkdtemp(prefix="bench-instance-"))
    ids = _service_ids(options.database_url, 1_000)
    result: dict[str, Any] = {}
    if not options.skip_race:
        racers = options.race_processes * options.race_threads
        say(
            f"last bed: {racers} racers in {options.race_processes} processes,"
            f" {options.rounds} rounds …"
        )
        result["last_bed"] = last_bed(
            options.database_url,
            ids[0],
            options.race_processes,
            options.race_threads,
            options.rounds,
        )
    say(f"CPU per hold, {options.processes} processes, 1,000 services …")
    result["holds"] = compare(
        options.database_url,
        ids,
        options.processes,
        options.holds,
        options.repeats,
        options.compare_with,
    )

    say("")
    race = result.get("last_bed")
    if race is not None:
        say(
            f"last bed: {race['rounds_with_exactly_one_winner']}/{race['rounds']} rounds with"
            f" exactly one winner ({race['racers']} racers in {race['processes']} processes,"
            f" {race['attempts_per_s']:,} attempts/s)"
        )
        if race["wrong_rounds"]:
            say(f"  WRONG: {race['wrong_rounds']}")
    summary = result["holds"]["summary"]
    labels = {"hub": "hub hold", "before": "hub, other tree", "raw": "raw transaction"}
    for way, figures in summary.items():
        label = labels[way]
        say(
            f"{label:<16} {figures['cpu_ms_per_hold']:.3f} ms CPU per hold"
            f" (client {figures['client_cpu_ms_per_hold']:.3f} + PostgreSQL"
            f" {figures['backend_cpu_ms_per_hold']:.3f}),"
            f" {figures['round_trips_per_hold']:.2f} round trips,"
            f" {figures['holds_per_s_wall']:,.0f} holds/s wall"
        )
    say(f"hub holds per CPU-second = {result['holds']['hub_over_raw']:.2f} x raw's (target ≥ 0.5)")
    if "before_over_raw" in result["holds"]:
        say(f"  other tree's hub: {result['holds']['before_over_raw']:.2f} x raw's")
    say(f"written to {write_result('contention', result)}")
    if race is not None and race["wrong_rounds"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
