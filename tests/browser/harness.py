"""What the browser tests do to a page: watch it for problems, check it, sign in.

The fixtures in `tests/browser/conftest.py` build the live server, the browser and one
`page` per test; this module holds the plain functions a journey test calls with that
page (`check_page`, `sign_in`, `sign_out`, `expect_status`). The conftest docstring says
how to use them.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import ConsoleMessage, Page, Request, Response, ViewportSize, expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
VENDOR = Path(__file__).resolve().parent / "vendor"

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
ASSET_BUDGET_BYTES = 150 * 1024
# Full-page PNGs at two widths are a third of a journey's time: kept when asked for
# (`make screenshots` sets it), and always of the page a failing test ended on
KEEP_SCREENSHOTS = os.environ.get("HUB_SCREENSHOTS") == "1"
FAILING_IMPACTS = ("serious", "critical")

# Chromium's own console line for a 4xx/5xx answer; allowed when the test expected it
_STATUS_LINE = re.compile(r"status of (\d{3})")


@dataclass
class LiveServer:
    """The hub serving on 127.0.0.1 in a thread of this test process (one per worker)."""

    url: str
    app: Flask
    totp_secrets: dict[str, str] = field(default_factory=dict)  # e-mail → enrolled secret
    # e-mail → the recovery codes shown when that person turned on the second factor
    recovery_codes: dict[str, list[str]] = field(default_factory=dict)
    asset_sizes: dict[str, int] = field(default_factory=dict)  # asset URL → body bytes


@dataclass
class Watch:
    """Everything seen on one page that should fail the test, and what a step expected."""

    server: LiveServer
    artifacts: Path
    problems: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    expecting: Counter[int] = field(default_factory=Counter)  # statuses a step allows
    expected_seen: Counter[int] = field(default_factory=Counter)  # allowed answers seen
    in_flight: set[Request] = field(default_factory=set)
    last_activity: float = field(default_factory=time.monotonic)
    shots: int = 0
    reported: int = 0  # problems already raised by check_page (teardown reports the rest)

    def unexpected(self) -> list[str]:
        """Problems plus console errors not explained by an expected error status."""
        allowance = Counter(self.expected_seen)
        found = list(self.problems)
        for line in self.console_errors:
            match = _STATUS_LINE.search(line)
            if match and allowance[int(match.group(1))] > 0:
                allowance[int(match.group(1))] -= 1
                continue
            found.append(line)
        return found


_WATCHES: dict[int, Watch] = {}


def watch_of(page: Page) -> Watch:
    try:
        return _WATCHES[id(page)]
    except KeyError:
        raise AssertionError("this page was not made by the `page` fixture") from None


# --- the watch: installed by the `page` fixture ------------------------------------------

CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  const report = {
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI, source: event.sourceFile, line: event.lineNumber,
    sample: event.sample,
  };
  if (window.__hubCspViolation) { window.__hubCspViolation(JSON.stringify(report)); }
}, true);
"""


def start_watching(page: Page, server: LiveServer, artifacts: Path) -> Watch:
    watch = Watch(server=server, artifacts=artifacts)
    _WATCHES[id(page)] = watch

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            watch.console_errors.append(f"console error: {message.text} [{where}]")

    def on_response(response: Response) -> None:
        if not response.url.startswith(server.url) or response.status < 400:
            return
        if watch.expecting[response.status] > 0:
            watch.expected_seen[response.status] += 1
            return
        kind = response.request.resource_type
        watch.problems.append(
            f"HTTP {response.status} for {kind} {response.request.method} {response.url}"
        )

    def on_request(request: Request) -> None:
        if request.resource_type == "eventsource":
            return  # a live page's stream stays open by design: it is not "in flight"
        watch.in_flight.add(request)
        watch.last_activity = time.monotonic()

    def on_request_done(request: Request) -> None:
        watch.in_flight.discard(request)
        watch.last_activity = time.monotonic()

    def on_request_failed(request: Request) -> None:
        on_request_done(request)
        failure = request.failure or ""
        # a navigation or an htmx swap cancels what the old page still had in flight
        if request.url.startswith(server.url) and "ERR_ABORTED" not in failure:
            watch.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def on_csp(report: str) -> None:
        watch.problems.append(f"CSP violation: {report}")

    page.expose_function("__hubCspViolation", on_csp)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
    page.on("response", on_response)
    page.on("request", on_request)
    page.on("requestfinished", on_request_done)
    page.on("requestfailed", on_request_failed)
    return watch


