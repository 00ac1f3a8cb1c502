"""Her own door (`/me`): her code and PIN, who holds what, withdrawal, erasure, how to reach
her — and the abuse it must withstand (guessing, enumeration, a stolen card)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxMessage
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State
from referral_hub.survivor import access
from referral_hub.survivor import service as survivor
from referral_hub.survivor.models import ErasureRequest, SurvivorAccess
from tests import factories

PIN = "4921"
SCOPES = ["clients:write", "clients:read", "referrals:read", "referrals:write"]


@pytest.fixture
def world(client: Any, session: Any) -> dict[str, Any]:
    """Her agency, a shelter and a legal clinic under one consent (the clinic may read
    immigration too), one referral to each: the shelter's accepted, the clinic's pending."""
    with transaction():
        owner = factories.agency(name="Intake Centre")
        shelter_agency = factories.agency(name="Harbour Shelter")
        clinic_agency = factories.agency(name="Bridge Legal Clinic")
        shelter = factories.directory_service(shelter_agency, "emergency_shelter")
        factories.capacity(shelter, total=5, available=5)
        clinic = factories.directory_service(clinic_agency, "immigration_counsel")
        intake = factories.actor_for(factories.user(owner, ["intake"]))
        provider = factories.actor_for(factories.user(shelter_agency, ["provider"]))
        her = clients.create_client(
            intake,
            pii={"name": "Ana", "contact": "555 0101", "immigration": "visa"},
            profile={"language": "es"},
        )
        granted = factories.written_consent(
            intake,
            her.id,
            recipients=[shelter_agency.id, clinic_agency.id],
            purposes=["emergency_shelter", "immigration_counsel"],
            data_categories=["contact", "immigration"],
        )
        bundle = bundles.create_bundle(
            intake,
            client_id=her.id,
            urgency=Urgency.URGENT,
            consent_id=granted.id,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [shelter.id],
                    "data_categories": ["contact"],
                },
                {
                    "category": "immigration_counsel",
                    "service_ids": [clinic.id],
                    "data_categories": ["contact", "immigration"],
                },
            ],
        )
        sent = {
            r.receiver_agency_id: r
            for r in db.session.scalars(select(Referral).where(Referral.bundle_id == bundle.id))
        }
        to_shelter, to_clinic = sent[shelter_agency.id], sent[clinic_agency.id]
        referrals.transition(provider, to_shelter.id, "accept")
        issued = access.issue_code(intake, her.id, PIN)
        bearer = {}
        for name, agency in (
            ("owner", owner),
            ("shelter", shelter_agency),
            ("clinic", clinic_agency),
        ):
            bearer[name] = factories.api_client(agency, SCOPES)
    headers = {
        name: {"Authorization": f"Bearer {factories.token(client, *pair)}"}
        for name, pair in bearer.items()
    }
    return {
        "owner": owner,
        "shelter": shelter_agency,
        "clinic": clinic_agency,
        "intake": intake,
        "her": her,
        "consent": granted,
        "bundle": bundle,
        "to_shelter": to_shelter,
        "to_clinic": to_clinic,
        "code": issued.code,
        "headers": headers,
    }


def sign_in(http: Any, code: str, pin: str = PIN, lang: str | None = None) -> Any:
    page = http.get("/me" + (f"?lang={lang}" if lang else "")).get_data(as_text=True)
    return http.post(
        "/me/sign-in", data={"code": code, "pin": pin, "csrf_token": factories.csrf_from(page)}
    )


def post_on_page(http: Any, path: str, **form: str) -> Any:
    page = http.get("/me").get_data(as_text=True)
    return http.post(path, data={**form, "csrf_token": factories.csrf_from(page)})


def holder_text(page: str, name: str) -> str:
    """The text of one agency's card on her page."""
    cards = page.split('<li class="me-holder"')[1:]
    cards[-1] = cards[-1].split("</ul>\n\n")[0]
    (card,) = [c for c in cards if f"<h2>{name}</h2>" in c]
    text = re.sub(r"<[^>]+>", " ", card.split("</h2>", 1)[1])
    return re.sub(r"\s+", " ", text)


