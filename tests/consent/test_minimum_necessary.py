"""Issue 14, defects 1 to 3: what a receiver reads is what its referral shared, for the purpose
it was sent for, and only while the consent still covers it — at every door: her record
through the API, the provider's page, the disclosure report, messages, the sender's note and
the survivor's receipt. Each test here failed on the code before the fix."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from referral_hub.agencies.models import Agency, AgencyKind, User
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.consent.models import AccessGrant
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.errors import Forbidden, NotFound
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxMessage
from referral_hub.referrals import bundles, conversation
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Referral
from referral_hub.referrals.queries import received as inbox
from referral_hub.referrals.queries import sent as tracking
from referral_hub.referrals.states import State
from referral_hub.reports import disclosures
from tests import factories

PII = {
    "name": "Mn-Name-31c",
    "dob": "1998-02-03",
    "contact": "Mn-Contact-8a2",
    "narrative": "Mn-Narrative-5d0",
    "immigration": "Mn-Immigration-e41",
    "health": "Mn-Health-77f",
    "justice": "Mn-Justice-0b9",
}
SCOPES = ["clients:read", "referrals:read", "referrals:write", "directory:read"]
NOTE = "Mn-Note-4c1: she is afraid of dogs"
WORDS = "Mn-Message-9e3: she arrives by bus"
SIGNED: dict[str, Any] = {
    "method": "written",
    "signer": "survivor",
    "form_version": "1",
    "form_language": "en",
}


def _bearer(http: Any, agency: Agency) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(agency, SCOPES)
    return {"Authorization": f"Bearer {factories.token(http, client_id, secret)}"}


def _staff(agency: Agency, role: str) -> Actor:
    return Actor(ActorKind.USER, f"{role}-{agency.id}", agency.id, frozenset({role}))


@pytest.fixture
def hub(client: Any, session: Any) -> dict[str, Any]:
    """An intake agency, Harbor Light (a shelter) and a clinic, each with a service."""
    with transaction():
        intake, harbor, clinic = (factories.agency(name=n) for n in ("Intake", "Harbor", "Clinic"))
        beds = factories.directory_service(harbor, "emergency_shelter", name="Harbor beds")
        factories.capacity(beds, total=5, available=5)
        care = factories.directory_service(clinic, "primary_care", name="Clinic care")
        factories.capacity(care, total=5, available=5)
        provider = factories.with_password(factories.user(harbor, ["provider"]))
        factories.user(harbor, ["provider"], notify=True)
        factories.user(intake, ["intake"], notify=True)
        person = clients.create_client(
            _staff(intake, "intake"), pii=PII, profile={"language": "en"}
        )
    return {
        "intake": intake,
        "harbor": harbor,
        "clinic": clinic,
        "beds": beds,
        "care": care,
        "provider": provider,
        "client": person,
        "sender": _staff(intake, "intake"),
        "as_harbor": _bearer(client, harbor),
        "as_intake": _bearer(client, intake),
    }


def _consent(hub: dict[str, Any], categories: list[str], **changes: Any) -> uuid.UUID:
    arguments: dict[str, Any] = {
        "recipients": [hub["harbor"].id],
        "purposes": ["emergency_shelter"],
        "data_categories": categories,
        **SIGNED,
        "signed_at": clock.now(),
    } | changes
    with transaction():
        return consent.record_consent(hub["sender"], hub["client"].id, **arguments).id


def _send(hub: dict[str, Any], shared: list[str], consent_id: uuid.UUID | None) -> Referral:
    with transaction():
        return referrals.send_referral(
            hub["sender"],
            client_id=hub["client"].id,
            service_id=hub["beds"].id,
            urgency="urgent",  # type: ignore[arg-type]
            data_categories=shared,
            consent_id=consent_id,
            note=NOTE,
        )


def _accept(hub: dict[str, Any], referral_id: uuid.UUID) -> None:
    with transaction():
        referrals.transition(_staff(hub["harbor"], "provider"), referral_id, "accept")


def _record(http: Any, hub: dict[str, Any]) -> Any:
    return http.get(f"/api/v1/clients/{hub['client'].id}", headers=hub["as_harbor"])


def _provider_page(http: Any, hub: dict[str, Any], referral_id: uuid.UUID) -> str:
    """The provider's page, signed in through its own browser (a session is no bearer)."""
    browser = http.application.test_client()
    factories.sign_in(browser, hub["provider"])
    response = browser.get(f"/provider/referrals/{referral_id}")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


# --- defect 1: the receiver sees the consent's categories, not the referral's ----------------


