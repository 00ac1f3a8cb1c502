"""A named caseworker on each side: defaults, handover within the agency (API and pages,
one service), the sealed handover note, the "mine" filters, and deadlines that reach the
caseworker before the agency."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.core.errors import NotFound
from referral_hub.jobs.models import OutboxMessage
from referral_hub.referrals import assignment, bundles, conversation
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Bundle, Message, Referral
from tests import factories
from tests.referrals.test_referral_deadlines import run_sweep

NOTE = "She prefers a ground-floor room; call after 6."


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, outsider, overseer = (factories.agency() for _ in range(4))
        shelter = factories.directory_service(receiver, "emergency_shelter")
        factories.capacity(shelter, total=10, available=5)
        people = {
            "intake": factories.with_password(factories.user(sender, ["intake"])),
            "intake2": factories.with_password(factories.user(sender, ["intake"])),
            "provider": factories.with_password(factories.user(receiver, ["provider"])),
            "provider2": factories.with_password(factories.user(receiver, ["provider"])),
            "receiver_intake": factories.user(receiver, ["intake"]),
            "gone": factories.user(receiver, ["provider"]),
            "outsider": factories.user(outsider, ["provider"]),
            "coordinator": factories.user(overseer, ["coordinator"]),
        }
        people["gone"].is_active = False
        person = clients.create_client(
            factories.actor_for(people["intake"]), profile={"language": "es"}
        )
    return {"shelter": shelter, "client": person, "receiver": receiver, **people}


def send(net: dict[str, Any], urgency: str = "urgent") -> Referral:
    """A new client of the sending agency, referred by its intake worker."""
    intake = factories.actor_for(net["intake"])
    with transaction():
        person = clients.create_client(intake, profile={"language": "es"})
        return factories.sent_referral(intake, person.id, net["shelter"].id, urgency=urgency)


def acknowledged(net: dict[str, Any], urgency: str = "urgent") -> Referral:
    referral = send(net, urgency)
    with transaction():
        referrals.transition(factories.actor_for(net["provider"]), referral.id, "acknowledge")
    return referral


def a_bundle(net: dict[str, Any], client_id: uuid.UUID | None = None) -> Bundle:
    """A bundle of one need sent by the intake worker (she owns it and its referral)."""
    with transaction():
        return bundles.create_bundle(
            factories.actor_for(net["intake"]),
            client_id=client_id or net["client"].id,
            urgency="urgent",  # type: ignore[arg-type]
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [net["shelter"].id],
                    "data_categories": ["profile"],
                }
            ],
        )


def fresh(session: Any, referral: Referral) -> Referral:
    session.expire_all()
    return session.get(Referral, referral.id)


def events(session: Any, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def mail_to(session: Any, after: dict[Any, str] | None = None) -> dict[Any, str]:
    """The e-mails queued (id: address), those not in `after` when given."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    return {row.id: row.payload["to"] for row in rows if row.id not in (after or {})}


def assign(client: Any, csrf: str, referral: Referral, **body: Any) -> Any:
    return client.post(
        f"/api/v1/referrals/{referral.id}/assign", json=body, headers={"X-CSRFToken": csrf}
    )


# --- defaults -------------------------------------------------------------------------------


def test_the_sender_owns_what_she_sends_and_the_acknowledger_the_receiving_side(
    session: Any, net: dict[str, Any]
) -> None:
    referral = send(net)
    assert fresh(session, referral).sender_assignee_id == net["intake"].id
    assert fresh(session, referral).receiver_assignee_id is None
    with transaction():
        referrals.transition(factories.actor_for(net["provider"]), referral.id, "acknowledge")
    with transaction():  # a later move by a colleague does not take it over
        referrals.transition(
            factories.actor_for(net["provider2"]), referral.id, "request-info", question="Age?"
        )
    assert fresh(session, referral).receiver_assignee_id == net["provider"].id
    described = referrals.describe(fresh(session, referral))
    assert described["sender_assignee"] == net["intake"].id
    assert described["receiver_assignee"] == net["provider"].id


def test_a_bundle_is_owned_by_whoever_opened_it(session: Any, net: dict[str, Any]) -> None:
    bundle = a_bundle(net)
    assert bundle.sender_assignee_id == net["intake"].id
    assert bundles.describe(bundle)["sender_assignee"] == net["intake"].id