# --- the code ----------------------------------------------------------------------------------


def test_the_code_is_80_random_bits_stored_only_as_hashes(world: dict[str, Any]) -> None:
    code = world["code"]
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code)
    row = db.session.scalar(
        select(SurvivorAccess).where(SurvivorAccess.client_id == world["her"].id)
    )
    assert row.code_digest == access.digest(code)
    assert code not in row.code_digest
    assert PIN not in row.pin_hash
    assert row.pin_hash.startswith("$argon2id$")
    # typed as she might: lower case, spaces instead of dashes
    assert access.digest(code.lower().replace("-", " ")) == row.code_digest


def test_she_signs_in_and_sees_exactly_what_each_agency_can_read(
    client: Any, world: dict[str, Any]
) -> None:
    answer = sign_in(client, world["code"])
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/me")
    response = client.get("/me?lang=en")
    page = response.get_data(as_text=True)
    assert response.headers["Cache-Control"].startswith("no-store")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    shelter = holder_text(page, "Harbour Shelter")
    clinic = holder_text(page, "Bridge Legal Clinic")
    # the shelter accepted a referral that shared contact only: basic facts and contact
    assert "how to reach you" in shelter
    assert "immigration" not in shelter
    assert "agreed to help you" in shelter
    # the clinic has not accepted: basic facts only, though its referral shares more
    assert "basic facts" in clinic
    assert "how to reach you" not in clinic
    assert "received a request" in clinic
    assert "agreed" not in clinic
    # and the same rule the API serves: what the shelter reads through GET /clients/{id}
    served = client.get(f"/api/v1/clients/{world['her'].id}", headers=world["headers"]["shelter"])
    assert sorted(served.json["categories"]) == ["contact", "profile"]
    viewed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "survivor.viewed_holders")
    ).all()
    assert viewed
    assert viewed[-1].actor_type == "survivor"
    assert viewed[-1].actor_id is None


def test_her_page_speaks_spanish(client: Any, world: dict[str, Any]) -> None:
    sign_in(client, world["code"], lang="es")
    page = client.get("/me").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "Quién tiene su información" in page
    assert "Who holds" not in page


def test_every_failure_looks_the_same(client: Any, world: dict[str, Any]) -> None:
    def refusal(code: str, pin: str) -> tuple[int, str]:
        answer = sign_in(client, code, pin)
        body = re.sub(r'name="csrf_token" value="[^"]+"', "", answer.get_data(as_text=True))
        return answer.status_code, body

    unknown = refusal(access.new_code(), PIN)
    wrong_pin = refusal(world["code"], "0000")
    empty = refusal("", "")
    assert unknown == wrong_pin == empty
    assert unknown[0] == 401


def test_five_wrong_pins_lock_the_code_and_tell_her_agency(
    client: Any, world: dict[str, Any]
) -> None:
    for _ in range(5):
        assert sign_in(client, world["code"], "0000").status_code == 401
    # locked: even the right PIN is refused, the same way
    assert sign_in(client, world["code"]).status_code == 401
    row = db.session.scalar(
        select(SurvivorAccess).where(SurvivorAccess.client_id == world["her"].id)
    )
    db.session.refresh(row)
    assert row.locked_until is not None
    locked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "survivor_access.locked")
    ).all()
    assert len(locked) == 1
    mails = [
        m.payload
        for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
        if m.payload["template"] == "survivor_code_locked"
    ]
    assert mails, "her agency was not told"
    assert all(world["code"] not in str(m) and PIN not in str(m) for m in mails)
    # an hour later it opens again
    with clock.frozen_at(clock.now() + timedelta(minutes=61)):
        assert sign_in(client, world["code"]).status_code == 303


def test_a_reissued_code_voids_the_old_one(client: Any, world: dict[str, Any]) -> None:
    with transaction():
        fresh = access.issue_code(world["intake"], world["her"].id, "8765")
    assert sign_in(client, world["code"]).status_code == 401
    assert sign_in(client, fresh.code, "8765").status_code == 303


