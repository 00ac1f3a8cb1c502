"""CPU time of named processes from /proc, and round trips from libpq's protocol trace.

On a shared machine wall-clock rates are noise; the CPU a process spent (user + system,
as the kernel counts it) and the number of times a client waited for the server are not.
A PostgreSQL backend is a process on this machine (loopback), so its CPU is read the same
way as the client's.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (10 ms resolution on most kernels)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command name: state is field 3, utime 14 and stime 15 (1-based, man proc)
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def round_trips(trace_text: str) -> int:
    """Times the client waited for the server: one ReadyForQuery ends each Query or Sync."""
    return sum(1 for line in trace_text.splitlines() if line.startswith("B\t5\tReadyForQuery"))
