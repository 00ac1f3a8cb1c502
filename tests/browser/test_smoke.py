"""Every demo user signs in and opens every page of their menu; the public pages too.

Each page passes `check_page` (no console error or CSP violation, axe clean, under the
asset budget, fits a phone); `make screenshots` keeps two pictures of each under
tests/artifacts/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from referral_hub import demo
from tests.browser.harness import check_page, sign_in, sign_out

NEEDS_TOTP = {"coordinator", "agency_admin", "hub_admin"}


def test_public_pages(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_page(page, "front page")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    check_page(page, "sign-in")


@pytest.mark.parametrize(
    ("email", "roles"),
    [(email, roles) for email, _, _, roles in demo.USERS],
    ids=[email.split("@")[0] + "-" + email.split("@")[1].split(".")[0] for email, *_ in demo.USERS],
)
def test_each_demo_user_sees_every_page_of_their_menu(
    page: Page, email: str, roles: list[str]
) -> None:
    sign_in(page, email, check=bool(NEEDS_TOTP & set(roles)))
    landing = page.url
    check_page(page, "landing")

    menu = page.get_by_role("navigation", name="Main")
    links = [
        (link.inner_text().strip(), link.get_attribute("href") or "")
        for link in menu.get_by_role("link").all()
    ]
    staff_links = [(label, href) for label, href in links if label != "Referral hub"]
    assert staff_links, f"{email} has no menu"
    for label, href in staff_links:
        page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()
        page.wait_for_url(re.compile(re.escape(href) + r"$"))
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        check_page(page, label)

    # the brand link takes a signed-in person back to their own landing page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Referral hub").click()
    page.wait_for_url(landing)

    sign_out(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.goto(href)
    expect(page).to_have_url(re.compile(r"/login\?next="))
