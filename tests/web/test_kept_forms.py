"""Nothing typed is ever lost: a form posted after the session ended is kept (sealed), the
worker signs in again, and one click sends it with everything she typed."""

from __future__ import annotations

import re
import uuid
from html import unescape
from typing import Any

from sqlalchemy import select, text

from referral_hub.clients.models import Client
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from tests import factories


def _worker(session: Any) -> Any:
    with transaction():
        home = factories.agency()
        return factories.with_password(factories.user(home, ["intake"]))


def test_a_form_sent_after_the_session_ended_is_finished_after_signing_in(
    client: Any, session: Any
) -> None:
    worker = _worker(session)
    factories.sign_in(client, worker)
    form_page = client.get("/intake/clients/new").get_data(as_text=True)
    token = factories.csrf_from(form_page)
    client.post("/logout", data={"csrf_token": token})  # the session ends mid-interview
    typed = {
        "csrf_token": token,
        "pii.name": "Marisol Keptname",
        "profile.language": "es",
        "profile.household": "with_children",
    }
    answer = client.post("/intake/clients/new", data=typed, headers={"Origin": "http://localhost"})
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]
    # kept sealed in the (server-side) session: not readable in the table
    for row in session.execute(text("SELECT data FROM staff_session")):
        assert "Keptname" not in str(row)
    factories.sign_in(client, worker)
    # signing in led to the kept form: every value, a fresh token, the same address
    resumed = client.get("/resume")
    page = resumed.get_data(as_text=True)
    assert resumed.status_code == 200
    assert "Nothing you typed was lost" in page
    fields = dict(
        (unescape(name), unescape(value))
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page)
    )
    assert fields["pii.name"] == "Marisol Keptname"
    assert fields["profile.household"] == "with_children"
    assert fields["csrf_token"] != token
    assert 'action="/intake/clients/new"' in page
    before = db.session.scalar(select(Client.id).where(Client.owner_agency_id == worker.agency_id))
    assert before is None
    sent = client.post("/intake/clients/new", data=fields)
    assert sent.status_code == 302
    assert db.session.scalar(select(Client.id).where(Client.owner_agency_id == worker.agency_id))
    # offered once: a second visit has nothing to offer
    assert client.get("/resume").status_code == 302


def test_an_htmx_form_after_the_session_ended_moves_the_whole_page_to_sign_in(
    client: Any, session: Any
) -> None:
    answer = client.post(
        "/intake/plan",
        data={"service_id": "x", "csrf_token": "stale"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/intake/search?x=1"},
    )
    assert answer.status_code == 200
    assert answer.headers["HX-Redirect"].startswith("/login")
    assert "Not allowed" not in answer.get_data(as_text=True)


def test_sign_in_and_the_api_keep_nothing(client: Any, session: Any) -> None:
    assert client.post("/api/v1/clients", json={"pii": {"name": "x"}}).status_code == 401
    refused = client.post("/login", data={"email": "a@b.example", "password": "x"})
    assert refused.status_code == 403  # no token: refused, nothing kept
    assert client.get("/resume").status_code == 302


def test_a_form_posted_from_another_site_is_not_kept(client: Any, session: Any) -> None:
    """Another site's page cannot leave a form to be offered after the next sign-in."""
    worker = _worker(session)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
        {},
    ):
        answer = client.post("/intake/clients/new", data={"pii.name": "Planted"}, headers=headers)
        assert answer.status_code == 302
        assert "/login" in answer.headers["Location"]
    factories.sign_in(client, worker)
    assert client.get("/resume").status_code == 302  # nothing to offer


PLAN = {"emergency_shelter": [str(uuid.uuid4())], "immigration_counsel": [str(uuid.uuid4())]}


def _run_out(worker: Any) -> None:
    """What an idle timeout does: her session was last seen longer ago than the limit."""
    from datetime import timedelta

    from flask import current_app

    from referral_hub.auth.models import StaffSession
    from referral_hub.core import clock

    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"] + 1)
    with transaction():
        for row in db.session.scalars(
            select(StaffSession).where(StaffSession.user_id == worker.id)
        ):
            row.last_seen_at = clock.now() - idle


def _plan_and_kept_form(client: Any, worker: Any) -> None:
    """A worker with two services in her plan types New client; her session runs out."""
    factories.sign_in(client, worker)
    with client.session_transaction() as stored:
        stored["plan"] = PLAN
        stored["plan_who"] = {"profile.language": "es"}
    token = factories.csrf_from(client.get("/intake/clients/new").get_data(as_text=True))
    _run_out(worker)
    typed = {"csrf_token": token, "pii.name": "Marisol Keptname"}
    answer = client.post("/intake/clients/new", data=typed, headers={"Origin": "http://localhost"})
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]


def test_a_session_that_ran_out_gives_her_plan_and_form_back_to_the_same_worker(
    client: Any, session: Any
) -> None:
    worker = _worker(session)
    _plan_and_kept_form(client, worker)
    factories.sign_in(client, worker)
    with client.session_transaction() as stored:
        assert stored["plan"] == PLAN
        assert stored["plan_who"] == {"profile.language": "es"}
        assert "ended" not in stored  # whose it was is not kept past sign-in
    assert "Marisol Keptname" in client.get("/resume").get_data(as_text=True)


def test_another_person_signing_in_after_it_ran_out_gets_none_of_it(
    client: Any, session: Any
) -> None:
    worker = _worker(session)
    with transaction():
        colleague = factories.with_password(factories.user(worker.agency, ["intake"]))
    _plan_and_kept_form(client, worker)
    factories.sign_in(client, colleague)
    with client.session_transaction() as stored:
        assert "plan" not in stored
        assert "plan_who" not in stored
    assert client.get("/resume").status_code == 302  # nothing offered
