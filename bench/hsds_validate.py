"""HSDS export validity at scale: `python bench/hsds_validate.py` (PostgreSQL, one command).

Seeds (once) a bench directory of `--services` services (database `<bench>_10k`, as
`bench/search_scale.py` does), exports every service through the hub's own paged export
(`directory.hsds.export_all`, what `GET /api/v1/hsds/services` serves) in HSDS 3.1 and
3.0, and checks each item against the official schema of its version bundled with the
hub. Prints and records the count, the errors (the first few in full), and the CPU per
exported service of this process (export + validation apart) and of PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_DATABASE, say, write_result
from bench.meter import cpu_seconds
from bench.search import ensure_directory

PAGE = 200


def _backend_pid() -> int:
    from sqlalchemy import text

    from referral_hub.extensions import db

    return int(db.session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def export_and_check(version: str) -> dict[str, Any]:
    from referral_hub.core.actor import SYSTEM
    from referral_hub.directory import hsds

    validator = hsds._validator(version)
    backend = _backend_pid()
    exported = checked = invalid = 0
    export_cpu = check_cpu = 0.0
    errors: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    db_before = cpu_seconds(backend)
    started = time.perf_counter()
    cursor: str | None = None
    while True:
        t0 = time.process_time()
        items, cursor = hsds.export_all(SYSTEM, limit=PAGE, cursor=cursor, version=version)
        t1 = time.process_time()
        for item in items:
            found = list(validator.iter_errors(item))
            invalid += bool(found)
            for error in found:
                key = f"{'/'.join(map(str, error.absolute_path))}: {error.validator}"
                errors[key] += 1
                if len(examples) < 5:
                    examples.append({"id": item.get("id"), "path": key, "message": error.message})
        t2 = time.process_time()
        export_cpu += t1 - t0
        check_cpu += t2 - t1
        exported += len(items)
        checked += len(items)
        if exported % 2_000 < PAGE:
            say(f"  {version}: {exported:,} exported")
        if cursor is None:
            break
    db_cpu = cpu_seconds(backend) - db_before
    return {
        "version": version,
        "services": exported,
        "invalid_items": invalid,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(10)),
        "examples": examples,
        "wall_s": round(time.perf_counter() - started, 1),
        "export_cpu_ms_per_service": round(1000 * export_cpu / max(exported, 1), 3),
        "validate_cpu_ms_per_service": round(1000 * check_cpu / max(checked, 1), 3),
        "postgres_cpu_ms_per_service": round(1000 * db_cpu / max(exported, 1), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE + "_10k")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--versions", default="3.1,3.0")
    options = parser.parse_args()
    import tempfile

    instance = tempfile.mkdtemp(prefix="hub-bench-")
    ensure_directory(options.database, options.services, instance)

    from referral_hub import create_app

    results = []
    with create_app().app_context():
        for version in options.versions.split(","):
            say(f"exporting and validating HSDS {version} …")
            figures = export_and_check(version)
            results.append(figures)
            say(
                f"HSDS {version}: {figures['services']:,} services, {figures['errors']} errors;"
                f" CPU per service: export {figures['export_cpu_ms_per_service']} ms,"
                f" PostgreSQL {figures['postgres_cpu_ms_per_service']} ms,"
                f" validation {figures['validate_cpu_ms_per_service']} ms"
            )
    write_result("hsds_validate", {"database": options.database, "results": results})
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
