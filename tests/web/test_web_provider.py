"""Provider pages: the received inbox (order, scope, polling fragment), one referral (what
disclosure allows at each state, every answer audited, refused answers write nothing), and
the capacity board (one-tap corrections, "still true", exact numbers, htmx cards)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.directory.capacity import adjust_available
from referral_hub.directory.models import Capacity
from referral_hub.directory.queries import board_services
from referral_hub.referrals import service as referrals
from referral_hub.referrals import states
from referral_hub.referrals.models import Message, Referral
from referral_hub.referrals.queries import received as inbox
from referral_hub.referrals.states import State
from tests import factories
from tests.factories import sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, outsider = (factories.agency() for _ in range(3))
        shelter = factories.directory_service(receiver, "emergency_shelter", name="Harbor beds")
        factories.capacity(shelter, total=10, available=5)
        counsel = factories.directory_service(receiver, "legal_advocacy", name="Legal clinic")
        factories.capacity(counsel, total=4, available=4)
        elsewhere = factories.directory_service(outsider, "emergency_shelter", name="Far beds")
        factories.capacity(elsewhere, total=3, available=3)
        provider = factories.with_password(factories.user(receiver, ["provider"]))
        intake_only = factories.with_password(factories.user(receiver, ["intake"]))
        outsider_provider = factories.with_password(factories.user(outsider, ["provider"]))
        intake = Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"}))
        outsider_intake = Actor(ActorKind.USER, "oi", outsider.id, frozenset({"intake"}))
    return {
        "sender": sender,
        "receiver": receiver,
        "outsider": outsider,
        "shelter": shelter,
        "counsel": counsel,
        "elsewhere": elsewhere,
        "provider": provider,
        "intake_only": intake_only,
        "outsider_provider": outsider_provider,
        "intake": intake,
        "outsider_intake": outsider_intake,
        "receiver_actor": factories.actor_for(provider),
    }


def refer(
    net: dict[str, Any],
    *,
    urgency: str = "urgent",
    service: str = "shelter",
    contact: bool = False,
    note: str | None = None,
    send: bool = True,
    sender: str = "intake",
) -> Referral:
    """A new client of the sending agency, referred to one of the receiver's services."""
    actor = net[sender]
    with transaction():
        person = clients.create_client(
            actor, pii={"contact": "555-0100 ask for Ana"}, profile={"language": "es"}
        )
        consent_id = None
        if contact:
            consent_id = factories.written_consent(
                actor,
                person.id,
                recipients=[net["receiver"].id],
                purposes=[net[service].category.value],
                data_categories=["contact"],
            ).id
        return referrals.send_referral(
            actor,
            client_id=person.id,
            service_id=net[service].id,
            urgency=urgency,  # type: ignore[arg-type]
            data_categories=["profile", "contact"] if contact else ["profile"],
            consent_id=consent_id,
            note=note,
            send=send,
        )


def put_in(session: Any, referral: Referral, state: State) -> None:
    """Setup only: place a referral in `state`, holding a unit when that state holds one."""
    with transaction():
        row = session.get(Referral, referral.id)
        row.status = state
        if state in states.TERMINAL:
            row.closed_at = clock.now()
        if state == State.ACCEPTED:
            row.holds_unit = True
            row.arrive_by = clock.now() + timedelta(hours=24)
            capacity = session.get(Capacity, row.service_id)
            capacity.available, capacity.held = capacity.available - 1, capacity.held + 1
        consent.set_grant(str(row.id), accepted=state in (State.ACCEPTED, State.ENGAGED))


def events(session: Any, action: str | None = None) -> int:
    statement = select(func.count()).select_from(AuditEvent)
    if action:
        statement = statement.where(AuditEvent.action == action)
    return int(session.scalar(statement))


def status_of(session: Any, referral: Referral) -> State:
    session.expire_all()
    return session.get(Referral, referral.id).status


def numbers(session: Any, service: Any) -> tuple[int, int, int]:
    session.expire_all()
    row = session.get(Capacity, service.id)
    return row.total, row.available, row.held


