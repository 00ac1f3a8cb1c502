"""The coordinator's pages: network dashboard with SVG charts, in-limbo queue, timelines,
audit trail with "verify now", the disclosure report, and the CSV download.

The charts module is pure (data in, SVG out) and tested without a database; the pages are
tested on the scripted day of `tests/reports/test_reports.py`, whose every figure is known.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit import checkpoints
from referral_hub.audit.models import AuditEvent
from referral_hub.core.actor import Actor
from referral_hub.core.db import transaction
from referral_hub.referrals.models import Referral
from referral_hub.reports import series
from referral_hub.reports.handoffs import Period
from referral_hub.web import charts
from referral_hub.web.charts import Series
from tests import factories
from tests.reports.test_reports import Network, frozen, network, play_the_day  # noqa: F401 (fixtures)

DAY = {"from": "2026-03-02", "to": "2026-03-02"}


# --- charts: pure functions ------------------------------------------------------------------


def widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect class="chart-bar"[^>]* width="([\d.]+)"', svg)]


def heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect class="chart-bar"[^>]* height="([\d.]+)"', svg)]


def test_an_empty_dataset_renders_a_friendly_no_data_figure() -> None:
    for html in (
        charts.bar_chart("c1", "Declines", [], empty_text="Nothing declined."),
        charts.bar_chart("c1", "Declines", [("no capacity", 0), ("other", 0)]),
        charts.column_chart("c2", "Hops", []),
        charts.stacked_column_chart("c3", "By status", ["1 Mar"], [Series("Sent", [0])]),
        charts.stacked_bar_chart("c4", "Freshness", [], []),
    ):
        assert html.startswith('<figure class="chart"')
        assert "<figcaption>" in html
        assert "chart-empty" in html
        assert "<svg" not in html  # words, not an empty frame
    assert "Nothing declined." in charts.bar_chart("c", "D", [], empty_text="Nothing declined.")


def test_bar_chart_has_labels_values_title_desc_and_a_data_table() -> None:
    html = str(
        charts.bar_chart(
            "declines",
            "Why declined",
            [("No capacity", 6), ("Not eligible", 3), ("Language", 0)],
            description="Bars.",
            heading="Reason",
            value_heading="Declined",
        )
    )
    assert re.search(
        r'<svg [^>]*role="img"[^>]*aria-labelledby="declines-title declines-desc"', html
    )
    assert '<title id="declines-title">Why declined</title>' in html
    assert "No capacity: 6; Not eligible: 3; Language: 0" in html  # in the desc
    for label in ("No capacity", "Not eligible", "Language"):
        assert f">{label}</text>" in html  # labels written, not colour alone
    assert re.search(r'class="chart-value"[^>]*>6</text>', html)
    assert "<details" in html
    assert '<th scope="row">No capacity</th><td>6</td>' in html
    assert "style=" not in html
    first, second, third = widths(html)
    assert first == pytest.approx(2 * second, rel=0.01)  # proportional
    assert third == 0


def test_column_and_stacked_charts_are_proportional_and_keyed_in_words() -> None:
    columns = str(charts.column_chart("h", "Hops", [("0 hops", 8), ("1 hop", 2), ("2 hops", 4)]))
    assert heights(columns) == pytest.approx([160, 40, 80])
    stacked = str(
        charts.stacked_column_chart(
            "s",
            "By status",
            ["2 Mar", "9 Mar"],
            [Series("Waiting", [2, 1], "blue"), Series("Declined", [2, 0], "red")],
        )
    )
    assert heights(stacked) == pytest.approx([100, 100, 50])  # totals 4 and 1 of 200 px
    assert 'data-series="Declined"' in stacked
    assert '<ul class="chart-legend"' in stacked
    assert "Waiting</li>" in stacked
    # each series has its own pattern, so the key does not rest on colour alone
    assert 'id="s-p0"' in stacked
    assert 'id="s-p1"' in stacked
    assert "chart-hatch" in stacked
    assert '<th scope="row">2 Mar</th><td>2</td><td>2</td><td>4</td>' in stacked
    bars = str(
        charts.stacked_bar_chart(
            "f",
            "Freshness",
            ["Shelter <One>", "Legal"],
            [Series("Fresh", [3, 1], "green"), Series("Stale", [1, 0], "orange")],
        )
    )
    assert "Shelter &lt;One&gt;" in bars
    assert "<One>" not in bars  # names are escaped
    assert widths(bars)[0] == pytest.approx(3 * widths(bars)[1])
    assert "style=" not in stacked + bars + columns


# --- series: the SQL on both databases --------------------------------------------------------


def test_series_sql_reads_utc_days_on_both_databases() -> None:
    period = Period(date(2026, 3, 2), date(2026, 3, 8))
    statement = series.status_counts_statement(period)
    on_postgres = str(statement.compile(dialect=postgresql.dialect()))
    on_sqlite = str(statement.compile(dialect=sqlite.dialect()))
    assert "CAST((referral.sent_at) AT TIME ZONE 'UTC' AS DATE)" in on_postgres
    assert "date(referral.sent_at)" in on_sqlite
    buckets = series.accept_buckets_statement(period)
    assert "EXTRACT(EPOCH FROM" in str(buckets.compile(dialect=postgresql.dialect()))
    assert "julianday" in str(buckets.compile(dialect=sqlite.dialect()))
    for text in (on_postgres, on_sqlite):
        assert "client_id" not in text
        assert "client_reference" not in text


def test_bucket_sizes_follow_the_period_length() -> None:
    assert series.bucket_size(Period(date(2026, 3, 1), date(2026, 3, 14))) == "day"
    assert series.bucket_size(Period(date(2026, 3, 1), date(2026, 3, 30))) == "week"
    assert series.bucket_size(Period(date(2026, 1, 1), date(2026, 12, 31))) == "month"
    assert series.bucket_start(date(2026, 3, 5), "week") == date(2026, 3, 2)


# --- pages on the scripted day ----------------------------------------------------------------


@pytest.fixture
def day(network: Network, frozen: Callable[[float], None]) -> Network:  # noqa: F811
    play_the_day(network, frozen)
    return network


@pytest.fixture
def as_user(act_as: Callable[[Actor], None], session: Any) -> Callable[..., Actor]:
    def make(*roles: str) -> Actor:
        with transaction():
            person = factories.user(factories.agency(AgencyKind.OTHER), roles=roles)
        actor = factories.actor_for(person)
        act_as(actor)
        return actor

    return make


def events(session: Any, action: str) -> int:
    return int(session.scalar(select(func.count()).where(AuditEvent.action == action)))


def test_dashboard_shows_key_figures_and_charts_for_the_period(
    client: Any, day: Network, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    response = client.get("/network/", query_string=DAY)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "style=" not in page
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)", page))
    assert figures["Referrals sent"] == "14"
    assert figures["Accepted"] == "5"  # r1 r3 r5 b1d b2c
    assert figures["Expired unanswered"] == "1"
    for chart in (
        "chart-status",
        "chart-accept",
        "chart-declines",
        "chart-freshness",
        "chart-hops",
        "chart-runaround",
    ):
        assert f'<figure class="chart" id="{chart}">' in page
    assert page.count('role="img"') == 6
    assert page.count("Data table") == 6
    # one column for the one day: every status group's count written in the data table
    assert (
        '<th scope="row">2 Mar</th><td>1</td><td>3</td><td>1</td><td>6</td><td>1</td><td>2</td>'
        "<td>14</td>" in page
    )
    # time to accept: 300 s | 900 1800 2400 s | 7200 s
    accept = page[page.index('id="chart-accept"') :]
    assert '<th scope="row">under 15 min</th><td>1</td>' in accept
    assert '<th scope="row">15 to 60 min</th><td>3</td>' in accept
    assert '<th scope="row">1 to 4 hours</th><td>1</td>' in accept
    declines = page[page.index('id="chart-declines"') :]
    assert '<th scope="row">No space free</th><td>3</td>' in declines
    assert day.agencies["E"].name in page[page.index('id="chart-freshness"') :]
    assert 'href="/network/handoffs.csv?from=2026-03-02&amp;to=2026-03-02"' in page
    assert 'hx-boost="false" download' in page


def test_dashboard_defaults_to_the_last_30_days_and_says_when_there_is_nothing(
    client: Any, as_user: Callable[..., Actor]
) -> None:
    as_user("coordinator")
    page = client.get("/network/").get_data(as_text=True)
    assert 'name="from" type="date"' in page
    assert "No referrals were sent in this period." in page


def test_a_bad_period_is_refused_beside_the_field_and_kept(
    client: Any, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    before = events(session, "report.viewed")
    response = client.get("/network/", query_string={"from": "2026-03-09", "to": "2026-03-02"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="f-to-error" class="field-error">Must not be before', page)
    assert 'value="2026-03-09"' in page  # what was typed is kept
    assert events(session, "report.viewed") == before  # nothing was read, nothing recorded


def test_the_csv_download_is_the_apis_csv_with_a_file_name(
    client: Any, day: Network, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    response = client.get("/network/handoffs.csv", query_string=DAY)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="handoffs-2026-03-02-2026-03-02.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {"metric": "referrals.sent", "dimension": "", "value": "14"} in rows
    viewed = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "report.viewed")
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert viewed.details["format"] == "csv"


@pytest.mark.parametrize(
    "path",
    [
        "/network/",
        "/network/handoffs.csv",
        "/network/in-limbo",
        "/network/audit",
        "/network/disclosures",
        "/network/referrals/00000000-0000-4000-8000-000000000000",
        "/network/audit/public-key.pem",
    ],
)
def test_pages_are_for_coordinators_only(
    client: Any, as_user: Callable[..., Actor], path: str
) -> None:
    as_user("provider", "intake")
    response = client.get(path)
    assert response.status_code == 403
    assert "This page is for coordinator." in response.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client: Any) -> None:
    response = client.get("/network/in-limbo")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/network/in-limbo")


def test_the_limbo_queue_lists_stuck_referrals_with_reference_and_timeline_links(
    client: Any, day: Network, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    page = client.get("/network/in-limbo").get_data(as_text=True)
    assert 'hx-trigger="every 30s"' in page
    assert 'aria-live="polite"' in page
    # b1: placed at D; b2: both needs settled; b3: legal advocacy waitlisted past its deadline
    b3 = str(day.referral_ids["b3c"])
    assert f'href="/network/referrals/{b3}"' in page
    assert "on a waiting list past the decision deadline" in page
    assert session.get(Referral, day.referral_ids["b3c"]).client_reference in page
    assert f"/network/referrals/{day.referral_ids['b1d']}" not in page  # b1 is fine
    fragment = client.get("/network/in-limbo", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<div id="limbo-queue"')
    assert "<html" not in text
    assert b3 in text


def test_a_referral_timeline_shows_actions_in_words_by_agency(
    client: Any, day: Network, as_user: Callable[..., Actor]
) -> None:
    as_user("coordinator")
    response = client.get(f"/network/referrals/{day.referral_ids['b1b']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    sent, acknowledged, declined = (
        page.index("Referral sent"),
        page.index("Acknowledged"),
        page.index("Declined</strong>: out of area"),
    )
    assert sent < acknowledged < declined  # in order
    assert f"by {day.agencies['B'].name}" in page
    assert '<ol class="timeline">' in page
    assert client.get(f"/network/referrals/{uuid.uuid4()}").status_code == 404


def test_the_audit_page_lists_events_and_filters_them(
    client: Any, day: Network, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    page = client.get("/network/audit").get_data(as_text=True)
    assert "The latest 50 events, newest first" in page
    seqs = [int(n) for n in re.findall(r"<tr>\s*<td>(\d+)</td>", page)]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == 50
    assert "No checkpoint has been signed yet" in page or "Latest signed" in page
    query = {"action": "referral.declined", "actor_agency_id": str(day.agencies["A"].id)}
    query["limit"] = "2"
    shown = client.get("/network/audit", query_string=query).get_data(as_text=True)
    assert shown.count("<td>Declined<br>") == 2  # r2, b1a and b2a were declined by A: page 1
    assert day.agencies["A"].name in shown
    following = re.search(r'<a href="([^"]+)">Next page of events</a>', shown)
    assert following is not None
    next_url = following.group(1).replace("&amp;", "&")
    assert "action=referral.declined" in next_url
    assert "cursor=" in next_url
    rest = client.get(next_url).get_data(as_text=True)
    assert rest.count("<td>Declined<br>") == 1
    assert "Next page of events" not in rest


def test_bad_audit_filters_are_refused_beside_the_field(
    client: Any, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    before = events(session, "audit.events_read")
    response = client.get("/network/audit", query_string={"action": "referral accepted"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="f-action-error" class="field-error">A dotted lower-case action', page)
    assert 'value="referral accepted"' in page
    assert events(session, "audit.events_read") == before


def test_verify_now_runs_the_check_records_it_and_says_so(
    client: Any, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    token = factories.csrf_from(client.get("/network/audit").get_data(as_text=True))
    before = events(session, "audit.verified")
    response = client.post("/network/audit/verify", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/network/audit")
    assert events(session, "audit.verified") == before + 1
    page = client.get("/network/audit").get_data(as_text=True)
    assert "The audit chain is intact: all" in page  # the first check reads the whole chain
    client.post("/network/audit/verify", data={"csrf_token": token})
    page = client.get("/network/audit").get_data(as_text=True)
    assert re.search(r"The audit chain is intact: \d+ events checked from event [\d,]+", page)
    client.post("/network/audit/verify/full", data={"csrf_token": token})
    page = client.get("/network/audit").get_data(as_text=True)
    assert "The audit chain is intact: all" in page
    assert events(session, "audit.verified") == before + 3
    for path in ("/network/audit/verify", "/network/audit/verify/full"):
        assert client.post(path).status_code in (400, 403)  # no CSRF token


def test_checkpoint_status_and_the_public_key(
    client: Any, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    with transaction():
        signed = checkpoints.make_checkpoint(force=True)
    assert signed is not None
    page = client.get("/network/audit").get_data(as_text=True)
    assert "Latest signed" in page
    assert signed["key_id"] in page
    assert "python -m referral_hub.audit.verify" in page
    key = client.get("/network/audit/public-key.pem")
    assert key.status_code == 200
    assert "BEGIN PUBLIC KEY" in key.get_data(as_text=True)
    assert "attachment" in key.headers["Content-Disposition"]


def test_the_disclosure_report_by_reference_is_recorded(
    client: Any, day: Network, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    survivor = day.clients[0]  # r1: sent to A, accepted by A
    response = client.get("/network/disclosures", query_string={"reference": survivor.reference})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Disclosures for {survivor.reference}" in page
    rows = re.findall(r"<tr>\s*<td><time.*?</tr>", page, re.S)
    assert len(rows) == 2  # sent to A, accepted by A (nobody opened her details that day)
    sent, accepted = rows[0], rows[-1]
    assert day.agencies["A"].name in sent
    assert "received a referral" in sent
    assert f"sent by {day.agencies['S'].name}" in sent  # the sender is not the recipient
    assert "profile" in sent
    assert "profile" in accepted  # the kinds of her data
    assert day.agencies["A"].name in accepted
    assert "accepted her referral" in accepted
    viewed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "client.disclosures_viewed")
    ).all()
    assert [e.client_reference for e in viewed] == [survivor.reference]


def test_an_unknown_reference_says_so_and_leaks_nothing(
    client: Any, as_user: Callable[..., Actor], session: Any
) -> None:
    as_user("coordinator")
    before = events(session, "client.disclosures_viewed")
    response = client.get("/network/disclosures", query_string={"reference": "C-ZZZZ-ZZZZ"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert re.search(
        r'id="f-reference-error" class="field-error">No client has this reference', page
    )
    assert 'value="C-ZZZZ-ZZZZ"' in page
    assert events(session, "client.disclosures_viewed") == before
    bad = client.get("/network/disclosures", query_string={"reference": "no such thing!"})
    assert bad.status_code == 422
    assert 'id="f-reference-error"' in bad.get_data(as_text=True)


def test_a_long_stacked_bar_chart_draws_the_first_rows_and_tables_them_all() -> None:
    names = [f"Agency {n}" for n in range(5)]
    html = str(
        charts.stacked_bar_chart(
            "f", "Freshness", names, [Series("Fresh", [1, 2, 3, 4, 5])], limit=3
        )
    )
    assert len(widths(html)) == 3
    assert "The first 3 of 5 are drawn" in html
    assert '<th scope="row">Agency 4</th>' in html


def test_a_damaged_chain_is_named_by_its_first_bad_event_in_words(
    client: Any, as_user: Callable[..., Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from referral_hub.reports import audit_page

    bad = {
        "ok": False,
        "events_checked": 41,
        "first_bad_seq": 42,
        "reason": "content",
        "explanation": "the event's content does not match its leaf hash (altered)",
        "checkpoints_checked": 0,
    }
    monkeypatch.setattr(audit_page, "verify_now", lambda actor: bad)
    as_user("coordinator")
    token = factories.csrf_from(client.get("/network/").get_data(as_text=True))
    client.post("/network/audit/verify", data={"csrf_token": token})
    page = client.get("/network/audit").get_data(as_text=True)
    assert "The audit chain is damaged at event 42: the event&#39;s content does not match" in page


def test_the_services_behind_the_pages_refuse_anyone_but_coordinators(
    as_user: Callable[..., Actor], session: Any
) -> None:
    from referral_hub.core.errors import Forbidden
    from referral_hub.reports import audit_page, disclosures, queries

    provider = as_user("provider")
    calls: list[Callable[[], Any]] = [
        lambda: series.dashboard(provider, first_day=date(2026, 3, 1), last_day=date(2026, 3, 2)),
        lambda: queries.limbo_queue(provider, limit=5, cursor=None),
        lambda: audit_page.audit_page(provider, {}, limit=5, cursor=None),
        lambda: audit_page.verify_now(provider),
        lambda: audit_page.public_key_pem(provider),
        lambda: disclosures.disclosure_report(provider, "C-ZZZZ-ZZZZ"),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
