"""The audit verifier: an export and the hub's public key in, OK or the first bad seq out.

    python -m referral_hub.audit.verify EXPORT --public-key FILE [--checkpoints HELD]

Needs the standard library and `cryptography` only — not the app, its config or its
database — so an auditor who trusts nobody at the hub can run it on her own machine.
The hub's online check (`GET /api/v1/audit/verify`, `flask hub audit-verify`) runs the
same `check()` over the same lines, built from the database.

An export is JSON Lines:

    {"audit_export": {"v": 1, "from_seq": 1, "to_seq": N, "exported_at": ...}}
    {"public_key": {"key_id": ..., "public_key": <base64>}}      (for information only)
    {"checkpoint": {"seq", "chain", "at", "key_id", "signature"}}
    {"leaf":"<64 hex>","chain":"<64 hex>","event":<the event's canonical JSON>}

Event lines keep the exact bytes the leaf hash was taken over, so the verifier hashes
them as they stand (no parsing, no re-canonicalising) when the line has that layout; any
other layout is parsed and canonicalised, slower but with the same verdict. Trust comes
only from the public keys given on the command line and the checkpoints the auditor
already holds, never from what the export says about itself.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from referral_hub.audit.canonical import CanonicalizationError, canonical_bytes
from referral_hub.audit.chain import GENESIS, REASONS, Record, Verification, walk
from referral_hub.audit.signing import (
    SigningKeyError,
    load_public_keys,
    signature_problem,
)

_LEAF_OPEN = b'{"leaf":"'
_CHAIN_OPEN = b'","chain":"'
_EVENT_OPEN = b'","event":'
_CHAIN_AT = len(_LEAF_OPEN) + 64
_EVENT_AT = _CHAIN_AT + len(_CHAIN_OPEN) + 64
_BODY_AT = _EVENT_AT + len(_EVENT_OPEN)
_LEAF_AT = len(_LEAF_OPEN)
_CHAIN_HEX_AT = _CHAIN_AT + len(_CHAIN_OPEN)
_SEQ_KEY = b',"seq":'
_PREV_KEY = b',"prev":"'


def event_line(document: Mapping[str, Any]) -> bytes:
    """An export line for one event document (as `AuditEvent.document()` gives it)."""
    hashed = canonical_bytes({k: v for k, v in document.items() if k not in ("leaf", "chain")})
    leaf, chain = str(document["leaf"]).encode(), str(document["chain"]).encode()
    return _LEAF_OPEN + leaf + _CHAIN_OPEN + chain + _EVENT_OPEN + hashed + b"}\n"


def json_line(kind: str, body: Mapping[str, Any]) -> bytes:
    return json.dumps({kind: body}, separators=(",", ":"), sort_keys=True).encode() + b"\n"


def read_event(line: bytes) -> Record:
    """The walk's view of an event line: the fast slice, or a parse when laid out otherwise."""
    if not line.endswith(b"}\n"):  # the usual ending, checked without copying the line
        line = line.rstrip(b"\r\n") + b"\n"
    if (
        line.startswith(_LEAF_OPEN)
        and line[_CHAIN_AT : _CHAIN_AT + len(_CHAIN_OPEN)] == _CHAIN_OPEN
        and line[_EVENT_AT:_BODY_AT] == _EVENT_OPEN
        and line.endswith(b"}\n")
    ):
        body = line[_BODY_AT:-2]
        # the top-level "prev" and "seq" are the last keys of those names in canonical order
        # (only "request_id", "subject" and "v" follow, and none of them nests these names)
        seq_at, prev_at = body.rfind(_SEQ_KEY), body.rfind(_PREV_KEY)
        if seq_at > 0 and prev_at > 0:
            seq_end = body.find(b",", seq_at + len(_SEQ_KEY))
            digits = body[seq_at + len(_SEQ_KEY) : seq_end]
            if digits.isdigit():
                prev = body[prev_at + len(_PREV_KEY) : prev_at + len(_PREV_KEY) + 64]
                return Record(
                    int(digits),
                    prev.decode("ascii", "replace"),
                    line[_LEAF_AT:_CHAIN_AT].decode("ascii", "replace"),
                    line[_CHAIN_HEX_AT:_EVENT_AT].decode("ascii", "replace"),
                    body,
                )
    return _parse_event(line)


def _parse_event(line: bytes) -> Record:
    try:
        wrapper = json.loads(line)
        event = wrapper["event"]
        return Record(
            event.get("seq"),
            event.get("prev"),
            wrapper.get("leaf"),
            wrapper.get("chain"),
            canonical_bytes(event),
        )
    except (ValueError, KeyError, TypeError, AttributeError, CanonicalizationError):
        return Record(None, None, None, None, None)


@dataclass
class Report:
    """What the verifier found; `verification` holds the chain walk's outcome."""

    verification: Verification
    checkpoints_checked: int
    last_checkpoint: dict[str, Any] | None
    unsigned_events: int

    @property
    def ok(self) -> bool:
        return self.verification.ok

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.verification.as_dict(),
            "checkpoints_checked": self.checkpoints_checked,
            "last_checkpoint": self.last_checkpoint,
            "unsigned_events": self.unsigned_events,
        }


