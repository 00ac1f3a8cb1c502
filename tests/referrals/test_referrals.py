"""Referrals: every transition of the table tried by every side from every state; send
rules; holds; bundles' first-accept-wins; the revocation cascade."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from referral_hub.agencies.models import AgencyKind, AgencyStatus
from referral_hub.auth import admin
from referral_hub.clients import service as clients
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.errors import (
    Conflict,
    ConsentRequired,
    DoNotRefer,
    Forbidden,
    IllegalTransition,
    NoCapacity,
    NotFound,
    ValidationFailed,
)
from referral_hub.directory.models import Capacity
from referral_hub.extensions import db
from referral_hub.referrals import bundles, states
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import Side, State
from tests import factories

PAYLOAD = {
    "decline": {"reason": "no_capacity"},
    "end-unfinished": {"reason": "left"},
    "withdraw": {"reason": "found elsewhere"},
    "mark-error": {"reason": "duplicate"},
    "request-info": {"question": "Does she need a ground-floor room?"},
    "provide-info": {"answer": "Yes"},
}


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, outsider, overseer = (factories.agency() for _ in range(4))
        shelter = factories.directory_service(receiver, "emergency_shelter")
        factories.capacity(shelter, total=10, available=5)
        actors = {
            Side.SENDER: Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"})),
            Side.RECEIVER: Actor(ActorKind.USER, "provider", receiver.id, frozenset({"provider"})),
            Side.COORDINATOR: Actor(
                ActorKind.USER, "coordinator", overseer.id, frozenset({"coordinator"})
            ),
            "outsider": Actor(
                ActorKind.USER, "other", outsider.id, frozenset({"intake", "provider"})
            ),
        }
        person = clients.create_client(
            actors[Side.SENDER], pii={"contact": "c"}, profile={"language": "es"}
        )
        granted = consent.record_consent(
            actors[Side.SENDER],
            person.id,
            recipients=[receiver.id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="es",
            signed_at=clock.now(),
        )
    return {
        "sender": sender,
        "receiver": receiver,
        "shelter": shelter,
        "actors": actors,
        "client": person,
        "consent": granted,
    }


def send(net: dict[str, Any], **changes: Any) -> Referral:
    arguments = {
        "client_id": net["client"].id,
        "service_id": net["shelter"].id,
        "urgency": "urgent",
        "data_categories": ["profile", "contact"],
        "consent_id": net["consent"].id,
    } | changes
    with transaction():
        return referrals.send_referral(net["actors"][Side.SENDER], **arguments)


def at_state(net: dict[str, Any], state: State) -> Referral:
    """A referral placed in `state` (setup: the holds match what that state implies)."""
    referral = send(net, send=state != State.DRAFT)
    with transaction() as session:
        row = session.get(Referral, referral.id)
        row.status = state
        if state in states.HOLDING:
            row.holds_unit = True
            capacity = session.get(Capacity, net["shelter"].id)
            capacity.available, capacity.held = capacity.available - 1, capacity.held + 1
    return referral


CASES = [(state, action) for state in State for action in states.PUBLIC_ACTIONS]


@pytest.mark.parametrize(("state", "action"), CASES, ids=[f"{s.value}-{a}" for s, a in CASES])
def test_every_action_from_every_state_for_every_side(
    net: dict[str, Any], state: State, action: str
) -> None:
    move = states.find(state, action)
    for side in (Side.SENDER, Side.RECEIVER, Side.COORDINATOR, "outsider"):
        referral = at_state(net, state)
        actor = net["actors"][side]
        expected: type[Exception] | None
        if side == "outsider":
            expected = NotFound
        elif move is None:
            expected = IllegalTransition
        elif move.side != side:
            expected = Forbidden
        else:
            expected = None
        if expected is None:
            with transaction():
                moved = referrals.transition(actor, referral.id, action, **PAYLOAD.get(action, {}))
            assert moved.status == move.target
        else:
            with pytest.raises(expected), transaction():
                referrals.transition(actor, referral.id, action, **PAYLOAD.get(action, {}))
            with transaction() as session:
                assert session.get(Referral, referral.id).status == state  # nothing changed
        with transaction() as session:  # clear the way for the next side's referral
            row = session.get(Referral, referral.id)
            if row.status in states.OPEN:
                row.status = State.ENTERED_IN_ERROR


def test_terminal_states_never_change(net: dict[str, Any]) -> None:
    for state in states.TERMINAL:
        for action in states.ACTIONS:
            assert states.find(state, action) is None


def test_profile_only_needs_no_consent_but_more_does(net: dict[str, Any]) -> None:
    plain = send(net, consent_id=None, data_categories=["profile"])
    assert plain.status == State.SENT
    assert plain.data_categories == ["profile"]
    with transaction():
        referrals.transition(net["actors"][Side.SENDER], plain.id, "withdraw", reason="test")
    with pytest.raises(ConsentRequired) as refused:
        send(net, consent_id=None)
    assert "data_categories" in (refused.value.errors or {})
    with pytest.raises(ConsentRequired):
        send(net, data_categories=["profile", "narrative"])  # not in the consent


def test_do_not_refer_suspended_agency_and_duplicates(net: dict[str, Any], session: Any) -> None:
    send(net)
    with pytest.raises(Conflict):
        send(net)
    with transaction():
        other = factories.agency()
        other_service = factories.directory_service(other, "emergency_shelter")
        person = clients.create_client(net["actors"][Side.SENDER], do_not_refer=[other.id])
    with pytest.raises(DoNotRefer):
        send(
            net,
            client_id=person.id,
            service_id=other_service.id,
            consent_id=None,
            data_categories=["profile"],
        )
    with transaction():
        admin.set_agency_status(SYSTEM, other.id, AgencyStatus.SUSPENDED)
    with pytest.raises(ValidationFailed) as refused:
        send(net, service_id=other_service.id, consent_id=None, data_categories=["profile"])
    assert "service_id" in (refused.value.errors or {})


def test_law_enforcement_receives_nothing_without_the_purpose(net: dict[str, Any]) -> None:
    with transaction():
        police = factories.agency(kind=AgencyKind.LAW_ENFORCEMENT)
        unit = factories.directory_service(police, "case_management")
    with pytest.raises(ConsentRequired):
        send(net, service_id=unit.id, consent_id=None, data_categories=["profile"])


def test_accept_holds_a_bed_and_every_way_out_gives_it_back(
    net: dict[str, Any], session: Any
) -> None:
    receiver, sender = net["actors"][Side.RECEIVER], net["actors"][Side.SENDER]

    def free_held() -> tuple[int, int]:
        session.expire_all()
        row = session.get(Capacity, net["shelter"].id)
        return row.available, row.held

    first = send(net)
    with transaction():
        referrals.transition(receiver, first.id, "accept")
    assert free_held() == (4, 1)
    with transaction():
        referrals.transition(receiver, first.id, "confirm-arrival")
    assert free_held() == (4, 0)  # in use now: neither free nor held
    with transaction():
        referrals.transition(receiver, first.id, "complete")
    with transaction():
        person = clients.create_client(sender, profile={"language": "en"})
    second = send(net, client_id=person.id, consent_id=None, data_categories=["profile"])
    with transaction():
        referrals.transition(receiver, second.id, "accept")
    assert free_held() == (3, 1)
    with transaction():
        referrals.transition(sender, second.id, "withdraw", reason="found a place nearer")
    assert free_held() == (4, 0)


def test_no_capacity_is_409_and_changes_nothing(net: dict[str, Any], session: Any) -> None:
    with transaction():
        factories.capacity(net["shelter"], total=1, available=0)
    referral = send(net)
    with pytest.raises(NoCapacity), transaction():
        referrals.transition(net["actors"][Side.RECEIVER], referral.id, "accept")
    session.expire_all()
    assert session.get(Referral, referral.id).status == State.SENT


def test_the_receivers_access_opens_at_acceptance_and_ends_at_the_end(net: dict[str, Any]) -> None:
    receiver = net["actors"][Side.RECEIVER]
    referral = send(net)
    with transaction():
        assert consent.disclose_client(receiver, net["client"].id).pii == {}
    with transaction():
        referrals.transition(receiver, referral.id, "accept")
    with transaction():
        assert consent.disclose_client(receiver, net["client"].id).pii == {"contact": "c"}
    with transaction():
        referrals.transition(receiver, referral.id, "end-unfinished", reason="left")
    with pytest.raises(NotFound), transaction():
        consent.disclose_client(receiver, net["client"].id)


def test_revoking_consent_withdraws_what_was_not_yet_accepted(
    net: dict[str, Any], session: Any
) -> None:
    referral = send(net)
    with transaction():
        consent.revoke_consent(net["actors"][Side.SENDER], net["consent"].id, "she asked")
    session.expire_all()
    assert session.get(Referral, referral.id).status == State.WITHDRAWN


def test_a_bundle_fans_out_and_the_first_accept_wins(net: dict[str, Any], session: Any) -> None:
    with transaction():
        others = []
        for _ in range(2):
            agency = factories.agency()
            service = factories.directory_service(agency, "emergency_shelter")
            factories.capacity(service, total=3, available=3)
            others.append((agency, service))
        consent.record_consent(
            net["actors"][Side.SENDER],
            net["client"].id,
            recipients=[a.id for a, _ in others] + [net["receiver"].id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="es",
            signed_at=clock.now(),
        )
        latest = consent.list_consents(net["actors"][Side.SENDER], net["client"].id)[-1]
        bundle = bundles.create_bundle(
            net["actors"][Side.SENDER],
            client_id=net["client"].id,
            urgency=Urgency.EMERGENCY,
            consent_id=latest.id,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [net["shelter"].id, *(s.id for _, s in others)],
                    "data_categories": ["contact"],
                }
            ],
        )
    view = bundles.describe(bundle)
    (need,) = view["needs"]
    assert need["status"] == "pending"
    assert len(need["referrals"]) == 3
    winner = need["referrals"][1]["id"]
    agency = others[0][0]
    with transaction():
        referrals.transition(
            Actor(ActorKind.USER, "p", agency.id, frozenset({"provider"})), winner, "accept"
        )
    (need,) = bundles.describe(bundle)["needs"]
    assert need["status"] == "placed"
    assert sorted(r["status"] for r in need["referrals"]) == [
        "accepted",
        "superseded",
        "superseded",
    ]
    assert not bundles.describe(bundle)["in_limbo"]


def test_a_bundle_is_all_or_nothing(net: dict[str, Any], session: Any) -> None:
    with transaction():
        clinic = factories.directory_service(factories.agency(), "primary_care")
    before = session.scalars(select(Referral)).all()
    with pytest.raises(ConsentRequired) as refused, transaction():
        bundles.create_bundle(
            net["actors"][Side.SENDER],
            client_id=net["client"].id,
            urgency=Urgency.URGENT,
            consent_id=net["consent"].id,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [net["shelter"].id],
                    "data_categories": ["contact"],
                },
                {
                    "category": "primary_care",
                    "service_ids": [clinic.id],
                    "data_categories": ["contact"],
                },
            ],
        )
    assert "needs.1.service_ids.0" in (refused.value.errors or {})
    assert session.scalars(select(Referral)).all() == before


def test_hops_put_a_bundle_in_limbo(net: dict[str, Any]) -> None:
    items = [Referral(status=State.DECLINED), Referral(status=State.EXPIRED)]
    assert bundles.need_status(items, Urgency.EMERGENCY, clock.now()) == ("unmet", 2, "2 hops")
    assert bundles.need_status(items, Urgency.ROUTINE, clock.now())[2] == "nothing open"
    late = Referral(
        status=State.SENT, respond_by=clock.now() - __import__("datetime").timedelta(minutes=1)
    )
    assert bundles.need_status([late], Urgency.URGENT, clock.now()) == (
        "pending",
        0,
        "waiting past its deadline",
    )


def test_the_http_endpoints(client: Any, net: dict[str, Any]) -> None:
    with transaction():
        sender_id, sender_secret = factories.api_client(
            net["sender"], ["referrals:write", "referrals:read"]
        )
        receiver_id, receiver_secret = factories.api_client(
            net["receiver"], ["referrals:write", "referrals:read"]
        )
    as_sender = {"Authorization": f"Bearer {factories.token(client, sender_id, sender_secret)}"}
    as_receiver = {
        "Authorization": f"Bearer {factories.token(client, receiver_id, receiver_secret)}"
    }
    body = {
        "client_id": str(net["client"].id),
        "service_id": str(net["shelter"].id),
        "urgency": "emergency",
        "data_categories": ["contact"],
        "consent_id": str(net["consent"].id),
    }
    sent = client.post("/api/v1/referrals", json=body, headers=as_sender)
    assert sent.status_code == 201, sent.json
    assert sent.json["status"] == "sent"
    assert sent.json["acknowledge_by"]
    assert sent.json["respond_by"]
    url = f"/api/v1/referrals/{sent.json['id']}"
    inbox = client.get("/api/v1/referrals?box=received", headers=as_receiver).json["items"]
    assert [item["id"] for item in inbox] == [sent.json["id"]]
    assert client.post(f"{url}/decline", json={}, headers=as_receiver).status_code == 422
    assert (
        client.post(f"{url}/complete", json={}, headers=as_receiver).json["code"]
        == "illegal_transition"
    )
    assert client.post(f"{url}/accept", json={}, headers=as_sender).status_code == 403
    assert client.post(f"{url}/teleport", json={}, headers=as_receiver).status_code == 404
    accepted = client.post(f"{url}/accept", json={}, headers=as_receiver).json
    assert accepted["status"] == "accepted"
    assert accepted["arrive_by"]


def test_refer_again_links_the_new_referral_to_the_ended_one(net: dict[str, Any]) -> None:
    first = send(net)
    with pytest.raises(ValidationFailed):
        send(net, previous_referral_id=first.id)  # still open: nothing to follow yet
    with transaction():
        referrals.transition(
            net["actors"][Side.RECEIVER], first.id, "decline", reason="no_capacity"
        )
    with transaction():  # the same receiver, another kind of service: not this need's
        counsel = factories.directory_service(net["shelter"].agency, "legal_advocacy")
        factories.capacity(counsel, total=2, available=2)
    with pytest.raises(ValidationFailed) as refused:
        send(net, previous_referral_id=first.id, service_id=counsel.id)
    assert refused.value.errors == {"service_id": ["Not a service of this need's category."]}
    again = send(net, previous_referral_id=first.id)
    assert again.previous_referral_id == first.id
    assert again.status == State.SENT


def test_a_question_and_its_answer_reach_the_other_side(net: dict[str, Any]) -> None:
    """The state machine keeps no free text: the words travel as sealed messages."""
    from referral_hub.referrals import conversation

    referral = send(net)
    receiver, sender = net["actors"][Side.RECEIVER], net["actors"][Side.SENDER]
    with transaction():
        referrals.transition(receiver, referral.id, "request-info", question="Ground floor?")
    with transaction():
        referrals.transition(sender, referral.id, "provide-info", answer="  Yes, please.  ")
    with transaction():
        bodies = [m["body"] for m in conversation.list_messages(sender, referral.id)]
    assert bodies == ["Question: Ground floor?", "Answer: Yes, please."]
    with transaction():
        referrals.transition(sender, referral.id, "withdraw", reason="other")
        with pytest.raises(IllegalTransition, match="cannot be withdrawn here"):
            referrals.transition(sender, referral.id, "withdraw", reason="other")


def test_a_completed_referral_has_a_coded_outcome_and_sealed_words(
    client: Any, net: dict[str, Any], act_as: Any
) -> None:
    """Issue 14, defect 8: coordinators see codes; the receiver's words are sealed."""
    referral = at_state(net, State.ENGAGED)
    act_as(net["actors"][Side.RECEIVER])
    url = f"/api/v1/referrals/{referral.id}/complete"
    bad = client.post(url, json={"outcome_code": "she is fine"})
    assert bad.status_code == 422
    assert "outcome_code" in bad.json["errors"]
    done = client.post(url, json={"outcome_code": "goals_met", "outcome": "in her own flat"})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.json["outcome_code"] == "goals_met"
    assert done.json["outcome"] == "goals_met"
    assert "in her own flat" not in done.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Referral, referral.id)
    assert stored.outcome == "goals_met"
    assert stored.outcome_note is not None
    assert b"in her own flat" not in stored.outcome_note
