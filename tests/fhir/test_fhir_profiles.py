"""Validation, not hope: every resource /fhir emits parses with fhir.resources (R4B), and
meets each rule of the guide's profiles (FSH, tests/data/fhir-sdoh-cc) that the hub relies
on — one test per rule, each naming the FSH line it checks, which must be in the profile."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from flask import Flask
from pydantic import BaseModel

from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.fhir import codes
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State
from tests import fhir_world as w
from tests.conftest import rolled_back_app

MODELS: dict[str, type[BaseModel]] = {
    "Task": Task,
    "ServiceRequest": ServiceRequest,
    "Consent": Consent,
    "HealthcareService": HealthcareService,
    "Patient": Patient,
}
PROFILE_FILES = {
    "Task": "SDOHCCTaskForReferralManagement.fsh",
    "ServiceRequest": "SDOHCCServiceRequest.fsh",
    "Consent": "SDOHCCConsent.fsh",
    "HealthcareService": "SDOHCCHealthcareServiceForReferralManagement.fsh",
    "Extension": "SDOHCCExtensionHealthcareServiceCapacityStatus.fsh",
}


@pytest.fixture(scope="module")
def app(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """This module's own database (overriding conftest's `app`): what the hub emits is
    made and committed once, and every rule is checked against it."""
    with rolled_back_app(f"fhir_profiles_{worker_id}", worker_id, tmp_path_factory) as made:
        yield made


@pytest.fixture(scope="module")
def emitted(app: Flask) -> Iterator[dict[str, list[dict[str, Any]]]]:
    with app.app_context():
        yield emit(app.test_client(), db.session)
        db.session.remove()


def emit(client: Any, session: Any) -> dict[str, list[dict[str, Any]]]:
    """What the hub emits, by resource type, over several states and both readers."""
    world = w.build(client)
    auth = {"clinic": world["clinic_auth"], "shelter": world["shelter_auth"]}
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in MODELS}
    bodies = [w.referral_task(world) for _ in range(4)]
    session.remove()  # SQLite: this context holds no transaction while requests run
    ids = [
        client.post("/fhir/Task", json=body, headers=auth["clinic"]).json["id"] for body in bodies
    ]
    ends = [State.SENT, State.DECLINED, State.WITHDRAWN, State.NOT_COMPLETED]
    with transaction():
        for referral_id, state in zip(ids, ends, strict=True):
            row = session.get(Referral, uuid.UUID(referral_id))
            row.status = state
            row.decline_reason = "other" if state == State.DECLINED else None
            row.outcome = "left" if state == State.NOT_COMPLETED else None
            row.closed_at = None if state == State.SENT else clock.now()
    session.remove()
    first = ids[0]
    moved = client.patch(
        f"/fhir/Task/{first}", json={"status": "accepted"}, headers=auth["shelter"]
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    for reader in auth.values():
        for referral_id in ids:
            task = client.get(f"/fhir/Task/{referral_id}", headers=reader).json
            out["Task"].append(task)
            out["ServiceRequest"].append(
                client.get(f"/fhir/ServiceRequest/{referral_id}", headers=reader).json
            )
            consent_ref = out["ServiceRequest"][-1]["supportingInfo"][0]["reference"]
            out["Consent"].append(client.get(f"/fhir/{consent_ref}", headers=reader).json)
        out["Patient"].append(client.get(f"/fhir/{task['for']['reference']}", headers=reader).json)
        bundle = client.get("/fhir/HealthcareService", headers=reader).json
        out["HealthcareService"] += [entry["resource"] for entry in bundle["entry"]]
    for kind, items in out.items():
        assert items, kind
        assert all(item.get("resourceType") == kind for item in items), kind
    return out


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_emitted_resource_parses_in_r4b(
    emitted: dict[str, list[dict[str, Any]]], kind: str
) -> None:
    for item in emitted[kind]:
        MODELS[kind].model_validate(item)


def codings(concept: dict[str, Any] | None) -> set[tuple[str, str]]:
    return {(c.get("system", ""), c.get("code", "")) for c in (concept or {}).get("coding", [])}


Check = Callable[[dict[str, Any]], bool]
RULES: list[tuple[str, str, Check]] = [
    # Task For Referral Management
    ("Task", "* intent = #order (exactly)", lambda r: r["intent"] == "order"),
    ("Task", "* code 1..", lambda r: bool(r.get("code"))),
    (
        "Task",
        "* code = $task-code#fulfill",
        lambda r: (codes.TASK_CODE, "fulfill") in codings(r["code"]),
    ),
    (
        "Task",
        "* focus 1.. MS",
        lambda r: r["focus"]["reference"].startswith("ServiceRequest/"),
    ),
    ("Task", "* for 1.. MS", lambda r: r["for"]["reference"].startswith("Patient/")),
    ("Task", "* authoredOn 1.. MS", lambda r: bool(r.get("authoredOn"))),
    (
        "Task",
        "* requester 1.. MS",
        lambda r: r["requester"]["reference"].startswith("Organization/"),
    ),
    (
        "Task",
        "* statusReason.text 1.. MS",
        lambda r: "statusReason" not in r or bool(r["statusReason"].get("text")),
    ),
    (
        "Task",
        "* status from SDOHCCValueSetReferralTaskStatus (required)",
        lambda r: r["status"] in w.GUIDE_TASK_STATUSES,
    ),
    # ServiceRequest (and US Core's subject it constrains)
    (
        "ServiceRequest",
        "* subject only Reference(Group or USCorePatientProfile|7.0.0",
        lambda r: r["subject"]["reference"].startswith("Patient/"),
    ),
    (
        "ServiceRequest",
        "* supportingInfo[SupportedSupportingInfo] only Reference(SDOHCCConsent)",
        lambda r: all(i["reference"].startswith("Consent/") for i in r.get("supportingInfo", [])),
    ),
    (
        "ServiceRequest",
        "* performer only Reference(HealthcareService",
        lambda r: all(
            p["reference"].startswith("HealthcareService/") for p in r.get("performer", [])
        ),
    ),
    ("ServiceRequest", "* specimen ..0", lambda r: "specimen" not in r),
    ("ServiceRequest", "* bodySite ..0", lambda r: "bodySite" not in r),
    # Consent
    (
        "Consent",
        "* category[IDSCL] = $v3-ActCode#IDSCL",
        lambda r: sum((codes.ACT_CODE, "IDSCL") in codings(c) for c in r["category"]) == 1,
    ),
    ("Consent", "* patient 1.. MS", lambda r: r["patient"]["reference"].startswith("Patient/")),
    ("Consent", "* dateTime 1.. MS", lambda r: bool(r.get("dateTime"))),
    (
        "Consent",
        "* organization 1..1 MS",
        lambda r: (
            len(r["organization"]) == 1
            and r["organization"][0]["reference"].startswith("Organization/")
        ),
    ),
    (
        "Consent",
        "* source[x] 1.. MS",
        lambda r: bool(r.get("sourceAttachment") or r.get("sourceReference")),
    ),
    # HealthcareService for Referral Management and its capacity extension
    (
        "HealthcareService",
        "SDOHCC-ExtensionHealthcareServiceCapacityStatus named capacity-status 1..1",
        lambda r: [e["url"] for e in r["extension"]].count(codes.CAPACITY_EXTENSION) == 1,
    ),
    (
        "Extension",
        "capacityStatus 1..1 and",
        lambda r: (
            [e["url"] for e in r["extension"][0]["extension"] if "valueCodeableConcept" in e]
            == ["capacityStatus"]
        ),
    ),
    ("HealthcareService", "* active = true (exactly)", lambda r: r["active"] is True),
    (
        "HealthcareService",
        "ServiceCategory 1..1 MS and",
        lambda r: sum((codes.US_CORE_CATEGORY, "sdoh") in codings(c) for c in r["category"]) == 1,
    ),
    ("HealthcareService", "* type 1..1 MS", lambda r: len(r["type"]) == 1),
    ("HealthcareService", "* name 1.. MS", lambda r: bool(r.get("name"))),
]


@pytest.mark.parametrize(("kind", "rule", "check"), RULES, ids=[f"{k}: {r}" for k, r, _ in RULES])
def test_profile_rule(
    emitted: dict[str, list[dict[str, Any]]], kind: str, rule: str, check: Check
) -> None:
    assert rule in (w.DATA / PROFILE_FILES[kind]).read_text(), "not a rule of the profile"
    items = emitted["HealthcareService" if kind == "Extension" else kind]
    failing = [item.get("id") for item in items if not check(item)]
    assert failing == []


def test_profiles_are_claimed_where_met(emitted: dict[str, list[dict[str, Any]]]) -> None:
    wanted = {
        "Task": codes.TASK_PROFILE,
        "ServiceRequest": codes.SERVICE_REQUEST_PROFILE,
        "Consent": codes.CONSENT_PROFILE,
        "HealthcareService": codes.HEALTHCARE_SERVICE_PROFILE,
    }
    for kind, profile in wanted.items():
        assert all(item["meta"]["profile"] == [profile] for item in emitted[kind]), kind
