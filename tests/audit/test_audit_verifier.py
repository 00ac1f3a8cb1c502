"""The offline verifier against a 10,000-event export: every kind of tampering, 100 random
trials each, is reported at its exact seq and named; an untouched export verifies. Walked
in segments on two processes, every one of those exports gets the one-pass walk's report.

The tamperer may edit the file in any way and re-hash what she likes, but has no signing
key — except in the fork case, where the hub itself re-signs a rewritten history and the
auditor holds a checkpoint from before.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from referral_hub.audit import parallel, sample, signing
from referral_hub.audit.chain import GENESIS
from referral_hub.audit.verify import (
    Report,
    check,
    json_line,
    read_event,
    read_export,
    verify_file,
)

# twenty signed checkpoints, as a real export has many: what the trials probe is where
# damage falls between checkpoints and segment boundaries, not the chain's length
EVENTS = 4_000
EVERY = 200
TRIALS = 100
PARALLEL_TRIALS = 12  # each writes and reads the export twice, with two worker processes
SEGMENTS = 16  # many segment boundaries for damage to fall near
HUB_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUSTED = {signing.key_id(HUB_KEY.public_key()): HUB_KEY.public_key()}


@pytest.fixture(scope="module")
def export() -> sample.SampleExport:
    return sample.build(EVENTS, HUB_KEY, checkpoint_every=EVERY)


def verify(export: sample.SampleExport, held: list[dict[str, Any]] | None = None) -> Report:
    return check(export.events, export.checkpoints, TRUSTED, held=held or [])


def first_checkpoint_from(seq: int) -> int:
    return min(c for c in range(EVERY, EVENTS + 1, EVERY) if c >= seq)


def edited(line: bytes) -> bytes:
    """The event's body with one field changed (what an insider would want to hide)."""
    body = sample.body_of(line)
    return body.replace(b'"outcome":"success"', b'"outcome":"denied!"')


def rechain(events: list[bytes], k: int, body: bytes, until: int = EVENTS) -> list[bytes]:
    """Events with seq k replaced by `body` and re-hashed onward up to seq `until`."""
    events = list(events)
    previous = GENESIS if k == 1 else read_event(events[k - 2]).chain
    for seq in range(k, until + 1):
        current = body if seq == k else sample.with_prev(sample.body_of(events[seq - 1]), previous)
        events[seq - 1], previous = sample.line_for(current, previous)
    return events


def resign(
    checkpoints: list[dict[str, Any]], events: list[bytes], key: Ed25519PrivateKey, from_seq: int
) -> list[dict[str, Any]]:
    """Checkpoints from `from_seq` on signed again by `key` over the events' chain hashes."""
    return [
        cp
        if cp["seq"] < from_seq
        else signing.sign_checkpoint(
            key, cp["seq"], read_event(events[cp["seq"] - 1]).chain, cp["at"]
        )
        for cp in checkpoints
    ]


# each trial tampers with a copy and returns (the export, held checkpoints, expected seq, class)
Trial = Callable[
    [sample.SampleExport, random.Random],
    tuple[sample.SampleExport, list[dict[str, Any]], int, str],
]


def flip_a_byte(ex: sample.SampleExport, rng: random.Random) -> Any:
    k = rng.randint(1, EVENTS)
    line = ex.events[k - 1]
    at = line.index(b'"event_id":"') + len(b'"event_id":"') + rng.randrange(32)
    flipped = b"0" if line[at : at + 1] != b"0" else b"1"
    events = list(ex.events)
    events[k - 1] = line[:at] + flipped + line[at + 1 :]
    return replace(ex, events=events), [], k, "content"


def edit_and_rehash_one(ex: sample.SampleExport, rng: random.Random) -> Any:
    k = rng.randint(1, EVENTS - 1)
    # on a signed seq the checkpoint catches it first; elsewhere the successor does
    reason = "checkpoint" if k % EVERY == 0 else "rechained"
    return (
        replace(ex, events=rechain(ex.events, k, edited(ex.events[k - 1]), until=k)),
        [],
        k,
        reason,
    )


def edit_and_rehash_to_the_end(ex: sample.SampleExport, rng: random.Random) -> Any:
    k = rng.randint(1, EVENTS)
    events = rechain(ex.events, k, edited(ex.events[k - 1]))
    return replace(ex, events=events), [], first_checkpoint_from(k), "checkpoint"


def delete_one(ex: sample.SampleExport, rng: random.Random) -> Any:
    k = rng.randint(1, EVENTS - 1)
    return replace(ex, events=ex.events[: k - 1] + ex.events[k:]), [], k, "gap"


def swap_neighbours(ex: sample.SampleExport, rng: random.Random) -> Any:
    k = rng.randint(1, EVENTS - 1)
    events = list(ex.events)
    events[k - 1], events[k] = events[k], events[k - 1]
    return replace(ex, events=events), [], k, "reordered"


