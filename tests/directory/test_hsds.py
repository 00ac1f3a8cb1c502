"""HSDS 3.0 and 3.1: the official examples import and come back whole, exports validate
against the official schemas, an export imports back whole, a dry run changes nothing, and a
bad document is refused naming the path."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.directory import hsds
from referral_hub.directory.models import Service
from tests import factories

# the official schemas and examples, kept in the repository with their licence
DATA = Path(__file__).resolve().parents[1] / "data" / "hsds"
HSDS = DATA / "3.0"
VERSIONS = ("3.0", "3.1")
SERVICE_EXAMPLES = [
    "service_full.json",
    "service_list.json",
    "organization_full.json",
    "organization_list.json",
    "service_at_location_full.json",
    "service_at_location_list.json",
]
NOT_SERVICES = [
    "taxonomy.json",
    "taxonomy_term.json",
    "taxonomy_list.json",
    "base.json",
    "tabular.json",
]


def official_schema_root() -> Path:
    """tests/data/hsds/3.0: see its README for where the files come from."""
    return HSDS


@cache
def official_validator() -> Draft202012Validator:
    return Draft202012Validator(
        json.loads((official_schema_root() / "schema" / "service.json").read_text())
    )


@cache
def validator_for(version: str) -> Draft202012Validator:
    return Draft202012Validator(
        json.loads((DATA / version / "schema" / "service.json").read_text())
    )


def example(name: str, version: str = "3.0") -> Any:
    return json.loads((DATA / version / "examples" / name).read_text())


def count_services(session: Any) -> int:
    return session.scalar(select(func.count()).select_from(Service))


@pytest.mark.parametrize("name", SERVICE_EXAMPLES)
def test_every_official_example_with_services_imports_and_exports_valid(
    session: Any, name: str
) -> None:
    before = count_services(session)
    with transaction():
        report = hsds.import_document(SYSTEM, example(name))
    assert report.created + report.agencies_created >= 1
    assert count_services(session) == before + report.created
    exported, _ = hsds.export_all(SYSTEM, limit=200, cursor=None)
    for document in exported:
        errors = list(official_validator().iter_errors(document))
        assert errors == [], errors[:3]


def test_importing_the_same_document_twice_updates_instead_of_duplicating(session: Any) -> None:
    with transaction():
        first = hsds.import_document(SYSTEM, example("service_full.json"))
    with transaction():
        second = hsds.import_document(SYSTEM, example("service_full.json"))
    assert (first.created, second.created, second.updated) == (1, 0, 1)


def test_the_example_fields_arrive(session: Any) -> None:
    with transaction():
        report = hsds.import_document(SYSTEM, example("service_full.json"))
    service = session.scalars(select(Service).where(Service.name == "Community Counselling")).one()
    assert (service.min_age, service.max_age) == (12, 100)
    assert service.languages == ["ur"]
    assert service.agency.name == example("service_full.json")["organization"]["name"]
    assert any(
        "out of range" in warning for warning in report.warnings
    )  # latitude 100 in the example
    assert service.search_lat is None


@pytest.mark.parametrize("name", NOT_SERVICES)
def test_documents_without_services_are_refused_clearly(session: Any, name: str) -> None:
    from referral_hub.core.errors import ValidationFailed

    before = count_services(session)
    with pytest.raises(ValidationFailed) as refused:
        hsds.import_document(SYSTEM, example(name))
    assert refused.value.errors
    assert count_services(session) == before


def test_an_export_imports_back_whole(session: Any) -> None:
    with transaction():
        agency = factories.agency(name="Round Trip Shelter")
        original = factories.directory_service(
            agency,
            "transitional_housing",
            name="Round Trip House",
            description="Two-year program",
            hours="Mon-Fri 9-17",
            phone="+1 555 0100",
            eligibility={
                "min_age": 18,
                "max_age": 30,
                "genders": ["female"],
                "populations": ["foreign_national", "with_children"],
                "trafficking_types": ["labor"],
                "languages": ["es-MX"],
                "accessibility": ["wheelchair"],
                "no_id_needed": True,
            },
            location={
                "name": "Round Trip",
                "city": "Riverbend",
                "region": "RC",
                "country": "US",
                "latitude": 41.5,
                "longitude": -87.5,
                "address": {"street": "1 Main St", "postal_code": "60000"},
            },
        )
        document = hsds.export_service(original, SYSTEM)
        session.delete(original)
    with transaction():
        hsds.import_document(SYSTEM, {"contents": [document]})
    copy = session.scalars(select(Service).where(Service.name == "Round Trip House")).one()
    from referral_hub.directory.service import eligibility_of, location_for

    assert copy.category.value == "transitional_housing"
    assert eligibility_of(copy) == eligibility_of(copy) | {
        "min_age": 18,
        "max_age": 30,
        "genders": ["female"],
        "populations": ["foreign_national", "with_children"],
        "trafficking_types": ["labor"],
        "languages": ["es-MX"],
        "accessibility": ["wheelchair"],
        "no_id_needed": True,
    }
    assert (copy.hours, copy.phone, copy.agency_id) == ("Mon-Fri 9-17", "+1 555 0100", agency.id)
    assert location_for(copy, SYSTEM)["address"]["street"] == "1 Main St"


def test_a_confidential_site_exports_no_address_or_point(session: Any) -> None:
    with transaction():
        hidden = factories.directory_service(
            factories.agency(),
            location={
                "name": "Safe House",
                "city": "Riverbend",
                "region": "RC",
                "latitude": 41.8827,
                "longitude": -87.6233,
                "confidential": True,
                "address": {"street": "12 Hidden Lane"},
            },
        )
    document = hsds.export_service(hidden, Actor(ActorKind.USER, "x", hidden.agency_id))
    text = json.dumps(document)
    for secret in ("Hidden Lane", "41.8", "-87.6", "Safe House"):
        assert secret not in text
    assert document["service_areas"][0]["name"] == "Riverbend, RC"
    assert official_validator().is_valid(document)


def test_a_bad_document_is_422_naming_the_path_and_nothing_is_written(
    client: Any, session: Any
) -> None:
    with transaction():
        agency = factories.agency()
        boss = factories.with_password(factories.user(agency, ["hub_admin"]))
        secret = factories.with_totp(boss)
    csrf = factories.sign_in(client, boss, secret)
    good = example("service_full.json")
    bad = {"contents": [good, {**good, "id": "x2", "status": "open", "minimum_age": "twelve"}]}
    before = count_services(session)
    response = client.post("/api/v1/hsds/import", json=bad, headers={"X-CSRFToken": csrf})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"$.contents[1].status", "$.contents[1].minimum_age"}
    assert count_services(session) == before
    ok = client.post("/api/v1/hsds/import", json=good, headers={"X-CSRFToken": csrf})
    assert ok.status_code == 200
    assert ok.json["created"] == 1
    exported = client.get("/api/v1/hsds/services?limit=200", headers={"X-CSRFToken": csrf}).json
    assert exported["contents"]
    assert all(official_validator().is_valid(d) for d in exported["contents"])


def test_only_hub_administrators_import(client: Any, session: Any) -> None:
    with transaction():
        agency = factories.agency()
        client_id, secret = factories.api_client(agency, ["directory:read", "admin"])
    headers = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    assert (
        client.post(
            "/api/v1/hsds/import", json=example("service_full.json"), headers=headers
        ).status_code
        == 403
    )
    dry = client.post(
        "/api/v1/hsds/import?dry_run=true", json=example("service_full.json"), headers=headers
    )
    assert dry.status_code == 200
    assert dry.json["dry_run"] is True


def test_the_cli_imports_a_file(app: Any, session: Any, tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(example("organization_full.json")))
    result = app.test_cli_runner().invoke(args=["hub", "import-hsds", str(path)])
    assert result.exit_code == 0, result.output
    assert "services created" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x", "status": "open", "id": "1"}')
    refused = app.test_cli_runner().invoke(args=["hub", "import-hsds", str(broken)])
    assert refused.exit_code != 0
    assert "status" in refused.output


def came_back(sent: Any, exported: dict[str, dict[str, Any]]) -> list[tuple[Any, Any]]:
    """Each object of a document beside what the export gives back for it.

    An export is a list of services: an organization's services come back each carrying
    the organization (without its `services`), and a service_at_location comes back as one
    of its service's `service_at_locations` (without its `service`). An organization with
    no services is not in a service export (`hsds.NOT_ROUND_TRIPPED`).
    """
    items = sent["contents"] if isinstance(sent, dict) and "contents" in sent else [sent]
    pairs = []
    for item in items:
        if "service" in item and "location" in item:
            returned = copy.deepcopy(exported[item["service"]["id"]])
            links = returned["service_at_locations"]
            link = next(link for link in links if link["id"] == item["id"])
            links.remove(link)
            if not links and "service_at_locations" not in item["service"]:
                del returned["service_at_locations"]
            pairs.append((item, {**link, "service": returned}))
        elif "services" in item:
            organization = {k: v for k, v in item.items() if k != "services"}
            for service in item["services"]:
                returned = copy.deepcopy(exported[service["id"]])
                pairs.append((organization, returned.pop("organization")))
                pairs.append((service, returned))
        elif "status" in item:
            pairs.append((item, exported[item["id"]]))
    return pairs


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", SERVICE_EXAMPLES)
def test_every_official_example_comes_back_whole(session: Any, version: str, name: str) -> None:
    sent = example(name, version)
    with transaction():
        report = hsds.import_document(SYSTEM, copy.deepcopy(sent), version=version)
    assert report.version == version
    exported, _ = hsds.export_all(SYSTEM, limit=200, cursor=None, version=version)
    for document in exported:
        assert list(validator_for(version).iter_errors(document)) == []
    pairs = came_back(sent, {document["id"]: document for document in exported})
    assert pairs or name == "organization_list.json"
    for original, returned in pairs:
        assert returned == original


def test_the_31_export_carries_live_capacity_with_its_unit(session: Any) -> None:
    with transaction():
        agency = factories.agency()
        shelter = factories.directory_service(agency, "emergency_shelter", name="Cap Shelter")
        clinic = factories.directory_service(agency, "primary_care", name="Cap Clinic")
        factories.capacity(shelter, 10, 3)
        factories.capacity(clinic, 4, 4)
    shelter_31 = hsds.export_service(shelter, SYSTEM, "3.1")
    [capacity] = shelter_31["capacities"]
    assert (capacity["available"], capacity["maximum"]) == (3, 10)
    assert capacity["unit"] | {"id": "-"} == {
        "id": "-",
        "name": "Bed",
        "scheme": "referral_hub",
        "identifier": "bed",
    }
    assert capacity["updated"].startswith(str(shelter.capacity.updated_at.year))
    clinic_unit = hsds.export_service(clinic, SYSTEM, "3.1")["capacities"][0]["unit"]
    assert clinic_unit["identifier"] != "bed"
    assert clinic_unit["id"] != capacity["unit"]["id"]
    assert "capacities" not in hsds.export_service(shelter, SYSTEM, "3.0")
    for document in (shelter_31, hsds.export_service(clinic, SYSTEM, "3.1")):
        assert list(validator_for("3.1").iter_errors(document)) == []
    codes = {a["taxonomy_term"]["code"] for a in shelter_31["attributes"]}
    assert "category:emergency_shelter" in codes


def test_a_confidential_site_exports_town_only_in_31_even_when_imported_with_an_address(
    session: Any,
) -> None:
    sent = example("service_full.json", "3.1")
    marker = copy.deepcopy(sent["attributes"][0])
    marker["taxonomy_term"] |= {"code": "location:confidential", "taxonomy": "referral_hub"}
    sent["attributes"].append(marker | {"id": "0b8a3c0e-6a55-4b8e-a7a1-6a4c3b9b0c11"})
    street = sent["service_at_locations"][0]["location"]["addresses"][0]["address_1"]
    with transaction():
        hsds.import_document(SYSTEM, sent)
    service = session.scalars(select(Service).where(Service.hsds_id == sent["id"])).one()
    assert service.confidential
    assert street not in json.dumps(service.hsds_extra)
    document = hsds.export_service(service, SYSTEM, "3.1")
    assert street not in json.dumps(document)
    for link in document["service_at_locations"]:
        assert "addresses" not in link["location"]
        assert "latitude" not in link["location"]
    assert list(validator_for("3.1").iter_errors(document)) == []


def test_a_site_that_becomes_confidential_forgets_the_address_it_was_imported_with(
    session: Any,
) -> None:
    from referral_hub.directory import service as directory

    sent = example("organization_full.json", "3.1")
    street = sent["locations"][0]["addresses"][0]["address_1"]
    with transaction():
        hsds.import_document(SYSTEM, sent)
    service = session.scalars(select(Service).where(Service.hsds_id == sent["services"][0]["id"]))
    service = service.one()
    assert street in json.dumps(service.hsds_extra)
    with transaction():
        directory.update_service(
            SYSTEM, service.id, location={"city": "Riverbend", "confidential": True}
        )
    assert street not in json.dumps(service.hsds_extra)
    for version in VERSIONS:
        document = hsds.export_service(service, SYSTEM, version)
        assert street not in json.dumps(document)
        assert list(validator_for(version).iter_errors(document)) == []


def test_what_the_hub_changes_after_an_import_wins_and_the_rest_stays(session: Any) -> None:
    from referral_hub.directory import service as directory

    sent = example("service_full.json", "3.1")
    with transaction():
        hsds.import_document(SYSTEM, sent)
    service = session.scalars(select(Service).where(Service.hsds_id == sent["id"])).one()
    with transaction():
        directory.update_service(SYSTEM, service.id, name="Renamed in the hub")
        factories.capacity(service, 6, 2)
    document = hsds.export_service(service, SYSTEM, "3.1")
    assert document["name"] == "Renamed in the hub"
    assert [c["available"] for c in document["capacities"]] == [2]
    assert document["last_modified"] != sent["last_modified"]
    for name in ("id", "contacts", "program", "funding", "cost_options", "phones", "licenses"):
        assert document[name] == sent[name]
    assert list(validator_for("3.1").iter_errors(document)) == []


def test_a_source_id_maps_to_one_service_and_a_non_uuid_id_is_not_exported(
    session: Any,
) -> None:
    sent = example("service_full.json", "3.1") | {"id": "outside-42"}
    with transaction():
        first = hsds.import_document(SYSTEM, sent)
    with transaction():
        again = hsds.import_document(SYSTEM, sent | {"description": "New words"})
    assert (first.created, again.created, again.updated) == (1, 0, 1)
    assert [(c.action, c.fields) for c in again.changes] == [("update", ["description"])]
    [service] = session.scalars(select(Service).where(Service.hsds_id == "outside-42")).all()
    assert hsds.export_service(service, SYSTEM, "3.1")["id"] == str(service.id)


def test_a_dry_run_reports_and_writes_nothing(session: Any) -> None:
    from referral_hub.audit.models import AuditEvent

    sent = example("organization_full.json", "3.1")
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    before = count_services(session)
    with transaction():
        report = hsds.import_document(SYSTEM, sent, dry_run=True)
    assert (report.dry_run, report.created, report.agencies_created) == (True, 1, 1)
    assert report.version == "3.1"
    assert report.changes[0].action == "create"
    assert count_services(session) == before
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
    with transaction():
        hsds.import_document(SYSTEM, sent)
    with transaction():
        unchanged = hsds.import_document(SYSTEM, sent, dry_run=True)
    assert [c.action for c in unchanged.changes] == ["unchanged"]


def test_the_api_exports_31_and_dry_runs_an_import(client: Any, session: Any) -> None:
    with transaction():
        agency = factories.agency()
        boss = factories.with_password(factories.user(agency, ["hub_admin"]))
        secret = factories.with_totp(boss)
        factories.capacity(factories.directory_service(agency), 5, 1)
    csrf = factories.sign_in(client, boss, secret)
    headers = {"X-CSRFToken": csrf}
    sent = example("service_full.json", "3.1")
    before = count_services(session)
    dry = client.post("/api/v1/hsds/import?dry_run=true", json=sent, headers=headers)
    assert dry.status_code == 200, dry.json
    assert dry.json["dry_run"] is True
    assert dry.json["changes"][0]["action"] == "create"
    assert count_services(session) == before
    exported = client.get("/api/v1/hsds/services?version=3.1&limit=200", headers=headers)
    assert exported.status_code == 200
    contents = exported.json["contents"]
    assert any("capacities" in d for d in contents)
    assert all(validator_for("3.1").is_valid(d) for d in contents)
    for bad in ("version=3.2", "version=", "versions=3.1"):
        refused = client.get(f"/api/v1/hsds/services?{bad}", headers=headers)
        assert refused.status_code == 422, bad
        assert refused.mimetype == "application/problem+json"
        assert set(refused.json["errors"]) == {bad.split("=")[0]}
    for bad in ("dry_run=perhaps", "version=2.0"):
        refused = client.post(f"/api/v1/hsds/import?{bad}", json=sent, headers=headers)
        assert refused.status_code == 422
        assert set(refused.json["errors"]) == {bad.split("=")[0]}
    broken = sent | {"capacities": [{"id": "c", "available": "many"}]}
    refused = client.post("/api/v1/hsds/import?dry_run=true", json=broken, headers=headers)
    assert refused.status_code == 422
    assert set(refused.json["errors"]) == {"$.capacities[0]", "$.capacities[0].available"}
    assert count_services(session) == before


def test_the_cli_dry_runs_with_progress(app: Any, session: Any, tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(example("service_list.json", "3.1")))
    before = count_services(session)
    result = app.test_cli_runner().invoke(
        args=["hub", "import-hsds", str(path), "--dry-run", "--version", "3.1"]
    )
    assert result.exit_code == 0, result.output
    assert "[1/1] would create" in result.output
    assert "nothing written" in result.output
    assert count_services(session) == before


def test_the_list_of_what_does_not_round_trip_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "hsds.md").read_text()
    for name in hsds.NOT_ROUND_TRIPPED:
        assert f"`{name}`" in text
