"""`flask hub …` commands: they do the work, say what happened, and say what to do on error."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from referral_hub.agencies.models import Agency, User
from referral_hub.audit import service as audit
from referral_hub.demo import AGENCIES, USERS
from referral_hub.demo.showcase import SHOWCASE


def invoke(app: Flask, *args: str, **kwargs: Any) -> Any:
    return app.test_cli_runner().invoke(args=["hub", *args], **kwargs)


def test_create_agency_and_user(app: Flask, session: Any) -> None:
    result = invoke(
        app,
        "create-agency",
        "--name",
        "Cli Shelter",
        "--kind",
        "shelter",
        "--victim-service-provider",
    )
    assert result.exit_code == 0, result.output
    agency = session.scalar(select(Agency).where(Agency.name == "Cli Shelter"))
    assert agency.is_victim_service_provider
    assert f"agency {agency.id} created" in result.output

    result = invoke(
        app,
        "create-user",
        "--agency",
        "Cli Shelter",
        "--email",
        "Pat@Shelter.example",
        "--name",
        "Pat",
        "--role",
        "provider",
        "--role",
        "agency_admin",
        input="s3cret-pass\ns3cret-pass\n",
    )
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.email == "pat@shelter.example"))
    assert user.roles == ["agency_admin", "provider"]
    assert user.password_hash.startswith("$argon2id$")
    assert "s3cret-pass" not in result.output


def test_errors_say_what_to_do(app: Flask, session: Any) -> None:
    result = invoke(
        app,
        "create-user",
        "--agency",
        "Nowhere",
        "--email",
        "a@b.example",
        "--name",
        "A",
        "--role",
        "intake",
        "--password",
        "x",
    )
    assert result.exit_code != 0
    assert "flask hub create-agency" in result.output
    invoke(app, "create-agency", "--name", "Twice", "--kind", "other")
    again = invoke(app, "create-agency", "--name", "twice", "--kind", "other")
    assert again.exit_code != 0
    assert "Already taken" in again.output


def test_seed_demo_is_idempotent_and_shows_progress(app: Flask, session: Any) -> None:
    first = invoke(app, "seed-demo")
    assert first.exit_code == 0, first.output
    assert f"agencies {len(AGENCIES)}/{len(AGENCIES)}" in first.output
    assert f"family shelters and night services {len(SHOWCASE)}/{len(SHOWCASE)}" in first.output
    seq_after_first = audit.head()[0]
    second = invoke(app, "seed-demo")
    assert "(0 new records)" in second.output
    assert audit.head()[0] == seq_after_first
    emails = set(session.scalars(select(User.email)))
    assert {email for email, *_ in USERS} <= emails


def test_audit_verify_reports_ok(app: Flask, session: Any) -> None:
    invoke(app, "seed-demo")
    result = invoke(app, "audit-verify")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")


def test_seed_bench_adds_searchable_services_with_history(app: Flask, session: Any) -> None:
    from sqlalchemy import func

    from referral_hub.core.actor import SYSTEM
    from referral_hub.directory.models import CapacityChange, Service
    from referral_hub.directory.search import SearchQuery, search

    result = invoke(app, "seed-bench", "--services", "60")
    assert result.exit_code == 0, result.output
    assert "services 60/60" in result.output
    count = session.scalar(
        select(func.count()).select_from(Service).where(Service.name.like("Bench %"))
    )
    assert count == 60
    assert session.scalar(select(func.count()).select_from(CapacityChange)) >= 60 * 4
    assert search(SYSTEM, SearchQuery(limit=5))  # the synthetic rows are real search rows


def test_hub_help_answers_without_building_the_app() -> None:
    """`flask hub --help` comes from the package's entry point: it lists every command
    without importing the database layer, the API or the app (so it answers at once)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flask", "--app", "wsgi", "hub", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for command in ("create-agency", "seed-demo", "serve", "audit-verify", "erase-client"):
        assert command in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = {"sqlalchemy", "flask_sqlalchemy", "marshmallow", "authlib", "referral_hub.app"}
    assert not heavy & imported, heavy & imported