def test_erasure_voids_the_code_and_ends_her_session(client: Any, world: dict[str, Any]) -> None:
    assert sign_in(client, world["code"]).status_code == 303
    answer = client.post(
        f"/api/v1/clients/{world['her'].id}/erase",
        json={"reason": "she asked"},
        headers=world["headers"]["owner"],
    )
    assert answer.status_code == 200
    page = client.get("/me").get_data(as_text=True)
    assert 'name="pin"' in page
    assert "Harbour Shelter" not in page
    assert sign_in(client, world["code"]).status_code == 401


def test_the_session_ends_after_fifteen_idle_minutes(client: Any, world: dict[str, Any]) -> None:
    with clock.frozen_at(clock.now()) as moment:
        sign_in(client, world["code"])
        assert "Harbour Shelter" in client.get("/me").get_data(as_text=True)
        moment.advance(timedelta(minutes=16))
        page = client.get("/me").get_data(as_text=True)
    assert "Harbour Shelter" not in page
    assert 'name="pin"' in page


# --- withdrawing ---------------------------------------------------------------------------------


def test_withdrawing_one_agency_ends_its_access_at_once_and_its_pending_referral(
    client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    clinic = world["clinic"].id
    confirm = post_on_page(client, "/me/withdraw", agency_id=str(clinic))
    assert confirm.status_code == 200
    assert "Bridge Legal Clinic stops seeing" in confirm.get_data(as_text=True)
    # nothing happened yet: the clinic still reads the basic facts
    url = f"/api/v1/clients/{world['her'].id}"
    assert client.get(url, headers=world["headers"]["clinic"]).status_code == 200
    done = post_on_page(client, "/me/withdraw", agency_id=str(clinic), step="yes")
    assert done.status_code == 303
    assert client.get(url, headers=world["headers"]["clinic"]).status_code == 404
    db.session.expire_all()
    assert db.session.get(Referral, world["to_clinic"].id).status == State.WITHDRAWN
    # the shelter, under the same consent, is untouched
    assert client.get(url, headers=world["headers"]["shelter"]).json["categories"] == [
        "contact",
        "profile",
    ]
    assert db.session.get(Referral, world["to_shelter"].id).status == State.ACCEPTED
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consent.withdrawn_from_agency")
    ).one()
    assert event.actor_type == "survivor"
    assert event.actor_id is None
    assert event.details == {"agency": str(clinic)}
    page = client.get("/me?lang=en").get_data(as_text=True)
    assert "Stop sharing with Bridge Legal Clinic" not in page
    assert holder_text(page, "Bridge Legal Clinic").split("Until")[0].strip().endswith("nothing")


def test_withdrawing_everything_revokes_every_consent_as_staff_revocation_does(
    client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    assert post_on_page(client, "/me/withdraw", everything="1", step="yes").status_code == 303
    db.session.expire_all()
    record = db.session.get(type(world["consent"]), world["consent"].id)
    assert record.revoked_at is not None
    assert record.revoked_by is None
    url = f"/api/v1/clients/{world['her'].id}"
    for name in ("shelter", "clinic"):
        assert client.get(url, headers=world["headers"][name]).status_code == 404
    ended = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.access_ended")
    ).all()
    assert len(ended) == 1  # the accepted shelter referral goes on, without her data


def test_withdrawing_one_consent_from_her_page(client: Any, world: dict[str, Any]) -> None:
    sign_in(client, world["code"])
    answer = post_on_page(client, "/me/withdraw", consent_id=str(world["consent"].id), step="yes")
    assert answer.status_code == 303
    db.session.expire_all()
    assert db.session.get(type(world["consent"]), world["consent"].id).revoked_at is not None


