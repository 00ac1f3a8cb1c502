"""Audit benchmark: `python bench/audit.py` (PostgreSQL, one command). CPU per act first.

CPU is read from /proc for every process involved: this one (the app runs in-process,
through Flask's test client) and every PostgreSQL backend serving the bench database.
Statements are counted as the app sends them. Wall times come second: on a shared
machine they measure the neighbours as much as the hub.

1. Append overhead: the same state change (a provider sets a service's capacity through
   the API) with its audit event and with the audit call switched off, alternating in
   blocks; CPU and statements per request of each (target ≤ 10 %).
2. Online check: the chain is brought to 1,000,000 events (bulk-loaded, hashed and
   checkpointed as the hub does it), checked once in full (what every check cost before
   checks resumed from the last verified point), then, five times, 1,000 events are
   appended through `audit.record` and `GET /api/v1/audit/verify` is timed
   (target ≤ 100 ms CPU).
3. Offline verification: a 1,000,000-event export through the offline verifier in one
   process and in segments on two, beside re-hashing the same bytes and nothing else,
   in the same run (target ≥ 400,000 events/s on 2 cores).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATABASE, say, write_result
from bench.search import ensure_directory

TICK = os.sysconf("SC_CLK_TCK")
# a fixed key, so a chain built by an earlier run still verifies
BENCH_SIGNING_KEY = base64.b64encode(hashlib.sha256(b"bench audit key").digest()).decode()


# --- measuring --------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system seconds of one process, from /proc (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class Meter:
    """CPU of this process and of the database's backends, and the statements sent."""

    def __init__(self) -> None:
        from sqlalchemy import event

        from referral_hub.extensions import db

        self.statements = 0
        event.listen(db.engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    @staticmethod
    def backends() -> list[int]:
        from sqlalchemy import text

        from referral_hub.extensions import db

        with db.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
            return [int(row.pid) for row in rows]

    @contextmanager
    def measure(self, into: dict[str, float]) -> Iterator[None]:
        pids = self.backends()
        database_before = sum(process_cpu(pid) for pid in pids)
        statements, own, wall = self.statements, time.process_time(), time.perf_counter()
        yield
        into["wall_s"] = into.get("wall_s", 0) + time.perf_counter() - wall
        into["app_cpu_s"] = into.get("app_cpu_s", 0) + time.process_time() - own
        into["statements"] = into.get("statements", 0) + self.statements - statements
        pids = sorted(set(pids) | set(self.backends()))
        database = sum(process_cpu(pid) for pid in pids) - database_before
        into["db_cpu_s"] = into.get("db_cpu_s", 0) + database


def per_act(totals: dict[str, float], acts: int) -> dict[str, float]:
    cpu = totals["app_cpu_s"] + totals["db_cpu_s"]
    return {
        "acts": acts,
        "cpu_ms": round(cpu * 1000 / acts, 3),
        "app_cpu_ms": round(totals["app_cpu_s"] * 1000 / acts, 3),
        "db_cpu_ms": round(totals["db_cpu_s"] * 1000 / acts, 3),
        "statements": round(totals["statements"] / acts, 2),
        "wall_ms": round(totals["wall_s"] * 1000 / acts, 3),
    }


# --- the app, a shelter and a coordinator system ----------------------------------------------


def make_app() -> Any:
    os.environ["REFERRAL_HUB_AUDIT_SIGNING_KEY"] = BENCH_SIGNING_KEY
    from referral_hub import create_app

    return create_app()


def bearer(app: Any, scope: str) -> tuple[dict[str, str], str]:
    """A token for a new agency's system with `scope`, and one of that agency's services."""
    from referral_hub.agencies.models import AgencyKind
    from referral_hub.agencies.service import create_agency
    from referral_hub.auth.service import create_api_client
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory import service as directory
    from referral_hub.directory.vocabulary import Category

    with app.app_context(), transaction():
        shelter = create_agency(
            SYSTEM, name=f"Audit bench {time.time_ns()}", kind=AgencyKind.SHELTER
        )
        service = directory.create_service(
            SYSTEM, agency_id=shelter.id, category=Category.EMERGENCY_SHELTER, name="Beds"
        )
        api_client, secret = create_api_client(
            SYSTEM, agency_id=shelter.id, name="bench", scopes=[scope]
        )
        service_id, client_id = str(service.id), api_client.client_id
    issued = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )
    return {"Authorization": f"Bearer {issued.get_json()['access_token']}"}, service_id