def truncate(ex: sample.SampleExport, rng: random.Random) -> Any:
    k = rng.randint(1, EVENTS)
    return replace(ex, events=ex.events[: k - 1]), [], k, "truncated"


def forge_a_checkpoint(ex: sample.SampleExport, rng: random.Random) -> Any:
    index = rng.randrange(len(ex.checkpoints))
    forged = dict(ex.checkpoints[index], chain=f"{rng.getrandbits(256):064x}")
    checkpoints = list(ex.checkpoints)
    checkpoints[index] = forged
    return replace(ex, checkpoints=checkpoints), [], forged["seq"], "signature"


def replace_the_key(ex: sample.SampleExport, rng: random.Random) -> Any:
    """Rewrite from k, re-sign with a key of one's own and put it in the export."""
    k = rng.randint(1, EVENTS)
    forger = Ed25519PrivateKey.generate()
    events = rechain(ex.events, k, edited(ex.events[k - 1]))
    checkpoints = resign(ex.checkpoints, events, forger, first_checkpoint_from(k))
    keys = [json_line("public_key", {"key_id": signing.key_id(forger.public_key())})]
    return (
        replace(ex, events=events, checkpoints=checkpoints, keys=keys),
        [],
        first_checkpoint_from(k),
        "signature",
    )


def hub_signs_a_second_history(ex: sample.SampleExport, rng: random.Random) -> Any:
    """The hub rewrites from k and re-signs with its own key; the auditor kept an old one."""
    k = rng.randint(1, EVENTS)
    events = rechain(ex.events, k, edited(ex.events[k - 1]))
    checkpoints = resign(ex.checkpoints, events, HUB_KEY, first_checkpoint_from(k))
    kept = rng.choice([cp for cp in ex.checkpoints if cp["seq"] >= k])
    return replace(ex, events=events, checkpoints=checkpoints), [kept], kept["seq"], "fork"


TRIALS_BY_CLASS: dict[str, Trial] = {
    "flip a byte": flip_a_byte,
    "edit and re-hash one event": edit_and_rehash_one,
    "edit and re-chain to the end": edit_and_rehash_to_the_end,
    "delete": delete_one,
    "swap neighbours": swap_neighbours,
    "truncate": truncate,
    "forge a checkpoint": forge_a_checkpoint,
    "replace the key": replace_the_key,
    "two signed histories": hub_signs_a_second_history,
}


def test_an_untouched_export_verifies(export: sample.SampleExport) -> None:
    report = verify(export)
    assert report.ok, report.as_dict()
    assert report.verification.events_checked == EVENTS
    assert report.checkpoints_checked == EVENTS // EVERY
    assert report.unsigned_events == 0
    assert report.verification.head_hash == export.chains[-1]


@pytest.mark.parametrize("kind", TRIALS_BY_CLASS)
def test_tampering_is_reported_at_its_seq_and_named(kind: str, export: sample.SampleExport) -> None:
    rng = random.Random(f"{kind}-trials")
    misses = []
    for _ in range(TRIALS):
        tampered, held, seq, reason = TRIALS_BY_CLASS[kind](export, rng)
        result = verify(tampered, held).verification
        if (result.ok, result.first_bad_seq, result.reason) != (False, seq, reason):
            misses.append((seq, reason, result.first_bad_seq, result.reason))
    assert not misses, f"{len(misses)}/{TRIALS} wrong: {misses[:5]}"


def test_the_untouched_export_still_verifies_with_held_checkpoints(
    export: sample.SampleExport,
) -> None:
    assert verify(export, held=export.checkpoints[:3]).ok


def test_a_truncated_export_that_also_drops_its_checkpoints_is_caught_by_held_ones(
    export: sample.SampleExport,
) -> None:
    kept = export.checkpoints[-1]  # the auditor saved the latest checkpoint last month
    cut = replace(export, events=export.events[: 14 * EVERY], checkpoints=export.checkpoints[:14])
    assert verify(cut).ok  # on its own the shorter export looks whole …
    result = verify(cut, held=[kept]).verification  # … but not to someone holding a later one
    assert (result.first_bad_seq, result.reason) == (14 * EVERY + 1, "truncated")


def test_reformatted_lines_are_parsed_and_give_the_same_verdicts(
    export: sample.SampleExport,
) -> None:
    """Pretty-printed lines take the slow path (parse and canonicalise): same answers."""

    def reformat(line: bytes) -> bytes:
        return json.dumps(json.loads(line), indent=None, separators=(", ", ": ")).encode() + b"\n"

    small = sample.build(600, HUB_KEY, checkpoint_every=EVERY)
    pretty = replace(small, events=[reformat(line) for line in small.events])
    assert verify(pretty).ok
    tampered = list(pretty.events)
    tampered[42] = tampered[42].replace(b'"outcome": "success"', b'"outcome": "failure"')
    result = verify(replace(pretty, events=tampered)).verification
    assert (result.first_bad_seq, result.reason) == (43, "content")