def test_a_withdrawal_with_nothing_chosen_changes_nothing(
    client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    answer = post_on_page(client, "/me/withdraw", step="yes", agency_id="not-a-uuid")
    assert answer.status_code == 422
    db.session.expire_all()
    assert db.session.get(type(world["consent"]), world["consent"].id).withdrawn_from == []
    # only the page views were recorded
    added = db.session.scalars(select(AuditEvent.action).where(AuditEvent.seq > before)).all()
    assert set(added) <= {"survivor.viewed_holders"}


def test_an_id_that_is_not_one_is_refused_not_read_as_no_choice(
    client: Any, world: dict[str, Any]
) -> None:
    """A garbled consent id beside `everything=1` must not become "withdraw everything"."""
    sign_in(client, world["code"])
    for step in ("", "yes"):
        answer = post_on_page(
            client, "/me/withdraw", consent_id="not-a-uuid", everything="1", step=step
        )
        assert answer.status_code == 422, step
    db.session.expire_all()
    record = db.session.get(type(world["consent"]), world["consent"].id)
    assert record.revoked_at is None
    assert record.withdrawn_from == []


def test_staff_withdraw_a_consent_from_one_agency_through_the_api(
    client: Any, world: dict[str, Any]
) -> None:
    answer = client.post(
        f"/api/v1/consents/{world['consent'].id}/revoke",
        json={"reason": "she asked by phone", "agency_id": str(world["shelter"].id)},
        headers=world["headers"]["owner"],
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["withdrawn_from"] == [str(world["shelter"].id)]
    assert answer.json["status"] == "active"
    stranger = client.post(
        f"/api/v1/consents/{world['consent'].id}/revoke",
        json={"reason": "x", "agency_id": str(uuid.uuid4())},
        headers=world["headers"]["owner"],
    )
    assert stranger.status_code == 422
    assert "agency_id" in stranger.json["errors"]


def test_the_door_is_only_hers(client: Any, world: dict[str, Any]) -> None:
    """Her pages act on her own record only, and staff cannot use them to act as her."""
    assert client.post("/me/withdraw", data={"everything": "1", "step": "yes"}).status_code in (
        303,
        403,
    )
    db.session.expire_all()
    assert db.session.get(type(world["consent"]), world["consent"].id).revoked_at is None


# --- erasure and contact ---------------------------------------------------------------------


def test_with_help_open_she_asks_and_her_agency_confirms(
    client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    assert post_on_page(client, "/me/erase", step="yes", choice="request").status_code == 303
    request = db.session.scalars(select(ErasureRequest)).one()
    assert request.due_at > clock.now() + timedelta(hours=71)
    # asking again keeps the one request
    post_on_page(client, "/me/erase", step="yes", choice="request")
    assert db.session.scalar(select(func.count()).select_from(ErasureRequest)) == 1
    # erasing at once is refused while help is open: nothing changes
    refused = post_on_page(client, "/me/erase", step="yes", choice="now")
    assert refused.status_code == 409
    db.session.expire_all()
    assert db.session.get(type(world["her"]), world["her"].id).erased_at is None
    with transaction():
        survivor.confirm_erasure(world["intake"], request.id)
    db.session.expire_all()
    assert db.session.get(type(world["her"]), world["her"].id).erased_at is not None
    assert db.session.get(ErasureRequest, request.id).closed_at is not None
    assert sign_in(client, world["code"]).status_code == 401


def test_an_erasure_without_a_clear_choice_is_refused(client: Any, world: dict[str, Any]) -> None:
    """Erase now or ask her agency: anything else is not taken as either."""
    sign_in(client, world["code"])
    for choice in ("", "later", "now\u200b"):
        answer = post_on_page(client, "/me/erase", step="yes", choice=choice)
        assert answer.status_code == 422, choice
    assert db.session.scalar(select(func.count()).select_from(ErasureRequest)) == 0


def test_another_agency_cannot_confirm_her_erasure(client: Any, world: dict[str, Any]) -> None:
    """Another agency's intake gets the 404 of a missing request, and the attempt is on
    record naming the request it reached for."""
    sign_in(client, world["code"])
    post_on_page(client, "/me/erase", step="yes", choice="request")
    request = db.session.scalars(select(ErasureRequest)).one()
    with transaction():
        stranger = factories.with_password(factories.user(world["shelter"], ["intake"]))
    client.post("/me/sign-out", data={"csrf_token": factories.csrf_from(client.get("/me").text)})
    factories.sign_in(client, stranger)
    page = client.get("/intake/").get_data(as_text=True)
    for target in (request.id, uuid.uuid4()):
        answer = client.post(
            f"/intake/erasure-requests/{target}/confirm",
            data={"csrf_token": factories.csrf_from(page)},
        )
        assert answer.status_code == 404
    db.session.expire_all()
    assert db.session.get(type(world["her"]), world["her"].id).erased_at is None
    assert db.session.get(ErasureRequest, request.id).closed_at is None
    denied = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access.denied")
    ).all()
    assert [(e.subject_type, e.subject_id) for e in denied] == [
        ("erasure_request", str(request.id))
    ]


def test_an_erasure_by_another_door_answers_her_request(client: Any, world: dict[str, Any]) -> None:
    """Her agency erased her through the API (not the dashboard button): the request is no
    longer on its dashboard and is never escalated as overdue."""
    from referral_hub.survivor import queries

    sign_in(client, world["code"])
    post_on_page(client, "/me/erase", step="yes", choice="request")
    assert [p.reference for p in queries.pending_erasures(world["intake"])] == [
        world["her"].reference
    ]
    erased = client.post(
        f"/api/v1/clients/{world['her'].id}/erase",
        json={"reason": "she asked by phone"},
        headers=world["headers"]["owner"],
    )
    assert erased.status_code == 200
    assert queries.pending_erasures(world["intake"]) == []
    with clock.frozen_at(clock.now() + timedelta(hours=73)), transaction():
        assert survivor.escalate_overdue_erasures() == 0


def test_an_unconfirmed_erasure_goes_to_the_coordinators_once(
    client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    post_on_page(client, "/me/erase", step="yes", choice="request")
    with transaction():
        assert survivor.escalate_overdue_erasures() == 0
    with clock.frozen_at(clock.now() + timedelta(hours=73)):
        with transaction():
            assert survivor.escalate_overdue_erasures() == 1
        with transaction():
            assert survivor.escalate_overdue_erasures() == 0
    assert db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "client.erasure_overdue")
    ).one()


def test_with_nothing_open_she_erases_herself_at_once(client: Any, world: dict[str, Any]) -> None:
    with transaction():
        for referral in (world["to_shelter"], world["to_clinic"]):
            referrals.transition(SYSTEM, referral.id, "mark-error", reason="test")
    sign_in(client, world["code"])
    page = client.get("/me?lang=en").get_data(as_text=True)
    assert "erase your information yourself" in page
    assert post_on_page(client, "/me/erase", step="yes", choice="now").status_code == 303
    db.session.expire_all()
    her = db.session.get(type(world["her"]), world["her"].id)
    assert her.erased_at is not None
    assert her.identity is None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "client.erased")).one()
    assert event.actor_type == "survivor"
    assert 'name="pin"' in client.get("/me").get_data(as_text=True)


