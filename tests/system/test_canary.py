"""The canary: a client whose every PII field holds a unique marker, taken through create,
consent, a real referral (sent with a note, messages both ways, accepted, read), revocation,
erasure-free export and errors. The markers — her data, the sender's note and every message
body — must appear only where the consent policy allows: no log line, no Redis key or
value, no job payload, no e-mail, no error body, no plain column, no audit detail."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from joserfc.jwk import ECKey
from sqlalchemy import text

from referral_hub.auth.service import create_api_client, set_api_client_keys
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.jobs.queue import RqQueue
from referral_hub.notifications import webhooks
from tests import factories

MARK = uuid.uuid4().hex[:10]
PII = {
    "name": f"Name{MARK}",
    "contact": f"Contact{MARK}",
    "narrative": f"Narrative{MARK}",
    "immigration": f"Immigration{MARK}",
    "health": f"Health{MARK}",
    "justice": f"Justice{MARK}",
}
# what the two agencies say about her: survivor data too, sealed like her record
WORDS = {
    "note": f"Note{MARK}",
    "to_shelter": f"MessageToShelter{MARK}",
    "to_sender": f"MessageToSender{MARK}",
    "handover": f"Handover{MARK}",
}

# not hers, but as secret: an agency's single sign-on client secret
PROVIDER_SECRET = f"ProviderSecret{MARK}"


SCOPES = (
    "clients:write",
    "clients:read",
    "directory:read",
    "referrals:read",
    "referrals:write",
    "capacity:write",
)


def consent_body(recipient: uuid.UUID, **changes: Any) -> dict[str, Any]:
    """A consent naming `recipient` for shelter, sharing contact, signed now."""
    return {
        "recipients": [str(recipient)],
        "purposes": ["emergency_shelter"],
        "data_categories": ["contact"],
        "method": "written",
        "signer": "survivor",
        "form_version": "1",
        "form_language": "es",
        "signed_at": clock.now().isoformat(),
        **changes,
    }


def leaks(blob: str | bytes) -> list[str]:
    text_blob = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    markers = (*PII.values(), *WORDS.values(), PROVIDER_SECRET)
    return [value for value in markers if value in text_blob]


def test_the_canary(app: Flask, client: Any, session: Any, log_lines: Any, act_as: Any) -> None:
    responses = _journey(app, client)
    responses["exports"] += _oversight(client, act_as, responses["referral_id"])

    # readable exactly where the policy allows
    assert responses["owner"]["pii"] == PII
    assert responses["offered"]["pii"] == {}
    assert responses["accepted"]["pii"] == {"contact": PII["contact"]}
    assert responses["after_revoke"] == 404  # her access ended with the consent
    assert responses["outsider_status"] == 404
    # the messages: read by the two parties while the consent covers the shelter, then not
    conversation = [WORDS["to_shelter"], WORDS["to_sender"], f"Handover: {WORDS['handover']}"]
    assert [m["body"] for m in responses["shelter_messages"]] == conversation
    assert [m["body"] for m in responses["sender_messages"]] == conversation
    assert responses["messages_after_revoke"] == (403, 403)
    for body in responses["closed"]:
        assert leaks(body) == [], "a refused read of the messages carried them"
    for body in responses["errors"]:
        assert leaks(body) == [], "an error body echoed survivor data"
    for body in responses["exports"]:
        assert leaks(body) == [], "an export carried survivor data"
    nowhere_else(app, session, log_lines)


def nowhere_else(app: Flask, session: Any, log_lines: Any) -> None:
    """No log line, plain column, e-mail, Redis key or value carries a marker."""
    assert leaks(json.dumps(log_lines())) == [], "a log line carried survivor data"
    assert log_lines(), "nothing was logged: the check would prove nothing"
    for table in db.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):  # noqa: S608 - metadata names
            assert leaks(" ".join(str(value) for value in row)) == [], table.name
    mail = Path(app.instance_path) / app.config["MAIL_FOLDER"]
    for message in mail.glob("*.eml") if mail.exists() else []:
        assert leaks(message.read_bytes()) == [], message.name
    queue = app.extensions["hub_queue"]
    if isinstance(queue, RqQueue):  # the PostgreSQL + Redis run: every key and value
        for key in queue.redis.scan_iter("*"):
            assert leaks(key) == []
            kind = queue.redis.type(key)
            if kind == b"string":
                assert leaks(queue.redis.get(key) or b"") == []
            elif kind == b"hash":
                for field, value in queue.redis.hgetall(key).items():
                    assert leaks(field) == []
                    assert leaks(value) == []
            elif kind == b"list":
                for value in queue.redis.lrange(key, 0, -1):
                    assert leaks(value) == []


def _journey(app: Flask, client: Any) -> dict[str, Any]:
    with transaction():
        owner, shelter, outsider = factories.agency(), factories.agency(), factories.agency()
        beds = factories.directory_service(shelter, "emergency_shelter")
        factories.capacity(beds, total=4, available=4)
        colleague = factories.user(owner, ["intake"])  # the sending side's next caseworker
        stranger = factories.user(outsider, ["intake"])
        headers = {}
        for name, agency in (("owner", owner), ("shelter", shelter), ("outsider", outsider)):
            client_id, secret = factories.api_client(agency, [*SCOPES])
            headers[name] = (client_id, secret)
    bearer = {
        name: {"Authorization": f"Bearer {factories.token(client, *pair)}"}
        for name, pair in headers.items()
    }
    errors = [
        client.post(
            "/api/v1/clients", json={"pii": {**PII, "dob": PII["name"]}}, headers=bearer["owner"]
        ).get_data(),
        client.post(
            "/api/v1/clients", json={"pii": PII, "colour": PII["health"]}, headers=bearer["owner"]
        ).get_data(),
        client.post(
            "/api/v1/clients",
            data=b'{"pii": {"name": "' + PII["name"].encode() + b'"',
            headers={**bearer["owner"], "Content-Type": "application/json"},
        ).get_data(),
    ]
    created = client.post(
        "/api/v1/clients", json={"pii": PII, "profile": {"language": "es"}}, headers=bearer["owner"]
    ).json
    client_id = created["id"]
    body = consent_body(shelter.id, data_categories=["contact", "health"])
    consent_id = client.post(
        f"/api/v1/clients/{client_id}/consents", json=body, headers=bearer["owner"]
    ).json["id"]
    url = f"/api/v1/clients/{client_id}"
    owner_view = client.get(url, headers=bearer["owner"]).json
    # a referral to the shelter sharing contact only (the consent would allow health too)
    sent = client.post(
        "/api/v1/referrals",
        json={
            "client_id": client_id,
            "service_id": str(beds.id),
            "consent_id": consent_id,
            "urgency": "urgent",
            "data_categories": ["profile", "contact"],
            "note": WORDS["note"],
        },
        headers=bearer["owner"],
    )
    assert sent.status_code == 201, sent.json
    referral = f"/api/v1/referrals/{sent.json['id']}"
    errors.append(  # a message with an unknown field: refused without echoing the words
        client.post(
            f"{referral}/messages",
            json={"body": WORDS["to_shelter"], "colour": WORDS["to_shelter"]},
            headers=bearer["owner"],
        ).get_data()
    )
    client.post(f"{referral}/messages", json={"body": WORDS["to_shelter"]}, headers=bearer["owner"])
    offered = client.get(url, headers=bearer["shelter"]).json
    assert client.post(f"{referral}/accept", json={}, headers=bearer["shelter"]).status_code == 200
    client.post(
        f"{referral}/messages", json={"body": WORDS["to_sender"]}, headers=bearer["shelter"]
    )
    # the sender hands its side over with a note (sealed: a message both parties read); a
    # handover to another agency's user is refused without echoing the note
    errors.append(
        client.post(
            f"{referral}/assign",
            json={"side": "sender", "assignee_id": str(stranger.id), "note": WORDS["handover"]},
            headers=bearer["owner"],
        ).get_data()
    )
    handed = client.post(
        f"{referral}/assign",
        json={"side": "sender", "assignee_id": str(colleague.id), "note": WORDS["handover"]},
        headers=bearer["owner"],
    )
    assert handed.status_code == 200, handed.json
    accepted = client.get(url, headers=bearer["shelter"]).json
    # the hold kept longer, once, for a coded reason: words in its place are refused unechoed
    extend = f"{referral}/extend-hold"
    errors.append(
        client.post(extend, json={"reason": WORDS["note"]}, headers=bearer["shelter"]).get_data()
    )
    errors.append(
        client.post(
            extend,
            json={"reason": "transport_delayed", "minutes": PII["name"]},
            headers=bearer["shelter"],
        ).get_data()
    )
    extended = client.post(extend, json={"reason": "transport_delayed"}, headers=bearer["shelter"])
    assert extended.status_code == 200, extended.json
    errors.append(
        client.post(extend, json={"reason": "other"}, headers=bearer["shelter"]).get_data()
    )
    refused = client.post(  # overflow with her words where times and counts belong
        f"/api/v1/services/{beds.id}/overflow",
        json={"starts_at": PII["name"], "ends_at": PII["contact"], "places": PII["health"]},
        headers=bearer["shelter"],
    )
    assert refused.status_code in (400, 422)
    errors.append(refused.get_data())
    shelter_messages = client.get(f"{referral}/messages", headers=bearer["shelter"]).json
    sender_messages = client.get(f"{referral}/messages", headers=bearer["owner"]).json
    outsider_status = client.get(url, headers=bearer["outsider"]).status_code
    client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "she asked"},
        headers=bearer["owner"],
    )
    after_revoke = client.get(url, headers=bearer["shelter"]).status_code
    read_after = client.get(f"{referral}/messages", headers=bearer["shelter"])
    post_after = client.post(
        f"{referral}/messages", json={"body": WORDS["to_sender"]}, headers=bearer["shelter"]
    )
    runaround = client.get(f"{url}/runaround", headers=bearer["owner"])
    assert runaround.status_code == 200
    assert runaround.json["doors"] == 1
    exports = [
        runaround.get_data(),
        client.get(f"{url}/disclosures", headers=bearer["owner"]).get_data(),
        client.get(f"{url}/disclosures?format=csv", headers=bearer["owner"]).get_data(),
        client.get(f"{url}/consents", headers=bearer["owner"]).get_data(),
        client.get("/api/v1/hsds/services", headers=bearer["owner"]).get_data(),
        client.get(f"{referral}/timeline", headers=bearer["owner"]).get_data(),
        client.get(f"{referral}/timeline", headers=bearer["shelter"]).get_data(),
        client.get(referral, headers=bearer["shelter"]).get_data(),
    ]
    return {
        "owner": owner_view,
        "offered": offered,
        "accepted": accepted,
        "after_revoke": after_revoke,
        "outsider_status": outsider_status,
        "shelter_messages": shelter_messages,
        "sender_messages": sender_messages,
        "messages_after_revoke": (read_after.status_code, post_after.status_code),
        "closed": [read_after.get_data(), post_after.get_data()],
        "errors": errors,
        "exports": exports,
        "referral_id": sent.json["id"],
    }


def _oversight(client: Any, act_as: Any, referral_id: str) -> list[bytes]:
    """A coordinator works her referral from the in-limbo queue (its hold has lapsed): the
    queue as bundle items and as rows, JSON and CSV, and the page, both nudges (their
    e-mails are checked with the rest)."""
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.referrals.models import Referral

    with transaction():
        db.session.get(Referral, uuid.UUID(referral_id)).arrive_by = clock.now() - timedelta(
            minutes=5
        )
        hub = factories.agency()
    act_as(Actor(ActorKind.USER, "canary-coordinator", hub.id, frozenset({"coordinator"})))
    queue = client.get("/api/v1/reports/in-limbo", query_string={"limit": 200})
    assert referral_id in queue.get_data(as_text=True), "the lapsed hold is not in the queue"
    rows = client.get("/api/v1/reports/in-limbo/referrals", query_string={"limit": 200})
    assert referral_id in rows.get_data(as_text=True), "the lapsed hold is not a queue row"
    nudged = [
        client.post(f"/api/v1/reports/in-limbo/{referral_id}/nudge", json={"to": side})
        for side in ("receiver", "sender")
    ]
    assert [response.status_code for response in nudged] == [200, 200]
    return [
        queue.get_data(),
        client.get("/api/v1/reports/in-limbo?limit=200&format=csv").get_data(),
        rows.get_data(),
        client.get("/api/v1/reports/in-limbo/referrals?limit=200&format=csv").get_data(),
        client.get("/network/in-limbo?limit=200").get_data(),
        *(response.get_data() for response in nudged),
        client.get(f"/network/referrals/{referral_id}").get_data(),
    ]


def _idempotency_plaintexts(session: Any) -> list[bytes]:
    """What the hub alone (its master keys, no client's data key) reads in the table."""
    from referral_hub.core import crypto
    from referral_hub.core.idempotency import IdempotencyRecord

    session.expire_all()
    return [
        crypto.decrypt(row.response)
        for row in session.query(IdempotencyRecord).all()
        if row.response is not None
    ]


def test_the_canary_in_the_idempotency_table(client: Any, session: Any, act_as: Any) -> None:
    """Issue 14, defect 9: a message posted with an Idempotency-Key kept her text in the
    stored answer for 24 hours after her key was destroyed."""
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind

    with transaction():
        sender, receiver = factories.agency(), factories.agency()
        shelter = factories.directory_service(receiver, "emergency_shelter")
        factories.capacity(shelter, total=3, available=3)
        intake = Actor(ActorKind.USER, "intake-canary", sender.id, frozenset({"intake"}))
        person = clients.create_client(intake, pii={"name": PII["name"]})
        referral = factories.sent_referral(intake, person.id, shelter.id)
    act_as(intake)
    url = f"/api/v1/referrals/{referral.id}/messages"
    message = {"body": f"She is at {PII['contact']}"}
    headers = {"Idempotency-Key": f"canary-{MARK}"}
    first = client.post(url, json=message, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert PII["contact"] in first.get_data(as_text=True)
    # stored for replays, but not where the hub's own keys open it
    assert _idempotency_plaintexts(session)
    for plain in _idempotency_plaintexts(session):
        assert leaks(plain) == [], "the idempotency record holds her text"
    replay = client.post(url, json=message, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == first.get_data()
    with transaction():
        consent.erase_client(intake, person.id, "she asked")
    # her key is gone: the stored answer no longer opens, and a retry says so
    again = client.post(url, json=message, headers=headers)
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert "Idempotency-Key" in again.json["errors"]
    assert leaks(again.get_data()) == []
    for table in ("idempotency_record",):
        for row in session.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
            assert leaks(" ".join(str(value) for value in row)) == [], table
    for plain in _idempotency_plaintexts(session):
        assert leaks(plain) == []


def test_the_canary_in_outcomes_signer_authority_and_confidential_site_names(
    client: Any, session: Any, act_as: Any
) -> None:
    """Issue 14, defect 8: a referral's outcome, a consent's signer_authority and a
    confidential site's location name were stored (and shown) in plain text."""
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.referrals import service as referrals

    authority = f"Authority{MARK}"
    words = f"Outcome{MARK}"
    site = f"Site{MARK}"
    with transaction():
        sender, receiver, overseer = factories.agency(), factories.agency(), factories.agency()
        shelter = factories.directory_service(
            receiver,
            "emergency_shelter",
            location={"name": site, "city": "Springfield", "confidential": True},
        )
        factories.capacity(shelter, total=3, available=3)
        intake = Actor(ActorKind.USER, "intake-canary", sender.id, frozenset({"intake"}))
        provider = Actor(ActorKind.USER, "provider-canary", receiver.id, frozenset({"provider"}))
        person = clients.create_client(intake, pii={"name": PII["name"]})
        referral = factories.sent_referral(intake, person.id, shelter.id)
        for action in ("accept", "confirm-arrival"):
            referrals.transition(provider, referral.id, action)
        referrals.transition(provider, referral.id, "complete", outcome=words)
    act_as(intake)
    body = consent_body(receiver.id, signer="representative", signer_authority=authority)
    recorded = client.post(f"/api/v1/clients/{person.id}/consents", json=body)
    assert recorded.status_code == 201, recorded.get_data(as_text=True)
    assert recorded.json["signer_authority"] == authority  # her agency still reads it
    marks = (authority, words, site)
    for table in db.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):  # noqa: S608
            flat = " ".join(str(value) for value in row)
            assert not [mark for mark in marks if mark in flat], table.name
    # a coordinator sees the coded outcome, never the words
    act_as(Actor(ActorKind.USER, "coord-canary", overseer.id, frozenset({"coordinator"})))
    shown = client.get(f"/api/v1/referrals/{referral.id}")
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.json["outcome_code"] == "other"
    assert shown.json["outcome"] == "other"
    assert words not in shown.get_data(as_text=True)
    # the directory shows a confidential site by city only; its owner sees the name
    act_as(intake)
    assert site not in client.get(f"/api/v1/services/{shelter.id}").get_data(as_text=True)
    act_as(Actor(ActorKind.USER, "admin-canary", receiver.id, frozenset({"agency_admin"})))
    owner_view = client.get(f"/api/v1/services/{shelter.id}").json
    assert owner_view["location"]["name"] == site
    # erased: the words and the authority no longer open anywhere
    with transaction():
        consent.erase_client(intake, person.id, "she asked")
    act_as(intake)
    listed = client.get(f"/api/v1/clients/{person.id}/consents")
    assert authority not in listed.get_data(as_text=True)


def test_the_canary_at_her_own_door(app: Flask, client: Any, session: Any, log_lines: Any) -> None:
    """Issue 19: her code, her PIN, her data and how she wants to be reached stay out of
    logs, plain columns, e-mails (the lock alert included) and her own page."""
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.survivor import access

    reach = f"Reach{MARK}"
    pin = "735911"
    with transaction():
        owner, shelter_agency = factories.agency(), factories.agency()
        shelter = factories.directory_service(shelter_agency, "emergency_shelter")
        factories.capacity(shelter, total=3, available=3)
        factories.user(owner, ["intake"])  # someone at her agency to tell about a lock
        intake = Actor(ActorKind.USER, "intake-canary", owner.id, frozenset({"intake"}))
        person = clients.create_client(intake, pii=PII)
        granted = factories.written_consent(
            intake,
            person.id,
            recipients=[shelter_agency.id],
            purposes=["emergency_shelter"],
            data_categories=["contact", "identity"],
        )
        factories.sent_referral(
            intake, person.id, shelter.id, consent_id=granted.id, data_categories=["contact"]
        )
        code = access.issue_code(intake, person.id, pin).code
    secrets = [code, code.replace("-", ""), reach]

    def door_leaks(blob: str | bytes) -> list[str]:
        text_blob = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
        return leaks(text_blob) + [value for value in secrets if value in text_blob]

    def signed_in_form(path: str, **form: str) -> Any:
        page = client.get("/me").get_data(as_text=True)
        return client.post(path, data={**form, "csrf_token": factories.csrf_from(page)})

    pages = []
    for _ in range(5):  # wrong PINs lock the code and e-mail her agency
        pages.append(signed_in_form("/me/sign-in", code=code, pin="000000").get_data())
    with clock.frozen_at(clock.now() + timedelta(minutes=61)):
        assert signed_in_form("/me/sign-in", code=code, pin=pin).status_code == 303
        pages.append(client.get("/me").get_data())
        assert signed_in_form("/me/contact", how=reach).status_code == 303
        pages.append(client.get("/me").get_data())
        withdrawn = signed_in_form("/me/withdraw", agency_id=str(shelter_agency.id), step="yes")
        assert withdrawn.status_code == 303
        pages.append(client.get("/me").get_data())
        pages.append(client.get("/me/exit").get_data())
    for body in pages:
        assert door_leaks(body) == [], "her page showed her data or her code"
    assert door_leaks(json.dumps(log_lines())) == [], "a log line carried her code or data"
    assert log_lines(), "nothing was logged: the check would prove nothing"
    for table in db.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):  # noqa: S608 - metadata names
            assert door_leaks(" ".join(str(value) for value in row)) == [], table.name
    mail = Path(app.instance_path) / app.config["MAIL_FOLDER"]
    for message in mail.glob("*.eml") if mail.exists() else []:
        assert door_leaks(message.read_bytes()) == [], message.name
    from referral_hub.jobs.models import OutboxMessage

    alerts = [
        row.payload
        for row in session.query(OutboxMessage).all()
        if row.payload.get("template") == "survivor_code_locked"
    ]
    assert alerts
    assert all(door_leaks(json.dumps(alert)) == [] for alert in alerts)


def test_the_canary_through_fhir(app: Flask, client: Any, session: Any, log_lines: Any) -> None:
    """The same markers sent by a clinic's EHR as a FHIR Task (her name, phone, the note) under
    a consent for contact only: the shelter's system reads nothing of her before accepting,
    her phone after it and never her name or the note; refused Tasks do not echo them; and
    they are stored nowhere but sealed."""
    from tests import fhir_world

    world = fhir_world.build(client)
    shelter = world["shelter_auth"]
    # the clinic's EHR signs its token requests (private_key_jwt) as SMART backend services do
    key = ECKey.generate_key("P-384", parameters={"kid": "canary"})
    audience = app.config["PUBLIC_URL"].rstrip("/") + "/oauth/token"
    with transaction():
        made, _ = create_api_client(
            SYSTEM, agency_id=world["clinic"].id, name="EHR", scopes=fhir_world.CLINIC_SCOPES
        )
        set_api_client_keys(
            SYSTEM, world["clinic"].id, made.id, {"keys": [key.as_dict(private=False)]}
        )
    token = factories.assertion_token(client, audience, made.client_id, key)
    clinic = {"Authorization": f"Bearer {token}"}
    # an assertion carrying her data where ids go is refused without echoing or keeping it
    for forged in (
        factories.assertion(audience, made.client_id, key, kid=PII["immigration"]),
        factories.assertion(audience, made.client_id, key, jti=PII["narrative"], exp=1),
    ):
        refused = client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": factories.ASSERTION_TYPE,
                "client_assertion": forged,
            },
        )
        assert refused.json["error"] == "invalid_client"
        assert leaks(refused.get_data()) == []
    task = fhir_world.referral_task(world, categories=("contact",))
    patient, _, request = task["contained"]
    patient.update(
        name=[{"text": PII["name"]}], telecom=[{"system": "phone", "value": PII["contact"]}]
    )
    request["note"] = [{"text": WORDS["note"]}]
    bad = json.loads(json.dumps(task))
    bad["contained"][0]["birthDate"] = PII["health"]
    worse = json.loads(json.dumps(task))
    worse["contained"][1]["provision"]["class"][0]["code"] = PII["justice"]
    errors = [client.post("/fhir/Task", json=body, headers=clinic) for body in (bad, worse)]
    assert [response.status_code for response in errors] == [400, 422]
    sent = client.post("/fhir/Task", json=task, headers=clinic)
    assert sent.status_code == 201, sent.get_data(as_text=True)
    referral_id = sent.json["id"]
    patient_url = f"/fhir/{sent.json['for']['reference']}"
    before = client.get(patient_url, headers=shelter).get_data()
    moved = client.patch(f"/fhir/Task/{referral_id}", json={"status": "accepted"}, headers=shelter)
    assert moved.status_code == 200
    after = client.get(patient_url, headers=shelter).json
    assert after["telecom"] == [{"system": "phone", "value": PII["contact"]}]
    assert leaks(json.dumps(after)) == [PII["contact"]]  # her phone, and only that
    reads = [before, *(response.get_data() for response in errors)]
    for path in (f"/fhir/Task/{referral_id}", f"/fhir/ServiceRequest/{referral_id}", "/fhir/Task"):
        reads += [client.get(path, headers=auth).get_data() for auth in (clinic, shelter)]
    for body in reads:
        assert leaks(body) == [], body[:300]
    nowhere_else(app, session, log_lines)


