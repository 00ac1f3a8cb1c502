"""Master-key rotation: stopped half-way and resumed, every value opens under the new key,
and the old key can be retired only when nothing needs it."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from flask import Flask

from referral_hub import keys
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.core import envelope, keystore
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from tests import factories

ROWS = 300  # the 10,000-row run lives in bench/; this proves the mechanism on both databases


def test_rotation_resumes_and_retires_the_old_key(app: Flask, session: Any) -> None:
    old = app.config["FIELD_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    with transaction():
        agency = factories.agency()
        actor = Actor(ActorKind.USER, "u", agency.id, frozenset({"intake"}))
        made = [clients.create_client(actor, pii={"contact": f"c{n}"}) for n in range(ROWS)]
        shelter = factories.directory_service(
            agency, location={"address": {"street": "1 Secret Way"}, "confidential": True}
        )
    old_id, new_id = envelope.key_id(old[0]), envelope.key_id(new_key)
    app.config["FIELD_ENCRYPTION_KEYS"] = [new_key, *old]
    try:
        assert keys.still_using(old_id) == ROWS + 1
        first = keys.rotate(batch=64, echo=lambda _: None, limit=128)  # "killed" after two batches
        assert first.rewrapped == 128
        assert keystore.count_with(new_id) == 128
        keys.rotate(batch=64, echo=lambda _: None)  # resumed
        again = keys.rotate(batch=64, echo=lambda _: None)  # and idempotent
        assert (again.rewrapped, again.reencrypted) == (0, 0)
        assert keys.still_using(old_id) == 0
        app.config["FIELD_ENCRYPTION_KEYS"] = [new_key]  # the old key is gone
        session.expire_all()
        for record in made:
            stored = session.get(Client, record.id)
            kept = keystore.get(record.id)
            assert kept is not None
            assert kept[1] == new_id
            assert clients.unseal(stored, {"contact"})["contact"].startswith("c")
        from referral_hub.core.actor import SYSTEM
        from referral_hub.directory.service import get_service, location_for

        assert (
            location_for(get_service(SYSTEM, shelter.id), SYSTEM)["address"]["street"]
            == "1 Secret Way"
        )
    finally:
        app.config["FIELD_ENCRYPTION_KEYS"] = old


def test_the_cli_refuses_to_retire_a_key_in_use(app: Flask, session: Any) -> None:
    old = app.config["FIELD_ENCRYPTION_KEYS"]
    with transaction():
        agency = factories.agency()
        clients.create_client(
            Actor(ActorKind.USER, "u", agency.id, frozenset({"intake"})), pii={"contact": "x"}
        )
    result = app.test_cli_runner().invoke(
        args=["hub", "rotate-keys", "--retire", envelope.key_id(old[0])]
    )
    assert result.exit_code != 0
    assert "do not remove it yet" in result.output


def test_ten_thousand_keys_stopped_half_way_and_resumed(app: Flask, session: Any) -> None:
    """The issue's scale: 10,000 wrapped keys, a run killed at 5,000, then resumed."""
    import uuid

    from sqlalchemy import insert

    from referral_hub.core.keystore import ClientKey

    old = app.config["FIELD_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    old_fernet = Fernet(old[0])
    rows: list[dict[str, Any]] = [
        {
            "client_id": uuid.uuid4(),
            "wrapped_key": old_fernet.encrypt(bytes([n % 256]) * 32),
            "kek_id": envelope.key_id(old[0]),
        }
        for n in range(10_000)
    ]
    with keystore._session() as store, store.begin():
        store.execute(insert(ClientKey), rows)
    app.config["FIELD_ENCRYPTION_KEYS"] = [new_key, *old]
    try:
        keys.rotate(batch=1000, echo=lambda _: None, limit=5000)
        new_id = envelope.key_id(new_key)
        assert keystore.count_with(new_id) == 5000
        keys.rotate(batch=1000, echo=lambda _: None)
        assert keystore.count_with(new_id) >= 10_000
        assert keystore.count_with(envelope.key_id(old[0])) == 0
        app.config["FIELD_ENCRYPTION_KEYS"] = [new_key]  # old key gone: every key still opens
        for row in rows[::997]:
            kept = keystore.get(row["client_id"])
            assert kept is not None
            wrapped, kek_id = kept
            assert kek_id == new_id
            assert envelope.unwrap(wrapped, kek_id) == bytes([rows.index(row) % 256]) * 32
    finally:
        app.config["FIELD_ENCRYPTION_KEYS"] = old
