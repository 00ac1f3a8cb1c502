"""Staff page speed: `python bench/pages.py` (SQLite by default; PostgreSQL when
BENCH_DATABASE_URL names a server — a database `<name>_pages` is made fresh beside it).

Goal (issue 8): every staff page's server time under 50 ms with the demo data, and no page
loading more than 150 KB of assets. In one run, on one machine:
  1. a fresh database, migrated and seeded with the demo (its month of activity included);
  2. each demo user signs in through the real forms (roles needing TOTP enrolled first
     through the auth service), and their pages are found by crawling: the links of the
     `<nav aria-label="Main">` menu, then the links on those pages under the same path
     prefixes, one level deep, one page per URL shape (ids replaced), capped;
  3. every page is requested N times through the Flask test client (no network, no
     gunicorn: the app's own handling time); median and p90;
  4. the baseline, measured the same way in the same run: a bare Flask route rendering a
     trivial Jinja template (the floor any page sits on), and the hub's own /healthz;
  5. each page's assets: the bytes of the CSS, JS and images it links (and what its CSS
     pulls in with url()), fetched from the app.
Prints one table (page, median, p90, ratio to the baseline, assets, verdict); writes
bench/results/pages-*.json. Nothing here is a test: no figure fails the run; a page that
answers 5xx does.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, say, write_result

SERVER_BUDGET_MS = 50.0
ASSET_BUDGET_KB = 150.0
ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b\d+\b|DEMO-\d+|C-[A-Z0-9]{4}-[A-Z0-9]{4}",
    re.I,
)
SKIP = re.compile(r"/logout|/login|\.(csv|json|pdf)$", re.I)


class Links(HTMLParser):
    """The main menu's links, every other link, and the assets a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.menu: list[str] = []
        self.links: list[str] = []
        self.assets: list[str] = []
        self._nav_depth = 0
        self._in_main_nav = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "nav":
            self._nav_depth += 1
            if a.get("aria-label") == "Main":
                self._in_main_nav = True
        elif tag == "a" and a.get("href"):
            if "download" in a or a.get("hx-boost") == "false":
                return  # files and print views, not pages
            href = a["href"] or ""
            (self.menu if self._in_main_nav else self.links).append(href)
        elif (
            tag == "link"
            and a.get("href")
            and (a.get("rel") or "")
            in (
                "stylesheet",
                "icon",
                "preload",
                "modulepreload",
            )
        ):
            self.assets.append(a["href"] or "")
        elif tag in ("script", "img") and a.get("src"):
            self.assets.append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._nav_depth -= 1
            if self._nav_depth == 0:
                self._in_main_nav = False


def shape(path: str) -> str:
    return ID.sub("{id}", path)


def local(base: str, href: str) -> str | None:
    """A same-site path (with its query) for `href`, or None."""
    if href.startswith(("#", "mailto:", "tel:", "javascript:")):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.netloc not in ("", "localhost"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- the app, the database, the demo --------------------------------------------------------


def fresh_database(url: str | None, folder: str) -> str:
    if not url:
        return f"sqlite:///{folder}/pages.db"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_pages"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def build(database_url: str, folder: str) -> tuple[Any, float]:
    """The hub on a fresh database with the demo seeded; (app, seconds the seed took)."""
    os.environ.setdefault("REFERRAL_HUB_LOG_LEVEL", "WARNING")
    import flask_migrate

    from referral_hub import create_app, demo

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": "",
            "JOB_RUNNER": "inline",
        }
    )
    app.instance_path = folder
    with app.app_context():
        say("migrating …")
        flask_migrate.upgrade()
        say("seeding the demo …")
        started, cpu = time.perf_counter(), time.process_time()
        demo.seed(echo=say)
        seconds = time.perf_counter() - started
        say(f"seed CPU time {time.process_time() - cpu:.1f} s")
    return app, seconds


def enrol_totp(app: Any) -> dict[str, str]:
    """A TOTP secret for every demo user whose roles require one, enrolled through the
    auth service as the enrolment page would."""
    import pyotp

    from referral_hub.agencies import service as agencies
    from referral_hub.auth import service as auth
    from referral_hub.core.db import transaction
    from referral_hub.demo import USERS

    secrets = {}
    with app.app_context():
        for email, *_ in USERS:
            user = agencies.find_user_by_email(email)
            if user is None or not user.needs_totp:
                continue
            secret = auth.new_totp_secret()
            with transaction():
                result = auth.confirm_totp_enrolment(
                    user.id, secret, pyotp.TOTP(secret).now(), "127.0.0.1", signing_in=False
                )
            if result.next_step != "done":
                raise SystemExit(f"TOTP enrolment failed for {email}")
            secrets[email] = secret
    return secrets


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    if not found:
        raise SystemExit("no CSRF token on the sign-in page")
    return found.group(1)


