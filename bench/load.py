"""Mixed load run: `python bench/load.py` (PostgreSQL + Redis, one command).

Its first figure is CPU milliseconds and round trips per request of the mix, in every
process (bench/meter.py).

A fixed-length run of what agencies do all day — 80 % searches and reads, the rest
capacity updates and referral moves (send, accept, decline, withdraw, arrival) — from
several client threads against gunicorn (2 workers) with one rq worker delivering
webhooks to a receiver on loopback. Prints throughput, p95 per kind and every non-2xx
answer; then checks what must hold afterwards and exits non-zero if anything does not:

- no 5xx;
- capacity: never negative, and the units held equal the referrals holding one;
- the audit chain verifies (chain, head, signed checkpoints);
- every referral of the run has one audit event per move, one webhook outbox row per
  event, every row delivered and received exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
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
    measure,
    rq_worker,
    say,
    say_cost,
    served,
    summary,
    write_result,
)
from bench.cycle import token
from bench.meter import per_act
from bench.search import ensure_directory

# kind of request → share of the mix
MIX = {
    "search": 45,
    "read service": 15,
    "read referral": 10,
    "list referrals": 10,
    "capacity update": 8,
    "referral moves": 12,
}


def setup(sink_url: str) -> dict[str, Any]:
    """A sender, a shelter with a bed service and a counselling service, two API clients,
    and the shelter subscribed to every referral event."""
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
    from referral_hub.notifications.webhooks import EVENTS, subscribe

    app = create_app()
    with app.app_context():
        with transaction():
            stamp = str(time.time_ns())
            sender = create_agency(SYSTEM, name=f"Load Sender {stamp}", kind=AgencyKind.HOTLINE)
            shelter = create_agency(SYSTEM, name=f"Load Shelter {stamp}", kind=AgencyKind.SHELTER)
            beds = directory.create_service(
                SYSTEM, agency_id=shelter.id, category=Category.EMERGENCY_SHELTER, name="Beds"
            )
            set_capacity(SYSTEM, beds.id, total=1_000_000, available=1_000_000)
            counsel = directory.create_service(
                SYSTEM, agency_id=shelter.id, category=Category.LEGAL_ADVOCACY, name="Counsel"
            )
            set_capacity(SYSTEM, counsel.id, total=20, available=10)
            sender_client, sender_secret = create_api_client(
                SYSTEM,
                agency_id=sender.id,
                name="load",
                scopes=["clients:write", "referrals:write", "referrals:read", "directory:read"],
            )
            shelter_client, shelter_secret = create_api_client(
                SYSTEM,
                agency_id=shelter.id,
                name="load",
                scopes=["referrals:write", "referrals:read", "capacity:write", "directory:read"],
            )
            admin = Actor(ActorKind.USER, "load", shelter.id, frozenset({"agency_admin"}))
            subscribe(admin, url=sink_url, events=list(EVENTS))
            world = {
                "beds": str(beds.id),
                "counsel": str(counsel.id),
                "sender": (sender_client.client_id, sender_secret),
                "shelter": (shelter_client.client_id, shelter_secret),
            }
        db.engine.dispose()
    return world


def run_mix(
    port: int, tokens: dict[str, str], world: dict[str, Any], seconds: float, threads: int
) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    timings: dict[str, list[float]] = {kind: [] for kind in MIX}
    statuses: Counter[str] = Counter()
    referrals: list[str] = []
    lock = threading.Lock()
    kinds, weights = list(MIX), list(MIX.values())

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        json_type = {"Content-Type": "application/json"}
        as_sender = Client(port, {"Authorization": f"Bearer {tokens['sender']}", **json_type})
        as_shelter = Client(port, {"Authorization": f"Bearer {tokens['shelter']}", **json_type})

        def call(
            kind: str, who: Client, method: str, path: str, body: Any = None
        ) -> tuple[int, bytes]:
            data = json.dumps(body).encode() if body is not None else None
            status, elapsed, answer = who.request(method, path, data)
            with lock:
                timings[kind].append(elapsed)
                statuses[f"{kind} {status}"] += 1
            return status, answer

        def referral_moves() -> None:
            status, answer = call(
                "referral moves",
                as_sender,
                "POST",
                "/api/v1/clients",
                {"profile": {"language": "es"}},
            )
            if status != 201:
                return
            body = {
                "client_id": json.loads(answer)["id"],
                "service_id": world["beds"],
                "urgency": rng.choice(["emergency", "urgent", "routine"]),
                "data_categories": ["profile"],
            }
            status, answer = call("referral moves", as_sender, "POST", "/api/v1/referrals", body)
            if status != 201:
                return
            referral = json.loads(answer)["id"]
            with lock:
                referrals.append(referral)
            path = f"/api/v1/referrals/{referral}"
            ending = rng.random()
            if ending < 0.5:
                if (
                    call("referral moves", as_shelter, "POST", path + "/accept", {})[0] == 200
                    and rng.random() < 0.7
                ):
                    call("referral moves", as_shelter, "POST", path + "/confirm-arrival", {})
            elif ending < 0.75:
                call(
                    "referral moves",
                    as_shelter,
                    "POST",
                    path + "/decline",
                    {"reason": "no_capacity"},
                )
            elif ending < 0.9:
                call(
                    "referral moves",
                    as_sender,
                    "POST",
                    path + "/withdraw",
                    {"reason": "client moved on"},
                )
            # else: left open, as some are

        while time.monotonic() < stop:
            kind = rng.choices(kinds, weights)[0]
            if kind == "search":
                call(
                    kind,
                    as_sender,
                    "GET",
                    "/api/v1/search?category=emergency_shelter&available=true",
                )
            elif kind == "read service":
                call(kind, as_sender, "GET", f"/api/v1/services/{world['beds']}")
            elif kind == "read referral":
                with lock:
                    known = rng.choice(referrals) if referrals else None
                if known:
                    call(kind, as_sender, "GET", f"/api/v1/referrals/{known}")
            elif kind == "list referrals":
                call(kind, as_shelter, "GET", "/api/v1/referrals?limit=20")
            elif kind == "capacity update":
                free = rng.randint(0, 20)
                call(
                    kind,
                    as_shelter,
                    "PUT",
                    f"/api/v1/services/{world['counsel']}/capacity",
                    {"total": 20, "available": free},
                )
            else:
                referral_moves()

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {
        "seconds": time.monotonic() - started,
        "timings": timings,
        "statuses": statuses,
        "referrals": referrals,
    }


def invariants(
    world: dict[str, Any], referrals: list[str], sink: WebhookReceiver, wait: float
) -> list[str]:
    """What must hold after the run, read from the database; a list of what does not."""
    import uuid

    from sqlalchemy import func, select

    from referral_hub import create_app
    from referral_hub.audit import verification
    from referral_hub.audit.models import AuditEvent
    from referral_hub.directory.models import Capacity
    from referral_hub.extensions import db
    from referral_hub.jobs.models import OutboxMessage, OutboxStatus
    from referral_hub.notifications.webhooks import EVENTS
    from referral_hub.referrals.models import Referral

    problems: list[str] = []
    app = create_app()
    with app.app_context():
        ids = [str(r) for r in referrals]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:  # let the worker finish the last deliveries
            pending = db.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.kind == "webhook",
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.payload["referral_id"].as_string().in_(ids),
                )
            )
            db.session.rollback()
            if not pending:
                break
            time.sleep(0.5)
        for service in (world["beds"], world["counsel"]):
            row = db.session.get(Capacity, uuid.UUID(service))
            if row is None or row.available < 0 or row.held < 0:
                problems.append(f"capacity of {service} is {row and (row.available, row.held)}")
        holding = db.session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(Referral.service_id == uuid.UUID(world["beds"]), Referral.holds_unit.is_(True))
        )
        beds = db.session.get(Capacity, uuid.UUID(world["beds"]))
        if beds is not None and beds.held != holding:
            problems.append(f"beds hold {beds.held} units for {holding} referrals holding one")
        events: Counter[tuple[str, str]] = Counter(
            (subject, action)
            for subject, action in db.session.execute(
                select(AuditEvent.subject_id, AuditEvent.action).where(
                    AuditEvent.subject_id.in_(ids), AuditEvent.action.like("referral.%")
                )
            )
        )
        rows = db.session.execute(
            select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.status).where(
                OutboxMessage.kind == "webhook",
                OutboxMessage.payload["referral_id"].as_string().in_(ids),
            )
        ).all()
        announced: Counter[tuple[str, str]] = Counter(
            (payload["referral_id"], payload["event"]) for _, payload, _ in rows
        )
        moves = {key: n for key, n in events.items() if key[1] in EVENTS}
        if moves != dict(announced):
            missing = set(moves) ^ set(announced)
            problems.append(f"audit events and webhook rows differ for {len(missing)} moves")
        if not all(ref in {s for s, _ in events} for ref in ids):
            problems.append("a referral of the run has no audit event")
        undelivered = [str(i) for i, _, status in rows if status != OutboxStatus.DELIVERED]
        if undelivered:
            problems.append(f"{len(undelivered)} webhook rows not delivered")
        twice = [i for i, n in sink.received.items() if n > 1]
        lost = [str(i) for i, _, _ in rows if str(i) not in sink.received]
        if twice or lost:
            problems.append(f"webhooks: {len(twice)} received twice, {len(lost)} never received")
        report, _how = verification.verify_stored(full=True)
        if not report.ok:
            problems.append(
                f"audit chain: {report.verification.reason} at {report.verification.first_bad_seq}"
            )
        db.session.rollback()
        db.engine.dispose()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=12)
    options = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    ensure_directory(options.database_url, 1_000, instance)
    env = bench_environment(options.database_url, instance)
    sink = WebhookReceiver()
    world = setup(sink.url)
    with rq_worker(env) as worker, served(env, workers=2) as (port, web_pid):
        groups = hub_processes(options.database_url, web_pid, worker.pid)
        tokens = {
            "sender": token(port, world["sender"]),
            "shelter": token(port, world["shelter"]),
        }
        say(f"mixed load, {options.threads} threads for {options.seconds:.0f} s …")
        with measure(groups, env) as (cpu, trips):
            run = run_mix(port, tokens, world, options.seconds, options.threads)
        say("checking invariants …")
        problems = invariants(world, run["referrals"], sink, wait=30)
    total = sum(len(values) for values in run["timings"].values())
    server_errors = {
        k: n for k, n in run["statuses"].items() if k.rsplit(" ", 1)[1].startswith("5")
    }
    if server_errors:
        problems.append(f"5xx answers: {server_errors}")
    others = {k: n for k, n in run["statuses"].items() if not k.rsplit(" ", 1)[1].startswith("2")}
    result = {
        "per_request": per_act(cpu, trips, max(1, total), SHARED),
        "requests": total,
        "requests_per_s": round(total / run["seconds"], 1),
        "referrals": len(run["referrals"]),
        "kinds": {kind: summary(values) for kind, values in run["timings"].items()},
        "non_2xx": others,
        "problems": problems,
    }
    say("")
    rate, count = result["requests_per_s"], len(run["referrals"])
    say_cost("per request of the mix", result["per_request"])
    say(f"{total:,} requests in {run['seconds']:.1f} s = {rate}/s; {count} referrals")
    for kind, figures in result["kinds"].items():
        p50, p95 = figures["p50_ms"], figures["p95_ms"]
        say(f"  {kind:<16} n {figures['n']:>6}  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
    say(f"answers other than 2xx: {others or 'none'}")
    say("invariants: " + ("all hold" if not problems else "BROKEN — " + "; ".join(problems)))
    say(f"written to {write_result('load', result)}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
