"""/api/v1/reports: coordinators' oversight of handoffs and of stuck episodes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import current_app

from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.core.schemas import page_schema
from referral_hub.reports import export, nudges, service
from referral_hub.reports.schemas import (
    HandoffReportArgs,
    HandoffReportSchema,
    InLimboArgs,
    LimboItemSchema,
    NudgeArgs,
    NudgeSchema,
)

blp = HubBlueprint("reports", __name__, url_prefix="/api/v1", description="Coordinator reports")
OVERSEERS = ("coordinator",)
LimboPageSchema = page_schema(LimboItemSchema, "LimboPageSchema")
HANDOFFS_NOTE = (
    "`from` and `to` are whole UTC days of sending, both included, at most 366 days apart "
    "(default: the 30 days up to today); each referral counts as it stands now. "
    "`?format=csv` answers the same figures as a `text/csv` attachment, one "
    "`metric,dimension,value` line per figure."
)


@blp.route("/reports/handoffs")
@require(*OVERSEERS, scopes=service.REPORT_SCOPE)
@blp.arguments(HandoffReportArgs, location="query", as_kwargs=True)
@blp.response(200, HandoffReportSchema)
@blp.doc(
    description=HANDOFFS_NOTE,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def handoffs(first_day: date, last_day: date, format: str) -> Any:
    """How handoffs went for the referrals sent in a period."""
    figures = service.handoff_report(
        current_actor(), first_day=first_day, last_day=last_day, export_format=format
    )
    if format != "csv":
        return figures
    filename = f"handoffs-{first_day.isoformat()}-{last_day.isoformat()}.csv"
    return current_app.response_class(
        export.handoff_csv(figures),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blp.route("/reports/in-limbo")
@require(*OVERSEERS, scopes=service.REPORT_SCOPE)
@blp.arguments(InLimboArgs, location="query", as_kwargs=True)
@blp.response(200, LimboPageSchema)
@blp.doc(
    description="One row per referral a survivor may be falling through, in the hub's one "
    "order (overdue emergencies, overdue, due soonest, the rest), with her reference, both "
    "agencies and their numbers for referrers. `?format=csv` answers the page as `text/csv`.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def in_limbo(limit: int, cursor: str | None, format: str) -> Any:
    """Referrals in limbo, urgent first, each with why."""
    items, next_cursor = service.in_limbo_report(current_actor(), limit=limit, cursor=cursor)
    if format != "csv":
        return {"items": items, "next_cursor": next_cursor}
    return current_app.response_class(
        export.limbo_csv(items),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="in-limbo.csv"'},
    )


@blp.route("/reports/in-limbo/<uuid:referral_id>/nudge", methods=["POST"])
@require(*OVERSEERS)
@blp.arguments(NudgeArgs, as_kwargs=True)
@blp.response(200, NudgeSchema)
def nudge(referral_id: uuid.UUID, to: str) -> Any:
    """Ask one side of a referral to act: an e-mail to its staff (no survivor data), on the
    referral's timeline. Once per side in `LIMBO_NUDGE_MINUTES` (429 with Retry-After);
    nothing owed by that side now: 409."""
    return nudges.nudge(current_actor(), referral_id, to)