def test_the_canary_outside_the_hub(app: Flask, client: Any, session: Any, log_lines: Any) -> None:
    """A referral to an organisation not on the hub: her markers reach its link page only
    as the consent allows (contact, not health), never the link's URL, its audit, the
    webhooks, the logs or any plain column; after the answer the page shows none."""
    with transaction():
        owner = factories.agency()
        client_id, secret = factories.api_client(owner, [*SCOPES])
        admin = factories.user(owner, ["agency_admin"])
        webhooks.subscribe(
            factories.actor_for(admin), url="https://hooks.example/c", events=list(webhooks.EVENTS)
        )
    bearer = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    created = client.post(
        "/api/v1/clients", json={"pii": PII, "profile": {"language": "es"}}, headers=bearer
    ).json
    refuge = client.post(
        "/api/v1/outside-organisations",
        json={"name": "Riverside Refuge", "phone": "+1 555 0100"},
        headers=bearer,
    ).json
    body = consent_body(uuid.UUID(refuge["id"]), data_categories=["contact"])
    consent_id = client.post(
        f"/api/v1/clients/{created['id']}/consents", json=body, headers=bearer
    ).json["id"]
    referral = {
        "client_id": created["id"],
        "organisation_id": refuge["id"],
        "consent_id": consent_id,
        "purpose": "emergency_shelter",
        "urgency": "urgent",
        "data_categories": ["contact", "health"],
    }
    errors = [client.post("/api/v1/outside-referrals", json=referral, headers=bearer).get_data()]
    sent = client.post(
        "/api/v1/outside-referrals",
        json={**referral, "data_categories": ["contact"]},
        headers=bearer,
    )
    assert sent.status_code == 201, sent.json
    link = client.post(f"/api/v1/outside-referrals/{sent.json['id']}/links", headers=bearer).json
    assert leaks(link["url"]) == []
    path = "/o/" + link["url"].rsplit("/o/", 1)[1]
    page = client.get(path).get_data(as_text=True)
    assert leaks(page) == [PII["contact"]]
    csrf = factories.csrf_from(page)
    errors.append(client.post(path, data={"action": "decline", "csrf_token": csrf}).get_data())
    assert client.post(path, data={"action": "accept", "csrf_token": csrf}).status_code == 303
    assert leaks(client.get(path).get_data()) == []
    exports = [
        client.get(f"/api/v1/outside-referrals/{sent.json['id']}", headers=bearer).get_data(),
        client.get(f"/api/v1/outside-referrals/{sent.json['id']}/links", headers=bearer).get_data(),
        client.get("/api/v1/outside-referrals", headers=bearer).get_data(),
    ]
    for blob in [*errors, *exports]:
        assert leaks(blob) == [], "an answer about the outside referral carried her data"


