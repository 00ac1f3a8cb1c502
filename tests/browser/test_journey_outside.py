"""A referral outside the hub, end to end: the intake worker refers her to an organisation
not on the hub (named in her consent), makes its one-time link; the outside worker opens
it without an account, reads only what her consent allows, in her language, and accepts;
the worker sees the answer, and the link then shows the outcome only."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.harness import PHONE, LiveServer, check_page, sign_in, sign_out

INTAKE = "intake@hotline.example"


def _her_and_the_refuge(server: LiveServer, tag: str) -> dict[str, Any]:
    """Her record (contact and health), a refuge not on the hub, her consent naming it for
    shelter and contact only."""
    from referral_hub.agencies import outside
    from referral_hub.agencies import service as agencies
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.core.db import transaction

    with server.app.app_context(), transaction():
        person = agencies.find_user_by_email(INTAKE)
        assert person is not None
        intake = Actor(ActorKind.USER, str(person.id), person.agency_id, frozenset(person.roles))
        her = clients.create_client(
            intake,
            pii={"contact": f"555-{tag}", "health": f"asthma {tag}"},
            profile={"language": "es"},
        )
        refuge = outside.add_organisation(
            intake, name=f"Riverside Refuge {tag}", phone="+1 555 0142"
        )
        factories.written_consent(
            intake,
            her.id,
            recipients=[refuge.id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
        )
        return {"client_id": her.id, "reference": her.reference, "refuge": refuge.name}


def test_an_outside_referral_opened_through_its_link_and_accepted(
    page: Page, live_server: LiveServer
) -> None:
    tag = uuid.uuid4().hex[:6]
    her = _her_and_the_refuge(live_server, tag)

    sign_in(page, INTAKE)
    page.goto(f"/intake/clients/{her['client_id']}")
    page.get_by_role("link", name="Refer to an organisation not on the hub").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Refer to an organisation not on the hub"
    )
    check_page(page, "refer outside")
    page.get_by_label("Organisation").select_option(label=her["refuge"])
    page.get_by_label("Her consent naming it").select_option(index=1)
    page.get_by_label("Kind of help").select_option("emergency_shelter")
    page.get_by_label("Urgency").select_option("urgent")
    page.get_by_label("contact details").check()
    page.get_by_role("button", name="Record the referral").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Referral to {her['refuge']}")
    page.get_by_role("button", name="Make a one-time link").click()
    link = page.get_by_role("textbox", name="The link to send").input_value()
    assert "/o/" in link
    assert her["reference"] not in link
    check_page(page, "the link, shown once")
    sign_out(page)

    # the outside worker, on a phone, with no account
    page.set_viewport_size(PHONE)
    page.goto("/o/" + link.rsplit("/o/", 1)[1])  # the hub's public address, on this server
    expect(page.locator("html")).to_have_attribute("lang", "es")
    letter = page.locator("article.outside-letter")
    expect(letter).to_contain_text(f"555-{tag}")
    expect(letter).not_to_contain_text("asthma")
    check_page(page, "the link page")
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Aceptar la derivación").click()
    expect(page.locator(".outside-outcome")).to_have_text("Usted aceptó esta derivación. Gracias.")
    expect(letter).not_to_contain_text(f"555-{tag}")
    check_page(page, "after accepting")

    # the worker sees the answer
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, INTAKE)
    page.goto(f"/intake/outside/clients/{her['client_id']}")
    expect(page.get_by_role("listitem").filter(has_text=her["refuge"])).to_contain_text("accepted")