def stop_watching(page: Page) -> Watch:
    return _WATCHES.pop(id(page))


def fail_if_problems(page: Page, when: str) -> None:
    watch = watch_of(page)
    found = watch.unexpected()[watch.reported :]
    if found:
        watch.reported += len(found)
        pytest.fail(f"{when}: the browser saw {len(found)} problem(s):\n  " + "\n  ".join(found))


@contextmanager
def expect_status(page: Page, *statuses: int, timeout: float = 5.0) -> Iterator[None]:
    """Inside the block, answers with these statuses (e.g. a 422 form) do not fail the test.

    At the end of the block at least one such answer must have arrived (waits up to
    `timeout` seconds for it): a step that expected a refusal and got none fails.
    """
    watch = watch_of(page)
    before = sum(watch.expected_seen[s] for s in statuses)
    watch.expecting.update(statuses)
    try:
        yield
        deadline = time.monotonic() + timeout
        while sum(watch.expected_seen[s] for s in statuses) == before:
            if time.monotonic() > deadline:
                pytest.fail(f"expected an answer with status {statuses}, none came")
            page.wait_for_timeout(25)
        wait_until_idle(page)
    finally:
        watch.expecting.subtract(statuses)


# --- checking a page --------------------------------------------------------------------


def wait_until_idle(page: Page, quiet_ms: int = 150, timeout: float = 10.0) -> None:
    """Network idle: the page loaded, nothing of ours in flight for `quiet_ms`.

    (Playwright's own "networkidle" waits a fixed 500 ms; this is the same idea, faster.)
    """
    page.wait_for_load_state("load")
    watch = watch_of(page)
    deadline = time.monotonic() + timeout
    while True:
        quiet = (time.monotonic() - watch.last_activity) * 1000
        if not watch.in_flight and quiet >= quiet_ms:
            break
        if time.monotonic() > deadline:
            pending = ", ".join(r.url for r in watch.in_flight)
            pytest.fail(f"the page did not become idle in {timeout} s (in flight: {pending})")
        page.wait_for_timeout(25)
    # htmx marks elements while it has a request out; fonts must be in for screenshots
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.evaluate("() => document.fonts.ready.then(() => true)")


def _axe_source() -> str:
    files = sorted(VENDOR.glob("axe-*.min.js"))
    assert files, f"axe-core is not vendored in {VENDOR} (run `make vendor`)"
    return files[-1].read_text(encoding="utf-8")


_AXE: list[str] = []


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; its serious and critical violations.

    Injected with `page.evaluate` (a DevTools evaluation, which the page's CSP does not
    govern) rather than a <script> tag the CSP would rightly refuse.
    """
    if not _AXE:
        _AXE.append(_axe_source())
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_AXE[0])
    results = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ['violations']});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
            count: v.nodes.length,
          }));
        }"""
    )
    return [v for v in results if v["impact"] in FAILING_IMPACTS]


