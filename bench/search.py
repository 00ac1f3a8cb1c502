"""Search benchmark: `python bench/search.py` (PostgreSQL; 10,000 services by default).

Measures, in one run, on one machine:
  0. CPU milliseconds per search in every process involved (gunicorn, the PostgreSQL
     backend; Redis and the cluster's own processes shown apart, being shared) and round
     trips per search, beside the same for one GET /healthz, both one request at a time;
  1. each query of a realistic mix as raw SQL through psycopg (the very statement the hub
     runs, values inlined) — the baseline;
  2. the same queries through the full HTTP stack (gunicorn, 2 workers, bearer token,
     validation, JSON), one request at a time: p50 and p95;
  3. throughput with 16 concurrent keep-alive clients for a fixed time, and the same for
     GET /healthz (bare Flask through the same stack) for scale.
Prints every figure and the ratios HTTP/raw; writes bench/results/search-*.json.
Nothing here is a test: no figure fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_DATABASE,
    SHARED,
    Client,
    bench_environment,
    hub_processes,
    idle_cost,
    load_with_cost,
    measure,
    say,
    say_cost,
    served,
    summary,
    write_result,
)
from bench.meter import per_act

# what intake workers ask: a category or two, free now, near, often a language or group
QUERIES: dict[str, dict[str, Any]] = {
    "shelter near, free": {
        "category": ["emergency_shelter"],
        "available": "true",
        "near": "41.88,-87.63",
        "radius_km": 50,
    },
    "counsel in Spanish": {
        "category": ["immigration_counsel"],
        "language": ["es"],
        "near": "42.78,-86.53",
        "radius_km": 100,
    },
    "youth housing": {
        "category": ["emergency_shelter", "transitional_housing"],
        "age": 16,
        "population": ["minor"],
        "near": "43.68,-87.63",
        "radius_km": 150,
    },
    "women, health": {
        "category": ["primary_care", "mental_health"],
        "gender": "female",
        "available": "true",
        "near": "42.78,-85.43",
        "radius_km": 80,
    },
    "foreign national, any": {
        "available": "true",
        "population": ["foreign_national"],
        "near": "41.88,-86.53",
        "radius_km": 60,
    },
    "families, housing": {
        "category": ["transitional_housing"],
        "population": ["with_children"],
        "near": "44.58,-87.63",
        "radius_km": 120,
    },
}


def ensure_directory(database_url: str, services: int, instance: str) -> None:
    """Migrate and seed a bench database when it does not hold enough services yet."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
        ).scalar()
        if not exists:
            say(f"creating database {url.database} …")
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    os.environ.update(bench_environment(database_url, instance))
    import flask_migrate

    from referral_hub import create_app
    from referral_hub.core.db import transaction
    from referral_hub.demo.bench import existing_bench_services, seed
    from referral_hub.extensions import db

    app = create_app()
    with app.app_context():
        say("migrating …")
        flask_migrate.upgrade()
        have = existing_bench_services()
        if have < services:
            say(f"seeding {services - have:,} services (have {have:,}) …")
            with transaction():
                seed(services - have, echo=say)
        else:
            say(f"bench directory present: {have:,} services")
        db.engine.dispose()


