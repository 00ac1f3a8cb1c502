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
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Bundle, OutsideLink, OutsideReferral
from referral_hub.referrals.states import State
from referral_hub.reports import queries as reports
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


def test_a_bundle_of_another_client_or_none_is_refused_and_nothing_is_written(
    net: dict[str, Any],
) -> None:
    with transaction():
        someone_else = clients.create_client(net["actor"], pii={}, profile={})
        theirs = Bundle(  # the row alone: what matters is whose client it names
            client_id=someone_else.id, sender_agency_id=net["home"].id, urgency=Urgency.ROUTINE
        )
        db.session.add(theirs)
    for bundle_id in (theirs.id, uuid.uuid4()):
        with pytest.raises(ValidationFailed) as refused:
            _send(net, bundle_id=bundle_id)
        assert "bundle_id" in (refused.value.errors or {})
    assert _count(OutsideReferral) == 0
    assert _events("referral.outside_sent") == []


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


# --- her consent governs them too: revoked, expired, withdrawn from that organisation -------


def _run_task(app: Flask, run_jobs: Any, name: str) -> None:
    """As the scheduler would: hand the periodic task to the queue, let a worker run it."""
    app.extensions["hub_queue"].enqueue_task(name, slot=int(clock.now().timestamp()))
    run_jobs()


def _mail_rows(template: str) -> list[OutboxMessage]:
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    return [row for row in rows if row.payload["template"] == template]


def _without_ids(text: str) -> str:
    return re.sub(r"[0-9a-f]{32}|[0-9a-f-]{36}", "<id>", text)


def _assert_withdrawn_under_consent(
    client: Any, net: dict[str, Any], referral: OutsideReferral, token: str, reason: str
) -> None:
    db.session.expire_all()
    stored = db.session.get_one(OutsideReferral, referral.id)
    assert stored.status == State.WITHDRAWN
    assert stored.closed_at is not None
    [event] = [e for e in _events("referral.outside_withdrawn") if e.subject_id == str(stored.id)]
    assert event.details == {"reason": reason, "from": "sent"}
    assert event.actor_type == "system"
    assert event.consent_id == net["consent"].id
    links = db.session.scalars(select(OutsideLink).where(OutsideLink.referral_id == stored.id))
    assert all(link.revoked_at is not None for link in links)
    dead = client.get(f"/o/{token}")
    wrong = client.get(f"/o/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}")
    assert dead.status_code == wrong.status_code == 404
    # the same refusal as any dead link (but for the request's own id)
    assert _without_ids(dead.get_data(as_text=True)) == _without_ids(wrong.get_data(as_text=True))
    with pytest.raises(NotFound):
        outside.answer_by_link(token, "accept", address="203.0.113.8")
    told = {row.payload["to"] for row in _mail_rows("action_waiting")}
    assert net["worker"].email in told  # the sending agency hears, in the fixed text


def test_revoking_her_consent_withdraws_the_unanswered_outside_referral(
    client: Any, net: dict[str, Any]
) -> None:
    referral = _send(net)
    _, token = _link(net, referral)
    with transaction():
        consent.revoke_consent(net["actor"], net["consent"].id, "she asked")
    _assert_withdrawn_under_consent(client, net, referral, token, "consent revoked")
    heard = [
        row.payload
        for row in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook"))
        if row.payload["event"] == "referral.outside_withdrawn"
    ]
    assert [(p["outside_referral_id"], p["status"]) for p in heard] == [
        (str(referral.id), "withdrawn")
    ]


