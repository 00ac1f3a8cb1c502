"""Live pages: a referral's change reaches the open streams of the agencies party to it —
after commit, ids only — and no other agency's; streams need sign-in, are bounded in
number and in time. In-process fan-out on SQLite, Redis pub/sub when REDIS_URL is set."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, cast

import pytest
from flask import Flask

from referral_hub.clients import service as clients
from referral_hub.core.db import transaction
from referral_hub.live import service as live
from referral_hub.live.broker import Change, RedisBroker
from tests import factories
from tests.factories import sign_in

# a stream that says nothing sends a keep-alive every LIVE_HEARTBEAT_SECONDS (15 s): a
# change not seen within this many frames never came
PATIENCE_FRAMES = 8


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        sender, receiver, outsider = (factories.agency() for _ in range(3))
        shelter = factories.directory_service(receiver, "emergency_shelter", name="Harbor beds")
        factories.capacity(shelter, total=10, available=5)
        intake = factories.with_password(factories.user(sender, ["intake"]))
        provider = factories.with_password(factories.user(receiver, ["provider"]))
        stranger = factories.with_password(factories.user(outsider, ["intake", "provider"]))
        person = clients.create_client(
            factories.actor_for(intake),
            pii={"name": "Ana Ruiz", "contact": "555-0100 ask for Ana"},
            profile={"language": "es"},
        )
        referral = factories.sent_referral(factories.actor_for(intake), person.id, shelter.id)
    return {
        "intake": intake,
        "provider": provider,
        "stranger": stranger,
        "outsider": outsider,
        "referral": referral,
        "client": person,
    }


class Listening:
    """A signed-in browser's open stream, read one frame at a time."""

    def __init__(self, app: Flask, person: Any) -> None:
        self.http = app.test_client()
        sign_in(self.http, person)
        self.response = self.http.get("/live/referrals", buffered=False)
        assert self.response.status_code == 200, self.response.get_data(as_text=True)
        assert self.response.mimetype == "text/event-stream"
        self.frames: Iterator[bytes] = iter(cast(Iterable[bytes], self.response.response))
        opening = next(self.frames).decode()
        assert opening.startswith("retry: ")

    def next_event(self) -> tuple[str, str]:
        """The next event's name and raw data, keep-alive comments skipped."""
        for _ in range(PATIENCE_FRAMES):
            frame = next(self.frames).decode()
            fields = dict(
                line.split(": ", 1) for line in frame.splitlines() if line and line[0] != ":"
            )
            if "event" in fields:
                return fields["event"], fields["data"]
        raise AssertionError("no event on the stream")

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def listen(app: Flask) -> Iterator[Any]:
    opened: list[Listening] = []

    def open_for(person: Any) -> Listening:
        opened.append(Listening(app, person))
        return opened[-1]

    yield open_for
    for stream in opened:
        stream.close()


def test_an_accept_reaches_the_senders_stream_and_not_an_unrelated_agencys(
    app: Flask, net: dict[str, Any], listen: Any
) -> None:
    senders, strangers = listen(net["intake"]), listen(net["stranger"])
    provider = app.test_client()
    token = sign_in(provider, net["provider"])
    referral = net["referral"]
    answer = provider.post(f"/provider/referrals/{referral.id}/accept", data={"csrf_token": token})
    assert answer.status_code in (200, 302, 303), answer.get_data(as_text=True)

    name, data = senders.next_event()
    assert name == "referral"
    assert json.loads(data) == {"referral": str(referral.id), "bundle": None}
    # the stranger's next event is one meant for it, published after the accept: had the
    # accept reached it, that would have come first (one ordered channel)
    with app.app_context():
        live.broker().publish([str(net["outsider"].id)], Change(referral="sentinel"))
    assert strangers.next_event() == ("referral", '{"referral": "sentinel", "bundle": null}')


def test_a_bundles_referral_names_its_bundle_for_the_bundle_page(
    app: Flask, net: dict[str, Any], listen: Any, session: Any
) -> None:
    from sqlalchemy import select

    from referral_hub.referrals import bundles
    from referral_hub.referrals.models import Referral

    senders = listen(net["intake"])
    intake = factories.actor_for(net["intake"])
    with transaction():
        person = clients.create_client(intake, pii={}, profile={"language": "en"})
        bundle = bundles.create_bundle(
            intake,
            client_id=person.id,
            urgency="urgent",  # type: ignore[arg-type]
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [net["referral"].service_id],
                    "data_categories": ["profile"],
                }
            ],
        )
    sent = session.scalars(select(Referral.id).where(Referral.bundle_id == bundle.id)).one()
    name, data = senders.next_event()
    assert (name, json.loads(data)) == (
        "referral",
        {"referral": str(sent), "bundle": str(bundle.id)},
    )


