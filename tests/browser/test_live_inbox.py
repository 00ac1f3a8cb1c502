"""A provider's inbox shows a referral the moment it arrives: no reload, no poll."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import check_page, sign_in
from tests.browser.test_journey_provider import PROVIDER, _refer

# only "answered at all": the list's poll is held back while its stream is open, so the
# row can only come through the stream, however long it takes
ARRIVES_WITHIN_MS = 20_000


def test_the_inbox_shows_a_new_referral_without_a_reload(page: Page, live_server: Any) -> None:
    sign_in(page, PROVIDER)
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals received")
    expect(page.locator("html")).to_have_attribute("data-live-state", "open")
    check_page(page, "inbox, live")
    page.evaluate("() => { window.__sameDocument = true; }")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    reference, _ = _refer(live_server, urgency="emergency", contact=f"555-{uuid.uuid4().hex[:6]}")

    row = page.locator("#inbox-list tr", has=page.get_by_role("link", name=re.compile(reference)))
    expect(row).to_be_visible(timeout=ARRIVES_WITHIN_MS)
    expect(row).to_contain_text("New — not opened yet")
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert [url for url in requests if "/provider/" in url], "the list fetched itself again"
    check_page(page, "inbox, a referral arrived")
