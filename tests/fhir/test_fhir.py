"""The FHIR interface under /fhir: CapabilityStatement, OperationOutcome errors, the
directory as HealthcareService, referrals as Task / ServiceRequest / Consent / Patient for
their parties only, Task search and paging, inbound Tasks and Task status updates."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task
from sqlalchemy import func, select

from referral_hub.audit.models import AuditEvent
from referral_hub.clients.models import Client
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock, keystore
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.keystore import ClientKey
from referral_hub.directory.models import Capacity
from referral_hub.extensions import db
from referral_hub.fhir import codes, search
from referral_hub.referrals import states
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State
from tests import factories
from tests import fhir_world as w
from tests.directory.test_directory import SHELTER

CONFIDENTIAL_SITE = SHELTER["location"]


@pytest.fixture
def world(client: Any, session: Any) -> dict[str, Any]:
    return w.build(client)


def post_task(client: Any, world: dict[str, Any], body: dict[str, Any] | None = None) -> Any:
    return client.post(
        "/fhir/Task", json=body or w.referral_task(world), headers=world["clinic_auth"]
    )


def counts(session: Any) -> tuple[int, int, int, int]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Client, Consent, Referral, AuditEvent)
    )


def row(session: Any, referral_id: Any) -> Referral:
    found: Referral = session.get(Referral, uuid.UUID(str(referral_id)))
    return found


def key_count() -> int:
    """Rows in the key store (its own bind: the test's connection stands in for its engine)."""
    keystore.get(uuid.uuid4())  # the store makes its table on first use
    store: Any = db.engines[keystore.BIND]  # a Connection here, in the test's transaction
    return int(store.execute(select(func.count()).select_from(ClientKey)).scalar_one())


def clinic_staff(world: dict[str, Any]) -> Actor:
    return Actor(ActorKind.USER, "clinic-intake", world["clinic"].id, frozenset({"intake"}))


def outcome(response: Any, status: int) -> OperationOutcome:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == w.FHIR
    return OperationOutcome.model_validate(response.json)


def expressions(parsed: OperationOutcome) -> set[str | None]:
    return {expression for issue in parsed.issue for expression in issue.expression or []}


# --- metadata and errors --------------------------------------------------------------------


def test_metadata_states_what_is_implemented(client: Any, session: Any) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.mimetype == w.FHIR
    statement = CapabilityStatement.model_validate(response.json)
    by_type = {resource.type: resource for resource in statement.rest[0].resource}
    assert set(by_type) == {"HealthcareService", "Task", "ServiceRequest", "Consent", "Patient"}
    task = by_type["Task"]
    assert {i.code for i in task.interaction} == {
        "read",
        "search-type",
        "create",
        "update",
        "patch",
    }
    assert {p.name for p in task.searchParam} == search.TASK - {"_format"}
    assert {p.name for p in by_type["HealthcareService"].searchParam} == (
        search.HEALTHCARE_SERVICE - {"_format"}
    )
    assert task.supportedProfile == [codes.TASK_PROFILE]


def test_no_token_is_401_as_operation_outcome(client: Any, world: dict[str, Any]) -> None:
    parsed = outcome(client.get("/fhir/Task"), 401)
    assert parsed.issue[0].code == "login"


def test_a_token_without_the_scope_is_403(client: Any, world: dict[str, Any]) -> None:
    narrow = w.bearer(client, world["clinic"], ["directory:read"])
    parsed = outcome(client.get("/fhir/Task", headers=narrow), 403)
    assert parsed.issue[0].code == "forbidden"
    outcome(client.post("/fhir/Task", json=w.referral_task(world), headers=narrow), 403)


def test_an_unknown_search_parameter_is_400_naming_it(client: Any, world: dict[str, Any]) -> None:
    for path in ("/fhir/Task?subject=Patient/1", "/fhir/HealthcareService?name=beds"):
        parsed = outcome(client.get(path, headers=world["clinic_auth"]), 400)
        assert expressions(parsed) == {path.split("?")[1].split("=")[0]}


@pytest.mark.parametrize(
    "query",
    [
        "_count=0",
        "_count=201",
        "status=bogus",
        "_lastUpdated=yesterday",
        "category=beds",
        "location.near=north",
        "owner=not-an-id",
        "_cursor=forged",
    ],
)
def test_bad_search_values_are_refused_not_ignored(
    client: Any, world: dict[str, Any], query: str
) -> None:
    kind = "HealthcareService" if query.startswith(("category", "location")) else "Task"
    response = client.get(f"/fhir/{kind}?{query}", headers=world["clinic_auth"])
    assert response.status_code in (400, 422)
    OperationOutcome.model_validate(response.json)


def test_missing_and_unknown_are_404_outcomes(client: Any, world: dict[str, Any]) -> None:
    auth = world["clinic_auth"]
    for path in (
        "/fhir/Task/7d1a3f9e-0000-4000-8000-000000000000",
        "/fhir/Task/not-a-uuid",
        "/fhir/Observation/1",
        "/fhir/Patient",
    ):
        assert outcome(client.get(path, headers=auth), 404).issue[0].code == "not-found"


# --- HealthcareService ----------------------------------------------------------------------


def test_services_carry_live_capacity_status(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    with transaction():
        full = factories.directory_service(world["shelter"], "emergency_shelter", name="Full")
        factories.capacity(full, total=4, available=0)
        stale = factories.directory_service(world["shelter"], "emergency_shelter", name="Old")
        factories.capacity(stale, total=4, available=2)
        session.get(Capacity, stale.id).updated_at = clock.now() - timedelta(days=3)
    response = client.get(
        "/fhir/HealthcareService?category=emergency_shelter", headers=world["clinic_auth"]
    )
    bundle = Bundle.model_validate(response.json)
    status = {}
    for entry in bundle.entry:
        resource = entry.resource
        extension = resource.extension[0]
        assert extension.url == codes.CAPACITY_EXTENSION
        status[resource.name] = extension.extension[0].valueCodeableConcept.coding[0].code
    assert status == {
        "Harbor beds": "capacity",
        "Full": "no-capacity",
        "Old": "additional-assessment-required",
    }


def test_category_filter_keeps_only_that_category(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    with transaction():
        counsel = factories.directory_service(world["shelter"], "legal_advocacy", name="Counsel")
        factories.capacity(counsel, total=2, available=2)
    response = client.get(
        f"/fhir/HealthcareService?category={codes.SERVICE_CATEGORY}|legal_advocacy",
        headers=world["clinic_auth"],
    )
    names = [entry["resource"]["name"] for entry in response.json["entry"]]
    assert names == ["Counsel"]


def test_a_confidential_site_has_no_address_or_point(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    with transaction():
        hidden = factories.directory_service(
            world["shelter"],
            "emergency_shelter",
            name="Safe house",
            location=CONFIDENTIAL_SITE,
        )
        factories.capacity(hidden, total=2, available=1)
    response = client.get(f"/fhir/HealthcareService/{hidden.id}", headers=world["clinic_auth"])
    text = response.get_data(as_text=True)
    site = response.json["contained"][0]
    assert site["address"] == {"city": "Riverbend", "state": "Riverbend County", "country": "US"}
    assert "position" not in site
    assert "name" not in site
    assert "Hidden Lane" not in text
    assert "41.88" not in text
    assert CONFIDENTIAL_SITE["name"] not in text
    own = client.get(f"/fhir/HealthcareService/{hidden.id}", headers=world["shelter_auth"])
    site = own.json["contained"][0]  # its own agency sees its address, as in the JSON API
    assert site["address"]["line"] == ["12 Hidden Lane"]
    assert site["name"] == CONFIDENTIAL_SITE["name"]


def test_paging_follows_the_next_link_to_the_end(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    with transaction():
        for _ in range(3):
            extra = factories.directory_service(world["shelter"], "emergency_shelter")
            factories.capacity(extra, total=1, available=1)
    seen: list[str] = []
    url = "/fhir/HealthcareService?_count=2"
    pages = 0
    while url:
        bundle = client.get(url, headers=world["clinic_auth"]).json
        seen += [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].replace("http://localhost", "") if nxt else ""
        pages += 1
    assert pages == 2
    assert len(seen) == len(set(seen)) == 4


# --- Task: every hub state ------------------------------------------------------------------


def put_in(session: Any, referral_id: Any, state: State) -> None:
    """Setup only: place the referral in `state`, with the reason its state carries."""
    with transaction():
        found = row(session, referral_id)
        found.status = state
        if state in states.TERMINAL:
            found.closed_at = clock.now()
        if state == State.DECLINED:
            found.decline_reason = "no_capacity"
        if state == State.NOT_COMPLETED:
            found.outcome = "no_show"


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_each_hub_state_reads_as_its_task_status(
    client: Any, world: dict[str, Any], session: Any, state: State
) -> None:
    referral_id = post_task(client, world).json["id"]
    put_in(session, referral_id, state)
    response = client.get(f"/fhir/Task/{referral_id}", headers=world["clinic_auth"])
    task = Task.model_validate(response.json)
    expected = codes.TASK_STATUS[state]
    assert task.status == expected.status
    assert task.businessStatus.coding[0].code == state.value
    assert (task.statusReason.text if task.statusReason else None) == expected.reason
    if state == State.DECLINED:
        assert task.statusReason.coding[0].code == "no_capacity"
    if state == State.NOT_COMPLETED:
        assert task.statusReason.coding[0].code == "no_show"


def test_the_status_table_follows_the_guide() -> None:
    """The guide's referral Task statuses, and a reason wherever it asks for one."""
    allowed = w.GUIDE_TASK_STATUSES
    assert set(codes.TASK_STATUS) == set(State)
    for mapped in codes.TASK_STATUS.values():
        assert mapped.status in allowed
        needs_reason = mapped.status in ("rejected", "cancelled", "on-hold", "failed")
        assert (mapped.reason is not None) == needs_reason


# --- Task search ----------------------------------------------------------------------------


def test_task_search_by_owner_status_and_last_updated(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    first = post_task(client, world).json["id"]
    second = post_task(client, world).json["id"]
    put_in(session, second, State.ACCEPTED)
    owner = f"Organization/{world['shelter'].id}"
    auth = world["shelter_auth"]

    def ids(query: str) -> list[str | None]:
        bundle = Bundle.model_validate(client.get(f"/fhir/Task?{query}", headers=auth).json)
        return [entry.resource.id for entry in bundle.entry or []]

    assert ids(f"owner={owner}") == [first, second]
    assert ids(f"owner={owner}&status=accepted") == [second]
    assert ids(f"owner={owner}&status=requested,accepted") == [first, second]
    with transaction():
        row(session, first).updated_at = clock.now() - timedelta(hours=1)
    half = (clock.now() - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert ids(f"owner={owner}&_lastUpdated=gt{half}") == [second]
    assert ids(f"owner={owner}&_lastUpdated=lt{half}") == [first]
    assert ids(f"_lastUpdated=ge2000-01-01&_lastUpdated=lt{half}") == [first]
    # the clinic sees them as requester, not as owner
    clinic = f"Organization/{world['clinic'].id}"
    assert client.get(f"/fhir/Task?requester={clinic}", headers=world["clinic_auth"]).json["entry"]
    outcome(client.get(f"/fhir/Task?owner={owner}", headers=world["clinic_auth"]), 400)


def test_an_outsider_sees_none_of_it(client: Any, world: dict[str, Any]) -> None:
    referral_id = post_task(client, world).json["id"]
    task = client.get(f"/fhir/Task/{referral_id}", headers=world["clinic_auth"]).json
    patient_id = task["for"]["reference"].split("/")[1]
    consent_id = (
        client.get(f"/fhir/ServiceRequest/{referral_id}", headers=world["clinic_auth"])
        .json["supportingInfo"][0]["reference"]
        .split("/")[1]
    )
    auth = world["outsider_auth"]
    for path in (
        f"/fhir/Task/{referral_id}",
        f"/fhir/ServiceRequest/{referral_id}",
        f"/fhir/Consent/{consent_id}",
        f"/fhir/Patient/{patient_id}",
    ):
        outcome(client.get(path, headers=auth), 404)
    assert "entry" not in client.get("/fhir/Task", headers=auth).json
    outcome(
        client.patch(f"/fhir/Task/{referral_id}", json={"status": "accepted"}, headers=auth), 404
    )


# --- inbound --------------------------------------------------------------------------------


def test_a_posted_task_creates_client_consent_and_referral(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    before = counts(session)
    response = post_task(client, world)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/fhir/Task/{response.json['id']}")
    created, recorded, sent, _ = counts(session)
    assert (created, recorded, sent) == (before[0] + 1, before[1] + 1, before[2] + 1)
    referral = row(session, response.json["id"])
    assert referral.status == State.SENT
    assert referral.urgency.value == "urgent"
    assert referral.service_id == world["beds"].id
    assert sorted(referral.data_categories) == ["contact", "identity", "profile"]
    record = session.get(Consent, referral.consent_id)
    assert record.recipients == [str(world["shelter"].id)]
    assert record.purposes == ["emergency_shelter"]
    assert record.form_language == "es"
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.seq > before[3]).order_by(AuditEvent.seq)
    ).all()
    assert actions[:3] == ["client.created", "consent.recorded", "referral.created"]


def test_the_guides_examples_are_accepted_inbound(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    response = post_task(client, world, w.guide_task(world))
    assert response.status_code == 201, response.get_data(as_text=True)
    referral = row(session, response.json["id"])
    assert referral.consent_id is not None
    assert referral.status == State.SENT
    # the example consent says nothing of categories: her profile only goes
    assert referral.data_categories == ["profile"]


def test_the_guides_consent_of_2021_is_refused_as_expired(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    body = w.guide_task(world)
    body["contained"][2]["dateTime"] = "2021-05-01"
    before = counts(session)
    parsed = outcome(post_task(client, world, body), 422)
    assert "Consent.provision.period.end" in expressions(parsed)
    assert counts(session)[:3] == before[:3]


@pytest.mark.parametrize(
    ("change", "status", "where"),
    [
        (lambda t: t.update(intent="plan"), 422, "Task.intent"),
        (lambda t: t.update(code={"text": "do it"}), 422, "Task.code"),
        (lambda t: t.update(status="accepted"), 422, "Task.status"),
        (lambda t: t["contained"][2].pop("performer"), 422, "ServiceRequest.performer"),
        (lambda t: t.update(owner={"reference": "Organization/x"}), 422, "Task.owner"),
        (lambda t: t.update(focus={"reference": "#nowhere"}), 422, "Task.focus"),
        (lambda t: t["contained"][0].update(birthDate="02/04/1990"), 400, None),
        (lambda t: t.update(resourceType="Patient"), 400, "resourceType"),
        (
            lambda t: t["contained"][1]["provision"]["actor"][0]["reference"].update(
                reference="Practitioner/dr-water"
            ),
            422,
            "Consent.provision.actor",
        ),
        (
            lambda t: t["contained"][2].update(supportingInfo=[{"reference": "' OR 1=1 --"}]),
            422,
            "ServiceRequest.supportingInfo",
        ),
        (lambda t: t.update(priority="whenever"), 422, "Task.priority"),
        (lambda t: t["contained"][0].update(gender="f"), 422, "Patient.gender"),
        (
            lambda t: t["contained"][1]["provision"]["class"].append(
                {"system": codes.DATA_CATEGORY, "code": "secrets"}
            ),
            422,
            "Consent.provision.class.2",
        ),
    ],
)
def test_a_bad_task_is_refused_naming_the_element_and_stores_nothing(
    client: Any, world: dict[str, Any], session: Any, change: Any, status: int, where: str | None
) -> None:
    body = copy.deepcopy(w.referral_task(world))
    change(body)
    before = counts(session)
    parsed = outcome(post_task(client, world, body), status)
    if where:
        assert where in expressions(parsed)
    assert counts(session)[:3] == before[:3]


def test_a_consent_not_naming_the_receiver_is_refused(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    body = w.referral_task(world)
    body["contained"][1]["provision"]["actor"][0]["reference"]["reference"] = (
        f"Organization/{world['outsider'].id}"
    )
    before, keys = counts(session), key_count()
    response = post_task(client, world, body)
    assert response.status_code == 422
    assert response.json["issue"][0]["details"]["coding"][0]["code"] == "consent_required"
    assert counts(session)[:3] == before[:3]
    # her key (stored on its own before the refusal) went with the rest
    assert key_count() == keys


# --- Task updates ---------------------------------------------------------------------------


def patch(client: Any, auth: dict[str, str], referral_id: str, body: Any) -> Any:
    return client.patch(
        f"/fhir/Task/{referral_id}",
        json=body,
        headers={**auth, "Content-Type": "application/json-patch+json"},
    )


def test_the_receiver_accepts_then_completes_by_patch(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    referral_id = post_task(client, world).json["id"]
    auth = world["shelter_auth"]
    accepted = patch(
        client, auth, referral_id, [{"op": "replace", "path": "/status", "value": "accepted"}]
    )
    assert accepted.status_code == 200
    assert accepted.json["status"] == "accepted"
    assert session.get(Capacity, world["beds"].id).held == 1
    done = client.put(
        f"/fhir/Task/{referral_id}",
        json={**accepted.json, "status": "completed"},
        headers={**auth, "Content-Type": w.FHIR},
    )
    assert done.json["status"] == "completed"
    assert done.json["businessStatus"]["coding"][0]["code"] == "completed"


def test_rejecting_needs_a_reason_and_keeps_it(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    referral_id = post_task(client, world).json["id"]
    auth = world["shelter_auth"]
    parsed = outcome(patch(client, auth, referral_id, {"status": "rejected"}), 422)
    assert expressions(parsed) == {"Task.statusReason.text"}
    assert row(session, referral_id).status == State.SENT
    reason = {
        "coding": [{"system": codes.DECLINE_REASON, "code": "out_of_area"}],
        "text": "We serve the county only.",
    }
    response = patch(client, auth, referral_id, {"status": "rejected", "statusReason": reason})
    assert response.json["status"] == "rejected"
    assert response.json["statusReason"]["coding"][0]["code"] == "out_of_area"
    assert row(session, referral_id).decline_reason == "out_of_area"


def test_the_sender_cannot_accept_its_own_referral(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    referral_id = post_task(client, world).json["id"]
    response = patch(client, world["clinic_auth"], referral_id, {"status": "accepted"})
    assert response.status_code in (403, 409)
    OperationOutcome.model_validate(response.json)
    assert row(session, referral_id).status == State.SENT


def test_an_illegal_move_is_409_and_changes_nothing(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    referral_id = post_task(client, world).json["id"]
    parsed = outcome(
        patch(client, world["shelter_auth"], referral_id, {"status": "in-progress"}), 409
    )
    assert parsed.issue[0].details.coding[0].code == "illegal_transition"
    assert row(session, referral_id).status == State.SENT


def test_the_sender_cancels_with_a_reason(client: Any, world: dict[str, Any], session: Any) -> None:
    referral_id = post_task(client, world).json["id"]
    reason = {"status": "cancelled", "statusReason": {"text": "She found a place herself."}}
    response = patch(client, world["clinic_auth"], referral_id, reason)
    assert response.json["status"] == "cancelled"
    assert row(session, referral_id).status == State.WITHDRAWN


# --- her data -------------------------------------------------------------------------------


def test_patient_read_is_audited_as_the_json_api_audits_it(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    referral_id = post_task(client, world).json["id"]
    patch(client, world["shelter_auth"], referral_id, {"status": "accepted"})
    patient_id = str(row(session, referral_id).client_id)

    def read(path: str) -> dict[str, Any]:
        last = session.scalar(select(func.max(AuditEvent.seq)))
        assert client.get(path, headers=world["shelter_auth"]).status_code == 200
        new = session.scalars(select(AuditEvent).where(AuditEvent.seq > last)).all()
        assert len(new) == 1
        event = new[0]
        return {
            "action": event.action,
            "fields": event.fields,
            "consent_id": event.consent_id,
            "details": event.details,
            "subject": event.subject_id,
        }

    assert read(f"/fhir/Patient/{patient_id}") == read(f"/api/v1/clients/{patient_id}")


def test_before_acceptance_the_receiver_reads_her_profile_only(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    referral_id = post_task(client, world).json["id"]
    patient_id = row(session, referral_id).client_id
    response = client.get(f"/fhir/Patient/{patient_id}", headers=world["shelter_auth"])
    text = response.get_data(as_text=True)
    assert response.json["gender"] == "female"
    assert w.NAME not in text
    assert w.PHONE not in text
    assert "birthDate" not in text
    after = patch(client, world["shelter_auth"], referral_id, {"status": "accepted"})
    assert after.status_code == 200
    opened = client.get(f"/fhir/Patient/{patient_id}", headers=world["shelter_auth"]).json
    assert opened["name"] == [{"text": w.NAME}]
    assert opened["telecom"][0]["value"] == w.PHONE


def test_a_receiver_sees_of_the_consent_only_its_own_part(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    body = w.referral_task(world)
    actors = body["contained"][1]["provision"]["actor"]
    actors.append(copy.deepcopy(actors[0]))
    actors[1]["reference"]["reference"] = f"Organization/{world['outsider'].id}"
    referral_id = post_task(client, world, body).json["id"]
    consent_id = row(session, referral_id).consent_id
    assert consent_id is not None
    mine = client.get(f"/fhir/Consent/{consent_id}", headers=world["shelter_auth"]).json
    assert str(world["outsider"].id) not in str(mine)
    whole = client.get(f"/fhir/Consent/{consent_id}", headers=world["clinic_auth"]).json
    named = {a["reference"]["reference"] for a in whole["provision"]["actor"]}
    assert named == {f"Organization/{world['shelter'].id}", f"Organization/{world['outsider'].id}"}
    with transaction():
        consent.revoke_consent(clinic_staff(world), consent_id, "She asked.")
    revoked = client.get(f"/fhir/Consent/{consent_id}", headers=world["shelter_auth"]).json
    assert revoked["status"] == "inactive"
    assert "class" not in revoked["provision"]


def test_a_repeated_post_with_its_idempotency_key_makes_one_referral(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    body = w.referral_task(world)
    headers = {**world["clinic_auth"], "Idempotency-Key": "ehr-order-4711"}
    first = client.post("/fhir/Task", json=body, headers=headers)
    before = counts(session)
    again = client.post("/fhir/Task", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.mimetype == w.FHIR
    assert counts(session)[:3] == before[:3]
    other = client.post("/fhir/Task", json={**body, "priority": "routine"}, headers=headers)
    parsed = outcome(other, 422)  # as the JSON API answers a key reused with another body
    assert parsed.issue[0].details.coding[0].code == "idempotency_key_reused"


def test_a_transaction_bundle_is_taken_like_contained_resources(
    client: Any, world: dict[str, Any], session: Any
) -> None:
    task = w.referral_task(world)
    contained = task.pop("contained")
    urls = {item["id"]: f"urn:uuid:{uuid.uuid4()}" for item in contained}
    text = json.dumps(contained)
    for local, full in urls.items():
        text = text.replace(f'"#{local}"', f'"{full}"')
    task["focus"] = {"reference": urls["sr"]}
    task["for"] = {"reference": urls["pat"]}
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": task}] + [
        {"fullUrl": urls[item["id"]], "resource": item} for item in json.loads(text)
    ]
    for entry in entries:
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = post_task(client, world, bundle)
    assert response.status_code == 201, response.get_data(as_text=True)
    referral = row(session, response.json["id"])
    assert referral.consent_id is not None
    assert sorted(referral.data_categories) == ["contact", "identity", "profile"]
    two = {**bundle, "entry": [*entries, entries[0]]}
    parsed = outcome(post_task(client, world, two), 422)
    assert expressions(parsed) == {"Bundle.entry"}
