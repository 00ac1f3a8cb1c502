"""A provider's day: the inbox with countdowns, a referral before and after accepting it (her
contact opens only then), a message, a decline with its reason, and the capacity board —
one-tap "minus", "still true", and exact numbers refused beside the field."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import LiveServer, check_page, expect_status, sign_in

PROVIDER = "provider@harborlight.example"


def _refer(server: LiveServer, *, urgency: str, contact: str) -> tuple[str, str]:
    """The hotline refers a new client to a Harbor Light service with room (and consent for
    her contact); returns her reference and the service's name."""
    from referral_hub.agencies import service as agencies
    from referral_hub.clients import service as clients
    from referral_hub.consent import service as consent
    from referral_hub.core import clock
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.directory.queries import board_services
    from referral_hub.referrals import service as referrals

    with server.app.app_context(), transaction():
        intake = agencies.find_user_by_email("intake@hotline.example")
        provider = agencies.find_user_by_email(PROVIDER)
        assert intake is not None
        assert provider is not None
        sender = Actor(ActorKind.USER, str(intake.id), intake.agency_id, frozenset(intake.roles))
        receiver = Actor(
            ActorKind.USER, str(provider.id), provider.agency_id, frozenset(provider.roles)
        )
        assert receiver.agency_id is not None
        service = next(
            s
            for s in board_services(receiver)
            if s.capacity is not None and s.capacity.available > 2
        )
        person = clients.create_client(
            sender, pii={"contact": contact}, profile={"language": "es", "household": "alone"}
        )
        granted = consent.record_consent(
            sender,
            person.id,
            recipients=[receiver.agency_id],
            purposes=[service.category.value],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="es",
            signed_at=clock.now(),
        )
        referral = referrals.send_referral(
            sender,
            client_id=person.id,
            service_id=service.id,
            urgency=urgency,  # type: ignore[arg-type]
            data_categories=["profile", "contact"],
            consent_id=granted.id,
            note="She asks for a room near the stairs.",
        )
        return referral.client_reference, service.name


def test_provider_answers_referrals_and_keeps_capacity_true(page: Page, live_server: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm on decline
    tag = uuid.uuid4().hex[:6]
    taken, service_name = _refer(live_server, urgency="emergency", contact=f"555-{tag} Ana")
    declined, _ = _refer(live_server, urgency="urgent", contact=f"555-{tag} Bea")

    sign_in(page, PROVIDER)
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals received")
    expect(page.locator("#inbox-list")).to_have_attribute("hx-trigger", "every 30s, hub-live")
    row = page.locator("tr", has=page.get_by_role("link", name=re.compile(taken)))
    expect(row).to_contain_text("New — not opened yet")
    expect(row.locator("time.countdown")).to_contain_text(re.compile(r"in \d+ min"))
    check_page(page, "inbox", readme="provider-inbox")

    page.get_by_label("Urgency").select_option("emergency")
    page.get_by_role("button", name="Show these").click()
    expect(page).to_have_url(re.compile(r"urgency=emergency"))
    expect(page.get_by_role("link", name=re.compile(declined))).to_have_count(0)
    page.get_by_role("link", name=re.compile(taken)).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Referral {taken}")
    expect(page.locator("main")).to_contain_text("She asks for a room near the stairs.")
    expect(page.locator("main")).not_to_contain_text(f"555-{tag}")
    check_page(page, "referral before accepting")

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash")).to_contain_text("Acknowledged")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator(".flash")).to_contain_text("Accepted")
    expect(page.locator("main")).to_contain_text(f"555-{tag} Ana")
    page.get_by_label("New message").fill("We have a room for her tonight.")
    page.get_by_role("button", name="Send the message").click()
    expect(page.locator("ol.messages")).to_contain_text("We have a room for her tonight.")
    check_page(page, "referral accepted")

    page.goto("/provider/")
    page.get_by_role("link", name=re.compile(declined)).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Referral {declined}")
    page.locator("#form-decline").get_by_label("Why").select_option("no_capacity")
    page.get_by_label("Note for the sender (optional)").fill("Full until Friday.")
    page.get_by_role("button", name="Decline").click()
    expect(page.locator(".flash")).to_contain_text("Declined")
    expect(page.locator(".referral-status")).to_contain_text("Declined")
    check_page(page, "referral declined")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Capacity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Capacity board")
    card = page.locator("article.capacity-card", has_text=service_name).first
    card_id = card.get_attribute("id")
    before = int(card.locator(".big").inner_text())
    check_page(page, "capacity board", readme="provider-capacity")

    card.get_by_role("button", name=f"One fewer free at {service_name}").click()
    card = page.locator(f"#{card_id}")
    expect(card.locator(".big")).to_have_text(str(before - 1))
    expect(page.locator("#capacity-status")).to_contain_text("one fewer free")
    card.get_by_role("button", name=re.compile("^Still true")).click()
    expect(page.locator("#capacity-status")).to_contain_text("confirmed as still true")
    expect(card.locator(".badge-fresh")).to_be_visible()

    card.locator("summary", has_text="Set exact numbers").click()
    total = card.get_by_label(re.compile("^Total"))
    with expect_status(page, 422):
        card.get_by_label("Free now").fill("999")
        card.get_by_role("button", name=re.compile("^Save the numbers")).click()
    expect(card.locator(".field-error").first).to_contain_text("Cannot exceed total.")
    expect(card.get_by_label("Free now")).to_have_value("999")
    expect(total).to_be_visible()
    check_page(page, "capacity refused")
