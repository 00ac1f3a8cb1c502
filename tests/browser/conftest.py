"""Browser tests: Debian's chromium, driven by Playwright, against the hub really serving.

Fixtures (each pytest-xdist worker gets its own server, database and browser):

- `live_server` (session): a fresh database — a SQLite file, or with TEST_DATABASE_URL a
  new PostgreSQL database `<test db>_browser_<worker>` — migrated, seeded with the demo
  network (`flask hub seed-demo`, i.e. `referral_hub.demo`: the users and the password
  `demo.DEMO_PASSWORD`), served by werkzeug on 127.0.0.1 (a free port) in a daemon
  thread. Requests really commit: what one step does, the next step sees. Jobs run
  inline even when REDIS_URL is set: the server lives in this process and nothing here
  runs an rq worker, so queued jobs (notifications, webhooks) would otherwise wait
  forever; inline they have happened when the response arrives. `.url`, `.app`.
- `browser` (session): one headless chromium (`/usr/bin/chromium`; Playwright never
  downloads a browser). Missing chromium FAILS the run: `apt-get install chromium`.
- `page` (each test): a new browser context (its own cookies) at 1280 x 800 with
  `base_url` set, so `page.goto("/intake/")` works. It watches for console errors,
  uncaught page errors, CSP violations (a `securitypolicyviolation` listener added as an
  init script) and 4xx/5xx answers from the hub, and FAILS the test at teardown with the
  messages if it saw any.

Functions, from `tests.browser.harness`:

- `check_page(page, "name")`: waits for network idle, fails on what the watch saw, runs
  axe-core (serious/critical violations fail), fails over 150 KB of script/css/image/font
  assets (see `harness.asset_bytes`); a page that scrolls sideways at 390 px fails. With
  HUB_SCREENSHOTS=1 (`make screenshots`) it also saves full-page screenshots at 1280 and
  390 px wide to `tests/artifacts/<test>/<NN>-<name>-desktop.png|-phone.png`. Call it on
  every page a journey shows. A failing test leaves `tests/artifacts/<test>/failed.png`,
  the page as it ended.
- `sign_in(page, email)`: through the real sign-in pages (enrols TOTP on first sign-in
  for coordinator/agency admin/hub admin); returns on the landing page.
  `sign_out(page)`.
- `with expect_status(page, 422): ...`: a step that should be refused (a bad form) —
  that answer (and Chromium's console line about it) does not fail the test; the block
  fails if no such answer came.

A journey, e.g. `tests/browser/test_journey_provider.py`:

    from playwright.sync_api import Page, expect
    from tests.browser.harness import check_page, expect_status, sign_in

    def test_provider_updates_capacity(page: Page) -> None:
        sign_in(page, "provider@harborlight.example")
        check_page(page, "inbox")
        page.get_by_role("link", name="Capacity").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Capacity")
        check_page(page, "capacity board")
        with expect_status(page, 422):
            page.get_by_label("Available").first.fill("-3")
            page.get_by_role("button", name="Save").first.click()
        expect(page.locator(".field-error").first).to_be_visible()
        check_page(page, "capacity refused")

Signed-in pages use hx-boost: a link or form loads by XHR and swaps the body, so wait for
what the next page shows (`expect(...)`, `page.wait_for_url(...)`), not for a load
event. Data made in one test stays in the worker's database for the next: make your
own (new client references, your own services) rather than count what is there.
Run: `.venv/bin/pytest -q tests/browser` (add `-p no:xdist` to watch one worker).
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.browser.harness import (
    ARTIFACTS,
    CSP_LISTENER,
    DESKTOP,
    LiveServer,
    fail_if_problems,
    start_watching,
    stop_watching,
)
from tests.conftest import fresh_database_url, migrated_app

CHROMIUM = Path("/usr/bin/chromium")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # one line per request would bury the test output


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Marks a test whose body failed, so its page is photographed before it closes."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _empty_test_queue() -> None:
    """Overrides tests/conftest.py's: browser tests have no use for the shared `app`."""


@pytest.fixture(scope="session")
def live_server(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = fresh_database_url(f"browser_{worker_id}", tmp_path_factory)
    with migrated_app(url, worker_id, tmp_path_factory, JOB_RUNNER="inline", REDIS_URL="") as app:
        seeded = app.test_cli_runner().invoke(args=["hub", "seed-demo"])
        assert seeded.exit_code == 0, seeded.output + repr(seeded.exception)
        _seed_activity(app)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="live-hub", daemon=True)
        thread.start()
        try:
            yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def _seed_activity(app: Flask) -> None:
    """The demo's month of referral work, if `seed-demo` did not already run it."""
    try:
        from referral_hub.demo import activity as demo_activity
    except ImportError:
        return
    with app.app_context():
        if not demo_activity.already_seeded():
            demo_activity.seed_activity(echo=lambda _line: None)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(apt-get install chromium); Playwright does not download one."
        )
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def page(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Page]:
    artifacts = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    shutil.rmtree(artifacts, ignore_errors=True)
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_LISTENER)
    tab = context.new_page()
    start_watching(tab, live_server, artifacts)
    try:
        yield tab
        fail_if_problems(tab, "at the end of the test")
    finally:
        if request.node.stash.get(_FAILED, False):
            artifacts.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=artifacts / "failed.png", full_page=True)
        stop_watching(tab)
        context.close()