def make_token(port: int) -> str:
    from referral_hub import create_app
    from referral_hub.agencies.models import Agency
    from referral_hub.auth.service import create_api_client
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.extensions import db

    app = create_app()
    with app.app_context():
        with transaction():
            agency = db.session.scalars(db.select(Agency).where(Agency.status == "active")).first()
            client, secret = create_api_client(
                SYSTEM, agency_id=agency.id, name="bench", scopes=["directory:read"]
            )
            client_id = client.client_id
        db.engine.dispose()
    body = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
    import base64

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, _, data = Client(port).request(
        "POST",
        "/oauth/token",
        body,
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        raise RuntimeError(f"token endpoint answered {status}: {data[:200]!r}")
    return str(json.loads(data)["access_token"])


def path_for(query: dict[str, Any]) -> str:
    return "/api/v1/search?" + urllib.parse.urlencode(query, doseq=True)


def raw_sql(query: dict[str, Any]) -> str:
    """The exact statement the hub runs for this query, values inlined."""
    from referral_hub import create_app
    from referral_hub.core import clock
    from referral_hub.directory.schemas import SearchArgs
    from referral_hub.directory.search import _search_statement, to_query
    from referral_hub.extensions import db

    app = create_app()
    with app.app_context():
        args = SearchArgs().load(
            {k: (v if isinstance(v, list) else str(v)) for k, v in query.items()}
        )
        search = to_query(args, args["limit"])
        statement = _search_statement(search.shape()).params(**search.values(clock.now()))
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        db.engine.dispose()
    return sql


def measure_raw(database_url: str, sql: str, rounds: int) -> list[float]:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    timings = []
    with psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        dbname=url.database,
        autocommit=True,
    ) as connection:
        for index in range(rounds + 20):
            started = time.perf_counter()
            connection.execute(sql).fetchall()
            if index >= 20:  # warm-up first
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def measure_http(port: int, token: str, path: str, rounds: int) -> tuple[list[float], int]:
    client = Client(port, {"Authorization": f"Bearer {token}"})
    timings, errors = [], 0
    for index in range(rounds + 20):
        status, elapsed = client.get(path)
        if status != 200:
            errors += 1
        elif index >= 20:
            timings.append(elapsed)
    return timings, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200, help="requests per query, one at a time")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--clients", type=int, default=16)
    options = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    ensure_directory(options.database_url, options.services, instance)
    env = bench_environment(options.database_url, instance)
    result: dict[str, Any] = {"services": options.services, "queries": {}}
    say("\nraw SQL (psycopg, the hub's own statement) …")
    raw: dict[str, list[float]] = {}
    for name, query in QUERIES.items():
        raw[name] = measure_raw(options.database_url, raw_sql(query), options.rounds)
    with served(env, workers=2) as (port, web_pid):
        groups = hub_processes(options.database_url, web_pid)
        token = make_token(port)
        say("HTTP, one request at a time …")
        http_all: list[float] = []
        for query in QUERIES.values():  # warm-up: every shape's statement built once
            measure_http(port, token, path_for(query), 5)
        result["idle_per_s"] = idle_cost(groups, env)
        with measure(groups, env) as (cpu, trips):
            requests = 0
            for name, query in QUERIES.items():
                timings, errors = measure_http(port, token, path_for(query), options.rounds)
                requests += options.rounds + 20
                http_all += timings
                entry = {"raw": summary(raw[name]), "http": summary(timings), "errors": errors}
                entry["ratio_p50"] = round(entry["http"]["p50_ms"] / entry["raw"]["p50_ms"], 2)
                result["queries"][name] = entry
        result["per_search"] = per_act(cpu, trips, requests, SHARED)
        with measure(groups, env) as (cpu, trips):
            measure_http(port, token, "/healthz", requests - 20)
        result["per_healthz"] = per_act(cpu, trips, requests, SHARED)
        result["http_all"] = summary(http_all)
        say(f"throughput, {options.clients} connections for {options.seconds:.0f} s each …")
        paths = [path_for(query) for query in QUERIES.values()]
        auth = {"Authorization": f"Bearer {token}"}
        seconds, clients = options.seconds, options.clients
        result["search_load"] = load_with_cost(port, auth, paths, seconds, clients, groups, env)
        result["healthz_load"] = load_with_cost(
            port, {}, ["/healthz"], seconds, clients, groups, env
        )

    say("")
    say_cost("per search, one at a time", result["per_search"])
    say_cost("per /healthz, one at a time", result["per_healthz"])
    say_cost("per search under load", result["search_load"]["per_request"])
    say_cost("per /healthz under load", result["healthz_load"]["per_request"])
    say_cost("idle, per second", result["idle_per_s"])
    say("")
    say(f"{'query':<24} {'raw p50':>8} {'raw p95':>8} {'http p50':>9} {'http p95':>9} {'ratio':>6}")

    def line(name: str, raw_figures: dict[str, float], http: dict[str, float]) -> None:
        ratio = http["p50_ms"] / raw_figures["p50_ms"]
        say(
            f"{name:<24} {raw_figures['p50_ms']:>8.2f} {raw_figures['p95_ms']:>8.2f} "
            f"{http['p50_ms']:>9.2f} {http['p95_ms']:>9.2f} {ratio:>6.2f}"
        )

    for name, entry in result["queries"].items():
        line(name, entry["raw"], entry["http"])
    result["raw_all"] = summary([value for values in raw.values() for value in values])
    line("all queries", result["raw_all"], result["http_all"])
    search_load, health_load = result["search_load"], result["healthz_load"]
    share = search_load["requests_per_s"] / health_load["requests_per_s"]
    tail = "p99" if "p99_ms" in search_load else "p95"
    say("")
    say(
        f"search throughput ({search_load.get('tool', 'python client')}, {clients} connections): "
        f"{search_load['requests_per_s']:.0f}/s  p50 {search_load['p50_ms']:.2f} ms  "
        f"{tail} {search_load[tail + '_ms']:.2f} ms  "
        f"errors {search_load.get('non_2xx', search_load.get('statuses'))}"
    )
    say(
        f"/healthz throughput (same stack, no work): {health_load['requests_per_s']:.0f}/s; "
        f"search runs at {share:.2f} of it"
    )
    say(f"\nwritten to {write_result('search', result)}")


if __name__ == "__main__":
    main()
