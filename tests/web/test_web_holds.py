"""Holds and overflow through the pages (the same services as the API): the board's hold
length and overflow forms, the referral page's "extend the hold", the overflow badge in
search, refused forms written nowhere, Spanish words, and another agency refused."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.directory.capacity import open_overflow
from referral_hub.directory.models import OverflowWindow, Service
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Referral
from referral_hub.web import i18n
from tests import factories
from tests.factories import sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, outsider = (factories.agency() for _ in range(3))
        shelter = factories.directory_service(
            receiver,
            "emergency_shelter",
            name="Harbor beds",
            location={"latitude": 41.9, "longitude": -87.6, "city": "Riverbend"},
        )
        factories.capacity(shelter, total=1, available=0)
        provider = factories.with_password(factories.user(receiver, ["provider"]))
        outsider_provider = factories.with_password(factories.user(outsider, ["provider"]))
        worker = factories.with_password(factories.user(sender, ["intake"]))
        intake = Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"}))
    return {
        "receiver": receiver,
        "shelter": shelter,
        "provider": provider,
        "outsider_provider": outsider_provider,
        "worker": worker,
        "intake": intake,
        "provider_actor": factories.actor_for(provider),
    }


def local(moment: Any) -> str:
    """As a browser's datetime-local field sends it (the hub's zone is UTC in tests)."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_the_board_sets_hold_lengths_and_a_blank_night_value_clears_it(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    token = sign_in(client, net["provider"])
    page = client.get("/provider/capacity").get_data(as_text=True)
    assert "Hold length: 90 min" in page
    base = f"/provider/capacity/{net['shelter'].id}"
    answer = client.post(
        f"{base}/hold",
        data={"csrf_token": token, "hold_minutes": "240", "night_hold_minutes": "600"},
    )
    assert answer.status_code == 302
    session.expire_all()
    row = session.get(Service, net["shelter"].id)
    assert (row.hold_minutes, row.night_hold_minutes) == (240, 600)
    card = client.post(
        f"{base}/hold",
        data={"csrf_token": token, "hold_minutes": "120", "night_hold_minutes": ""},
        headers=HTMX,
    ).get_data(as_text=True)
    assert "Hold length: 120 min" in card
    assert "at night 600 min" not in card
    session.expire_all()
    assert session.get(Service, net["shelter"].id).night_hold_minutes is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"hold_minutes": "5"}, "hold_minutes"),
        ({"hold_minutes": "ninety"}, "hold_minutes"),
        ({"hold_minutes": "90", "night_hold_minutes": "5000"}, "night_hold_minutes"),
    ],
)
def test_a_bad_hold_length_is_422_beside_its_field_and_nothing_changes(
    client: Any, net: dict[str, Any], session: Any, form: dict[str, str], field: str
) -> None:
    token = sign_in(client, net["provider"])
    answer = client.post(
        f"/provider/capacity/{net['shelter'].id}/hold",
        data={"csrf_token": token, **form},
        headers=HTMX,
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert f'id="{field}-{net["shelter"].id}-error"' in page
    session.expire_all()
    row = session.get(Service, net["shelter"].id)
    assert (row.hold_minutes, row.night_hold_minutes) == (90, None)


def test_overflow_opened_on_the_board_shows_in_search_with_its_badge_and_closes(
    app: Any, client: Any, net: dict[str, Any], session: Any
) -> None:
    token = sign_in(client, net["provider"])
    now = clock.now()
    answer = client.post(
        f"/provider/capacity/{net['shelter'].id}/overflow",
        data={
            "csrf_token": token,
            "starts_at": local(now - timedelta(minutes=5)),
            "ends_at": local(now + timedelta(hours=10)),
            "places": "3",
            "note": "Cots in the hall",
        },
        headers=HTMX,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    card = answer.get_data(as_text=True)
    assert "Overflow tonight" in card
    assert "Cots in the hall" in card
    (window,) = session.scalars(select(OverflowWindow)).all()
    searching = app.test_client()
    sign_in(searching, net["worker"])
    found = searching.get(
        "/intake/search", query_string={"category": "emergency_shelter", "available": "on"}
    ).get_data(as_text=True)
    assert "Harbor beds" in found
    assert "Overflow tonight" in found
    assert "3 temporary places open now" in found
    closed = client.post(f"/provider/overflow/{window.id}/close", data={"csrf_token": token})
    assert closed.status_code == 302
    session.expire_all()
    assert session.get(OverflowWindow, window.id).closed_at is not None


def test_bad_overflow_on_the_board_is_422_and_writes_nothing(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    token = sign_in(client, net["provider"])
    now = clock.now()
    answer = client.post(
        f"/provider/capacity/{net['shelter'].id}/overflow",
        data={
            "csrf_token": token,
            "starts_at": local(now + timedelta(hours=4)),
            "ends_at": local(now + timedelta(hours=2)),
            "places": "0",
        },
        headers=HTMX,
    )
    assert answer.status_code == 422
    assert f'id="places-{net["shelter"].id}-error"' in answer.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(OverflowWindow)) == 0


def test_another_agencys_provider_cannot_set_holds_or_touch_overflow(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    with transaction():
        window = open_overflow(
            net["provider_actor"],
            net["shelter"].id,
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(hours=3),
            places=2,
        )
    token = sign_in(client, net["outsider_provider"])
    base = f"/provider/capacity/{net['shelter'].id}"
    hold = client.post(f"{base}/hold", data={"csrf_token": token, "hold_minutes": "600"})
    assert hold.status_code == 403
    opened = client.post(
        f"{base}/overflow",
        data={
            "csrf_token": token,
            "starts_at": local(clock.now()),
            "ends_at": local(clock.now() + timedelta(hours=3)),
            "places": "9",
        },
    )
    assert opened.status_code == 403
    closed = client.post(f"/provider/overflow/{window.id}/close", data={"csrf_token": token})
    assert closed.status_code == 403
    missing = client.post(f"/provider/overflow/{uuid.uuid4()}/close", data={"csrf_token": token})
    assert missing.status_code == 404
    session.expire_all()
    assert session.get(Service, net["shelter"].id).hold_minutes == 90
    assert session.get(OverflowWindow, window.id).closed_at is None
    assert session.scalar(select(func.count()).select_from(OverflowWindow)) == 1


def accepted_on_overflow(net: dict[str, Any]) -> Referral:
    with transaction():
        open_overflow(
            net["provider_actor"],
            net["shelter"].id,
            starts_at=clock.now() - timedelta(minutes=1),
            ends_at=clock.now() + timedelta(hours=8),
            places=1,
        )
        person = clients.create_client(net["intake"], profile={"language": "es"})
        referral = factories.sent_referral(
            net["intake"], person.id, net["shelter"].id, urgency="emergency"
        )
        referrals.transition(net["provider_actor"], referral.id, "accept")
    return referral


def test_the_referral_page_extends_the_hold_once(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = accepted_on_overflow(net)
    token = sign_in(client, net["provider"])
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert "held for 90 minutes" in page
    assert "Overflow place" in page
    assert 'id="form-extend-hold"' in page
    path = f"/provider/referrals/{referral.id}/extend-hold"
    refused = client.post(path, data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422
    assert 'id="f-reason-error"' in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Referral, referral.id).hold_extended_at is None
    done = client.post(path, data={"csrf_token": token, "reason": "discharge_delayed"})
    assert done.status_code == 302
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert 'id="form-extend-hold"' not in page
    assert "Hold extended" in page
    assert "Her hospital discharge is delayed" in page
    again = client.post(path, data={"csrf_token": token, "reason": "other"})
    assert again.status_code == 409
    assert "already extended once" in again.get_data(as_text=True)
    assert "Nothing was changed: this referral is now" not in again.get_data(as_text=True)
    session.expire_all()
    row = session.get(Referral, referral.id)
    assert row.hold_extension_reason == "discharge_delayed"


def test_the_pages_new_words_are_in_spanish(app: Any) -> None:
    with app.test_request_context():
        from flask import g

        g.language = "es"
        for words in (
            "Overflow tonight",
            "Extend the hold",
            "Hold extended",
            "Overflow places",
            "Open overflow places",
        ):
            assert i18n.gettext(words) != words, words
