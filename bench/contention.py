"""Capacity contention benchmark: `python bench/contention.py` (PostgreSQL, one command).

1. Last bed: one free unit, N racers (default 50) reserve at once through the hub's
   reservation (one transaction each, its own connection), for R rounds (default 200).
   Exactly one winner per round is the correctness figure; any other count is reported
   and makes the run exit non-zero.
2. Reservations per second: C clients (default 16) reserving units on 1,000 services for
   a fixed time, through the hub's reservation, against the same conditional UPDATE sent
   raw through psycopg in autocommit, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATABASE, say, write_result
from bench.search import ensure_directory

PLENTY = 1_000_000_000


def _app(racers: int) -> Any:
    from referral_hub import create_app

    pool = {"pool_size": racers + 4, "max_overflow": 8}
    return create_app({"SQLALCHEMY_ENGINE_OPTIONS": pool})


def _service_ids(app: Any, count: int) -> list[uuid.UUID]:
    from sqlalchemy import select

    from referral_hub.directory.models import Capacity
    from referral_hub.extensions import db

    with app.app_context():
        ids = list(db.session.scalars(select(Capacity.service_id).limit(count)))
        db.session.rollback()
    if len(ids) < count:
        raise SystemExit(f"need {count} services with capacity, found {len(ids)}")
    return ids


def _set_capacity(app: Any, ids: list[uuid.UUID], available: int) -> None:
    from sqlalchemy import update

    from referral_hub.core.db import transaction
    from referral_hub.directory.models import Capacity

    with app.app_context(), transaction() as session:
        session.execute(
            update(Capacity)
            .where(Capacity.service_id.in_(ids))
            .values(total=available, available=available, held=0)
        )


def last_bed(app: Any, service_id: uuid.UUID, racers: int, rounds: int) -> dict[str, Any]:
    """Rounds of `racers` reserving the last unit at once; winners per round must be 1."""
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory import service as directory

    start = threading.Barrier(racers + 1)
    done = threading.Barrier(racers + 1)
    won = [0] * racers
    errors: list[str] = []
    stop = False

    def racer(index: int) -> None:
        with app.app_context():
            while True:
                start.wait()
                if stop:
                    return
                try:
                    with transaction():
                        won[index] = int(directory.hold_unit(SYSTEM, service_id))
                except Exception as exc:  # a racer's failure is a finding, not a crash
                    errors.append(type(exc).__name__)
                done.wait()

    threads = [threading.Thread(target=racer, args=(n,), daemon=True) for n in range(racers)]
    for thread in threads:
        thread.start()
    winners_per_round: list[int] = []
    started = time.perf_counter()
    for index in range(rounds):
        _set_capacity(app, [service_id], 1)
        won[:] = [0] * racers
        start.wait()
        done.wait()
        winners_per_round.append(sum(won))
        if (index + 1) % 50 == 0:
            say(f"  round {index + 1}/{rounds}")
    seconds = time.perf_counter() - started
    stop = True
    start.wait()
    wrong = [n for n in winners_per_round if n != 1]
    return {
        "racers": racers,
        "rounds": rounds,
        "rounds_with_exactly_one_winner": rounds - len(wrong),
        "wrong_rounds": wrong[:10],
        "errors": errors[:10],
        "attempts_per_s": round(racers * rounds / seconds),
    }


def reservations(
    app: Any, database_url: str, ids: list[uuid.UUID], clients: int, seconds: float
) -> dict[str, Any]:
    """Hub reservations per second against the raw conditional UPDATE, same services."""
    import psycopg
    from sqlalchemy.engine import make_url

    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory import service as directory

    raw_url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    raw_sql = (
        "UPDATE capacity SET available = available - 1, held = held + 1"
        " WHERE service_id = %s AND available > 0"
    )

    def hub_client(seed: int, counts: list[int], until: float) -> None:
        rng = random.Random(seed)
        with app.app_context():
            while time.perf_counter() < until:
                with transaction():
                    if directory.hold_unit(SYSTEM, rng.choice(ids)):
                        counts[seed] += 1

    def raw_client(seed: int, counts: list[int], until: float) -> None:
        rng = random.Random(seed)
        with psycopg.connect(raw_url, autocommit=True) as connection:
            while time.perf_counter() < until:
                if connection.execute(raw_sql, (rng.choice(ids),)).rowcount == 1:
                    counts[seed] += 1

    def run(target: Any) -> float:
        counts = [0] * clients
        until = time.perf_counter() + seconds
        threads = [threading.Thread(target=target, args=(n, counts, until)) for n in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counts) / (time.perf_counter() - started)

    _set_capacity(app, ids, PLENTY)
    say(f"  raw conditional UPDATE, {clients} clients, {seconds:.0f} s …")
    raw = run(raw_client)
    say(f"  hub reservation, {clients} clients, {seconds:.0f} s …")
    hub = run(hub_client)
    return {
        "services": len(ids),
        "clients": clients,
        "raw_per_s": round(raw),
        "hub_per_s": round(hub),
        "hub_over_raw": round(hub / raw, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--racers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args()

    ensure_directory(options.database_url, 1_000, tempfile.mkdtemp(prefix="bench-instance-"))
    app = _app(max(options.racers, options.clients))
    ids = _service_ids(app, 1_000)
    say(f"last bed: {options.racers} racers, {options.rounds} rounds …")
    race = last_bed(app, ids[0], options.racers, options.rounds)
    say("reservations per second on 1,000 services …")
    rate = reservations(app, options.database_url, ids, options.clients, options.seconds)

    say("")
    say(
        f"last bed: {race['rounds_with_exactly_one_winner']}/{race['rounds']} rounds with exactly"
        f" one winner ({race['racers']} racers, {race['attempts_per_s']:,} attempts/s)"
    )
    if race["wrong_rounds"] or race["errors"]:
        say(f"  WRONG: winners {race['wrong_rounds']}, errors {race['errors']}")
    say(
        f"reservations: hub {rate['hub_per_s']:,}/s vs raw UPDATE {rate['raw_per_s']:,}/s"
        f" = {rate['hub_over_raw']:.2f} of raw ({rate['clients']} clients, 1,000 services)"
    )
    say(f"written to {write_result('contention', {'last_bed': race, 'reservations': rate})}")
    if race["wrong_rounds"] or race["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