# --- who may look ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/provider/", "/provider/capacity"])
def test_anonymous_visitors_are_sent_to_sign_in(
    client: Any, net: dict[str, Any], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=" + path


def test_an_intake_only_user_gets_403_on_every_provider_page(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net)
    token = sign_in(client, net["intake_only"])
    for path in ("/provider/", "/provider/capacity", f"/provider/referrals/{referral.id}"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "This page is for provider." in response.get_data(as_text=True)
    before = numbers(session, net["shelter"])
    response = client.post(
        f"/provider/capacity/{net['shelter'].id}/less", data={"csrf_token": token}
    )
    assert response.status_code == 403
    assert numbers(session, net["shelter"]) == before


# --- inbox ----------------------------------------------------------------------------------


def test_inbox_lists_open_referrals_by_urgency_then_nearest_deadline(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    start = clock.now()
    with clock.frozen_at(start - timedelta(minutes=40)):
        urgent_early = refer(net, urgency="urgent")  # acknowledge by start + 20 min
    with clock.frozen_at(start - timedelta(minutes=10)):
        urgent_late = refer(net, urgency="urgent")  # acknowledge by start + 50 min
    routine = refer(net, urgency="routine")
    emergency = refer(net, urgency="emergency")
    ended = refer(net, urgency="emergency")
    with clock.frozen_at(start - timedelta(hours=1)):
        put_in(session, ended, State.DECLINED)
    ended_later = refer(net, urgency="routine")
    put_in(session, ended_later, State.COMPLETED)
    draft = refer(net, send=False)
    foreign = refer(net, sender="outsider_intake", service="elsewhere")
    sign_in(client, net["provider"])

    page = client.get("/provider/").get_data(as_text=True)
    shown = re.findall(r'href="/provider/referrals/([0-9a-f-]{36})"', page)
    assert shown == [
        str(r.id) for r in (emergency, urgent_early, urgent_late, routine, ended_later, ended)
    ]
    assert str(draft.id) not in page
    assert str(foreign.id) not in page
    assert "Acknowledge: <time" in page
    assert "New — not opened yet" in page
    assert net["sender"].name in page
    assert "Harbor beds" in page
    assert "555-0100" not in page  # no PII in lists

    items = inbox.received(net["receiver_actor"])
    assert [item.id for item in items] == [
        r.id for r in (emergency, urgent_early, urgent_late, routine, ended_later, ended)
    ]
    assert [item.id for item in inbox.received(factories.actor_for(net["outsider_provider"]))] == [
        foreign.id
    ]


def test_an_overdue_deadline_is_red_in_words(client: Any, net: dict[str, Any]) -> None:
    with clock.frozen_at(clock.now() - timedelta(hours=2)):
        refer(net, urgency="urgent")
    sign_in(client, net["provider"])
    page = client.get("/provider/").get_data(as_text=True)
    assert re.search(r'class="countdown overdue">1 h( \d+ min)? overdue</time>', page)


def test_inbox_filters_and_refused_filters(client: Any, net: dict[str, Any], session: Any) -> None:
    waiting = refer(net, urgency="routine")
    accepted = refer(net, urgency="urgent")
    put_in(session, accepted, State.ACCEPTED)
    sign_in(client, net["provider"])
    page = client.get("/provider/?status=accepted").get_data(as_text=True)
    assert str(accepted.id) in page
    assert str(waiting.id) not in page
    assert "Arrival due: <time" in page
    page = client.get("/provider/?urgency=routine").get_data(as_text=True)
    assert str(waiting.id) in page
    assert str(accepted.id) not in page
    response = client.get("/provider/?urgency=whenever")
    assert response.status_code == 422
    assert 'id="f-urgency-error"' in response.get_data(as_text=True)


def test_the_inbox_list_polls_as_a_fragment(client: Any, net: dict[str, Any]) -> None:
    referral = refer(net)
    sign_in(client, net["provider"])
    whole = client.get("/provider/?urgency=urgent").get_data(as_text=True)
    assert 'hx-trigger="every 30s, hub-live"' in whole
    assert 'aria-live="polite"' in whole
    assert 'hx-get="/provider/?urgency=urgent"' in whole
    assert 'data-live="/live/referrals"' in whole
    assert "Refresh the list now" in whole
    fragment = client.get("/provider/?urgency=urgent", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="inbox-list"')
    assert "<html" not in fragment
    assert str(referral.id) in fragment
    boosted = client.get("/provider/", headers=HTMX | {"HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)


# --- one referral ---------------------------------------------------------------------------


def test_before_accepting_the_receiver_sees_her_needs_only(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net, contact=True, note="She prefers a female worker.")
    sign_in(client, net["provider"])
    before = events(session, "client.pii_viewed")
    response = client.get(f"/provider/referrals/{referral.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Her needs" in page
    assert "Language" in page
    assert "es" in page
    assert "555-0100" not in page
    assert "opens when you accept" in page
    assert "She prefers a female worker." in page
    assert events(session, "client.pii_viewed") == before  # no PII shown, no PII event
    assert events(session, "referral.note_read") == 1
    for action in ("acknowledge", "request-info", "waitlist", "accept", "decline"):
        assert f'id="form-{action}"' in page
    for action in ("confirm-arrival", "complete", "end-unfinished"):
        assert f'id="form-{action}"' not in page


def test_after_accepting_the_consented_data_opens_and_each_look_is_audited(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net, contact=True)
    put_in(session, referral, State.ACCEPTED)
    sign_in(client, net["provider"])
    for look in (1, 2):
        page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
        assert "555-0100 ask for Ana" in page
        assert events(session, "client.pii_viewed") == look
    assert 'id="form-confirm-arrival"' in page
    assert 'id="form-end-unfinished"' in page
    assert 'id="form-accept"' not in page


def test_after_the_end_nothing_about_her_is_shown(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net, contact=True)
    put_in(session, referral, State.COMPLETED)
    sign_in(client, net["provider"])
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert "555-0100" not in page
    assert "Nothing about her is shared" in page
    assert "Nothing is waiting for you" in page


def test_another_agencys_referral_and_a_draft_are_404(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    foreign = refer(net, sender="outsider_intake", service="elsewhere")
    draft = refer(net, send=False)
    token = sign_in(client, net["provider"])
    for referral in (foreign, draft):
        assert client.get(f"/provider/referrals/{referral.id}").status_code == 404
        response = client.post(
            f"/provider/referrals/{referral.id}/acknowledge", data={"csrf_token": token}
        )
        assert response.status_code == 404
    assert status_of(session, foreign) == State.SENT
    assert status_of(session, draft) == State.DRAFT


ANSWERS = [
    # (from, action, form, to)
    (State.SENT, "acknowledge", {}, State.ACKNOWLEDGED),
    (State.ACKNOWLEDGED, "request-info", {"question": "Ground floor?"}, State.INFO_REQUESTED),
    (State.SENT, "waitlist", {"position": "3", "eta": "2031-05-01"}, State.WAITLISTED),
    (State.ACKNOWLEDGED, "accept", {}, State.ACCEPTED),
    (State.SENT, "decline", {"reason": "out_of_area", "note": "Too far"}, State.DECLINED),
    (State.ACCEPTED, "confirm-arrival", {}, State.ENGAGED),
    (State.ENGAGED, "complete", {"outcome": "housed"}, State.COMPLETED),
    (State.ACCEPTED, "end-unfinished", {"reason": "no_show"}, State.NOT_COMPLETED),
]


@pytest.mark.parametrize(("start", "action", "form", "end"), ANSWERS, ids=[a[1] for a in ANSWERS])
def test_each_answer_moves_the_referral_and_is_audited(
    client: Any,
    net: dict[str, Any],
    session: Any,
    start: State,
    action: str,
    form: dict[str, str],
    end: State,
) -> None:
    referral = refer(net)
    if start != State.SENT:
        put_in(session, referral, start)
    token = sign_in(client, net["provider"])
    response = client.post(
        f"/provider/referrals/{referral.id}/{action}", data=form | {"csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/provider/referrals/{referral.id}"
    assert status_of(session, referral) == end
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == f"referral.{end.value}"))
    assert event is not None
    assert event.subject_id == str(referral.id)
    assert event.actor_id == str(net["provider"].id)
    assert event.details["action"] == action
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert 'class="flash flash-success"' in page


def test_accept_holds_a_unit_and_the_question_reaches_the_sender(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    asked, taken = refer(net), refer(net)
    token = sign_in(client, net["provider"])
    client.post(
        f"/provider/referrals/{asked.id}/request-info",
        data={"question": "Does she have children with her?", "csrf_token": token},
    )
    bodies = conversation_bodies(session, net, asked)
    assert bodies == ["Question: Does she have children with her?"]
    client.post(f"/provider/referrals/{taken.id}/accept", data={"csrf_token": token})
    assert numbers(session, net["shelter"]) == (10, 4, 1)


def conversation_bodies(session: Any, net: dict[str, Any], referral: Referral) -> list[str]:
    from referral_hub.referrals import conversation

    with transaction():
        return [m["body"] for m in conversation.list_messages(net["intake"], referral.id)]


def test_an_answer_another_tab_already_gave_is_409_and_writes_nothing(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net, contact=True)
    token = sign_in(client, net["provider"])
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert 'id="form-accept"' in page
    put_in(session, referral, State.DECLINED)  # the other tab
    before = events(session), numbers(session, net["shelter"])
    response = client.post(f"/provider/referrals/{referral.id}/accept", data={"csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Nothing was changed: this referral is now “Declined”" in page
    assert 'id="form-accept"' not in page
    assert "555-0100" not in page  # a refused page shows no data it could not record a look at
    assert (events(session), numbers(session, net["shelter"])) == before
    assert status_of(session, referral) == State.DECLINED


def test_accepting_with_nothing_free_is_409_beside_the_accept_button(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net)
    with transaction():
        factories.capacity(net["shelter"], total=10, available=0)
    token = sign_in(client, net["provider"])
    before = events(session)
    response = client.post(f"/provider/referrals/{referral.id}/accept", data={"csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    form = page.split('id="form-accept"')[1].split("</form>")[0]
    assert "Nothing is free at this service right now." in form
    assert events(session) == before
    assert status_of(session, referral) == State.SENT
    assert numbers(session, net["shelter"]) == (10, 0, 0)


def test_declining_without_a_reason_is_422_with_the_note_kept(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net)
    token = sign_in(client, net["provider"])
    before = events(session), session.scalar(select(func.count()).select_from(Message))
    response = client.post(
        f"/provider/referrals/{referral.id}/decline",
        data={"reason": "", "note": "We are full tonight", "csrf_token": token},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-reason-error"' in page
    assert ">We are full tonight</textarea>" in page
    assert 'hx-confirm="Decline this referral? It cannot be undone."' in page
    after = events(session), session.scalar(select(func.count()).select_from(Message))
    assert after == before
    assert status_of(session, referral) == State.SENT


def test_a_bad_waitlist_position_is_422_beside_the_field(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net)
    token = sign_in(client, net["provider"])
    response = client.post(
        f"/provider/referrals/{referral.id}/waitlist",
        data={"position": "0", "csrf_token": token},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="f-position-error"' in page
    assert 'value="0"' in page
    assert status_of(session, referral) == State.SENT


def test_decline_with_a_suggestion_tells_the_sender(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net)
    token = sign_in(client, net["provider"])
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert f'value="{net["elsewhere"].id}"' in page  # same category, another agency
    assert f'value="{net["counsel"].id}"' not in page  # another category
    client.post(
        f"/provider/referrals/{referral.id}/decline",
        data={
            "reason": "no_capacity",
            "note": "Full until Friday",
            "suggested_service_id": str(net["elsewhere"].id),
            "csrf_token": token,
        },
    )
    assert status_of(session, referral) == State.DECLINED
    [body] = conversation_bodies(session, net, referral)
    assert "Full until Friday" in body
    assert "Far beds" in body


def test_a_waitlist_date_reaches_the_sender(client: Any, net: dict[str, Any], session: Any) -> None:
    referral = refer(net)
    token = sign_in(client, net["provider"])
    client.post(
        f"/provider/referrals/{referral.id}/waitlist",
        data={"position": "2", "eta": "2031-05-01", "csrf_token": token},
    )
    assert status_of(session, referral) == State.WAITLISTED
    assert conversation_bodies(session, net, referral) == [
        "On our waiting list (position 2, a place expected around 01 May 2031)."
    ]


def test_the_api_decline_and_waitlist_tell_the_sender_the_same_words(
    client: Any, net: dict[str, Any], session: Any, act_as: Any
) -> None:
    """One door: the note, the suggestion and the waiting date reach the sender whether
    the provider answers on the page or its system answers through the API."""
    declined, waiting = refer(net), refer(net)
    act_as(net["receiver_actor"])
    answer = client.post(
        f"/api/v1/referrals/{declined.id}/decline",
        json={
            "reason": "no_capacity",
            "note": "Full until Friday",
            "suggested_service_id": str(net["elsewhere"].id),
        },
    )
    assert answer.status_code == 200, answer.get_json()
    [body] = conversation_bodies(session, net, declined)
    assert body == "Why we declined: Full until Friday\nYou could try: Far beds ({}).".format(
        net["outsider"].name
    )
    answer = client.post(
        f"/api/v1/referrals/{waiting.id}/waitlist",
        json={"position": 2, "eta": "2031-05-01T12:00:00Z"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert conversation_bodies(session, net, waiting) == [
        "On our waiting list (position 2, a place expected around 01 May 2031)."
    ]


def test_messages_are_posted_listed_and_an_empty_one_is_refused(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    referral = refer(net)
    token = sign_in(client, net["provider"])
    url = f"/provider/referrals/{referral.id}/messages"
    response = client.post(url, data={"body": "We can take her tomorrow", "csrf_token": token})
    assert response.status_code == 302
    page = client.get(f"/provider/referrals/{referral.id}").get_data(as_text=True)
    assert "We can take her tomorrow" in page
    assert events(session, "referral.messages_read") == 1
    before = events(session)
    response = client.post(url, data={"body": "  ", "csrf_token": token})
    assert response.status_code == 422
    assert 'id="f-body-error"' in response.get_data(as_text=True)
    assert events(session) == before


# --- capacity board -------------------------------------------------------------------------


def test_the_board_shows_every_service_of_the_agency_only(client: Any, net: dict[str, Any]) -> None:
    sign_in(client, net["provider"])
    page = client.get("/provider/capacity").get_data(as_text=True)
    assert "Harbor beds" in page
    assert "Legal clinic" in page
    assert "Far beds" not in page
    assert '<span class="big">5</span>' in page
    assert "of 10 beds free" in page
    assert page.count('class="tap"') == 4
    assert 'aria-live="polite"' in page


def test_minus_plus_and_still_true_change_numbers_and_freshness(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    shelter = net["shelter"]
    with clock.frozen_at(clock.now() - timedelta(days=2)), transaction():
        factories.capacity(shelter, total=10, available=5)
    token = sign_in(client, net["provider"])
    page = client.get("/provider/capacity").get_data(as_text=True)
    assert "Not confirmed for 2 days: referrers see this as stale." in page
    base = f"/provider/capacity/{shelter.id}"

    response = client.post(f"{base}/less", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/provider/capacity#service-{shelter.id}"
    assert numbers(session, shelter) == (10, 4, 0)
    page = client.get("/provider/capacity").get_data(as_text=True)
    assert "Harbor beds: one fewer free. 4 of 10 free." in page
    assert "badge-fresh" in page
    assert "stale" not in page.split("Harbor beds")[2][:400]

    client.post(f"{base}/more", data={"csrf_token": token})
    client.post(f"{base}/more", data={"csrf_token": token})
    assert numbers(session, shelter) == (10, 6, 0)

    with transaction():  # three days pass without anyone looking at the beds
        row = session.get(Capacity, shelter.id)
        row.updated_at = clock.now() - timedelta(days=3)
    page = client.get("/provider/capacity").get_data(as_text=True)
    assert "Not confirmed for 3 days" in page
    assert client.post(f"{base}/confirm", data={"csrf_token": token}).status_code == 302
    session.expire_all()
    assert clock.now() - session.get(Capacity, shelter.id).updated_at < timedelta(minutes=1)
    assert "Not confirmed" not in client.get("/provider/capacity").get_data(as_text=True)
    assert numbers(session, shelter) == (10, 6, 0)
    assert events(session, "capacity.updated") >= 3
    assert events(session, "capacity.confirmed") == 1


def test_minus_at_zero_and_plus_at_the_total_are_refused(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    counsel = net["counsel"]  # 4 of 4 free
    token = sign_in(client, net["provider"])
    before = events(session)
    response = client.post(f"/provider/capacity/{counsel.id}/more", data={"csrf_token": token})
    assert response.status_code == 422
    assert "raise the total to add more" in response.get_data(as_text=True)
    with transaction():
        factories.capacity(counsel, total=4, available=0)
    before = events(session)
    response = client.post(f"/provider/capacity/{counsel.id}/less", data={"csrf_token": token})
    assert response.status_code == 422
    assert numbers(session, counsel) == (4, 0, 0)
    assert events(session) == before


def test_with_htmx_a_tap_returns_just_that_card(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    shelter = net["shelter"]
    token = sign_in(client, net["provider"])
    response = client.post(
        f"/provider/capacity/{shelter.id}/less", data={"csrf_token": token}, headers=HTMX
    )
    card = response.get_data(as_text=True)
    assert response.status_code == 200
    assert card.startswith(f'<article class="capacity-card" id="service-{shelter.id}"')
    assert "<html" not in card
    assert "Legal clinic" not in card
    assert '<span class="big">4</span>' in card
    assert f'hx-target="#service-{shelter.id}"' in card
    assert 'hx-swap="outerHTML"' in card
    assert 'id="capacity-status" hx-swap-oob="innerHTML">Harbor beds: one fewer free.' in card


def test_exact_numbers_are_set_and_bad_ones_refused_beside_the_field(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    shelter = net["shelter"]
    token = sign_in(client, net["provider"])
    url = f"/provider/capacity/{shelter.id}/set"
    response = client.post(url, data={"total": "12", "available": "7", "csrf_token": token})
    assert response.status_code == 302
    assert numbers(session, shelter) == (12, 7, 0)
    before = events(session)
    for form, field in (
        ({"total": "12", "available": "-1"}, "available"),
        ({"total": "5", "available": "9"}, "available"),
        ({"total": "", "available": "3"}, "total"),
    ):
        response = client.post(url, data=form | {"csrf_token": token})
        page = response.get_data(as_text=True)
        assert response.status_code == 422, form
        assert f'id="{field}-{shelter.id}-error"' in page, form
        assert f'value="{form["available"]}"' in page  # typed value kept
        assert "<html" in page  # the whole board without htmx
    response = client.post(
        url, data={"total": "5", "available": "9", "csrf_token": token}, headers=HTMX
    )
    fragment = response.get_data(as_text=True)
    assert response.status_code == 422
    assert fragment.startswith("<article")
    assert "Cannot exceed total." in fragment
    assert numbers(session, shelter) == (12, 7, 0)
    assert events(session) == before


def test_held_units_limit_the_free_count(client: Any, net: dict[str, Any], session: Any) -> None:
    referral = refer(net)
    put_in(session, referral, State.ACCEPTED)  # 10 total, 4 free, 1 held
    token = sign_in(client, net["provider"])
    response = client.post(
        f"/provider/capacity/{net['shelter'].id}/set",
        data={"total": "5", "available": "5", "csrf_token": token},
    )
    assert response.status_code == 422
    assert "With 1 held, at most 4 can be free." in response.get_data(as_text=True)
    assert numbers(session, net["shelter"]) == (10, 4, 1)


def test_another_agencys_service_cannot_be_changed(
    client: Any, net: dict[str, Any], session: Any
) -> None:
    token = sign_in(client, net["provider"])
    for verb in ("less", "more", "confirm"):
        response = client.post(
            f"/provider/capacity/{net['elsewhere'].id}/{verb}", data={"csrf_token": token}
        )
        assert response.status_code == 403
    assert numbers(session, net["elsewhere"]) == (3, 3, 0)


def test_board_adjust_is_one_step_and_scoped(session: Any, net: dict[str, Any]) -> None:
    from referral_hub.core.errors import Forbidden, ValidationFailed

    with pytest.raises(ValidationFailed), transaction():
        adjust_available(net["receiver_actor"], net["shelter"].id, 2)
    with pytest.raises(Forbidden), transaction():
        adjust_available(net["receiver_actor"], net["elsewhere"].id, -1)
    assert [s.name for s in board_services(net["receiver_actor"])] == [
        "Harbor beds",
        "Legal clinic",
    ]


def test_a_board_card_is_typed_and_carries_the_apis_numbers(
    session: Any, net: dict[str, Any]
) -> None:
    """The board's card is a frozen record whose figures are the API's capacity, field for
    field, and its own dates follow from them."""
    from dataclasses import FrozenInstanceError, asdict

    from referral_hub.directory.freshness import capacity_view
    from referral_hub.directory.queries import BoardCard, Figures, board_card

    now = clock.now() + timedelta(hours=2)
    cards = [board_card(service, now) for service in board_services(net["receiver_actor"])]
    assert [card.name for card in cards] == ["Harbor beds", "Legal clinic"]
    card = cards[0]
    assert isinstance(card, BoardCard)
    assert isinstance(card.capacity, Figures)
    assert asdict(card.capacity) == capacity_view(net["shelter"], now)
    assert (card.capacity.total, card.capacity.available, card.capacity.held) == (10, 5, 0)
    assert card.capacity.updated_at is not None
    assert card.stale_at == card.capacity.updated_at + timedelta(
        hours=card.capacity.stale_after_hours
    )
    assert card.fresh is (card.capacity.freshness == "fresh")
    assert card.overflow == ()
    with pytest.raises(FrozenInstanceError):
        card.name = "Another name"  # type: ignore[misc]
