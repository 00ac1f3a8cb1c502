"""Eleven at night: a Spanish-speaking mother with a child, a foreign national, needs a bed
tonight and immigration counsel. The intake worker finds a family shelter and a night
immigration line, records her (the session runs out mid-interview: nothing typed is lost),
records her consent in Spanish and sends both as one bundle — each need with its own
urgency, asked once. Every page is checked at 1280 and 390 px and by axe (`check_page`).

Typed fields and clicks from sign-in to "bundle sent" are counted as the journey goes
(`Count`), and the journey fails if they grow past what it takes today."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, expect

from tests.browser.harness import LiveServer, check_page, sign_in

INTAKE = "intake@hotline.example"
SHELTER = "Family emergency beds — Casa Esperanza Family Shelter"
COUNSEL = "After-hours immigration advice — Nuevo Día Immigrant Legal Center"


@dataclass
class Count:
    """What the worker does by hand: fields typed or chosen, and clicks."""

    typed: int = 0
    clicks: int = 0

    def fill(self, field: Locator, value: str) -> None:
        field.fill(value)
        self.typed += 1

    def choose(self, field: Locator, value: str) -> None:
        field.select_option(value)
        self.typed += 1

    def tick(self, box: Locator) -> None:
        box.check()
        self.clicks += 1

    def click(self, target: Locator) -> None:
        target.click()
        self.clicks += 1


def _free_beds_tonight(server: LiveServer) -> None:
    """Earlier journeys on this server may have taken the showcase's places: give back a
    few, as the shelter's own worker would."""
    from sqlalchemy import select

    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction
    from referral_hub.directory.capacity import set_capacity
    from referral_hub.directory.models import Service
    from referral_hub.extensions import db

    with server.app.app_context(), transaction():
        for name in (SHELTER, COUNSEL):
            service = db.session.scalars(select(Service).where(Service.name == name)).one()
            set_capacity(SYSTEM, service.id, total=8, available=3)


def _session_runs_out(server: LiveServer) -> None:
    """What an idle timeout does: her session was last seen longer ago than the limit."""
    from datetime import timedelta

    from sqlalchemy import select

    from referral_hub.agencies import service as agencies
    from referral_hub.auth.models import StaffSession
    from referral_hub.core import clock
    from referral_hub.core.db import transaction
    from referral_hub.extensions import db

    with server.app.app_context(), transaction():
        worker = agencies.find_user_by_email(INTAKE)
        assert worker is not None
        idle = timedelta(minutes=server.app.config["SESSION_IDLE_MINUTES"] + 1)
        for row in db.session.scalars(
            select(StaffSession).where(StaffSession.user_id == worker.id)
        ):
            row.last_seen_at = clock.now() - idle


def _add_to_plan(page: Page, count: Count, name: str) -> None:
    result = page.locator("article.result", has=page.get_by_role("heading", name=name))
    expect(result.first).to_be_visible()
    count.click(result.first.get_by_role("button"))
    expect(page.locator("#plan-panel")).to_contain_text(name)


def test_eleven_pm_a_mother_and_child_get_a_bed_and_counsel_in_one_bundle(
    page: Page, live_server: LiveServer
) -> None:
    _free_beds_tonight(live_server)
    tag = uuid.uuid4().hex[:6].upper()
    count = Count()
    sign_in(page, INTAKE)
    count.typed += 2  # e-mail and password
    count.clicks += 1

    count.click(page.get_by_role("button", name="Start a new intake: find services"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Find services")
    count.choose(page.get_by_label("Need"), "emergency_shelter")
    count.tick(page.get_by_label("Only services with free capacity now"))
    count.fill(page.get_by_label("Age", exact=True), "29")
    count.choose(page.get_by_label("Gender"), "female")
    count.fill(page.get_by_label("Language she speaks"), "Spanish")  # a name, not a code
    count.tick(page.get_by_label("Foreign nationals / no status"))
    count.tick(page.get_by_label("People with children"))
    count.choose(page.get_by_label("Near a town"), "Riverbend")
    count.click(page.get_by_role("button", name="Search"))
    expect(page.locator("#results-h")).to_contain_text("services")
    check_page(page, "11 pm: family shelters that fit")
    _add_to_plan(page, count, SHELTER)

    # the same search for her second need: only the need changes
    count.choose(page.get_by_label("Need"), "immigration_counsel")
    count.click(page.get_by_role("button", name="Search"))
    _add_to_plan(page, count, COUNSEL)
    check_page(page, "11 pm: plan with a bed and counsel", readme="intake-search")

    count.click(page.get_by_role("button", name="Continue: new client"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New client")
    # what the search said about her is already here
    expect(page.get_by_label("Language she prefers")).to_have_value("Spanish")
    expect(page.get_by_label("Gender")).to_have_value("female")
    expect(page.get_by_label("Age range")).to_have_value("25_39")
    count.fill(page.get_by_label("Client reference"), f"RH-{tag}")
    count.choose(page.get_by_label("Emergency shelter", exact=True), "emergency")
    count.choose(page.get_by_label("Immigration counsel", exact=True), "routine")
    count.fill(page.get_by_label("Name", exact=True), f"Ana {tag}")
    count.fill(page.get_by_label("Contact details"), f"555-{tag}")
    check_page(page, "11 pm: new client")

    _session_runs_out(live_server)  # she told her story slowly; the session timed out
    count.click(page.get_by_role("button", name="Save and go to consent"))
    page.wait_for_url("**/login**")
    sign_in(page, INTAKE)
    count.typed += 2
    count.clicks += 1
    expect(page.get_by_role("heading", level=1)).to_have_text("Nothing you typed was lost")
    check_page(page, "11 pm: signed in again, her record kept")
    count.click(page.get_by_role("button", name="Send it now"))

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Consent for RH-{tag}")
    expect(page.locator("main")).not_to_contain_text(f"Ana {tag}")
    # in her language without asking: her record says Spanish
    expect(page.locator("section.consent-text")).to_have_attribute("lang", "es")
    count.tick(page.locator("input[name=data_categories][value=contact]"))
    check_page(page, "11 pm: consent in Spanish", readme="intake-consent")
    count.click(page.get_by_role("button", name="Record consent and continue to referrals"))

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Send the bundle for RH-{tag}")
    urgencies = page.get_by_label("How urgent is this need?")
    expect(urgencies).to_have_count(2)
    expect(urgencies.nth(0)).to_have_value("emergency")  # asked once, on her record
    expect(urgencies.nth(1)).to_have_value("routine")
    for box in page.locator("input[name$=data_categories][value=contact]").all():
        if not box.is_checked():
            count.tick(box)
    check_page(page, "11 pm: the bundle, each need with its urgency")
    count.click(page.get_by_role("button", name="Send the bundle"))

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bundle for RH-{tag}")
    expect(page.locator(".flash")).to_contain_text("Bundle sent: 2 referrals")
    live = page.locator("#bundle-live")
    expect(live).to_contain_text(SHELTER)
    expect(live).to_contain_text(COUNSEL)
    check_page(page, "11 pm: bundle sent", readme="intake-bundle")

    # sign-in to "bundle sent", session lost on the way: what it takes, at most
    assert count.typed <= 15, count
    assert count.clicks <= 18, count
    print(f"11 pm journey: {count.typed} fields typed or chosen, {count.clicks} clicks")
