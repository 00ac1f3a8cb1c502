"""Migrations: from empty to head, identical to the models, down to nothing and up again."""

from __future__ import annotations

import flask_migrate
import pytest
from sqlalchemy import inspect

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
