"""Referral cycle benchmark: `python bench/cycle.py` (PostgreSQL + Redis, one command).

Each cycle is four real API calls: create a client, send her a referral, the receiver
accepts (a bed is held), the receiver confirms arrival. It runs against gunicorn (2
workers) with one rq worker delivering webhooks to a receiver on loopback.

First figure: CPU milliseconds per cycle in every process involved (gunicorn master and
workers, the rq worker, the PostgreSQL backends serving the run; Redis and the cluster's
own processes shown apart, being shared) and round trips per cycle to PostgreSQL and
Redis, beside the same figures for one GET /healthz in the same run. Then, as secondary
figures: cycles per second, p50/p95 per step, and commit→webhook latency (accept answered
→ `referral.accepted` received).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_DATABASE,
    SHARED,
    Client,
    WebhookReceiver,
    bench_environment,
    hub_processes,
    idle_cost,
    load_with_cost,
    measure,
    percentile,
    rq_worker,
    say,
    say_cost,
    served,
    summary,
    write_result,
)
from bench.meter import per_act
from bench.search import ensure_directory

STEPS = ("create client", "send", "accept", "confirm arrival")


def setup(sink_url: str) -> dict[str, Any]:
    """Two agencies, a shelter with room for the run, API clients, a webhook subscription."""
    from referral_hub import create_app
    from referral_hub.agencies.models import AgencyKind
    from referral_hub.agencies.service import create_agency
    from referral_hub.auth.service import create_api_client
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.directory import service as directory
    from referral_hub.directory.capacity import set_capacity
    from referral_hub.directory.vocabulary import Category
    from referral_hub.extensions import db
    from referral_hub.notifications.webhooks import subscribe

    app = create_app()
    with app.app_context():
        with transaction():
            stamp = str(int(time.time()))
            sender = create_agency(SYSTEM, name=f"Cycle Sender {stamp}", kind=AgencyKind.HOTLINE)
            receiver = create_agency(SYSTEM, name=f"Cycle Shelter {stamp}", kind=AgencyKind.SHELTER)
            shelter = directory.create_service(
                SYSTEM,
                agency_id=receiver.id,
                category=Category.EMERGENCY_SHELTER,
                name="Cycle beds",
            )
            set_capacity(SYSTEM, shelter.id, total=1_000_000, available=1_000_000)
            sender_client, sender_secret = create_api_client(
                SYSTEM,
                agency_id=sender.id,
                name="bench",
                scopes=["clients:write", "referrals:write"],
            )
            receiver_client, receiver_secret = create_api_client(
                SYSTEM, agency_id=receiver.id, name="bench", scopes=["referrals:write"]
            )
            admin = Actor(ActorKind.USER, "bench", receiver.id, frozenset({"agency_admin"}))
            subscribe(admin, url=sink_url, events=["referral.accepted"])
            result = {
                "service_id": str(shelter.id),
                "sender": (sender_client.client_id, sender_secret),
                "receiver": (receiver_client.client_id, receiver_secret),
            }
        db.engine.dispose()
    return result


def token(port: int, credentials: tuple[str, str]) -> str:
    basic = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    status, _, data = Client(port).request(
        "POST",
        "/oauth/token",
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        raise RuntimeError(f"token endpoint answered {status}")
    return str(json.loads(data)["access_token"])


def run_cycles(
    port: int, tokens: dict[str, str], service_id: str, seconds: float, threads: int
) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    timings: dict[str, list[float]] = {step: [] for step in STEPS}
    accepted_at: dict[str, float] = {}
    errors: list[str] = []
    cycles = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal cycles
        as_sender = Client(
            port,
            {"Authorization": f"Bearer {tokens['sender']}", "Content-Type": "application/json"},
        )
        as_receiver = Client(
            port,
            {"Authorization": f"Bearer {tokens['receiver']}", "Content-Type": "application/json"},
        )
        while time.monotonic() < stop:
            status, ms1, data = as_sender.request(
                "POST", "/api/v1/clients", b'{"profile": {"language": "es"}}'
            )
            if status != 201:
                errors.append(f"client {status}")
                continue
            body = json.dumps(
                {
                    "client_id": json.loads(data)["id"],
                    "service_id": service_id,
                    "urgency": "emergency",
                    "data_categories": ["profile"],
                }
            ).encode()
            status, ms2, data = as_sender.request("POST", "/api/v1/referrals", body)
            if status != 201:
                errors.append(f"send {status}")
                continue
            referral = json.loads(data)["id"]
            status, ms3, _ = as_receiver.request(
                "POST", f"/api/v1/referrals/{referral}/accept", b"{}"
            )
            answered = time.monotonic()
            if status != 200:
                errors.append(f"accept {status}")
                continue
            status, ms4, _ = as_receiver.request(
                "POST", f"/api/v1/referrals/{referral}/confirm-arrival", b"{}"
            )
            if status != 200:
                errors.append(f"arrival {status}")
                continue
            with lock:
                cycles += 1
                accepted_at[referral] = answered
                for step, elapsed in zip(STEPS, (ms1, ms2, ms3, ms4), strict=True):
                    timings[step].append(elapsed)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "cycles": cycles,
        "seconds": elapsed,
        "timings": timings,
        "accepted_at": accepted_at,
        "errors": errors,
    }


def wait_for_webhooks(sink: WebhookReceiver, referrals: dict[str, float], seconds: float) -> None:
    """Until every accepted referral's webhook has arrived (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(r in sink.first_arrival for r in referrals):
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds, not measured")
    options = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    ensure_directory(options.database_url, 0, instance)
    env = bench_environment(options.database_url, instance)
    sink = WebhookReceiver()
    world = setup(sink.url)
    with rq_worker(env) as worker, served(env, workers=2) as (port, web_pid):
        groups = hub_processes(options.database_url, web_pid, worker.pid)
        tokens = {
            "sender": token(port, world["sender"]),
            "receiver": token(port, world["receiver"]),
        }
        # warm-up: pools filled, caches and lazy imports done in every process
        warm = run_cycles(port, tokens, world["service_id"], options.warm_up, options.threads)
        wait_for_webhooks(sink, warm["accepted_at"], 30)
        idle = idle_cost(groups, env)
        say(f"running cycles with {options.threads} threads for {options.seconds:.0f} s …")
        with measure(groups, env) as (cpu, trips):
            run = run_cycles(port, tokens, world["service_id"], options.seconds, options.threads)
            wait_for_webhooks(sink, run["accepted_at"], 30)
        cost = per_act(cpu, trips, max(1, run["cycles"]), SHARED)
        health = load_with_cost(port, {}, ["/healthz"], 5, 16, groups, env)
    latencies = [
        (sink.first_arrival[referral] - answered) * 1000
        for referral, answered in run["accepted_at"].items()
        if referral in sink.first_arrival
    ]
    rate = run["cycles"] / run["seconds"]
    result = {
        "per_cycle": cost,
        "per_healthz": health["per_request"],
        "idle_per_s": idle,
        "cycles_per_s": round(rate, 1),
        "cycles": run["cycles"],
        "errors": dict(Counter(run["errors"])),
        "steps": {step: summary(values) for step, values in run["timings"].items()},
        "webhook": {
            "delivered": len(latencies),
            "of": len(run["accepted_at"]),
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
        },
        "healthz_per_s": health["requests_per_s"],
    }
    say("")
    say_cost("per cycle", cost)
    say_cost("per /healthz (same run)", health["per_request"])
    say_cost("idle, per second", idle)
    failed = ", ".join(f"{count} x {what}" for what, count in result["errors"].items())
    say(f"cycles: {run['cycles']} in {run['seconds']:.1f} s = {rate:.1f}/s")
    if failed:
        say(f"  errors (step and HTTP status): {failed}")
    for step, figures in result["steps"].items():
        say(f"  {step:<16} p50 {figures['p50_ms']:6.2f} ms   p95 {figures['p95_ms']:6.2f} ms")
    hook = result["webhook"]
    say(
        f"commit → webhook: {hook['delivered']}/{hook['of']} delivered, "
        f"p50 {hook['p50_ms']} ms, p99 {hook['p99_ms']} ms"
    )
    calls = rate * 4
    share = calls / health["requests_per_s"]
    baseline = health["requests_per_s"]
    say(f"/healthz, same stack: {baseline:.0f}/s; {calls:.0f} API calls/s = {share:.2f} of it")
    if latencies:
        say(f"(mean webhook latency {statistics.fmean(latencies):.1f} ms)")
    say(f"written to {write_result('cycle', result)}")


if __name__ == "__main__":
    main()
