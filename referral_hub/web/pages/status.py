"""What the front page shows: the network at a glance, no survivor data."""

from __future__ import annotations

from typing import Any

from referral_hub.agencies import service as agencies
from referral_hub.audit import service as audit
from referral_hub.core.actor import SYSTEM
from referral_hub.jobs import service as jobs


def overview() -> dict[str, Any]:
    items, _ = agencies.list_agencies(SYSTEM, limit=200, cursor=None)
    head_seq, head_hash = audit.head()
    return {
        "agencies": items,
        "audit_seq": head_seq,
        "audit_head": head_hash[:16],
        "outbox": jobs.counts(),
    }
