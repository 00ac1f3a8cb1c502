"""Urgency per need: one bundle, a shelter tonight and immigration counsel next week — each
need's referrals get the deadlines of its own urgency, through the service and the API;
intake records each need's urgency once and only her own agency reads that map."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.core.errors import ValidationFailed
from referral_hub.referrals import bundles
from referral_hub.referrals.deadlines import Urgency, add_business_days
from referral_hub.referrals.models import Bundle, Need, Referral
from referral_hub.referrals.queries import dashboard
from referral_hub.referrals.states import State
from tests import factories

URGENCIES = {"emergency_shelter": "emergency", "immigration_counsel": "routine"}


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        home = factories.agency()
        shelters = factories.agency()
        clinic = factories.agency(AgencyKind.LEGAL_AID)
        shelter = factories.directory_service(shelters, "emergency_shelter")
        counsel = factories.directory_service(clinic, "immigration_counsel")
        for service in (shelter, counsel):
            factories.capacity(service, total=4, available=2)
        intake = Actor(ActorKind.USER, "intake", home.id, frozenset({"intake"}))
        person = clients.create_client(
            intake,
            profile={"language": "es", "urgency": "urgent", "urgencies": URGENCIES},
        )
    return {
        "home": home,
        "shelters": shelters,
        "clinic": clinic,
        "shelter": shelter,
        "counsel": counsel,
        "intake": intake,
        "client": person,
    }


def needs(net: dict[str, Any], **urgencies: str) -> list[dict[str, Any]]:
    """The shelter and the counsel needs, each with the urgency given by its category."""
    shaped = []
    for category, service in (("emergency_shelter", "shelter"), ("immigration_counsel", "counsel")):
        need: dict[str, Any] = {
            "category": category,
            "service_ids": [net[service].id],
            "data_categories": ["profile"],
        }
        if category in urgencies:
            need["urgency"] = urgencies[category]
        shaped.append(need)
    return shaped


def make(net: dict[str, Any], default: Urgency | None = None, **urgencies: str) -> Bundle:
    """A bundle for her: the shelter and counsel needs, `urgencies` by category."""
    extra: dict[str, Any] = {"urgency": default} if default is not None else {}
    with transaction():
        return bundles.create_bundle(
            net["intake"], client_id=net["client"].id, needs=needs(net, **urgencies), **extra
        )


def referral_for(session: Any, bundle: Bundle, service: Any) -> Referral:
    return session.scalars(
        select(Referral).where(Referral.bundle_id == bundle.id, Referral.service_id == service.id)
    ).one()


def counts(session: Any) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Bundle, Need, Referral, AuditEvent)
    )


def test_each_need_gets_the_deadlines_of_its_own_urgency(session: Any, net: dict[str, Any]) -> None:
    start = clock.now()
    with clock.frozen_at(start):
        bundle = make(net, emergency_shelter="emergency", immigration_counsel="routine")
    shelter = referral_for(session, bundle, net["shelter"])
    counsel = referral_for(session, bundle, net["counsel"])
    assert (shelter.urgency, counsel.urgency) == (Urgency.EMERGENCY, Urgency.ROUTINE)
    assert shelter.acknowledge_by == start + timedelta(minutes=15)
    assert shelter.respond_by == start + timedelta(minutes=30)
    assert counsel.acknowledge_by == add_business_days(start, 1)
    assert counsel.respond_by == add_business_days(start, 3)
    # the bundle's own urgency is its most urgent need's: lists label and sort by it
    assert bundle.urgency == Urgency.EMERGENCY
    described = {need["category"]: need["urgency"] for need in bundles.describe(bundle)["needs"]}
    assert described == URGENCIES
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "bundle.created", AuditEvent.subject_id == str(bundle.id)
        )
    ).one()
    assert event.details == {"needs": 2, "urgency": URGENCIES}


def test_the_bundle_urgency_is_the_default_for_needs_without_their_own(
    session: Any, net: dict[str, Any]
) -> None:
    bundle = make(net, Urgency.URGENT, immigration_counsel="routine")
    assert referral_for(session, bundle, net["shelter"]).urgency == Urgency.URGENT
    assert referral_for(session, bundle, net["counsel"]).urgency == Urgency.ROUTINE
    assert bundle.urgency == Urgency.URGENT


def test_a_need_with_no_urgency_and_no_default_is_refused_by_name(
    session: Any, net: dict[str, Any]
) -> None:
    before = counts(session)
    with pytest.raises(ValidationFailed) as refused:
        make(net, emergency_shelter="emergency")
    assert list(refused.value.errors or {}) == ["needs.1.urgency"]
    assert counts(session) == before


def test_hops_put_the_emergency_need_in_limbo_not_the_routine_one(
    session: Any, net: dict[str, Any]
) -> None:
    """2 hops is limbo for an emergency need, 3 for any other: each need by its own."""
    bundle = make(net, emergency_shelter="emergency", immigration_counsel="routine")
    with transaction():  # each need: its first referral still waiting, two that ended
        for need in session.scalars(select(Need).where(Need.bundle_id == bundle.id)):
            first = session.scalars(select(Referral).where(Referral.need_id == need.id)).one()
            for ended in (State.DECLINED, State.EXPIRED):
                session.add(
                    Referral(
                        client_id=first.client_id,
                        client_reference=first.client_reference,
                        service_id=first.service_id,
                        sender_agency_id=first.sender_agency_id,
                        receiver_agency_id=first.receiver_agency_id,
                        bundle_id=bundle.id,
                        need_id=need.id,
                        urgency=need.urgency,
                        status=ended,
                    )
                )
    view = bundles.describe(bundle)
    assert view["limbo_reasons"] == ["emergency_shelter: 2 hops"]
    found = bundles.facts_by_need([bundle.id], clock.now())[bundle.id]
    assert {category: bundles.classify(facts)[1:] for _, category, facts in found} == {
        "emergency_shelter": (2, "2 hops"),
        "immigration_counsel": (2, None),
    }
    (item,) = dashboard.sent_bundles(net["intake"], open_only=False)
    assert {n.category: (n.urgency, n.why) for n in item.needs} == {
        "emergency_shelter": ("emergency", "2 hops"),
        "immigration_counsel": ("routine", None),
    }


def test_the_dashboard_ranks_a_bundle_by_its_most_pressing_need_not_its_headline(
    session: Any, net: dict[str, Any]
) -> None:
    """An emergency shelter not yet due and a routine clinic overdue: overdue, but not an
    overdue emergency — a bundle whose one urgent need is longer overdue comes first."""
    mixed = make(net, emergency_shelter="emergency", immigration_counsel="routine")
    with transaction():
        other = clients.create_client(net["intake"], profile={})
        single = bundles.create_bundle(
            net["intake"],
            client_id=other.id,
            urgency=Urgency.URGENT,
            needs=[needs(net)[1]],
        )
    now = clock.now()
    with transaction():
        referral_for(session, mixed, net["counsel"]).acknowledge_by = now - timedelta(minutes=10)
        referral_for(session, single, net["counsel"]).acknowledge_by = now - timedelta(hours=1)
    listed = dashboard.sent_bundles(net["intake"], now=now)
    assert [item.bundle_id for item in listed] == [single.id, mixed.id]
    assert listed[1].urgency == "emergency"  # its headline: the most urgent need


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def as_sender(client: Any, net: dict[str, Any]) -> dict[str, str]:
    with transaction():
        client_id, secret = factories.api_client(net["home"], ["referrals:write", "referrals:read"])
    return {"Authorization": f"Bearer {factories.token(client, client_id, secret)}"}


def body(net: dict[str, Any], **urgencies: Any) -> dict[str, Any]:
    shaped = needs(net, **urgencies)
    for need in shaped:
        need["service_ids"] = [str(s) for s in need["service_ids"]]
    return {"client_id": str(net["client"].id), "needs": shaped}


def test_the_api_takes_each_needs_urgency_and_the_bundles_as_default(
    client: Any, session: Any, net: dict[str, Any], as_sender: dict[str, str]
) -> None:
    made = client.post(
        "/api/v1/bundles",
        json=body(net, emergency_shelter="emergency") | {"urgency": "routine"},
        headers=as_sender,
    )
    assert made.status_code == 201, made.json
    shown = {need["category"]: need for need in made.json["needs"]}
    assert {category: need["urgency"] for category, need in shown.items()} == URGENCIES
    assert {
        category: need["referrals"][0]["urgency"] for category, need in shown.items()
    } == URGENCIES
    again = client.get(f"/api/v1/bundles/{made.json['id']}", headers=as_sender).json
    assert {need["category"]: need["urgency"] for need in again["needs"]} == URGENCIES


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"emergency_shelter": "tonight", "immigration_counsel": "routine"}, "needs.0.urgency"),
        ({"emergency_shelter": "emergency"}, "needs.1.urgency"),  # neither its own nor default
        ({"emergency_shelter": None, "immigration_counsel": "routine"}, "needs.0.urgency"),
    ],
)
def test_a_bad_or_missing_need_urgency_is_problem_json_naming_it_and_writes_nothing(
    client: Any,
    session: Any,
    net: dict[str, Any],
    as_sender: dict[str, str],
    changes: dict[str, Any],
    field: str,
) -> None:
    before = counts(session)
    refused = client.post("/api/v1/bundles", json=body(net, **changes), headers=as_sender)
    assert refused.status_code == 422
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert list(refused.json["errors"]) == [field], refused.json
    assert counts(session) == before


def test_a_bad_bundle_urgency_is_named_too(
    client: Any, session: Any, net: dict[str, Any], as_sender: dict[str, str]
) -> None:
    before = counts(session)
    refused = client.post(
        "/api/v1/bundles", json=body(net) | {"urgency": "yesterday"}, headers=as_sender
    )
    assert refused.status_code == 422
    assert "urgency" in refused.json["errors"]
    assert counts(session) == before


# --- her record ------------------------------------------------------------------------------


def test_each_needs_urgency_is_read_by_her_agency_only(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    """The map names her other needs (immigration counsel) — not a shelter's business."""
    make(net, emergency_shelter="emergency", immigration_counsel="routine")
    with transaction():
        ours = factories.api_client(net["home"], ["clients:read"])
        theirs = factories.api_client(net["shelters"], ["clients:read"])
    url = f"/api/v1/clients/{net['client'].id}"

    def read(pair: tuple[str, str]) -> dict[str, Any]:
        token = factories.token(client, *pair)
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.json
        return dict(response.json["profile"])

    assert read(ours)["urgencies"] == URGENCIES
    shelter_sees = read(theirs)
    assert shelter_sees == {"language": "es", "urgency": "urgent"}
    assert clients.urgency_for(net["client"], "emergency_shelter") == "emergency"
    assert clients.urgency_for(net["client"], "primary_care") == "urgent"  # her overall one
