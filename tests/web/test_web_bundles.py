"""Intake bundle pages: send the plan as a bundle, follow it live, act on its referrals,
print the survivor's receipt — through the real sign-in, CSRF and services."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Bundle, Message, Need, Referral
from referral_hub.referrals.queries import sent as tracking
from referral_hub.referrals.states import State
from tests import factories
from tests.factories import actor_for, csrf_from, sign_in

SECRET_NAME = "Maria Secretname"
SECRET_CONTACT = "555-0199 Calle Oculta 7"


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    with transaction():
        home = factories.agency(name="Harbor Intake Center")
        shelters = factories.agency(name="Safe Nights Shelter")
        legal = factories.agency(AgencyKind.LEGAL_AID, name="Justice Legal Aid")
        avoided = factories.agency(name="Avoided Agency")
        other = factories.agency(name="Other Intake Org")
        worker = factories.with_password(factories.user(home, ["intake"]))
        provider_here = factories.with_password(factories.user(home, ["provider"]))
        outsider = factories.with_password(factories.user(other, ["intake"]))
        receiver = factories.user(shelters, ["provider"])
        shelter_a = factories.directory_service(shelters, "emergency_shelter", name="Night Beds")
        shelter_b = factories.directory_service(shelters, "emergency_shelter", name="Family Rooms")
        shelter_c = factories.directory_service(avoided, "emergency_shelter", name="Avoided Beds")
        counsel = factories.directory_service(legal, "legal_advocacy", name="Court Help")
        for service in (shelter_a, shelter_b, shelter_c, counsel):
            factories.capacity(service, total=5, available=3)
        actor = actor_for(worker)
        person = clients.create_client(
            actor,
            pii={"name": SECRET_NAME, "contact": SECRET_CONTACT},
            profile={"language": "es"},
            do_not_refer=[avoided.id],
        )
        granted = factories.written_consent(
            actor,
            person.id,
            recipients=[shelters.id, legal.id],
            purposes=["emergency_shelter", "legal_advocacy"],
            data_categories=["contact", "identity"],
        )
    return {
        "home": home,
        "shelters": shelters,
        "legal": legal,
        "avoided": avoided,
        "worker": worker,
        "actor": actor,
        "provider_here": provider_here,
        "outsider": outsider,
        "receiver": actor_for(receiver),
        "shelter_a": shelter_a,
        "shelter_b": shelter_b,
        "shelter_c": shelter_c,
        "counsel": counsel,
        "client": person,
        "consent": granted,
    }


def counts(session: Any) -> tuple[int, int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Bundle)),
        session.scalar(select(func.count()).select_from(Need)),
        session.scalar(select(func.count()).select_from(Referral)),
        session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def set_plan(http: Any, needs: dict[str, list[Any]]) -> None:
    with http.session_transaction() as stored:
        stored["plan"] = {k: [str(v) for v in ids] for k, ids in needs.items()}


def new_url(net: dict[str, Any]) -> str:
    return f"/intake/bundles/new?client={net['client'].id}&consent={net['consent'].id}"


def make_bundle(net: dict[str, Any], **changes: Any) -> Bundle:
    arguments = {
        "client_id": net["client"].id,
        "consent_id": net["consent"].id,
        "urgency": "urgent",
        "needs": [
            {
                "category": "emergency_shelter",
                "service_ids": [net["shelter_a"].id, net["shelter_b"].id],
                "data_categories": ["contact"],
            },
            {"category": "legal_advocacy", "service_ids": [net["counsel"].id]},
        ],
    } | changes
    for need in arguments["needs"]:  # as the schema would load it
        need.setdefault("data_categories", ["profile"])
    with transaction():
        return bundles.create_bundle(net["actor"], **arguments)


def referral_to(bundle: Bundle, service: Any, session: Any) -> Referral:
    return session.scalars(
        select(Referral).where(Referral.bundle_id == bundle.id, Referral.service_id == service.id)
    ).one()


def receiver_does(net: dict[str, Any], referral: Referral, action: str, **payload: Any) -> None:
    provider = Actor(
        ActorKind.USER, "provider", referral.receiver_agency_id, frozenset({"provider"})
    )
    with transaction():
        referrals.transition(provider, referral.id, action, **payload)


# --- the new bundle -----------------------------------------------------------------------


def test_without_a_plan_the_page_says_so_and_links_to_the_search(
    client: Any, net: dict[str, Any]
) -> None:
    sign_in(client, net["worker"])
    page = client.get(new_url(net))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nothing picked yet" in html
    assert 'href="/intake/search"' in html
    assert "Send the bundle</button>" not in html


def test_the_form_shows_each_need_its_services_in_order_and_what_the_consent_allows(
    client: Any, net: dict[str, Any]
) -> None:
    sign_in(client, net["worker"])
    set_plan(
        client,
        {
            "emergency_shelter": [net["shelter_b"].id, net["shelter_a"].id, net["shelter_c"].id],
            "legal_advocacy": [net["counsel"].id],
        },
    )
    html = client.get(new_url(net)).get_data(as_text=True)
    assert html.index("Family Rooms") < html.index("Night Beds") < html.index("Avoided Beds")
    assert 'name="needs-0.category" value="emergency_shelter"' in html
    assert 'name="needs-1.category" value="legal_advocacy"' in html
    assert "She asked not to be sent to this agency." in html  # do-not-refer, unticked
    avoided = re.search(rf'value="{net["shelter_c"].id}"[^>]*>', html).group(0)
    assert "checked" not in avoided
    # only what the consent covers is offered
    assert 'value="contact"' in html
    assert 'value="identity"' in html
    assert 'value="health"' not in html
    assert SECRET_NAME not in html
    assert SECRET_CONTACT not in html


def test_sending_the_plan_creates_the_bundle_clears_the_plan_and_shows_it(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    token = sign_in(client, net["worker"])
    set_plan(
        client,
        {
            "emergency_shelter": [net["shelter_a"].id, net["shelter_b"].id],
            "legal_advocacy": [net["counsel"].id],
        },
    )
    before = counts(session)
    response = client.post(
        new_url(net),
        data={
            "csrf_token": token,
            "urgency": "emergency",
            "needs-0.category": "emergency_shelter",
            "needs-0.service_ids": [str(net["shelter_a"].id), str(net["shelter_b"].id)],
            "needs-0.service_ids.present": "1",
            "needs-0.data_categories": ["contact"],
            "needs-0.data_categories.present": "1",
            "needs-0.note": "Arrives by bus.",
            "needs-1.category": "legal_advocacy",
            "needs-1.service_ids": [str(net["counsel"].id)],
            "needs-1.service_ids.present": "1",
            "needs-1.data_categories.present": "1",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    bundle = session.scalars(select(Bundle).where(Bundle.client_id == net["client"].id)).one()
    assert response.headers["Location"] == f"/intake/bundles/{bundle.id}"
    after = counts(session)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 2, 3)
    first = referral_to(bundle, net["shelter_a"], session)
    assert first.status == State.SENT
    assert first.urgency.value == "emergency"
    assert sorted(first.data_categories) == ["contact", "profile"]
    assert referral_to(bundle, net["counsel"], session).data_categories == ["profile"]
    assert "bundle.created" in session.scalars(select(AuditEvent.action)).all()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bundle sent: 3 referrals" in page
    # the plan is gone
    assert "Nothing picked yet" in client.get(new_url(net)).get_data(as_text=True)


def test_a_recipient_the_consent_does_not_cover_is_named_beside_its_service_and_nothing_written(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    token = sign_in(client, net["worker"])
    set_plan(client, {"emergency_shelter": [net["shelter_a"].id, net["shelter_c"].id]})
    with transaction():  # lift do-not-refer for the avoided agency: the consent still refuses
        net["client"].do_not_refer = []
    before = counts(session)
    form = {
        "csrf_token": token,
        "needs-0.urgency": "urgent",
        "needs-0.category": "emergency_shelter",
        "needs-0.service_ids": [str(net["shelter_a"].id), str(net["shelter_c"].id)],
        "needs-0.service_ids.present": "1",
        "needs-0.data_categories": ["identity"],
        "needs-0.data_categories.present": "1",
        "needs-0.note": "kept note",
    }
    response = client.post(new_url(net), data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert counts(session) == before  # no bundle, need, referral or audit event
    # the error sits beside the avoided agency's service, and every choice is kept
    fault = re.search(r'id="need-0-service-1-error"[^>]*>([^<]*)<', html)
    assert fault
    assert "Not covered by consent: identity" in fault.group(1)
    assert "kept note" in html
    assert re.search(r'value="identity" checked', html)
    assert '<option value="urgent" selected>' in html


def as_a_browser_sends(html: str) -> dict[str, list[str]]:
    """The form exactly as the page rendered it, submitted untouched: hidden inputs, ticked
    boxes, each select's selected option, textareas' text."""
    form = html.split('<form method="post" novalidate>', 1)[1].split("</form>", 1)[0]
    sent: dict[str, list[str]] = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and ('type="hidden"' in tag or " checked" in tag):
            sent.setdefault(name.group(1), []).append(value.group(1) if value else "")
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        sent[name] = [chosen.group(1) if chosen else ""]
    for name, body in re.findall(
        r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S
    ):
        sent[name] = [body]
    return sent


def test_each_need_starts_from_the_urgency_intake_recorded_and_nothing_is_typed_again(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    """Issue 17: urgency asked on the client and again on the bundle ("Missing data")."""
    with transaction():
        net["client"].profile = {
            "language": "es",
            "urgency": "routine",
            "urgencies": {"emergency_shelter": "emergency"},
        }
    sign_in(client, net["worker"])
    set_plan(
        client,
        {"emergency_shelter": [net["shelter_a"].id], "legal_advocacy": [net["counsel"].id]},
    )
    html = client.get(new_url(net)).get_data(as_text=True)
    sent = as_a_browser_sends(html)
    assert sent["needs-0.urgency"] == ["emergency"]  # her shelter need's own
    assert sent["needs-1.urgency"] == ["routine"]  # her overall urgency
    assert "urgency" not in sent  # not asked again for the bundle
    start = clock.now()
    with clock.frozen_at(start):
        response = client.post(new_url(net), data=sent)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "Missing data" not in response.get_data(as_text=True)
    bundle = session.scalars(select(Bundle).where(Bundle.client_id == net["client"].id)).one()
    shelter = referral_to(bundle, net["shelter_a"], session)
    counsel = referral_to(bundle, net["counsel"], session)
    assert shelter.urgency.value == "emergency"
    assert shelter.acknowledge_by == start + timedelta(minutes=15)
    assert counsel.urgency.value == "routine"
    assert counsel.acknowledge_by is not None
    assert counsel.acknowledge_by > start + timedelta(hours=23)
    follow = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'class="need-urgency">Emergency<', follow)
    assert re.search(r'class="need-urgency">Routine<', follow)


def test_a_need_changed_on_the_bundle_form_keeps_its_own_choice(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    with transaction():
        net["client"].profile = {"urgency": "urgent"}
    sign_in(client, net["worker"])
    set_plan(client, {"emergency_shelter": [net["shelter_a"].id]})
    sent = as_a_browser_sends(client.get(new_url(net)).get_data(as_text=True))
    assert sent["needs-0.urgency"] == ["urgent"]
    sent["needs-0.urgency"] = ["emergency"]  # things got worse since intake
    assert client.post(new_url(net), data=sent).status_code == 302
    bundle = session.scalars(select(Bundle).where(Bundle.client_id == net["client"].id)).one()
    assert referral_to(bundle, net["shelter_a"], session).urgency.value == "emergency"


def test_with_no_urgency_on_her_record_the_need_asks_and_says_so_beside_it(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    sign_in(client, net["worker"])
    set_plan(client, {"emergency_shelter": [net["shelter_a"].id]})
    html = client.get(new_url(net)).get_data(as_text=True)
    assert "Her record does not say" in html
    before = counts(session)
    refused = client.post(new_url(net), data=as_a_browser_sends(html))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert re.search(r'id="need-0-urgency-error" class="field-error">Choose how urgent', page)
    assert "Missing data" not in page
    assert "Field may not be null" not in page
    assert counts(session) == before


def test_do_not_refer_is_refused_beside_the_service(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    token = sign_in(client, net["worker"])
    set_plan(client, {"emergency_shelter": [net["shelter_c"].id]})
    before = counts(session)
    response = client.post(
        new_url(net),
        data={
            "csrf_token": token,
            "urgency": "urgent",
            "needs-0.category": "emergency_shelter",
            "needs-0.service_ids": str(net["shelter_c"].id),
            "needs-0.service_ids.present": "1",
        },
    )
    assert response.status_code == 422
    assert "asked not to be sent to this agency" in response.get_data(as_text=True)
    assert counts(session) == before


def test_a_form_missing_urgency_and_services_is_refused_with_words_beside_the_fields(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    token = sign_in(client, net["worker"])
    set_plan(client, {"emergency_shelter": [net["shelter_a"].id]})
    before = counts(session)
    response = client.post(
        new_url(net),
        data={
            "csrf_token": token,
            "needs-0.category": "emergency_shelter",
            "needs-0.service_ids.present": "1",
            "needs-0.note": "x" * 2001,
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="need-0-urgency-error"' in html
    assert "Choose how urgent this need is." in html
    assert "Choose one to three services for this need." in html
    assert 'id="need-0-note-error"' in html
    assert counts(session) == before


def test_another_agencys_client_is_not_found_and_a_provider_is_forbidden(
    app: Any, client: Any, net: dict[str, Any]
) -> None:
    sign_in(client, net["outsider"])
    assert client.get(new_url(net)).status_code == 404
    assert client.get(new_url(net).replace(str(net["client"].id), "nope")).status_code == 404
    provider = app.test_client()
    sign_in(provider, net["provider_here"])
    page = provider.get(new_url(net))
    assert page.status_code == 403
    assert "This page is for intake" in page.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client: Any, net: dict[str, Any]) -> None:
    response = client.get("/intake/bundles/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# --- following a bundle -------------------------------------------------------------------


def test_the_bundle_page_shows_needs_referrals_deadlines_and_a_polling_region(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    receiver_does(net, referral_to(bundle, net["shelter_b"], session), "waitlist", position=4)
    receiver_does(
        net, referral_to(bundle, net["counsel"], session), "decline", reason="out_of_area"
    )
    sign_in(client, net["worker"])
    html = client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    reference = net["client"].reference
    assert f"<h1>Bundle for {reference}</h1>" in html
    assert "Night Beds" in html
    assert "Safe Nights Shelter" in html
    assert "New — not opened yet" in html
    assert "answer due" in html
    assert 'class="countdown' in html
    assert "Place 4 on the list." in html
    assert "Reason: Outside the service area." in html
    assert "1 hop " in html
    live = re.search(r'<section id="bundle-live"[^>]*>', html).group(0)
    assert 'hx-trigger="every 15s, hub-live"' in live
    assert 'aria-live="polite"' in live
    assert f'hx-get="/intake/bundles/{bundle.id}"' in live
    assert f'data-live="/live/referrals" data-live-bundle="{bundle.id}"' in live
    assert "Refresh the bundle now" in html
    assert SECRET_NAME not in html


def test_the_htmx_poll_gets_only_the_live_fragment(client: Any, net: dict[str, Any]) -> None:
    bundle = make_bundle(net)
    sign_in(client, net["worker"])
    fragment = client.get(f"/intake/bundles/{bundle.id}", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert html.lstrip().startswith('<section id="bundle-live"')
    assert "<html" not in html
    assert "<h1>" not in html
    boosted = client.get(
        f"/intake/bundles/{bundle.id}", headers={"HX-Request": "true", "HX-Boosted": "true"}
    ).get_data(as_text=True)
    assert "<html" in boosted


def test_a_bundle_in_limbo_says_why(client: Any, session: Any, net: dict[str, Any]) -> None:
    bundle = make_bundle(net)
    with transaction():
        for referral in session.scalars(select(Referral).where(Referral.bundle_id == bundle.id)):
            referral.respond_by = clock.now() - timedelta(minutes=5)
    sign_in(client, net["worker"])
    html = client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    assert "in limbo" in html
    assert "waiting past its deadline" in html
    assert "overdue" in html


def test_another_agencys_bundle_is_not_found_and_other_roles_are_forbidden(
    app: Any, client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    referral = referral_to(bundle, net["shelter_a"], session)
    sign_in(client, net["outsider"])
    for path in (
        f"/intake/bundles/{bundle.id}",
        f"/intake/bundles/{bundle.id}/receipt",
        f"/intake/bundles/{bundle.id}/referrals/{referral.id}",
        f"/intake/bundles/{uuid.uuid4()}",
    ):
        assert client.get(path).status_code == 404, path
    token = csrf_from(client.get("/intake/bundles/").get_data(as_text=True))
    before = counts(session)
    response = client.post(
        f"/intake/bundles/{bundle.id}/referrals/{referral.id}/withdraw",
        data={"csrf_token": token, "reason": "not mine"},
    )
    assert response.status_code == 404
    assert session.get(Referral, referral.id).status == State.SENT
    assert counts(session)[:3] == before[:3]
    provider = app.test_client()
    sign_in(provider, net["provider_here"])
    assert provider.get(f"/intake/bundles/{bundle.id}").status_code == 403
    assert provider.get("/intake/bundles/").status_code == 403


def test_a_referral_of_another_bundle_is_not_found_under_this_one(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    first = make_bundle(net)
    with transaction():
        person = clients.create_client(net["actor"])
    second = make_bundle(
        net,
        client_id=person.id,
        consent_id=None,
        needs=[{"category": "legal_advocacy", "service_ids": [net["counsel"].id]}],
    )
    foreign = referral_to(second, net["counsel"], session)
    sign_in(client, net["worker"])
    assert client.get(f"/intake/bundles/{first.id}/referrals/{foreign.id}").status_code == 404


def test_the_list_shows_the_agencys_bundles_with_status(
    app: Any, client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    receiver_does(net, referral_to(bundle, net["shelter_a"], session), "accept")
    sign_in(client, net["worker"])
    html = client.get("/intake/bundles/").get_data(as_text=True)
    assert f"Bundle for {net['client'].reference}" in html
    assert "emergency shelter: Placed" in html
    assert "legal advocacy: Waiting for an answer" in html
    outsider = app.test_client()
    sign_in(outsider, net["outsider"])
    assert net["client"].reference not in outsider.get("/intake/bundles/").get_data(as_text=True)


# --- acting on a referral -----------------------------------------------------------------


def referral_page(bundle: Bundle, referral: Referral) -> str:
    return f"/intake/bundles/{bundle.id}/referrals/{referral.id}"


def test_messages_are_listed_and_posted_and_both_are_audited(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    referral = referral_to(bundle, net["shelter_a"], session)
    with transaction():
        from referral_hub.referrals import conversation

        conversation.post_message(net["receiver"], referral.id, "Does she have children?")
    token = sign_in(client, net["worker"])
    html = client.get(referral_page(bundle, referral)).get_data(as_text=True)
    assert "Does she have children?" in html
    assert "Safe Nights Shelter" in html
    assert session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "referral.messages_read")
    )
    response = client.post(
        referral_page(bundle, referral) + "/messages",
        data={"csrf_token": token, "body": "Two, aged 4 and 7."},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == referral_page(bundle, referral)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Message sent." in page
    assert "Two, aged 4 and 7." in page


def test_an_empty_message_is_refused_and_nothing_written(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    referral = referral_to(bundle, net["shelter_a"], session)
    token = sign_in(client, net["worker"])
    before = counts(session), session.scalar(select(func.count()).select_from(Message))
    response = client.post(
        referral_page(bundle, referral) + "/messages", data={"csrf_token": token, "body": "  "}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-body-error"' in html
    assert "Messages are not shown while you correct the form." in html
    assert (counts(session), session.scalar(select(func.count()).select_from(Message))) == before


def test_provide_info_answers_the_question_and_moves_the_referral_back(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    referral = referral_to(bundle, net["shelter_a"], session)
    receiver_does(net, referral, "request-info", question="Wheelchair access?")
    token = sign_in(client, net["worker"])
    page = client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    assert "Answer their question: Night Beds" in page
    html = client.get(referral_page(bundle, referral)).get_data(as_text=True)
    assert 'action="' + referral_page(bundle, referral) + '/provide-info"' in html
    before = counts(session)
    refused = client.post(
        referral_page(bundle, referral) + "/provide-info", data={"csrf_token": token}
    )
    assert refused.status_code == 422
    assert 'id="f-answer-error"' in refused.get_data(as_text=True)
    assert counts(session) == before
    response = client.post(
        referral_page(bundle, referral) + "/provide-info",
        data={"csrf_token": token, "answer": "Yes, she uses a wheelchair."},
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Referral, referral.id).status == State.ACKNOWLEDGED
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == str(referral.id))
    ).all()
    assert "referral.acknowledged" in actions
    assert "referral.message_sent" in actions
    assert "Yes, she uses a wheelchair." in client.get(referral_page(bundle, referral)).get_data(
        as_text=True
    )


def test_withdraw_needs_a_reason_asks_to_confirm_and_then_withdraws(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    referral = referral_to(bundle, net["counsel"], session)
    token = sign_in(client, net["worker"])
    html = client.get(referral_page(bundle, referral)).get_data(as_text=True)
    assert 'hx-confirm="Withdraw the referral to Court Help?' in html
    before = counts(session)
    refused = client.post(
        referral_page(bundle, referral) + "/withdraw", data={"csrf_token": token, "reason": ""}
    )
    assert refused.status_code == 422
    assert 'id="f-reason-error"' in refused.get_data(as_text=True)
    assert counts(session) == before
    response = client.post(
        referral_page(bundle, referral) + "/withdraw",
        data={"csrf_token": token, "reason": "found help elsewhere"},
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Referral, referral.id).status == State.WITHDRAWN
    assert "Referral withdrawn." in client.get(response.headers["Location"]).get_data(as_text=True)
    # once ended, withdrawing again is a 409 shown on the page, nothing changed
    again = client.post(
        referral_page(bundle, referral) + "/withdraw",
        data={"csrf_token": token, "reason": "twice"},
    )
    assert again.status_code == 409
    assert "cannot be" in again.get_data(as_text=True)


def test_refer_again_after_a_decline_offers_suggestions_and_sends_a_linked_referral(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(
        net,
        needs=[{"category": "emergency_shelter", "service_ids": [net["shelter_a"].id]}],
    )
    declined = referral_to(bundle, net["shelter_a"], session)
    receiver_does(net, declined, "decline", reason="no_capacity")
    token = sign_in(client, net["worker"])
    html = client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    assert "Refer again for emergency shelter" in html
    assert "Send to Family Rooms (Safe Nights Shelter)" in html
    assert "Avoided Beds" not in html  # her do-not-refer agency is not suggested
    assert "Shares: basic profile only." in html  # the declined one shared only that
    response = client.post(
        referral_page(bundle, declined) + "/refer-again",
        data={"csrf_token": token, "service_id": str(net["shelter_b"].id)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/intake/bundles/{bundle.id}"
    again = referral_to(bundle, net["shelter_b"], session)
    assert again.previous_referral_id == declined.id
    assert again.need_id == declined.need_id
    assert again.status == State.SENT
    assert again.consent_id == net["consent"].id
    page = client.get(f"/intake/bundles/{bundle.id}").get_data(as_text=True)
    assert "Referred again: the new referral is on its way." in page


def test_refer_again_shares_only_what_the_consent_allows_the_new_agency(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    with transaction():
        elsewhere = factories.agency(name="Unnamed Refuge")
        outside = factories.directory_service(elsewhere, "emergency_shelter", name="Far Beds")
        factories.capacity(outside, total=5, available=4)
    bundle = make_bundle(
        net,
        needs=[
            {
                "category": "emergency_shelter",
                "service_ids": [net["shelter_a"].id],
                "data_categories": ["contact"],
            }
        ],
    )
    declined = referral_to(bundle, net["shelter_a"], session)
    receiver_does(net, declined, "decline", reason="no_capacity")
    token = sign_in(client, net["worker"])
    html = client.get(referral_page(bundle, declined)).get_data(as_text=True)
    assert "Send to Family Rooms (Safe Nights Shelter)" in html
    assert "Shares: basic profile, contact details." in html
    response = client.post(
        referral_page(bundle, declined) + "/refer-again",
        data={"csrf_token": token, "service_id": str(outside.id)},
    )
    assert response.status_code == 302
    assert referral_to(bundle, outside, session).data_categories == ["profile"]


def test_refer_again_to_a_service_of_another_kind_is_refused(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(
        net, needs=[{"category": "emergency_shelter", "service_ids": [net["shelter_a"].id]}]
    )
    declined = referral_to(bundle, net["shelter_a"], session)
    receiver_does(net, declined, "decline", reason="no_capacity")
    token = sign_in(client, net["worker"])
    before = counts(session)
    response = client.post(
        referral_page(bundle, declined) + "/refer-again",
        data={"csrf_token": token, "service_id": str(net["counsel"].id)},
    )
    assert response.status_code == 422
    assert "Not a service of this need&#39;s category." in response.get_data(as_text=True)
    assert counts(session) == before
    bad = client.post(
        referral_page(bundle, declined) + "/refer-again",
        data={"csrf_token": token, "service_id": "not-a-uuid"},
    )
    assert bad.status_code == 422
    assert counts(session) == before


def test_suggestions_from_the_expiry_sweep_are_offered_first(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(
        net, needs=[{"category": "emergency_shelter", "service_ids": [net["shelter_a"].id]}]
    )
    expired = referral_to(bundle, net["shelter_a"], session)
    with transaction():
        expired.suggested_service_ids = [str(net["shelter_b"].id)]
        referrals.transition(SYSTEM, expired.id, "expire")
    sign_in(client, net["worker"])
    html = client.get(referral_page(bundle, expired)).get_data(as_text=True)
    assert "Expired — no answer in time" in html
    assert "Send to Family Rooms (Safe Nights Shelter)" in html


# --- the receipt --------------------------------------------------------------------------


def test_the_receipt_is_in_her_language_and_carries_nothing_about_her(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    bundle = make_bundle(net)
    sign_in(client, net["worker"])
    response = client.get(f"/intake/bundles/{bundle.id}/receipt")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="es">' in html
    assert "Su comprobante de derivación" in html
    assert net["client"].reference in html
    assert "Safe Nights Shelter" in html
    assert "Justice Legal Aid" in html
    assert "un lugar seguro para dormir esta noche" in html
    assert "ayuda legal" in html
    assert "cómo contactarle" in html  # contact was shared with the shelter
    assert "Llame o vaya a Harbor Intake Center" in html
    assert net["consent"].expires_at.strftime("%Y") in html
    assert "Use your browser&#39;s Print command" in html or "browser's Print" in html
    for secret in (SECRET_NAME, "Secretname", SECRET_CONTACT, "555-0199", str(net["client"].id)):
        assert secret not in html
    assert "<script>" not in html
    assert 'style="' not in html


def test_the_receipt_falls_back_to_english_and_without_consent_says_so(
    client: Any, session: Any, net: dict[str, Any]
) -> None:
    with transaction():
        person = clients.create_client(net["actor"])
    bundle = make_bundle(
        net,
        client_id=person.id,
        consent_id=None,
        needs=[{"category": "legal_advocacy", "service_ids": [net["counsel"].id]}],
    )
    sign_in(client, net["worker"])
    html = client.get(f"/intake/bundles/{bundle.id}/receipt").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Your referral receipt" in html
    assert "You did not sign a permission" in html


# --- the read module ----------------------------------------------------------------------


def test_tracking_reads_are_scoped_to_the_sending_agency(session: Any, net: dict[str, Any]) -> None:
    bundle = make_bundle(net)
    outsider = actor_for(net["outsider"])
    from referral_hub.core.errors import NotFound

    for read in (tracking.follow_bundle, tracking.receipt):
        with pytest.raises(NotFound):
            read(outsider, bundle.id)
    assert tracking.recent_bundles(outsider) == []
    mine = tracking.recent_bundles(net["actor"])
    assert [item.id for item in mine] == [bundle.id]