# --- handover through the API ---------------------------------------------------------------


def test_a_provider_hands_over_to_a_colleague_with_a_sealed_note(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    referral = acknowledged(net)
    csrf = factories.sign_in(client, net["provider"])
    mails_before = mail_to(session)
    response = assign(
        client, csrf, referral, side="receiver", assignee_id=str(net["provider2"].id), note=NOTE
    )
    assert response.status_code == 200, response.json
    assert response.json["receiver_assignee"] == str(net["provider2"].id)
    assert response.json["sender_assignee"] == str(net["intake"].id)
    [event] = events(session, "referral.assigned")
    assert event.details == {
        "side": "receiver",
        "from": str(net["provider"].id),
        "to": str(net["provider2"].id),
        "with_note": True,
    }
    assert NOTE not in str(event.details)
    # the note is sealed like any message: not in the row, readable by both parties
    [row] = session.scalars(select(Message).where(Message.referral_id == referral.id)).all()
    assert b"ground-floor" not in row.body
    for reader in ("intake", "provider2"):
        said = conversation.list_messages(factories.actor_for(net[reader]), referral.id)
        assert [m["body"] for m in said] == [f"Handover: {NOTE}"]
    outsider = factories.actor_for(net["outsider"])
    with pytest.raises(NotFound):
        conversation.list_messages(outsider, referral.id)
    # the new owner is told (no words about her), and it is on the timeline
    assert list(mail_to(session, mails_before).values()) == [net["provider2"].email]
    timeline = client.get(f"/api/v1/referrals/{referral.id}/timeline").json
    assert "referral.assigned" in [entry["action"] for entry in timeline]


@pytest.mark.parametrize("who", ["outsider", "receiver_intake", "gone", "unknown"])
def test_only_an_active_colleague_in_a_fitting_role_may_be_named(
    client: Any, session: Any, net: dict[str, Any], who: str
) -> None:
    referral = acknowledged(net)
    csrf = factories.sign_in(client, net["provider"])
    target = uuid.uuid4() if who == "unknown" else net[who].id
    count = session.scalar(select(func.count()).select_from(AuditEvent))
    response = assign(client, csrf, referral, side="receiver", assignee_id=str(target), note=NOTE)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "assignee_id" in response.json["errors"]
    # another agency's user is refused exactly as an id that does not exist
    assert response.json["errors"]["assignee_id"] == [
        "Not an active caseworker of this side's agency."
    ]
    assert fresh(session, referral).receiver_assignee_id == net["provider"].id
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == count
    assert session.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"side": "both", "assignee_id": "00000000-0000-0000-0000-000000000000"}, "side"),
        ({"side": "receiver", "assignee_id": "someone"}, "assignee_id"),
        ({"side": "receiver"}, "assignee_id"),
        ({"side": "receiver", "assignee_id": None}, "assignee_id"),
        (
            {"side": "receiver", "assignee_id": "00000000-0000-0000-0000-000000000000", "x": 1},
            "x",
        ),
        (
            {
                "side": "receiver",
                "assignee_id": "00000000-0000-0000-0000-000000000000",
                "note": "n" * 2001,
            },
            "note",
        ),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    client: Any, net: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    referral = acknowledged(net)
    csrf = factories.sign_in(client, net["provider"])
    response = assign(client, csrf, referral, **body)
    assert response.status_code in (400, 422)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in str(response.json.get("errors", response.json))


