"""/api/v1/reports: coordinators' oversight of handoffs and of stuck episodes."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from flask import current_app

from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.core.schemas import page_schema
from referral_hub.reports import export, service
from referral_hub.reports.schemas import (
    HandoffReportArgs,
    HandoffReportSchema,
    InLimboArgs,
    LimboBundleSchema,
    RunaroundSchema,
)

blp = HubBlueprint("reports", __name__, url_prefix="/api/v1", description="Coordinator reports")
OVERSEERS = ("coordinator",)
LimboPageSchema = page_schema(LimboBundleSchema, "LimboPageSchema")
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
def in_limbo(limit: int, cursor: str | None) -> Any:
    """Bundles in limbo, oldest first, each with why (per need)."""
    items, next_cursor = service.in_limbo_report(current_actor(), limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/clients/<uuid:client_id>/runaround")
@require("intake", "agency_admin", scopes="referrals:read")
@blp.response(200, RunaroundSchema)
def client_runaround(client_id: UUID) -> Any:
    """Her runaround, for her own agency: every door she was sent to per need, the hops,
    and the time from her first referral to a place. Another agency's client is a 404."""
    return service.client_runaround(current_actor(), client_id)
