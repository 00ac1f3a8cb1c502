"""CPU time of every process in an act, read from /proc, and the database and Redis round
trips the hub's processes make: the two figures a shared, noisy machine cannot fake.

Wall-clock throughput on a machine shared with other work moves 5x from one day to the
next; the CPU a process spends and the round trips it makes per act do not. Use:

    groups = {"web": process_tree(master_pid), "postgres": postgres_backends("bench")}
    with cpu_meter(groups) as cpu, round_trips(counter_dir) as trips:
        ...  # the acts
    cpu.ms        # {"web": 812.0, "postgres": 240.0}: CPU milliseconds per group
    trips.counts  # {"postgres": 1234, "redis": 210}: round trips in the window
    per_act(cpu, trips, acts, shared)  # all of it per act, round trips also by group

A group is a name and a function returning its pids; it is called at the start and at
the end, so processes that appear during the run (a new gunicorn worker, a backend for a
new pooled connection) are counted from their birth. A process that ends during the run
is still counted when its parent is in the same group (the kernel adds a reaped child's
CPU to the parent's), not otherwise. Linux only.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.roundtrips import SERVERS, read_counts

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
PidFinder = Callable[[], list[int]]


@dataclass(frozen=True)
class _Sample:
    parent: int
    own: int  # utime + stime, ticks, all threads, live or ended
    children: int  # cutime + cstime: children that ended and were reaped


def _sample(pid: int) -> _Sample | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces; the fields after its ")" are fixed
    fields = raw[raw.rindex(")") + 2 :].split()
    return _Sample(
        parent=int(fields[1]),
        own=int(fields[11]) + int(fields[12]),
        children=int(fields[13]) + int(fields[14]),
    )


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """CPU (user + system) a process has used so far, optionally with its reaped children;
    0 once it is gone. For benches that read single processes instead of groups."""
    sample = _sample(pid)
    if sample is None:
        return 0.0
    ticks = sample.own + (sample.children if with_reaped_children else 0)
    return ticks * TICK_MS / 1000


def children_of(pid: int) -> list[int]:
    """Live child processes (a forking worker's work horse)."""
    return [child for child in _all_pids() if (_sample(child) or _NO_PARENT).parent == pid]


_NO_PARENT = _Sample(parent=-1, own=0, children=0)


def libpq_round_trips(trace_text: str) -> int:
    """Times a client waited for the server in a libpq protocol trace: one ReadyForQuery
    ends each Query or Sync."""
    return sum(1 for line in trace_text.splitlines() if line.startswith("B\t5\tReadyForQuery"))


def _snapshot(pids: list[int]) -> dict[int, _Sample]:
    samples = {pid: _sample(pid) for pid in pids}
    return {pid: sample for pid, sample in samples.items() if sample is not None}


def _group_ticks(before: dict[int, _Sample], after: dict[int, _Sample]) -> int:
    ticks = 0
    for pid, now in after.items():
        then = before.get(pid)
        ticks += now.own - (then.own if then else 0)
        if then:
            ticks += now.children - then.children
    for pid, then in before.items():
        # ended during the run: its whole life is in its parent's `children` if the parent
        # is ours, so take off what it had spent before the start
        if pid not in after and then.parent in after:
            ticks -= then.own + then.children
    return ticks


@dataclass
class CpuReading:
    """Filled in when the `cpu_meter` block ends: milliseconds of CPU per group."""

    ms: dict[str, float] = field(default_factory=dict)
    pids: dict[str, list[int]] = field(default_factory=dict)


@contextlib.contextmanager
def cpu_meter(groups: dict[str, PidFinder]) -> Iterator[CpuReading]:
    """CPU milliseconds (user + system) each group of processes spent inside the block."""
    reading = CpuReading()
    before = {name: _snapshot(find()) for name, find in groups.items()}
    yield reading
    for name, find in groups.items():
        pids = find()
        reading.ms[name] = _group_ticks(before[name], _snapshot(pids)) * TICK_MS
        reading.pids[name] = pids


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def process_tree(root: int) -> PidFinder:
    """A process and all its descendants (gunicorn's master and workers, rq and its
    scheduler)."""

    def find() -> list[int]:
        parents = {pid: sample.parent for pid, sample in _snapshot(_all_pids()).items()}
        tree = {root} if root in parents else set()
        grew = True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        return sorted(tree)

    return find


def postgres_backends(database: str, user: str = "postgres") -> PidFinder:
    """The server processes serving connections to one database (their title names it:
    `postgres: [cluster: ]user database host(port) state`)."""
    title = re.compile(rf"postgres: (\S+: )?{re.escape(user)} {re.escape(database)} ")

    def find() -> list[int]:
        return [pid for pid in _all_pids() if title.match(_cmdline(pid))]

    return find


def postgres_background() -> PidFinder:
    """The cluster's own processes (WAL writer, checkpointer, autovacuum, …). Shared by
    every database on the cluster, so other users' work shows here too."""
    roles = ("checkpointer", "background writer", "walwriter", "autovacuum", "logical")

    def find() -> list[int]:
        return [
            pid
            for pid in _all_pids()
            if _cmdline(pid).startswith("postgres: ")
            and any(role in _cmdline(pid) for role in roles)
        ]

    return find


def redis_server() -> PidFinder:
    """redis-server: shared by every Redis database on it, like the cluster's processes."""

    def find() -> list[int]:
        names = ("redis-server", "/usr/bin/redis-server")
        return [pid for pid in _all_pids() if _cmdline(pid).startswith(names)]

    return find


def own_process() -> PidFinder:
    """The benchmark itself (its client threads, the webhook receiver): the load
    generator, reported apart and never in a total."""
    return lambda: [os.getpid()]


@dataclass
class TripReading:
    """Filled in when the `round_trips` block ends: round trips per server, in all and
    by process."""

    counts: dict[str, int] = field(default_factory=dict)
    by_pid: dict[int, dict[str, int]] = field(default_factory=dict)


@contextlib.contextmanager
def round_trips(counter_dir: str) -> Iterator[TripReading]:
    """Round trips to PostgreSQL and Redis made inside the block by every process started
    through `bench/roundtrips.py` with this counter directory."""
    reading = TripReading()
    before = read_counts(counter_dir)
    yield reading
    for pid, counts in read_counts(counter_dir).items():
        then = before.get(pid, {})
        reading.by_pid[pid] = {server: n - then.get(server, 0) for server, n in counts.items()}
    reading.counts = {
        server: sum(counts[server] for counts in reading.by_pid.values()) for server in SERVERS
    }


def _trips_by_group(cpu: CpuReading, trips: TripReading) -> dict[str, dict[str, int]]:
    """Which group's processes made the round trips (a process that ended: "ended")."""
    owner = {pid: name for name, pids in cpu.pids.items() for pid in pids}
    grouped: dict[str, dict[str, int]] = {}
    for pid, counts in trips.by_pid.items():
        into = grouped.setdefault(owner.get(pid, "ended"), dict.fromkeys(SERVERS, 0))
        for server, n in counts.items():
            into[server] += n
    return {name: counts for name, counts in grouped.items() if any(counts.values())}


def per_act(cpu: CpuReading, trips: TripReading, acts: int, shared: set[str]) -> dict[str, Any]:
    """CPU ms and round trips per act. `shared` groups (servers other work on the machine
    also uses) are shown and added only to the second total; the load generator
    ("client") is in neither."""
    ms = {name: round(value / acts, 3) for name, value in cpu.ms.items()}
    own = sum(value for name, value in ms.items() if name not in shared and name != "client")
    everything = sum(value for name, value in ms.items() if name != "client")
    return {
        "acts": acts,
        "cpu_ms": ms,
        "cpu_ms_total": round(own, 3),
        "cpu_ms_total_with_shared": round(everything, 3),
        "round_trips": {name: round(count / acts, 2) for name, count in trips.counts.items()},
        "round_trips_by_group": {
            group: {server: round(n / acts, 2) for server, n in counts.items()}
            for group, counts in _trips_by_group(cpu, trips).items()
        },
        "shared_groups": sorted(shared),
    }
