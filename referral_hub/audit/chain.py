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
from typing import Any

from referral_hub.audit.canonical import CanonicalizationError, canonical_bytes

GENESIS = "0" * 64
NOT_HASHED = frozenset({"leaf", "chain"})

REASONS = {
    "content": "the event's content does not match its leaf hash (altered)",
    "chain": "the chain hash does not follow from the previous hash and the leaf",
    "rechained": "the event was altered and re-hashed: its successor commits to another hash",
    "gap": "an event is missing from the sequence",
    "reordered": "events are out of order",
    "duplicate": "a sequence number appears twice",
    "truncated": "events after this point are missing (a trusted head or checkpoint is later)",
    "anchor": "the chain hash differs from a trusted head or checkpoint at this sequence number",
    "malformed": "the event is not a well-formed audit record",
}


def leaf_hash(document: Mapping[str, Any]) -> str:
    hashed = {key: value for key, value in document.items() if key not in NOT_HASHED}
    return hashlib.sha256(b"\x00" + canonical_bytes(hashed)).hexdigest()


def chain_hash(previous: str, leaf: str) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(leaf)).hexdigest()


@dataclass
class Verification:
    """Outcome of `verify`: ok, or the first bad sequence number and why."""

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


def verify(
    events: Iterable[Mapping[str, Any]],
    *,
    start_seq: int = 1,
    start_chain: str = GENESIS,
    anchors: Mapping[int, str] | None = None,
) -> Verification:
    """Check events in the order given; `anchors` maps trusted seq → chain hash.

    `start_seq`/`start_chain` let a verifier resume from a trusted checkpoint instead of
    the beginning. The first problem found is reported and checking stops.
    """
    listed = list(events)
    anchors = dict(anchors or {})
    present: dict[int, int] = {}
    for event in listed:
        seq = event.get("seq")
        if isinstance(seq, int):
            present[seq] = present.get(seq, 0) + 1

    expected, previous, checked = start_seq, start_chain, 0
    seen_anchors: list[int] = []

    def bad(seq: int, reason: str) -> Verification:
        return Verification(
            False, checked, expected - 1, previous, seq, reason, REASONS[reason], seen_anchors
        )

    for index, event in enumerate(listed):
        seq = event.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return bad(expected, "malformed")
        if seq != expected:
            if seq < expected:
                return bad(seq, "duplicate" if present.get(seq, 0) > 1 else "reordered")
            return bad(expected, "reordered" if expected in present else "gap")
        stored_leaf, stored_chain, prev = event.get("leaf"), event.get("chain"), event.get("prev")
        if not all(_is_hash(h) for h in (stored_leaf, stored_chain, prev)):
            return bad(seq, "malformed")
        try:
            computed_leaf = leaf_hash(event)
        except CanonicalizationError:
            return bad(seq, "malformed")
        if computed_leaf != stored_leaf:
            return bad(seq, "content")
        if prev != previous:
            # this event is intact but names another predecessor: the predecessor was
            # re-hashed after the fact (or, for the very first event, the start is wrong)
            return bad(seq - 1 if index > 0 else seq, "rechained" if index > 0 else "chain")
        if chain_hash(previous, computed_leaf) != stored_chain:
            return bad(seq, "chain")
        if seq in anchors:
            seen_anchors.append(seq)
            if anchors[seq] != stored_chain:
                return bad(seq, "anchor")
        previous = str(stored_chain)
        expected += 1
        checked += 1

    later = [seq for seq in anchors if seq >= expected]
    if later:
        return bad(expected, "truncated")
    return Verification(True, checked, expected - 1, previous, anchors_checked=seen_anchors)


def _is_hash(value: Any) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
