"""The scripted clinic: an EHR sends a referral by `POST /fhir/Task`, the shelter's provider
answers in the staff pages (the page's own forms), and the clinic follows the Task to
accepted and completed. Walked again with a consent that leaves a data category out: that
category shows nowhere in what either side's system reads over FHIR."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from tests import factories
from tests import fhir_world as w


@pytest.fixture
def world(client: Any, session: Any) -> dict[str, Any]:
    return w.build(client)


class Clinic:
    """The clinic's EHR: it speaks FHIR only, with its own bearer token."""

    def __init__(self, http: Any, auth: dict[str, str]) -> None:
        self.http, self.auth = http, auth

    def send(self, task: dict[str, Any]) -> str:
        response = self.http.post("/fhir/Task", json=task, headers=self.auth)
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.json["id"])

    def get(self, path: str) -> dict[str, Any]:
        response = self.http.get(f"/fhir/{path}", headers=self.auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == w.FHIR
        body: dict[str, Any] = response.json
        return body


def provider_answers(app: Any, world: dict[str, Any], referral_id: str, *actions: str) -> None:
    """The shelter's provider, signed in, posts the referral page's forms."""
    browser = app.test_client()
    token = factories.sign_in(browser, world["provider"])
    page = browser.get(f"/provider/referrals/{referral_id}").get_data(as_text=True)
    for action in actions:
        assert f"/provider/referrals/{referral_id}/{action}" in page  # the form is offered
        response = browser.post(
            f"/provider/referrals/{referral_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        page = browser.get(f"/provider/referrals/{referral_id}").get_data(as_text=True)


def test_a_clinic_sends_and_follows_a_referral_to_completion(
    app: Any, client: Any, world: dict[str, Any]
) -> None:
    clinic = Clinic(client, world["clinic_auth"])
    referral_id = clinic.send(w.referral_task(world))
    assert clinic.get(f"Task/{referral_id}")["status"] == "requested"

    provider_answers(app, world, referral_id, "accept")
    task = Task.model_validate(clinic.get(f"Task/{referral_id}"))
    assert task.status == "accepted"
    polled = clinic.get(f"Task?requester=Organization/{world['clinic'].id}&status=accepted")
    assert [entry["resource"]["id"] for entry in polled["entry"]] == [referral_id]

    provider_answers(app, world, referral_id, "confirm-arrival", "complete")
    task = Task.model_validate(clinic.get(f"Task/{referral_id}"))
    assert task.status == "completed"
    assert ServiceRequest.model_validate(clinic.get(f"ServiceRequest/{referral_id}")).status == (
        "completed"
    )


def test_a_category_the_consent_leaves_out_shows_nowhere(
    app: Any, client: Any, world: dict[str, Any]
) -> None:
    """Consent for identity only: her phone number (contact) was in the clinic's Patient, but
    neither its value nor the category's code reaches any resource read over FHIR — by the
    shelter before or after accepting, or in the Task, ServiceRequest and Consent the clinic
    reads back. (The clinic's own Patient read is the owner's, and shows what it sent.)"""
    clinic = Clinic(client, world["clinic_auth"])
    shelter = Clinic(client, world["shelter_auth"])
    referral_id = clinic.send(w.referral_task(world, categories=("identity",)))
    task = clinic.get(f"Task/{referral_id}")
    patient_id = task["for"]["reference"].split("/")[1]
    request = clinic.get(f"ServiceRequest/{referral_id}")
    consent_id = request["supportingInfo"][0]["reference"].split("/")[1]

    def everything(reader: Clinic, with_patient: bool) -> list[dict[str, Any]]:
        read = [
            reader.get(f"Task/{referral_id}"),
            reader.get(f"ServiceRequest/{referral_id}"),
            reader.get(f"Consent/{consent_id}"),
            reader.get("Task"),
        ]
        if with_patient:
            read.append(reader.get(f"Patient/{patient_id}"))
        return read

    seen = everything(shelter, True)
    provider_answers(app, world, referral_id, "accept")
    after = everything(shelter, True)
    seen += after + everything(clinic, False)
    for resource in seen:
        text = json.dumps(resource)
        assert w.PHONE not in text
        assert "telecom" not in text
        assert '"code": "contact"' not in text
    patient = Patient.model_validate(after[4])
    assert patient.name[0].text == w.NAME  # identity, which she did consent to, is there
    shown = Consent.model_validate(after[2])
    assert [item.code for item in shown.provision.class_fhir] == ["identity"]