# --- 1. append overhead -----------------------------------------------------------------------


def append_overhead(app: Any, requests: int, block: int = 100) -> dict[str, Any]:
    from referral_hub.audit import service as audit

    headers, service_id = bearer(app, "capacity:write")
    web = app.test_client()
    path = f"/api/v1/services/{service_id}/capacity"
    real_record = audit.record

    def no_record(*args: Any, **kwargs: Any) -> None:
        return None

    def put(available: int) -> None:
        response = web.put(path, json={"total": 50, "available": available}, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"capacity update failed: {response.status_code} {response.data!r}")

    audited: dict[str, float] = {}
    unaudited: dict[str, float] = {}
    with app.app_context():
        meter = Meter()
    try:
        for index in range(200):  # warm up both paths
            audit.record = real_record if index % 2 else no_record  # type: ignore[assignment]
            put(index % 50)
        # alternate block by block, so drift (caches, autovacuum, neighbours) hits both alike
        for start in range(0, requests, block):
            for audited_now, totals in ((True, audited), (False, unaudited)):
                audit.record = real_record if audited_now else no_record  # type: ignore[assignment]
                with app.app_context(), meter.measure(totals):
                    for index in range(block):
                        put((start + index + (0 if audited_now else 25)) % 50)
    finally:
        audit.record = real_record  # type: ignore[assignment]
    rounds = (requests + block - 1) // block * block
    with_event, without_event = per_act(audited, rounds), per_act(unaudited, rounds)
    return {
        "with_event": with_event,
        "without_event": without_event,
        "overhead_cpu": round(with_event["cpu_ms"] / without_event["cpu_ms"] - 1, 4),
    }


# --- 2. the online check on a long chain ------------------------------------------------------

ACTIONS = ("referral.sent", "referral.accepted", "client.pii_viewed", "capacity.updated")