@dataclass(frozen=True)
class Plan:
    """What the walk is held to, settled before any event is read."""

    from_seq: int
    start_chain: str
    anchors: dict[int, tuple[str, str]]
    signed: dict[int, dict[str, Any]]
    first_problem: tuple[int, str] | None

    @property
    def stop_before(self) -> int | None:
        return self.first_problem[0] if self.first_problem else None


def settle(
    checkpoints: Sequence[Mapping[str, Any]],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    held: Sequence[Mapping[str, Any]] = (),
    from_seq: int = 1,
    head: tuple[int, str] | None = None,
    start_chain: str | None = None,
    verified: tuple[int, str] | None = None,
) -> Plan:
    """Check the checkpoints' signatures and gather the anchors the walk must meet."""
    problems: list[tuple[int, str]] = []
    signed: dict[int, dict[str, Any]] = {}
    for checkpoint in [*checkpoints, *held]:
        seq = checkpoint.get("seq")
        if not isinstance(seq, int) or signature_problem(checkpoint, keys):
            problems.append((seq if isinstance(seq, int) else 0, "signature"))
            continue
        earlier = signed.setdefault(seq, dict(checkpoint))
        if earlier["chain"] != checkpoint["chain"]:
            problems.append((seq, "fork"))
    anchors = {seq: (str(cp["chain"]), "checkpoint") for seq, cp in signed.items()}
    for trusted, reason in ((head, "anchor"), (verified, "verified")):
        if trusted is not None and trusted[0] and trusted[0] not in anchors:
            anchors[trusted[0]] = (trusted[1], reason)
    if start_chain is None:
        start_chain = GENESIS
        if from_seq > 1:
            if from_seq - 1 in anchors:
                start_chain = anchors[from_seq - 1][0]
            else:
                problems.append((from_seq - 1, "unanchored"))
    return Plan(from_seq, start_chain, anchors, signed, min(problems) if problems else None)


def records(lines: Iterable[bytes]) -> Iterator[Record]:
    return (read_event(line) for line in lines)


def walk_plan(
    plan: Plan, events: Iterable[Record], *, start: tuple[int, str] | None = None
) -> Verification:
    """The sequential walk of `events` under `plan`; `start` resumes at (seq, chain) mid-way."""
    seq, chain = start or (plan.from_seq, plan.start_chain)
    return walk(
        events,
        start_seq=seq,
        start_chain=chain,
        anchors=plan.anchors,
        stop_before=plan.stop_before,
        resumed=start is not None,
    )


def conclude(plan: Plan, result: Verification) -> Report:
    """The report: a problem found before the walk wins if it comes first."""
    first_problem = plan.first_problem
    if first_problem and (result.ok or (result.first_bad_seq or 0) > first_problem[0]):
        seq, reason = first_problem
        result = Verification(
            False,
            result.events_checked,
            result.head_seq,
            result.head_hash,
            seq,
            reason,
            REASONS[reason],
            result.anchors_checked,
        )
    covered = [seq for seq in plan.signed if seq <= result.head_seq]
    last = plan.signed[max(covered)] if covered else None
    return Report(
        verification=result,
        checkpoints_checked=len(plan.signed),
        last_checkpoint=last,
        unsigned_events=result.head_seq - (max(covered) if covered else plan.from_seq - 1),
    )


def check(
    events: Iterable[bytes],
    checkpoints: Sequence[Mapping[str, Any]],
    keys: Mapping[str, Ed25519PublicKey],
    **options: Any,
) -> Report:
    """Check event lines against signed checkpoints; report the lowest bad seq found.

    `checkpoints` come with the export; `options` are `settle`'s: `held` checkpoints the
    auditor saved earlier (both must be signed by one of `keys`); `head`, a trusted (seq,
    chain) such as the database's head row when the hub checks itself; `from_seq` and
    `start_chain`, where the walk starts when the caller vouches for that chain hash
    another way (otherwise a start after seq 1 needs a signed checkpoint just before it),
    such as `verified`: a (seq, chain) an earlier check of the hub's own found good.
    """
    settled = settle(checkpoints, keys, **options)
    return conclude(settled, walk_plan(settled, records(events)))


_NOT_EVENTS = (b'{"checkpoint"', b'{"audit_export"', b'{"public_key"')