def test_the_canary_in_single_sign_on_settings(
    app: Flask, client: Any, session: Any, log_lines: Any
) -> None:
    """An agency's provider secret is kept encrypted: never in an answer, a page, a log
    line, an audit detail, the idempotency table, a plain column or Redis."""
    with transaction():
        agency = factories.agency()
        client_id, secret = factories.api_client(agency, ["admin"])
        admin = factories.with_password(factories.user(agency, ["agency_admin"]))
        totp = factories.with_totp(admin)
    bearer = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    url = f"/api/v1/agencies/{agency.id}/sso"
    settings = {
        "issuer": "https://login.canary.example",
        "client_id": "hub",
        "client_secret": PROVIDER_SECRET,
        "email_domains": [f"canary-{MARK}.example"],
        "enabled": True,
    }
    put = client.put(url, json=settings, headers={**bearer, "Idempotency-Key": f"sso-{MARK}"})
    assert put.status_code == 200, put.get_data(as_text=True)
    refused = client.put(url, json={**settings, "issuer": "ftp://x"}, headers=bearer)
    assert refused.status_code == 422
    got = client.get(url, headers=bearer)
    assert got.json["client_secret_set"] is True
    factories.sign_in(client, admin, totp)
    page = client.get("/admin/sso")
    for answer in (put, refused, got, page):
        assert leaks(answer.get_data()) == [], answer.request.path
    nowhere_else(app, session, log_lines)
