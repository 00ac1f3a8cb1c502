"""The online check resumes where the last one ended: it reads only the events since (rows
counted, not timed), finds damage after that point, and leaves damage before it to the
full check, which finds it. The verified points themselves are append-only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import Connection, Table, event, text, update
from sqlalchemy.exc import DatabaseError

from referral_hub.audit import checkpoints, oversight, verification
from referral_hub.audit import service as audit
from referral_hub.audit.chain import chain_hash, leaf_hash
from referral_hub.audit.models import AuditEvent, AuditVerification
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.extensions import db

COORDINATOR = Actor(ActorKind.USER, "u-coord", None, frozenset({"coordinator"}))
EVENTS = cast(Table, AuditEvent.__table__)


def add_events(count: int) -> None:
    with transaction():
        for index in range(count):
            audit.record(SYSTEM, "test.happened", ("thing", str(index)))


def verify(*, full: bool = False) -> dict[str, Any]:
    with transaction():
        return oversight.verify(COORDINATOR, full=full)


def connection() -> Connection:
    return cast(Connection, db.engines[None])  # the test's own (see the session fixture)


@contextmanager
def rows_read_from_the_events(counted: list[int]) -> Iterator[None]:
    """Count the rows every SELECT on `audit_event` returned while inside.

    Each statement is captured as sent and afterwards counted by running it again inside
    `SELECT count(*)`, on the same transaction and with the same parameters.
    """
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and " audit_event" in statement:
            seen.append((statement, parameters))

    bind = connection()
    event.listen(bind, "before_cursor_execute", capture)
    try:
        yield
    finally:
        event.remove(bind, "before_cursor_execute", capture)
    for statement, parameters in seen:
        counting = f"SELECT count(*) FROM ({statement}) AS counted"  # noqa: S608 - as sent
        counted.append(int(bind.exec_driver_sql(counting, parameters).scalar_one()))


def _trigger_off(name: str) -> str:
    bind = connection()
    if bind.dialect.name == "postgresql":
        bind.execute(text(f"ALTER TABLE audit_event DISABLE TRIGGER {name}"))
        return f"ALTER TABLE audit_event ENABLE TRIGGER {name}"
    created = bind.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
        {"name": name},
    ).scalar_one()
    bind.execute(text(f"DROP TRIGGER {name}"))
    return str(created)


def tamper(changes: dict[int, dict[str, Any]]) -> None:
    """What an insider with the database's owner rights could do: edit events in place."""
    db.session.expunge_all()
    restore = _trigger_off("audit_event_no_update")
    for seq, values in changes.items():
        connection().execute(update(EVENTS).where(EVENTS.c.seq == seq).values(**values))
    connection().execute(text(restore))


def edit_and_rehash(first: int, last: int) -> None:
    """Edit event `first` and re-hash it and every event after it up to `last`."""
    previous = db.session.get(AuditEvent, first - 1)
    chain = previous.chain_hash if previous is not None else "0" * 64
    changes: dict[int, dict[str, Any]] = {}
    for seq in range(first, last + 1):
        document = cast(AuditEvent, db.session.get(AuditEvent, seq)).document()
        if seq == first:
            document["outcome"] = "denied"
        document["prev"] = chain
        leaf = leaf_hash(document)
        chain = chain_hash(chain, leaf)
        changes[seq] = {"outcome": document["outcome"], "prev_hash": document["prev"]}
        changes[seq] |= {"leaf_hash": leaf, "chain_hash": chain}
    tamper(changes)


def test_the_first_check_is_full_and_the_next_reads_only_the_events_since(
    app: Flask, session: Any
) -> None:
    add_events(30)
    first = verify()
    assert first["ok"]
    assert first["mode"] == "full"
    assert first["from_seq"] == 1
    verified = verification.last_verified()
    assert verified is not None
    assert verified.seq == first["head"]["seq"]
    assert verified.chain_hash == first["head"]["hash"]
    assert verified.full

    add_events(25)  # and the first check's own `audit.verified` event lies between
    head_seq = audit.head()[0]
    counted: list[int] = []
    with transaction():
        with rows_read_from_the_events(counted):  # counted before this check's own record
            checked, how = verification.verify_stored()
        second = {**checked.as_dict(), **how}
    assert second["ok"]
    assert second["mode"] == "incremental"
    assert second["from_seq"] == verified.seq
    # the verified event itself, then each one after it: nothing before it is read
    assert second["events_checked"] == head_seq - verified.seq + 1 == 27
    assert sum(counted) == second["events_checked"], counted
    latest = verification.last_verified()
    assert latest is not None
    assert (latest.seq, latest.full) == (head_seq, False)

    full = verify(full=True)
    assert full["ok"]
    assert full["mode"] == "full"
    assert full["events_checked"] == audit.head()[0] - 1
    recorded = session.query(AuditVerification).filter_by(seq=full["head"]["seq"]).all()
    assert any(row.full and row.events_checked == full["events_checked"] for row in recorded)