def read_export(
    path: Path, start: int = 0, end: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The export's header and checkpoints (a first pass; events are streamed later), or
    those among the lines that begin in [start, end) bytes.

    Searches the mapped file for the lines that start so, rather than reading every line:
    a newline never occurs inside a line, so each hit is where a line begins.
    """
    header: dict[str, Any] = {}
    checkpoints: list[dict[str, Any]] = []
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            return header, checkpoints
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            stop = len(mapped) if end is None else end
            for at in _line_starts(mapped, b'{"audit_export"', start, stop):
                header = json.loads(_line_at(mapped, at))["audit_export"]
            for at in _line_starts(mapped, b'{"checkpoint"', start, stop):
                checkpoints.append(json.loads(_line_at(mapped, at))["checkpoint"])
    return header, checkpoints


def _line_starts(mapped: mmap.mmap, opening: bytes, start: int, stop: int) -> Iterator[int]:
    """Where lines beginning with `opening` begin, in [start, stop)."""
    if start == 0 and stop > 0 and mapped[: len(opening)] == opening:
        yield 0
    needle = b"\n" + opening
    limit = min(len(mapped), stop - 1 + len(needle))  # a newline just before `stop` counts
    at = mapped.find(needle, max(start - 1, 0), limit)
    while at >= 0:
        yield at + 1
        at = mapped.find(needle, at + 1, limit)


def _line_at(mapped: mmap.mmap, at: int) -> bytes:
    end = mapped.find(b"\n", at)
    return mapped[at : end if end >= 0 else len(mapped)]


def event_lines(
    path: Path,
    progress: Callable[[int], None] | None = None,
    *,
    start: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """The event lines of an export, or of the lines that begin in [start, end) bytes."""
    with path.open("rb") as lines:
        lines.seek(start)
        at, count = start, 0
        for line in lines:
            if end is not None:
                if at >= end:
                    return
                at += len(line)
            if line.startswith(_NOT_EVENTS) or line.isspace():
                continue
            if progress is not None:
                count += 1
                if count % 100_000 == 0:
                    progress(count)
            yield line


def read_held(path: Path) -> list[dict[str, Any]]:
    """Checkpoints the auditor saved: JSON Lines (bare or wrapped) or an API response."""
    text = path.read_text()
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("items"), list):
        return [dict(item) for item in whole["items"]]
    if isinstance(whole, list):
        return [dict(item) for item in whole]
    held = []
    for line in text.splitlines():
        if line.strip():
            item = json.loads(line)
            held.append(dict(item.get("checkpoint", item)))
    return held


def verify_file(
    path: Path,
    keys: Mapping[str, Ed25519PublicKey],
    held: Sequence[Mapping[str, Any]] = (),
    progress: Callable[[int], None] | None = None,
    *,
    processes: int = 1,
    segments: int | None = None,
) -> Report:
    """Verify an export file; with `processes` > 1 its segments are walked side by side
    (`parallel.py`), with the same report as the one-pass walk."""
    if processes > 1:
        from referral_hub.audit import parallel  # it builds on this module

        return parallel.verify_file(
            path, keys, held, progress, processes=processes, segments=segments
        )
    header, checkpoints = read_export(path)
    settled = settle(checkpoints, keys, held=held, from_seq=int(header.get("from_seq") or 1))
    return conclude(settled, walk_plan(settled, records(event_lines(path, progress))))


def describe(report: Report) -> str:
    result = report.verification
    if result.ok:
        text = f"OK: {result.events_checked:,} events, head {result.head_seq} {result.head_hash}"
        if report.last_checkpoint:
            text += (
                f"\n  signed up to seq {report.last_checkpoint['seq']}"
                f" by key {report.last_checkpoint['key_id']}"
                f" ({report.checkpoints_checked} checkpoints checked)"
            )
        if report.unsigned_events:
            text += f"\n  {report.unsigned_events:,} events after the last checkpoint are unsigned"
        return text
    return f"BAD at seq {result.first_bad_seq}: {result.reason} — {result.explanation}"


def _processes(options: argparse.Namespace) -> int:
    try:
        from referral_hub.audit import parallel
    except ImportError:  # copied out without parallel.py: one process does the same check
        return 1
    if options.processes is not None:
        return max(1, int(options.processes))
    available = parallel.processes_available()
    return available if parallel.worth_it(options.export, available) else 1


def main(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m referral_hub.audit.verify",
        description="Verify an audit export offline against the hub's public key(s).",
    )
    parser.add_argument(
        "export", type=Path, help="the JSON Lines file from `flask hub audit-export`"
    )
    parser.add_argument(
        "--public-key",
        type=Path,
        action="append",
        required=True,
        help="a file of trusted public keys (PEM or base64 lines); repeat for rotated keys",
    )
    parser.add_argument(
        "--checkpoints", type=Path, help="checkpoints you saved earlier, to hold the hub to them"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--processes",
        type=int,
        help="cores to use (default: all this process may use, for an export of some size)",
    )
    options = parser.parse_args(argv)
    try:
        keys: dict[str, Ed25519PublicKey] = {}
        for key_file in options.public_key:
            keys.update(load_public_keys(key_file.read_text()))
        held = read_held(options.checkpoints) if options.checkpoints else []
    except (OSError, ValueError, SigningKeyError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    if not options.export.is_file():
        print(f"cannot start: {options.export} is not a file", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(count: int) -> None:
        if sys.stderr.isatty():
            print(f"  … {count:,} events", file=sys.stderr, end="\r")

    try:
        report = verify_file(options.export, keys, held, progress, processes=_processes(options))
    except (OSError, ValueError) as exc:
        print(f"cannot read the export: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if options.json:
        print(json.dumps(report.as_dict(), indent=2), file=out)
    else:
        print(describe(report), file=out)
        rate = report.verification.events_checked / elapsed if elapsed else 0
        print(f"  ({elapsed:.2f} s, {rate:,.0f} events/s)", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
