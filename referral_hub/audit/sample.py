"""Synthetic audit exports, for the tamper tests and the verification benchmark.

Events look like the hub's own (actors, actions, subjects, request ids, no PII) and are
chained and checkpointed exactly as the hub does it, without a database, so a chain of a
million events can be made in seconds.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from referral_hub.audit import signing
from referral_hub.audit.chain import GENESIS, chain_hash, leaf_of
from referral_hub.audit.verify import json_line

ACTIONS = (
    "referral.sent",
    "referral.acknowledged",
    "referral.accepted",
    "referral.declined",
    "client.pii_viewed",
    "consent.recorded",
    "capacity.updated",
    "auth.login_succeeded",
)


def fast_canonical(document: dict[str, Any]) -> bytes:
    """RFC 8785 for documents of ASCII keys, strings, ints and nulls (what we generate)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sample_document(seq: int, rng: random.Random, at: datetime) -> dict[str, Any]:
    agency = uuid.UUID(int=rng.getrandbits(128), version=4)
    return {
        "v": 1,
        "seq": seq,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": {
            "type": "user",
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "agency_id": str(agency),
            "roles": ["intake_worker"],
        },
        "action": rng.choice(ACTIONS),
        "outcome": "success",
        "subject": {"type": "referral", "id": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
        "client_reference": f"C-{rng.randrange(10**6):06d}",
        "request_id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
        "fields": ["status"],
        "consent_id": None,
        "details": {"from": "sent", "to": "accepted"},
    }


def line_for(body: bytes, prev: str) -> tuple[bytes, str]:
    """An event line for hashed bytes chained onto `prev`; returns it and its chain hash."""
    leaf = leaf_of(body)
    chain = chain_hash(prev, leaf)
    return b'{"leaf":"%s","chain":"%s","event":%s}\n' % (leaf.encode(), chain.encode(), body), chain


def body_of(line: bytes) -> bytes:
    return line[line.index(b',"event":') + len(b',"event":') : line.rstrip(b"\n").rindex(b"}")]


def with_prev(body: bytes, prev: str) -> bytes:
    """The same event naming another predecessor (what re-chaining after an edit does)."""
    at = body.rindex(b',"prev":"') + len(b',"prev":"')
    return body[:at] + prev.encode() + body[at + 64 :]


@dataclass
class SampleExport:
    header: dict[str, Any]
    keys: list[bytes]
    checkpoints: list[dict[str, Any]]
    events: list[bytes]
    chains: list[str] = field(default_factory=list)  # chains[i] is seq i+1's chain hash

    def lines(self) -> list[bytes]:
        head = [json_line("audit_export", self.header), *self.keys]
        return head + [json_line("checkpoint", cp) for cp in self.checkpoints] + self.events


def generate(
    count: int, key: Ed25519PrivateKey, *, checkpoint_every: int = 500, seed: int = 7
) -> Iterator[tuple[str, Any]]:
    """("event", line, chain) and ("checkpoint", document) in chain order, one at a time."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not secrets
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = GENESIS
    for seq in range(1, count + 1):
        document = sample_document(seq, rng, start + timedelta(seconds=seq))
        document["prev"] = previous
        line, previous = line_for(fast_canonical(document), previous)
        yield "event", (line, previous)
        if seq % checkpoint_every == 0 or seq == count:
            at = (start + timedelta(seconds=seq, milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            yield "checkpoint", signing.sign_checkpoint(key, seq, previous, at)


def _key_lines(key: Ed25519PrivateKey) -> list[bytes]:
    public = key.public_key()
    identity = {"key_id": signing.key_id(public), "public_key": signing.raw_public_b64(public)}
    return [json_line("public_key", identity)]


def _header(count: int) -> dict[str, Any]:
    return {"v": 1, "from_seq": 1, "to_seq": count, "exported_at": "2026-01-02T00:00:00.000000Z"}


def build(
    count: int, key: Ed25519PrivateKey, *, checkpoint_every: int = 500, seed: int = 7
) -> SampleExport:
    """`count` chained events with a signed checkpoint every `checkpoint_every` and at the end."""
    events: list[bytes] = []
    chains: list[str] = []
    checkpoints: list[dict[str, Any]] = []
    for kind, item in generate(count, key, checkpoint_every=checkpoint_every, seed=seed):
        if kind == "event":
            events.append(item[0])
            chains.append(item[1])
        else:
            checkpoints.append(item)
    return SampleExport(_header(count), _key_lines(key), checkpoints, events, chains)


def write(
    path: Path,
    count: int,
    key: Ed25519PrivateKey,
    *,
    checkpoint_every: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """The same export written line by line (a million events never sit in memory)."""
    with path.open("wb") as out:
        out.write(json_line("audit_export", _header(count)))
        out.writelines(_key_lines(key))
        written = 0
        for kind, item in generate(count, key, checkpoint_every=checkpoint_every):
            if kind == "event":
                out.write(item[0])
                written += 1
                if progress is not None and written % 100_000 == 0:
                    progress(written)
            else:
                out.write(json_line("checkpoint", item))