def sign_in(app: Any, email: str, secret: str | None) -> Any:
    """A test client signed in through /login (and /login/code)."""
    import pyotp

    from referral_hub.demo import DEMO_PASSWORD

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf(page)}
    )
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed for {email}: {response.status_code}")
    if response.headers["Location"].endswith("/login/code"):
        if secret is None:
            raise SystemExit(f"{email} needs a second factor the bench did not enrol")
        page = client.get("/login/code").get_data(as_text=True)
        # the enrolment used this time step: the next one (allowed as clock drift) is fresh
        code = pyotp.TOTP(secret).at(time.time() + 30)
        response = client.post("/login/code", data={"code": code, "csrf_token": csrf(page)})
        if response.status_code != 302:
            raise SystemExit(f"second factor failed for {email}: {response.status_code}")
    return client


def crawl(client: Any, cap: int) -> list[str]:
    """The user's pages: the main menu, then links under the menu's prefixes (one level)."""
    landing = client.get("/", follow_redirects=True)
    parser = Links()
    parser.feed(landing.get_data(as_text=True))
    menu = []
    for href in parser.menu:
        path = local("/", href)
        if path and path != "/" and not SKIP.search(path) and path not in menu:
            menu.append(path)
    prefixes = {"/" + path.strip("/").split("/")[0] + "/" for path in menu}
    pages, shapes = list(menu), {shape(path) for path in menu}
    for path in menu:
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        found = Links()
        found.feed(response.get_data(as_text=True))
        for href in found.links:
            target = local(path, href)
            if not target or SKIP.search(target) or shape(target) in shapes:
                continue
            if not any((target.split("?")[0] + "/").startswith(p) for p in prefixes):
                continue
            if len(pages) >= cap:
                return pages
            pages.append(target)
            shapes.add(shape(target))
    return pages


def asset_bytes(client: Any, page: str, html: str, cache: dict[str, int]) -> tuple[int, list[str]]:
    """Bytes of everything the page loads besides itself (each file counted once)."""
    parser = Links()
    parser.feed(html)
    seen: list[str] = []
    queue = [path for href in parser.assets if (path := local(page, href))]
    while queue:
        path = queue.pop(0).split("?")[0]
        if path in seen:
            continue
        seen.append(path)
        if path not in cache:
            response = client.get(path)
            body = response.get_data()
            cache[path] = len(body) if response.status_code == 200 else 0
            if path.endswith(".css") and response.status_code == 200:
                for ref in re.findall(rb"url\(\s*['\"]?([^'\")]+)", body):
                    inner = local(path, ref.decode())
                    if inner and not ref.startswith(b"data:"):
                        queue.append(inner)
    return sum(cache[path] for path in seen), seen


CPU: dict[str, list[float]] = {}  # path -> CPU milliseconds of the same requests


def timed(client: Any, path: str, rounds: int) -> tuple[list[float], int, str]:
    """Server time of `rounds` requests (after two warm-ups): the app's handling, measured
    around the test client's call — no network, no server process. The CPU time of the
    same requests is kept too: on a busy machine it shows what is the page's own work."""
    for _ in range(2):
        response = client.get(path)
    timings, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    CPU[path] = cpu
    return timings, response.status_code, response.get_data(as_text=True)


def baseline(rounds: int) -> list[float]:
    """A bare Flask route rendering a trivial Jinja template, through its own test client."""
    from flask import Flask, render_template
    from jinja2 import DictLoader

    bare = Flask("baseline")
    bare.jinja_loader = DictLoader(  # type: ignore[assignment]
        {
            "page.html": "<!doctype html><title>{{ title }}</title><main><h1>{{ title }}</h1>"
            "<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul></main>"
        }
    )

    @bare.get("/")
    def index() -> str:
        return render_template("page.html", title="Baseline", items=range(10))

    client = bare.test_client()
    return timed(client, "/", rounds)[0]


