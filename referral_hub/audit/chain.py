"""The hash chain, pure: hashing an event and verifying a sequence of exported events.

Standard library only (see canonical.py), so an outside auditor can run it without the
hub. An event, as exported, is a JSON object with `seq`, the recorded fields, `prev`
(the chain hash it was appended to), `leaf` and `chain`:

    leaf  = SHA-256(0x00 || canonical JSON of the event without `leaf` and `chain`)
    chain = SHA-256(prev_chain || leaf)          (both as raw 32 bytes)

Because each event's hashed content names its predecessor's chain hash, an event that
was edited and re-hashed in place is caught *at that event*: its successor still
commits to the old hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, NamedTuple

from referral_hub.audit.canonical import CanonicalizationError, canonical_bytes

GENESIS = "0" * 64
_LEAF_PREFIX = sha256(b"\x00")
_NO_LIMIT = float("inf")
NOT_HASHED = frozenset({"leaf", "chain"})
_SPLICED = frozenset({"prev", "seq"})

REASONS = {
    "content": "the event's content does not match its leaf hash (altered)",
    "chain": "the chain hash does not follow from the previous hash and the leaf",
    "rechained": "the event was altered and re-hashed: its successor commits to another hash",
    "gap": "an event is missing from the sequence",
    "reordered": "events are out of order",
    "duplicate": "a sequence number appears twice",
    "truncated": "events from this point on are missing (a trusted head or checkpoint is later)",
    "anchor": "the chain hash differs from the trusted head at this sequence number",
    "verified": (
        "the chain hash differs from what an earlier check verified at this sequence number:"
        " events up to here were altered and re-hashed since"
    ),
    "checkpoint": (
        "the chain hash differs from a signed checkpoint at this sequence number: events up to"
        " here were altered and re-hashed by someone without the signing key"
    ),
    "signature": "a checkpoint's signature is bad or made with a key you do not trust",
    "fork": (
        "two validly signed checkpoints give different chain hashes for this sequence number:"
        " the hub signed two histories"
    ),
    "unanchored": "the export starts after this point, but no signed checkpoint vouches for it",
    "malformed": "the event is not a well-formed audit record",
}


def hashed_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes an event's leaf commits to: its canonical JSON without `leaf` and `chain`."""
    return canonical_bytes({key: value for key, value in document.items() if key not in NOT_HASHED})


def hashed_parts(document: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """The hashed bytes around `prev` and `seq`, for a writer that learns them last.

    `before + prev + between + str(seq) + after` is `hashed_bytes` of the document with
    that `prev` and `seq` (both ASCII: a hex digest and an integer): PostgreSQL's
    `audit_append` splices in what it reads under the head's lock and hashes the result.
    Canonical JSON writes an object as `{`, its members sorted and joined by `,`, then
    `}`; the top-level keys are ASCII, so the members before `prev`, between `prev` and
    `seq`, and after `seq` are each the canonical form of that part of the document.
    """
    parts: tuple[dict[str, Any], dict[str, Any], dict[str, Any]] = ({}, {}, {})
    for key, value in document.items():
        if key in NOT_HASHED or key in _SPLICED:
            continue
        if not isinstance(key, str) or not key.isascii():
            raise CanonicalizationError("an event's own keys are ASCII")
        parts[0 if key < "prev" else 1 if key < "seq" else 2][key] = value
    first, middle, last = (canonical_bytes(part)[1:-1] for part in parts)
    return (
        b"{" + first + (b"," if first else b"") + b'"prev":"',
        b'",' + middle + (b"," if middle else b"") + b'"seq":',
        (b"," + last if last else b"") + b"}",
    )


def leaf_hash(document: Mapping[str, Any]) -> str:
    return leaf_of(hashed_bytes(document))


def leaf_of(hashed: bytes) -> str:
    return hashlib.sha256(b"\x00" + hashed).hexdigest()


def chain_hash(previous: str, leaf: str) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(leaf)).hexdigest()


@dataclass
class Verification:
    """Outcome of a check: ok, or the first bad sequence number and why."""

    ok: bool
    events_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None
    explanation: str | None = None
    anchors_checked: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "explanation": self.explanation,
        }


class Record(NamedTuple):
    """One event as the walk needs it; `hashed` is None when it could not be read."""

    seq: Any
    prev: Any
    leaf: Any
    chain: Any
    hashed: bytes | None