def test_defect1_a_receiver_reads_the_referrals_categories_not_the_consents(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    consent_id = _consent(hub, ["identity", "health"])
    referral = _send(hub, ["identity"], consent_id)
    _accept(hub, referral.id)

    record = _record(client, hub)
    assert record.status_code == 200
    assert record.json["categories"] == ["identity", "profile"]
    assert record.json["pii"] == {"name": PII["name"], "dob": PII["dob"]}
    page = _provider_page(client, hub, referral.id)
    assert PII["name"] in page
    assert PII["health"] not in page
    assert not any(PII[k] in page for k in ("contact", "immigration", "justice", "narrative"))
    viewed = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "client.pii_viewed", AuditEvent.actor_agency_id == hub["harbor"].id
        )
    ).all()
    assert viewed
    assert all(event.fields == ["identity"] for event in viewed)
    with transaction():
        report = disclosures.disclosure_report(
            _staff(hub["intake"], "coordinator"), hub["client"].reference
        )
    assert "health" not in {c for row in report["rows"] for c in row["data_categories"]}


def test_defect1_through_a_bundle_the_receipt_and_the_record_agree(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    """The bundle form's way: the consent names identity and immigration, the shelter need
    ticks identity only; the receipt and her record both say identity, never immigration."""
    with transaction():
        person = clients.create_client(hub["sender"], pii=PII)
        record = consent.record_consent(
            hub["sender"],
            person.id,
            recipients=[hub["harbor"].id],
            purposes=["emergency_shelter"],
            data_categories=["identity", "immigration"],
            **SIGNED,
            signed_at=clock.now(),
        )
        bundle = bundles.create_bundle(
            hub["sender"],
            client_id=person.id,
            urgency="urgent",  # type: ignore[arg-type]
            consent_id=record.id,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [hub["beds"].id],
                    "data_categories": ["identity"],
                }
            ],
        )
        (agency,) = tracking.receipt(hub["sender"], bundle.id).agencies
    assert (agency.reads_now, agency.reads_on_accept) == (
        ["profile"],
        ["identity", "profile"],
    )
    (referral,) = session.scalars(select(Referral).where(Referral.bundle_id == bundle.id)).all()
    _accept(hub, referral.id)
    with transaction():
        (agency,) = tracking.receipt(hub["sender"], bundle.id).agencies
    assert agency.reads_now == [*agency.categories, "profile"] == ["identity", "profile"]
    response = client.get(f"/api/v1/clients/{person.id}", headers=hub["as_harbor"])
    assert response.json["categories"] == ["identity", "profile"]
    assert PII["immigration"] not in response.get_data(as_text=True)


# --- defect 2: purpose is not bound at read time ----------------------------------------------


def test_defect2_a_consent_for_another_purpose_cannot_ride_along_nor_open_anything(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    housing = _consent(hub, ["identity", "health", "justice"], purposes=["transitional_housing"])
    # an identity send to the emergency shelter under it was refused before; still is
    refused = client.post(
        "/api/v1/referrals",
        json={
            "client_id": str(hub["client"].id),
            "service_id": str(hub["beds"].id),
            "consent_id": str(housing),
            "urgency": "urgent",
            "data_categories": ["profile"],
        },
        headers=hub["as_intake"],
    )
    # a profile-only send may not carry it either: it would be the shelter's read ceiling
    assert refused.status_code == 422, refused.json
    assert refused.json["code"] == "consent_required"
    assert "consent_id" in refused.json["errors"]
    assert session.scalars(select(Referral)).all() == []

    # a referral that carries it anyway (sent before this rule): nothing opens on accept
    referral = _send(hub, ["profile"], None)
    with transaction() as tx:
        tx.get(Referral, referral.id).consent_id = housing
        grant = tx.scalars(
            select(AccessGrant).where(AccessGrant.referral_id == str(referral.id))
        ).one()
        grant.consent_id = housing
        grant.data_categories = ["profile", "identity", "health", "justice"]
    _accept(hub, referral.id)
    assert _record(client, hub).status_code == 404
    page = _provider_page(client, hub, referral.id)
    assert not any(value in page for value in PII.values())


def test_defect2_a_bundle_consent_stays_off_a_profile_only_need_it_does_not_cover(
    session: Any, hub: dict[str, Any]
) -> None:
    shelter_only = _consent(hub, ["identity"])
    with transaction():
        bundle = bundles.create_bundle(
            hub["sender"],
            client_id=hub["client"].id,
            urgency="urgent",  # type: ignore[arg-type]
            consent_id=shelter_only,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [hub["beds"].id],
                    "data_categories": ["identity"],
                },
                {
                    "category": "primary_care",
                    "service_ids": [hub["care"].id],
                    "data_categories": [],
                },
            ],
        )
    sent = {r.service_id: r for r in session.scalars(select(Referral)).all()}
    assert sent[hub["beds"].id].consent_id == shelter_only
    assert sent[hub["care"].id].consent_id is None
    assert sent[hub["care"].id].bundle_id == bundle.id


# --- defect 3: messages and the sender's note outlive consent --------------------------------


