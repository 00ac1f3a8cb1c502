"""A coordinator's rounds: the network dashboard's charts and figures (and the CSV), the
in-limbo queue and a referral's timeline, the audit trail with "verify chain now", and
the disclosure report for a client reference — a known one and an unknown one."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import LiveServer, check_page, expect_status, sign_in

COORDINATOR = "coordinator@taskforce.example"


def _a_demo_reference(server: LiveServer) -> str:
    """A client of the demo's month of activity who was referred somewhere."""
    from sqlalchemy import select

    from referral_hub.extensions import db
    from referral_hub.referrals.models import Referral

    with server.app.app_context():
        reference = db.session.scalar(
            select(Referral.client_reference).where(Referral.sent_at.is_not(None)).limit(1)
        )
    assert reference, "the demo activity sent no referral"
    return str(reference)


def test_coordinator_oversees_the_network(page: Page, live_server: Any) -> None:
    sign_in(page, COORDINATOR)
    expect(page.get_by_role("heading", level=1)).to_have_text("Network dashboard")
    for caption in ("Referrals sent per", "Time from sending to acceptance", "Hops per bundle"):
        expect(page.locator("figcaption", has_text=caption)).to_be_visible()
    expect(page.locator("svg[role=img]").first).to_be_visible()
    check_page(page, "network dashboard", readme="coordinator-dashboard")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download these figures as CSV").click()
    assert re.fullmatch(
        r"handoffs-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.value.suggested_filename
    )

    with expect_status(page, 422):
        page.get_by_label("First day sent").fill("2026-03-09")
        page.get_by_label("Last day sent").fill("2026-03-02")
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#f-to-error")).to_contain_text("Must not be before")
    check_page(page, "dashboard refused")

    page.get_by_role("navigation", name="Network oversight").get_by_role(
        "link", name="In limbo"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("In limbo")
    expect(page.locator("#limbo-queue")).to_have_attribute("hx-trigger", "every 30s")
    check_page(page, "in limbo")
    # the demo's stuck referrals: one nudge, answered in place by htmx
    nudges = page.locator(
        "#limbo-queue button:not([disabled])", has_text=re.compile("^(Nudge|Ask) ")
    )
    expect(nudges.first).to_be_visible()
    nudges.first.click()
    expect(page.locator("#limbo-queue .notice")).to_contain_text("agency")
    check_page(page, "in limbo, nudged")
    timeline_links = page.get_by_role("link", name=re.compile("^Timeline of the referral"))
    if timeline_links.count():
        timeline_links.first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Timeline of referral")
        expect(page.locator("ol.timeline li").first).to_contain_text("Referral")
        check_page(page, "referral timeline")

    page.get_by_role("navigation", name="Network oversight").get_by_role(
        "link", name="Audit trail"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    check_page(page, "audit trail")
    page.get_by_role("button", name="Verify chain now").click()
    expect(page.locator(".flash")).to_contain_text("The audit chain is intact")
    with expect_status(page, 422):
        page.get_by_label("Action").fill("referral accepted")
        page.get_by_role("button", name="Filter events").click()
    expect(page.locator("#f-action-error")).to_contain_text("A dotted lower-case action")
    page.get_by_label("Action").fill("referral.*")
    page.get_by_role("button", name="Filter events").click()
    expect(page).to_have_url(re.compile(r"action=referral"))
    check_page(page, "audit filtered")

    reference = _a_demo_reference(live_server)
    page.get_by_role("navigation", name="Network oversight").get_by_role(
        "link", name="Disclosure report"
    ).click()
    page.get_by_label("Client reference").fill(reference)
    page.get_by_role("button", name="Show the report").click()
    expect(page.get_by_role("heading", level=2)).to_have_text(f"Disclosures for {reference}")
    expect(page.locator("main table")).to_contain_text("received a referral")
    check_page(page, "disclosure report")
    with expect_status(page, 404):
        page.get_by_label("Client reference").fill("C-ZZZZ-ZZZZ")
        page.get_by_role("button", name="Show the report").click()
    expect(page.locator("#f-reference-error")).to_contain_text("No client has this reference")
    check_page(page, "disclosure unknown reference")