def grow_chain(app: Any, target: int, every: int = 1000) -> None:
    """Bring the stored chain to `target` events: hashed by the hub's own code, copied in
    bulk, a signed checkpoint every `every` events, the head moved to the end."""
    from psycopg.types.json import Jsonb

    from referral_hub.audit import checkpoints, signing
    from referral_hub.audit import service as audit
    from referral_hub.audit.chain import chain_hash, leaf_hash
    from referral_hub.audit.models import AuditEvent
    from referral_hub.extensions import db

    with app.app_context():
        seq, chain = audit.head()
        if seq >= target:
            say(f"chain present: {seq:,} events")
            return
        key = checkpoints.signing_key()
        assert key is not None
        public = key.public_key()
        say(f"growing the chain from {seq:,} to {target:,} events …")
        columns = [column.key for column in AuditEvent.__table__.columns]
        json_columns = {"actor_roles", "fields", "details"}
        start = datetime(2026, 1, 1, tzinfo=UTC)
        raw = db.engine.raw_connection()
        try:
            connection = raw.driver_connection
            cursor = connection.cursor()  # type: ignore[union-attr]
            cursor.execute(
                "INSERT INTO audit_signing_key (key_id, public_key, first_used_at)"
                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (signing.key_id(public), signing.raw_public_b64(public), start),
            )
            signed: list[tuple[Any, ...]] = []
            with cursor.copy(f"COPY audit_event ({', '.join(columns)}) FROM STDIN") as copy:
                while seq < target:
                    seq += 1
                    event = AuditEvent(
                        seq=seq,
                        event_id=uuid.uuid4(),
                        at=start + timedelta(seconds=seq),
                        actor_type="user",
                        actor_id=str(uuid.uuid4()),
                        actor_agency_id=uuid.uuid4(),
                        actor_roles=["intake"],
                        action=ACTIONS[seq % len(ACTIONS)],
                        outcome="success",
                        subject_type="referral",
                        subject_id=str(uuid.uuid4()),
                        client_reference=f"C-{seq % 10_000:04d}-BNCH",
                        request_id=uuid.uuid4().hex,
                        fields=["status"],
                        consent_id=None,
                        details={"from": "sent", "to": "accepted"},
                        prev_hash=chain,
                    )
                    event.leaf_hash = leaf_hash(event.document())
                    event.chain_hash = chain = chain_hash(chain, event.leaf_hash)
                    copy.write_row(
                        [
                            Jsonb(getattr(event, c)) if c in json_columns else getattr(event, c)
                            for c in columns
                        ]
                    )
                    if seq % every == 0 or seq == target:
                        at = start + timedelta(seconds=seq, milliseconds=1)
                        document = signing.sign_checkpoint(
                            key, seq, chain, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                        )
                        signed.append((seq, chain, at, document["key_id"], document["signature"]))
                    if seq % 100_000 == 0:
                        say(f"  … {seq:,}")
            cursor.executemany(
                "INSERT INTO audit_checkpoint (seq, chain_hash, at, key_id, signature)"
                " VALUES (%s, %s, %s, %s, %s)",
                signed,
            )
            # the head only moves one event at a time (its trigger): a bulk load steps past it
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "UPDATE audit_head SET seq = %s, chain_hash = %s WHERE id = 1", (seq, chain)
            )
            connection.commit()  # type: ignore[union-attr]
        finally:
            raw.close()
        with db.engine.connect() as analyse:
            analyse.exec_driver_sql("ANALYZE audit_event")
            analyse.commit()


def append_events(app: Any, count: int, per_transaction: int = 10) -> None:
    from referral_hub.audit import service as audit
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction

    with app.app_context():
        for start in range(0, count, per_transaction):
            with transaction():
                for index in range(start, min(count, start + per_transaction)):
                    audit.record(SYSTEM, "bench.happened", ("thing", str(index)))


def online_check(app: Any, events: int, rounds: int, new_events: int) -> dict[str, Any]:
    grow_chain(app, events)
    headers, _ = bearer(app, "audit:read")
    web = app.test_client()
    with app.app_context():
        meter = Meter()

    def check(full: bool) -> dict[str, Any]:
        totals: dict[str, float] = {}
        with app.app_context(), meter.measure(totals):
            response = web.get(
                "/api/v1/audit/verify",
                query_string={"full": "true"} if full else {},
                headers=headers,
            )
        report = response.get_json()
        if response.status_code != 200 or not report["ok"]:
            raise SystemExit(f"the check failed: {response.status_code} {report}")
        return {**per_act(totals, 1), "events_checked": report["events_checked"]}

    say(f"the full check (every event, as each check did before) on {events:,} events …")
    full = check(True)
    say(f"  {full['cpu_ms'] / 1000:,.1f} s CPU, {full['events_checked']:,} events")
    incremental = []
    for round_ in range(rounds):
        append_events(app, new_events)
        incremental.append(check(False))
        say(f"  round {round_ + 1}: {incremental[-1]}")
    return {
        "chain_events": events,
        "new_events_per_round": new_events,
        "full": full,
        "incremental": incremental,
        "incremental_cpu_ms_median": statistics.median(r["cpu_ms"] for r in incremental),
        "incremental_statements_median": statistics.median(r["statements"] for r in incremental),
    }


# --- 3. offline verification ------------------------------------------------------------------


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """The result, wall seconds, and CPU seconds of this process and its (reaped) children."""
    cpu, wall = time.process_time() + children_cpu(), time.perf_counter()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() + children_cpu() - cpu


