"""The hub's check of its own stored chain: from where the last check ended, or all of it.

A full check re-hashes every event and meets the head row and every signed checkpoint;
its cost grows with the chain. An incremental check starts at the newest verified point
(`AuditVerification`): it re-hashes that one event and insists its chain hash is still the
one verified then — a history rewritten up to there and re-hashed cannot keep it — then
walks only the events after it, meeting the head row and the checkpoints signed since.
An event edited *before* that point without re-hashing its successors is only seen by a
full check, which is why one stays available (`full=True`) and should run periodically.
Each successful check records where it ended, so the next one resumes there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from referral_hub.audit import checkpoints
from referral_hub.audit import service as audit
from referral_hub.audit.chain import record_of
from referral_hub.audit.models import AuditCheckpoint, AuditVerification
from referral_hub.audit.verify import Report, conclude, settle, walk_plan
from referral_hub.core import clock
from referral_hub.extensions import db


def last_verified() -> AuditVerification | None:
    """The verified point furthest along the chain."""
    return db.session.scalars(
        select(AuditVerification)
        .order_by(AuditVerification.seq.desc(), AuditVerification.at.desc())
        .limit(1)
    ).first()


def verify_stored(
    *, full: bool = False, progress: Callable[[int], None] | None = None
) -> tuple[Report, dict[str, Any]]:
    """Check the stored chain; returns the verifier's report and how it was checked.

    With no verified point yet, or with `full`, the whole chain is walked.
    """
    head = audit.head()
    anchor = None if full else last_verified()
    if anchor is None or anchor.seq > head[0]:
        report = check_documents(
            _counted(audit.iter_documents(), progress),
            _checkpoints_from(1),
            checkpoints.trusted_keys(),
            head=head,
        )
        return _remember(report, full=True, from_seq=1)
    documents = audit.iter_documents(after_seq=anchor.seq - 1)
    first = next(documents, None)  # the verified event itself: its `prev` starts the walk
    started = first is not None and first["seq"] == anchor.seq
    report = check_documents(
        _counted(itertools.chain([first] if first else [], documents), progress),
        _checkpoints_from(anchor.seq),
        checkpoints.trusted_keys(),
        head=head,
        from_seq=anchor.seq,
        start_chain=str(first["prev"]) if started and first else "",
        verified=(anchor.seq, anchor.chain_hash),
    )
    return _remember(report, full=False, from_seq=anchor.seq)


def check_documents(
    documents: Iterable[dict[str, Any]],
    checkpoints: Sequence[Mapping[str, Any]],
    keys: Mapping[str, Ed25519PublicKey],
    **options: Any,
) -> Report:
    """The verifier's `check` over event documents rather than export lines (no line to
    build and read back: each document is hashed as the export would hold it)."""
    settled = settle(checkpoints, keys, **options)
    return conclude(settled, walk_plan(settled, (record_of(d) for d in documents)))


def _counted(
    documents: Iterable[dict[str, Any]], progress: Callable[[int], None] | None
) -> Iterator[dict[str, Any]]:
    for count, document in enumerate(documents, start=1):
        if progress is not None and count % 10_000 == 0:
            progress(count)
        yield document


def _checkpoints_from(seq: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.seq >= seq).order_by(AuditCheckpoint.seq)
    )
    return [row.document() for row in rows]


def _remember(report: Report, *, full: bool, from_seq: int) -> tuple[Report, dict[str, Any]]:
    """Record where a good check ended; say how the check was made."""
    result = report.verification
    if report.ok and result.head_seq:
        db.session.add(
            AuditVerification(
                seq=result.head_seq,
                chain_hash=result.head_hash,
                at=clock.now(),
                full=full,
                from_seq=from_seq,
                events_checked=result.events_checked,
            )
        )
    if not full:
        latest = checkpoints.latest_up_to(result.head_seq)
        report.last_checkpoint = latest.document() if latest is not None else None
        report.unsigned_events = result.head_seq - (latest.seq if latest is not None else 0)
    return report, {"mode": "full" if full else "incremental", "from_seq": from_seq}
