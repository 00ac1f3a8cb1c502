"""Audit benchmark: `python bench/audit.py` (PostgreSQL, one command).

1. Append overhead: the same state change (a provider sets a service's capacity through
   the API, in-process) with its audit event and with the audit call switched off, in
   the same run; prints the per-request cost of each and the
   overhead (target ≤ 15 %).
2. Offline verification: a 1,000,000-event export (synthetic, chained and checkpointed
   as the hub does it) checked by the offline verifier; prints events per second against
   re-hashing the same stored bytes with nothing else (the floor), measured in this run
   (target ≥ 200,000 events/s).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATABASE, say, write_result
from bench.search import ensure_directory


def append_overhead(requests: int) -> dict[str, Any]:
    from referral_hub import create_app
    from referral_hub.agencies.models import AgencyKind
    from referral_hub.agencies.service import create_agency
    from referral_hub.audit import service as audit
    from referral_hub.auth.service import create_api_client
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory import service as directory
    from referral_hub.directory.vocabulary import Category

    app = create_app()
    with app.app_context(), transaction():
        shelter = create_agency(
            SYSTEM, name=f"Audit bench {time.time_ns()}", kind=AgencyKind.SHELTER
        )
        service = directory.create_service(
            SYSTEM, agency_id=shelter.id, category=Category.EMERGENCY_SHELTER, name="Beds"
        )
        api_client, secret = create_api_client(
            SYSTEM, agency_id=shelter.id, name="bench", scopes=["capacity:write"]
        )
        service_id, client_id = str(service.id), api_client.client_id
    web = app.test_client()
    issued = web.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "capacity:write"},
        auth=(client_id, secret),
    )
    headers = {"Authorization": f"Bearer {issued.get_json()['access_token']}"}
    path = f"/api/v1/services/{service_id}/capacity"
    real_record = audit.record

    def no_record(*args: Any, **kwargs: Any) -> None:
        return None

    def timed_put(available: int, audited: bool) -> float:
        audit.record = real_record if audited else no_record  # type: ignore[assignment]
        started = time.perf_counter()
        response = web.put(path, json={"total": 50, "available": available}, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"capacity update failed: {response.status_code} {response.data!r}")
        return elapsed

    with_event: list[float] = []
    without_event: list[float] = []
    try:
        for index in range(200):  # warm up both paths
            timed_put(index % 50, index % 2 == 0)
        # alternate request by request, so drift (caches, autovacuum, the OS) hits both alike
        for index in range(requests):
            if index and index % 1000 == 0:
                say(f"  … {index:,} / {requests:,} pairs")
            with_event.append(timed_put(index % 50, True))
            without_event.append(timed_put((index + 25) % 50, False))
    finally:
        audit.record = real_record  # type: ignore[assignment]
    median_with = statistics.median(with_event)
    median_without = statistics.median(without_event)
    return {
        "requests_each": len(with_event),
        "with_event_p50_ms": round(median_with, 3),
        "without_event_p50_ms": round(median_without, 3),
        "with_event_mean_ms": round(statistics.fmean(with_event), 3),
        "without_event_mean_ms": round(statistics.fmean(without_event), 3),
        "overhead_p50": round(median_with / median_without - 1, 4),
    }


def verification_speed(events: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from referral_hub.audit import sample, signing
    from referral_hub.audit.verify import verify_file

    key = Ed25519PrivateKey.generate()
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    export = folder / "export.jsonl"
    say(f"writing a {events:,}-event export …")
    sample.write(export, events, key, progress=lambda n: say(f"  … {n:,}"))
    say(f"  {export.stat().st_size / 1e6:,.0f} MB")

    say("floor: re-hashing the stored bytes (leaf and chain per event, nothing else) …")
    started = time.perf_counter()
    previous = b"\0" * 32
    with export.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"leaf"'):
                leaf = hashlib.sha256(b"\x00" + line[158:-2]).digest()
                previous = hashlib.sha256(previous + leaf).digest()
    floor_seconds = time.perf_counter() - started

    say("the offline verifier …")
    started = time.perf_counter()
    keys = {signing.key_id(key.public_key()): key.public_key()}
    report = verify_file(export, keys, progress=lambda n: say(f"  … {n:,}"))
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the sample export did not verify: {report.as_dict()}")
    export.unlink()
    folder.rmdir()
    return {
        "events": events,
        "checkpoints": report.checkpoints_checked,
        "verify_seconds": round(seconds, 2),
        "verify_events_per_s": round(events / seconds),
        "floor_events_per_s": round(events / floor_seconds),
        "verify_over_floor": round(floor_seconds / seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests of each kind")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the export")
    options = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="bench-instance-")
    ensure_directory(options.database_url, 0, instance)
    say("append overhead: capacity updates with and without their audit event …")
    overhead = append_overhead(options.requests)
    speed = verification_speed(options.events)

    say("")
    say(
        f"state change with its event:    p50 {overhead['with_event_p50_ms']:.2f} ms"
        f"  (mean {overhead['with_event_mean_ms']:.2f})"
    )
    say(
        f"same change, audit call off:    p50 {overhead['without_event_p50_ms']:.2f} ms"
        f"  (mean {overhead['without_event_mean_ms']:.2f})"
    )
    say(f"audit append overhead:          {overhead['overhead_p50']:+.1%}   (target ≤ 15 %)")
    say(
        f"offline verification:           {speed['verify_events_per_s']:,} events/s over "
        f"{speed['events']:,} events, {speed['checkpoints']:,} signed checkpoints "
        f"(target ≥ 200,000)"
    )
    say(
        f"re-hashing the same bytes only: {speed['floor_events_per_s']:,} events/s "
        f"→ verifier at {speed['verify_over_floor']:.2f} of the floor"
    )
    say(f"written to {write_result('audit', {'append': overhead, 'verify': speed})}")


if __name__ == "__main__":
    main()
