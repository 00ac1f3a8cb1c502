"""Administrators: an agency admin looks after staff, systems, webhooks, services and the
agency; a hub admin picks another agency and reads the embedded mail folder."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.harness import check_page, expect_status, sign_in, sign_out, wait_until_idle


def _admin_menu(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Administration").get_by_role("link", name=label).click()


def test_agency_admin_runs_their_agency(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    tag = uuid.uuid4().hex[:6]
    sign_in(page, "admin@harborlight.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff of Harbor Light Shelter")
    check_page(page, "staff")

    # a taken e-mail: refused beside the field, what was typed kept
    with expect_status(page, 409):
        page.get_by_label("Name").fill(f"Rosa {tag}")
        page.get_by_label("Work e-mail address").fill("provider@harborlight.example")
        page.get_by_label("Intake worker").check()
        page.get_by_role("button", name="Create the account").click()
    expect(page.locator("#f-email-error")).to_have_text("Already taken.")
    check_page(page, "staff refused")
    page.get_by_label("Work e-mail address").fill(f"rosa.{tag}@harborlight.example")
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator(".flash")).to_contain_text(f"Account created for Rosa {tag}")
    page.get_by_role("link", name=f"Rosa {tag}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rosa {tag}")
    check_page(page, "one staff member")
    page.get_by_role("button", name="Disable the account").click()
    expect(page.locator(".flash")).to_contain_text("is disabled")

    _admin_menu(page, "API clients")
    expect(page.get_by_role("heading", level=1)).to_have_text("API clients of Harbor Light Shelter")
    page.get_by_label("Name of the system").fill(f"Case system {tag}")
    page.get_by_label(re.compile(r"directory:read")).check()
    page.get_by_role("button", name="Create the client and show its secret").click()
    expect(page.locator("code.secret")).to_contain_text("rhs_")
    check_page(page, "api client secret")
    page.get_by_role("button", name=f"Revoke Case system {tag}").click()
    expect(page.locator(".flash")).to_contain_text("is revoked")
    expect(page.locator("code.secret")).to_have_count(0)

    _admin_menu(page, "Webhooks")
    with expect_status(page, 422):
        page.get_by_label("Address your system listens on").fill("not a url")
        page.get_by_label("sent", exact=True).check()
        page.get_by_role("button", name="Subscribe and show the signing secret").click()
    expect(page.locator("#f-url-error")).to_have_text("Not an http or https URL.")
    check_page(page, "webhook refused")
    page.get_by_label("Address your system listens on").fill(f"https://cases.example.org/{tag}")
    page.get_by_role("button", name="Subscribe and show the signing secret").click()
    expect(page.locator("code.secret")).to_contain_text("whsec_")
    check_page(page, "webhook secret")
    page.get_by_role("link", name=f"Deliveries to https://cases.example.org/{tag}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deliveries to")
    check_page(page, "webhook deliveries")

    _admin_menu(page, "Services")
    check_page(page, "services")
    page.get_by_role("button", name="Add a service").or_(
        page.get_by_role("link", name="Add a service")
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("New service")
    check_page(page, "new service")
    page.locator("#f-name").fill(f"Night beds {tag}")
    page.get_by_label("Category").select_option("emergency_shelter")
    page.get_by_label("Confidential site").check()
    page.get_by_label("Town or city").fill("Riverbend")
    page.get_by_role("button", name="Add the service").click()
    expect(page.locator(".flash")).to_contain_text(f"Night beds {tag}")
    page.get_by_role("link", name=f"Night beds {tag}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Night beds {tag}")
    check_page(page, "edit service")

    _admin_menu(page, "Agency")
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbor Light Shelter")
    check_page(page, "agency")
    sign_out(page)


def test_hub_admin_picks_an_agency_and_reads_the_mail_folder(page: Page) -> None:
    sign_in(page, "hub-admin@taskforce.example")
    # the hub admin lands on this very page: wait for the reload, or the choice below is made
    # on the old page and lost when the new one is swapped in
    with page.expect_response(lambda answer: "/admin/users" in answer.url):
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    wait_until_idle(page)
    page.get_by_label("Agency you are administering").select_option(label="Harbor Light Shelter")
    page.get_by_role("button", name="Show this agency").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff of Harbor Light Shelter")
    check_page(page, "picked agency staff")
    _admin_menu(page, "Agency")
    expect(page.get_by_role("button", name="Suspend Harbor Light Shelter")).to_be_visible()
    check_page(page, "agency as hub admin")
    _admin_menu(page, "Webhooks")
    expect(page.get_by_text("Each agency's own administrator manages its webhooks")).to_be_visible()
    check_page(page, "webhooks as hub admin")

    _admin_menu(page, "Mail folder")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail folder")
    check_page(page, "mail folder")
    links = page.locator("table tbody th a")
    if links.count():
        links.first.click()
        expect(page.locator("pre.mail-body")).to_be_visible()
        check_page(page, "one e-mail")
    sign_out(page)
