"""The demo's family shelters and its night: the commonest 11 pm case, and every search
filter shown passing and just missing.

The random network of `referral_hub.demo` had no emergency shelter that takes a mother
with children, so "shelter + foreign national + with children + Spanish" found nothing.
Here, written out by hand (no random draw, the same every run):

- a family shelter that takes mothers with children and foreign nationals, speaks Spanish,
  takes intake all night and has one bed left;
- beside it, family shelters that each differ from it in one thing only, so that the
  search `REFERENCE` (everything asked at once) finds the first and shows each of the
  others as a near miss failing exactly one filter — full, ages 18 to 24, fathers only,
  English only, needs ID, needs a police report, labour trafficking only, no wheelchair
  access, foreign nationals not listed, children not taken, beyond the radius;
- an immigration clinic that answers the phone at night, in Spanish.

And what a provider sets up on its first day, shown set: a hospital-discharge respite whose
beds are held 24 hours (`HOLDS`), a family shelter holding its beds until morning for an
accept at night, overflow places opened tonight at the Millbrook refuge (`OVERFLOW`), and a
winter shelter that publishes its counts only (`COUNTS_ONLY`): workers see its beds and
call it. All through the services, as its administrators would.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import AgencyKind
from referral_hub.agencies.vocabulary import Participation
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM

RIVERBEND = (41.88, -87.63)  # the demo's centre (demo.CENTRE)
MILLBROOK = (41.66, -87.75)

# the search every filter is shown against (query parameters, as the API takes them)
REFERENCE: dict[str, Any] = {
    "category": ["emergency_shelter"],
    "available": True,
    "age": 30,
    "gender": "female",
    "population": ["foreign_national", "with_children"],
    "language": ["es"],
    "near": f"{RIVERBEND[0]},{RIVERBEND[1]}",
    "radius_km": 15,
    "trafficking_type": ["sex"],
    "accessibility": ["wheelchair"],
    "no_id_needed": True,
    "no_police_report_needed": True,
    "accepts_children": True,
}

# a family shelter that fits REFERENCE; each service below changes one thing of it
FAMILY: dict[str, Any] = {
    "min_age": 18,
    "max_age": None,
    "genders": ["female", "transgender", "nonbinary"],
    "populations": ["foreign_national", "with_children"],
    "trafficking_types": ["sex", "labor"],
    "languages": ["en", "es"],
    "accessibility": ["wheelchair"],
    "no_police_report_needed": True,
    "no_id_needed": True,
    "accepts_children": True,
}
NIGHT = "24/7; night intake by phone 22:00-07:00"

RESPITE = "St. Luke's Discharge Respite"
COUNTS_ONLY = "Riverbend Winter Shelter"
# (service label, category, eligibility changes, (total, free), hours, (km north, km east))
Offer = tuple[str, str, dict[str, Any], tuple[int, int], str, tuple[float, float]]
# agency name, kind, victim service provider, town point, services
SHOWCASE: list[tuple[str, AgencyKind, bool, tuple[float, float], list[Offer]]] = [
    (
        "Casa Esperanza Family Shelter",
        AgencyKind.SHELTER,
        True,
        RIVERBEND,
        [
            ("Family emergency beds", "emergency_shelter", {}, (8, 1), NIGHT, (1.1, 0.9)),
            ("Mothers' night rooms", "emergency_shelter", {}, (6, 0), NIGHT, (1.2, 1.0)),
            (
                "Young mothers' beds",
                "emergency_shelter",
                {"max_age": 24},
                (5, 2),
                NIGHT,
                (0.9, 1.3),
            ),
        ],
    ),
    (
        "Riverside Family Housing",
        AgencyKind.HOUSING,
        False,
        RIVERBEND,
        [
            (
                "Family overnight beds",
                "emergency_shelter",
                {"languages": ["en"]},
                (10, 4),
                NIGHT,
                (1.4, 0.6),
            ),
            (
                "Fathers with children",
                "emergency_shelter",
                {"genders": ["male"]},
                (4, 2),
                NIGHT,
                (1.0, 0.5),
            ),
            (
                "Family emergency apartments",
                "emergency_shelter",
                {"no_id_needed": False},
                (6, 3),
                "24/7; intake until 21:00",
                (0.8, 1.5),
            ),
        ],
    ),
    (
        "St. Brigid's Family House",
        AgencyKind.SHELTER,
        True,
        RIVERBEND,
        [
            (
                "Family crisis beds",
                "emergency_shelter",
                {"no_police_report_needed": False},
                (7, 2),
                NIGHT,
                (1.3, 1.2),
            ),
            (
                "Family beds for labour-trafficking survivors",
                "emergency_shelter",
                {"trafficking_types": ["labor"]},
                (5, 2),
                NIGHT,
                (1.1, 0.4),
            ),
            (
                "Upstairs family rooms",
                "emergency_shelter",
                {"accessibility": []},
                (6, 3),
                NIGHT,
                (0.7, 0.8),
            ),
            (
                "Women's emergency beds",
                "emergency_shelter",
                {"populations": ["foreign_national"], "accepts_children": False},
                (9, 4),
                NIGHT,
                (1.5, 1.1),
            ),
            (
                "Family beds for county residents",
                "emergency_shelter",
                {"populations": ["with_children"]},
                (6, 2),
                NIGHT,
                (0.6, 1.0),
            ),
        ],
    ),
    (
        "Millbrook Family Refuge",
        AgencyKind.SHELTER,
        True,
        MILLBROOK,
        [("Family emergency beds", "emergency_shelter", {}, (6, 3), NIGHT, (0.5, 0.5))],
    ),
    (
        "Nuevo Día Immigrant Legal Center",
        AgencyKind.IMMIGRATION_LEGAL,
        False,
        RIVERBEND,
        [
            (
                "After-hours immigration advice",
                "immigration_counsel",
                {"accessibility": [], "genders": []},
                (4, 3),
                "Every night 18:00-08:00, by phone; Spanish and English",
                (-0.6, 0.7),
            ),
        ],
    ),
    (
        RESPITE,
        AgencyKind.HEALTH,
        False,
        RIVERBEND,
        [
            (
                "Hospital-discharge respite beds",
                "transitional_housing",
                {"accepts_children": False},
                (6, 2),
                "24/7; discharges accepted day and night",
                (-0.4, -0.5),
            )
        ],
    ),
    (
        COUNTS_ONLY,
        AgencyKind.SHELTER,
        False,
        RIVERBEND,
        [
            (
                "Winter overflow beds",
                "emergency_shelter",
                {"languages": ["en"], "accepts_children": False},
                (20, 6),
                "Nightly 19:00-08:00, November to March",
                (-1.0, -0.8),
            )
        ],
    ),
]


# hold lengths a provider set, by (agency, service label): (minutes by day, at night)
HOLDS: dict[tuple[str, str], tuple[int, int | None]] = {
    (RESPITE, "Hospital-discharge respite beds"): (24 * 60, None),  # a discharge takes a day
    ("Casa Esperanza Family Shelter", "Family emergency beds"): (90, 10 * 60),  # until morning
}
# overflow places opened tonight: (agency, service label, places, why)
OVERFLOW = ("Millbrook Family Refuge", "Family emergency beds", 4, "Cold night: cots in the hall")
OVERFLOW_UNTIL = time(8, 0)  # hub time, the morning after


def seed_showcase(echo: Callable[[str], None] = print) -> int:
    """Create the showcase agencies that are missing, with their services; the caller
    holds the transaction. Returns the records made."""
    made = 0
    for name, kind, vsp, (lat, lon), offers in SHOWCASE:
        if agencies.find_agency_by_name(name) is not None:
            continue
        agency = agencies.create_agency(
            SYSTEM,
            name=name,
            kind=kind,
            is_victim_service_provider=vsp,
            city=_town(lat),
            region="Riverbend County",
        )
        made += 1
        if name == COUNTS_ONLY:
            agencies.set_participation(SYSTEM, agency.id, Participation.COUNTS_ONLY)
        for offer in offers:
            service_id = _offer(agency.id, agency.name, (lat, lon), offer)
            made += 1
            if (name, offer[0]) == OVERFLOW[:2]:
                _open_overflow(service_id)
    echo(f"  family shelters and night services {len(SHOWCASE)}/{len(SHOWCASE)}")
    return made


def _open_overflow(service_id: Any) -> None:
    """Places opened now until the next morning (at least a few hours: "tonight")."""
    from referral_hub.directory.capacity import open_overflow

    zone = ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE") or "UTC")
    now = clock.now()
    local = now.astimezone(zone)
    morning = datetime.combine(local.date(), OVERFLOW_UNTIL, tzinfo=zone)
    while morning < local + timedelta(hours=4):
        morning += timedelta(days=1)
    *_, places, why = OVERFLOW
    open_overflow(SYSTEM, service_id, starts_at=now, ends_at=morning, places=places, note=why)


def _town(latitude: float) -> str:
    return "Millbrook" if latitude == MILLBROOK[0] else "Riverbend"


def _offer(agency_id: Any, agency_name: str, town: tuple[float, float], offer: Offer) -> Any:
    from referral_hub.directory import service as directory
    from referral_hub.directory.capacity import set_capacity
    from referral_hub.directory.vocabulary import BED_CATEGORIES, Category

    label, category, changes, (total, free), hours, (north, east) = offer
    category_enum = Category(category)
    day, night = HOLDS.get((agency_name, label), (90, None))
    service = directory.create_service(
        SYSTEM,
        agency_id=agency_id,
        category=category_enum,
        name=f"{label} — {agency_name}",
        description=f"{label} offered by {agency_name}.",
        hours=hours,
        # a fictitious number (555-01xx), the same each run
        phone=f"+1 555 01{zlib.crc32(label.encode() + agency_name.encode()) % 100:02d}",
        service_area="Riverbend County",
        eligibility=FAMILY | changes,
        location={
            "name": agency_name,
            "address": {"street": f"{10 + len(label)} Oak Street"},
            "city": _town(town[0]),
            "region": "Riverbend County",
            "country": "US",
            "latitude": round(town[0] + north / 111.32, 5),
            "longitude": round(town[1] + east / 83.0, 5),
            "confidential": category_enum in BED_CATEGORIES,
        },
        hold_minutes=day,
        night_hold_minutes=night,
    )
    set_capacity(SYSTEM, service.id, total=total, available=free)
    return service.id
