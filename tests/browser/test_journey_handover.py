"""A provider hands a referral over to a colleague with a note; the colleague, signed in,
finds it under "mine" and reads the note beside the other messages. On the sending side,
an intake worker hands a whole bundle to a colleague from the bundle's page."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import LiveServer, check_page, sign_in, sign_out
from tests.browser.test_journey_bundles import INTAKE
from tests.browser.test_journey_provider import PROVIDER, _refer


def _colleague(server: LiveServer, of: str = PROVIDER, role: str = "provider") -> tuple[str, str]:
    """A second worker beside `of` (the demo password); returns e-mail and name."""
    from referral_hub import demo
    from referral_hub.agencies import service as agencies
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction

    tag = uuid.uuid4().hex[:6]
    with server.app.app_context(), transaction():
        pat = agencies.find_user_by_email(of)
        assert pat is not None
        colleague = agencies.create_user(
            SYSTEM,
            agency_id=pat.agency_id,
            email=f"night-{tag}@{of.split('@')[1]}",
            display_name=f"Nia Night {tag}",
            roles=[role],
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


def _intake_bundle(server: LiveServer) -> tuple[str, str]:
    """The hotline's intake worker sends a new client's bundle (one shelter with room);
    returns the bundle's id and her reference."""
    from referral_hub.agencies import service as agencies
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.directory import search as finder
    from referral_hub.directory.vocabulary import Category
    from referral_hub.referrals import bundles

    with server.app.app_context(), transaction():
        intake = agencies.find_user_by_email(INTAKE)
        assert intake is not None
        sender = Actor(ActorKind.USER, str(intake.id), intake.agency_id, frozenset(intake.roles))
        query = finder.SearchQuery(
            categories=(Category.EMERGENCY_SHELTER,), available=True, limit=30
        )
        shelter = next(
            item
            for item in finder.search(SYSTEM, query)
            if item["agency"]["receives_referrals"] and item["agency"]["kind"] != "law_enforcement"
        )
        person = clients.create_client(sender, pii={}, profile={"language": "en"})
        bundle = bundles.create_bundle(
            sender,
            client_id=person.id,
            urgency="urgent",  # type: ignore[arg-type]
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [shelter["service"]["id"]],
                    "data_categories": ["profile"],
                }
            ],
        )
        return str(bundle.id), person.reference


def test_an_intake_worker_hands_a_bundle_to_a_colleague(page: Page, live_server: Any) -> None:
    bundle_id, reference = _intake_bundle(live_server)
    email, name = _colleague(live_server, of=INTAKE, role="intake")

    sign_in(page, INTAKE)
    page.goto(f"/intake/bundles/{bundle_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bundle for {reference}")
    expect(page.locator("#caseworker")).not_to_contain_text(name)
    form = page.locator("#form-assign")
    form.get_by_label("New caseworker").select_option(label=name)
    form.get_by_label("Handover note (optional)").fill("Her sister drives her on Tuesdays.")
    check_page(page, "bundle handover form")
    form.get_by_role("button", name="Hand over").click()
    expect(page.locator(".flash")).to_contain_text("Handed over")
    expect(page.locator("#caseworker")).to_have_text(name)
    sign_out(page)

    sign_in(page, email)
    page.goto("/intake/?assignee=me")
    expect(page.locator("#open-bundles")).to_contain_text(reference)
    check_page(page, "the colleague's bundles")
