"""Migrations: from empty to head, identical to the models, down to nothing and up again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import flask_migrate
import pytest
from sqlalchemy import BindParameter, DateTime, Uuid, bindparam, inspect, text

from referral_hub import create_app
from referral_hub.audit import service as audit
from referral_hub.extensions import db
from tests.conftest import fresh_database_url, test_config


def test_upgrade_check_downgrade_upgrade(
    worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    app = create_app(
        test_config(fresh_database_url(f"mig_{worker_id}", tmp_path_factory), worker_id)
    )
    with app.app_context():
        try:
            flask_migrate.upgrade()
            flask_migrate.check()  # exits non-zero if the models and migrations differ
            tables = set(inspect(db.engine).get_table_names())
            assert {
                "agency",
                "user_account",
                "audit_event",
                "audit_head",
                "outbox_message",
            } <= tables
            assert audit.head() == (0, "0" * 64)
            db.session.remove()

            flask_migrate.downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

            flask_migrate.upgrade()
            assert set(inspect(db.engine).get_table_names()) == tables
            assert audit.head() == (0, "0" * 64)
        finally:
            db.session.remove()
            db.engine.dispose()


def test_needs_take_their_bundles_urgency_when_urgency_moves_to_the_need(
    worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The bundle's urgency was every need's: the migration copies it onto each need."""
    app = create_app(
        test_config(fresh_database_url(f"mig_need_{worker_id}", tmp_path_factory), worker_id)
    )
    ids = {name: uuid.uuid4() for name in ("agency", "client", "night", "day", "n1", "n2", "n3")}
    now = datetime.now(UTC)
    rows = [
        "INSERT INTO agency (id, name, kind, is_victim_service_provider, status, created_at,"
        " updated_at) VALUES (:agency, 'A', 'shelter', false, 'active', :now, :now)",
        "INSERT INTO client (id, reference, owner_agency_id, profile, do_not_refer, created_at)"
        " VALUES (:client, 'C-TEST-0001', :agency, '{}', '[]', :now)",
        "INSERT INTO bundle (id, client_id, sender_agency_id, urgency, created_at) VALUES"
        " (:night, :client, :agency, 'emergency', :now), (:day, :client, :agency, 'routine', :now)",
        "INSERT INTO need (id, bundle_id, category, data_categories) VALUES"
        " (:n1, :night, 'emergency_shelter', '[]'), (:n2, :night, 'immigration_counsel', '[]'),"
        " (:n3, :day, 'primary_care', '[]')",
    ]
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="7d2a4c6e8f10")
            with db.engine.begin() as connection:
                for statement in rows:
                    typed: list[BindParameter[Any]] = [
                        bindparam(key, type_=Uuid()) for key in ids if f":{key}" in statement
                    ]
                    if ":now" in statement:
                        typed.append(bindparam("now", type_=DateTime(timezone=True)))
                    values = {key: value for key, value in ids.items() if f":{key}" in statement}
                    connection.execute(text(statement).bindparams(*typed), values | {"now": now})
            flask_migrate.upgrade(revision="7d2a9c4e1b63")
            with db.engine.connect() as connection:
                found: dict[Any, Any] = dict(
                    connection.execute(text("SELECT id, urgency FROM need")).all()
                )
            assert {uuid.UUID(str(key)): value for key, value in found.items()} == {
                ids["n1"]: "emergency",
                ids["n2"]: "emergency",
                ids["n3"]: "routine",
            }
            flask_migrate.downgrade(revision="7d2a4c6e8f10")
            with db.engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM need")).scalar() == 3
        finally:
            db.session.remove()
            db.engine.dispose()
