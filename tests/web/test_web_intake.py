"""Intake worker pages: dashboard, search and the plan, new client, client, consent capture."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Referral
from referral_hub.referrals.queries import dashboard as sent
from tests import factories

SHELTER_POINT = {"latitude": 41.88, "longitude": -87.63, "city": "Riverbend"}


@pytest.fixture
def world(session: Any) -> dict[str, Any]:
    with transaction():
        home = factories.agency(kind=AgencyKind.HOTLINE)
        shelter = factories.agency(kind=AgencyKind.SHELTER)
        clinic = factories.agency(kind=AgencyKind.HEALTH)
        police = factories.agency(kind=AgencyKind.LAW_ENFORCEMENT)
        other = factories.agency()
        worker = factories.with_password(factories.user(home, ["intake"]))
        provider = factories.with_password(factories.user(shelter, ["provider"]))
        stranger = factories.with_password(factories.user(other, ["intake"]))
        beds = [
            factories.directory_service(
                shelter,
                "emergency_shelter",
                name=f"Beds {n}",
                phone=f"+1 555 010{n}",
                eligibility={"min_age": 18, "languages": ["en", "es"], "no_id_needed": True},
                location=SHELTER_POINT | {"confidential": True},
            )
            for n in range(4)
        ]
        for bed in beds:
            factories.capacity(bed, total=6, available=2)
        care = factories.directory_service(
            clinic,
            "primary_care",
            name="Walk-in care",
            eligibility={"languages": ["en"]},
            location={"latitude": 42.2, "longitude": -87.6, "city": "Northgate"},
        )
        factories.capacity(care, total=4, available=0)
        advocacy = factories.directory_service(police, "case_management", name="Victim advocacy")
    return {
        "home": home,
        "shelter": shelter,
        "clinic": clinic,
        "police": police,
        "other": other,
        "worker": worker,
        "provider": provider,
        "stranger": stranger,
        "beds": beds,
        "care": care,
        "advocacy": advocacy,
    }


def signed_in(http: Any, person: Any) -> str:
    return factories.sign_in(http, person)


def count(session: Any, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)))


def audit_count(session: Any) -> int:
    return count(session, AuditEvent)


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def field_error(page: str, name: str) -> str | None:
    """The error message rendered beside field `name` (macro ids: f-<name>-error)."""
    fid = "f-" + name.replace(".", "-")
    match = re.search(rf'id="{re.escape(fid)}-error" class="field-error">([^<]*)<', page)
    return match.group(1) if match else None


def make_client(world: dict[str, Any], **fields: Any) -> Any:
    with transaction():
        return clients.create_client(factories.actor_for(world["worker"]), **fields)


def make_consent(world: dict[str, Any], client_id: uuid.UUID, recipients: list[Any]) -> Any:
    with transaction():
        return consent.record_consent(
            factories.actor_for(world["worker"]),
            client_id,
            recipients=[agency.id for agency in recipients],
            purposes=["emergency_shelter", "primary_care"],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="en",
            signed_at=clock.now(),
        )


# --- who may look ----------------------------------------------------------------------------

PAGES = ["/intake/", "/intake/search", "/intake/clients/new"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: Any, world: dict[str, Any], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 302
    location = urllib.parse.unquote(response.headers["Location"])
    assert location == f"/login?next={path}"


@pytest.mark.parametrize("path", PAGES)
def test_a_provider_only_user_gets_403(client: Any, world: dict[str, Any], path: str) -> None:
    signed_in(client, world["provider"])
    response = client.get(path)
    assert response.status_code == 403
    assert "This page is for intake" in text(response)


def test_a_provider_cannot_post_to_the_plan(client: Any, world: dict[str, Any]) -> None:
    token = signed_in(client, world["provider"])
    response = client.post(
        "/intake/plan", data={"csrf_token": token, "service_id": str(world["beds"][0].id)}
    )
    assert response.status_code == 403


def test_another_agencys_client_is_not_found(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    theirs = make_client(world)  # the worker's agency owns it
    signed_in(client, world["stranger"])
    for path in (
        f"/intake/clients/{theirs.id}",
        f"/intake/clients/{theirs.id}?details=1",
        f"/intake/clients/{theirs.id}/consent",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert theirs.reference not in text(response)


# --- dashboard -------------------------------------------------------------------------------


def send_bundle(world: dict[str, Any], person: Any, services: list[Any], urgency: Urgency) -> Any:
    with transaction():
        return bundles.create_bundle(
            factories.actor_for(world["worker"]),
            client_id=person.id,
            urgency=urgency,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [service.id for service in services],
                    "data_categories": ["profile"],
                }
            ],
        )


def test_dashboard_lists_open_bundles_with_status_deadline_and_limbo(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    calm = make_client(world)
    stuck = make_client(world)
    send_bundle(world, calm, world["beds"][:1], Urgency.ROUTINE)
    late = send_bundle(world, stuck, world["beds"][1:2], Urgency.EMERGENCY)
    with transaction():  # the emergency's answer deadline passed
        referral = session.scalar(select(Referral).where(Referral.bundle_id == late.id))
        referral.respond_by = clock.now() - timedelta(minutes=5)
        referral.acknowledge_by = clock.now() - timedelta(minutes=20)
    theirs_person = None
    with transaction():  # another agency's bundle never shows
        stranger = factories.actor_for(world["stranger"])
        theirs_person = clients.create_client(stranger)
        bundles.create_bundle(
            stranger,
            client_id=theirs_person.id,
            urgency=Urgency.URGENT,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [world["beds"][3].id],
                    "data_categories": ["profile"],
                }
            ],
        )
    signed_in(client, world["worker"])
    page = text(client.get("/intake/"))
    assert calm.reference in page
    assert stuck.reference in page
    assert theirs_person.reference not in page
    assert page.index(stuck.reference) < page.index(calm.reference)  # stuck first
    assert "Stuck:" in page
    assert "waiting past its deadline" in page
    assert "Waiting for an answer" in page
    assert "overdue" in page
    assert f"/intake/bundles/{late.id}" in page
    assert 'hx-trigger="every 30s, hub-live"' in page
    assert 'aria-live="polite"' in page
    fragment = client.get("/intake/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert stuck.reference in text(fragment)


def test_dashboard_offers_a_new_intake_and_shows_the_plan(
    client: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    page = text(client.get("/intake/"))
    assert 'href="/intake/search"' in page
    assert "No open referrals" in page
    assert "Your plan in progress" not in page
    client.post("/intake/plan", data={"csrf_token": token, "service_id": str(world["care"].id)})
    page = text(client.get("/intake/"))
    assert "Your plan in progress" in page
    assert "Walk-in care" in page


def test_sent_bundles_is_tenant_scoped_bounded_and_leaves_out_met(
    session: Any, world: dict[str, Any]
) -> None:
    person = make_client(world)
    first = send_bundle(world, person, world["beds"][:2], Urgency.URGENT)
    mine = factories.actor_for(world["worker"])
    items = sent.sent_bundles(mine)
    assert [item.bundle_id for item in items] == [first.id]
    assert items[0].needs[0].status == "pending"
    assert items[0].next_deadline is not None
    assert sent.sent_bundles(factories.actor_for(world["stranger"])) == []
    # met: accepted, arrived, completed → gone from the open list, kept for the client page
    provider = factories.actor_for(world["provider"])
    referral = session.scalar(
        select(Referral).where(
            Referral.bundle_id == first.id, Referral.service_id == world["beds"][0].id
        )
    )
    with transaction():
        for action in ("accept", "confirm-arrival", "complete"):
            referrals.transition(provider, referral.id, action)
    assert sent.sent_bundles(mine) == []
    everything = sent.sent_bundles(mine, client_id=person.id, open_only=False)
    assert [item.status for item in everything] == ["met"]
    assert len(sent.sent_bundles(mine, open_only=False, limit=1)) == 1


def test_sent_bundles_reads_in_a_bounded_number_of_queries(
    session: Any, world: dict[str, Any]
) -> None:
    from sqlalchemy import event

    for _ in range(3):
        send_bundle(world, make_client(world), world["beds"][:1], Urgency.ROUTINE)
    mine = factories.actor_for(world["worker"])
    statements: list[str] = []
    engine = session.get_bind()

    def spy(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", spy)
    try:
        items = sent.sent_bundles(mine)
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert len(items) == 3
    reads = [sql for sql in statements if sql.startswith("SELECT")]
    assert len(reads) == 2  # bundles, then every need grouped: not one per bundle


# --- search and the plan ---------------------------------------------------------------------


def test_search_shows_capacity_freshness_distance_and_highlights(
    client: Any, world: dict[str, Any]
) -> None:
    signed_in(client, world["worker"])
    response = client.get(
        "/intake/search?category=emergency_shelter&age=25&language=es&lat=41.88&lon=-87.63"
        "&radius_km=50&available=true"
    )
    assert response.status_code == 200
    page = text(response)
    assert "Beds 0" in page
    assert "Walk-in care" not in page
    assert "2 of 6 beds free" in page
    assert "Fresh" in page
    assert "Confidential location" in page
    assert "km away" in page
    assert "Takes age 25 (ages 18+)" in page
    assert "Works in Spanish (es)" in page
    assert "No ID needed" in page
    assert "May ask for a police report" in page
    assert 'name="age"' in page
    assert 'value="25"' in page  # the query is kept in the form
    assert "Add to plan" in page
    assert 'name="csrf_token"' in page
    # the number to call is where the worker decides, for services that give one
    assert "To refer, call" in page
    assert 'href="tel:+15550100"' in page


def test_search_near_a_town_from_the_bundled_list(client: Any, world: dict[str, Any]) -> None:
    from referral_hub.directory import places

    signed_in(client, world["worker"])
    towns = places.towns()
    assert {"Riverbend", "Northgate"} <= {town.name for town in towns}
    page = text(client.get("/intake/search?place=Northgate&radius_km=10"))
    assert "Walk-in care" in page
    assert "Beds 0" not in page  # Riverbend is ~31 km away
    assert '<option value="Northgate" selected>' in page


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("age=200", "age", "Give an age from 0 to 120."),
        ("age=old", "age", "Give a whole number."),
        ("language=not_a_tag", "language", "Not a language we know: type its name"),
        ("radius_km=5", "radius_km", "Choose a town or give coordinates"),
        ("place=Atlantis", "place", "Choose a town from the list."),
        ("lat=95&lon=10", "lat", "Latitude is between -90 and 90"),
        ("lat=41.8", "lat", "Give both latitude and longitude"),
    ],
)
def test_bad_search_filters_answer_422_beside_the_field(
    client: Any, world: dict[str, Any], query: str, field: str, message: str
) -> None:
    signed_in(client, world["worker"])
    response = client.get(f"/intake/search?{query}")
    assert response.status_code == 422
    page = text(response)
    error = field_error(page, field)
    assert error is not None, (field, error)
    assert error.startswith(message), (field, error)
    typed = query.split("&")[0].split("=", 1)[1]
    assert f'value="{typed}"' in page or f'value="{typed}" selected' in page or field == "place"


def test_adding_to_the_plan_redirects_back_and_lists_the_pick(
    client: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    bed = world["beds"][0]
    response = client.post(
        "/intake/plan",
        data={"csrf_token": token, "service_id": str(bed.id), "back": "category=emergency_shelter"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/intake/search?category=emergency_shelter"
    page = text(client.get(response.headers["Location"]))
    assert "Added Beds 0 to the plan." in page
    panel = page[page.index('id="plan-panel"') :]
    assert "Emergency shelter" in panel
    assert "Beds 0" in panel
    assert "(1 of 3)" in panel
    assert "Continue: new client" in panel
    assert "/intake/clients/new" in panel


def test_the_plan_holds_at_most_three_services_per_need(client: Any, world: dict[str, Any]) -> None:
    token = signed_in(client, world["worker"])
    for bed in world["beds"][:3]:
        client.post("/intake/plan", data={"csrf_token": token, "service_id": str(bed.id)})
    fourth = client.post(
        "/intake/plan", data={"csrf_token": token, "service_id": str(world["beds"][3].id)}
    )
    assert fourth.status_code == 302
    page = text(client.get(fourth.headers["Location"]))
    assert "already has 3 services in the plan" in page
    panel = page[page.index('id="plan-panel"') :]
    assert "Beds 3" not in panel
    assert "(3 of 3)" in panel
    # another need still has room
    other = client.post(
        "/intake/plan",
        data={"csrf_token": token, "service_id": str(world["care"].id)},
        headers={"HX-Request": "true"},
    )
    assert other.status_code == 200
    assert "Walk-in care" in text(other)
    # with htmx, the refusal comes back as the panel, status 422
    refused = client.post(
        "/intake/plan",
        data={"csrf_token": token, "service_id": str(world["beds"][3].id)},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422
    assert text(refused).lstrip().startswith('<aside id="plan-panel"')
    assert "already has 3 services" in text(refused)


def test_removing_from_the_plan(client: Any, world: dict[str, Any]) -> None:
    token = signed_in(client, world["worker"])
    bed = world["beds"][0]
    client.post("/intake/plan", data={"csrf_token": token, "service_id": str(bed.id)})
    fragment = client.post(
        "/intake/plan/remove",
        data={"csrf_token": token, "service_id": str(bed.id)},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert "No services picked yet" in text(fragment)
    assert "<html" not in text(fragment)


def test_the_plan_refuses_an_unknown_service_and_a_missing_csrf_token(
    client: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    missing = client.post(
        "/intake/plan", data={"csrf_token": token, "service_id": str(uuid.uuid4())}
    )
    assert missing.status_code == 404
    no_token = client.post("/intake/plan", data={"service_id": str(world["beds"][0].id)})
    assert no_token.status_code in (400, 403)


# --- new client ------------------------------------------------------------------------------


def test_new_client_form_groups_pii_by_category_with_hints(
    client: Any, world: dict[str, Any]
) -> None:
    signed_in(client, world["worker"])
    page = text(client.get("/intake/clients/new"))
    for legend in ("General profile", "Identity", "Contact", "Her story", "Immigration", "Health"):
        assert f"<legend>{legend}" in page
    assert "Only if the service must know who is coming" in page
    assert 'name="do_not_refer"' in page
    assert world["police"].name in page
    assert 'name="csrf_token"' in page


def test_creating_a_client_seals_pii_and_goes_to_consent(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    response = client.post(
        "/intake/clients/new",
        data={
            "csrf_token": token,
            "profile.age_range": "18_24",
            "profile.language": "es",
            "profile.urgency": "urgent",
            "profile.accessibility.present": "1",
            "profile.accessibility": "wheelchair",
            "pii.name": "Marker-Name-a1",
            "pii.dob": "2001-02-03",
            "do_not_refer.present": "1",
            "do_not_refer": str(world["police"].id),
        },
    )
    assert response.status_code == 302
    record = session.scalars(select(Client).where(Client.owner_agency_id == world["home"].id)).one()
    assert response.headers["Location"] == f"/intake/clients/{record.id}/consent"
    assert record.profile == {
        "age_range": "18_24",
        "language": "es",
        "urgency": "urgent",
        "accessibility": ["wheelchair"],
    }
    assert record.do_not_refer == [str(world["police"].id)]
    assert clients.unseal(record, {"identity"}) == {"name": "Marker-Name-a1", "dob": "2001-02-03"}
    assert "client.created" in session.scalars(select(AuditEvent.action)).all()
    page = text(client.get(response.headers["Location"]))
    assert f"Client {record.reference} recorded" in page
    assert "Marker-Name-a1" not in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"profile.age_range": "ancient"}, "profile.age_range", "Choose one of"),
        ({"profile.language": "spanish please"}, "profile.language", "Not a language we know"),
        ({"pii.dob": "31/02/2001"}, "pii.dob", "Give a date"),
        ({"reference": "no spaces allowed"}, "reference", "Use 4 to 40 letters"),
        ({"pii.dob": "2031-01-01"}, "pii.dob", "A date of birth cannot be in the future."),
        ({"pii.dob": "1850-06-01"}, "pii.dob", "That is over 120 years ago"),
        (
            {"profile.urgencies.emergency_shelter": "soon"},
            "profile.urgencies.emergency_shelter",
            "Choose one of",
        ),
    ],
)
def test_a_bad_client_form_is_422_beside_the_field_and_writes_nothing(
    client: Any, session: Any, world: dict[str, Any], data: dict[str, str], field: str, message: str
) -> None:
    token = signed_in(client, world["worker"])
    before = (count(session, Client), audit_count(session))
    response = client.post(
        "/intake/clients/new",
        data={"csrf_token": token, "pii.name": "Kept-Name-b2", "pii.narrative": "Kept story"}
        | data,
    )
    assert response.status_code == 422
    page = text(response)
    error = field_error(page, field)
    assert error is not None, error
    assert error.startswith(message), error
    assert 'value="Kept-Name-b2"' in page
    assert "Kept story</textarea>" in page
    assert (count(session, Client), audit_count(session)) == before


def test_a_taken_reference_is_refused_beside_the_field(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    make_client(world, reference="RH-TAKEN")
    token = signed_in(client, world["worker"])
    before = count(session, Client)
    response = client.post(
        "/intake/clients/new", data={"csrf_token": token, "reference": "RH-TAKEN"}
    )
    assert response.status_code == 409
    assert field_error(text(response), "reference") == "Already used."
    assert count(session, Client) == before


# --- the client ------------------------------------------------------------------------------


def test_client_page_shows_reference_consents_and_bundles_without_pii(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    person = make_client(
        world, profile={"language": "es"}, pii={"name": "Marker-Name-c3", "health": "Marker-H"}
    )
    granted = make_consent(world, person.id, [world["shelter"]])
    bundle = send_bundle(world, person, world["beds"][:1], Urgency.URGENT)
    signed_in(client, world["worker"])
    before = audit_count(session)
    page = text(client.get(f"/intake/clients/{person.id}"))
    assert person.reference in page
    assert world["shelter"].name in page
    assert "Active" in page
    assert f"<title>Client {person.reference} · Referral hub</title>" in page
    assert page.count('id="runaround-h"') == 1  # her runaround, once, in the page body
    assert f"/intake/bundles/{bundle.id}" in page
    assert f"/intake/clients/{person.id}/consents/{granted.id}/revoke" in page
    assert "Marker-Name-c3" not in page  # PII only on request
    assert audit_count(session) == before
    shown = text(client.get(f"/intake/clients/{person.id}?details=1"))
    assert "Marker-Name-c3" in shown
    assert "Marker-H" in shown
    viewed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "client.pii_viewed")
    ).all()
    assert len(viewed) == 1
    assert set(viewed[0].fields) == {"identity", "health"}


def test_revoking_a_consent_needs_a_reason_and_is_audited(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    person = make_client(world)
    granted = make_consent(world, person.id, [world["shelter"]])
    token = signed_in(client, world["worker"])
    url = f"/intake/clients/{person.id}/consents/{granted.id}/revoke"
    before = audit_count(session)
    refused = client.post(url, data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422
    assert f'id="f-reason-{granted.id}-error"' in text(refused)
    assert audit_count(session) == before
    session.expire_all()
    assert session.get(Consent, granted.id).revoked_at is None
    done = client.post(url, data={"csrf_token": token, "reason": "she asked by phone"})
    assert done.status_code == 302
    assert done.headers["Location"] == f"/intake/clients/{person.id}"
    session.expire_all()
    assert session.get(Consent, granted.id).revocation_reason == "she asked by phone"
    assert "consent.revoked" in session.scalars(select(AuditEvent.action)).all()
    page = text(client.get(done.headers["Location"]))
    assert "Consent revoked" in page
    assert "Revoked" in page


def test_revoking_another_clients_consent_through_this_page_is_404(
    client: Any, world: dict[str, Any]
) -> None:
    one, two = make_client(world), make_client(world)
    granted = make_consent(world, two.id, [world["shelter"]])
    token = signed_in(client, world["worker"])
    response = client.post(
        f"/intake/clients/{one.id}/consents/{granted.id}/revoke",
        data={"csrf_token": token, "reason": "x"},
    )
    assert response.status_code == 404


# --- consent capture -------------------------------------------------------------------------


def plan_of(client: Any, token: str, services: list[Any]) -> None:
    for service in services:
        client.post("/intake/plan", data={"csrf_token": token, "service_id": str(service.id)})


def test_consent_form_offers_the_plans_agencies_pre_ticked(
    client: Any, world: dict[str, Any]
) -> None:
    person = make_client(world)
    token = signed_in(client, world["worker"])
    plan_of(client, token, [world["beds"][0], world["care"], world["advocacy"]])
    page = text(client.get(f"/intake/clients/{person.id}/consent"))
    assert f'value="{world["shelter"].id}" checked' in page
    assert f'value="{world["clinic"].id}" checked' in page
    assert f'value="{world["police"].id}" checked' not in page  # never pre-ticked
    assert "law enforcement" in page
    assert "Contact with law enforcement" in page
    assert f'value="{world["other"].id}"' in page  # any other agency, by the select
    assert 'value="emergency_shelter" checked' in page
    assert 'value="primary_care" checked' in page
    assert "Permission to share your information" in page
    assert 'lang="en"' in page
    assert 'type="date"' in page
    assert 'type="datetime-local"' in page


def test_consent_text_switches_language(client: Any, world: dict[str, Any]) -> None:
    person = make_client(world)
    signed_in(client, world["worker"])
    page = text(client.get(f"/intake/clients/{person.id}/consent?lang=es"))
    assert "Permiso para compartir su información" in page
    assert '<section class="consent-text" lang="es"' in page
    assert 'name="form_language" value="es"' in page


def consent_form(token: str, world: dict[str, Any], **changes: Any) -> dict[str, Any]:
    now = clock.now()
    data: dict[str, Any] = {
        "csrf_token": token,
        "form_language": "es",
        "recipients.present": "1",
        "recipients": [str(world["shelter"].id), ""],
        "purposes.present": "1",
        "purposes": ["emergency_shelter"],
        "data_categories.present": "1",
        "data_categories": ["profile", "contact"],
        "method": "written",
        "signer": "survivor",
        "signed_at": now.strftime("%Y-%m-%dT%H:%M"),
        "expires_at": (now + timedelta(days=20)).strftime("%Y-%m-%d"),
    }
    data.update(changes)
    return data


def test_recording_consent_redirects_to_the_bundle_page(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    person = make_client(world)
    token = signed_in(client, world["worker"])
    response = client.post(f"/intake/clients/{person.id}/consent", data=consent_form(token, world))
    assert response.status_code == 302, text(response)
    recorded = session.scalars(select(Consent).where(Consent.client_id == person.id)).one()
    assert response.headers["Location"] == (
        f"/intake/bundles/new?client={person.id}&consent={recorded.id}"
    )
    assert recorded.recipients == [str(world["shelter"].id)]
    assert recorded.form_language == "es"
    assert recorded.form_version == "hub-roi-es-2026.1"
    assert recorded.data_categories == ["contact", "profile"]
    assert (recorded.expires_at - recorded.signed_at).days in (19, 20)
    assert "consent.recorded" in session.scalars(select(AuditEvent.action)).all()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"recipients": [""]}, "recipients", "Choose at least one agency"),
        ({"purposes": []}, "purposes", "Choose at least one."),
        ({"signer": "representative"}, "signer_authority", "A representative signs under"),
        ({"method": "telepathy"}, "method", "Choose one of"),
        ({"signed_at": "2999-01-01T10:00"}, "signed_at", "Cannot be in the future."),
        ({"expires_at": "yesterday"}, "expires_at", "Give a date and time."),
    ],
)
def test_a_defective_consent_is_422_beside_the_field_and_stores_nothing(
    client: Any,
    session: Any,
    world: dict[str, Any],
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    person = make_client(world)
    token = signed_in(client, world["worker"])
    before = (count(session, Consent), audit_count(session))
    response = client.post(
        f"/intake/clients/{person.id}/consent", data=consent_form(token, world, **changes)
    )
    assert response.status_code == 422
    page = text(response)
    if field in ("recipients", "purposes"):
        assert message in page
    else:
        error = field_error(page, field)
        assert error is not None, error
        assert error.startswith(message), error
    assert (count(session, Consent), audit_count(session)) == before
    assert 'value="profile" checked' in page
    assert 'value="contact" checked' in page  # kept


def test_a_law_enforcement_recipient_needs_the_explicit_purpose(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    person = make_client(world)
    token = signed_in(client, world["worker"])
    form = consent_form(token, world, recipients=[str(world["police"].id)])
    refused = client.post(f"/intake/clients/{person.id}/consent", data=form)
    assert refused.status_code == 422
    assert "law_enforcement_contact purpose" in text(refused)
    assert count(session, Consent) == 0
    form["purposes"] = ["case_management", "law_enforcement_contact"]
    assert client.post(f"/intake/clients/{person.id}/consent", data=form).status_code == 302


def test_an_expiry_beyond_ninety_days_is_refused(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    person = make_client(world)
    token = signed_in(client, world["worker"])
    far = (clock.now() + timedelta(days=120)).strftime("%Y-%m-%d")
    response = client.post(
        f"/intake/clients/{person.id}/consent", data=consent_form(token, world, expires_at=far)
    )
    assert response.status_code == 422
    assert field_error(text(response), "expires_at") == "At most 90 days after signing."
    assert f'value="{far}"' in text(response)


def test_the_consent_text_spells_the_end_date_in_her_language(
    client: Any, world: dict[str, Any]
) -> None:
    from referral_hub.web import consent_texts

    assert consent_texts.text_for("es-MX").language == "es"
    assert consent_texts.text_for("xx").language == "en"
    person = make_client(world)
    signed_in(client, world["worker"])
    page = text(client.get(f"/intake/clients/{person.id}/consent?lang=es"))
    ends = (clock.now() + timedelta(days=30)).astimezone(consent_texts_zone())
    assert f"{ends.day} de " in page
    assert f" de {ends.year}" in page


def consent_texts_zone() -> Any:
    from referral_hub.web.forms import display_zone

    return display_zone()


def test_her_profile_is_shown_in_words_not_codes(client: Any, world: dict[str, Any]) -> None:
    person = make_client(
        world,
        profile={
            "age_range": "25_39",
            "language": "es",
            "household": "with_children",
            "gender": "undisclosed",
            "urgency": "emergency",
        },
    )
    signed_in(client, world["worker"])
    page = text(client.get(f"/intake/clients/{person.id}"))
    for shown in ("25 to 39", "Spanish (es)", "With children", "Prefers not to say", "Emergency"):
        assert shown in page, shown
    for code in ("25 39", "25_39", "with_children", "with children", "undisclosed"):
        assert code not in page, code


def test_a_language_is_typed_by_its_name_and_stored_as_its_code(
    client: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    found = text(client.get("/intake/search?category=emergency_shelter&language=Spanish"))
    assert "Beds 0" in found
    assert "Works in Spanish (es)" in found
    assert 'value="Spanish"' in found  # what she typed stays in the field
    for typed in ("Spanish", "español", " es "):
        answer = client.post(
            "/intake/clients/new",
            data={"csrf_token": token, "profile.language": typed, "pii.name": "Ana"},
        )
        assert answer.status_code == 302, typed
    languages = {
        record.profile.get("language")
        for record in db.session.scalars(
            select(Client).where(Client.owner_agency_id == world["home"].id)
        )
    }
    assert languages == {"es"}
    refused = client.post(
        "/intake/clients/new", data={"csrf_token": token, "profile.language": "Klingon!"}
    )
    assert refused.status_code == 422
    assert "type its name (Spanish) or code (es)" in text(refused)


def test_the_consent_text_is_in_her_language_and_lists_only_what_is_ticked(
    client: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    person = make_client(world, profile={"language": "es-MX"})
    page = text(client.get(f"/intake/clients/{person.id}/consent"))
    assert 'lang="es"' in page
    assert "Permiso para compartir su información" in page

    def shown(html: str) -> list[str]:
        block = html.split('<ul class="consent-categories">')[1].split("</ul>")[0]
        return re.findall(r'data-category="(\w+)">', block)

    assert shown(page) == ["profile"]  # the defaults tick her general profile only
    refused = client.post(  # no agency named: the same page again, with what was ticked
        f"/intake/clients/{person.id}/consent",
        data={
            "csrf_token": token,
            "form_language": "es",
            "recipients.present": "1",
            "data_categories": ["profile", "contact"],
        },
    )
    assert refused.status_code == 422
    assert shown(text(refused)) == ["profile", "contact"]
    assert "Cómo comunicarse con usted" in text(refused)
    assert "Identity" not in text(refused).split("consent-categories")[1].split("</ul>")[0]


def plan_a_bed(client: Any, world: dict[str, Any], token: str, back: str = "") -> None:
    """ "Add to plan" on a search result (`back`: the search it came from)."""
    added = client.post(
        "/intake/plan",
        data={"csrf_token": token, "service_id": str(world["beds"][0].id), "back": back},
    )
    assert added.status_code == 302


def test_what_the_search_said_about_her_is_not_asked_again(
    client: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    search = "category=emergency_shelter&age=30&gender=female&language=Spanish"
    plan_a_bed(client, world, token, search)
    page = text(client.get("/intake/clients/new"))
    assert re.search(r'<option value="25_39"\s+selected', page)
    assert re.search(r'<option value="female"\s+selected', page)
    assert 'value="Spanish"' in page


def test_each_planned_needs_urgency_is_asked_once_on_new_client_and_kept_on_her_record(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    token = signed_in(client, world["worker"])
    plan_a_bed(client, world, token)
    page = text(client.get("/intake/clients/new"))
    assert 'name="profile.urgencies.emergency_shelter"' in page
    response = client.post(
        "/intake/clients/new",
        data={
            "csrf_token": token,
            "profile.urgency": "routine",
            "profile.urgencies.emergency_shelter": "emergency",
        },
    )
    assert response.status_code == 302
    record = session.scalars(select(Client).where(Client.owner_agency_id == world["home"].id)).one()
    assert record.profile == {"urgency": "routine", "urgencies": {"emergency_shelter": "emergency"}}
    shown = text(client.get(f"/intake/clients/{record.id}"))
    assert "Urgency of each need" in shown
    assert "Emergency shelter: Emergency" in shown
