"""Participation levels: an agency that publishes counts only shows in search with its
level, is refused as a receiver (API, bundle, plan page), and a change of level is made by
its administrators or the hub's and audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import Agency, AgencyKind, Participation
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.referrals.models import Bundle, Referral
from tests import factories

SEARCH = "/api/v1/search?category=emergency_shelter"


@pytest.fixture
def world(session: Any) -> dict[str, Any]:
    with transaction():
        home = factories.agency(kind=AgencyKind.HOTLINE)
        counting = factories.agency(kind=AgencyKind.SHELTER)
        taking = factories.agency(kind=AgencyKind.SHELTER)
        agencies.set_participation(SYSTEM, counting.id, Participation.COUNTS_ONLY)
        counted = factories.directory_service(counting, name="Counted beds", phone="+1 555 0199")
        taken = factories.directory_service(taking, name="Referred beds")
        for service in (counted, taken):
            factories.capacity(service, total=5, available=3)
        worker = factories.with_password(factories.user(home, ["intake"]))
        boss = factories.with_password(factories.user(counting, ["agency_admin"]))
        outsider = factories.with_password(factories.user(taking, ["agency_admin"]))
        person = clients.create_client(factories.actor_for(worker), profile={"language": "en"})
    return {
        "home": home,
        "counting": counting,
        "taking": taking,
        "counted": counted,
        "taken": taken,
        "worker": worker,
        "boss": boss,
        "boss_totp": factories.with_totp(boss),
        "outsider": outsider,
        "outsider_totp": factories.with_totp(outsider),
        "person": person,
    }


def rows(session: Any, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)))


def changes(session: Any, agency: Agency) -> list[dict[str, Any]]:
    return [
        event.details
        for event in session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == "agency.participation_changed",
                AuditEvent.subject_id == str(agency.id),
            )
            .order_by(AuditEvent.seq)
        )
    ]


def test_search_shows_each_agencys_level(client: Any, world: dict[str, Any]) -> None:
    factories.sign_in(client, world["worker"])
    found = {item["service"]["name"]: item["agency"] for item in client.get(SEARCH).json["items"]}
    assert found["Counted beds"]["participation"] == "counts_only"
    assert found["Counted beds"]["receives_referrals"] is False
    assert found["Referred beds"]["participation"] == "receives_referrals"
    assert found["Referred beds"]["receives_referrals"] is True
    agency = client.get(f"/api/v1/agencies/{world['counting'].id}").json
    assert agency["participation"] == "counts_only"


def test_the_search_page_says_call_them_and_offers_no_plan(
    client: Any, world: dict[str, Any]
) -> None:
    factories.sign_in(client, world["worker"])
    page = client.get("/intake/search?category=emergency_shelter").get_data(as_text=True)
    counted = page[page.index("Counted beds") :]
    counted = counted[: counted.index("</article>")]
    assert "Counts only" in counted
    assert "takes no referrals through the hub" in counted
    assert "Call them" in counted
    assert 'href="tel:+15550199"' in counted
    assert "Add to plan" not in counted
    taken = page[page.index("Referred beds") :]
    assert "Add to plan" in taken[: taken.index("</article>")]


def test_the_search_page_words_have_spanish(app: Flask) -> None:
    from flask import g

    from referral_hub.web import i18n

    with app.test_request_context():
        g.language = "es"
        assert i18n.gettext("Call them") == "Llámeles"
        assert i18n.gettext("Counts only") == "Solo cifras"


def _referral(world: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": str(world["person"].id),
        "service_id": str(world["counted"].id),
        "urgency": "urgent",
        "data_categories": ["profile"],
    }


def _bundle(world: dict[str, Any]) -> dict[str, Any]:
    shelters = [str(world["taken"].id), str(world["counted"].id)]
    return {
        "client_id": str(world["person"].id),
        "urgency": "urgent",
        "needs": [
            {
                "category": "emergency_shelter",
                "service_ids": shelters,
                "data_categories": ["profile"],
            }
        ],
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/referrals", _referral, "service_id"),
        ("/api/v1/bundles", _bundle, "needs.0.service_ids.1"),  # the whole bundle
    ],
)
def test_sending_to_a_counts_only_service_is_refused_and_writes_nothing(
    client: Any,
    session: Any,
    world: dict[str, Any],
    path: str,
    body: Callable[[dict[str, Any]], dict[str, Any]],
    field: str,
) -> None:
    csrf = factories.sign_in(client, world["worker"])
    tables = (Referral, Bundle, AuditEvent)
    before = [rows(session, table) for table in tables]
    response = client.post(path, json=body(world), headers={"X-CSRFToken": csrf})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "takes no referrals: call them" in response.json["errors"][field][0]
    assert [rows(session, table) for table in tables] == before


def test_the_plan_refuses_a_counts_only_service_with_its_number(
    client: Any, world: dict[str, Any]
) -> None:
    csrf = factories.sign_in(client, world["worker"])
    response = client.post(
        "/intake/plan",
        data={"csrf_token": csrf, "service_id": str(world["counted"].id), "back": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    panel = response.get_data(as_text=True)
    assert "takes no referrals: call them. +1 555 0199" in panel
    assert "Counted beds" not in panel.split("</p>", 1)[1]  # not added to the plan


def test_a_draft_kept_from_before_is_not_sent_once_its_agency_counts_only(
    session: Any, world: dict[str, Any]
) -> None:
    from referral_hub.core.errors import ValidationFailed
    from referral_hub.referrals import service as referrals

    sender = factories.actor_for(world["worker"])
    with transaction():
        draft = factories.sent_referral(sender, world["person"].id, world["taken"].id, send=False)
        agencies.set_participation(SYSTEM, world["taking"].id, Participation.COUNTS_ONLY)
    with pytest.raises(ValidationFailed) as refused, transaction():
        referrals.transition(sender, draft.id, "send")
    assert list(refused.value.errors or {}) == ["service_id"]


def test_the_agencys_admin_sets_its_level_on_the_admin_page_audited(
    client: Any, session: Any, world: dict[str, Any]
) -> None:
    csrf = factories.sign_in(client, world["boss"], world["boss_totp"])
    page = client.get("/admin/agency").get_data(as_text=True)
    assert "Publishes counts only" in page
    assert 'value="counts_only" checked' in page
    response = client.post(
        "/admin/agency/participation",
        data={"csrf_token": csrf, "participation": "receives_referrals"},
    )
    assert response.status_code == 302
    session.expire_all()
    assert (
        session.get(Agency, world["counting"].id).participation == Participation.RECEIVES_REFERRALS
    )
    assert changes(session, world["counting"]) == [
        {"from": "receives_referrals", "to": "counts_only"},
        {"from": "counts_only", "to": "receives_referrals"},
    ]
    bad = client.post(
        "/admin/agency/participation", data={"csrf_token": csrf, "participation": "x"}
    )
    assert bad.status_code == 422
    assert 'id="f-participation-error"' in bad.get_data(as_text=True)


def test_the_api_sets_the_level_for_the_agency_and_hub_admins_only(
    app: Flask, client: Any, session: Any, world: dict[str, Any]
) -> None:
    path = f"/api/v1/agencies/{world['counting'].id}"
    csrf = factories.sign_in(client, world["outsider"], world["outsider_totp"])
    wanted = {"participation": "receives_referrals"}
    refused = client.patch(path, json=wanted, headers={"X-CSRFToken": csrf})
    assert refused.status_code == 403  # a directory entry: no secret, but not theirs
    with transaction():
        system_id, secret = factories.api_client(world["counting"], ["admin"])
    fresh: Any = app.test_client(use_cookies=False)
    bearer = {"Authorization": "Bearer " + factories.token(fresh, system_id, secret)}
    bad = fresh.patch(path, json={"participation": "sometimes"}, headers=bearer)
    assert bad.status_code == 422
    assert "participation" in bad.json["errors"]
    done = fresh.patch(path, json={"participation": "receives_referrals"}, headers=bearer)
    assert done.status_code == 200
    assert done.json["participation"] == "receives_referrals"
    again = fresh.patch(path, json={"participation": "receives_referrals"}, headers=bearer)
    assert again.status_code == 200
    assert changes(session, world["counting"])[-1] == {
        "from": "counts_only",
        "to": "receives_referrals",
    }
    assert len(changes(session, world["counting"])) == 2  # the repeat changed nothing


def test_intake_staff_cannot_change_the_level(session: Any, world: dict[str, Any]) -> None:
    from referral_hub.core.errors import Forbidden

    with transaction():
        own = factories.user(world["counting"], ["provider"])
    with pytest.raises(Forbidden):
        agencies.set_participation(
            factories.actor_for(own), world["counting"].id, Participation.RECEIVES_REFERRALS
        )