def test_defect3_revocation_closes_messages_and_the_note_and_both_sides_are_told(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    consent_id = _consent(hub, ["contact"])
    accepted = _send(hub, ["contact"], consent_id)
    with transaction():
        other_client = clients.create_client(hub["sender"], pii=PII)
        waiting = referrals.send_referral(
            hub["sender"],
            client_id=other_client.id,
            service_id=hub["beds"].id,
            urgency="urgent",  # type: ignore[arg-type]
            data_categories=["profile"],
            note=NOTE,
        )
    url = f"/api/v1/referrals/{accepted.id}/messages"
    assert client.post(url, json={"body": WORDS}, headers=hub["as_intake"]).status_code == 201
    _accept(hub, accepted.id)
    assert client.get(url, headers=hub["as_harbor"]).json[0]["body"] == WORDS
    assert NOTE in _provider_page(client, hub, accepted.id)
    mails_before = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all()

    with transaction():
        consent.revoke_consent(hub["sender"], consent_id, "she asked")

    session.expire_all()
    assert session.get(Referral, accepted.id).status == State.ACCEPTED  # she may be in the bed
    read = client.get(url, headers=hub["as_harbor"])
    post = client.post(url, json={"body": "still there?"}, headers=hub["as_harbor"])
    assert (read.status_code, post.status_code) == (403, 403)
    assert WORDS not in read.get_data(as_text=True)
    assert _record(client, hub).status_code == 404
    page = _provider_page(client, hub, accepted.id)
    assert NOTE not in page
    assert WORDS not in page
    assert PII["contact"] not in page
    assert "closed to you" in page
    assert 'id="form-message"' not in page
    # the sender keeps her own record of what was said
    assert client.get(url, headers=hub["as_intake"]).json[0]["body"] == WORDS
    # the referral sent without that consent is untouched: its note still reads
    assert NOTE in _provider_page(client, hub, waiting.id)
    # both sides told: on the record, by e-mail (fixed text) to each agency
    (ended,) = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.access_ended")
    ).all()
    assert ended.subject_id == str(accepted.id)
    assert ended.consent_id == consent_id
    mails = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all()
    told = [m.payload["to"] for m in mails if m not in mails_before]
    assert len(told) >= 2
    harbor_staff = set(
        session.scalars(select(User.email).where(User.agency_id == hub["harbor"].id))
    )
    intake_staff = set(
        session.scalars(select(User.email).where(User.agency_id == hub["intake"].id))
    )
    assert set(told) & harbor_staff
    assert set(told) & intake_staff


