"""Shared setup for the FHIR tests: a clinic (health agency) with its own system, a shelter
with a provider and its system, an outsider, and the clinic's referral Task as a clinic's
EHR would send it (everything contained)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from referral_hub.agencies.models import AgencyKind
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.fhir import codes
from tests import factories

DATA = Path(__file__).parent / "data" / "fhir-sdoh-cc"
FHIR = "application/fhir+json"
PHONE = "+1-555-0142"
NAME = "Colin Abbas"
# the guide's referral Task statuses (its Task status page and SDOHCCValueSetReferralTaskStatus)
GUIDE_TASK_STATUSES = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "cancelled",
        "on-hold",
        "in-progress",
        "completed",
        "failed",
        "entered-in-error",
    }
)
CLINIC_SCOPES = [
    "directory:read",
    "clients:read",
    "clients:write",
    "referrals:read",
    "referrals:write",
]


def example(name: str) -> dict[str, Any]:
    """One of the guide's example instances (tests/data/fhir-sdoh-cc, CC0)."""
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


def bearer(http: Any, agency: Any, scopes: list[str]) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(agency, scopes)
    return {"Authorization": f"Bearer {factories.token(http, client_id, secret)}"}


def build(http: Any) -> dict[str, Any]:
    with transaction():
        clinic = factories.agency(AgencyKind.HEALTH, name="Riverbend Family Clinic")
        shelter = factories.agency(AgencyKind.SHELTER, name="Harbor Light")
        outsider = factories.agency(AgencyKind.SHELTER, name="Elsewhere")
        beds = factories.directory_service(shelter, "emergency_shelter", name="Harbor beds")
        factories.capacity(beds, total=10, available=3)
        provider = factories.with_password(factories.user(shelter, ["provider"]))
    return {
        "clinic": clinic,
        "shelter": shelter,
        "outsider": outsider,
        "beds": beds,
        "provider": provider,
        "clinic_auth": bearer(http, clinic, CLINIC_SCOPES),
        "shelter_auth": bearer(http, shelter, CLINIC_SCOPES),
        "outsider_auth": bearer(http, outsider, CLINIC_SCOPES),
    }


def referral_task(
    world: dict[str, Any], categories: tuple[str, ...] = ("identity", "contact")
) -> dict[str, Any]:
    """A clinic's Task with its ServiceRequest, Consent and Patient contained."""
    beds, shelter = world["beds"], world["shelter"]
    signed = clock.now().isoformat()
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": codes.TASK_CODE, "code": "fulfill"}]},
        "focus": {"reference": "#sr"},
        "for": {"reference": "#pat"},
        "authoredOn": signed,
        "requester": {"reference": f"Organization/{world['clinic'].id}"},
        "owner": {"reference": f"Organization/{shelter.id}"},
        "contained": [
            {
                "resourceType": "Patient",
                "id": "pat",
                "name": [{"text": NAME}],
                "birthDate": "1990-04-02",
                "gender": "female",
                "telecom": [{"system": "phone", "value": PHONE}],
                "communication": [
                    {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}
                ],
            },
            {
                "resourceType": "Consent",
                "id": "consent",
                "status": "active",
                "scope": {"coding": [{"system": codes.CONSENT_SCOPE, "code": "patient-privacy"}]},
                "category": [{"coding": [{"system": codes.ACT_CODE, "code": "IDSCL"}]}],
                "patient": {"reference": "#pat"},
                "dateTime": signed,
                "organization": [{"reference": f"Organization/{world['clinic'].id}"}],
                "sourceAttachment": {"contentType": "application/pdf", "language": "es"},
                "policyRule": {"text": "VAWA release of information"},
                "provision": {
                    "type": "permit",
                    "actor": [
                        {
                            "role": {
                                "coding": [{"system": codes.PARTICIPATION_TYPE, "code": "IRCP"}]
                            },
                            "reference": {"reference": f"Organization/{shelter.id}"},
                        }
                    ],
                    "purpose": [{"system": codes.SERVICE_CATEGORY, "code": "emergency_shelter"}],
                    "class": [{"system": codes.DATA_CATEGORY, "code": code} for code in categories],
                },
            },
            {
                "resourceType": "ServiceRequest",
                "id": "sr",
                "status": "active",
                "intent": "order",
                "category": [{"coding": [{"system": codes.SNOMED, "code": "410606002"}]}],
                "code": {"text": "Emergency shelter tonight"},
                "subject": {"reference": "#pat"},
                "performer": [{"reference": f"HealthcareService/{beds.id}"}],
                "supportingInfo": [{"reference": "#consent"}],
            },
        ],
    }


def guide_task(world: dict[str, Any]) -> dict[str, Any]:
    """The guide's own example Task, ServiceRequest and Consent, contained in the Task as
    they are, except: the ServiceRequest names the hub's service as performer, the Task the
    hub's agency as owner and status requested (the example shows a Task already
    accepted), and the consent is signed today (the 2021 example has long expired)."""
    task = copy.deepcopy(
        example("Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json")
    )
    request = example(
        "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json"
    )
    release = example("Consent-SDOHCC-ConsentInformationDisclosureExample.json")
    patient = {"resourceType": "Patient", "id": "pat-53234", "name": [{"text": "COLIN ABBAS"}]}
    request["performer"] = [{"reference": f"HealthcareService/{world['beds'].id}"}]
    request["supportingInfo"] = [{"reference": "#SDOHCC-ConsentInformationDisclosureExample"}]
    request["subject"] = {"reference": "#pat-53234"}
    release["patient"] = {"reference": "#pat-53234"}
    release["dateTime"] = clock.now().date().isoformat()
    task.pop("id")
    task.pop("meta")
    task["status"] = "requested"
    task["owner"] = {"reference": f"Organization/{world['shelter'].id}"}
    task["requester"] = {"reference": f"Organization/{world['clinic'].id}"}
    task["focus"] = {"reference": f"#{request['id']}"}
    task["for"] = {"reference": "#pat-53234"}
    for item in (request, release):
        item.pop("meta")
    task["contained"] = [patient, request, release]
    return task
