"""Getting back into an account without an administrator: a lost phone (a recovery code
at the second-factor step) and a forgotten password (a link e-mailed to the person).

Each journey makes its own staff member, so changing a password or spending codes here
leaves the demo users the other journeys sign in as untouched.
"""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from referral_hub import demo
from tests.browser.harness import LiveServer, check_page, expect_status, sign_in, sign_out

NEW_PASSWORD = "a new passphrase for the journey"


def new_staff(server: LiveServer, roles: list[str]) -> str:
    """A staff member of Harbor Light with the demo password; returns the e-mail."""
    from referral_hub.agencies import service as agencies
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import transaction

    address = f"journey-{uuid.uuid4().hex[:8]}@harborlight.example"
    with server.app.app_context(), transaction():
        agency = agencies.find_agency_by_name("Harbor Light Shelter")
        assert agency is not None
        agencies.create_user(
            SYSTEM,
            agency_id=agency.id,
            email=address,
            display_name="Jo Journey",
            roles=roles,
            password=demo.DEMO_PASSWORD,
            notify=False,
        )
    return address


def reset_link(server: LiveServer, address: str) -> str:
    """The path and query of the link in the newest reset e-mail to `address`."""
    folder = Path(server.app.instance_path) / server.app.config["MAIL_FOLDER"]
    for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address and "Reset your" in str(message["Subject"]):
            body = message.get_content()
            found = re.search(r"https?://\S+/login/reset\?token=[A-Za-z0-9_-]+", body)
            assert found, "the reset e-mail has no link"
            parts = urlsplit(found.group(0))
            return f"{parts.path}?{parts.query}"
    raise AssertionError(f"no reset e-mail to {address}")


def test_lost_phone_sign_in_with_a_recovery_code(page: Page, live_server: LiveServer) -> None:
    address = new_staff(live_server, ["agency_admin", "provider"])
    sign_in(page, address, check=True)  # turning on the second factor shows the codes
    saved = live_server.recovery_codes[address]
    assert len(saved) == 10
    page.goto("/account/second-factor")
    expect(page.locator(".codes-left")).to_have_text("10")
    check_page(page, "account second factor")
    sign_out(page)

    # the phone is gone: password, then a recovery code instead of the app's code
    page.get_by_label("Work e-mail").fill(address)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Use a recovery code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in with a recovery code")
    check_page(page, "recovery code")
    with expect_status(page, 401):
        page.get_by_label("Recovery code").fill("0000-0000-0000-0000")
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    check_page(page, "recovery code refused")
    page.get_by_label("Recovery code").fill(saved[0].upper())
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()
    expect(page.locator(".flash")).to_contain_text("9 of your codes are left")
    check_page(page, "signed in with a recovery code")
    page.goto("/account/second-factor")
    expect(page.locator(".codes-left")).to_have_text("9")
    sign_out(page)

    # the same code a second time: refused
    page.get_by_label("Work e-mail").fill(address)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Use a recovery code").click()
    with expect_status(page, 401):
        page.get_by_label("Recovery code").fill(saved[0])
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("used already")


def test_forgot_password_reset_by_the_emailed_link(page: Page, live_server: LiveServer) -> None:
    address = new_staff(live_server, ["intake"])
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    check_page(page, "forgot password")
    with expect_status(page, 422):
        page.get_by_label("Work e-mail").fill("someone@localhost")
        page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter your work e-mail")
    page.get_by_label("Work e-mail").fill(address)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your e-mail")
    check_page(page, "reset link sent")

    link = reset_link(live_server, address)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    check_page(page, "choose a new password")
    with expect_status(page, 422):
        page.get_by_label("New password (at least 12 characters)").fill(NEW_PASSWORD)
        page.get_by_label("The same password again").fill(NEW_PASSWORD + "!")
        page.get_by_role("button", name="Set the new password").click()
    expect(page.locator(".field-error")).to_contain_text("not the same")
    check_page(page, "passwords differ")
    page.get_by_label("New password (at least 12 characters)").fill(NEW_PASSWORD)
    page.get_by_label("The same password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.locator(".flash")).to_contain_text("Your password is changed")
    check_page(page, "password changed")

    sign_in(page, address, password=NEW_PASSWORD)
    sign_out(page)
    with expect_status(page, 400):  # the link worked once
        page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")
    check_page(page, "used link")
