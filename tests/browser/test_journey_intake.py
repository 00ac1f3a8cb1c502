"""An intake worker's first half of the journey: dashboard → search with filters (a bad one
refused first) → two services into the plan → new client (a bad date refused first) →
consent in Spanish (a missing agency refused first) → on to the bundle page; then her
client page, with a consent revoked."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import check_page, expect_status, sign_in

INTAKE = "intake@hotline.example"


def test_intake_searches_plans_records_a_client_and_her_consent(
    page: Page, live_server: Any
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    sign_in(page, INTAKE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your agency's referrals")
    check_page(page, "dashboard")

    page.get_by_role("button", name="Start a new intake: find services").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find services")
    check_page(page, "search")

    with expect_status(page, 422):
        page.get_by_label("Age", exact=True).fill("200")
        page.get_by_role("button", name="Search").click()
    expect(page.locator("#f-age-error")).to_contain_text("Give an age from 0 to 120.")
    expect(page.get_by_label("Age", exact=True)).to_have_value("200")
    check_page(page, "search refused")

    page.get_by_label("Need").select_option("emergency_shelter")
    page.get_by_label("Age", exact=True).fill("30")
    page.get_by_label("Only services with free capacity now").check()
    page.get_by_label("Near a town").select_option("Riverbend")
    page.get_by_label("Within (km)").fill("60")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results-h")).to_contain_text("services")
    expect(page.locator("article.result").first).to_contain_text("km away")
    check_page(page, "search results")

    # two picks, by htmx: only the plan panel changes
    names = page.locator("article.result h3").all_inner_texts()[:2]
    for index in range(2):
        page.locator("article.result").nth(index).get_by_role("button").click()
        expect(page.locator("#plan-panel")).to_contain_text(names[index])
    expect(page.locator("#plan-panel")).to_contain_text("(2 of 3)")
    check_page(page, "plan with two services")

    page.get_by_role("button", name="Continue: new client").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New client")
    check_page(page, "new client")
    page.get_by_label("Client reference").fill(f"RH-{tag}")
    page.get_by_label("Age range").select_option("25_39")
    page.get_by_label("Language she prefers").fill("es")
    page.get_by_label("Urgency").select_option("urgent")
    page.get_by_label("Name", exact=True).fill(f"Rosa {tag}")
    page.get_by_label("Contact details").fill(f"555-{tag}")
    with expect_status(page, 422):
        page.locator("#f-pii-dob").evaluate("el => { el.type = 'text'; el.value = '31/02/99'; }")
        page.get_by_role("button", name="Save and go to consent").click()
    expect(page.locator("#f-pii-dob-error")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value(
        f"Rosa {tag}"
    )  # nothing typed is lost
    check_page(page, "new client refused")
    page.locator("#f-pii-dob").evaluate("el => { el.type = 'date'; el.value = ''; }")
    page.get_by_role("button", name="Save and go to consent").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Consent for RH-{tag}")
    expect(page.locator(".flash")).to_contain_text(f"Client RH-{tag} recorded")
    expect(page.locator("main")).not_to_contain_text(f"Rosa {tag}")
    check_page(page, "consent")

    page.get_by_label("Language of the consent form").select_option("es")
    page.get_by_role("button", name="Show the form in this language").click()
    expect(page.locator("section.consent-text")).to_have_attribute("lang", "es")
    expect(page.locator("section.consent-text h2")).to_have_text(
        "Permiso para compartir su información"
    )
    check_page(page, "consent in Spanish")
    # the text she reads lists what is ticked, and follows the boxes as they change
    contact_line = page.locator('.consent-categories [data-category="contact"]')
    expect(contact_line).to_be_hidden()
    contact_box = page.locator('input[name=data_categories][value="contact"]')
    contact_box.check()
    expect(contact_line).to_be_visible()
    expect(contact_line).to_contain_text("Cómo comunicarse con usted")
    contact_box.uncheck()
    expect(contact_line).to_be_hidden()

    ticked = page.locator("input[name=recipients][type=checkbox]:checked")
    expect(ticked).not_to_have_count(0)
    for box in page.locator("input[name=recipients][type=checkbox]").all():
        box.uncheck()
    with expect_status(page, 422):
        page.get_by_role("button", name="Record consent and continue to referrals").click()
    expect(page.locator(".form-problem")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Choose at least one agency")
    check_page(page, "consent refused")

    for box in page.locator("input[name=recipients][type=checkbox]").all():
        box.check()
    page.locator("input[name=data_categories][value=contact]").check()
    page.get_by_role("button", name="Record consent and continue to referrals").click()
    page.wait_for_url(re.compile(r"/intake/bundles/new\?client=.+&consent=.+"))
    client_id = re.search(r"client=([0-9a-f-]+)", page.url).group(1)

    page.goto(f"/intake/clients/{client_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Client RH-{tag}")
    expect(page.locator("main")).not_to_contain_text(f"Rosa {tag}")
    check_page(page, "client")
    page.get_by_role("link", name=f"Show RH-{tag}'s personal information").click()
    expect(page.locator("dl.pii")).to_contain_text(f"Rosa {tag}")
    check_page(page, "client with personal information")

    with expect_status(page, 422):  # blanks pass the browser's `required`, not the hub
        page.get_by_label("Why is it revoked?").fill("   ")
        page.get_by_role("button", name="Revoke this consent").click()
    expect(page.locator(".revoke-form .field-error")).to_be_visible()
    page.get_by_label("Why is it revoked?").fill("she asked by phone")
    page.get_by_role("button", name="Revoke this consent").click()
    expect(page.locator(".flash")).to_contain_text("Consent revoked")
    expect(page.locator("article.consent")).to_contain_text("Revoked")
    check_page(page, "client consent revoked")