def test_each_side_names_only_its_own_caseworker_and_the_receiver_only_once_taken_up(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    referral = send(net)
    csrf = factories.sign_in(client, net["provider"])
    colleague = str(net["provider2"].id)
    response = assign(client, csrf, referral, side="receiver", assignee_id=colleague)
    assert response.status_code == 409  # not taken up yet: whoever acknowledges owns it
    response = assign(client, csrf, referral, side="sender", assignee_id=str(net["intake2"].id))
    assert response.status_code == 403
    assert fresh(session, referral).sender_assignee_id == net["intake"].id
    assert events(session, "referral.assigned") == []


def test_the_sender_hands_over_and_another_agency_sees_nothing(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    referral = send(net)
    csrf = factories.sign_in(client, net["intake"])
    response = assign(client, csrf, referral, side="sender", assignee_id=str(net["intake2"].id))
    assert response.status_code == 200
    assert fresh(session, referral).sender_assignee_id == net["intake2"].id
    with pytest.raises(NotFound):  # the outsider's view: the referral looks missing
        assignment.assign(
            factories.actor_for(net["outsider"]),
            referral.id,
            side="receiver",
            assignee_id=net["outsider"].id,
        )


def test_a_bundle_is_handed_over_with_its_open_referrals(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = a_bundle(net)
    csrf = factories.sign_in(client, net["intake"])
    response = client.post(
        f"/api/v1/bundles/{bundle.id}/assign",
        json={"assignee_id": str(net["intake2"].id), "note": NOTE},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200, response.json
    assert response.json["sender_assignee"] == str(net["intake2"].id)
    session.expire_all()
    assert session.get(Bundle, bundle.id).sender_assignee_id == net["intake2"].id
    owners = session.scalars(
        select(Referral.sender_assignee_id).where(Referral.bundle_id == bundle.id)
    ).all()
    assert owners == [net["intake2"].id]
    assert len(events(session, "bundle.assigned")) == 1
    response = client.post(
        f"/api/v1/bundles/{bundle.id}/assign",
        json={"assignee_id": str(net["outsider"].id)},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 422
    assert "assignee_id" in response.json["errors"]


# --- "mine" ---------------------------------------------------------------------------------


def test_the_list_filters_by_assignee(client: Any, session: Any, net: dict[str, Any]) -> None:
    mine = acknowledged(net)
    nobodys = send(net)
    csrf = factories.sign_in(client, net["provider2"])
    del csrf

    def ids(query: str) -> set[str]:
        response = client.get(f"/api/v1/referrals?box=received&{query}")
        assert response.status_code == 200, response.json
        return {item["id"] for item in response.json["items"]}

    assert ids("assignee=me") == set()
    assert ids(f"assignee={net['provider'].id}") == {str(mine.id)}
    assert ids("assignee=none") == {str(nobodys.id)}
    assert ids("") == {str(mine.id), str(nobodys.id)}
    response = client.get("/api/v1/referrals?assignee=whoever")
    assert response.status_code == 422
    assert "assignee" in response.json["errors"]


def test_a_machine_client_has_no_referrals_of_its_own(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    with transaction():
        client_id, secret = factories.api_client(net["receiver"], ["referrals:read"])
    bearer = {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}
    response = client.get("/api/v1/referrals?assignee=me", headers=bearer)
    assert response.status_code == 422
    assert "assignee" in response.json["errors"]
    assert client.get("/api/v1/referrals?assignee=none", headers=bearer).status_code == 200


# --- the pages, through the same service ----------------------------------------------------


def test_the_provider_page_hands_over_and_the_colleague_finds_it_under_mine(
    app: Flask, client: Any, session: Any, net: dict[str, Any]
) -> None:
    referral = acknowledged(net)
    factories.sign_in(client, net["provider"])
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert 'id="form-assign"' in page
    assert net["provider2"].display_name in page
    assert net["receiver_intake"].display_name not in page  # not a fitting role
    csrf = factories.csrf_from(page)
    response = client.post(
        f"/provider/referrals/{referral.id}/assign",
        data={"csrf_token": csrf, "assignee_id": str(net["outsider"].id), "note": NOTE},
    )
    assert response.status_code == 422
    assert 'id="f-assignee_id-error"' in response.get_data(as_text=True)
    assert fresh(session, referral).receiver_assignee_id == net["provider"].id
    response = client.post(
        f"/provider/referrals/{referral.id}/assign",
        data={"csrf_token": csrf, "assignee_id": str(net["provider2"].id), "note": NOTE},
    )
    assert response.status_code == 302
    assert fresh(session, referral).receiver_assignee_id == net["provider2"].id
    client = app.test_client()  # the colleague, in her own browser
    factories.sign_in(client, net["provider2"])
    mine = client.get("/provider/?assignee=me").get_data(as_text=True)
    assert str(referral.id) in mine
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert f"Handover: {NOTE}" in page.replace("&#39;", "'")
    assert "Caseworker changed" in page
    everyone = client.get("/provider/").get_data(as_text=True)
    other = send(net)
    assert str(other.id) not in client.get("/provider/?assignee=me").get_data(as_text=True)
    assert str(referral.id) in everyone


# --- deadlines: the caseworker first, then the agency ---------------------------------------


def test_the_caseworker_hears_before_the_deadline_and_the_agency_once_it_passed(
    app: Flask, session: Any, net: dict[str, Any], run_jobs: Callable[[], int]
) -> None:
    with clock.frozen_at(clock.now()) as frozen:
        referral = acknowledged(net, "emergency")  # decide within 30 minutes
        start = mail_to(session)
        frozen.advance(timedelta(minutes=15))  # more than 10 minutes left: nobody yet
        run_sweep(app, run_jobs)
        assert mail_to(session, start) == {}
        frozen.advance(timedelta(minutes=6))  # 9 minutes left: the caseworker alone
        run_sweep(app, run_jobs)
        run_sweep(app, run_jobs)  # once
        first = mail_to(session, start)
        assert list(first.values()) == [net["provider"].email]
        [reminded] = events(session, "referral.assignee_reminded")
        assert reminded.details == {"side": "receiver", "to": str(net["provider"].id)}
        frozen.advance(timedelta(minutes=10))  # overdue: escalation to the agency too
        run_sweep(app, run_jobs)
        told = list(mail_to(session, start | first).values())
    assert sorted(told) == sorted(
        [net["provider"].email, net["provider2"].email, net["coordinator"].email]
    )
    assert len(events(session, "referral.escalated")) == 1
    payloads = session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.kind == "email")
    ).all()
    assert all(referral.client_reference not in str(p) for p in payloads)
    assert fresh(session, referral).escalated_at is not None


def test_without_a_caseworker_the_agency_hears_at_the_deadline(
    app: Flask, session: Any, net: dict[str, Any], run_jobs: Callable[[], int]
) -> None:
    with clock.frozen_at(clock.now()) as frozen:
        referral = acknowledged(net, "emergency")
        with transaction():
            session.get(Referral, referral.id).receiver_assignee_id = None
        start = mail_to(session)
        frozen.advance(timedelta(minutes=25))
        run_sweep(app, run_jobs)
        assert mail_to(session, start) == {}
        frozen.advance(timedelta(minutes=6))
        run_sweep(app, run_jobs)
        told = list(mail_to(session, start).values())
    assert net["provider"].email in told
    assert net["provider2"].email in told
    assert events(session, "referral.assignee_reminded") == []


def test_the_intake_dashboard_shows_mine_or_everyones(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    def bundle_for() -> Any:
        with transaction():
            person = clients.create_client(
                factories.actor_for(net["intake"]), profile={"language": "es"}
            )
        return a_bundle(net, person.id), person.reference

    _, kept_reference = bundle_for()
    handed, handed_reference = bundle_for()
    with transaction():
        assignment.assign_bundle(
            factories.actor_for(net["intake"]), handed.id, assignee_id=net["intake2"].id
        )
    factories.sign_in(client, net["intake"])
    everyone = client.get("/intake/").get_data(as_text=True)
    assert kept_reference in everyone
    assert handed_reference in everyone
    mine = client.get("/intake/?assignee=me").get_data(as_text=True)
    assert kept_reference in mine
    assert handed_reference not in mine
    theirs = client.get(f"/intake/?assignee={net['intake2'].id}").get_data(as_text=True)
    assert handed_reference in theirs
    assert kept_reference not in theirs
    assert client.get("/intake/?assignee=whoever").status_code == 422


# --- the intake bundle page: the sending side hands a bundle over ---------------------------


def bundled(session: Any, bundle: Bundle) -> Referral:
    session.expire_all()
    return session.scalars(select(Referral).where(Referral.bundle_id == bundle.id)).one()


def unescaped(response: Any) -> str:
    return str(response.get_data(as_text=True)).replace("&#39;", "'").replace("&#34;", '"')


def test_the_intake_page_hands_a_bundle_over_with_a_sealed_note(
    app: Flask, client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = a_bundle(net)
    factories.sign_in(client, net["intake"])
    page = client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    assert 'id="form-assign"' in page
    assert f'Caseworker: <strong id="caseworker">{net["intake"].display_name}</strong>' in page
    # the picker: her intake colleagues only (not herself, the receiver's staff or outsiders)
    picker = page[
        page.index('id="f-assignee_id"') : page.index("</select>", page.index("f-assignee_id"))
    ]
    assert f'value="{net["intake2"].id}"' in picker
    for other in ("intake", "provider", "receiver_intake", "outsider"):
        assert f'value="{net[other].id}"' not in picker
    mails_before = mail_to(session)
    response = client.post(
        f"/intake/bundles/{bundle.id}/assign",
        data={
            "csrf_token": factories.csrf_from(page),
            "assignee_id": str(net["intake2"].id),
            "note": NOTE,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"].endswith(f"/intake/bundles/{bundle.id}")
    referral = bundled(session, bundle)
    assert session.get(Bundle, bundle.id).sender_assignee_id == net["intake2"].id
    assert referral.sender_assignee_id == net["intake2"].id
    [handed] = events(session, "bundle.assigned")
    assert handed.details == {"from": str(net["intake"].id), "to": str(net["intake2"].id)}
    [assigned] = events(session, "referral.assigned")
    assert assigned.details["with_note"] is True
    assert NOTE not in str(assigned.details)
    # the note is sealed at rest and read by the new caseworker (and the receiver) only
    [row] = session.scalars(select(Message).where(Message.referral_id == referral.id)).all()
    assert b"ground-floor" not in row.body
    assert list(mail_to(session, mails_before).values()) == [net["intake2"].email]
    with pytest.raises(NotFound):
        conversation.list_messages(factories.actor_for(net["outsider"]), referral.id)
    colleague = app.test_client()  # the new caseworker, in her own browser
    factories.sign_in(colleague, net["intake2"])
    page = colleague.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    assert f'Caseworker: <strong id="caseworker">{net["intake2"].display_name}</strong>' in page
    listed = colleague.get("/intake/bundles/").get_data(as_text=True)
    assert f"<td>{net['intake2'].display_name}</td>" in listed
    assert net["client"].reference in colleague.get("/intake/?assignee=me").get_data(as_text=True)
    thread = unescaped(colleague.get(f"/intake/bundles/{bundle.id}/referrals/{referral.id}"))
    assert f"Handover: {NOTE}" in thread


def test_the_senders_referral_page_shows_the_receivers_handover_and_moves_with_names(
    app: Flask, client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = a_bundle(net)
    referral = bundled(session, bundle)
    provider = factories.actor_for(net["provider"])
    with transaction():
        referrals.transition(provider, referral.id, "acknowledge")
    with transaction():
        assignment.assign(
            provider, referral.id, side="receiver", assignee_id=net["provider2"].id, note=NOTE
        )
    with transaction():
        referrals.transition(factories.actor_for(net["provider2"]), referral.id, "accept")
    with transaction():  # and her own side's, without a note
        assignment.assign(
            factories.actor_for(net["intake"]),
            referral.id,
            side="sender",
            assignee_id=net["intake2"].id,
        )
    factories.sign_in(client, net["intake"])
    url = f"/intake/bundles/{bundle.id}/referrals/{referral.id}"
    page = unescaped(client.get(url))
    timeline = page[page.index('id="timeline"') : page.index("</ol>", page.index('id="timeline"'))]
    lines = [" ".join(item.split()) for item in timeline.split("<li>")[1:]]
    receiver = net["receiver"].name
    said = [line.split("</time>", 1)[1].replace("</li>", "").strip() for line in lines]
    assert said == [
        "Referral drafted · your agency",
        "Referral sent · your agency",
        f"Acknowledged (looking at it) · {receiver}",
        f"Message sent · {receiver}",  # the handover note, sealed in the messages
        f"Their caseworker changed · {receiver} · from {net['provider'].display_name} to "
        f"{net['provider2'].display_name} · a handover note was left (in the messages)",
        f"Accepted: a place is held for her · {receiver}",
        f"Your caseworker changed · your agency · from {net['intake'].display_name} to "
        f"{net['intake2'].display_name}",
    ]
    # the note itself: in the messages (sealed, its read audited), never on the timeline
    assert NOTE not in timeline
    assert f"Handover: {NOTE}" in page
    # the same read as the API's timeline: the same events, in the same order
    api = client.get(f"/api/v1/referrals/{referral.id}/timeline").json
    moves = [e["action"] for e in api if e["action"] not in ("referral.messages_read",)]
    assert moves == [
        "referral.created",
        "referral.sent",
        "referral.acknowledged",
        "referral.message_sent",
        "referral.assigned",
        "referral.accepted",
        "referral.assigned",
    ]
    # another agency's intake worker: the page looks missing, and says nothing of it
    with transaction():
        elsewhere = factories.with_password(factories.user(factories.agency(), ["intake"]))
    stranger = app.test_client()
    factories.sign_in(stranger, elsewhere)
    refused = stranger.get(url)
    assert refused.status_code == 404
    assert net["provider2"].display_name not in refused.get_data(as_text=True)


@pytest.mark.parametrize("who", ["outsider", "provider", "receiver_intake", "unknown"])
def test_the_intake_page_refuses_anyone_but_a_colleague_and_keeps_what_was_typed(
    client: Any, session: Any, net: dict[str, Any], who: str
) -> None:
    bundle = a_bundle(net)
    factories.sign_in(client, net["intake"])
    csrf = factories.csrf_from(client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True))
    target = uuid.uuid4() if who == "unknown" else net[who].id
    audit_before = session.scalar(select(func.count()).select_from(AuditEvent))
    mails_before = mail_to(session)
    response = client.post(
        f"/intake/bundles/{bundle.id}/assign",
        data={"csrf_token": csrf, "assignee_id": str(target), "note": NOTE},
    )
    assert response.status_code == 422
    page = unescaped(response)
    assert 'id="f-assignee_id-error"' in page
    assert "Not an active caseworker of this side's agency." in page
    assert f">{NOTE}</textarea>" in page  # what she typed is kept
    assert 'role="alert"' in page
    assert session.get(Bundle, bundle.id).sender_assignee_id == net["intake"].id
    assert bundled(session, bundle).sender_assignee_id == net["intake"].id
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert mail_to(session, mails_before) == {}


def test_another_agencys_intake_worker_cannot_hand_the_bundle_over(
    app: Flask, client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = a_bundle(net)
    with transaction():
        stranger = factories.with_password(factories.user(net["outsider"].agency, ["intake"]))
    factories.sign_in(client, stranger)
    csrf = factories.csrf_from(client.get("/intake/").get_data(as_text=True))
    response = client.post(
        f"/intake/bundles/{bundle.id}/assign",
        data={"csrf_token": csrf, "assignee_id": str(stranger.id), "note": NOTE},
    )
    assert response.status_code == 404  # another agency's bundle looks missing
    assert session.get(Bundle, bundle.id).sender_assignee_id == net["intake"].id
    assert events(session, "bundle.assigned") == []
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    [denied] = events(session, "access.denied")
    assert denied.subject_id == str(bundle.id)


def test_the_intake_page_refuses_a_handover_without_its_csrf_token(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = a_bundle(net)
    factories.sign_in(client, net["intake"])
    response = client.post(
        f"/intake/bundles/{bundle.id}/assign",
        data={"assignee_id": str(net["intake2"].id), "note": NOTE},
    )
    assert response.status_code in (400, 403)
    assert session.get(Bundle, bundle.id).sender_assignee_id == net["intake"].id
    assert events(session, "bundle.assigned") == []


# --- ordinary notices: the caseworker first, then the agency --------------------------------


def test_the_other_sides_moves_reach_each_sides_caseworker_and_else_its_agency(
    session: Any, net: dict[str, Any]
) -> None:
    referral = send(net)
    with transaction():  # the sending side is handed to a colleague
        assignment.assign(
            factories.actor_for(net["intake"]),
            referral.id,
            side="sender",
            assignee_id=net["intake2"].id,
        )

    def moved(who: str, action: str, **payload: Any) -> list[str]:
        before = mail_to(session)
        with transaction():
            referrals.transition(factories.actor_for(net[who]), referral.id, action, **payload)
        return sorted(mail_to(session, before).values())

    # the receiver's moves: the sender's caseworker alone, not whoever sent it
    assert moved("provider", "acknowledge") == [net["intake2"].email]
    assert moved("provider", "request-info", question="Age?") == [net["intake2"].email]
    # the sender's answer: the receiver's caseworker (who acknowledged), not her colleagues
    assert moved("intake2", "provide-info", answer="34") == [net["provider"].email]
    # a caseworker who left owns nothing: her agency's intake staff hear instead
    with transaction():
        session.get(type(net["intake2"]), net["intake2"].id).is_active = False
    assert moved("provider", "decline", reason="no_capacity") == [net["intake"].email]
    payloads = session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.kind == "email")
    ).all()
    assert all(referral.client_reference not in str(p) for p in payloads)
    assert all(NOTE not in str(p) for p in payloads)
