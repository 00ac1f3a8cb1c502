"""Webhooks against a real HTTP receiver on loopback: signed, ids and statuses only, and each
event delivered exactly once per outbox row even when the first two attempts fail."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from flask import Flask

from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.jobs import service as outbox
from referral_hub.notifications import webhooks
from referral_hub.referrals import service as referrals
from tests import factories


class Receiver:
    """A partner's endpoint: answers 500 to the first `failures` requests, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.requests) < receiver.failures else 200
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    partner = Receiver(failures=2)
    yield partner
    partner.close()


def test_delivered_exactly_once_after_two_failures_and_signed(
    app: Flask, session: Any, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    with transaction():
        sender, shelter_agency = factories.agency(), factories.agency()
        shelter = factories.directory_service(shelter_agency)
        factories.capacity(shelter, total=3, available=3)
        admin = Actor(ActorKind.USER, "admin", shelter_agency.id, frozenset({"agency_admin"}))
        hook, secret = webhooks.subscribe(admin, url=receiver.url, events=["referral.sent"])
        intake = Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"}))
        person = clients.create_client(
            intake, pii={"name": "Secret Person"}, profile={"language": "es"}
        )
    start = clock.now()
    with clock.frozen_at(start) as frozen:
        with transaction():
            referral = referrals.send_referral(
                intake,
                client_id=person.id,
                service_id=shelter.id,
                urgency="urgent",
                data_categories=["profile"],
            )
        run_jobs()
        for _ in range(4):  # the sweeper hands failed rows back after their backoff
            frozen.advance(timedelta(minutes=5))
            with transaction():
                outbox.sweep()
            run_jobs()
    statuses = [status for _, _, status in receiver.requests]
    assert statuses == [500, 500, 200]  # delivered once; no delivery after the success
    ids = {headers["X-Hub-Delivery"] for headers, _, _ in receiver.requests}
    assert len(ids) == 1  # the same delivery id on every retry: receivers can drop repeats
    headers, body, _ = receiver.requests[-1]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature"], expected)
    payload = json.loads(body)
    assert payload["event"] == "referral.sent"
    assert payload["data"] == {"referral_id": str(referral.id), "status": "sent"}
    assert "Secret Person" not in body.decode() and person.reference not in body.decode()
    rows = webhooks.deliveries(admin, hook.id, None)
    assert [(row.status.value, row.attempts) for row in rows] == [("delivered", 3)]


def test_dead_deliveries_are_visible_to_the_agency_admin(
    app: Flask, client: Any, session: Any, run_jobs: Callable[[], int]
) -> None:
    partner = Receiver(failures=100)
    try:
        with transaction():
            agency = factories.agency()
            boss = factories.with_password(factories.user(agency, ["agency_admin"]))
            totp = factories.with_totp(boss)
        csrf = factories.sign_in(client, boss, totp)
        made = client.post(
            "/api/v1/webhooks",
            json={"url": partner.url, "events": ["referral.accepted"]},
            headers={"X-CSRFToken": csrf},
        )
        assert made.status_code == 201 and made.json["secret"].startswith("whsec_")
        listed = client.get("/api/v1/webhooks").json
        assert "secret" not in listed[0]
        with transaction():
            webhooks.announce(
                "referral.accepted", {agency.id}, {"referral_id": "r-1", "status": "accepted"}
            )
        with clock.frozen_at(clock.now()) as frozen:
            run_jobs()
            for _ in range(app.config["OUTBOX_MAX_ATTEMPTS"]):
                frozen.advance(timedelta(hours=2))
                with transaction():
                    outbox.sweep()
                run_jobs()
        dead = client.get(f"/api/v1/webhooks/{made.json['id']}/deliveries?status=dead").json
        assert len(dead) == 1 and dead[0]["last_error"] == "receiver answered 500"
        assert (
            client.post(
                "/api/v1/webhooks",
                json={"url": "not a url", "events": ["referral.sent"]},
                headers={"X-CSRFToken": csrf},
            ).status_code
            == 422
        )
    finally:
        partner.close()


def test_each_subscription_lists_only_its_own_deliveries(session: Any) -> None:
    with transaction():
        shelter, clinic = factories.agency(), factories.agency()
        shelter_admin = Actor(ActorKind.USER, "a1", shelter.id, frozenset({"agency_admin"}))
        clinic_admin = Actor(ActorKind.USER, "a2", clinic.id, frozenset({"agency_admin"}))
        sent_hook, _ = webhooks.subscribe(
            shelter_admin, url="http://127.0.0.1:9/sent", events=["referral.sent"]
        )
        both_hook, _ = webhooks.subscribe(
            shelter_admin,
            url="http://127.0.0.1:9/both",
            events=["referral.sent", "referral.accepted"],
        )
        clinic_hook, _ = webhooks.subscribe(
            clinic_admin, url="http://127.0.0.1:9/clinic", events=["referral.sent"]
        )
        for event in ("referral.sent", "referral.accepted"):
            webhooks.announce(
                event, {shelter.id, clinic.id}, {"referral_id": "r-9", "status": event[9:]}
            )

    def events(admin: Actor, hook: Any, status: str | None = None) -> list[str]:
        return [row.payload["event"] for row in webhooks.deliveries(admin, hook.id, status)]

    assert events(shelter_admin, sent_hook) == ["referral.sent"]
    assert events(shelter_admin, both_hook) == ["referral.sent", "referral.accepted"]
    assert events(clinic_admin, clinic_hook) == ["referral.sent"]
    assert events(shelter_admin, both_hook, "pending") == ["referral.sent", "referral.accepted"]
    assert events(shelter_admin, both_hook, "dead") == []


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://partner.example/hooks", True),
        ("https://203.0.113.9/hooks", False),  # documentation range: not global
        ("https://8.8.8.8/hooks", True),
        ("http://partner.example/hooks", False),
        ("https://localhost/hooks", False),
        ("https://127.0.0.1/hooks", False),
        ("https://10.1.2.3/hooks", False),
        ("https://169.254.169.254/latest", False),
        ("https://[::1]/hooks", False),
        ("https://db.internal/hooks", False),
    ],
)
def test_production_webhooks_go_only_to_public_https(url: str, accepted: bool) -> None:
    from referral_hub.core.errors import ValidationFailed
    from referral_hub.notifications.webhooks import _public_https

    if accepted:
        _public_https(url)
    else:
        with pytest.raises(ValidationFailed):
            _public_https(url)
