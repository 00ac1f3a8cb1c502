"""Her own door, end to end: intake issues her code; she signs in on a phone, in Spanish,
sees the two agencies that received her referrals with exactly what each can read, takes
her permission back from one (whose next read is refused at once and whose pending
referral is withdrawn), and leaves by quick exit — after which going back shows nothing
of her."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from referral_hub.referrals.deadlines import Urgency
from tests import factories
from tests.browser.harness import PHONE, LiveServer, check_page, sign_in, sign_out

INTAKE = "intake@hotline.example"
SHELTER_PROVIDER = "provider@harborlight.example"
NEUTRAL = "https://neutral.example/weather"


def _her_referrals(server: LiveServer, tag: str) -> dict[str, Any]:
    """The hotline refers her to Harbor Light's shelter (sharing contact, accepted) and to an
    immigration service elsewhere (contact and immigration, still pending), under one
    consent naming both."""
    from sqlalchemy import select

    from referral_hub.agencies import service as agencies
    from referral_hub.agencies.models import Agency
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.directory.capacity import set_capacity
    from referral_hub.directory.models import Service
    from referral_hub.directory.queries import board_services
    from referral_hub.extensions import db
    from referral_hub.referrals import service as referrals

    def actor(email: str) -> Actor:
        person = agencies.find_user_by_email(email)
        assert person is not None
        return Actor(ActorKind.USER, str(person.id), person.agency_id, frozenset(person.roles))

    with server.app.app_context(), transaction():
        intake, provider = actor(INTAKE), actor(SHELTER_PROVIDER)
        assert provider.agency_id is not None
        shelter = next(
            s for s in board_services(provider) if s.category.value == "emergency_shelter"
        )
        # beds free tonight, whatever earlier journeys on this server took
        set_capacity(SYSTEM, shelter.id, total=10, available=5)
        counsel = db.session.scalars(
            select(Service).where(
                Service.category == "immigration_counsel",
                Service.agency_id != provider.agency_id,
                Service.agency_id != intake.agency_id,
            )
        ).first()
        assert counsel is not None
        person = clients.create_client(
            intake,
            pii={"name": f"Ana {tag}", "contact": f"555-{tag}", "immigration": f"visa {tag}"},
            profile={"language": "es", "household": "with_children"},
        )
        granted = factories.written_consent(
            intake,
            person.id,
            recipients=[provider.agency_id, counsel.agency_id],
            purposes=["emergency_shelter", "immigration_counsel"],
            data_categories=["contact", "immigration"],
        )
        sent = {}
        for service, shared in ((shelter, ["contact"]), (counsel, ["contact", "immigration"])):
            sent[service.agency_id] = referrals.send_referral(
                intake,
                client_id=person.id,
                service_id=service.id,
                urgency=Urgency.URGENT,
                data_categories=["profile", *shared],
                consent_id=granted.id,
            )
        referrals.transition(provider, sent[provider.agency_id].id, "accept")
        names = dict(db.session.execute(select(Agency.id, Agency.name)).all())
        return {
            "client_id": person.id,
            "reference": person.reference,
            "shelter": names[provider.agency_id],
            "counsel": names[counsel.agency_id],
            "counsel_agency": counsel.agency_id,
            "counsel_referral": sent[counsel.agency_id].id,
        }


def _counsel_reads(server: LiveServer, her: dict[str, Any]) -> str:
    """What the immigration service's next read of her record gets: "read" or "refused"."""
    from referral_hub.consent import service as consent
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.core.errors import NotFound

    reader = Actor(ActorKind.CLIENT, "case-system", her["counsel_agency"], frozenset({"provider"}))
    with server.app.app_context(), transaction():
        try:
            consent.disclose_client(reader, her["client_id"])
        except NotFound:
            return "refused"
    return "read"


def _referral_status(server: LiveServer, referral_id: uuid.UUID) -> str:
    from referral_hub.extensions import db
    from referral_hub.referrals.models import Referral

    with server.app.app_context():
        return db.session.get(Referral, referral_id).status.value


