"""The watch itself: what must fail a browser test does, and an expected refusal does not."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.harness import (
    check_page,
    expect_status,
    fail_if_problems,
    wait_until_idle,
    watch_of,
)


def _fails_with(page: Page, *words: str) -> None:
    # console lines can trail the event that caused them: wait until every word has been
    # seen (up to 10 s), rather than pause and hope they have
    watch = watch_of(page)
    deadline = time.monotonic() + 10
    while not all(any(word in line for line in watch.unexpected()) for word in words):
        if time.monotonic() > deadline:
            break  # the assertion below says what was missing
        page.wait_for_timeout(25)
    with pytest.raises(pytest.fail.Exception) as failure:
        fail_if_problems(page, "harness test")
    for word in words:
        assert word in str(failure.value), str(failure.value)


def test_an_inline_style_is_a_csp_violation(page: Page) -> None:
    page.goto("/login")
    wait_until_idle(page)
    page.evaluate("() => document.body.setAttribute('style', 'color: red')")
    _fails_with(page, "CSP violation", "style-src")


def test_a_script_error_fails(page: Page) -> None:
    page.goto("/login")
    wait_until_idle(page)
    page.evaluate("() => { setTimeout(() => { throw new Error('boom from the page'); }, 0); }")
    _fails_with(page, "page error", "boom from the page")


def test_a_missing_asset_fails(page: Page) -> None:
    page.goto("/login")
    wait_until_idle(page)
    page.evaluate("() => fetch('/static/css/no-such-file.css')")
    wait_until_idle(page)
    _fails_with(page, "HTTP 404", "no-such-file.css")


def test_an_expected_refusal_passes_and_its_page_is_checked(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Work e-mail").fill("nobody@example.org")
    page.get_by_label("Password").fill("not the password")
    with expect_status(page, 401):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    check_page(page, "sign-in refused")


def test_an_expected_refusal_that_never_comes_fails(page: Page) -> None:
    page.goto("/login")
    refused = pytest.raises(pytest.fail.Exception, match="expected an answer with status")
    with refused, expect_status(page, 422, timeout=0.5):
        page.goto("/")