def verification_speed(events: int, processes: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from referral_hub.audit import sample, signing
    from referral_hub.audit.verify import verify_file

    key = Ed25519PrivateKey.generate()
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    export = folder / "export.jsonl"
    say(f"writing a {events:,}-event export …")
    sample.write(export, events, key, progress=lambda n: say(f"  … {n:,}"))
    say(f"  {export.stat().st_size / 1e6:,.0f} MB")

    def rehash_only() -> None:
        previous = b"\0" * 32
        with export.open("rb") as lines:
            for line in lines:
                if line.startswith(b'{"leaf"'):
                    leaf = hashlib.sha256(b"\x00" + line[158:-2]).digest()
                    previous = hashlib.sha256(previous + leaf).digest()

    keys = {signing.key_id(key.public_key()): key.public_key()}
    result: dict[str, Any] = {"events": events, "processes": processes}
    say("floor: re-hashing the stored bytes (leaf and chain per event, nothing else) …")
    _, wall, cpu = timed(rehash_only)
    result["floor"] = {"events_per_s": round(events / wall), "cpu_us_per_event": cpu / events * 1e6}
    for name, count in (("one_process", 1), ("segments", processes)):
        say(f"the offline verifier, {count} process(es) …")
        report, wall, cpu = timed(lambda n=count: verify_file(export, keys, processes=n))
        if not report.ok:
            raise SystemExit(f"the sample export did not verify: {report.as_dict()}")
        result[name] = {
            "wall_s": round(wall, 2),
            "events_per_s": round(events / wall),
            "cpu_us_per_event": round(cpu / events * 1e6, 3),
            "checkpoints": report.checkpoints_checked,
        }
    result["floor"]["cpu_us_per_event"] = round(result["floor"]["cpu_us_per_event"], 3)
    export.unlink()
    folder.rmdir()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind")
    parser.add_argument("--chain", type=int, default=1_000_000, help="events in the stored chain")
    parser.add_argument("--new-events", type=int, default=1000, help="events between checks")
    parser.add_argument("--rounds", type=int, default=5, help="incremental checks")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the export")
    parser.add_argument("--processes", type=int, default=2, help="for the offline verifier")
    parser.add_argument("--only", choices=["append", "online", "offline"], help="one part")
    options = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    results: dict[str, Any] = {}
    if options.only in (None, "append", "online"):
        ensure_directory(options.database_url, 0, instance)
        app = make_app()
    if options.only in (None, "append"):
        say("append overhead: capacity updates with and without their audit event …")
        results["append"] = append_overhead(app, options.requests)
        a = results["append"]
        say(f"  with its event:  {a['with_event']}")
        say(f"  audit call off:  {a['without_event']}")
        say(f"  overhead (CPU, all processes): {a['overhead_cpu']:+.1%}   (target ≤ 10 %)")
    if options.only in (None, "online"):
        results["online"] = online_check(app, options.chain, options.rounds, options.new_events)
        o = results["online"]
        say(
            f"online check, full: {o['full']['cpu_ms']:,.0f} ms CPU,"
            f" {o['full']['statements']:,.0f} statements; after {options.new_events:,} new"
            f" events: {o['incremental_cpu_ms_median']:.1f} ms CPU (median),"
            f" {o['incremental_statements_median']:.0f} statements   (target ≤ 100 ms)"
        )
    if options.only in (None, "offline"):
        results["offline"] = verification_speed(options.events, options.processes)
        v = results["offline"]
        say(
            f"offline: one process {v['one_process']['events_per_s']:,}/s,"
            f" {v['processes']} processes {v['segments']['events_per_s']:,}/s"
            f" (target ≥ 400,000), re-hash only {v['floor']['events_per_s']:,}/s;"
            f" CPU µs/event {v['one_process']['cpu_us_per_event']}"
            f" / {v['segments']['cpu_us_per_event']} / {v['floor']['cpu_us_per_event']}"
        )
    say(f"written to {write_result('audit', results)}")


if __name__ == "__main__":
    main()
