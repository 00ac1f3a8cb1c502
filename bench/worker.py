"""Worker benchmark: `python bench/worker.py` (PostgreSQL + a private redis-server).

What one delivered webhook costs in CPU, counted for every process that works for it:
the worker process (children included), the PostgreSQL backends the worker holds
(`application_name` marks them), and the Redis server (a private one, so nobody else's
commands are counted). Round trips are counted inside the worker (SQL statements, BEGIN,
COMMIT, and the pool's ping on each checkout while pre-ping is on) and by Redis itself
(commands processed, the web's hand-over included). Wall-clock figures are secondary: on a
shared machine only CPU per delivery and round trips are to be trusted.

Three ways of running deliveries, side by side in the same run:

- `rq-fork`:   one rq job per outbox row, rq's default forking `Worker`;
- `rq-simple`: one rq job per outbox row, rq's `SimpleWorker` (the hub's worker before
  the batch consumer);
- `batch`:     the hub's worker as it is now (`python -m referral_hub.worker`): a wake-up
  through Redis after commit, then due rows drained from the outbox in batches and
  posted over kept-alive connections.

Each mode runs two phases against a loopback receiver that keeps connections alive:
a **backlog** (the worker stopped with SIGSTOP while N rows commit, then let go: how a
burst drains) and a **steady** flow (rows committed at a fixed rate, one transaction
each, as the web does: CPU per delivery and commit → webhook p50/p99).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    WebhookReceiver,
    bench_environment,
    free_port,
    percentile,
    say,
    write_result,
)
from bench.meter import children_of, cpu_seconds
from bench.search import ensure_directory
from referral_hub.jobs.queue import RqQueue

MODES = ("rq-fork", "rq-simple", "batch")
WORKER_APPLICATION = "hub-bench-worker"
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_worker"


class PrivateRedis:
    """redis-server on a free loopback port without persistence: its CPU and its command
    count belong to this benchmark alone."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, loopback only
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        from redis import Redis

        self.client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def commands(self) -> int:
        """Commands the server has processed (this INFO call included)."""
        return int(self.client.info("stats")["total_commands_processed"])

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid, with_reaped_children=True)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# ---------------------------------------------------------------- the webhook receiver


class KeepAliveReceiver(WebhookReceiver):
    """The cycle benchmark's receiver, speaking HTTP/1.1 so that connections stay open
    between deliveries, as most receivers' servers do (its answers are 204: no body)."""

    def __init__(self) -> None:
        super().__init__()
        self.server.RequestHandlerClass.protocol_version = "HTTP/1.1"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the worker process


def serve(mode: str, counts_path: str) -> None:
    """The worker subprocess: the hub's app, a statement counter on its engine, then the
    chosen way of running deliveries until SIGTERM."""
    from sqlalchemy import event

    from referral_hub import create_app
    from referral_hub.extensions import db

    app = create_app()
    counts = Counter[str]()
    with app.app_context():
        engine = db.engine

    def counter(name: str) -> Any:
        return lambda *_: counts.update((name,))

    event.listen(engine, "before_cursor_execute", counter("statements"))
    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, counter(name))
    if engine.pool._pre_ping:  # each checkout from the pool then costs a ping first
        event.listen(engine, "checkout", counter("ping"))

    def report() -> None:  # the bench reads the counts between phases
        last: dict[str, int] = {}
        while True:
            if dict(counts) != last:
                last = dict(counts)
                Path(counts_path + ".tmp").write_text(json.dumps(last))
                os.replace(counts_path + ".tmp", counts_path)
            time.sleep(0.1)

    threading.Thread(target=report, daemon=True).start()
    if mode == "batch":
        from referral_hub.jobs.worker import run_worker

        run_worker(app, burst=False)
        return
    from rq import SimpleWorker, Worker

    from referral_hub.jobs.runtime import set_process_app

    set_process_app(app)
    queue = rq_queue(app)
    kind = Worker if mode == "rq-fork" else SimpleWorker
    kind([queue], connection=queue.connection).work(with_scheduler=True)


def rq_queue(app: Any) -> Any:
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=2)
    return Queue(app.config["RQ_QUEUE"], connection=connection)