def _expiring(net: dict[str, Any]) -> dict[str, Any]:
    """Her consent naming the refuge, ending in two hours (its links outlive it)."""
    with transaction():
        short = factories.written_consent(
            net["actor"],
            net["client"].id,
            recipients=[net["refuge"].id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
            expires_at=clock.now() + timedelta(hours=2),
        )
    return {**net, "consent": short}


def test_her_consent_expiring_withdraws_it_through_the_periodic_job(
    app: Flask, client: Any, net: dict[str, Any], run_jobs: Any
) -> None:
    net = _expiring(net)
    referral = _send(net)
    _, token = _link(net, referral)
    with clock.frozen_at(net["consent"].expires_at + timedelta(minutes=1)):
        _run_task(app, run_jobs, "consent.expire")
        _assert_withdrawn_under_consent(client, net, referral, token, "consent expired")


def _sent_to_two(
    net: dict[str, Any],
) -> tuple[dict[str, Any], OutsideReferral, OutsideReferral]:
    """Her consent naming the refuge and a second organisation, and a referral to each."""
    with transaction():
        legal = organisations.add_organisation(net["actor"], name="Harbour Legal", phone="3")
        both = factories.written_consent(
            net["actor"],
            net["client"].id,
            recipients=[net["refuge"].id, legal.id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
        )
    net = {**net, "consent": both}
    return net, _send(net), _send(net, organisation_id=legal.id)


def test_withdrawing_her_consent_from_one_organisation_withdraws_only_that_referral(
    client: Any, net: dict[str, Any]
) -> None:
    net, to_refuge, to_legal = _sent_to_two(net)
    _, token = _link(net, to_refuge)
    with transaction():
        consent.revoke_consent(
            net["actor"], net["consent"].id, "not them", agency_id=net["refuge"].id
        )
    _assert_withdrawn_under_consent(client, net, to_refuge, token, "consent revoked")
    assert db.session.get_one(OutsideReferral, to_legal.id).status == State.SENT
    assert len(_events("referral.outside_withdrawn")) == 1


def test_an_accepted_outside_referral_stays_accepted_and_its_link_reads_nothing(
    app: Flask, client: Any, net: dict[str, Any], run_jobs: Any
) -> None:
    net = _expiring(net)
    referral = _send(net)
    _, token = _link(net, referral)
    assert CONTACT in client.get(f"/o/{token}").get_data(as_text=True)
    with transaction():
        outside.answer_by_link(token, "accept", address="203.0.113.9")
    with clock.frozen_at(net["consent"].expires_at + timedelta(minutes=1)):
        _run_task(app, run_jobs, "consent.expire")
        db.session.expire_all()
        assert db.session.get_one(OutsideReferral, referral.id).status == State.ACCEPTED
        page = client.get(f"/o/{token}")
    assert page.status_code == 200
    assert CONTACT not in page.get_data(as_text=True)
    assert _events("referral.outside_withdrawn") == []
    # her access ended: on the record, as for a hub referral (nothing about her in it)
    [ended] = _events("referral.outside_access_ended")
    assert (ended.subject_type, ended.subject_id) == ("outside_referral", str(referral.id))
    assert ended.details == {"reason": "consent expired", "status": "accepted"}
    assert ended.actor_type == "system"
    assert ended.consent_id == net["consent"].id
    assert ended.client_reference == referral.client_reference


class _Abandoned(Exception):
    pass


def test_ended_access_is_recorded_once_per_accepted_referral_in_the_consents_transaction(
    client: Any, net: dict[str, Any]
) -> None:
    net, to_refuge, to_legal = _sent_to_two(net)
    both = net["consent"]
    unanswered = _send(net, organisation_id=to_legal.organisation_id)
    for referral in (to_refuge, to_legal):
        _, token = _link(net, referral)
        with transaction():
            outside.answer_by_link(token, "accept", address="203.0.113.9")

    # the revocation rolled back: nothing of it is on the record
    def revoked_then_abandoned() -> None:
        with transaction():
            consent.revoke_consent(net["actor"], both.id, "she asked")
            assert db.session.get_one(OutsideReferral, unanswered.id).status == State.WITHDRAWN
            raise _Abandoned

    with pytest.raises(_Abandoned):
        revoked_then_abandoned()
    db.session.expire_all()
    assert _events("referral.outside_access_ended") == []
    assert db.session.get_one(OutsideReferral, unanswered.id).status == State.SENT
    # withdrawn from the refuge alone: only the refuge's referral
    with transaction():
        consent.revoke_consent(net["actor"], both.id, "not them", agency_id=net["refuge"].id)
    assert [e.subject_id for e in _events("referral.outside_access_ended")] == [str(to_refuge.id)]
    # then revoked as a whole: the legal one now, the refuge's not twice; the unanswered one
    # is withdrawn, not "ended"
    with transaction():
        consent.revoke_consent(net["actor"], both.id, "she asked")
    db.session.expire_all()
    ended = _events("referral.outside_access_ended")
    assert len(ended) == 2  # one each
    assert {e.subject_id: e.details["reason"] for e in ended} == {
        str(to_refuge.id): "consent revoked",
        str(to_legal.id): "consent revoked",
    }
    assert db.session.get_one(OutsideReferral, unanswered.id).status == State.WITHDRAWN
    assert {db.session.get_one(OutsideReferral, r.id).status for r in (to_refuge, to_legal)} == {
        State.ACCEPTED
    }


# --- an answer deadline: past it, the sender is told to call them -----------------------------


def test_the_answer_deadline_is_set_at_send_from_the_urgency_and_shown(
    client: Any, act_as: Any, net: dict[str, Any]
) -> None:
    from referral_hub.referrals.deadlines import Urgency, answer_deadlines

    referral = _send(net, urgency="emergency")
    assert referral.respond_by == answer_deadlines(Urgency.EMERGENCY, referral.sent_at)[1]
    assert referral.respond_by == referral.sent_at + timedelta(minutes=30)
    act_as(net["actor"])
    answer = client.get(f"/api/v1/outside-referrals/{referral.id}").json
    assert answer["respond_by"] == referral.respond_by.isoformat()
    assert "Answer due by" in client.get(f"/intake/outside/{referral.id}").get_data(as_text=True)
    listed = client.get(f"/intake/outside/clients/{net['client'].id}").get_data(as_text=True)
    assert "answer due by" in listed


def test_past_the_deadline_unanswered_the_sender_is_told_once_to_call_them(
    app: Flask, client: Any, act_as: Any, net: dict[str, Any], run_jobs: Any
) -> None:
    import email
    from email import policy as email_policy
    from pathlib import Path

    from referral_hub.referrals.deadlines_sweep import sweep

    referral = _send(net)  # urgent: an answer within 4 hours
    assert referral.respond_by is not None
    with clock.frozen_at(referral.respond_by - timedelta(minutes=1)):
        _run_task(app, run_jobs, "referrals.deadlines")
        assert _mail_rows("outside_no_answer") == []
    with clock.frozen_at(referral.respond_by + timedelta(minutes=1)):
        _run_task(app, run_jobs, "referrals.deadlines")
        _run_task(app, run_jobs, "referrals.deadlines")  # once
        with transaction():
            assert sweep()["outside_unanswered"] == 0
        act_as(net["actor"])
        page = client.get(f"/intake/outside/{referral.id}").get_data(as_text=True)
    [row] = _mail_rows("outside_no_answer")
    assert row.payload["to"] == net["worker"].email  # who sent it, not the whole agency
    assert row.payload["values"] == {
        "organisation": "Riverside Refuge",
        "path": f"/intake/outside/{referral.id}",
    }
    [event] = _events("referral.outside_no_answer_told")
    assert event.subject_id == str(referral.id)
    assert event.details["to"] == str(net["worker"].id)
    assert "call them" in page
    run_jobs()
    mail = Path(app.instance_path) / app.config["MAIL_FOLDER"] / f"{row.id}.eml"
    message = email.message_from_bytes(mail.read_bytes(), policy=email_policy.default)
    assert message["Subject"] == "No answer yet from Riverside Refuge — call them"
    body = message.get_body().get_content()
    assert "No answer yet from Riverside Refuge — call them." in body
    assert f"/intake/outside/{referral.id}" in body
    for secret in (CONTACT, HEALTH, net["client"].reference, ORG_PHONE, ORG_EMAIL):
        assert secret not in body


def test_an_answer_before_the_deadline_means_no_notice(
    app: Flask, net: dict[str, Any], run_jobs: Any
) -> None:
    referral = _send(net)
    _, token = _link(net, referral)
    with transaction():
        outside.answer_by_link(token, "decline", address="203.0.113.9", reason="no_capacity")
    assert referral.respond_by is not None
    with clock.frozen_at(referral.respond_by + timedelta(days=1)):
        _run_task(app, run_jobs, "referrals.deadlines")
    assert _mail_rows("outside_no_answer") == []
    assert _events("referral.outside_no_answer_told") == []


def test_with_nobody_to_own_it_the_sending_agency_is_told(
    app: Flask, net: dict[str, Any], run_jobs: Any
) -> None:
    referral = _send(net)
    with transaction():
        net["worker"].is_active = False  # the worker who sent it left
        colleague = factories.user(net["home"], ["intake"])
    assert referral.respond_by is not None
    with clock.frozen_at(referral.respond_by + timedelta(minutes=1)):
        _run_task(app, run_jobs, "referrals.deadlines")
    told = {row.payload["to"] for row in _mail_rows("outside_no_answer")}
    assert colleague.email in told
    assert net["worker"].email not in told
    [event] = _events("referral.outside_no_answer_told")
    assert event.details["to"] == "agency"
