"""At 11 pm no shelter fits every filter: the search page shows the closest family
shelters with what each misses, in words (demo network), and a close match goes into the
plan like any result."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import check_page, sign_in


def test_a_search_with_no_match_shows_close_matches_and_what_they_miss(
    page: Page, live_server: Any
) -> None:
    sign_in(page, "intake@hotline.example")
    page.goto("/intake/search")
    page.get_by_label("Need").select_option("emergency_shelter")
    page.get_by_label("Only services with free capacity now").check()
    page.get_by_label("Foreign nationals / no status").check()
    page.get_by_label("People with children").check()
    page.get_by_label("Language she speaks").fill("Vietnamese")
    page.get_by_label("Near a town").select_option("Riverbend")
    page.get_by_label("Within (km)").fill("15")
    page.get_by_role("button", name="Search").click()

    expect(page.locator("#results-h")).to_have_text("No services match")
    close = page.locator(".near-misses article.result")
    expect(close).to_have_count(5)
    for index in range(5):
        expect(close.nth(index)).to_contain_text("Would fit except: does not list Vietnamese")
    expect(page.locator(".near-misses")).not_to_contain_text("languages_not_listed")
    check_page(page, "search with close matches")

    # a shelter that publishes counts only offers "call them" instead of a plan button
    takes_referrals = close.filter(has=page.get_by_role("button")).first
    name = takes_referrals.locator("h3").inner_text()
    takes_referrals.get_by_role("button").click()
    expect(page.locator("#plan-panel")).to_contain_text(name)
