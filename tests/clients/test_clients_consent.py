"""Survivor records and consent: sealed PII, owner-only reads, progressive disclosure under
the consent policy, revocation and expiry biting at the next read, and the record of it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients.models import Client
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core import clock, envelope
from referral_hub.core.db import transaction
from referral_hub.core.errors import NotFound
from referral_hub.extensions import db
from tests import factories

MARKERS = {
    "name": "Marker-Name-7f3a",
    "dob": "1999-04-05",
    "contact": "Marker-Contact-91bd",
    "narrative": "Marker-Narrative-c2e0",
    "immigration": "Marker-Immigration-44aa",
    "health": "Marker-Health-0d1e",
    "justice": "Marker-Justice-5b7c",
}
SCOPES = ["clients:write", "clients:read", "directory:read"]
# what a referral shares, for which service category (what its access grant carries)
SHELTER: dict[str, Any] = {
    "shared": ["profile", "identity", "contact"],
    "purpose": "emergency_shelter",
}
CASE_WORK: dict[str, Any] = {"shared": ["profile", "contact"], "purpose": "case_management"}
PROFILE_ONLY: dict[str, Any] = {"shared": ["profile"], "purpose": "emergency_shelter"}


def bearer(http: Any, agency: Any) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(agency, SCOPES)
    return {"Authorization": f"Bearer {factories.token(http, client_id, secret)}"}


@pytest.fixture
def world(client: Any, session: Any) -> dict[str, Any]:
    with transaction():
        owner, shelter, other = factories.agency(), factories.agency(), factories.agency()
        police = factories.agency(kind=AgencyKind.LAW_ENFORCEMENT)
    return {
        "owner": owner,
        "shelter": shelter,
        "other": other,
        "police": police,
        "as_owner": bearer(client, owner),
        "as_shelter": bearer(client, shelter),
        "as_other": bearer(client, other),
        "as_police": bearer(client, police),
    }


def new_client(http: Any, world: dict[str, Any]) -> str:
    body = {
        "profile": {"age_range": "18_24", "language": "es", "urgency": "urgent"},
        "pii": MARKERS,
    }
    response = http.post("/api/v1/clients", json=body, headers=world["as_owner"])
    assert response.status_code == 201, response.json
    assert set(response.json) == {"id", "reference", "created_at", "owner_agency"}
    return str(response.json["id"])


def consent_body(world: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "recipients": [str(world["shelter"].id)],
        "purposes": ["emergency_shelter"],
        "data_categories": ["identity", "contact"],
        "method": "written",
        "signer": "survivor",
        "form_version": "2026-1",
        "form_language": "es",
        "signed_at": clock.now().isoformat(),
    }
    return body | changes


def test_pii_is_sealed_in_the_database(client: Any, session: Any, world: dict[str, Any]) -> None:
    new_client(client, world)
    for table in db.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):  # noqa: S608 - metadata names
            blob = " ".join(str(value) for value in row)
            for marker in MARKERS.values():
                assert marker not in blob, (table.name, marker)


def test_the_owner_reads_everything_and_the_read_is_recorded(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    body = client.get(f"/api/v1/clients/{client_id}", headers=world["as_owner"]).json
    assert body["pii"] == MARKERS
    assert body["profile"]["language"] == "es"
    viewed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "client.pii_viewed")
    ).one()
    assert viewed.fields == ["contact", "health", "identity", "immigration", "justice", "narrative"]
    assert not any(marker in str(viewed.document()) for marker in MARKERS.values())


def test_without_a_referral_another_agency_gets_the_same_404_as_a_missing_id(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    foreign = client.get(f"/api/v1/clients/{client_id}", headers=world["as_other"])
    missing = client.get(f"/api/v1/clients/{uuid.uuid4()}", headers=world["as_other"])
    assert foreign.status_code == missing.status_code == 404
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(foreign.json) == strip(missing.json)
    denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert denied.subject_id == client_id


def test_progressive_disclosure_revocation_and_expiry(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    recorded = client.post(
        f"/api/v1/clients/{client_id}/consents", json=consent_body(world), headers=world["as_owner"]
    )
    assert recorded.status_code == 201, recorded.json
    assert recorded.json["status"] == "active"
    consent_id = uuid.UUID(recorded.json["id"])
    url = f"/api/v1/clients/{client_id}"
    with transaction():
        consent.open_grant(
            uuid.UUID(client_id), world["shelter"].id, consent_id, "referral-1", **SHELTER
        )
    offered = client.get(url, headers=world["as_shelter"]).json
    assert (offered["categories"], offered["pii"]) == (["profile"], {})
    assert offered["profile"]["language"] == "es"
    with transaction():
        consent.set_grant("referral-1", accepted=True)
    accepted = client.get(url, headers=world["as_shelter"]).json
    assert accepted["pii"] == {k: MARKERS[k] for k in ("name", "dob", "contact")}
    assert accepted["consent_id"] == str(consent_id)
    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "she asked"},
        headers=world["as_owner"],
    )
    assert revoked.json["status"] == "revoked"
    # her access ends at once with the consent: not even the profile (a 404, as for anyone)
    assert client.get(url, headers=world["as_shelter"]).status_code == 404


def test_her_do_not_refer_list_is_her_agencys_alone(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    """The list of agencies she must never be sent to reaches her own agency, never a
    receiver (an agency named on it would learn she fears it): one rule, in the service
    the API and the pages call."""
    body = {
        "profile": {"age_range": "18_24", "language": "es", "urgency": "urgent"},
        "pii": MARKERS,
        "do_not_refer": [str(world["other"].id)],
    }
    created = client.post("/api/v1/clients", json=body, headers=world["as_owner"])
    assert created.status_code == 201, created.json
    client_id = created.json["id"]
    recorded = client.post(
        f"/api/v1/clients/{client_id}/consents", json=consent_body(world), headers=world["as_owner"]
    )
    with transaction():
        consent.open_grant(
            uuid.UUID(client_id),
            world["shelter"].id,
            uuid.UUID(recorded.json["id"]),
            "referral-dnr",
            **SHELTER,
        )
        consent.set_grant("referral-dnr", accepted=True)
    url = f"/api/v1/clients/{client_id}"
    assert client.get(url, headers=world["as_owner"]).json["do_not_refer"] == [
        str(world["other"].id)
    ]
    receiver = client.get(url, headers=world["as_shelter"]).json
    assert receiver["pii"]["name"] == MARKERS["name"]  # it reads her, but not the list
    assert receiver["do_not_refer"] == []
    with transaction():
        shelter_user = factories.user(world["shelter"], roles=("provider",))
        owner_user = factories.user(world["owner"])
        reader = factories.actor_for(shelter_user)
        keeper = factories.actor_for(owner_user)
        as_receiver = consent.disclose_client(reader, uuid.UUID(client_id))
        as_owner = consent.disclose_client(keeper, uuid.UUID(client_id))
    assert as_receiver.do_not_refer == []
    assert as_owner.do_not_refer == [str(world["other"].id)]


def test_expiry_bites_at_the_exact_moment(client: Any, session: Any, world: dict[str, Any]) -> None:
    client_id = new_client(client, world)
    expires = clock.now() + timedelta(days=10)
    body = consent_body(world, expires_at=expires.isoformat())
    consent_id = uuid.UUID(
        client.post(
            f"/api/v1/clients/{client_id}/consents", json=body, headers=world["as_owner"]
        ).json["id"]
    )
    with transaction():
        consent.open_grant(
            uuid.UUID(client_id), world["shelter"].id, consent_id, "referral-2", **SHELTER
        )
        consent.set_grant("referral-2", accepted=True)
    from referral_hub.core.actor import Actor, ActorKind

    shelter = Actor(ActorKind.CLIENT, "x", world["shelter"].id, frozenset(), frozenset(SCOPES))
    stored = session.get(Consent, consent_id)
    with clock.frozen_at(stored.expires_at - timedelta(microseconds=1)):
        assert "contact" in consent.disclose_client(shelter, uuid.UUID(client_id)).pii
    with clock.frozen_at(stored.expires_at):
        with pytest.raises(NotFound):  # expired: her record closes to the shelter at once
            consent.disclose_client(shelter, uuid.UUID(client_id))
        with transaction():
            assert consent.expire_consents() == 1
    session.expire_all()
    assert session.get(Consent, consent_id).expired_at is not None


def test_law_enforcement_sees_nothing_without_the_explicit_purpose(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    refused = client.post(
        f"/api/v1/clients/{client_id}/consents",
        json=consent_body(world, recipients=[str(world["police"].id)]),
        headers=world["as_owner"],
    )
    assert refused.status_code == 422
    assert "purposes" in refused.json["errors"]
    body = consent_body(
        world,
        recipients=[str(world["police"].id)],
        purposes=["case_management", "law_enforcement_contact"],
    )
    consent_id = uuid.UUID(
        client.post(
            f"/api/v1/clients/{client_id}/consents", json=body, headers=world["as_owner"]
        ).json["id"]
    )
    with transaction():
        consent.open_grant(
            uuid.UUID(client_id), world["police"].id, None, "referral-3", **CASE_WORK
        )
    assert client.get(f"/api/v1/clients/{client_id}", headers=world["as_police"]).status_code == 404
    with transaction():
        consent.set_grant("referral-3", ended=True)
        consent.open_grant(
            uuid.UUID(client_id), world["police"].id, consent_id, "referral-4", **CASE_WORK
        )
        consent.set_grant("referral-4", accepted=True)
    assert (
        client.get(f"/api/v1/clients/{client_id}", headers=world["as_police"]).json["pii"][
            "contact"
        ]
        == MARKERS["contact"]
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipients": [str(uuid.UUID(int=5))]}, "recipients.0"),
        ({"recipients": []}, "recipients"),
        ({"purposes": ["massage"]}, "purposes.0"),
        ({"data_categories": ["secrets"]}, "data_categories.0"),
        ({"method": "telepathy"}, "method"),
        ({"signer": "representative"}, "signer_authority"),
        ({"signed_at": "2999-01-01T00:00:00+00:00"}, "signed_at"),
        ({"signed_at": "2026-01-01T00:00:00"}, "signed_at"),
        ({"expires_at": "2001-01-01T00:00:00+00:00"}, "expires_at"),
        ({"form_language": "??"}, "form_language"),
        ({"expires_at": None}, "expires_at"),
    ],
)
def test_defective_consent_is_422_and_nothing_is_stored(
    client: Any, session: Any, world: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    client_id = new_client(client, world)
    response = client.post(
        f"/api/v1/clients/{client_id}/consents",
        json=consent_body(world, **changes),
        headers=world["as_owner"],
    )
    assert response.status_code in (400, 422), response.json
    assert field in response.json["errors"], response.json
    assert session.scalar(select(func.count()).select_from(Consent)) == 0


def test_consent_lasts_30_days_by_default_and_at_most_90(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    default = client.post(
        f"/api/v1/clients/{client_id}/consents", json=consent_body(world), headers=world["as_owner"]
    ).json
    from datetime import datetime

    span = datetime.fromisoformat(default["expires_at"]) - datetime.fromisoformat(
        default["signed_at"]
    )
    assert span == timedelta(days=30)
    signed = clock.now()
    long = consent_body(
        world, signed_at=signed.isoformat(), expires_at=(signed + timedelta(days=91)).isoformat()
    )
    assert (
        client.post(
            f"/api/v1/clients/{client_id}/consents", json=long, headers=world["as_owner"]
        ).status_code
        == 422
    )


def test_only_the_owner_records_or_revokes_consent(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    assert (
        client.post(
            f"/api/v1/clients/{client_id}/consents",
            json=consent_body(world),
            headers=world["as_other"],
        ).status_code
        == 404
    )
    consent_id = client.post(
        f"/api/v1/clients/{client_id}/consents", json=consent_body(world), headers=world["as_owner"]
    ).json["id"]
    assert (
        client.post(
            f"/api/v1/consents/{consent_id}/revoke",
            json={"reason": "x"},
            headers=world["as_shelter"],
        ).status_code
        == 404
    )


def test_a_generated_reference_that_clashes_is_drawn_again_a_chosen_one_is_409(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.core.errors import Conflict

    with transaction():
        owner = factories.agency()
        actor = Actor(ActorKind.USER, "u", owner.id, frozenset({"intake"}))
        first = clients.create_client(actor)
    draws = iter([first.reference, first.reference, "C-FRSH-2222"])
    monkeypatch.setattr(clients, "new_reference", lambda: next(draws))
    with transaction():
        second = clients.create_client(actor)
    assert second.reference == "C-FRSH-2222"
    with pytest.raises(Conflict), transaction():
        clients.create_client(actor, reference=first.reference)
    assert session.scalar(select(func.count()).select_from(Client)) == 2


def test_a_sealed_field_does_not_open_in_another_row_or_column(session: Any) -> None:
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind

    with transaction():
        owner = factories.agency()
        actor = Actor(ActorKind.USER, "u", owner.id, frozenset({"intake"}))
        first = clients.create_client(actor, pii={"contact": "A", "narrative": "B"})
        second = clients.create_client(actor, pii={"contact": "C"})
    session.refresh(first)
    moved = Client(
        id=second.id,
        reference="x",
        owner_agency_id=owner.id,
    )
    moved.contact = first.contact  # another client's ciphertext
    with pytest.raises(envelope.Undecryptable):
        clients.unseal(moved, {"contact"})
    swapped = Client(
        id=first.id,
        reference="y",
        owner_agency_id=owner.id,
    )
    swapped.contact = first.narrative  # another column's ciphertext, same row
    with pytest.raises(envelope.Undecryptable):
        clients.unseal(swapped, {"contact"})
    assert clients.unseal(first, {"contact", "narrative"}) == {"contact": "A", "narrative": "B"}
    assert SYSTEM.kind == ActorKind.SYSTEM


def test_disclosure_accounting_lists_every_view(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    client_id = new_client(client, world)
    consent_id = client.post(
        f"/api/v1/clients/{client_id}/consents", json=consent_body(world), headers=world["as_owner"]
    ).json["id"]
    with transaction():
        consent.open_grant(
            uuid.UUID(client_id),
            world["shelter"].id,
            uuid.UUID(consent_id),
            "referral-5",
            **SHELTER,
        )
        consent.set_grant("referral-5", accepted=True)
    client.get(f"/api/v1/clients/{client_id}", headers=world["as_shelter"])
    client.get(f"/api/v1/clients/{client_id}", headers=world["as_owner"])
    listing = client.get(f"/api/v1/clients/{client_id}/disclosures", headers=world["as_owner"]).json
    assert [(d["agency"], d["data_categories"], d["consent_id"]) for d in listing] == [
        (str(world["shelter"].id), ["contact", "identity"], consent_id),
        (
            str(world["owner"].id),
            ["contact", "health", "identity", "immigration", "justice", "narrative"],
            None,
        ),
    ]
    assert (
        client.get(
            f"/api/v1/clients/{client_id}/disclosures", headers=world["as_shelter"]
        ).status_code
        == 404
    )


def test_disclosures_export_as_csv_with_formulas_neutralised(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    from referral_hub.core.csvout import cell

    client_id = new_client(client, world)
    client.get(f"/api/v1/clients/{client_id}", headers=world["as_owner"])
    response = client.get(
        f"/api/v1/clients/{client_id}/disclosures?format=csv", headers=world["as_owner"]
    )
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).strip().splitlines()
    assert lines[0] == "at,agency,user,action,data_categories,consent_id"
    assert len(lines) == 2
    assert "client.pii_viewed" in lines[1]
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell("-2+3") == "'-2+3"
    assert cell("plain") == "plain"
    bad = client.get(
        f"/api/v1/clients/{client_id}/disclosures?format=xls", headers=world["as_owner"]
    )
    assert bad.status_code == 422


def test_erasure_makes_every_earlier_copy_unreadable_and_keeps_the_chain(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    from referral_hub.audit import service as audit
    from referral_hub.clients import service as clients

    client_id = uuid.UUID(new_client(client, world))
    # a "backup" of the main database, taken before the erasure
    before = session.execute(select(Client.__table__).where(Client.id == client_id)).one()._asdict()
    assert before["contact"] is not None
    erased = client.post(
        f"/api/v1/clients/{client_id}/erase",
        json={"reason": "she asked"},
        headers=world["as_owner"],
    )
    assert erased.status_code == 200
    session.expire_all()
    restored = Client(
        id=client_id, reference=before["reference"], owner_agency_id=before["owner_agency_id"]
    )
    for category in clients.SEALED:
        setattr(restored, category, before[category])
    with pytest.raises(envelope.Undecryptable):
        clients.unseal(restored, {"contact"})  # the hub's keys no longer open the old copy
    stored = session.get(Client, client_id)
    assert stored.erased_at is not None
    assert stored.contact is None
    assert stored.reference == before["reference"]
    assert client.get(f"/api/v1/clients/{client_id}", headers=world["as_owner"]).json["pii"] == {}
    assert audit.verify_stored().ok
    assert "client.erased" in set(session.scalars(select(AuditEvent.action)))


def test_the_retention_sweep_erases_after_the_last_referral_ends(session: Any) -> None:
    from referral_hub.clients import service as clients
    from referral_hub.core import keystore
    from referral_hub.core.actor import Actor, ActorKind

    with transaction():
        owner, shelter = factories.agency(), factories.agency()
        actor = Actor(ActorKind.USER, "u", owner.id, frozenset({"intake"}))
        kept = clients.create_client(actor, pii={"contact": "keep"})
        done = clients.create_client(actor, pii={"contact": "done"})
        consent.open_grant(done.id, shelter.id, None, "r-done", **PROFILE_ONLY)
        consent.set_grant("r-done", ended=True)
        consent.open_grant(kept.id, shelter.id, None, "r-open", **PROFILE_ONLY)
    with clock.frozen_at(clock.now() + timedelta(days=91)), transaction():
        assert consent.erasure_sweep() == 1
    assert keystore.get(done.id) is None
    assert keystore.get(kept.id) is not None
