"""Helpers shared by the benchmarks: a fresh PostgreSQL database, a gunicorn to measure,
a keep-alive HTTP client, percentiles, and the CPU-per-act meter (`measure`, built on
bench/meter.py). Loopback only."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.meter import (
    CpuReading,
    PidFinder,
    TripReading,
    cpu_meter,
    own_process,
    per_act,
    postgres_backends,
    postgres_background,
    process_tree,
    redis_server,
    round_trips,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_hub"


def say(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 0.50), 3),
        "p95_ms": round(percentile(values_ms, 0.95), 3),
        "mean_ms": round(statistics.fmean(values_ms), 3) if values_ms else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_environment(database_url: str, instance: str) -> dict[str, str]:
    """The production set (PostgreSQL, Redis for jobs and limits), with limits lifted, and
    a fresh folder where the hub's processes count their round trips (bench/roundtrips.py)."""
    return {
        "BENCH_COUNTER_DIR": tempfile.mkdtemp(prefix="bench-roundtrips-"),
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        "REFERRAL_HUB_REDIS_KEY_PREFIX": "bench",
        "REFERRAL_HUB_INSTANCE_PATH": instance,
        "REFERRAL_HUB_LOG_LEVEL": "WARNING",
        "REFERRAL_HUB_ACCESS_TOKEN_SECONDS": "3600",
        "REFERRAL_HUB_API_REQUESTS_PER_WINDOW": "1000000000",
    }


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[int]:
    """Serve the hub as production does (config/gunicorn.conf.py) on a free loopback port."""
    with served(env, workers) as (port, _):
        yield port


def counted(module: str) -> list[str]:
    """The command that runs `python -m module` with its round trips counted."""
    return [sys.executable, "-m", "bench.roundtrips", module]


@contextlib.contextmanager
def served(env: dict[str, str], workers: int = 2) -> Iterator[tuple[int, int]]:
    """`gunicorn`, yielding (port, the master's pid) for the CPU meter."""
    port = free_port()
    # kept after the run on purpose, so a failed start can be read
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603 - our own fixed command, loopback only
        # no control socket: it is one shared file in $HOME, and tests may run gunicorns too
        [
            *counted("gunicorn"),
            "-c",
            "config/gunicorn.conf.py",
            "--no-control-socket",
            "wsgi:app",
        ],
        cwd=ROOT,
        env={**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log.name}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"gunicorn did not answer within 30 s; see {log.name}")
        yield port, process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        if process.poll() is None:
            process.kill()


class Client:
    """One keep-alive connection; `get` returns (status, milliseconds)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, float, bytes]:
        started = time.perf_counter()
        try:
            self.connection.request(
                method, path, body=body, headers={**self.headers, **(headers or {})}
            )
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 599, (time.perf_counter() - started) * 1000, b""
        return response.status, (time.perf_counter() - started) * 1000, data

    def get(self, path: str) -> tuple[int, float]:
        status, elapsed, _ = self.request("GET", path)
        return status, elapsed


def write_result(name: str, result: dict[str, Any]) -> Path:
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


WRK_SCRIPT = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {%s})
end
"""


