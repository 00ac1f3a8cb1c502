"""Webhooks against a real HTTP receiver on loopback: signed, ids and statuses only, and each
event delivered exactly once per outbox row even when the first two attempts fail."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.jobs import service as outbox
from referral_hub.jobs.handlers import DeliveryFailed
from referral_hub.jobs.models import OutboxMessage
from referral_hub.notifications import egress, webhooks
from tests import factories


class Receiver:
    """A partner's endpoint: answers 500 to the first `failures` requests, then 200. With
    `keep_alive` it speaks HTTP/1.1 and keeps connections open until idle for `idle`
    seconds; it counts the connections it accepted."""

    def __init__(self, failures: int, *, keep_alive: bool = False, idle: float = 5.0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.connections = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            timeout = idle

            def setup(self) -> None:
                super().setup()
                receiver.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.requests) < receiver.failures else 200
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
            referral = factories.sent_referral(intake, person.id, shelter.id)
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
    assert "Secret Person" not in body.decode()
    assert person.reference not in body.decode()
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
        assert made.status_code == 201
        assert made.json["secret"].startswith("whsec_")
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
        assert len(dead) == 1
        assert dead[0]["last_error"] == "receiver answered 500"
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


# --- where a webhook may go (issue 14, defect 6) -------------------------------------------
# DNS is the outside edge: these tests answer it themselves and never reach the network.

PUBLIC = "93.184.216.34"
ZONE = {
    "partner.example": [PUBLIC],
    "hooks.partner.example": [PUBLIC],
    "inward.example": ["10.0.0.5"],
    "mixed.example": [PUBLIC, "127.0.0.1"],
    "mapped.example": ["::ffff:127.0.0.1"],
}


class Dns:
    """A stub resolver: `ZONE`, with answers that may change (rebinding); counts lookups."""

    def __init__(self) -> None:
        self.zone = {name: list(addresses) for name, addresses in ZONE.items()}
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo

    def getaddrinfo(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host == "127.0.0.1":  # the test's own loopback connections
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        if host not in self.zone:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, int(port)),
            )
            for address in self.zone[host]
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    stub = Dns()
    monkeypatch.setattr(f"{egress.__name__}.socket.getaddrinfo", stub.getaddrinfo)
    return stub


@pytest.fixture
def production(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "HUB_ENV", "production")


HOSTILE = [
    "https://2130706433/",
    "https://127.1/",
    "https://0x7f000001/",
    "https://0177.0.0.1/",
    "https://10.1/",
    "https://0/",
    "https://0x7f.1/",
    "https://127.0.0.1./",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[2002:7f00:1::]/",  # 6to4 around loopback
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 around the metadata address
    "https://[fe80::1%25eth0]/",
    "https://224.0.0.1/",
]


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
        ("https://inward.example/hooks", False),  # a name that resolves inwards
        ("https://mixed.example/hooks", False),  # one inward address is enough
        ("https://mapped.example/hooks", False),
        ("https://unknown.example/hooks", False),  # does not resolve
        ("https://partner.example:99999/hooks", False),
        *[(url, False) for url in HOSTILE],
    ],
)
def test_production_webhooks_go_only_to_public_https(dns: Dns, url: str, accepted: bool) -> None:
    from referral_hub.core.errors import ValidationFailed
    from referral_hub.notifications.webhooks import _public_https

    if accepted:
        _public_https(url)
    else:
        with pytest.raises(ValidationFailed) as refused:
            _public_https(url)
        assert refused.value.errors
        assert "url" in refused.value.errors


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "127.1",
        "0x7f000001",
        "0177.0.0.1",
        "10.1",
        "0",
        "0x7f.1",
        "1.2.3.4",
        "255.255.255.255",
        "256.1",
        "1.2.3.4.5",
        "08",
        "0x",
        "1.0x10.3",
        "example",
        "1..2",
        "",
    ],
)
def test_hosts_are_read_as_the_resolver_reads_them(host: str) -> None:
    """`inet_aton` (the C library's, local) is what getaddrinfo tries before DNS."""
    try:
        expected: Any = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        expected = None
    assert egress.ip_literal(host) == expected


def _cert_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (the test's own trust anchor)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsReceiver(Receiver):
    """The partner's endpoint over TLS on loopback, noting the name each client asked for."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(failures=0)
        self.cert, key = _cert_for(name, directory)
        self.sni: list[str | None] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        context.sni_callback = lambda sock, server_name, ctx: self.sni.append(server_name)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsReceiver]:
    partner = TlsReceiver("hooks.partner.example", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(partner.cert))  # the machine's trust store
    yield partner
    partner.close()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch, tls_receiver: TlsReceiver) -> list[tuple[str, int]]:
    """The network's edge: note where the hub connects, and carry it to the local receiver
    instead of the public address (nothing leaves this machine)."""
    dialled: list[tuple[str, int]] = []
    real = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        dialled.append(address)
        return real(("127.0.0.1", tls_receiver.server.server_port), *args, **kwargs)

    monkeypatch.setattr(f"{egress.__name__}.socket.create_connection", create_connection)
    return dialled


def _hook_and_message(url: str) -> tuple[Any, OutboxMessage]:
    with transaction():
        agency = factories.agency()
        admin = Actor(ActorKind.USER, "admin", agency.id, frozenset({"agency_admin"}))
        hook, _ = webhooks.subscribe(admin, url=url, events=["referral.sent"])
    payload = {"webhook_id": str(hook.id), "event": "referral.sent", "at": "2031-01-01T00:00:00Z"}
    return hook, OutboxMessage(id=uuid.uuid4(), kind="webhook", payload=payload)


def test_delivery_connects_to_the_address_checked_with_tls_on_the_name(
    session: Any, production: None, dns: Dns, wire: list[tuple[str, int]], tls_receiver: TlsReceiver
) -> None:
    _, message = _hook_and_message("https://hooks.partner.example/in")
    dns.lookups.clear()
    webhooks.deliver_webhook(message)
    assert dns.lookups == ["hooks.partner.example"]  # one lookup, checked, then used
    assert wire == [(PUBLIC, 443)]
    assert tls_receiver.sni == ["hooks.partner.example"]
    ((headers, _, status),) = tls_receiver.requests
    assert headers["Host"] == "hooks.partner.example"
    assert status == 200


def test_a_name_that_turns_inward_after_registration_is_not_called(
    session: Any, production: None, dns: Dns, wire: list[tuple[str, int]], tls_receiver: TlsReceiver
) -> None:
    _, message = _hook_and_message("https://hooks.partner.example/in")
    dns.zone["hooks.partner.example"] = ["127.0.0.1"]  # DNS rebinding
    with pytest.raises(DeliveryFailed, match="refused"):
        webhooks.deliver_webhook(message)
    assert wire == []
    assert tls_receiver.requests == []


@pytest.mark.parametrize("url", HOSTILE[:6])
def test_a_stored_inward_url_is_refused_at_delivery(
    session: Any, production: None, dns: Dns, wire: list[tuple[str, int]], url: str
) -> None:
    """A subscription stored before the check (or by hand) is still never called."""
    hook, message = _hook_and_message("https://hooks.partner.example/in")
    hook.url = url
    with pytest.raises(DeliveryFailed, match="refused"):
        webhooks.deliver_webhook(message)
    assert wire == []


def test_production_registration_through_the_api_names_the_url(
    client: Any, session: Any, production: None, dns: Dns, act_as: Callable[[Actor], None]
) -> None:
    with transaction():
        agency = factories.agency()
    act_as(Actor(ActorKind.USER, "admin", agency.id, frozenset({"agency_admin"})))
    for url in HOSTILE[:6]:
        response = client.post("/api/v1/webhooks", json={"url": url, "events": ["referral.sent"]})
        assert response.status_code == 422, url
        assert response.mimetype == "application/problem+json"
        assert "url" in response.json["errors"]


@pytest.fixture
def keep_alive() -> Iterator[Receiver]:
    egress._pool.clear()
    partner = Receiver(failures=0, keep_alive=True)
    yield partner
    partner.close()
    egress._pool.clear()


def test_deliveries_to_a_receiver_that_keeps_connections_alive_share_one(
    keep_alive: Receiver,
) -> None:
    target = egress.check(keep_alive.url, public_only=False)
    statuses = [egress.post(target, b"{}", {}, timeout=5) for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert (len(keep_alive.requests), keep_alive.connections) == (3, 1)


def test_a_kept_connection_the_receiver_closed_is_replaced_not_failed() -> None:
    egress._pool.clear()
    partner = Receiver(failures=0, keep_alive=True, idle=0.05)
    try:
        target = egress.check(partner.url, public_only=False)
        assert egress.post(target, b"{}", {}, timeout=5) == 200
        time.sleep(0.3)  # the receiver gives up the idle connection meanwhile
        assert egress.post(target, b"{}", {}, timeout=5) == 200
        assert (len(partner.requests), partner.connections) == (2, 2)
    finally:
        partner.close()
        egress._pool.clear()


def test_a_kept_connection_serves_only_the_address_it_was_opened_to(
    keep_alive: Receiver,
) -> None:
    """Pinning holds for reused connections: the same name checked to another address
    (the name was re-pointed) never gets the connection opened to the first one."""
    target = egress.check(keep_alive.url, public_only=False)
    assert egress.post(target, b"{}", {}, timeout=5) == 200
    elsewhere = dataclasses.replace(target, address=ipaddress.ip_address("127.0.0.2"))
    assert egress._pool.take(elsewhere) is None
    kept = egress._pool.take(target)
    assert kept is not None
    kept.close()