def test_how_to_reach_her_is_sealed_and_read_only_under_contact(
    client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    words = f"Text only, after 6pm {uuid.uuid4().hex[:6]}"
    assert post_on_page(client, "/me/contact", how=words).status_code == 303
    her = db.session.get(type(world["her"]), world["her"].id)
    db.session.refresh(her)
    assert words.encode() not in her.contact
    url = f"/api/v1/clients/{world['her'].id}"
    assert (
        client.get(url, headers=world["headers"]["shelter"]).json["pii"]["contact_preference"]
        == words
    )
    assert (
        "contact_preference" not in client.get(url, headers=world["headers"]["clinic"]).json["pii"]
    )
    # her page never shows it back
    assert words not in client.get("/me").get_data(as_text=True)
    post_on_page(client, "/me/contact", do_not_contact="1")
    shown = client.get(url, headers=world["headers"]["shelter"]).json["pii"]
    assert shown.get("do_not_contact") is True
    assert "contact_preference" not in shown
    blank = post_on_page(client, "/me/contact", how="   ")
    assert blank.status_code == 422
    assert post_on_page(client, "/me/contact", how="x" * 301).status_code == 422
    assert client.get(url, headers=world["headers"]["shelter"]).json["pii"]["do_not_contact"]
    # a NUL is refused as at every other door, and what was saved stays
    nul = post_on_page(client, "/me/contact", how="Text me\x00 after 6pm")
    assert nul.status_code == 422
    assert client.get(url, headers=world["headers"]["shelter"]).json["pii"]["do_not_contact"]


# --- issuing through the API and the pages ----------------------------------------------------


def test_issuing_through_the_api(client: Any, world: dict[str, Any]) -> None:
    url = f"/api/v1/clients/{world['her'].id}/survivor-access"
    owner = world["headers"]["owner"]
    issued = client.post(url, json={"pin": "123456", "safe_to_carry_only": True}, headers=owner)
    assert issued.status_code == 201
    assert issued.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", issued.json["code"])
    shown = client.get(url, headers=owner).json
    assert "code" not in shown
    assert shown["safe_to_carry_only"] is True
    assert client.get(url, headers=world["headers"]["shelter"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"pin": "12"}, "pin", 422),
        ({"pin": "12ab"}, "pin", 422),
        ({"pin": "1234\n"}, "pin", 422),
        ({}, "pin", 422),
        ({"pin": "1234", "colour": "red"}, "colour", 422),
        ({"pin": 1234}, "pin", 400),  # a number is the wrong JSON type
        ({"pin": "1234", "safe_to_carry_only": "maybe"}, "safe_to_carry_only", 400),
    ],
)
def test_a_bad_issue_request_is_refused_and_issues_nothing(
    client: Any, world: dict[str, Any], body: dict[str, Any], field: str, status: int
) -> None:
    url = f"/api/v1/clients/{world['her'].id}/survivor-access"
    answer = client.post(url, json=body, headers=world["headers"]["owner"])
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert field in answer.json["errors"]
    assert db.session.scalar(select(func.count()).select_from(SurvivorAccess)) == 1


