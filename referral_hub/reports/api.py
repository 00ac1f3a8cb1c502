"""/api/v1/reports: coordinators' oversight of handoffs and of stuck episodes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import current_app

from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.core.schemas import page_schema
from referral_hub.reports import export, nudges, queries
from referral_hub.reports.schemas import (
    HandoffReportArgs,
    HandoffReportSchema,
    InLimboArgs,
    LimboBundleSchema,
    LimboRowSchema,
    NudgeArgs,
    NudgeSchema,
    RunaroundSchema,
)

blp = HubBlueprint("reports", __name__, url_prefix="/api/v1", description="Coordinator reports")
OVERSEERS = ("coordinator",)
LimboPageSchema = page_schema(LimboBundleSchema, "LimboPageSchema")
LimboRowPageSchema = page_schema(LimboRowSchema, "LimboRowPageSchema")
HANDOFFS_NOTE = (
    "`from` and `to` are whole UTC days of sending, both included, at most 366 days apart "
    "(default: the 30 days up to today); each referral counts as it stands now. "
    "`?format=csv` answers the same figures as a `text/csv` attachment, one "
    "`metric,dimension,value` line per figure."
)


@blp.route("/reports/handoffs")
@require(*OVERSEERS, scopes=queries.REPORT_SCOPE)
@blp.arguments(HandoffReportArgs, location="query", as_kwargs=True)
@blp.response(200, HandoffReportSchema)
@blp.doc(
    description=HANDOFFS_NOTE,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def handoffs(first_day: date, last_day: date, format: str) -> Any:
    """How handoffs went for the referrals sent in a period."""
    figures = queries.handoff_report(
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
@require(*OVERSEERS, scopes=queries.REPORT_SCOPE)
@blp.arguments(InLimboArgs, location="query", as_kwargs=True)
@blp.response(200, LimboPageSchema)
@blp.doc(
    description="Bundles in limbo, most urgent first (overdue emergencies, overdue, due "
    "soonest, the rest), each placed by its most urgent stuck referral and listing its stuck "
    "`referrals` with why, her reference, both agencies and their numbers; a need's `why` "
    "(and `reasons`) is its most urgent stuck referral's `why`. A referral sent "
    "outside any bundle that is stuck is an item of its own with `bundle_id` null and "
    "`needs` empty. `?format=csv` answers the page's stuck referrals as `text/csv`, one "
    "line each.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def in_limbo(limit: int, cursor: str | None, format: str) -> Any:
    """Bundles in limbo, most urgent first, each with why (per need and per referral)."""
    items, next_cursor = queries.in_limbo_report(current_actor(), limit=limit, cursor=cursor)
    rows = [row for item in items for row in item["referrals"]] if format == "csv" else []
    return _page_or_csv(items, next_cursor, format, rows)


@blp.route("/reports/in-limbo/referrals")
@require(*OVERSEERS, scopes=queries.REPORT_SCOPE)
@blp.arguments(InLimboArgs, location="query", as_kwargs=True)
@blp.response(200, LimboRowPageSchema)
@blp.doc(
    description="One row per referral a survivor may be falling through, in the hub's one "
    "order (overdue emergencies, overdue, due soonest, the rest), with her reference, both "
    "agencies and their numbers for referrers, and her runaround. `?format=csv` answers the "
    "page as `text/csv`.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def in_limbo_referrals(limit: int, cursor: str | None, format: str) -> Any:
    """Referrals in limbo, urgent first, each with why."""
    items, next_cursor = queries.in_limbo_rows(current_actor(), limit=limit, cursor=cursor)
    return _page_or_csv(items, next_cursor, format, items)


def _page_or_csv(
    items: list[dict[str, Any]], next_cursor: str | None, format: str, rows: list[dict[str, Any]]
) -> Any:
    """The page as JSON, or its stuck referrals (`rows`) as CSV, one line each."""
    if format != "csv":
        return {"items": items, "next_cursor": next_cursor}
    return current_app.response_class(
        export.limbo_csv(rows),
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


@blp.route("/clients/<uuid:client_id>/runaround")
@require("intake", "agency_admin", scopes="referrals:read")
@blp.response(200, RunaroundSchema)
def client_runaround(client_id: uuid.UUID) -> Any:
    """Her runaround, for her own agency: every door she was sent to per need, the hops,
    and the time from her first referral to a place. Another agency's client is a 404."""
    return queries.client_runaround(current_actor(), client_id)
