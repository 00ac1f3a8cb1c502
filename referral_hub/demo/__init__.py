"""A fictional regional network for demonstrations and first runs. Idempotent.

Every name here is invented ("Riverbend County"). There are no survivors in the demo
data: clients are created by people trying the hub, never seeded.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import Agency, AgencyKind
from referral_hub.agencies.vocabulary import is_law_enforcement
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.demo import showcase as demo_showcase
from referral_hub.directory.places import CENTRE, TOWNS

DEMO_PASSWORD = "riverbend-demo-2026"  # noqa: S105 - printed for the demo; never production
# (name, kind, victim service provider, town)
AGENCIES: list[tuple[str, AgencyKind, bool, str]] = [
    ("Harbor Light Shelter", AgencyKind.SHELTER, True, "Riverbend"),
    ("Safe Passage Housing", AgencyKind.HOUSING, False, "Riverbend"),
    ("Northgate Community Clinic", AgencyKind.HEALTH, False, "Northgate"),
    ("Lakeside Counseling Collective", AgencyKind.MENTAL_HEALTH, False, "Lakeside"),
    ("Open Door Immigration Counsel", AgencyKind.IMMIGRATION_LEGAL, False, "Riverbend"),
    ("Riverbend Legal Aid", AgencyKind.LEGAL_AID, False, "Riverbend"),
    ("Statewide Trafficking Hotline", AgencyKind.HOTLINE, True, "Capital City"),
    ("Riverbend Anti-Trafficking Task Force", AgencyKind.CASE_MANAGEMENT, False, "Riverbend"),
    ("Riverbend Police Victim Services Unit", AgencyKind.LAW_ENFORCEMENT, False, "Riverbend"),
]
_EXTRA = [
    (AgencyKind.SHELTER, True, "{town} Women's Refuge"),
    (AgencyKind.SHELTER, True, "{town} Youth Haven"),
    (AgencyKind.HOUSING, False, "{town} Transitional Homes"),
    (AgencyKind.HEALTH, False, "{town} Health Center"),
    (AgencyKind.MENTAL_HEALTH, False, "{town} Trauma Recovery Center"),
    (AgencyKind.SUBSTANCE_USE, False, "{town} Recovery Services"),
    (AgencyKind.LEGAL_AID, False, "{town} Justice Project"),
    (AgencyKind.IMMIGRATION_LEGAL, False, "{town} Immigrant Rights Clinic"),
    (AgencyKind.CASE_MANAGEMENT, True, "{town} Survivor Advocates"),
    (AgencyKind.LAW_ENFORCEMENT, False, "{town} Sheriff's Victim Witness Office"),
    (AgencyKind.OTHER, False, "{town} Workforce Bridge"),
]
for _town_name, _, _ in TOWNS[1:]:
    for _kind, _vsp, _pattern in _EXTRA:
        if len(AGENCIES) >= 40:
            break
        AGENCIES.append((_pattern.format(town=_town_name), _kind, _vsp, _town_name))

SERVICES_BY_KIND: dict[AgencyKind, list[tuple[str, str]]] = {
    AgencyKind.SHELTER: [
        ("emergency_shelter", "Emergency beds"),
        ("transitional_housing", "Family rooms"),
        ("case_management", "Safety planning"),
    ],
    AgencyKind.HOUSING: [
        ("transitional_housing", "Transitional apartments"),
        ("emergency_shelter", "Overnight beds"),
        ("job_training", "Life skills"),
    ],
    AgencyKind.HEALTH: [
        ("primary_care", "Walk-in care"),
        ("primary_care", "Women's health"),
        ("mental_health", "Counselling"),
    ],
    AgencyKind.MENTAL_HEALTH: [
        ("mental_health", "Trauma therapy"),
        ("mental_health", "Support groups"),
        ("interpretation", "Interpreters"),
    ],
    AgencyKind.SUBSTANCE_USE: [
        ("substance_use", "Outpatient recovery"),
        ("substance_use", "Detox beds"),
        ("case_management", "Peer support"),
    ],
    AgencyKind.LEGAL_AID: [
        ("legal_advocacy", "Civil legal help"),
        ("legal_advocacy", "Vacatur and record relief"),
        ("legal_advocacy", "Wage claims"),
    ],
    AgencyKind.IMMIGRATION_LEGAL: [
        ("immigration_counsel", "T-visa applications"),
        ("immigration_counsel", "Removal defence"),
        ("interpretation", "Document translation"),
    ],
    AgencyKind.CASE_MANAGEMENT: [
        ("case_management", "Survivor case management"),
        ("job_training", "Job readiness"),
        ("interpretation", "Language line"),
    ],
    AgencyKind.HOTLINE: [
        ("case_management", "24/7 crisis line"),
        ("interpretation", "Interpreted calls"),
        ("emergency_shelter", "Emergency hotel vouchers"),
    ],
    AgencyKind.LAW_ENFORCEMENT: [
        ("case_management", "Victim witness advocacy"),
        ("legal_advocacy", "Court accompaniment"),
    ],
    AgencyKind.OTHER: [
        ("job_training", "Paid apprenticeships"),
        ("job_training", "Computer skills"),
        ("other", "Clothing and essentials"),
    ],
}

USERS: list[tuple[str, str, str, list[str]]] = [
    ("intake@hotline.example", "Statewide Trafficking Hotline", "Ines Intake", ["intake"]),
    ("provider@harborlight.example", "Harbor Light Shelter", "Pat Provider", ["provider"]),
    (
        "admin@harborlight.example",
        "Harbor Light Shelter",
        "Ada Admin",
        ["agency_admin", "provider"],
    ),
    (
        "intake@opendoor.example",
        "Open Door Immigration Counsel",
        "Omar Intake",
        ["intake", "provider"],
    ),
    (
        "coordinator@taskforce.example",
        "Riverbend Anti-Trafficking Task Force",
        "Cory Coordinator",
        ["coordinator"],
    ),
    (
        "hub-admin@taskforce.example",
        "Riverbend Anti-Trafficking Task Force",
        "Hana Hub",
        ["hub_admin"],
    ),
]

SIGN_INS = [(email, ", ".join(roles)) for email, _, _, roles in USERS]
STREETS = ["Oak", "Main", "River", "Elm", "Mill", "Harbor"]
LANGUAGES = ["en", "es", "es-MX", "tl", "vi", "zh-Hans", "ht", "uk", "ar", "ru", "fr", "pt-BR"]


def _town(name: str) -> tuple[str, float, float]:
    return next(town for town in TOWNS if town[0] == name)


def seed(echo: Callable[[str], None] = print) -> None:
    """Create what is missing of the demo network; leave what exists alone."""
    rng = random.Random(2026)  # noqa: S311 - demo data, not secrets
    created = 0
    with transaction():
        for index, (name, kind, vsp, town) in enumerate(AGENCIES, start=1):
            agency = agencies.find_agency_by_name(name)
            if agency is None:
                agency = agencies.create_agency(
                    SYSTEM,
                    name=name,
                    kind=kind,
                    is_victim_service_provider=vsp,
                    city=town,
                    region="Riverbend County",
                )
                created += 1 + _services(agency, town, rng)
            if index % 10 == 0 or index == len(AGENCIES):
                echo(f"  agencies {index}/{len(AGENCIES)}")
        created += demo_showcase.seed_showcase(echo)
        for email, agency_name, display_name, roles in USERS:
            if agencies.find_user_by_email(email) is None:
                agency = agencies.find_agency_by_name(agency_name)
                if agency is None:  # an agency of the demo was renamed by hand
                    raise RuntimeError(f"demo agency {agency_name!r} is missing")
                agencies.create_user(
                    SYSTEM,
                    agency_id=agency.id,
                    email=email,
                    display_name=display_name,
                    roles=roles,
                    password=DEMO_PASSWORD,
                    notify=False,
                )
                created += 1
        echo(f"  users {len(USERS)}/{len(USERS)}")
    echo(f"demo network ready ({created} new records)")
    from referral_hub.demo import activity as demo_activity

    demo_activity.seed_activity(echo)


def _services(agency: Agency, town: str, rng: random.Random) -> int:
    from referral_hub.directory import service as directory
    from referral_hub.directory.vocabulary import Category

    _, dlat, dlon = _town(town)
    made = 0
    for category, label in SERVICES_BY_KIND[agency.kind]:
        category_enum = Category(category)
        confidential = category_enum in (Category.EMERGENCY_SHELTER, Category.TRANSITIONAL_HOUSING)
        fields: dict[str, Any] = {
            "name": f"{label} — {agency.name}",
            "description": f"{label} offered by {agency.name}.",
            "hours": "24/7" if category == "emergency_shelter" else "Mon-Fri 9:00-17:00",
            # a fictitious number (555-01xx), the same each run, drawn from nothing random
            "phone": f"+1 555 01{zlib.crc32(label.encode() + agency.name.encode()) % 100:02d}",
            "service_area": "Riverbend County",
            "eligibility": _eligibility(agency, category_enum, rng),
            "location": {
                "name": agency.name,
                "address": {"street": f"{rng.randint(1, 999)} {rng.choice(STREETS)} Street"},
                "city": town,
                "region": "Riverbend County",
                "country": "US",
                "latitude": CENTRE[0] + dlat + rng.uniform(-0.03, 0.03),
                "longitude": CENTRE[1] + dlon + rng.uniform(-0.03, 0.03),
                "confidential": confidential,
            },
        }
        service = directory.create_service(
            SYSTEM, agency_id=agency.id, category=category_enum, **fields
        )
        _capacity(service, rng)
        made += 1
    return made


def _eligibility(agency: Agency, category: Any, rng: random.Random) -> dict[str, Any]:
    youth = "Youth" in agency.name
    populations = rng.sample(
        ["foreign_national", "lgbtq", "with_children", "tribal", "male"], k=rng.randint(0, 2)
    )
    if youth:
        populations.append("minor")
    return {
        "min_age": 12 if youth else 18,
        "max_age": 21 if youth else None,
        "genders": ["female", "transgender", "nonbinary"] if "Women" in agency.name else [],
        "populations": sorted(set(populations)),
        "trafficking_types": rng.choice([["sex", "labor"], ["sex"], ["labor"]]),
        "languages": sorted(set(["en", *rng.sample(LANGUAGES, k=2)])),
        "accessibility": rng.sample(
            ["wheelchair", "sign_language", "service_animals"], k=rng.randint(0, 2)
        ),
        "no_police_report_needed": not is_law_enforcement(agency.kind),
        "no_id_needed": rng.random() < 0.6,
        "accepts_children": "with_children" in populations,
    }


def _capacity(service: Any, rng: random.Random) -> None:
    """Mixed freshness: most fresh, some aging, some stale, a few never set."""
    from referral_hub.directory.capacity import set_capacity

    roll = rng.random()
    if roll < 0.08:
        return  # unknown: never set
    hours_ago = 0.5 if roll < 0.6 else (5 if roll < 0.8 else 200)
    total = rng.randint(2, 24)
    available = rng.randint(0, total)
    with clock.frozen_at(clock.now() - timedelta(hours=hours_ago)):
        set_capacity(SYSTEM, service.id, total=total, available=available)