def test_damage_after_the_verified_point_is_found_by_the_incremental_check(
    app: Flask, session: Any
) -> None:
    add_events(10)
    anchor = verify()["head"]["seq"]
    add_events(10)
    tamper({anchor + 5: {"outcome": "denied"}})
    report = verify()
    assert report["mode"] == "incremental"
    assert (report["ok"], report["first_bad_seq"], report["reason"]) == (
        False,
        anchor + 5,
        "content",
    )
    assert verification.last_verified().seq == anchor
    recorded = session.get(AuditEvent, audit.head()[0])
    assert (recorded.action, recorded.outcome) == ("audit.verified", "failure")
    assert recorded.details["mode"] == "incremental"


def test_damage_before_the_verified_point_is_found_by_the_full_check(
    app: Flask, session: Any
) -> None:
    add_events(20)
    anchor = verify()["head"]["seq"]
    add_events(5)
    tamper({anchor - 10: {"outcome": "denied"}})
    missed = verify()
    assert missed["ok"]
    assert missed["mode"] == "incremental"  # it does not look back there
    found = verify(full=True)
    assert (found["ok"], found["first_bad_seq"], found["reason"]) == (False, anchor - 10, "content")


def test_a_history_rewritten_up_to_the_verified_point_is_found_there(
    app: Flask, session: Any
) -> None:
    add_events(20)
    anchor = verify()["head"]["seq"]
    add_events(5)
    edit_and_rehash(anchor - 10, anchor)  # consistent up to the verified point
    report = verify()
    assert (report["ok"], report["first_bad_seq"], report["reason"]) == (
        False,
        anchor,
        "verified",
    )
    edited_the_verified_event = {anchor: {"outcome": "denied"}}
    tamper(edited_the_verified_event)
    assert verify()["reason"] == "content"


def test_checkpoints_signed_since_are_checked_and_the_last_one_reported(
    app: Flask, session: Any
) -> None:
    add_events(5)
    with transaction():
        before = checkpoints.make_checkpoint(force=True)
    add_events(2)
    verify()
    add_events(5)
    with transaction():
        after = checkpoints.make_checkpoint(force=True)
    assert before is not None
    assert after is not None
    report = verify()
    assert report["ok"]
    assert report["mode"] == "incremental"
    assert report["checkpoints_checked"] == 1  # only the one signed since the last check
    assert report["last_checkpoint"]["seq"] == after["seq"]
    assert report["unsigned_events"] == report["head"]["seq"] - after["seq"]


def test_verified_points_are_append_only(app: Flask, session: Any) -> None:
    add_events(1)
    verify()
    for statement in ("UPDATE audit_verification SET seq = 1", "DELETE FROM audit_verification"):
        with pytest.raises(DatabaseError), session.begin_nested():
            session.execute(text(statement))
    assert session.query(AuditVerification).count() >= 1


def test_the_api_takes_full_and_says_how_it_checked(
    client: Any, session: Any, act_as: Callable[[Actor], None]
) -> None:
    add_events(3)
    act_as(COORDINATOR)
    first = client.get("/api/v1/audit/verify")
    assert first.status_code == 200, first.json
    second = client.get("/api/v1/audit/verify")
    assert second.json["mode"] == "incremental"
    assert second.json["ok"]
    assert second.json["from_seq"] == first.json["head"]["seq"]
    full = client.get("/api/v1/audit/verify", query_string={"full": "true"})
    assert full.json["mode"] == "full"
    assert full.json["from_seq"] == 1
    assert full.json["ok"]
    before = audit.head()
    for query in ({"full": "sometimes"}, {"fulll": "true"}):
        refused = client.get("/api/v1/audit/verify", query_string=query)
        assert refused.status_code == 422, refused.json
        assert refused.content_type == "application/problem+json"
        assert set(refused.json["errors"]) == set(query)
    assert audit.head() == before