def test_the_card_and_the_safe_receipt_name_no_agency_service_date_or_category(
    app: Flask, client: Any, world: dict[str, Any]
) -> None:
    with transaction():
        staff = factories.with_password(factories.user(world["owner"], ["intake"]))
    factories.sign_in(client, staff)
    form = client.get(f"/intake/clients/{world['her'].id}/access-code").get_data(as_text=True)
    card = client.post(
        f"/intake/clients/{world['her'].id}/access-code",
        data={
            "pin": "2468",
            "pin_again": "2468",
            "safe_to_carry_only": "true",
            "csrf_token": factories.csrf_from(form),
        },
    )
    assert card.status_code == 201, card.get_data(as_text=True)
    safe = client.get(f"/intake/clients/{world['her'].id}/safe-receipt")
    code = re.search(r"data-code>([A-Z0-9-]+)<", card.get_data(as_text=True)).group(1)
    for response in (card, safe):
        text = response.get_data(as_text=True).split('<article class="receipt safe-receipt">')[1]
        text = text.split("</article>")[0]
        for word in (
            "Intake Centre",
            "Harbour",
            "Bridge",
            "shelter",
            "refugio",
            "inmigración",
            "immigration",
            "abogad",
            "Ana",
            world["her"].reference,
        ):
            assert word.lower() not in text.lower(), word
        assert not re.search(r"\b20\d\d\b|\d{1,2}/\d{1,2}", text), "a date on the safe receipt"
        assert app.config["HUB_HOTLINE"] in text
        assert "/me" in text
        assert "Su tarjeta" in text  # her consent's language
    assert code in card.get_data(as_text=True)
    assert code not in safe.get_data(as_text=True)
    # her bundle's receipt is the safe one by default now; the full one on purpose only
    bundle_id = world["bundle"].id
    default = client.get(f"/intake/bundles/{bundle_id}/receipt").get_data(as_text=True)
    assert "safe-receipt" in default
    assert "Harbour" not in default
    full = client.get(f"/intake/bundles/{bundle_id}/receipt?full=1").get_data(as_text=True)
    assert "safe-receipt" not in full
    assert "Harbour Shelter" in full
    # a mistyped PIN confirmation changes nothing, and says which field
    mismatch = client.post(
        f"/intake/clients/{world['her'].id}/access-code",
        data={"pin": "2468", "pin_again": "2469", "csrf_token": factories.csrf_from(form)},
    )
    assert mismatch.status_code == 422
    assert "two PINs differ" in mismatch.get_data(as_text=True)
    assert sign_in(client, code, "2468").status_code == 303


