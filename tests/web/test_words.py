"""The staff pages' words (`web/words.py`): every code of every vocabulary has its words, in
every language the hub speaks, and a page speaks the request's language."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g, request_started
from sqlalchemy import select

from referral_hub.agencies.models import Role
from referral_hub.audit import service as audit
from referral_hub.auth.scopes import SCOPES
from referral_hub.clients import service as clients
from referral_hub.clients.schemas import PiiSchema, ProfileSchema
from referral_hub.consent import service as consent
from referral_hub.consent.policy import CATEGORIES
from referral_hub.core.db import transaction
from referral_hub.directory.freshness import Freshness
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
    Unit,
)
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxStatus
from referral_hub.referrals import assignment, outside
from referral_hub.referrals.deadlines import DEADLINES, EXTENSION_REASONS, Urgency
from referral_hub.referrals.models import Referral
from referral_hub.referrals.queries.received import RECEIVER_ACTIONS
from referral_hub.referrals.schemas import NEED_STATUSES
from referral_hub.referrals.states import DECLINE_REASONS, UNFINISHED_REASONS, State
from referral_hub.reports import limbo, nudges
from referral_hub.reports.series import STATUS_GROUPS
from referral_hub.web import i18n, words
from referral_hub.web.pages import intake
from tests import factories


def choices(schema: type[Any], field: str) -> list[str]:
    """The values a schema's field accepts (its `OneOf`)."""
    return list(schema().fields[field].validate.choices)


# (the words, every code its feature knows)
VOCABULARIES: dict[str, tuple[dict[Any, Any], set[Any]]] = {
    "CATEGORY": (words.CATEGORY, {c.value for c in Category}),
    "POPULATION": (words.POPULATION, set(POPULATIONS)),
    "GENDER": (words.GENDER, set(GENDERS) | set(choices(ProfileSchema, "gender"))),
    "ACCESSIBILITY": (words.ACCESSIBILITY, set(ACCESSIBILITY)),
    "TRAFFICKING": (words.TRAFFICKING, set(TRAFFICKING_TYPES)),
    "FRESHNESS": (words.FRESHNESS, {f.value for f in Freshness}),
    "REFERRAL_STATUS": (words.REFERRAL_STATUS, {s.value for s in State}),
    "NEED_STATUS": (words.NEED_STATUS, set(NEED_STATUSES)),
    "BUNDLE_STATUS": (words.BUNDLE_STATUS, {"open", "placed", "met"}),
    "DECLINE_REASON": (words.DECLINE_REASON, set(DECLINE_REASONS)),
    "UNFINISHED_REASON": (words.UNFINISHED_REASON, set(UNFINISHED_REASONS)),
    "EXTENSION_REASON": (words.EXTENSION_REASON, set(EXTENSION_REASONS)),
    "DEADLINE": (words.DEADLINE, {what for what, _ in limbo.WATCHED.values()}),
    "RECEIVER_ACTION": (words.RECEIVER_ACTION, set(RECEIVER_ACTIONS)),
    "DATA_CATEGORY": (words.DATA_CATEGORY, set(CATEGORIES)),
    # a referral's every move (`referral.<state>`), its drafting and the coordinators' nudges
    "EVENT": (
        words.EVENT,
        {f"referral.{s.value}" for s in State if s != State.DRAFT}
        | {"referral.created", *limbo.NUDGE_ACTIONS.values()}
        | {"referral.assigned", "referral.access_ended", outside.ACCESS_ENDED},
    ),
    "HANDOVER_SIDE": (words.HANDOVER_SIDE, set(assignment.SIDES)),
    "STATUS_GROUP": (words.STATUS_GROUP, set(STATUS_GROUPS)),
    "LIMBO_REASON": (words.LIMBO_REASON, set(limbo.WHY)),
    "DATA_CATEGORY_HINT": (words.DATA_CATEGORY_HINT, set(CATEGORIES)),
    "PII_FIELD": (words.PII_FIELD, set(PiiSchema().fields)),
    "PROFILE_FACT": (words.PROFILE_FACT, set(ProfileSchema().fields)),
    "AGE_RANGE": (words.AGE_RANGE, set(choices(ProfileSchema, "age_range"))),
    "HOUSEHOLD": (words.HOUSEHOLD, set(choices(ProfileSchema, "household"))),
    "URGENCY": (words.URGENCY, {u.value for u in Urgency}),
    "URGENCY_FOR_HER": (words.URGENCY_FOR_HER, {u.value for u in Urgency}),
    "URGENCY_DEADLINES": (words.URGENCY_DEADLINES, {u.value for u in Urgency}),
    "SIGNING_METHOD": (words.SIGNING_METHOD, set(consent.METHODS)),
    "SIGNER": (words.SIGNER, set(consent.SIGNERS)),
    "AUDIT_OUTCOME": (words.AUDIT_OUTCOME, set(audit.OUTCOMES)),
    "SERVICE_STATUS": (words.SERVICE_STATUS, {s.value for s in ServiceStatus}),
    "UNIT": (words.UNIT, {u.value for u in Unit}),
    "ROLE": (words.ROLE, {r.value for r in Role}),
    "ROLE_SHORT": (words.ROLE_SHORT, {r.value for r in Role}),
    "SCOPE": (words.SCOPE, set(SCOPES)),
    "DELIVERY_STATUS": (words.DELIVERY_STATUS, {s.value for s in OutboxStatus}),
}


