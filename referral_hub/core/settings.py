"""Load configuration: defaults → mode module → environment → explicit overrides.

Production refuses to start on anything that would make it unsafe; embedded mode makes
its own secrets once, in the instance folder, so a first run needs no setup at all.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from flask import Flask

import config.default as defaults
from referral_hub.core.crypto import new_key, new_signing_key_text

PREFIX = "REFERRAL_HUB_"
DEFAULT_SECRET_KEY = ""


class ConfigurationError(RuntimeError):
    """The hub would start unsafely; the message says which setting to fix."""


def _parse(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"expected true or false, got {raw!r}")
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    if isinstance(like, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(like, dict):
        return json.loads(raw)
    return raw


def settings_keys() -> list[str]:
    return [name for name in vars(defaults) if name.isupper()]


def from_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """Every REFERRAL_HUB_<KEY> that names a known setting, typed like its default."""
    values: dict[str, Any] = {}
    if environ.get("DATABASE_URL"):
        values["SQLALCHEMY_DATABASE_URI"] = environ["DATABASE_URL"]
    if environ.get("REDIS_URL"):
        values["REDIS_URL"] = environ["REDIS_URL"]
    for key in settings_keys():
        raw = environ.get(PREFIX + key)
        if raw is None:
            continue
        try:
            values[key] = _parse(raw, getattr(defaults, key))
        except (ValueError, ConfigurationError) as exc:
            raise ConfigurationError(f"{PREFIX}{key}: {exc}") from None
    return values


def load(app: Flask, overrides: dict[str, Any] | None) -> None:
    app.config.from_object(defaults)
    mode = (overrides or {}).get("HUB_ENV") or os.environ.get(PREFIX + "HUB_ENV") or "embedded"
    if (overrides or {}).get("TESTING") or mode == "testing":
        app.config.from_object("config.testing")
    app.config.update(from_environment(os.environ))
    app.config.update(overrides or {})
    # a copy: the options are filled in below, and a caller's dict must stay as it was
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = dict(
        app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    )
    _normalise_database_url(app)
    _check_display_zone(app.config["DISPLAY_TIMEZONE"])
    # bound parameters may carry survivor data: keep them out of exception messages
    app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("hide_parameters", True)
    if app.config["HUB_ENV"] == "production":
        check_production(app.config)
        app.config["SESSION_COOKIE_SECURE"] = True
    elif app.config["HUB_ENV"] == "embedded":
        _embedded_secrets(app)


def _check_display_zone(name: str) -> None:
    """A misspelt zone must stop the start, not turn every page with a time into a 500."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"{PREFIX}DISPLAY_TIMEZONE: {name!r} is not an IANA time zone (e.g. America/Chicago)"
        ) from None


def _normalise_database_url(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = "sqlite:///" + str(Path(app.instance_path) / "referral_hub.db")
    if url.startswith(("postgres://", "postgresql://")):  # make psycopg 3 the driver
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    keys_url = app.config.get("KEYSTORE_DATABASE_URI") or ""
    if not keys_url:
        if url == "sqlite://":
            keys_url = "sqlite://"
        elif url.startswith("sqlite:///"):
            keys_url = url.rsplit(".", 1)[0] + "-keys.db" if url.endswith(".db") else url + "-keys"
        else:
            keys_url = url
    if keys_url.startswith(("postgres://", "postgresql://")):
        keys_url = "postgresql+psycopg://" + keys_url.split("://", 1)[1]
    app.config["KEYSTORE_DATABASE_URI"] = keys_url
    # hide_parameters: bound values may be key material; keep them out of error messages
    keys_bind: dict[str, Any] = {"url": keys_url, "hide_parameters": True}
    # a database host that stops answering (rather than refusing) must not hang requests
    # until gunicorn kills the worker: give up connecting and answer 503
    timeout = {"connect_timeout": int(app.config["DATABASE_CONNECT_TIMEOUT_SECONDS"])}
    if url.startswith("postgresql"):
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        options["connect_args"] = {**options.get("connect_args", {}), **timeout}
    if keys_url.startswith("postgresql"):
        keys_bind["connect_args"] = dict(timeout)
    app.config["SQLALCHEMY_BINDS"] = {"keys": keys_bind}


def check_production(config: Any) -> None:
    """Refuse to run in production with defaults or debug; say what to set."""
    problems = []
    if not config.get("SECRET_KEY") or config["SECRET_KEY"] == DEFAULT_SECRET_KEY:
        problems.append("set REFERRAL_HUB_SECRET_KEY to a long random value")
    elif len(config["SECRET_KEY"]) < 32:
        problems.append("REFERRAL_HUB_SECRET_KEY must be at least 32 characters")
    if not config.get("FIELD_ENCRYPTION_KEYS"):
        problems.append(
            "set REFERRAL_HUB_FIELD_ENCRYPTION_KEYS (generate one with `flask hub new-key`)"
        )
    if config.get("DEBUG"):
        problems.append("turn DEBUG off (REFERRAL_HUB_DEBUG=false)")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        problems.append("set DATABASE_URL to PostgreSQL")
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))


def _embedded_secrets(app: Flask) -> None:
    """Create (once) and reuse the secret, encryption and signing keys in the instance folder."""
    path = Path(app.instance_path) / "secrets.json"
    stored: dict[str, Any] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    changed = False
    if not stored.get("SECRET_KEY"):
        stored["SECRET_KEY"] = os.urandom(32).hex()
        changed = True
    if not stored.get("FIELD_ENCRYPTION_KEYS"):
        stored["FIELD_ENCRYPTION_KEYS"] = [new_key()]
        changed = True
    if not stored.get("AUDIT_SIGNING_KEY"):
        stored["AUDIT_SIGNING_KEY"] = new_signing_key_text()
        changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = stored["SECRET_KEY"]
    if not app.config["FIELD_ENCRYPTION_KEYS"]:
        app.config["FIELD_ENCRYPTION_KEYS"] = stored["FIELD_ENCRYPTION_KEYS"]
    if not app.config["AUDIT_SIGNING_KEY"]:
        app.config["AUDIT_SIGNING_KEY"] = stored["AUDIT_SIGNING_KEY"]
