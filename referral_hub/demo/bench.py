"""Large synthetic directories for benchmarks (`flask hub seed-bench`).

Written in bulk (one INSERT per batch, no per-row audit event: this is load-test data,
not a record of anyone's work) and announced by a single audit event. Every name says
"Bench" so it is never mistaken for a real network.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select, text

from referral_hub.agencies.models import Agency, AgencyKind
from referral_hub.audit import service as audit
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.directory import geo
from referral_hub.directory.freshness import ttl_for
from referral_hub.directory.models import Capacity, CapacityChange, Service, ServiceLanguage
from referral_hub.directory.vocabulary import (
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
    default_unit,
    mask,
    primary_language,
)
from referral_hub.extensions import db

REGIONS = [(41.88 + 0.9 * (i % 5), -87.63 + 1.1 * (i // 5)) for i in range(20)]
LANGUAGES = ["en", "es", "tl", "vi", "zh", "ht", "uk", "ar", "ru", "fr", "pt", "ko", "so"]
BATCH = 1000
HISTORY_PER_SERVICE = 4


def existing_bench_services() -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Service)
            .join(Agency, Agency.id == Service.agency_id)
            .where(Agency.name.like("Bench %"))
        )
        or 0
    )


def seed(services: int, echo: Callable[[str], None] = print, seed_value: int = 7) -> int:
    """Add `services` synthetic services (and their capacity and history); returns the count."""
    rng = random.Random(seed_value)  # noqa: S311 - synthetic data
    now = clock.now()
    config = current_app.config
    start = existing_bench_services()
    agencies = _agencies(max(1, services // 25), start, rng)
    made = 0
    while made < services:
        size = min(BATCH, services - made)
        rows, capacity, history, languages = [], [], [], []
        for _ in range(size):
            row, cap, changes, langs = _service(rng, agencies, now, config)
            rows.append(row)
            capacity.append(cap)
            history.extend(changes)
            languages.extend(langs)
        db.session.execute(insert(Service), rows)
        db.session.execute(insert(Capacity), capacity)
        db.session.execute(insert(CapacityChange), history)
        db.session.execute(insert(ServiceLanguage), languages)
        made += size
        rows_so_far = made * (1 + HISTORY_PER_SERVICE)
        echo(f"  services {made:,}/{services:,} (capacity rows so far: {rows_so_far:,})")
    audit.record(SYSTEM, "bench.seeded", details={"services": services, "agencies": len(agencies)})
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))  # fresh statistics, or the planner guesses
    return made


def _agencies(count: int, offset: int, rng: random.Random) -> list[uuid.UUID]:
    kinds = [kind for kind in AgencyKind if kind != AgencyKind.LAW_ENFORCEMENT]
    ids = []
    rows = []
    for index in range(count):
        agency_id = uuid.uuid4()
        ids.append(agency_id)
        rows.append(
            {
                "id": agency_id,
                "name": f"Bench Agency {offset + index + 1:05d}-{agency_id.hex[:6]}",
                "kind": rng.choice(kinds),
                "is_victim_service_provider": rng.random() < 0.3,
                "status": "suspended" if rng.random() < 0.02 else "active",
                "response_minutes": rng.choice([None, 5.0, 20.0, 60.0, 240.0, 1440.0]),
                "created_at": clock.now(),
                "updated_at": clock.now(),
            }
        )
    db.session.execute(insert(Agency), rows)
    return ids


def _service(
    rng: random.Random, agencies: list[uuid.UUID], now: Any, config: Any
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    service_id = uuid.uuid4()
    category = rng.choice(list(Category))
    centre = rng.choice(REGIONS)
    lat, lon = centre[0] + rng.gauss(0, 0.25), centre[1] + rng.gauss(0, 0.3)
    confidential = (
        category in (Category.EMERGENCY_SHELTER, Category.TRANSITIONAL_HOUSING)
        and rng.random() < 0.7
    )
    search_lat, search_lon = geo.coarse(lat, lon) if confidential else (lat, lon)
    youth = rng.random() < 0.15
    languages = sorted({"en", *rng.sample(LANGUAGES, k=rng.randint(0, 3))})
    row = {
        "id": service_id,
        "agency_id": rng.choice(agencies),
        "name": f"Bench {category.value.replace('_', ' ')} {service_id.hex[:8]}",
        "category": category,
        "status": ServiceStatus.ACTIVE if rng.random() < 0.95 else ServiceStatus.INACTIVE,
        "min_age": 12 if youth else rng.choice([None, 18, 18, 21]),
        "max_age": 24 if youth else None,
        "genders_mask": rng.choice(
            [0, 0, 0, mask(["female", "transgender"], GENDERS), mask(["male"], GENDERS)]
        ),
        "populations_mask": mask(rng.sample(POPULATIONS, k=rng.randint(0, 3)), POPULATIONS),
        "trafficking_mask": mask(
            rng.sample(TRAFFICKING_TYPES, k=rng.randint(0, 2)), TRAFFICKING_TYPES
        ),
        "languages": languages,
        "accessibility": [],
        "no_police_report_needed": rng.random() < 0.8,
        "no_id_needed": rng.random() < 0.5,
        "accepts_children": rng.random() < 0.3,
        "city": f"Town {rng.randint(1, 400)}",
        "region": "Bench County",
        "confidential": confidential,
        "search_lat": search_lat,
        "search_lon": search_lon,
        "created_at": now,
        "updated_at": now,
    }
    ttl = ttl_for(category, config["CAPACITY_TTL_BED_HOURS"], config["CAPACITY_TTL_OTHER_HOURS"])
    total = rng.randint(1, 40)
    available = rng.randint(0, total)
    age = rng.choice([None, 0.1, 0.2, 0.5, 0.9, 1.5])  # fraction of the TTL; None: never set
    updated = None if age is None else now - ttl * age
    capacity = {
        "service_id": service_id,
        "unit": default_unit(category),
        "total": total,
        "available": available,
        "held": 0,
        "updated_at": updated,
        "aging_at": None if updated is None else updated + ttl / 4,
        "stale_at": None if updated is None else updated + ttl,
        "listed": row["status"] == ServiceStatus.ACTIVE,
        "category": category,
        "agency_id": row["agency_id"],
        "search_lat": search_lat,
        "search_lon": search_lon,
        "min_age": row["min_age"],
        "max_age": row["max_age"],
        "genders_mask": row["genders_mask"],
        "populations_mask": row["populations_mask"],
    }
    history = [
        {
            "id": uuid.uuid4(),
            "service_id": service_id,
            "at": (updated or now) - timedelta(hours=6 * step),
            "kind": "set",
            "total": total,
            "available": max(0, available - step),
            "held": 0,
        }
        for step in range(HISTORY_PER_SERVICE)
    ]
    langs = [
        {"service_id": service_id, "language": code}
        for code in sorted({primary_language(t) for t in languages})
    ]
    return row, capacity, history, langs