def test_an_export_starting_late_needs_a_checkpoint_to_vouch_for_its_start(
    export: sample.SampleExport,
) -> None:
    tail = export.events[EVERY:]
    assert check(tail, export.checkpoints, TRUSTED, from_seq=EVERY + 1).ok
    unvouched = export.events[EVERY + 10 :]
    result = check(unvouched, export.checkpoints, TRUSTED, from_seq=EVERY + 11).verification
    assert (result.first_bad_seq, result.reason) == (EVERY + 10, "unanchored")


# --- the same verdicts, walked in segments on two processes ---------------------------------


def both_ways(path: Path, held: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    one_pass = verify_file(path, TRUSTED, held).as_dict()
    segmented = verify_file(path, TRUSTED, held, processes=2, segments=SEGMENTS).as_dict()
    return one_pass, segmented


@pytest.mark.parametrize("kind", TRIALS_BY_CLASS)
def test_segments_on_two_processes_give_the_one_pass_report(
    kind: str, export: sample.SampleExport, tmp_path: Path
) -> None:
    rng = random.Random(f"{kind}-segments")
    path = tmp_path / "export.jsonl"
    for _ in range(PARALLEL_TRIALS):
        tampered, held, seq, reason = TRIALS_BY_CLASS[kind](export, rng)
        path.write_bytes(b"".join(tampered.lines()))
        one_pass, segmented = both_ways(path, held)
        assert (one_pass["first_bad_seq"], one_pass["reason"]) == (seq, reason)
        assert segmented == one_pass


def test_damage_at_every_segment_boundary_gets_the_one_pass_report(
    export: sample.SampleExport, tmp_path: Path
) -> None:
    """Where a worker's walk begins or ends: a flipped byte, a swap, a gap, a copy, a cut."""
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(export.lines()))
    firsts = []
    with path.open("rb") as file:
        for start in parallel.boundaries(path, SEGMENTS)[1::2]:  # half of them: time
            file.seek(start)
            firsts.append(read_event(file.readline()).seq)
    assert len(firsts) == SEGMENTS // 2
    assert all(isinstance(seq, int) for seq in firsts)

    def damaged(events: list[bytes], k: int) -> dict[str, list[bytes]]:
        flipped = events[k - 1].replace(b'"outcome":"success"', b'"outcome":"failure"')
        return {
            "flip": [*events[: k - 1], flipped, *events[k:]],
            "swap": [*events[: k - 2], events[k - 1], events[k - 2], *events[k:]],
            "gap": [*events[: k - 1], *events[k:]],
            "copy": [*events[:k], events[k - 1], *events[k:]],
            "cut": events[: k - 1],
        }

    for first in firsts:
        for k in (first - 1, first):  # the last event of a segment, the first of the next
            for name, events in damaged(export.events, k).items():
                path.write_bytes(b"".join(replace(export, events=events).lines()))
                one_pass, segmented = both_ways(path, [])
                assert not one_pass["ok"], (name, k)
                assert segmented == one_pass, (name, k)


def test_an_untouched_export_and_a_late_start_verify_the_same_in_segments(
    export: sample.SampleExport, tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(export.lines()))
    one_pass, segmented = both_ways(path, export.checkpoints[:3])
    assert one_pass["ok"]
    assert one_pass["events_checked"] == EVENTS
    assert segmented == one_pass
    tail = replace(export, header={**export.header, "from_seq": EVERY + 1})
    path.write_bytes(b"".join(replace(tail, events=export.events[EVERY:]).lines()))
    one_pass, segmented = both_ways(path, [])
    assert one_pass["ok"]
    assert one_pass["events_checked"] == EVENTS - EVERY
    assert segmented == one_pass


def test_checkpoints_between_the_events_are_found_by_the_segments_too(tmp_path: Path) -> None:
    """An export written as it goes has its checkpoints among the events: each segment
    finds the ones that begin in it, and together they are the whole file's, in order."""
    path = tmp_path / "written.jsonl"
    sample.write(path, 3_000, HUB_KEY, checkpoint_every=100)
    whole = read_export(path)
    starts = parallel.boundaries(path, SEGMENTS)
    parts = [
        read_export(path, start, end)
        for start, end in zip(starts, [*starts[1:], None], strict=True)
    ]
    assert [cp for _, found in parts for cp in found] == whole[1]
    assert len(whole[1]) == 30
    assert [header for header, _ in parts if header] == [whole[0]]
    one_pass, segmented = both_ways(path, [])
    assert one_pass["ok"]
    assert one_pass["checkpoints_checked"] == 30
    assert segmented == one_pass
