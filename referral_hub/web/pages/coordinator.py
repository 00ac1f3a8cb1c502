"""Coordinators: network dashboard, in-limbo queue, referral timelines, audit, disclosures.

Coordinators oversee every agency; the services they call check the role again (reports,
audit, disclosure accounting) and record each look. Nothing here shows survivor data:
client references, agency and staff names, statuses, times and counts.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, NoReturn

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from referral_hub.audit.schemas import AuditEventListArgs
from referral_hub.core import clock
from referral_hub.core.errors import DomainError, NotFound
from referral_hub.directory.vocabulary import Category
from referral_hub.referrals.queries import timeline as referral_timeline
from referral_hub.referrals.states import DECLINE_REASONS
from referral_hub.reports import audit_page, export, nudges, queries, series
from referral_hub.reports import disclosures as disclosure_accounting
from referral_hub.reports.schemas import HandoffReportArgs, InLimboArgs, NudgeArgs
from referral_hub.web import charts, forms, words
from referral_hub.web.charts import Series
from referral_hub.web.pagekit import is_htmx, page_blueprint, staff_only

blp = page_blueprint("coordinator", __name__, url_prefix="/network")

# --- words for people (web/words.py) and the charts' colours -------------------------------

STATUS_GROUP_COLOURS = {
    "waiting": "blue",
    "placed": "green",
    "completed": "teal",
    "declined": "red",
    "expired": "brown",
    "ended_otherwise": "grey",
}
FRESHNESS_COLOURS = {"fresh": "green", "aging": "olive", "stale": "orange", "unknown": "grey"}
FRESHNESS_ROWS = 12  # agencies drawn in the freshness chart (the table lists all)


@blp.app_template_filter("action_words")
def action_words(action: str) -> str:
    if action in words.EVENT:
        return str(words.EVENT[action])
    spelled = action.replace(".", " ").replace("_", " ")
    return spelled[:1].upper() + spelled[1:]


def _category(value: str) -> str:
    try:
        return str(Category(value).value).replace("_", " ")
    except ValueError:
        return value.replace("_", " ")


# --- dashboard --------------------------------------------------------------------------------


@blp.get("/")
@staff_only("coordinator")
def dashboard() -> Any:
    with forms.rejecting("coordinator/dashboard.html", values=request.args, **_period_defaults()):
        args = forms.load(HandoffReportArgs(), request.args)
        data = series.dashboard(g.actor, first_day=args["first_day"], last_day=args["last_day"])
    first, last = args["first_day"], args["last_day"]
    return render_template(
        "coordinator/dashboard.html",
        values={"from": first.isoformat(), "to": last.isoformat()},
        first_day=first,
        last_day=last,
        figures=data["figures"],
        in_limbo=data["in_limbo_now"],
        charts=_charts(data),
        csv_url=url_for(".handoffs_csv", **{"from": first.isoformat(), "to": last.isoformat()}),
        now=clock.now(),
    )


def _period_defaults() -> dict[str, Any]:
    return {"figures": None, "charts": [], "in_limbo": None, "csv_url": None, "now": clock.now()}


def _tick(start: date, size: str) -> str:
    if size == "month":
        return start.strftime("%b %Y")
    return f"{start.day} {start.strftime('%b')}"


def _charts(data: dict[str, Any]) -> list[Any]:
    figures = data["figures"]
    status = data["status_series"]
    size = status["bucket"]
    by_status = charts.stacked_column_chart(
        "chart-status",
        f"Referrals sent per {size}, by where they stand now",
        [_tick(start, size) for start in status["starts"]],
        [
            Series(str(words.STATUS_GROUP[group]), values, STATUS_GROUP_COLOURS[group])
            for group, values in status["groups"].items()
        ],
        description=f"Stacked columns, one per {size} of sending; each segment is a status.",
        heading=f"{size.capitalize()} starting",
        empty_text="No referrals were sent in this period.",
    )
    accept = charts.column_chart(
        "chart-accept",
        "Time from sending to acceptance",
        [(bucket["label"], bucket["referrals"]) for bucket in data["accept_buckets"]],
        description="Columns: accepted referrals by how long acceptance took.",
        heading="Time to accept",
        value_heading="Referrals accepted",
        empty_text="No referral sent in this period has been accepted yet.",
    )
    declines = figures["declines_by_reason"]
    reasons = [r for r in DECLINE_REASONS if r in declines] + [
        r for r in declines if r not in DECLINE_REASONS
    ]
    decline = charts.bar_chart(
        "chart-declines",
        "Why referrals were declined",
        [
            (str(words.DECLINE_REASON.get(reason, reason.replace("_", " "))), declines[reason])
            for reason in reasons
        ],
        description="Horizontal bars: declined referrals by the reason given.",
        heading="Reason",
        value_heading="Referrals declined",
        tone="red",
        empty_text="No referral sent in this period was declined.",
    )
    # the agencies with the most out-of-date figures first: they are the ones to call
    fresh_rows = sorted(
        data["freshness"],
        key=lambda row: (-(row["unknown"] + row["stale"]), -row["aging"], row["agency_name"]),
    )
    freshness = charts.stacked_bar_chart(
        "chart-freshness",
        "Capacity freshness by agency, now (most out of date first)",
        [row["agency_name"] for row in fresh_rows],
        [
            Series(
                str(words.FRESHNESS[kind]),
                [row[kind] for row in fresh_rows],
                FRESHNESS_COLOURS[kind],
            )
            for kind in series.FRESHNESS
        ],
        description="Stacked bars, one per agency: its listed services by how recent "
        "their capacity figure is.",
        heading="Agency",
        empty_text="No agency lists a service yet.",
        limit=FRESHNESS_ROWS,
    )
    hops = figures["hops_per_bundle"]
    hop_counts = {bucket["hops"]: bucket["bundles"] for bucket in hops["distribution"]}
    top = max(hop_counts, default=0)
    hop_items = [
        (f"{n} hop" if n == 1 else f"{n} hops", hop_counts.get(n, 0)) for n in range(top + 1)
    ]
    hop_chart = charts.column_chart(
        "chart-hops",
        "Hops per bundle: how often an episode bounced",
        hop_items,
        description="Columns: bundles begun in the period by how many of their referrals "
        "were declined, expired or ended unfinished.",
        heading="Hops",
        value_heading="Bundles",
        tone="purple",
        empty_text="No bundle was begun in this period.",
    )
    runaround = charts.bar_chart(
        "chart-runaround",
        "Her runaround per sending agency: median hours from first referral to a place",
        [
            (
                f"{row['agency_name']} (median {row['hops_median']} hops, "
                f"{row['placed']} of {row['needs']} needs placed)",
                round((row["placement_median_seconds"] or 0) / 3600, 1),
            )
            for row in figures["runaround_by_agency"]
        ],
        description="Horizontal bars, one per agency that sent referrals: the median time "
        "its clients' needs begun in the period took to be placed.",
        heading="Sending agency",
        value_heading="Median hours to placement",
        tone="purple",
        empty_text="No need begun in this period has been placed yet.",
    )
    return [by_status, accept, decline, freshness, hop_chart, runaround]


@blp.get("/handoffs.csv")
@staff_only("coordinator")
def handoffs_csv() -> Any:
    """The handoff figures as the API's CSV, for the signed-in coordinator."""
    with forms.rejecting("coordinator/dashboard.html", values=request.args, **_period_defaults()):
        args = forms.load(HandoffReportArgs(), request.args, format="csv")
    first, last = args["first_day"], args["last_day"]
    figures = queries.handoff_report(g.actor, first_day=first, last_day=last, export_format="csv")
    filename = f"handoffs-{first.isoformat()}-{last.isoformat()}.csv"
    return current_app.response_class(
        export.handoff_csv(figures),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- in limbo ---------------------------------------------------------------------------------


@blp.app_template_filter("limbo_row_why")
def limbo_row_why(why: str) -> str:
    return str(words.LIMBO_REASON.get(why, why.replace("_", " ")))


@blp.get("/in-limbo")
@staff_only("coordinator")
def limbo() -> Any:
    page, cursor = _requested_page()
    return _queue_page(page, cursor)


def _requested_page() -> tuple[dict[str, Any], str | None]:
    """The page of the queue `?limit=&cursor=` asks for (refused: the page says why)."""
    with forms.rejecting("coordinator/limbo.html", values=request.args, page=None, now=clock.now()):
        args = forms.load(InLimboArgs(), request.args)
        page = queries.limbo_queue(g.actor, limit=args["limit"], cursor=args["cursor"])
    return page, args["cursor"]


def _queue_page(
    page: dict[str, Any] | None,
    cursor: str | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    """The whole page, or the queue alone for htmx (its poll and its forms)."""
    template = "coordinator/_limbo_queue.html" if is_htmx() else "coordinator/limbo.html"
    html = render_template(
        template,
        page=page,
        cursor=cursor,
        category=_category,
        ask_words=words.NUDGE,
        now=clock.now(),
        **extra,
    )
    return html, status, headers or {}


@blp.get("/in-limbo.csv")
@staff_only("coordinator")
def limbo_csv() -> Any:
    """The queue's page as the API's CSV, in the queue's order."""
    page, _ = _requested_page()
    return current_app.response_class(
        export.limbo_csv(page["items"]),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="in-limbo.csv"'},
    )


@blp.post("/in-limbo/<uuid:referral_id>/nudge")
@staff_only("coordinator")
def nudge(referral_id: uuid.UUID) -> Any:
    """Nudge one side (`to`); htmx gets the queue back with what happened, a form a
    redirect. Refused (bad side, nothing owed, too soon): the queue with the reason, and
    the request's transaction rolled back (the queue read again to show it included)."""
    try:
        args = forms.load(NudgeArgs(), request.form)
        done = nudges.nudge(g.actor, referral_id, args["to"])
    except ValidationError as error:
        _refuse(forms.flatten(error.messages), "Please choose whom to nudge.", 422)
    except DomainError as error:
        if error.status >= 500 or error.status in (401, 403, 404):
            raise
        _refuse(forms.flatten(error.errors or {}), error.detail, error.status, error)
    side = "receiving" if done["to"] == "receiver" else "sending"
    said = f"Sent: {done['notified']} staff at the {side} agency were e-mailed."
    if not done["notified"]:
        said = f"Recorded, but nobody at the {side} agency can be e-mailed: call them."
    if is_htmx():
        return _queue_page(_first_page(), None, announce=said)
    flash(said, "success")
    return redirect(url_for(".limbo"))


def _first_page() -> dict[str, Any]:
    return queries.limbo_queue(g.actor, limit=InLimboArgs().load({})["limit"], cursor=None)


def _refuse(
    errors: forms.FormErrors, problem: str, status: int, error: DomainError | None = None
) -> NoReturn:
    headers = {k: v for k, v in (error.headers if error else {}).items() if k == "Retry-After"}
    page = _queue_page(_first_page(), None, status, headers, errors=errors, problem=problem)
    raise forms.Rejected(page, error)


# --- a referral's timeline --------------------------------------------------------------------


@blp.get("/referrals/<uuid:referral_id>")
@staff_only("coordinator")
def timeline(referral_id: uuid.UUID) -> Any:
    view = referral_timeline.timeline_view(g.actor, referral_id)
    return render_template("coordinator/timeline.html", view=view, now=clock.now())


# --- audit --------------------------------------------------------------------------------------


@blp.get("/audit")
@staff_only("coordinator")
def audit() -> Any:
    context = {
        "outcomes": list(words.AUDIT_OUTCOME.items()),
        "now": clock.now(),
        **audit_page.overview(g.actor),
    }
    with forms.rejecting("coordinator/audit.html", values=request.args, page=None, **context):
        args = forms.load(AuditEventListArgs(), request.args)
        limit, cursor = args.pop("limit"), args.pop("cursor")
        page = audit_page.audit_page(g.actor, args, limit=limit, cursor=cursor)
    shown: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor" and v != ""}
    next_url = (
        url_for(".audit", **shown, cursor=page["next_cursor"]) if page["next_cursor"] else None
    )
    return render_template(
        "coordinator/audit.html",
        values=request.args,
        page=page,
        filtered=bool(shown),
        next_url=next_url,
        **context,
    )


@blp.post("/audit/verify")
@staff_only("coordinator")
def verify_chain() -> Any:
    """The events since the last verified point (see audit/verification.py)."""
    return _verified(audit_page.verify_now(g.actor))


@blp.post("/audit/verify/full")
@staff_only("coordinator")
def verify_whole_chain() -> Any:
    """Every event from the first: slower, and also catches an edit before that point."""
    return _verified(audit_page.verify_now(g.actor, full=True))


def _verified(report: dict[str, Any]) -> Any:
    if report["ok"]:
        if report.get("mode") == "incremental":
            text = (
                f"The audit chain is intact: {report['events_checked']:,} events checked"
                f" from event {report['from_seq']:,}, where the last check ended"
            )
        else:
            text = f"The audit chain is intact: all {report['events_checked']:,} events checked"
        if report["checkpoints_checked"]:
            text += f", {report['checkpoints_checked']:,} signed checkpoints match"
        flash(text + ".", "success")
    else:
        flash(
            f"The audit chain is damaged at event {report['first_bad_seq']}: "
            f"{report['explanation'] or report['reason']}. Tell the hub administrator now.",
            "error",
        )
    return redirect(url_for(".audit"))


@blp.get("/audit/public-key.pem")
@staff_only("coordinator")
def public_key() -> Any:
    pem = audit_page.public_key_pem(g.actor)
    if not pem:
        raise NotFound("No checkpoint has been signed yet, so there is no key to download.")
    return current_app.response_class(
        pem,
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="hub-audit-key.pem"'},
    )


# --- disclosure report --------------------------------------------------------------------------


@blp.get("/disclosures")
@staff_only("coordinator")
def disclosures() -> Any:
    if "reference" not in request.args:
        return render_template("coordinator/disclosures.html", values={}, report=None)
    with forms.rejecting("coordinator/disclosures.html", values=request.args, report=None):
        args = forms.load(disclosure_accounting.DisclosureLookupArgs(), request.args)
        try:
            report = disclosure_accounting.disclosure_report(g.actor, args["reference"])
        except NotFound:
            errors = forms.FormErrors(
                reference=["No client has this reference. Check it with the agency that gave it."]
            )
            page = render_template(
                "coordinator/disclosures.html",
                values=request.args,
                report=None,
                errors=errors,
                problem="Nothing found for this reference.",
            )
            return page, 404
    return render_template(
        "coordinator/disclosures.html", values=request.args, report=report, category=_category
    )