def test_defect3_a_referral_withdrawn_by_revocation_closes_its_messages(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    consent_id = _consent(hub, ["contact"])
    referral = _send(hub, ["contact"], consent_id)
    url = f"/api/v1/referrals/{referral.id}/messages"
    client.post(url, json={"body": WORDS}, headers=hub["as_intake"])
    assert client.get(url, headers=hub["as_harbor"]).status_code == 200  # offered: open
    with transaction():
        consent.revoke_consent(hub["sender"], consent_id, "she asked")
    session.expire_all()
    assert session.get(Referral, referral.id).status == State.WITHDRAWN
    assert client.get(url, headers=hub["as_harbor"]).status_code == 403
    assert client.post(url, json={"body": "hello?"}, headers=hub["as_harbor"]).status_code == 403
    page = _provider_page(client, hub, referral.id)
    assert NOTE not in page
    assert WORDS not in page


# --- the receipt says exactly what each agency reads ----------------------------------------

SERVICE_KINDS = ("emergency_shelter", "primary_care", "immigration_counsel")


@pytest.mark.parametrize("seed", range(8))
def test_the_receipt_lists_for_each_agency_exactly_what_it_reads(
    client: Any, session: Any, seed: int
) -> None:
    """Generated bundles: random consent (recipients, purposes, categories), random shared
    categories per need within what may be sent, some accepted, sometimes a revocation.
    For each agency, the receipt's list equals what it reads through the API and its pages
    — now, and (for what is still open) once it accepts."""
    rng = random.Random(seed)
    with transaction():
        sender = factories.agency()
        intake = _staff(sender, "intake")
        services = []
        for category in SERVICE_KINDS:
            kind = AgencyKind.LAW_ENFORCEMENT if rng.random() < 0.15 else AgencyKind.SHELTER
            agency = factories.agency(kind=kind)
            service = factories.directory_service(agency, category)
            factories.capacity(service, total=3, available=3)
            services.append((agency, service))
        person = clients.create_client(intake, pii=PII, profile={"language": "en"})
        named = [a for a, _ in services if rng.random() < 0.7]
        purposes = sorted({s.category.value for _, s in services if rng.random() < 0.7})
        if any(a.kind == AgencyKind.LAW_ENFORCEMENT for a in named):
            purposes.append(policy.LAW_ENFORCEMENT_PURPOSE)
        record = consent.record_consent(
            intake,
            person.id,
            recipients=[a.id for a in named],
            purposes=purposes or ["other"],
            data_categories=rng.sample(sorted(policy.PII_CATEGORIES), rng.randint(1, 6)),
            **SIGNED,
            signed_at=clock.now(),
        )
        facts = consent.facts(record)
        needs = []
        for agency, service in services:
            reader = policy.Reader(
                agency.id, is_law_enforcement=agency.kind == AgencyKind.LAW_ENFORCEMENT
            )
            wanted = frozenset(rng.sample(sorted(policy.CATEGORIES), rng.randint(0, 7)))
            may = policy.sendable(facts, reader, service.category.value, wanted, clock.now())
            if reader.is_law_enforcement and not may:
                continue  # nothing may go to law enforcement without her opt-in
            needs.append(
                {
                    "category": service.category.value,
                    "service_ids": [service.id],
                    "data_categories": sorted(may - {policy.PROFILE}),
                }
            )
        if not needs:
            pytest.skip("this draw sends nothing")
        bundle = bundles.create_bundle(
            intake,
            client_id=person.id,
            urgency="urgent",  # type: ignore[arg-type]
            consent_id=record.id,
            needs=needs,
        )
    sent = session.scalars(select(Referral).where(Referral.bundle_id == bundle.id)).all()
    for referral in sent:
        if rng.random() < 0.5:
            with transaction():
                referrals.transition(_staff_of(referral.receiver_agency_id), referral.id, "accept")
    if rng.random() < 0.3:
        with transaction():
            consent.revoke_consent(intake, record.id, "she asked")

    def receipt() -> dict[str, tracking.ReceiptAgency]:
        with transaction():
            facts = tracking.receipt(intake, bundle.id)
        names = {a.name: a.id for a, _ in services}
        return {str(names[entry.name]): entry for entry in facts.agencies}

    listed = receipt()
    session.expire_all()
    open_ones = [
        r for r in session.scalars(select(Referral).where(Referral.bundle_id == bundle.id))
    ]
    for referral in open_ones:
        entry = listed[str(referral.receiver_agency_id)]
        assert entry.reads_now == _reads(client, referral), entry
    for referral in open_ones:  # what the receipt promises on acceptance, then accepted
        if referral.status in (State.SENT, State.ACKNOWLEDGED):
            with transaction():
                referrals.transition(_staff_of(referral.receiver_agency_id), referral.id, "accept")
            assert listed[str(referral.receiver_agency_id)].reads_on_accept == _reads(
                client, referral
            )
    after = receipt()
    for referral in open_ones:
        assert after[str(referral.receiver_agency_id)].reads_now == _reads(client, referral)


def _staff_of(agency_id: uuid.UUID) -> Actor:
    return Actor(ActorKind.USER, f"provider-{agency_id}", agency_id, frozenset({"provider"}))


def _reads(http: Any, referral: Referral) -> list[str]:
    """What the receiving agency reads of her now: through the API (her record) and through
    its referral page (the page's own view of her) — they must agree."""
    agency_id = referral.receiver_agency_id
    bearer = _bearer(http, db.session.get_one(Agency, agency_id))
    response = http.get(f"/api/v1/clients/{referral.client_id}", headers=bearer)
    through_api = response.json["categories"] if response.status_code == 200 else []
    with transaction():
        page = inbox.received_referral(_staff_of(agency_id), referral.id)
    through_page = page.client.categories if page.client else []
    assert through_api == through_page, (through_api, through_page)
    try:
        with transaction():
            shown = consent.disclose_client(_staff_of(agency_id), referral.client_id)
    except NotFound:
        return []
    assert sorted(shown.categories) == through_api
    return through_api


def test_expiry_ends_an_accepted_referrals_access_like_revocation(
    client: Any, session: Any, hub: dict[str, Any]
) -> None:
    consent_id = _consent(hub, ["contact"], expires_at=clock.now() + timedelta(days=2))
    referral = _send(hub, ["contact"], consent_id)
    _accept(hub, referral.id)
    harbor = _staff(hub["harbor"], "provider")
    with transaction():
        assert conversation.list_messages(harbor, referral.id) == []
    with clock.frozen_at(clock.now() + timedelta(days=2)):
        with pytest.raises(Forbidden), transaction():
            conversation.list_messages(harbor, referral.id)
        with transaction():
            assert consent.expire_consents() == 1
        with transaction():
            view = inbox.received_referral(harbor, referral.id)
    assert view.access_ended
    assert view.note is None
    assert view.client is None
    session.expire_all()
    assert session.get(Referral, referral.id).status == State.ACCEPTED
    (ended,) = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.access_ended")
    ).all()
    assert ended.details["reason"] == "consent expired"
