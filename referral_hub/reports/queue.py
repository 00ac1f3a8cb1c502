"""The in-limbo queue as the coordinators' page shows it: each row with what may be asked of
each side now (`nudges.owed`) and when that side may next be nudged.

`service.in_limbo_rows` checks the role, pages the queue and records the read. No
survivor data: her reference, names, numbers for referrers, states and times.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.reports import nudges, service


def limbo_queue(actor: Actor, *, limit: int, cursor: str | None) -> dict[str, Any]:
    items, next_cursor = service.in_limbo_rows(actor, limit=limit, cursor=cursor)
    interval = timedelta(minutes=current_app.config["LIMBO_NUDGE_MINUTES"])
    now = clock.now()
    for item in items:
        item["asks"] = {}
        for side in nudges.SIDES:
            what = nudges.owed(item["status"], side)
            if what is None:
                continue
            last = item["last_nudged"][side]
            again = last + interval if last is not None and now < last + interval else None
            item["asks"][side] = {"what": what, "last": last, "again_at": again}
    return {"items": items, "next_cursor": next_cursor}