def test_events_carry_ids_only(app: Flask, net: dict[str, Any], listen: Any) -> None:
    receivers = listen(net["provider"])
    with transaction():
        from referral_hub.referrals import service as referrals

        referrals.transition(factories.actor_for(net["provider"]), net["referral"].id, "accept")
    name, data = receivers.next_event()
    assert name == "referral"
    assert set(json.loads(data)) == {"referral", "bundle"}
    words = (
        "Ana",
        "555-0100",
        "Harbor",
        net["client"].reference,
        "accepted",
        str(net["client"].id),
    )
    assert not [word for word in words if word in data]


def test_nothing_is_announced_when_the_change_rolls_back(
    app: Flask, net: dict[str, Any], listen: Any
) -> None:
    from referral_hub.referrals import service as referrals

    senders = listen(net["intake"])
    # the raise inside is what rolls the transaction back: the work and it belong together
    with pytest.raises(RuntimeError), transaction():  # noqa: PT012
        referrals.transition(factories.actor_for(net["provider"]), net["referral"].id, "accept")
        raise RuntimeError("the request failed after the move")
    with app.app_context():
        live.broker().publish([str(net["intake"].agency_id)], Change(referral="after"))
    assert senders.next_event() == ("referral", '{"referral": "after", "bundle": null}')


def test_the_stream_needs_a_signed_in_staff_member(client: Any) -> None:
    response = client.get("/live/referrals")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "unauthorized"


def test_past_its_most_streams_a_process_refuses_and_says_when_to_come_back(
    app: Flask, net: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from referral_hub.live.broker import Slots

    monkeypatch.setitem(app.extensions, "hub_live_slots", Slots(1))
    first = Listening(app, net["intake"])
    refused = app.test_client()
    sign_in(refused, net["provider"])
    response = refused.get("/live/referrals")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(app.config["LIVE_RETRY_SECONDS"])
    first.close()  # its slot is given back
    again = refused.get("/live/referrals", buffered=False)
    assert again.status_code == 200
    again.close()


def test_a_stream_ends_after_its_lifetime_and_gives_its_slot_back(
    app: Flask, net: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from referral_hub.live.broker import Slots

    slots = Slots(1)
    monkeypatch.setitem(app.extensions, "hub_live_slots", slots)
    monkeypatch.setitem(app.config, "LIVE_MAX_SECONDS", 0.2)
    monkeypatch.setitem(app.config, "LIVE_HEARTBEAT_SECONDS", 0.05)
    stream = Listening(app, net["intake"])
    rest = list(stream.frames)  # ends by itself
    assert rest
    assert all(frame == b": keep-alive\n\n" for frame in rest)
    stream.close()
    assert slots.take()


def test_a_lost_channel_ends_the_streams() -> None:
    """Ended, not left open and silent: the page then polls and reconnects."""
    from referral_hub.live.broker import END, LocalHub

    hub = LocalHub()
    subscription = hub.subscribe("agency")
    for number in range(100):  # more than its mailbox holds
        subscription.put(Change(referral=str(number)))
    hub.end_all()
    assert subscription.get(timeout=0) is END


def test_production_fans_out_through_redis_when_it_has_redis(app: Flask) -> None:
    broker = app.extensions["hub_live"]
    assert isinstance(broker, RedisBroker) == bool(app.config["REDIS_URL"])


def test_while_redis_is_away_publishing_pauses_instead_of_failing_every_commit(
    app: Flask, net: dict[str, Any], log_lines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from referral_hub.referrals import service as referrals

    class Away:
        tries = 0

        def publish(self, *_: Any) -> None:
            Away.tries += 1
            raise ConnectionError("refused")

    broker = RedisBroker("redis://unused", "test:live", connection=Away())
    monkeypatch.setitem(app.extensions, "hub_live", broker)
    provider = factories.actor_for(net["provider"])
    with transaction():  # the move commits, whatever became of its announcement
        referrals.transition(provider, net["referral"].id, "acknowledge")
    with transaction():
        referrals.transition(provider, net["referral"].id, "accept")
    assert Away.tries == 1  # the second change, within the pause, was not tried
    assert referrals.get_referral(provider, net["referral"].id).status == "accepted"
    warned = [line for line in log_lines() if "not published" in line["message"]]
    assert len(warned) == 1
    assert "ConnectionError" in warned[0]["message"]
    assert "exc_info" not in warned[0]
    assert "Traceback" not in json.dumps(warned[0])