def test_quick_exit_ends_her_session_and_leaves_for_a_neutral_site(
    app: Flask, client: Any, world: dict[str, Any]
) -> None:
    sign_in(client, world["code"])
    out = client.get("/me/exit")
    assert out.status_code == 303
    assert out.headers["Location"] == app.config["SURVIVOR_EXIT_URL"]
    assert out.headers["Cache-Control"].startswith("no-store")
    assert 'name="pin"' in client.get("/me").get_data(as_text=True)


# --- abuse across processes ------------------------------------------------------------------


def committed_code(app: Flask) -> str:
    """A client of a new agency (with someone there to tell of a lock) and her code, committed
    for other threads and app instances to see."""
    with app.app_context():
        with transaction():
            owner = factories.agency()
            intake = factories.actor_for(factories.user(owner, ["intake"]))
            her = clients.create_client(intake, pii={"name": "Ana"})
            code = access.issue_code(intake, her.id, PIN).code
        db.session.remove()
    return code


def test_guesses_count_across_two_app_instances(
    worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two web processes, one database and one Redis: wrong PINs on either lock the code
    after five in all, and an address's failures are one allowance across both."""
    from referral_hub import create_app
    from referral_hub.auth.ratelimit import RedisBackend
    from tests.auth.test_signin import redis_connection
    from tests.conftest import fresh_database_url, migrated_app

    url = fresh_database_url(f"me_{worker_id}", tmp_path_factory)
    redis = redis_connection()
    prefix = f"me-{uuid.uuid4().hex[:8]}"
    with migrated_app(url, worker_id, tmp_path_factory, JOB_RUNNER="inline", REDIS_URL="") as first:
        second = create_app(first.config.copy())
        for instance in (first, second):
            instance.extensions["hub_rate_limits"] = RedisBackend(redis, prefix)
            instance.config["SURVIVOR_ADDRESS_FAILURES_PER_WINDOW"] = 8
        code = committed_code(first)
        instances = (first, second)
        for attempt in range(5):
            answer = sign_in(instances[attempt % 2].test_client(), code, "0000")
            assert answer.status_code == 401, attempt
        # locked on both: the right PIN is refused on either
        assert sign_in(second.test_client(), code).status_code == 401
        assert sign_in(first.test_client(), code).status_code == 401
        with first.app_context():
            row = db.session.scalar(select(SurvivorAccess))
            assert row.locked_until is not None
            assert row.failures == 5
            db.session.remove()
        # the address: 8 failures in all (7 so far), then 429 on either instance
        assert sign_in(first.test_client(), access.new_code(), PIN).status_code == 401
        assert sign_in(second.test_client(), access.new_code(), PIN).status_code == 429
        assert sign_in(first.test_client(), code).status_code == 429
        with second.app_context():
            for engine in db.engines.values():
                engine.dispose()


def test_racing_guesses_lock_the_code_exactly_once(committing_app: Flask) -> None:
    """Twelve wrong PINs at the same moment: counted one at a time (her row is held while
    each is judged), so the code locks after exactly five, with one alert."""
    import threading

    app = committing_app
    app.config["SURVIVOR_ADDRESS_FAILURES_PER_WINDOW"] = 100
    code = committed_code(app)
    racers = 12
    barrier = threading.Barrier(racers)
    answers: list[int] = []

    def guess() -> None:
        http = app.test_client()
        token = factories.csrf_from(http.get("/me").get_data(as_text=True))
        barrier.wait()
        answer = http.post("/me/sign-in", data={"code": code, "pin": "0000", "csrf_token": token})
        answers.append(answer.status_code)

    threads = [threading.Thread(target=guess) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [401] * racers
    with app.app_context():
        row = db.session.scalar(select(SurvivorAccess))
        assert row.failures == 5
        assert row.locked_until is not None
        locks = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "survivor_access.locked")
        )
        assert locks == 1
        failed = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "survivor.sign_in_failed")
        )
        assert failed == racers
        db.session.remove()