@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_every_code_of_each_vocabulary_has_words(name: str) -> None:
    said, codes = VOCABULARIES[name]
    assert codes - set(said) == set(), f"words.{name} lacks words for these codes"


def test_every_nudge_a_coordinator_can_be_offered_has_words() -> None:
    offered = {
        (side, nudges.owed(state, side))
        for side in nudges.SIDES
        for state in State
        if nudges.owed(state, side) is not None
    }
    assert offered - set(words.NUDGE) == set()
    assert {what for what, _ in DEADLINES.values()} <= set(words.DEADLINE)


def every_word() -> list[Any]:
    found: list[Any] = []
    for name in dir(words):
        value = getattr(words, name)
        if name.isupper() and isinstance(value, dict):
            for word in value.values():
                found.extend(word if isinstance(word, tuple) else [word])
    return found


@pytest.mark.parametrize("language", [lang for lang in i18n.SUPPORTED if lang != i18n.SOURCE])
def test_every_word_is_translated(app: Flask, language: str) -> None:
    """Lazy: each word is looked up when it is shown, in the language of that moment."""
    with app.test_request_context():
        with i18n.speaking(i18n.SOURCE):
            english = [str(word) for word in every_word()]
        with i18n.speaking(language):
            translated = [str(word) for word in every_word()]
    same = {e for e, t in zip(english, translated, strict=True) if e == t}
    assert same <= {"LGBTQ+"}, f"not translated into {language}: {sorted(same)}"


def test_one_spelling_of_aging_on_every_page() -> None:
    assert str(words.FRESHNESS["aging"]) == "Aging"
    templates = (i18n.CATALOGUES.parent / "web").rglob("*.html")
    assert not [path.name for path in templates if "Ageing" in path.read_text("utf-8")]


def test_a_language_typed_by_its_english_name_is_read_whatever_the_page_speaks(
    app: Flask,
) -> None:
    with app.test_request_context():
        g.language = "es"
        assert intake.language_tag("Vietnamese") == "vi"
        assert intake.language_tag("vietnamita") == "vi"
        assert intake.language_tag("español") == "es"
        assert g.language == "es"


def test_the_provider_inbox_speaks_the_requests_language(
    app: Flask, client: Any, session: Any
) -> None:
    """A view sets `g.language` (web/i18n.py); the inbox's status words follow it."""
    with transaction():
        home, shelter = factories.agency(), factories.agency()
        worker = factories.user(home, ["intake"])
        provider = factories.with_password(factories.user(shelter, ["provider"]))
        service = factories.directory_service(shelter, "emergency_shelter")
        factories.capacity(service, total=2, available=1)
        sender = factories.actor_for(worker)
        person = clients.create_client(sender, pii={"name": "Words Person"}, profile={})
        factories.sent_referral(sender, person.id, service.id)
    assert db.session.scalars(select(Referral).where(Referral.client_id == person.id)).one()
    sign_in = factories.sign_in(client, provider)
    assert sign_in

    english = client.get("/provider/").get_data(as_text=True)
    assert "New — not opened yet" in english
    assert "Nueva — aún sin abrir" not in english

    def in_spanish(sender: Flask, **extra: Any) -> None:
        g.language = "es"

    with request_started.connected_to(in_spanish, app):
        spanish = client.get("/provider/").get_data(as_text=True)
    assert "Nueva — aún sin abrir" in spanish
    assert "New — not opened yet" not in spanish
    # the status filter's choices too, and the page says which language it is in
    assert ">Rechazada</option>" in spanish
    assert '<html lang="es">' in spanish
