"""The coordinators' audit page: recent events with agency names, and checkpoint status.

Thin on purpose: the events come from `oversight.list_events` (which records the query),
the check from `oversight.verify` (which records `audit.verified`). What this adds is the
role check (the API's is at its edge; a page's services must hold it themselves), the
names a person reads instead of ids, and where the signed checkpoints stand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from referral_hub.agencies.service import agency_names
from referral_hub.audit import checkpoints, oversight
from referral_hub.audit import service as audit
from referral_hub.core.actor import Actor
from referral_hub.reports.queries import may_read_reports


def checkpoint_status() -> dict[str, Any]:
    """The latest signed checkpoint, the chain's head, and how many events are unsigned."""
    head_seq, _ = audit.head()
    latest = checkpoints.latest()
    return {
        "head_seq": head_seq,
        "checkpoint": None
        if latest is None
        else {"seq": latest.seq, "at": latest.at, "key_id": latest.key_id},
        "unsigned_events": head_seq - (latest.seq if latest is not None else 0),
    }


def overview(actor: Actor) -> dict[str, Any]:
    """What the audit page shows whatever the filters: agencies to filter by, checkpoints."""
    may_read_reports(actor)
    names = agency_names()
    return {
        "agencies": names,
        "agency_options": sorted(names.items(), key=lambda option: option[1]),
        "chain": checkpoint_status(),
    }


def audit_page(
    actor: Actor, filters: dict[str, Any], *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of events in `seq` order, as the API gives them (the query is recorded).

    With no filter and no cursor, the page is the latest `limit` events, newest first:
    where a coordinator looking at "what happened just now" wants to start.
    """
    may_read_reports(actor)
    given = {key: value for key, value in filters.items() if value is not None}
    latest = not given and cursor is None
    if latest:
        head_seq, _ = audit.head()
        given["after_seq"] = max(0, head_seq - limit)
    items, next_cursor = oversight.list_events(
        actor, oversight.EventFilter(**given), limit=limit, cursor=cursor
    )
    for item in items:  # the time as a time, for the page's clock filters
        item["at_time"] = datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
    if latest:  # "what just happened" reads best newest first; a filtered query pages onwards
        items.reverse()
    return {"events": items, "next_cursor": None if latest else next_cursor, "latest": latest}


def verify_now(actor: Actor, *, full: bool = False) -> dict[str, Any]:
    """The same check as `GET /api/v1/audit/verify`, recorded as `audit.verified`."""
    may_read_reports(actor)
    return oversight.verify(actor, full=full)


def public_key_pem(actor: Actor) -> str:
    """Every key that has signed checkpoints, as PEM blocks (the verifier reads them all)."""
    may_read_reports(actor)
    keys = oversight.public_keys()["keys"]
    return "".join(key["pem"] if key["pem"].endswith("\n") else key["pem"] + "\n" for key in keys)