def asset_bytes(page: Page) -> dict[str, int]:
    """Bytes of every script, stylesheet, image and font the current page uses.

    The URLs: `<script src>`, `<link rel=stylesheet|icon|preload>`, `<img src>`, `<source
    srcset>` in the document now, plus what stylesheets pulled in (Resource Timing
    entries with initiatorType "css": fonts, background images). Each is counted once at
    the size of its body as the hub sends it (fetched once per run through the browser
    context's request API; the hub does not compress): the cost of opening the page on
    an empty cache. Inline SVG and the HTML itself are not assets.
    """
    watch = watch_of(page)
    urls: list[str] = page.evaluate(
        """() => {
          const urls = new Set();
          document.querySelectorAll('script[src]').forEach((e) => urls.add(e.src));
          document.querySelectorAll('link[href]').forEach((e) => {
            if (/stylesheet|icon|preload|modulepreload/.test(e.rel)) urls.add(e.href);
          });
          document.querySelectorAll('img[src]').forEach((e) => urls.add(e.currentSrc || e.src));
          document.querySelectorAll('source[srcset], img[srcset]').forEach((e) => {
            e.srcset.split(',').forEach((part) => {
              const u = part.trim().split(/\\s+/)[0];
              if (u) urls.add(new URL(u, document.baseURI).href);
            });
          });
          performance.getEntriesByType('resource')
            .filter((r) => r.initiatorType === 'css')
            .forEach((r) => urls.add(r.name));
          return [...urls].filter((u) => !u.startsWith('data:'));
        }"""
    )
    sizes = {}
    for url in urls:
        if url not in watch.server.asset_sizes:
            response = page.context.request.get(url)
            assert response.ok, f"asset {url} answered {response.status}"
            watch.server.asset_sizes[url] = len(response.body())
        sizes[url] = watch.server.asset_sizes[url]
    return sizes


def check_page(
    page: Page, name: str, *, phone_overflow_ok: bool = False, readme: str | None = None
) -> None:
    """Check the page as it is now (and, with HUB_SCREENSHOTS=1, keep screenshots of it).

    1. waits until the network is idle (nothing in flight for 150 ms, no htmx request);
    2. fails on anything the watch saw so far (console errors, page errors, CSP
       violations, 4xx/5xx answers not expected with `expect_status`);
    3. runs axe-core: serious or critical violations fail (rule id, help, targets);
    4. fails if the page's assets (see `asset_bytes`) are over 150 KB (153,600 bytes);
    5. at 390 px the page must not scroll sideways (a wide table needs
       `<div class="overflow-auto">`); `phone_overflow_ok=True` only for a page that must;
    6. with HUB_SCREENSHOTS=1 (`make screenshots`): full-page screenshots at 1280 px and
       390 px wide, tests/artifacts/<test>/<NN>-<name>-desktop.png and -phone.png, and for
       `readme="name"` the first screenful at 1280 px as tests/artifacts/readme/<name>.png,
       which `make screenshots` copies into docs/. (A failing test always leaves a
       screenshot of the page it ended on: see the `page` fixture.)
    """
    watch = watch_of(page)
    wait_until_idle(page)
    fail_if_problems(page, f"before checking {name!r} ({page.url})")

    violations = axe_violations(page)
    if violations:
        lines = [
            f"{v['impact']}: {v['id']} — {v['help']} ({v['count']} element(s): "
            f"{'; '.join(v['targets'])}) {v['helpUrl']}"
            for v in violations
        ]
        pytest.fail(f"axe on {name!r} ({page.url}):\n  " + "\n  ".join(lines))

    sizes = asset_bytes(page)
    total = sum(sizes.values())
    if total > ASSET_BUDGET_BYTES:
        listing = "\n  ".join(f"{size:>9,} {url}" for url, size in sorted(sizes.items()))
        pytest.fail(f"{name!r} loads {total:,} bytes of assets (budget 153,600):\n  {listing}")

    watch.shots += 1
    stem = f"{watch.shots:02d}-{_slug(name)}"
    if KEEP_SCREENSHOTS:
        watch.artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=watch.artifacts / f"{stem}-desktop.png", full_page=True, caret="initial"
        )
        if readme:
            (ARTIFACTS / "readme").mkdir(parents=True, exist_ok=True)
            page.screenshot(path=ARTIFACTS / "readme" / f"{readme}.png", caret="initial")
    page.set_viewport_size(PHONE)
    try:
        page.wait_for_function(f"() => window.innerWidth === {PHONE['width']}")
        if KEEP_SCREENSHOTS:
            page.screenshot(
                path=watch.artifacts / f"{stem}-phone.png", full_page=True, caret="initial"
            )
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"] and not phone_overflow_ok:
            wide = page.evaluate(
                """(limit) => [...document.querySelectorAll('main *')]
                  .filter((e) => e.getBoundingClientRect().right > limit + 1)
                  .slice(0, 5).map((e) => e.tagName.toLowerCase()
                    + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))""",
                PHONE["width"],
            )
            pytest.fail(
                f"{name!r} is {width} px wide at a {PHONE['width']} px phone width "
                f'(scrolls sideways; wrap wide tables in <div class="overflow-auto">): {wide}'
            )
    finally:
        page.set_viewport_size(DESKTOP)
    fail_if_problems(page, f"while checking {name!r}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"


# --- signing in and out -------------------------------------------------------------------


def sign_in(page: Page, email: str, *, password: str | None = None, check: bool = False) -> None:
    """Sign in through the real pages; returns once the person's landing page is shown.

    Roles that need a second factor (coordinator, agency admin, hub admin) enrol on
    their first sign-in to this server: the secret is read from the enrol page's
    `.totp-secret`, kept for the run, and codes come from pyotp for a time step the
    person has not used yet (a used code is refused; waits for the next step if need be).
    The recovery codes the enrolment shows once are kept in `server.recovery_codes`.
    `check=True` also runs `check_page` on the sign-in, enrol and code pages.
    """
    from referral_hub import demo

    watch = watch_of(page)
    page.goto("/login")
    if check:
        check_page(page, "sign-in")
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill(password or demo.DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    path = urlsplit(page.url).path
    if path == "/login/enrol":
        if check:
            check_page(page, "enrol second factor")
        secret = page.locator(".totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Then enter the six-digit code it shows").fill(
            fresh_code(watch.server, email, secret)
        )
        with page.expect_navigation():
            page.get_by_role("button", name="Turn on and sign in").click()
        watch.server.totp_secrets[email] = secret
        expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
        if check:
            check_page(page, "recovery codes")
        codes = page.locator(".recovery-codes code").all_inner_texts()
        watch.server.recovery_codes[email] = codes
        with page.expect_navigation():
            page.get_by_role("button", name="I have saved them: continue").click()
    elif path == "/login/code":
        if check:
            check_page(page, "second factor code")
        secret = watch.server.totp_secrets.get(email) or _give_totp(watch.server, email)
        page.get_by_label("Six-digit code").fill(fresh_code(watch.server, email, secret))
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()
    path = urlsplit(page.url).path
    if path.startswith("/login"):
        alert = page.locator("[role=alert]")
        said = alert.first.inner_text() if alert.count() else page.title()
        pytest.fail(f"signing in as {email} stopped at {path}: {said}")
    wait_until_idle(page)


def sign_out(page: Page) -> None:
    """Press "Sign out" in the header; returns on the sign-in page."""
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))
    wait_until_idle(page)


