"""Referrals to organisations not on the hub: the consent must name the organisation, the
letter and the one-time link carry only what the policy allows, the link page refuses
expired, revoked and wrong tokens alike, the outside worker's answer moves the referral
on the record, tokens are kept hashed, nothing about her reaches webhooks, and reports
count them — through the API and the pages, on the same service."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.agencies import outside as organisations
from referral_hub.agencies.models import OutsideOrganisation
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.errors import NotFound, ValidationFailed
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxMessage
from referral_hub.notifications import webhooks
from referral_hub.referrals import outside
from referral_hub.referrals.models import OutsideLink, OutsideReferral
from referral_hub.referrals.states import State
from referral_hub.reports import service as reports
from tests import factories

MARK = "Zq7Outside"
CONTACT = f"Contact{MARK}"
HEALTH = f"Health{MARK}"
ORG_PHONE = "+1 555 0142 77"
ORG_EMAIL = f"intake{MARK.lower()}@refuge.example"
WEBHOOK_URL = "https://hooks.example/outside"


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        home = factories.agency(name="Harbor Intake Center")
        other = factories.agency(name="Other Intake Org")
        worker = factories.with_password(factories.user(home, ["intake"]))
        admin = factories.user(home, ["agency_admin"])
        actor = factories.actor_for(worker)
        stranger = Actor(ActorKind.USER, "stranger", other.id, frozenset({"intake"}))
        refuge = organisations.add_organisation(
            actor, name="Riverside Refuge", phone=ORG_PHONE, email=ORG_EMAIL
        )
        elsewhere = organisations.add_organisation(stranger, name="Their Refuge", phone="1")
        person = clients.create_client(
            actor, pii={"contact": CONTACT, "health": HEALTH}, profile={"language": "es"}
        )
        granted = factories.written_consent(
            actor,
            person.id,
            recipients=[refuge.id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
        )
        webhooks.subscribe(
            factories.actor_for(admin), url=WEBHOOK_URL, events=list(webhooks.EVENTS)
        )
    return {
        "home": home,
        "worker": worker,
        "actor": actor,
        "stranger": stranger,
        "refuge": refuge,
        "elsewhere": elsewhere,
        "client": person,
        "consent": granted,
    }


def _send(net: dict[str, Any], **changes: Any) -> OutsideReferral:
    fields: dict[str, Any] = {
        "client_id": net["client"].id,
        "organisation_id": net["refuge"].id,
        "consent_id": net["consent"].id,
        "purpose": "emergency_shelter",
        "urgency": "urgent",
        "data_categories": ["contact"],
        **changes,
    }
    with transaction():
        return outside.refer_outside(net["actor"], **fields)


def _link(net: dict[str, Any], referral: OutsideReferral) -> tuple[OutsideLink, str]:
    with transaction():
        return outside.issue_link(net["actor"], referral.id)


def _count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- the consent must name the organisation ---------------------------------------------------


def test_the_api_refuses_a_consent_that_does_not_name_the_organisation(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    act_as(net["actor"])
    with transaction():  # a consent for her, naming another organisation only
        unnamed = organisations.add_organisation(net["actor"], name="Unnamed Place", phone="2")
    body = {
        "client_id": str(net["client"].id),
        "organisation_id": str(unnamed.id),
        "consent_id": str(net["consent"].id),
        "purpose": "emergency_shelter",
        "urgency": "urgent",
        "data_categories": ["contact"],
    }
    refused = client.post("/api/v1/outside-referrals", json=body)
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert "consent_id" in refused.json["errors"]
    missing = client.post("/api/v1/outside-referrals", json={**body, "consent_id": None})
    assert missing.status_code == 422
    assert "consent_id" in missing.json["errors"]
    wider = client.post(
        "/api/v1/outside-referrals",
        json={**body, "organisation_id": str(net["refuge"].id), "data_categories": ["health"]},
    )
    assert wider.status_code == 422
    assert "data_categories" in wider.json["errors"]
    assert _count(OutsideReferral) == 0
    assert _events("referral.outside_sent") == []


def test_a_consent_names_only_the_agencys_own_outside_organisations(
    net: dict[str, Any],
) -> None:
    with pytest.raises(ValidationFailed) as refused, transaction():
        factories.written_consent(
            net["actor"],
            net["client"].id,
            recipients=[net["elsewhere"].id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
        )
    assert "recipients.0" in getattr(refused.value, "errors", {})


def test_another_agencys_organisation_or_referral_looks_missing(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    referral = _send(net)
    act_as(net["stranger"])
    assert client.get(f"/api/v1/outside-referrals/{referral.id}").status_code == 404
    assert client.post(f"/api/v1/outside-referrals/{referral.id}/links").status_code == 404
    assert client.get("/api/v1/outside-organisations").json == [
        organisations.describe(net["elsewhere"])
        | {
            "id": str(net["elsewhere"].id),
            "created_at": net["elsewhere"].created_at.isoformat(),
        }
    ]
    assert _count(OutsideLink) == 0


# --- the link ---------------------------------------------------------------------------------


def test_the_link_is_made_through_the_api_and_its_token_kept_only_hashed(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    act_as(net["actor"])
    made = client.post(
        "/api/v1/outside-referrals",
        json={
            "client_id": str(net["client"].id),
            "organisation_id": str(net["refuge"].id),
            "consent_id": str(net["consent"].id),
            "purpose": "emergency_shelter",
            "urgency": "urgent",
            "data_categories": ["contact"],
        },
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    link = client.post(f"/api/v1/outside-referrals/{made.json['id']}/links")
    assert link.status_code == 201
    token = link.json["url"].rsplit("/o/", 1)[1]
    assert len(token) >= 22  # ≥ 128 bits
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    stored = db.session.get(OutsideLink, uuid.UUID(link.json["id"]))
    assert stored is not None
    assert stored.token_digest == hashlib.sha256(token.encode()).hexdigest()
    every_value = json.dumps(
        [list(row) for row in db.session.execute(select(OutsideLink.__table__))], default=str
    )
    assert token not in every_value
    assert token not in json.dumps([e.details for e in db.session.scalars(select(AuditEvent))])
    listed = client.get(f"/api/v1/outside-referrals/{made.json['id']}/links").json
    assert [item["id"] for item in listed] == [link.json["id"]]
    assert "url" not in listed[0]


def test_the_link_shows_only_what_the_consent_allows_and_every_open_is_audited(
    client: Any, net: dict[str, Any]
) -> None:
    referral = _send(net)
    link, token = _link(net, referral)
    page = client.get(f"/o/{token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert CONTACT in text
    assert HEALTH not in text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'lang="es"' in text  # her language
    client.get(f"/o/{token}")
    opened = _events("referral.outside_link_opened")
    assert len(opened) == 2
    assert {e.actor_type for e in opened} == {"outside"}
    assert {e.actor_id for e in opened} == {f"outside-link:{link.id}"}
    viewed = [e for e in _events("client.pii_viewed") if e.actor_type == "outside"]
    assert len(viewed) == 2
    assert viewed[0].fields == ["contact"]
    db.session.refresh(link)
    assert link.opens == 2
    assert link.first_opened_at is not None


def test_revoking_her_consent_empties_the_link(client: Any, net: dict[str, Any]) -> None:
    referral = _send(net)
    _, token = _link(net, referral)
    with transaction():
        consent.revoke_consent(net["actor"], net["consent"].id, "she asked")
    text = client.get(f"/o/{token}").get_data(as_text=True)
    assert CONTACT not in text
    assert "Accept" not in text


@pytest.mark.parametrize("how", ["expired", "revoked", "wrong", "withdrawn", "replaced"])
def test_a_dead_link_is_a_plain_refusal(client: Any, net: dict[str, Any], how: str) -> None:
    referral = _send(net)
    link, token = _link(net, referral)
    csrf = factories.csrf_from(client.get(f"/o/{token}").get_data(as_text=True))
    start = clock.now()
    with clock.frozen_at(start) as moment:
        if how == "expired":
            moment.advance(timedelta(hours=72))
        elif how == "revoked":
            with transaction():
                outside.revoke_link(net["actor"], referral.id, link.id)
        elif how == "wrong":
            token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        elif how == "withdrawn":
            with transaction():
                outside.withdraw_outside(net["actor"], referral.id)
        else:
            _link(net, referral)
        page = client.get(f"/o/{token}")
        answer = client.post(f"/o/{token}", data={"action": "accept", "csrf_token": csrf})
        with pytest.raises(NotFound):  # the service refuses it too, whatever the form
            outside.answer_by_link(token, "accept", address="203.0.113.7")
    text = page.get_data(as_text=True)
    # a 403 only where the expired page's form token ran out with the clock
    assert page.status_code == 404
    assert answer.status_code == (403 if how == "expired" else 404)
    for secret in (CONTACT, net["client"].reference, "Riverside", "Harbor"):
        assert secret not in text
    db.session.refresh(referral)
    assert referral.status in (State.SENT, State.WITHDRAWN)


def test_accepting_through_the_link_moves_the_referral_and_then_shows_the_outcome_only(
    app: Flask, client: Any, net: dict[str, Any]
) -> None:
    referral = _send(net)
    link, token = _link(net, referral)
    page = client.get(f"/o/{token}").get_data(as_text=True)
    assert 'value="accept"' in page
    csrf = factories.csrf_from(page)
    answered = client.post(f"/o/{token}", data={"action": "accept", "csrf_token": csrf})
    assert answered.status_code == 303
    db.session.refresh(referral)
    assert referral.status == State.ACCEPTED
    assert referral.answered_at is not None
    [event] = _events("referral.outside_accepted")
    assert event.actor_type == "outside"
    assert event.actor_id == f"outside-link:{link.id}"
    after = client.get(f"/o/{token}").get_data(as_text=True)
    assert CONTACT not in after
    assert 'value="accept"' not in after
    again = client.post(
        f"/o/{token}", data={"action": "decline", "reason": "other", "csrf_token": csrf}
    )
    assert again.status_code == 409
    db.session.refresh(referral)
    assert referral.status == State.ACCEPTED


def test_declining_needs_a_coded_reason(app: Flask, client: Any, net: dict[str, Any]) -> None:
    referral = _send(net)
    _, token = _link(net, referral)
    csrf = factories.csrf_from(client.get(f"/o/{token}").get_data(as_text=True))
    bare = client.post(f"/o/{token}", data={"action": "decline", "csrf_token": csrf})
    assert bare.status_code == 422
    db.session.refresh(referral)
    assert referral.status == State.SENT
    client.post(
        f"/o/{token}",
        data={"action": "decline", "reason": "out_of_area", "csrf_token": csrf},
    )
    db.session.refresh(referral)
    # refreshed from the database: not the SENT it was narrowed to above
    assert referral.status == State.DECLINED  # type: ignore[comparison-overlap]
    assert referral.decline_reason == "out_of_area"


def test_the_link_route_is_rate_limited(app: Flask, client: Any, net: dict[str, Any]) -> None:
    app.config["OUTSIDE_LINK_REQUESTS_PER_WINDOW"] = 3
    try:
        answers = [client.get("/o/not-a-token").status_code for _ in range(4)]
    finally:
        app.config["OUTSIDE_LINK_REQUESTS_PER_WINDOW"] = 30
    assert answers == [404, 404, 404, 429]


# --- what leaves the hub otherwise ------------------------------------------------------------


def test_nothing_about_her_or_the_organisation_reaches_webhooks_or_the_audit_details(
    app: Flask, client: Any, net: dict[str, Any]
) -> None:
    referral = _send(net)
    _, token = _link(net, referral)
    csrf = factories.csrf_from(client.get(f"/o/{token}").get_data(as_text=True))
    client.post(f"/o/{token}", data={"action": "accept", "csrf_token": csrf})
    payloads = [row.payload for row in db.session.scalars(select(OutboxMessage))]
    events = [p.get("event") for p in payloads]
    assert "referral.outside_sent" in events
    assert "referral.outside_accepted" in events
    blob = json.dumps(payloads) + json.dumps(
        [[e.details, e.fields] for e in db.session.scalars(select(AuditEvent))]
    )
    for secret in (CONTACT, HEALTH, ORG_PHONE, ORG_EMAIL, token):
        assert secret not in blob


def test_the_letter_prints_in_her_language_with_only_what_the_consent_allows(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    referral = _send(net)
    act_as(net["actor"])
    page = client.get(f"/intake/outside/{referral.id}/letter")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert CONTACT in text
    assert HEALTH not in text
    assert 'lang="es"' in text
    assert "Riverside Refuge" in text
    assert 'value="accept"' not in text
    assert len(_events("referral.outside_letter_printed")) == 1


# --- the pages use the same service -----------------------------------------------------------


def test_the_worker_refers_outside_from_her_page(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    act_as(net["actor"])
    url = f"/intake/outside/clients/{net['client'].id}"
    form = client.get(url).get_data(as_text=True)
    assert "Riverside Refuge" in form
    assert "Their Refuge" not in form
    token = factories.csrf_from(form)

    def post(shared: str) -> Any:
        fields = {
            "csrf_token": token,
            "organisation_id": str(net["refuge"].id),
            "consent_id": str(net["consent"].id),
            "purpose": "emergency_shelter",
            "urgency": "urgent",
            "data_categories": [shared],
        }
        return client.post(url, data=fields)

    refused = post("health")
    assert refused.status_code == 422
    assert "Not covered by consent" in refused.get_data(as_text=True)
    assert _count(OutsideReferral) == 0
    sent = post("contact")
    assert sent.status_code == 302
    [referral] = db.session.scalars(select(OutsideReferral)).all()
    detail = client.post(
        f"/intake/outside/{referral.id}/links", data={"csrf_token": token}
    ).get_data(as_text=True)
    match = re.search(r'value="(https?://[^"]+/o/[^"]+)"', detail)
    assert match, detail
    assert db.session.scalar(select(func.count()).select_from(OutsideLink)) == 1


def test_the_consent_form_offers_the_agencys_outside_organisations(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    act_as(net["actor"])
    page = client.get(f"/intake/clients/{net['client'].id}/consent").get_data(as_text=True)
    assert "Riverside Refuge" in page
    assert "Their Refuge" not in page


# --- reports ----------------------------------------------------------------------------------


def test_reports_count_referrals_outside_the_hub(app: Flask, net: dict[str, Any]) -> None:
    first = _send(net)
    with transaction():  # another consent, another organisation
        second_org = organisations.add_organisation(net["actor"], name="Harbour Legal", phone="3")
        second_consent = factories.written_consent(
            net["actor"],
            net["client"].id,
            recipients=[second_org.id],
            purposes=["legal_advocacy"],
            data_categories=[],
        )
    second = _send(
        net,
        organisation_id=second_org.id,
        consent_id=second_consent.id,
        purpose="legal_advocacy",
        data_categories=[],
    )
    _, token = _link(net, first)
    with transaction():
        outside.answer_by_link(token, "decline", address="203.0.113.9", reason="no_capacity")
        outside.withdraw_outside(net["actor"], second.id)
    today = clock.now().date()
    figures = reports.handoff_report(SYSTEM, first_day=today, last_day=today)
    assert figures["referred_outside"] == {
        "sent": 2,
        "waiting": 0,
        "accepted": 0,
        "declined": 1,
        "withdrawn": 1,
    }
    earlier = reports.handoff_report(SYSTEM, first_day=date(2020, 1, 1), last_day=date(2020, 1, 2))
    assert earlier["referred_outside"]["sent"] == 0
    assert db.session.get(OutsideOrganisation, second_org.id) is not None
