"""Signed checkpoints: when the job signs, key rotation, append-only storage, the export,
and the offline verifier run as an outsider would run it (own process, no app, no database)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from referral_hub.audit import checkpoints, signing, verification
from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditCheckpoint, AuditEvent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction

ROOT = Path(__file__).resolve().parents[2]
OTHER_KEY = "nF3x0P2bq4mJgJ7wYyVw1rXcH6kq0yQvT4m8sA9dE2c="


def add_events(count: int) -> None:
    with transaction():
        for index in range(count):
            audit.record(SYSTEM, "test.happened", ("thing", str(index)))


def test_the_job_signs_the_head_when_enough_events_or_minutes_have_passed(
    app: Flask, session: Any
) -> None:
    with clock.frozen_at(datetime(2026, 3, 1, 9, tzinfo=UTC)) as now:
        add_events(3)
        with transaction():
            first = checkpoints.make_checkpoint()
        assert first is not None
        assert first["seq"] == audit.head()[0]

        add_events(2)
        with transaction():
            assert checkpoints.make_checkpoint() is None  # 2 events, 0 minutes: not yet

        now.advance(timedelta(minutes=app.config["AUDIT_CHECKPOINT_EVERY_MINUTES"]))
        with transaction():
            second = checkpoints.make_checkpoint()
        assert second is not None
        assert second["seq"] == first["seq"] + 2
        with transaction():
            assert checkpoints.make_checkpoint(force=True) is None  # nothing new to sign

    app.config["AUDIT_CHECKPOINT_EVERY_EVENTS"] = 4
    try:
        add_events(4)
        with transaction():
            third = checkpoints.make_checkpoint()
    finally:
        app.config["AUDIT_CHECKPOINT_EVERY_EVENTS"] = 1000
    assert third is not None
    assert third["seq"] == second["seq"] + 4

    latest = checkpoints.latest()
    assert latest is not None
    assert latest.seq == third["seq"]
    assert (latest.seq, latest.chain_hash) == audit.head()
    keys = checkpoints.trusted_keys()
    assert signing.signature_problem(latest.document(), keys) is None
    assert verification.verify_stored(full=True)[0].ok


def test_without_a_key_nothing_is_signed_and_the_log_says_what_to_set(
    app: Flask, session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    add_events(1)
    saved = app.config["AUDIT_SIGNING_KEY"]
    app.config["AUDIT_SIGNING_KEY"] = ""
    try:
        with transaction():
            assert checkpoints.make_checkpoint(force=True) is None
    finally:
        app.config["AUDIT_SIGNING_KEY"] = saved
    assert "set AUDIT_SIGNING_KEY" in caplog.text


def test_checkpoints_and_keys_are_append_only(app: Flask, session: Any) -> None:
    add_events(1)
    with transaction():
        checkpoints.make_checkpoint(force=True)
    for statement in (
        "UPDATE audit_checkpoint SET chain_hash = 'x'",
        "DELETE FROM audit_checkpoint",
        "UPDATE audit_signing_key SET public_key = 'x'",
        "DELETE FROM audit_signing_key",
    ):
        with pytest.raises(DatabaseError), session.begin_nested():
            session.execute(text(statement))
    assert session.query(AuditCheckpoint).count() >= 1


def test_after_rotation_old_checkpoints_verify_with_the_old_public_key(
    app: Flask, session: Any
) -> None:
    saved = app.config["AUDIT_SIGNING_KEY"]
    old = signing.load_private_key(saved).public_key()
    add_events(2)
    with transaction():
        before = checkpoints.make_checkpoint(force=True)
    app.config["AUDIT_SIGNING_KEY"] = OTHER_KEY
    try:
        add_events(2)
        with transaction():
            after = checkpoints.make_checkpoint(force=True)
    finally:
        app.config["AUDIT_SIGNING_KEY"] = saved
    assert before
    assert after
    assert before["key_id"] == signing.key_id(old)
    assert after["key_id"] != before["key_id"]
    listed = {key["key_id"]: key for key in checkpoints.public_keys()}
    assert set(listed) >= {before["key_id"], after["key_id"]}
    assert listed[after["key_id"]]["current"]
    assert not listed[before["key_id"]]["current"]
    assert verification.verify_stored(full=True)[0].ok
    # an auditor who only has the new key is told the older checkpoints are not hers to trust
    only_new = {after["key_id"]: checkpoints.trusted_keys()[after["key_id"]]}
    stored = checkpoints.listed(limit=1000)
    problems = [cp.seq for cp in stored if signing.signature_problem(cp.document(), only_new)]
    assert before["seq"] in problems
    assert after["seq"] not in problems


def run_verifier(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The verifier in a process of its own: clean environment, and the app's libraries
    made unimportable, so it proves it needs only the standard library and cryptography."""
    blocked = ("flask", "sqlalchemy", "marshmallow", "flask_smorest", "authlib", "rq", "redis")
    launcher = (
        "import runpy, sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"sys.argv = ['verify', *{list(args)!r}]\n"
        "runpy.run_module('referral_hub.audit.verify', run_name='__main__')\n"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", launcher],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_exported_chain_verifies_offline_and_a_tampered_copy_does_not(
    app: Flask, session: Any, tmp_path: Path
) -> None:
    add_events(30)
    with transaction():
        checkpoints.make_checkpoint(force=True)
    add_events(5)  # after the checkpoint: left out unless asked for
    runner = app.test_cli_runner()
    export = tmp_path / "audit.jsonl"
    result = runner.invoke(args=["hub", "audit-export", str(export)])
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "hub.pem"
    result = runner.invoke(args=["hub", "audit-public-key"])
    assert result.exit_code == 0, result.output
    key_file.write_text(result.output)

    verified = run_verifier(str(export), "--public-key", str(key_file), cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    head_seq = checkpoints.latest().seq
    assert f"OK: {head_seq:,} events" in verified.stdout

    lines = export.read_bytes().splitlines(keepends=True)
    events = [i for i, line in enumerate(lines) if line.startswith(b'{"leaf"')]
    target = events[len(events) // 2]
    lines[target] = lines[target].replace(b'"test.happened"', b'"test.forgotten"')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"".join(lines))
    seq = head_seq - len(events) + (len(events) // 2) + 1
    refused = run_verifier(str(tampered), "--public-key", str(key_file), cwd=tmp_path)
    assert refused.returncode == 1
    assert f"BAD at seq {seq}: content" in refused.stdout

    wrong_key = tmp_path / "other.pem"
    other = signing.load_private_key(OTHER_KEY).public_key()
    wrong_key.write_text(signing.public_pem(other))
    refused = run_verifier(str(export), "--public-key", str(wrong_key), "--json", cwd=tmp_path)
    assert refused.returncode == 1
    assert '"reason": "signature"' in refused.stdout

    unusable = run_verifier(
        str(export), "--public-key", str(tmp_path / "missing.pem"), cwd=tmp_path
    )
    assert unusable.returncode == 2
    assert "cannot start" in unusable.stderr

    with_tail = tmp_path / "all.jsonl"
    result = runner.invoke(args=["hub", "audit-export", str(with_tail), "--include-unsigned"])
    assert result.exit_code == 0, result.output
    verified = run_verifier(str(with_tail), "--public-key", str(key_file), cwd=tmp_path)
    assert verified.returncode == 0
    assert "5 events after the last checkpoint are unsigned" in verified.stdout


# --- the API ---------------------------------------------------------------------------------

COORDINATOR = Actor(ActorKind.USER, "u-coord", None, frozenset({"coordinator"}))


def test_checkpoints_page_in_seq_order_and_verify_with_the_listed_key(
    client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    made = []
    for _ in range(3):
        add_events(2)
        with transaction():
            made.append(checkpoints.make_checkpoint(force=True)["seq"])  # type: ignore[index]
    act_as(COORDINATOR)
    keys = client.get("/api/v1/audit/public-key")
    assert keys.status_code == 200, keys.json
    current = keys.json["current_key_id"]
    listed = {key["key_id"]: key for key in keys.json["keys"]}
    assert listed[current]["current"]
    assert listed[current]["algorithm"] == "Ed25519"
    trusted = signing.load_public_keys(listed[current]["pem"])

    seen, cursor = [], None
    while True:
        query = {"limit": 2, "after_seq": made[0] - 1} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/audit/checkpoints", query_string=query)
        assert page.status_code == 200, page.json
        seen += page.json["items"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert [item["seq"] for item in seen] == made
    assert all(signing.signature_problem(item, trusted) is None for item in seen)


def test_online_verification_reports_and_is_recorded(
    client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    add_events(3)
    with transaction():
        checkpoints.make_checkpoint(force=True)
    act_as(COORDINATOR)
    response = client.get("/api/v1/audit/verify")
    assert response.status_code == 200, response.json
    report = response.json
    assert report["ok"]
    assert report["first_bad_seq"] is None
    assert report["head"]["seq"] == report["events_checked"] > 0
    assert report["last_checkpoint"]["seq"] <= report["head"]["seq"]
    seq, _ = audit.head()
    recorded = session.get(AuditEvent, seq)
    assert recorded.action == "audit.verified"
    assert recorded.outcome == "success"
    assert recorded.details["events_checked"] == report["events_checked"]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/audit/checkpoints", {"after_seq": "-1"}, "after_seq"),
        ("/api/v1/audit/checkpoints", {"after_seq": "x"}, "after_seq"),
        ("/api/v1/audit/checkpoints", {"limit": "0"}, "limit"),
        ("/api/v1/audit/checkpoints", {"cursor": "forged"}, "cursor"),
    ],
)
def test_bad_checkpoint_queries_are_422_naming_the_field(
    client: Any, session: Any, act_as: Callable[[Actor], None], path: str, query: Any, field: str
) -> None:
    act_as(COORDINATOR)
    before = audit.head()
    response = client.get(path, query_string=query)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]
    assert audit.head() == before


@pytest.mark.parametrize("path", ["/checkpoints", "/public-key", "/verify"])
@pytest.mark.parametrize("role", ["intake", "provider", "agency_admin"])
def test_only_oversight_reads_checkpoints_keys_and_verification(
    client: Any, session: Any, act_as: Callable[[Actor], None], path: str, role: str
) -> None:
    act_as(Actor(ActorKind.USER, "u-other", None, frozenset({role})))
    assert client.get("/api/v1/audit" + path).status_code == 403
