"""The whole benchmark suite: `make bench` (PostgreSQL + Redis, one command).

Runs search, the referral cycle, capacity contention, the audit benchmarks, a mixed
load run and the staff pages (on SQLite unless BENCH_DATABASE_URL is set) one after
another (each is also runnable alone), prints two tables and writes `bench/results.json`:
first CPU milliseconds per act in every process and round trips per act (the figures
a shared machine's noise cannot fake, bench/meter.py), beside one GET /healthz in the
same run; then every other figure beside the baseline measured in the same run and their
ratio, throughput among them as a secondary figure.
`--short` runs each briefly: a check that the suite and the hub's invariants hold (the
last bed has one winner a round, every webhook arrives, the sample export verifies, the
load run's invariants hold),
not a measurement; CI runs it that way.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FULL = {
    "search": [],
    "cycle": [],
    "contention": [],
    "audit": [],
    "load": [],
    "pages": [],
}
SHORT = {
    "search": ["--services", "1000", "--rounds", "20", "--seconds", "2", "--clients", "4"],
    "cycle": ["--seconds", "3", "--threads", "4"],
    "contention": ["--rounds", "10", "--holds", "200", "--repeats", "1", "--processes", "2"],
    "audit": [
        *("--requests", "100", "--chain", "20000", "--new-events", "200"),
        *("--rounds", "2", "--events", "20000"),
    ],
    "load": ["--seconds", "5", "--threads", "4"],
    "pages": ["--short"],
}


def run(name: str, arguments: list[str]) -> dict[str, Any]:
    """One benchmark in its own process, its output shown as it runs; its JSON result."""
    print(f"\n=== {name} {' '.join(arguments)}", flush=True)
    process = subprocess.Popen(  # noqa: S603 - our own scripts
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    written = None
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        found = re.search(r"written to (\S+\.json)", line)
        if found:
            written = found.group(1)
    if process.wait() != 0 or written is None:
        raise SystemExit(f"the {name} benchmark failed (exit {process.returncode}); see above")
    result: dict[str, Any] = json.loads(Path(written).read_text())
    return result


COST_HEADER = (
    "act",
    "CPU ms",
    "web",
    "worker",
    "postgres",
    "redis*",
    "pg trips",
    "redis trips",
    "/healthz CPU ms",
)


def _cost(label: str, act: dict[str, Any], healthz: dict[str, Any]) -> tuple[str, ...]:
    ms, trips = act["cpu_ms"], act["round_trips"]
    return (
        label,
        f"{act['cpu_ms_total']:.2f}",
        f"{ms.get('web', 0):.2f}",
        f"{ms['worker']:.2f}" if "worker" in ms else "",
        f"{ms.get('postgres', 0):.2f}",
        f"{ms.get('redis', 0):.2f}",
        f"{trips.get('postgres', 0):.1f}",
        f"{trips.get('redis', 0):.1f}",
        f"{healthz['cpu_ms_total']:.2f}",
    )


def cost_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """CPU ms and round trips per act, for whichever benchmarks ran (redis is shared with
    other work on the machine: shown, not in the total)."""
    table = []
    if "cycle" in results:
        cycle = results["cycle"]
        table.append(_cost("referral cycle + webhook", cycle["per_cycle"], cycle["per_healthz"]))
    if "search" in results:
        search = results["search"]
        healthz = search["per_healthz"]
        table.append(_cost("search, one at a time", search["per_search"], healthz))
        under_load = search["search_load"]["per_request"]
        table.append(_cost("search, 16 connections", under_load, healthz))
    if "load" in results and "cycle" in results:
        load = results["load"]
        table.append(
            _cost("mixed load request", load["per_request"], results["cycle"]["per_healthz"])
        )
    return table


def print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(figure, value, baseline measured in the same run, ratio) for the table."""
    table: list[tuple[str, str, str, str]] = []
    search = results["search"]
    http, raw = search["http_all"], search["raw_all"]
    table.append(
        (
            "search p50 / p95 (HTTP)",
            f"{http['p50_ms']:.2f} / {http['p95_ms']:.2f} ms",
            f"raw SQL {raw['p50_ms']:.2f} / {raw['p95_ms']:.2f} ms",
            f"{http['p50_ms'] / raw['p50_ms']:.1f}x",
        )
    )
    load, health = search["search_load"], search["healthz_load"]
    table.append(
        (
            "search throughput",
            f"{load['requests_per_s']:,.0f}/s",
            f"/healthz {health['requests_per_s']:,.0f}/s",
            f"{load['requests_per_s'] / health['requests_per_s']:.2f}",
        )
    )
    cycle = results["cycle"]
    table.append(
        (
            "referral cycles (4 calls each)",
            f"{cycle['cycles_per_s']:.1f}/s",
            f"/healthz {cycle['healthz_per_s']:,.0f}/s",
            f"{cycle['cycles_per_s'] * 4 / cycle['healthz_per_s']:.3f}",
        )
    )
    for step, figures in cycle["steps"].items():
        table.append((f"  {step} p95", f"{figures['p95_ms']:.1f} ms", "", ""))
    hook = cycle["webhook"]
    table.append(
        (
            "commit → webhook p50 / p99",
            f"{hook['p50_ms']:.1f} / {hook['p99_ms']:.1f} ms",
            f"{hook['delivered']}/{hook['of']} delivered",
            "",
        )
    )
    race, holds = results["contention"]["last_bed"], results["contention"]["holds"]
    table.append(
        (
            f"last bed, {race['racers']} racers",
            f"{race['rounds_with_exactly_one_winner']}/{race['rounds']} rounds one winner",
            "",
            "",
        )
    )
    hub, raw = holds["summary"]["hub"], holds["summary"]["raw"]
    table.append(
        (
            "hold (several processes), CPU per hold",
            f"{hub['cpu_ms_per_hold']:.2f} ms, {hub['round_trips_per_hold']:.0f} round trips",
            f"raw transaction {raw['cpu_ms_per_hold']:.2f} ms",
            f"{holds['hub_over_raw']:.2f}",
        )
    )
    audited = results["audit"]
    append, online, offline = audited["append"], audited["online"], audited["offline"]
    table.append(
        (
            "audited state change, CPU per act",
            f"{append['with_event']['cpu_ms']:.2f} ms",
            f"without its event {append['without_event']['cpu_ms']:.2f} ms",
            f"{append['overhead_cpu']:+.1%}",
        )
    )
    table.append(
        (
            f"online check after {online['new_events_per_round']:,} new events",
            f"{online['incremental_cpu_ms_median']:.1f} ms CPU",
            f"whole {online['chain_events']:,}-event chain {online['full']['cpu_ms']:,.0f} ms",
            "",
        )
    )
    table.append(
        (
            f"offline verification, {offline['processes']} processes",
            f"{offline['segments']['events_per_s']:,}/s",
            f"re-hash only {offline['floor']['events_per_s']:,}/s",
            f"{offline['segments']['events_per_s'] / offline['floor']['events_per_s']:.2f}",
        )
    )
    load = results["load"]
    p95 = max(figures["p95_ms"] for figures in load["kinds"].values())
    table.append(
        (
            "mixed load (80 % reads)",
            f"{load['requests_per_s']:,.0f}/s, worst p95 {p95:.0f} ms",
            f"non-2xx {sum(load['non_2xx'].values())}",
            "",
        )
    )
    pages = results["pages"]
    floor = pages["baseline"]["bare_flask_template"]["median_ms"]
    worst = pages["worst_median_ms"] or 0.0
    table.append(
        (
            f"staff pages ({len(pages['pages'])}), worst median",
            f"{worst:.1f} ms",
            f"bare Flask + template {floor:.2f} ms",
            f"{worst / floor:.0f}x",
        )
    )
    table.append(
        (
            "  pages over 50 ms or 150 KB",
            str(len(pages["over_budget"])),
            f"demo seed {pages['seed_seconds']:.1f} s",
            "",
        )
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="brief runs that check correctness")
    parser.add_argument("--only", nargs="*", choices=list(FULL), help="run just these")
    options = parser.parse_args()
    plan = SHORT if options.short else FULL
    names = options.only or list(plan)
    started = time.perf_counter()
    results = {name: run(name, plan[name]) for name in names}
    minutes = (time.perf_counter() - started) / 60

    machine = f"{platform.machine()}, Python {platform.python_version()}"
    costs = cost_rows(results)
    summary = {
        "short": options.short,
        "minutes": round(minutes, 1),
        "machine": machine,
        "cpu_per_act": [dict(zip(COST_HEADER, row, strict=True)) for row in costs],
        **results,
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    mode = "short mode: correctness, not timing" if options.short else "full"
    print(f"\n=== results ({mode}; {minutes:.1f} min)")
    if costs:
        print("CPU ms and round trips per act (* shared with other work, not in CPU ms)")
        print_table(costs, COST_HEADER)
        print()
    if set(names) == set(FULL):
        print_table(rows(results), ("figure", "value", "baseline (same run)", "ratio"))
    print("written to bench/results.json")
    failures = _invariants(results)
    if failures:
        raise SystemExit("invariants broken: " + "; ".join(failures))


def _invariants(results: dict[str, dict[str, Any]]) -> list[str]:
    """What must hold whatever the machine: checked in short mode too."""
    failures = []
    if "cycle" in results:
        cycle = results["cycle"]
        if cycle["errors"]:
            failures.append(f"cycle errors {cycle['errors']}")
        if cycle["webhook"]["delivered"] != cycle["webhook"]["of"]:
            failures.append("a webhook did not arrive")
    if "contention" in results:
        race = results["contention"]["last_bed"]
        if race["rounds_with_exactly_one_winner"] != race["rounds"]:
            failures.append(f"last bed: winners {race['wrong_rounds']}")
    return failures


if __name__ == "__main__":
    main()