def wrk_load(
    port: int, headers: dict[str, str], paths: list[str], seconds: float, connections: int
) -> dict[str, Any] | None:
    """Throughput from wrk (a C load generator) when installed; None when it is not."""
    import re
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    lua_paths = ", ".join(json.dumps(path) for path in paths)
    lua_headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (lua_paths, lua_headers))
    output = subprocess.run(  # noqa: S603 - fixed arguments of our own, loopback only
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            script.name,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not found:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    done = re.search(r"(\d+) requests in", output)
    return {
        "tool": "wrk",
        "requests": int(done.group(1)) if done else 0,
        "requests_per_s": float(rate.group(1)) if rate else float("nan"),
        "p50_ms": ms("50"),
        "p90_ms": ms("90"),
        "p99_ms": ms("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def thread_load(
    port: int, headers: dict[str, str], paths: list[str], seconds: float, clients: int
) -> dict[str, Any]:
    """Throughput from Python client threads: the fallback when wrk is not installed."""
    stop = time.monotonic() + seconds
    timings: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(offset: int) -> None:
        client = Client(port, headers)
        local, local_status, index = [], {}, offset
        while time.monotonic() < stop:
            status, elapsed = client.get(paths[index % len(paths)])
            index += 1
            local.append(elapsed)
            local_status[status] = local_status.get(status, 0) + 1
        with lock:
            timings.extend(local)
            for status, count in local_status.items():
                statuses[status] = statuses.get(status, 0) + count

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "tool": "python client",
        "requests": len(timings),
        "requests_per_s": round(len(timings) / elapsed, 1),
        "statuses": statuses,
        **summary(timings),
    }


class WebhookReceiver:
    """A partner's webhook endpoint on loopback: when each referral's first delivery arrived
    and how often each delivery id (one outbox row) arrived."""

    def __init__(self) -> None:
        self.first_arrival: dict[str, float] = {}  # referral id -> monotonic time
        self.received: Counter[str] = Counter()  # delivery id -> times received
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.first_arrival.setdefault(body["data"]["referral_id"], time.monotonic())
                receiver.received[body["id"]] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # a partner's server keeps a real backlog; with the default of 5, a burst drops
            # SYNs and the 1 s TCP retransmit shows up as webhook latency that is not ours
            request_queue_size = 1024
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextlib.contextmanager
def rq_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """The hub's rq worker (as production runs it) for the length of the block."""
    worker = subprocess.Popen(  # noqa: S603 - our own fixed command
        counted("referral_hub.worker"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=15)


# servers other work on this machine uses as well: shown, but apart from the hub's total
SHARED = {"redis", "postgres background"}


def hub_processes(
    database_url: str, web_pid: int, worker_pid: int | None = None
) -> dict[str, PidFinder]:
    """Every process an act can spend CPU in, by role (see bench/meter.py)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    groups = {"web": process_tree(web_pid)}
    if worker_pid is not None:
        groups["worker"] = process_tree(worker_pid)
    groups["postgres"] = postgres_backends(str(url.database), url.username or "postgres")
    groups["redis"] = redis_server()
    groups["postgres background"] = postgres_background()
    groups["client"] = own_process()
    return groups


@contextlib.contextmanager
def measure(
    groups: dict[str, PidFinder], env: dict[str, str]
) -> Iterator[tuple[CpuReading, TripReading]]:
    """CPU per process group and round trips per server, for the length of the block."""
    with cpu_meter(groups) as cpu, round_trips(env["BENCH_COUNTER_DIR"]) as trips:
        yield cpu, trips


def idle_cost(groups: dict[str, PidFinder], env: dict[str, str], seconds: float = 3.0) -> Any:
    """What the processes spend doing nothing (rq's polling, gunicorn's heartbeat, other
    users of the shared servers), per second: the floor under every per-act figure."""
    with measure(groups, env) as (cpu, trips):
        time.sleep(seconds)
    figures = per_act(cpu, trips, 1, SHARED)
    figures["seconds"] = seconds
    for key in ("cpu_ms", "round_trips"):
        figures[key] = {k: round(v / seconds, 2) for k, v in figures[key].items()}
    figures["round_trips_by_group"] = {
        group: {k: round(v / seconds, 2) for k, v in counts.items()}
        for group, counts in figures["round_trips_by_group"].items()
    }
    figures["acts"] = 0
    return figures


def load_with_cost(
    port: int,
    headers: dict[str, str],
    paths: list[str],
    seconds: float,
    connections: int,
    groups: dict[str, PidFinder],
    env: dict[str, str],
) -> dict[str, Any]:
    """A throughput run (wrk when installed) with its CPU and round trips per request."""
    with measure(groups, env) as (cpu, trips):
        load = wrk_load(port, headers, paths, seconds, connections) or thread_load(
            port, headers, paths, seconds, connections
        )
    load["per_request"] = per_act(cpu, trips, max(1, load["requests"]), SHARED)
    return load


def say_cost(label: str, figures: dict[str, Any]) -> None:
    """One line: CPU ms per act, per group, and round trips per act."""
    parts = "  ".join(f"{name} {value:.2f}" for name, value in figures["cpu_ms"].items())
    total = " ".join(f"{server} {n:.1f}" for server, n in figures["round_trips"].items())
    trips = (
        total
        + "; "
        + "  ".join(
            f"{group}: " + " ".join(f"{server} {n:.1f}" for server, n in counts.items())
            for group, counts in figures["round_trips_by_group"].items()
        )
    )
    say(
        f"{label}: CPU {figures['cpu_ms_total']:.2f} ms per act "
        f"({figures['cpu_ms_total_with_shared']:.2f} with shared servers) [{parts}]; "
        f"round trips [{trips}]"
    )