def figures(timings: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(timings), 2),
        "p90_ms": round(percentile(timings, 0.90), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--rounds", type=int, default=30, help="timed requests per page")
    parser.add_argument("--cap", type=int, default=20, help="pages per user at most")
    parser.add_argument("--short", action="store_true", help="a quick pass: 3 rounds a page")
    options = parser.parse_args()
    rounds = 3 if options.short else options.rounds

    from referral_hub.demo import USERS

    folder = tempfile.mkdtemp(prefix="bench-pages-")
    database_url = fresh_database(options.database_url, folder)
    dialect = database_url.split(":", 1)[0].split("+")[0]
    app, seed_seconds = build(database_url, folder)
    say(f"demo seeded in {seed_seconds:.1f} s ({dialect})")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):  # wall times then include waiting for a core
        say(f"note: load average {load:.1f} on {os.cpu_count()} cores: read the cpu ms column")
    floor = figures(baseline(max(rounds, 200)))
    say(f"baseline: bare Flask + Jinja template, median {floor['median_ms']:.2f} ms")
    secrets = enrol_totp(app)

    results: list[dict[str, Any]] = []
    measured: dict[str, dict[str, Any]] = {}  # one figure per page path, whoever asked
    cache: dict[str, int] = {}
    health = None
    for email, _agency, _name, roles in USERS:
        client = sign_in(app, email, secrets.get(email))
        if health is None:
            health = figures(timed(client, "/healthz", max(rounds, 100))[0])
            say(f"baseline: the hub's /healthz, median {health['median_ms']:.2f} ms")
        pages = crawl(client, options.cap)
        say(f"{email} ({', '.join(roles)}): {len(pages)} pages")
        for path in pages:
            timings, status, html = timed(client, path, rounds)
            assets, files = asset_bytes(client, path, html, cache)
            row = {
                "user": email,
                "page": path,
                "status": status,
                **figures(timings),
                "cpu_median_ms": round(statistics.median(CPU[path]), 2),
                "ratio": round(statistics.median(timings) / floor["median_ms"], 1),
                "html_kb": round(len(html.encode()) / 1024, 1),
                "assets_kb": round(assets / 1024, 1),
                "assets": files,
            }
            row["verdict"] = verdict(row)
            results.append(row)
            measured.setdefault(shape(path), row)
            say(
                f"  {path[:60]:60} {row['median_ms']:7.2f} ms  p90 {row['p90_ms']:7.2f}"
                f"  {row['assets_kb']:6.1f} KB  {row['verdict']}"
            )

    table(results, floor)
    slow = [r for r in results if r["verdict"] != "ok"]
    result = {
        "database": dialect,
        "rounds": rounds,
        "seed_seconds": round(seed_seconds, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "baseline": {"bare_flask_template": floor, "hub_healthz": health},
        "budgets": {"server_ms": SERVER_BUDGET_MS, "assets_kb": ASSET_BUDGET_KB},
        "pages": results,
        "worst_median_ms": max((r["median_ms"] for r in results), default=None),
        "over_budget": [f"{r['user']} {r['page']}: {r['verdict']}" for r in slow],
        "errors": [
            f"{r['user']} {r['page']}: {r['status']}" for r in results if r["status"] >= 500
        ],
    }
    say(f"written to {write_result('pages', result)}")
    if result["errors"]:
        raise SystemExit("pages answered 5xx: " + "; ".join(result["errors"]))


def verdict(row: dict[str, Any]) -> str:
    problems = []
    if row["status"] != 200:
        problems.append(f"HTTP {row['status']}")
    if row["median_ms"] > SERVER_BUDGET_MS:
        problems.append(f"slow (>{SERVER_BUDGET_MS:.0f} ms)")
    if row["assets_kb"] > ASSET_BUDGET_KB:
        problems.append(f"heavy (>{ASSET_BUDGET_KB:.0f} KB)")
    return ", ".join(problems) or "ok"


def table(results: list[dict[str, Any]], floor: dict[str, float]) -> None:
    say(f"\npages (server time; baseline bare Flask + template {floor['median_ms']:.2f} ms)")
    header = (
        "user",
        "page",
        "median ms",
        "p90 ms",
        "cpu ms",
        "x base",
        "html KB",
        "assets KB",
        "verdict",
    )
    rows = [
        (
            r["user"].split("@")[0] + "@" + r["user"].split("@")[1].split(".")[0],
            shape(r["page"])[:50],
            f"{r['median_ms']:.2f}",
            f"{r['p90_ms']:.2f}",
            f"{r['cpu_median_ms']:.2f}",
            f"{r['ratio']:.0f}",
            f"{r['html_kb']:.1f}",
            f"{r['assets_kb']:.1f}",
            r["verdict"],
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        say("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
