"""An intake worker's bundle: the plan sent as one bundle (refused first, then sent), the
bundle followed live, a provider's question answered, a referral withdrawn, another
referral declined and referred again, and the survivor's receipt in Spanish."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.harness import LiveServer, check_page, expect_status, sign_in

INTAKE = "intake@hotline.example"


def _client_with_consent(server: LiveServer, tag: str) -> dict[str, Any]:
    """A new hotline client, her Spanish consent naming the agencies of three shelters with
    room; returns ids, her reference and the services."""
    from referral_hub.agencies import service as agencies
    from referral_hub.clients import service as clients
    from referral_hub.consent import service as consent
    from referral_hub.core import clock
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.directory import search as finder
    from referral_hub.directory.vocabulary import Category

    with server.app.app_context(), transaction():
        intake = agencies.find_user_by_email(INTAKE)
        assert intake is not None
        sender = Actor(ActorKind.USER, str(intake.id), intake.agency_id, frozenset(intake.roles))
        query = finder.SearchQuery(
            categories=(Category.EMERGENCY_SHELTER,), available=True, limit=30
        )
        found = [
            item
            for item in finder.search(SYSTEM, query)
            if item["agency"]["kind"] != "law_enforcement"
            and item["agency"]["receives_referrals"]  # not one that publishes counts only
            and (item["capacity"]["available"] or 0) > 2
        ]
        picked, agencies_seen = [], set()
        for item in found:  # three services of three agencies: siblings stay independent
            if item["agency"]["id"] not in agencies_seen:
                agencies_seen.add(item["agency"]["id"])
                picked.append(item)
            if len(picked) == 3:
                break
        assert len(picked) == 3, "the demo network has three shelters with room"
        person = clients.create_client(
            sender,
            pii={"name": f"Lucia {tag}", "contact": f"555-{tag}"},
            profile={"language": "es"},
        )
        granted = consent.record_consent(
            sender,
            person.id,
            recipients=[item["agency"]["id"] for item in picked],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="es",
            signed_at=clock.now(),
        )
        return {
            "client": str(person.id),
            "consent": str(granted.id),
            "reference": person.reference,
            "services": [
                {
                    "id": str(item["service"]["id"]),
                    "name": item["service"]["name"],
                    "agency": str(item["agency"]["id"]),
                }
                for item in picked
            ],
        }


def _receiver_does(
    server: LiveServer, bundle_id: str, service_id: str, action: str, **kw: Any
) -> None:
    from sqlalchemy import select

    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.extensions import db
    from referral_hub.referrals import service as referrals
    from referral_hub.referrals.models import Referral

    with server.app.app_context(), transaction():
        referral = db.session.scalars(
            select(Referral).where(
                Referral.bundle_id == uuid.UUID(bundle_id),
                Referral.service_id == uuid.UUID(service_id),
            )
        ).one()
        provider = Actor(
            ActorKind.USER, "provider", referral.receiver_agency_id, frozenset({"provider"})
        )
        referrals.transition(provider, referral.id, action, **kw)


def test_intake_sends_follows_and_acts_on_a_bundle(page: Page, live_server: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm on withdraw
    tag = uuid.uuid4().hex[:6]
    made = _client_with_consent(live_server, tag)
    first, second, third = made["services"]

    sign_in(page, INTAKE)
    token = re.search(
        r'"X-CSRFToken": "([^"]+)"', page.locator("body").get_attribute("hx-headers") or ""
    )
    assert token
    for service in (first, second):  # the search page's "Add to plan" (someone else's page)
        answer = page.request.post(
            "/intake/plan", form={"service_id": service["id"], "csrf_token": token.group(1)}
        )
        assert answer.ok

    page.goto(f"/intake/bundles/new?client={made['client']}&consent={made['consent']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Send the bundle for {made['reference']}"
    )
    expect(page.locator("main")).to_contain_text(first["name"])
    expect(page.locator("main")).not_to_contain_text(f"Lucia {tag}")
    check_page(page, "new bundle")

    with expect_status(page, 422):
        page.get_by_role("button", name="Send the bundle").click()
    expect(page.locator("#need-0-urgency-error")).to_be_visible()  # her record gives none
    check_page(page, "new bundle refused")

    page.get_by_label("How urgent is this need?").select_option("urgent")
    page.get_by_label("Contact details").check()
    page.get_by_role("button", name="Send the bundle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bundle for {made['reference']}")
    expect(page.locator(".flash")).to_contain_text("Bundle sent: 2 referrals")
    live = page.locator("#bundle-live")
    expect(live).to_have_attribute("hx-trigger", "every 15s, hub-live")
    expect(live).to_contain_text("New — not opened yet")
    bundle_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    check_page(page, "bundle sent")

    # the first shelter asks a question; the worker answers it
    _receiver_does(live_server, bundle_id, first["id"], "request-info", question="Children?")
    page.get_by_role("link", name="Refresh the bundle now").click()
    page.get_by_role("link", name=f"Answer their question: {first['name']}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(first["name"])
    check_page(page, "referral with a question")
    page.get_by_label("Your answer").fill("One child, aged 5.")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.locator(".flash")).to_contain_text("Answer sent")
    expect(page.locator("ol.messages")).to_contain_text("One child, aged 5.")

    # withdraw it: the reason is required (refused first), then confirmed
    with expect_status(page, 422):  # blanks pass the browser's `required`, not the hub
        page.get_by_label("Why?").fill("   ")
        page.get_by_role("button", name="Withdraw the referral").click()
    expect(page.locator("#f-reason-error")).to_be_visible()
    page.get_by_label("Why?").fill("she chose the other shelter")
    page.get_by_role("button", name="Withdraw the referral").click()
    expect(page.locator(".flash")).to_contain_text("Referral withdrawn.")
    check_page(page, "referral withdrawn")

    # the second declines: refer again to the third shelter from the bundle page
    _receiver_does(live_server, bundle_id, second["id"], "decline", reason="no_capacity")
    page.get_by_role("link", name=re.compile("^Back to the bundle")).click()
    expect(page.locator("#bundle-live")).to_contain_text("Declined")
    again = page.get_by_role("button", name=re.compile(f"^Send to {re.escape(third['name'])}"))
    if again.count() == 0:  # the hub's own ranking may suggest others first: pick any
        again = page.get_by_role("button", name=re.compile("^Send to ")).first
    check_page(page, "bundle with a decline")
    again.click()
    expect(page.locator(".flash")).to_contain_text("Referred again")
    expect(page.locator("#bundle-live")).to_contain_text("Referred again.")

    page.get_by_role("link", name="All bundles").click()
    expect(page.get_by_role("link", name=f"Bundle for {made['reference']}")).to_be_visible()
    check_page(page, "bundles list")

    page.goto(f"/intake/bundles/{bundle_id}/receipt")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Su comprobante de derivación")
    expect(page.locator("article.receipt")).to_contain_text(made["reference"])
    expect(page.locator("main")).not_to_contain_text(f"Lucia {tag}")
    expect(page.locator("main")).not_to_contain_text(f"555-{tag}")
    check_page(page, "receipt")