def record_of(document: Mapping[str, Any]) -> Record:
    try:
        hashed: bytes | None = hashed_bytes(document)
    except CanonicalizationError:
        hashed = None
    return Record(
        document.get("seq"),
        document.get("prev"),
        document.get("leaf"),
        document.get("chain"),
        hashed,
    )


def verify(
    events: Iterable[Mapping[str, Any]],
    *,
    start_seq: int = 1,
    start_chain: str = GENESIS,
    anchors: Mapping[int, str] | None = None,
) -> Verification:
    """Check event documents in the order given; `anchors` maps trusted seq → chain hash."""
    trusted = {seq: (chain, "anchor") for seq, chain in (anchors or {}).items()}
    return walk(
        (record_of(event) for event in events),
        start_seq=start_seq,
        start_chain=start_chain,
        anchors=trusted,
    )


def walk(
    records: Iterable[Record],
    *,
    start_seq: int = 1,
    start_chain: str = GENESIS,
    anchors: Mapping[int, tuple[str, str]] | None = None,
    stop_before: int | None = None,
    resumed: bool = False,
) -> Verification:
    """Walk the chain in the order given and stop at the first problem.

    `anchors` maps a trusted seq to (chain hash, the reason to give if it differs).
    `start_seq`/`start_chain` resume from a trusted checkpoint instead of the beginning.
    `stop_before` ends the walk early (a problem already known at that seq wins anyway).
    `resumed` continues a walk another pass began (its first event is not the first seen).
    One pass, constant memory: a missing event is told from a reordered one by looking
    ahead only when the sequence breaks.
    """
    anchors = dict(anchors or {})
    expected, previous = start_seq, start_chain
    previous_raw = bytes.fromhex(start_chain)  # hashing works on raw digests, compares hex
    seen_anchors: list[int] = []
    limit = _NO_LIMIT if stop_before is None else stop_before

    def bad(seq: int, reason: str) -> Verification:
        checked = expected - start_seq
        return Verification(
            False, checked, expected - 1, previous, seq, reason, REASONS[reason], seen_anchors
        )

    iterator = iter(records)
    for record in iterator:  # the hot loop: one record unpacked once, no avoidable call
        if expected >= limit:
            break
        seq, prev, leaf, chain, hashed = record
        if type(seq) is not int:  # a bool is not a seq either
            return bad(expected, "malformed")
        if seq != expected:
            if seq < expected:  # every earlier seq was seen once, in order: this is a copy
                return bad(seq, "duplicate")
            ahead = [record, *_take_until(iterator, expected)]
            later = any(item.seq == expected for item in ahead)
            return bad(expected, "reordered" if later else "gap")
        if hashed is None:
            return bad(seq, "malformed")
        leaf_hasher = _LEAF_PREFIX.copy()  # cheaper than joining 0x00 to the event's bytes
        leaf_hasher.update(hashed)
        leaf_raw = leaf_hasher.digest()
        if leaf_raw.hex() != leaf:
            return bad(seq, "content" if is_hash(leaf) else "malformed")
        if prev != previous:
            if not is_hash(prev):
                return bad(seq, "malformed")
            # this event is intact but names another predecessor: the predecessor was
            # re-hashed after the fact (or, for the very first event, the start is wrong)
            first = seq == start_seq and not resumed
            return bad(seq if first else seq - 1, "chain" if first else "rechained")
        previous_raw = sha256(previous_raw + leaf_raw).digest()
        if previous_raw.hex() != chain:
            return bad(seq, "chain" if is_hash(chain) else "malformed")
        if seq in anchors:
            seen_anchors.append(seq)
            if anchors[seq][0] != chain:
                return bad(seq, anchors[seq][1])
        previous = chain
        expected += 1

    if stop_before is None and any(seq >= expected for seq in anchors):
        return bad(expected, "truncated")
    return Verification(
        True, expected - start_seq, expected - 1, previous, anchors_checked=seen_anchors
    )


def _take_until(records: Iterable[Record], wanted: int, limit: int = 64) -> list[Record]:
    """Read a few records ahead (an event moved by a swap is near where it belongs)."""
    taken: list[Record] = []
    for record in records:
        taken.append(record)
        if record.seq == wanted or len(taken) >= limit:
            break
    return taken


def is_hash(value: Any) -> bool:
    """Checked only when a comparison fails, to tell a malformed field from a wrong one."""
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
