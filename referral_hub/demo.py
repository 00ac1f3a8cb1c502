"""A fictional regional network for demonstrations and first runs. Idempotent.

Every name here is invented. There are no survivors in the demo data: clients are
created by people trying the hub, never seeded.
"""

from __future__ import annotations

from collections.abc import Callable

from referral_hub.agencies import service
from referral_hub.agencies.models import AgencyKind
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction

DEMO_PASSWORD = "riverbend-demo-2026"  # noqa: S105 - printed for the demo; never production

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


def seed(echo: Callable[[str], None] = print) -> None:
    """Create what is missing of the demo network; leave what exists alone."""
    created = 0
    with transaction():
        for index, (name, kind, vsp, city) in enumerate(AGENCIES, start=1):
            if service.find_agency_by_name(name) is None:
                service.create_agency(
                    SYSTEM,
                    name=name,
                    kind=kind,
                    is_victim_service_provider=vsp,
                    city=city,
                    region="Riverbend County",
                )
                created += 1
            echo(f"  agencies {index}/{len(AGENCIES)}")
        for index, (email, agency_name, display_name, roles) in enumerate(USERS, start=1):
            if service.find_user_by_email(email) is None:
                agency = service.find_agency_by_name(agency_name)
                if agency is None:  # an agency of the demo was renamed by hand
                    raise RuntimeError(f"demo agency {agency_name!r} is missing")
                service.create_user(
                    SYSTEM,
                    agency_id=agency.id,
                    email=email,
                    display_name=display_name,
                    roles=roles,
                    password=DEMO_PASSWORD,
                    notify=False,
                )
                created += 1
            echo(f"  users {index}/{len(USERS)}")
    echo(f"demo network ready ({created} new records)")