class RqPerJob(RqQueue):
    """How the web handed a committed row to the worker before the batch consumer: one
    unique rq job per outbox row (job id = outbox id). Kept here as the baseline; the
    periodic sweeps go through rq as in production."""

    def __init__(self, app: Any) -> None:
        super().__init__(app.config["REDIS_URL"], app.config["RQ_QUEUE"])

    def enqueue_delivery(self, outbox_id: str) -> None:
        from referral_hub.jobs.service import deliver

        self.queue.enqueue(
            deliver,
            outbox_id,
            job_id=outbox_id,
            unique=True,
            result_ttl=0,
            failure_ttl=7 * 24 * 3600,
            job_timeout=120,
        )


@contextlib.contextmanager
def worker_process(
    mode: str, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The worker subprocess in `mode`, and the file its statement counts are written to."""
    counts = Path(tempfile.mkdtemp(prefix="bench-worker-")) / "counts.json"
    log = open(counts.parent / "worker.log", "wb")  # noqa: SIM115 - open for the process's life
    process = subprocess.Popen(  # noqa: S603 - this file, a mode from MODES
        [sys.executable, __file__, "--serve", mode, "--counts", str(counts)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        yield process, counts
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# ---------------------------------------------------------------- setup and producing


def setup(app: Any, sink_url: str) -> str:
    """An agency with a webhook subscription to the receiver; its id."""
    from sqlalchemy import update

    from referral_hub.agencies.models import AgencyKind
    from referral_hub.agencies.service import create_agency
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.jobs.models import OutboxMessage, OutboxStatus
    from referral_hub.notifications.webhooks import subscribe

    with app.app_context(), transaction() as session:
        # rows an earlier (interrupted) run left for a receiver that is gone, under keys
        # of an instance folder that is gone: they would only add failures to measure
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.DEAD)
        )
        agency = create_agency(
            SYSTEM, name=f"Worker bench {uuid.uuid4().hex[:8]}", kind=AgencyKind.SHELTER
        )
        admin = Actor(ActorKind.USER, "bench", agency.id, frozenset({"agency_admin"}))
        hook, _ = subscribe(admin, url=sink_url, events=["referral.accepted"])
        return str(hook.id)


class Producer:
    """Commits outbox rows one transaction each, as a web request does, and notes when
    each committed (before the hand-over to the queue, which is part of the latency)."""

    def __init__(self, app: Any, hook_id: str) -> None:
        self.app = app
        self.hook_id = hook_id
        self.committed: dict[str, float] = {}
        self.handover_cpu = 0.0  # this thread's CPU in the hand-over after commit

    def one(self) -> None:
        from referral_hub.core import clock
        from referral_hub.core.db import after_commit, transaction
        from referral_hub.extensions import db
        from referral_hub.jobs.service import add

        moment: list[float] = []
        referral_id = str(uuid.uuid4())  # the receiver notes arrivals by it
        with transaction():
            # registered first, so it runs before the hand-over that `add` registers
            after_commit(db.session, lambda: moment.extend((time.monotonic(), time.thread_time())))
            add(
                "webhook",
                {
                    "webhook_id": self.hook_id,
                    "event": "referral.accepted",
                    "at": clock.isoformat(clock.now()),
                    "referral_id": referral_id,
                },
                target=self.hook_id,
            )
        self.handover_cpu += time.thread_time() - moment[1]
        self.committed[referral_id] = moment[0]

    def burst(self, count: int) -> list[str]:
        before = set(self.committed)
        with self.app.app_context():
            for _ in range(count):
                self.one()
        return [key for key in self.committed if key not in before]

    def steady(self, rate: float, seconds: float) -> list[str]:
        before = set(self.committed)
        with self.app.app_context():
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < seconds:
                due = started + sent / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self.one()
                sent += 1
        return [key for key in self.committed if key not in before]


# ---------------------------------------------------------------- measuring


class Meter:
    """CPU and round trips of everything that works for the worker, between two reads."""

    def __init__(self, worker_pid: int, counts: Path, redis: PrivateRedis, engine: Any) -> None:
        self.worker_pid = worker_pid
        self.counts = counts
        self.redis = redis
        self.engine = engine

    def backends(self) -> list[int]:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": WORKER_APPLICATION},
                ).scalars()
            )

    def read(self) -> dict[str, Any]:
        pids = [self.worker_pid, *children_of(self.worker_pid)]
        backends = self.backends()
        counts = json.loads(self.counts.read_text()) if self.counts.exists() else {}
        return {
            "worker": sum(cpu_seconds(pid, with_reaped_children=True) for pid in pids),
            "postgres": {pid: cpu_seconds(pid, with_reaped_children=True) for pid in backends},
            "redis": self.redis.cpu(),
            "redis_commands": self.redis.commands(),
            "sql": counts,
        }


def difference(before: dict[str, Any], after: dict[str, Any], delivered: int) -> dict[str, Any]:
    """Per delivery: CPU in ms by process and round trips."""
    postgres = sum(cpu - before["postgres"].get(pid, 0.0) for pid, cpu in after["postgres"].items())
    sql = {key: after["sql"].get(key, 0) - before["sql"].get(key, 0) for key in after["sql"]}
    worker = after["worker"] - before["worker"]
    redis = after["redis"] - before["redis"]
    per = 1000 / max(delivered, 1)
    round_trips = sql.get("statements", 0) + sql.get("begin", 0)
    round_trips += sql.get("commit", 0) + sql.get("rollback", 0) + sql.get("ping", 0)
    return {
        "delivered": delivered,
        "cpu_ms": {
            "worker": round(worker * per, 3),
            "postgres": round(postgres * per, 3),
            "redis": round(redis * per, 3),
            "total": round((worker + postgres + redis) * per, 3),
        },
        "sql_round_trips": round(round_trips / max(delivered, 1), 2) if sql else None,
        "sql_counts": sql,
        # the INFO call that reads the count is one command: leave it out
        "redis_commands": round(
            (after["redis_commands"] - before["redis_commands"] - 1) / max(delivered, 1), 2
        ),
    }


def twice(sink: KeepAliveReceiver) -> int:
    """Deliveries (outbox rows) the receiver got more than once so far."""
    return sum(1 for count in sink.received.values() if count > 1)


def wait_delivered(sink: KeepAliveReceiver, ids: list[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not all(key in sink.first_arrival for key in ids):
        if time.monotonic() > deadline:
            missing = sum(key not in sink.first_arrival for key in ids)
            raise RuntimeError(f"{missing} of {len(ids)} deliveries missing after {timeout} s")
        time.sleep(0.01)


def settle(meter: Meter, quiet: float = 0.3) -> None:
    """Wait until the worker's counters stop moving (its last commit done)."""
    last = None
    while True:
        now = meter.read()["sql"]
        if now == last:
            return
        last = now
        time.sleep(quiet)


def run_mode(
    mode: str,
    env: dict[str, str],
    app: Any,
    hook_id: str,
    sink: KeepAliveReceiver,
    redis: PrivateRedis,
    options: argparse.Namespace,
) -> dict[str, Any]:
    from referral_hub.extensions import db

    if mode != "batch":
        app.extensions["hub_queue"] = RqPerJob(app)
    else:
        from referral_hub.jobs.queue import build_queue

        app.extensions["hub_queue"] = build_queue(app)
    producer = Producer(app, hook_id)
    twice_before = twice(sink)
    with app.app_context():
        engine = db.engine
    result: dict[str, Any] = {}
    with worker_process(mode, env) as (process, counts):
        meter = Meter(process.pid, counts, redis, engine)
        wait_delivered(sink, producer.burst(20), timeout=60)  # started and warm
        settle(meter)

        # backlog: the worker held still while rows commit, then let go
        os.kill(process.pid, signal.SIGSTOP)  # no new child while its children are stopped
        for child in children_of(process.pid):
            os.kill(child, signal.SIGSTOP)
        before = meter.read()
        ids = producer.burst(options.backlog)
        started = time.monotonic()
        for pid in [*children_of(process.pid), process.pid]:  # a job in hand resumes first
            os.kill(pid, signal.SIGCONT)
        wait_delivered(sink, ids)
        drained = time.monotonic() - started
        settle(meter)
        result["backlog"] = {
            **difference(before, meter.read(), len(ids)),
            "drain_per_s": round(len(ids) / drained, 1),
        }

        # nothing to do: what waiting costs per second (polls, heartbeats, rq's scheduler)
        before = meter.read()
        time.sleep(options.idle)
        idle = difference(before, meter.read(), 1)
        result["idle_per_s"] = {
            "cpu_ms": {k: round(v / options.idle, 3) for k, v in idle["cpu_ms"].items()},
            "sql_round_trips": round((idle["sql_round_trips"] or 0) / options.idle, 2),
            "redis_commands": round(idle["redis_commands"] / options.idle, 2),
        }

        # steady flow at a fixed rate
        before = meter.read()
        producer.handover_cpu = 0.0
        ids = producer.steady(options.rate, options.seconds)
        wait_delivered(sink, ids)
        settle(meter)
        latencies = [(sink.first_arrival[key] - producer.committed[key]) * 1000 for key in ids]
        result["steady"] = {
            **difference(before, meter.read(), len(ids)),
            "rate_per_s": options.rate,
            "commit_to_webhook_p50_ms": round(percentile(latencies, 0.5), 1),
            "commit_to_webhook_p99_ms": round(percentile(latencies, 0.99), 1),
            "handover_cpu_ms_in_web": round(producer.handover_cpu * 1000 / len(ids), 3),
        }
    result["delivered_twice"] = twice(sink) - twice_before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--counts", help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--backlog", type=int, default=1000, help="rows in the backlog phase")
    parser.add_argument("--rate", type=float, default=50.0, help="rows/s in the steady phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady phase")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds measured with no work")
    options = parser.parse_args()
    if options.serve:
        serve(options.serve, options.counts)
        return

    from sqlalchemy.engine import make_url

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    ensure_directory(options.database_url, 0, instance)  # created and migrated
    redis = PrivateRedis()
    sink = KeepAliveReceiver()
    env = bench_environment(options.database_url, instance)
    env["REDIS_URL"] = redis.url
    os.environ.update(env)
    worker_url = make_url(options.database_url).update_query_dict(
        {"application_name": WORKER_APPLICATION}
    )
    worker_env = {**env, "DATABASE_URL": worker_url.render_as_string(hide_password=False)}
    try:
        from referral_hub import create_app

        app = create_app()
        hook_id = setup(app, sink.url)
        results = {}
        for mode in options.modes.split(","):
            say(
                f"{mode}: backlog of {options.backlog}, then {options.rate:.0f}/s for "
                f"{options.seconds:.0f} s …"
            )
            results[mode] = run_mode(mode, worker_env, app, hook_id, sink, redis, options)
            say(json.dumps(results[mode]))
    finally:
        sink.server.shutdown()
        redis.close()
    say("")
    say(
        f"{'mode':<10} {'phase':<8} {'worker':>7} {'pg':>6} {'redis':>6} {'total':>7} "
        f"{'sql rt':>6} {'redis':>6} {'p50':>6} {'p99':>6}   (CPU ms per delivery)"
    )
    for mode, result in results.items():
        for phase in ("backlog", "steady"):
            row = result[phase]
            cpu = row["cpu_ms"]
            latency = (
                f"{row['commit_to_webhook_p50_ms']:>6} {row['commit_to_webhook_p99_ms']:>6}"
                if phase == "steady"
                else f"{row['drain_per_s']:>6}/s"
            )
            say(
                f"{mode:<10} {phase:<8} {cpu['worker']:>7} {cpu['postgres']:>6} "
                f"{cpu['redis']:>6} {cpu['total']:>7} {row['sql_round_trips']!s:>6} "
                f"{row['redis_commands']:>6} {latency}"
            )
        idle = result["idle_per_s"]
        say(
            f"{mode:<10} {'idle/s':<8} {idle['cpu_ms']['worker']:>7} "
            f"{idle['cpu_ms']['postgres']:>6} {idle['cpu_ms']['redis']:>6} "
            f"{idle['cpu_ms']['total']:>7} {idle['sql_round_trips']!s:>6} "
            f"{idle['redis_commands']:>6}   (per second of waiting)"
        )
    say(f"written to {write_result('worker', results)}")


if __name__ == "__main__":
    main()