def _user(server: LiveServer, email: str) -> Any:
    from referral_hub.agencies import service as agencies

    person = agencies.find_user_by_email(email)
    assert person is not None, f"no user {email} on the live server"
    return person


def _give_totp(server: LiveServer, email: str) -> str:
    """A second factor set through the service, for a user enrolled outside this run."""
    import pyotp

    from referral_hub.core import crypto
    from referral_hub.core.db import transaction

    secret = pyotp.random_base32()
    with server.app.app_context(), transaction():
        person = _user(server, email)
        person.totp_secret = crypto.encrypt(secret.encode())
        person.totp_last_step = None
    server.totp_secrets[email] = secret
    return secret


def fresh_code(server: LiveServer, email: str, secret: str) -> str:
    """A code for a time step this person has not used (as tests/factories.fresh_code).

    The journeys share one server, so a person signed in twice within a minute has used
    both steps the hub accepts now. Rather than wait up to 30 s for the next step (a
    pause that only hopes the clock moved), the harness moves that person's replay record
    one step back, as an administrator resetting the factor would; replay refusal itself
    is tested in tests/auth/test_signin.py.
    """
    import pyotp

    from referral_hub.core import clock
    from referral_hub.core.db import transaction

    totp = pyotp.TOTP(secret)
    now: datetime = clock.now()
    with server.app.app_context():
        last = _user(server, email).totp_last_step
    for drift in (0, 1):
        moment = now + timedelta(seconds=30 * drift)
        if last is None or totp.timecode(moment) > last:
            return str(totp.at(moment))
    with server.app.app_context(), transaction():
        _user(server, email).totp_last_step = totp.timecode(now) - 1
    return str(totp.at(now))
