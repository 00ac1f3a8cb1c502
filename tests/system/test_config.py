"""Configuration: environment overrides, and production refusing to start unsafely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from referral_hub import create_app
from referral_hub.core.settings import ConfigurationError, from_environment

GOOD_KEY = "x8FV2OcxCf0kc8qgpdFHBf2777wxNZdVKV31oICUEu8="


def production(**overrides: Any) -> dict[str, Any]:
    config = {
        "HUB_ENV": "production",
        "SECRET_KEY": "s" * 48,
        "FIELD_ENCRYPTION_KEYS": [GOOD_KEY],
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://hub@127.0.0.1:5432/hub",
        "DEBUG": False,
    }
    config.update(overrides)
    return config


def test_environment_overrides_are_typed_like_their_defaults() -> None:
    values = from_environment(
        {
            "REFERRAL_HUB_OUTBOX_MAX_ATTEMPTS": "3",
            "REFERRAL_HUB_SMTP_STARTTLS": "false",
            "REFERRAL_HUB_FIELD_ENCRYPTION_KEYS": "new-key, old-key",
            "REFERRAL_HUB_READINESS_TIMEOUT_SECONDS": "2.5",
            "DATABASE_URL": "postgres://hub@db/hub",
            "REFERRAL_HUB_NOT_A_SETTING": "ignored",
        }
    )
    assert values == {
        "OUTBOX_MAX_ATTEMPTS": 3,
        "SMTP_STARTTLS": False,
        "FIELD_ENCRYPTION_KEYS": ["new-key", "old-key"],
        "READINESS_TIMEOUT_SECONDS": 2.5,
        "SQLALCHEMY_DATABASE_URI": "postgres://hub@db/hub",
    }


def test_a_malformed_override_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="REFERRAL_HUB_SMTP_STARTTLS"):
        from_environment({"REFERRAL_HUB_SMTP_STARTTLS": "maybe"})


def test_production_starts_with_real_settings() -> None:
    app = create_app(production())
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": ""}, "REFERRAL_HUB_SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "at least 32"),
        ({"FIELD_ENCRYPTION_KEYS": []}, "REFERRAL_HUB_FIELD_ENCRYPTION_KEYS"),
        ({"DEBUG": True}, "DEBUG"),
        ({"SQLALCHEMY_DATABASE_URI": "sqlite:///hub.db"}, "PostgreSQL"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_app(production(**overrides))


def test_postgres_urls_get_the_psycopg3_driver() -> None:
    app = create_app(production(SQLALCHEMY_DATABASE_URI="postgres://hub@db:5432/hub"))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://hub@db:5432/hub"


def test_postgres_connections_give_up_instead_of_hanging() -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql://u@db.example/hub"})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"connect_timeout": 5}
    assert app.config["SQLALCHEMY_BINDS"]["keys"]["connect_args"] == {"connect_timeout": 5}
    sqlite = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "connect_args" not in sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]


def test_embedded_mode_makes_and_keeps_its_own_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_HUB_INSTANCE_PATH", str(tmp_path))
    first = create_app({"HUB_ENV": "embedded", "SQLALCHEMY_DATABASE_URI": ""})
    second = create_app({"HUB_ENV": "embedded", "SQLALCHEMY_DATABASE_URI": ""})
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["FIELD_ENCRYPTION_KEYS"] == second.config["FIELD_ENCRYPTION_KEYS"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0
    assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'referral_hub.db'}"
