"""A provider hands a referral over to a colleague with a note; the colleague, signed in,
finds it under "mine" and reads the note beside the other messages."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import LiveServer, check_page, sign_in, sign_out
from tests.browser.test_journey_provider import PROVIDER, _refer


def _colleague(server: LiveServer) -> tuple[str, str]:
    """A second provider at Harbor Light (the demo password); returns e-mail and name."""
    from referral_hub import demo
    from referral_hub.agencies import service as agencies
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction

    tag = uuid.uuid4().hex[:6]
    with server.app.app_context(), transaction():
        pat = agencies.find_user_by_email(PROVIDER)
        assert pat is not None
        colleague = agencies.create_user(
            SYSTEM,
            agency_id=pat.agency_id,
            email=f"night-{tag}@harborlight.example",
            display_name=f"Nia Night {tag}",
            roles=["provider"],
            notify=False,
        )
        colleague.password_hash = agencies.password_hasher().hash(demo.DEMO_PASSWORD)
        return colleague.email, colleague.display_name


def test_a_provider_hands_a_referral_to_a_colleague(page: Page, live_server: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    reference, _ = _refer(live_server, urgency="urgent", contact=f"555-{tag} Cleo")
    email, name = _colleague(live_server)

    sign_in(page, PROVIDER)
    page.get_by_role("link", name=re.compile(reference)).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Referral {reference}")
    # nobody owns it until someone takes it up: the handover form is not offered yet
    expect(page.locator("#caseworker")).to_contain_text("Nobody yet")
    expect(page.locator("#form-assign")).to_have_count(0)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash")).to_contain_text("Acknowledged")
    expect(page.locator("#caseworker")).to_contain_text("Pat Provider")

    form = page.locator("#form-assign")
    form.get_by_label("New caseworker").select_option(label=name)
    form.get_by_label("Handover note (optional)").fill("She prefers calls after six.")
    check_page(page, "handover form")
    form.get_by_role("button", name="Hand over").click()
    expect(page.locator(".flash")).to_contain_text("Handed over")
    expect(page.locator("#caseworker")).to_contain_text(name)
    expect(page.locator("ol.timeline")).to_contain_text("Caseworker changed · Harbor Light")
    sign_out(page)

    sign_in(page, email)
    page.get_by_label("Whose").select_option("me")
    page.get_by_role("button", name="Show these").click()
    expect(page).to_have_url(re.compile(r"assignee=me"))
    row = page.locator("tr", has=page.get_by_role("link", name=re.compile(reference)))
    expect(row).to_contain_text(name)
    check_page(page, "inbox: mine")
    row.get_by_role("link", name=re.compile(reference)).click()
    expect(page.locator("ol.messages")).to_contain_text("Handover: She prefers calls after six.")
    check_page(page, "the colleague's referral")