@pytest.fixture
def neutral_site(page: Page, live_server: LiveServer) -> Any:
    """Quick exit goes to a neutral site; here a page served by the test, not the internet."""
    previous = live_server.app.config["SURVIVOR_EXIT_URL"]
    live_server.app.config["SURVIVOR_EXIT_URL"] = NEUTRAL

    def weather(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html",
            body='<!doctype html><html lang="en"><title>Weather</title><h1>Sunny</h1></html>',
        )

    page.route(f"{NEUTRAL}*", weather)
    yield NEUTRAL
    live_server.app.config["SURVIVOR_EXIT_URL"] = previous


def test_she_sees_who_holds_her_data_withdraws_one_and_leaves_safely(
    page: Page, live_server: LiveServer, neutral_site: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    her = _her_referrals(live_server, tag)

    # intake gives her a code, with the PIN she types herself
    sign_in(page, INTAKE)
    page.goto(f"/intake/clients/{her['client_id']}")
    page.get_by_role("link", name="Private access code").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(her["reference"])
    check_page(page, "issue her code")
    page.get_by_label("Her PIN").fill("2580")
    page.get_by_label("The same PIN again").fill("2580")
    page.get_by_label("Her situation is not safe").check()
    page.get_by_role("button", name="Issue her code").click()
    card = page.locator("[data-code]")
    expect(card).to_be_visible()
    code = card.inner_text().strip()
    receipt = page.locator("article.safe-receipt")
    expect(receipt).to_contain_text("Su tarjeta")
    for word in (her["shelter"], her["counsel"], her["reference"], "refugio"):
        expect(receipt).not_to_contain_text(word)
    check_page(page, "her card")
    sign_out(page)

    # she signs in on her phone, in Spanish
    page.set_viewport_size(PHONE)
    page.goto("/me?lang=es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    check_page(page, "her door")
    page.set_viewport_size(PHONE)  # checking shows both widths, then leaves the desktop one
    page.get_by_label("Su código privado").fill(code.lower().replace("-", " "))
    page.get_by_label("Su PIN").fill("2580")
    page.get_by_role("button", name="Abrir mi página").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quién tiene su información")
    shelter = page.locator("li.me-holder", has=page.get_by_role("heading", name=her["shelter"]))
    counsel = page.locator("li.me-holder", has=page.get_by_role("heading", name=her["counsel"]))
    # the shelter accepted: the basics and how to reach her, nothing about immigration
    expect(shelter.locator(".me-reads")).to_have_text(
        "datos básicos sobre lo que necesita (sin nombre); cómo contactarle (teléfono, dirección)"
    )
    expect(shelter).to_contain_text("aceptó ayudarle")
    # the immigration service has not accepted yet: the basics only, for now
    expect(counsel.locator(".me-reads")).to_have_text(
        "datos básicos sobre lo que necesita (sin nombre)"
    )
    expect(counsel).to_contain_text("recibió una solicitud")
    assert page.evaluate("() => window.innerWidth") == PHONE["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    check_page(page, "who holds her data")
    assert _counsel_reads(live_server, her) == "read"

    # she takes her permission back from the immigration service only
    page.set_viewport_size(PHONE)
    counsel.get_by_text(f"Dejar de compartir con {her['counsel']}").click()
    expect(counsel).to_contain_text("deja de ver su información ahora")
    counsel.get_by_role("button", name="Sí, dejar de compartir").click()
    expect(page.locator(".flash")).to_have_text("Hecho. Ya no pueden ver su información.")
    counsel = page.locator("li.me-holder", has=page.get_by_role("heading", name=her["counsel"]))
    expect(counsel.locator(".me-reads")).to_have_text("nada")
    expect(counsel.get_by_text("Dejar de compartir")).to_have_count(0)
    expect(shelter.locator(".me-reads")).to_contain_text("cómo contactarle")
    check_page(page, "after withdrawing one")
    assert _counsel_reads(live_server, her) == "refused"
    assert _referral_status(live_server, her["counsel_referral"]) == "withdrawn"

    # quick exit: a neutral site, and nothing of her behind it
    page.get_by_role("link", name="Salida rápida").click()
    page.wait_for_url(neutral_site)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sunny")
    for _ in range(int(page.evaluate("() => history.length"))):
        if page.go_back() is None:
            break
        body = page.locator("body").inner_text()
        for word in (her["shelter"], her["counsel"], "Quién tiene su información", code):
            assert word not in body, f"going back showed {word!r} at {page.url}"
