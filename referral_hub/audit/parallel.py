"""The offline verifier on several cores: an export cut into segments walked side by side.

Standard library only (with the verifier's own modules), like the verifier itself.

Each segment is a run of whole lines. A worker walks its segment from the chain hash its
first event names and meets every trusted anchor (signed checkpoint) inside it; it cannot
know yet whether that start is true. The parent then joins the segments in order: each
must begin exactly where the one before ended (the next seq, naming the previous chain
hash). So the segments it accepts are exactly the ones the one-pass walk would pass
without a remark, and they end in the same state. At the first segment that fails on its
own or does not join, the parent stops the workers and walks on in one pass from that
segment's first line, in that state, to the end: every verdict about damage comes from
the one-pass walk itself, so it is the same verdict, at the same seq, for the same reason.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from referral_hub.audit.chain import REASONS, Verification, is_hash, walk
from referral_hub.audit.verify import (
    Plan,
    Report,
    conclude,
    event_lines,
    read_event,
    read_export,
    records,
    settle,
    walk_plan,
)

SEGMENTS_PER_PROCESS = 4  # more, smaller segments: a failure is resumed nearer to it
MIN_BYTES_PER_PROCESS = 4 << 20  # below this a worker costs more than it saves
_NEVER = 1 << 62  # a stop no walk reaches: only the parent decides what is truncated


@dataclass(frozen=True)
class Segment:
    """What a worker found in one segment, walked from the start its first event claims."""

    start: int  # byte offset of its first line
    ok: bool
    events: int = 0
    first_seq: object = None
    first_prev: object = None
    end_seq: int = 0
    end_chain: str = ""
    anchors_checked: tuple[int, ...] = ()


def processes_available() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform can tell
        return os.cpu_count() or 1


def worth_it(path: Path, processes: int) -> bool:
    return processes > 1 and path.stat().st_size >= MIN_BYTES_PER_PROCESS * processes


def boundaries(path: Path, segments: int) -> list[int]:
    """Byte offsets where segments begin: about equal sizes, each at the start of a line."""
    size = path.stat().st_size
    starts = [0]
    with path.open("rb") as file:
        for index in range(1, segments):
            file.seek(max(size * index // segments - 1, starts[-1]))
            file.readline()  # on to the end of the line the cut fell in
            at = file.tell()
            if starts[-1] < at < size:
                starts.append(at)
    return starts


def walk_segment(task: tuple[Path, int, int | None, Plan]) -> Segment:
    """Walk one segment's events from the (seq, chain) its first event names."""
    path, start, end, plan = task
    lines = event_lines(path, start=start, end=end)
    first_line = next(lines, None)
    if first_line is None:
        return Segment(start, True)
    first = read_event(first_line)
    if not isinstance(first.seq, int) or isinstance(first.seq, bool) or not is_hash(first.prev):
        return Segment(start, False)

    def events() -> Iterator[bytes]:
        yield first_line
        yield from lines

    result = walk(
        (read_event(line) for line in events()),
        start_seq=first.seq,
        start_chain=str(first.prev),
        anchors=plan.anchors,
        stop_before=_NEVER if plan.stop_before is None else plan.stop_before,
    )
    return Segment(
        start,
        result.ok,
        result.events_checked,
        first.seq,
        first.prev,
        result.head_seq,
        result.head_hash,
        tuple(result.anchors_checked),
    )


def scan_segment(task: tuple[Path, int, int | None]) -> tuple[dict[str, Any], list[Any]]:
    """The header and checkpoint lines that begin in one segment."""
    path, start, end = task
    return read_export(path, start, end)


def verify_file(
    path: Path,
    keys: Mapping[str, Ed25519PublicKey],
    held: Sequence[Mapping[str, Any]] = (),
    progress: Callable[[int], None] | None = None,
    *,
    processes: int,
    segments: int | None = None,
) -> Report:
    """`verify.verify_file` on `processes` cores: the segments are searched for the header
    and the checkpoints side by side, then walked side by side."""
    starts = boundaries(path, segments or processes * SEGMENTS_PER_PROCESS)
    spans = list(zip(starts, [*starts[1:], None], strict=True))
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context())
    try:
        header: dict[str, Any] = {}
        checkpoints: list[Any] = []
        for found_header, found in pool.map(scan_segment, [(path, *span) for span in spans]):
            header = found_header or header  # the last one in the file, as in one pass
            checkpoints += found
        from_seq = int(header.get("from_seq") or 1)
        plan = settle(checkpoints, keys, held=held, from_seq=from_seq)
        return conclude(plan, _walk(pool, path, spans, plan, progress))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _walk(
    pool: ProcessPoolExecutor,
    path: Path,
    spans: list[tuple[int, int | None]],
    plan: Plan,
    progress: Callable[[int], None] | None,
) -> Verification:
    """The one-pass walk's verdict on an export's events, reached segment by segment."""
    expected, previous, checked = plan.from_seq, plan.start_chain, 0
    anchors_seen: list[int] = []
    for future in [pool.submit(walk_segment, (path, *span, plan)) for span in spans]:
        segment = future.result()
        if plan.stop_before is not None and expected >= plan.stop_before:
            break  # the one-pass walk stops reading here too
        if segment.ok and segment.first_seq is None:
            continue  # no events in it
        if not (segment.ok and (segment.first_seq, segment.first_prev) == (expected, previous)):
            pool.shutdown(wait=False, cancel_futures=True)  # the rest is walked here
            lines = event_lines(path, start=segment.start)
            rest = walk_plan(plan, records(lines), start=(expected, previous) if checked else None)
            return _after(rest, checked, anchors_seen)
        expected, previous = segment.end_seq + 1, segment.end_chain
        checked += segment.events
        anchors_seen += segment.anchors_checked
        if progress is not None:
            progress(checked)
    if plan.stop_before is None and any(seq >= expected for seq in plan.anchors):
        return Verification(
            False,
            checked,
            expected - 1,
            previous,
            expected,
            "truncated",
            REASONS["truncated"],
            anchors_seen,
        )
    return Verification(True, checked, expected - 1, previous, anchors_checked=anchors_seen)


def _after(rest: Verification, checked: int, anchors_seen: list[int]) -> Verification:
    """The resumed walk's verdict, counting what the accepted segments checked."""
    return Verification(
        rest.ok,
        checked + rest.events_checked,
        rest.head_seq,
        rest.head_hash,
        rest.first_bad_seq,
        rest.reason,
        rest.explanation,
        anchors_seen + rest.anchors_checked,
    )
