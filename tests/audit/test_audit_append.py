"""Appending on PostgreSQL hashes in the database (`audit_append`, one call per event) and
must give the bytes and hashes the Python code gives: the same chain, verified by the
unchanged verifiers. On SQLite the Python path appends; the same tests hold there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from referral_hub.audit import checkpoints, verification
from referral_hub.audit import service as audit
from referral_hub.audit.chain import chain_hash, hashed_bytes, hashed_parts, leaf_hash
from referral_hub.audit.models import AuditEvent
from referral_hub.audit.verify import verify_file
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from tests.audit.test_audit_chain import json_values

# what details may hold (assert_no_pii: str up to its limit, int, bool, None, lists, dicts)
AWKWARD: list[dict[str, Any]] = [
    {},
    {"empty": "", "list": [], "object": {}, "none": None, "yes": True, "no": False},
    {"big": 2**53 - 1, "small": -(2**53) + 1, "zero": 0, "ints": [1, -1, 10**15]},
    {"unicode": "é中文ß ﬁ 🏠 \u200b \u202e", "combining": "e\u0301", "bmp_end": "\uffff"},
    {
        "quote": '"prev":"' + "0" * 64 + '",',
        "seq": 'x","seq":1,',
        "escapes": "\\ \n \t \x01 \x1f \x7f",
    },
    {"nested": {"prev": "a" * 64, "seq": 12, "deeper": [{"leaf": "", "chain": [None, {}]}]}},
    {"ключ": "значение", "ä": 1, "\ue000": 2, "😀": 3, "A": 4, "a": 5},  # non-ASCII keys
    {"z": [[[[["deep"]]]]], "a": {"b": {"c": {"d": {"e": ""}}}}},
]


def statements_sent(into: list[str]) -> Any:
    def count(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "SAVEPOINT" not in statement:  # the test's transaction() nests in the session's
            into.append(statement)

    return count


@pytest.mark.parametrize("details", AWKWARD, ids=range(len(AWKWARD)))
def test_the_appended_hashes_are_the_python_hashes(session: Any, details: dict[str, Any]) -> None:
    actor = Actor(ActorKind.USER, "ü-ser", None, frozenset({"provider", "intake"}))
    start, previous = audit.head()
    with transaction():
        first = audit.record(actor, "test.awkward", ("thing", "ω"), details=details)
        second = audit.record(SYSTEM, "test.awkward", None, fields=["b", "a"], details=details)
    for expected_seq, recorded in enumerate((first, second), start=start + 1):
        stored = session.scalars(select(AuditEvent).where(AuditEvent.seq == expected_seq)).one()
        document = stored.document()
        assert document["details"] == details
        assert stored.prev_hash == previous
        assert stored.leaf_hash == leaf_hash(document)  # Python's hash of the stored bytes
        assert stored.chain_hash == chain_hash(previous, stored.leaf_hash)
        # the caller's object learns what the database chained it as
        assert (recorded.seq, recorded.prev_hash, recorded.leaf_hash, recorded.chain_hash) == (
            stored.seq,
            stored.prev_hash,
            stored.leaf_hash,
            stored.chain_hash,
        )
        previous = stored.chain_hash
    assert audit.head() == (start + 2, previous)


def test_each_event_is_one_statement_on_postgresql(session: Any) -> None:
    with transaction():
        audit.record(SYSTEM, "test.warmed")
    sent: list[str] = []
    bind = session.get_bind()
    listener = statements_sent(sent)
    event.listen(bind, "before_cursor_execute", listener)
    try:
        with transaction():
            audit.record(SYSTEM, "test.counted", details={"i": 1})
            audit.record(SYSTEM, "test.counted", details={"i": 2})
    finally:
        event.remove(bind, "before_cursor_execute", listener)
    if bind.dialect.name == "postgresql":
        assert len(sent) == 2
        assert all("audit_append(" in statement for statement in sent)
    else:  # the head's locking read, one insert for both, the head moved past each
        assert len(sent) == 4
    assert verification.verify_stored(full=True)[0].ok


def test_appended_chains_verify_online_and_offline(
    app: Flask, session: Any, tmp_path: Path
) -> None:
    for batch in range(5):
        with transaction():
            for index in range(batch + 1):
                audit.record(SYSTEM, "test.appended", ("thing", str(index)), details=AWKWARD[index])
    with transaction():
        checkpoints.make_checkpoint(force=True)
    head_seq, head_chain = audit.head()
    assert audit.verify_stored().ok
    report, _ = verification.verify_stored(full=True)
    assert report.ok
    assert report.verification.events_checked == head_seq
    header, lines = checkpoints.export_lines()
    export = tmp_path / "audit.jsonl"
    export.write_bytes(b"".join(lines))
    offline = verify_file(export, checkpoints.trusted_keys())
    assert offline.ok, offline.as_dict()
    assert (offline.verification.head_seq, offline.verification.head_hash) == (
        head_seq,
        head_chain,
    )
    assert header["to_seq"] == head_seq


@settings(max_examples=300)
@given(
    details=st.dictionaries(st.text(), json_values, max_size=4),  # floats too: pure hashing
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    prev=st.binary(min_size=32, max_size=32).map(bytes.hex),
    extra=st.dictionaries(
        st.sampled_from(["action", "at", "request_id", "r", "subject", "v"]),
        json_values,
        max_size=4,
    ),
)
def test_the_parts_around_prev_and_seq_splice_into_the_hashed_bytes(
    details: dict[str, Any], seq: int, prev: str, extra: dict[str, Any]
) -> None:
    # `extra` may leave the members before `prev`, between it and `seq`, or after `seq` empty
    document = {
        **extra,
        "details": details,
        "seq": seq,
        "prev": prev,
        "leaf": "ignored",
        "chain": "ignored",
    }
    before, between, after = hashed_parts(document)
    spliced = before + prev.encode() + between + str(seq).encode() + after
    assert spliced == hashed_bytes(document)


def test_the_append_call_opens_the_transaction_in_a_get_that_has_only_read() -> None:
    """A GET reads in autocommit until its first write (`core/lazy_begin.py`): the append
    is a SELECT of a function that writes, and must say so, or it would commit alone."""
    from referral_hub.audit import service as audit_service
    from referral_hub.core.lazy_begin import is_plain_read

    assert not is_plain_read(audit_service._APPEND_IN_DATABASE)
    assert is_plain_read("SELECT seq FROM audit_event LIMIT 1")
