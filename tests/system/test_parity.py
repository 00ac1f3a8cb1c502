"""One verb, one place: each referral verb is driven once through the JSON API and once
through its staff page, from the same starting state, by the same signed-in person, and
must leave the same rows, the same audit events (action and details) and the same outbox
rows. Ids differ between the two worlds, so every id is named by what it is (the referral,
the receiving agency, …) or by the order it first appears in; times are left out."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.directory.models import Capacity
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxMessage
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Bundle, Message, Referral
from tests import factories
from tests.factories import actor_for, csrf_from, sign_in

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass
class World:
    """A sender (intake) and a receiver (shelter provider), her consent, a bundle of one
    need with one referral sent to the first shelter, and a second shelter for refer-again."""

    names: dict[str, str]
    bundle_id: uuid.UUID
    referral_id: uuid.UUID
    other_service_id: uuid.UUID
    client_id: uuid.UUID
    consent_id: uuid.UUID
    worker: Any
    provider: Any
    colleague: Any  # a second intake worker at the sender
    provider_colleague: Any  # a second provider at the receiver


def build_world() -> World:
    with transaction():
        home = factories.agency(AgencyKind.HOTLINE)
        shelter = factories.agency()
        worker = factories.with_password(factories.user(home, ["intake"]))
        provider = factories.with_password(factories.user(shelter, ["provider"]))
        colleague = factories.user(home, ["intake"])
        provider_colleague = factories.user(shelter, ["provider"])
        first = factories.directory_service(shelter, "emergency_shelter")
        second = factories.directory_service(shelter, "emergency_shelter")
        for service in (first, second):
            factories.capacity(service, total=4, available=2)
        sender = actor_for(worker)
        person = clients.create_client(
            sender, pii={"name": "Parity Person", "contact": "555-0100"}, profile={}
        )
        granted = factories.written_consent(
            sender,
            person.id,
            recipients=[shelter.id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
        )
        bundle = bundles.create_bundle(
            sender,
            client_id=person.id,
            consent_id=granted.id,
            urgency=Urgency.URGENT,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [first.id],
                    "data_categories": ["contact"],
                }
            ],
        )
        (referral,) = db.session.scalars(select(Referral).where(Referral.bundle_id == bundle.id))
    names = {
        str(home.id): "SENDER_AGENCY",
        str(shelter.id): "RECEIVER_AGENCY",
        str(worker.id): "WORKER",
        str(provider.id): "PROVIDER",
        str(first.id): "FIRST_SERVICE",
        str(second.id): "SECOND_SERVICE",
        str(person.id): "CLIENT",
        str(granted.id): "CONSENT",
        str(bundle.id): "BUNDLE",
        str(referral.id): "REFERRAL",
        person.reference: "REFERENCE",
        worker.email: "WORKER_EMAIL",
        provider.email: "PROVIDER_EMAIL",
        str(colleague.id): "COLLEAGUE",
        colleague.email: "COLLEAGUE_EMAIL",
        str(provider_colleague.id): "PROVIDER_COLLEAGUE",
        provider_colleague.email: "PROVIDER_COLLEAGUE_EMAIL",
        home.name: "SENDER_NAME",
        shelter.name: "RECEIVER_NAME",
        first.name: "FIRST_SERVICE_NAME",
        second.name: "SECOND_SERVICE_NAME",
    }
    return World(
        names,
        bundle.id,
        referral.id,
        second.id,
        person.id,
        granted.id,
        worker,
        provider,
        colleague,
        provider_colleague,
    )


def move(world: World, *steps: tuple[str, str, dict[str, Any]]) -> None:
    """Bring the referral to a verb's starting state through the services."""
    for who, action, payload in steps:
        person = world.provider if who == "provider" else world.worker
        with transaction():
            referrals.transition(actor_for(person), world.referral_id, action, **payload)


ETA = (clock.now() + timedelta(days=3)).replace(microsecond=0)
Step = tuple[str, str, dict[str, Any]]
ACK: Step = ("provider", "acknowledge", {})
ASKED = ("provider", "request-info", {"question": "Is her child with her tonight?"})
ACCEPTED: Step = ("provider", "accept", {})
ARRIVED: Step = ("provider", "confirm-arrival", {})
DECLINED = ("provider", "decline", {"reason": "no_capacity"})


@dataclass
class Verb:
    """How one verb is said at each door: the person, the steps before it, the API call
    (path under the referral, JSON) and the page's form (path, fields)."""

    name: str
    who: str
    before: tuple[tuple[str, str, dict[str, Any]], ...]
    api: Callable[[World], tuple[str, dict[str, Any]]]
    page: Callable[[World], tuple[str, dict[str, str]]]
    # what the page's door needs first in the worker's own session (the plan), not the hub's
    prepare: Callable[[World, Any], None] | None = None


def said(body: dict[str, Any], world: World) -> dict[str, Any]:
    """The body with this world's values filled in (a value may depend on the world)."""
    return {key: value(world) if callable(value) else value for key, value in body.items()}


def provider_action(action: str, body: dict[str, Any]) -> tuple[Callable[..., Any], ...]:
    def api(world: World) -> tuple[str, dict[str, Any]]:
        return f"/api/v1/referrals/{world.referral_id}/{action}", said(body, world)

    def page(world: World) -> tuple[str, dict[str, str]]:
        form = {key: str(value) for key, value in said(body, world).items()}
        if "eta" in form:
            form["eta"] = ETA.isoformat()
        return f"/provider/referrals/{world.referral_id}/{action}", form

    return api, page


def intake_action(page_path: str, api_action: str, body: dict[str, Any]) -> tuple[Any, Any]:
    def api(world: World) -> tuple[str, dict[str, Any]]:
        return f"/api/v1/referrals/{world.referral_id}/{api_action}", dict(body)

    def page(world: World) -> tuple[str, dict[str, str]]:
        return (
            f"/intake/bundles/{world.bundle_id}/referrals/{world.referral_id}/{page_path}",
            {key: str(value) for key, value in body.items()},
        )

    return api, page


def refer_again_api(world: World) -> tuple[str, dict[str, Any]]:
    return "/api/v1/referrals", {
        "client_id": str(world.client_id),
        "service_id": str(world.other_service_id),
        "consent_id": str(world.consent_id),
        "urgency": "urgent",
        "data_categories": ["contact"],
        "previous_referral_id": str(world.referral_id),
    }


def refer_again_page(world: World) -> tuple[str, dict[str, str]]:
    path = f"/intake/bundles/{world.bundle_id}/referrals/{world.referral_id}/refer-again"
    return path, {"service_id": str(world.other_service_id)}


def message_api(world: World) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/referrals/{world.referral_id}/messages", {"body": "We can take her at 9."}


def provider_message_page(world: World) -> tuple[str, dict[str, str]]:
    return f"/provider/referrals/{world.referral_id}/messages", {"body": "We can take her at 9."}


def intake_message_page(world: World) -> tuple[str, dict[str, str]]:
    path = f"/intake/bundles/{world.bundle_id}/referrals/{world.referral_id}/messages"
    return path, {"body": "We can take her at 9."}


HANDOVER_NOTE = "She calls back after six; ask for the evening desk."


def bundle_handover_api(world: World) -> tuple[str, dict[str, Any]]:
    body = {"assignee_id": str(world.colleague.id), "note": HANDOVER_NOTE}
    return f"/api/v1/bundles/{world.bundle_id}/assign", body


def bundle_handover_page(world: World) -> tuple[str, dict[str, str]]:
    form = {"assignee_id": str(world.colleague.id), "note": HANDOVER_NOTE}
    return f"/intake/bundles/{world.bundle_id}/assign", form


def receiver_handover_api(world: World) -> tuple[str, dict[str, Any]]:
    body = {"side": "receiver", "assignee_id": str(world.provider_colleague.id)}
    return f"/api/v1/referrals/{world.referral_id}/assign", body | {"note": HANDOVER_NOTE}


def receiver_handover_page(world: World) -> tuple[str, dict[str, str]]:
    form = {"assignee_id": str(world.provider_colleague.id), "note": HANDOVER_NOTE}
    return f"/provider/referrals/{world.referral_id}/assign", form


SEND_NOTE = "She arrives by the evening bus."


def send_bundle_api(world: World) -> tuple[str, dict[str, Any]]:
    return "/api/v1/bundles", {
        "client_id": str(world.client_id),
        "consent_id": str(world.consent_id),
        "urgency": "emergency",
        "needs": [
            {
                "category": "emergency_shelter",
                "service_ids": [str(world.other_service_id)],
                "data_categories": ["contact"],
                "note": SEND_NOTE,
            }
        ],
    }


def plan_in_session(world: World, http: Any) -> None:
    """The page sends the worker's plan: the second shelter, picked from the search."""
    with http.session_transaction() as stored:
        stored["plan"] = {"emergency_shelter": [str(world.other_service_id)]}


def send_bundle_page(world: World) -> tuple[str, dict[str, str]]:
    path = f"/intake/bundles/new?client={world.client_id}&consent={world.consent_id}"
    return path, {
        "urgency": "emergency",
        "needs-0.category": "emergency_shelter",
        "needs-0.service_ids": str(world.other_service_id),
        "needs-0.service_ids.present": "1",
        "needs-0.data_categories": "contact",
        "needs-0.data_categories.present": "1",
        "needs-0.note": SEND_NOTE,
    }


COMPLETED = {"outcome_code": "goals_met", "outcome": "Moved on to transitional housing."}
DECLINE = {
    "reason": "not_eligible",
    "note": "We take women over 25 only.",
    "suggested_service_id": lambda world: str(world.other_service_id),
}

VERBS = [
    Verb("acknowledge", "provider", (), *provider_action("acknowledge", {})),
    Verb("request-info", "provider", (ACK,), *provider_action("request-info", ASKED[2])),
    Verb(
        "provide-info",
        "intake",
        (ACK, ASKED),
        *intake_action("provide-info", "provide-info", {"answer": "Yes, a boy of four."}),
    ),
    Verb(
        "waitlist",
        "provider",
        (ACK,),
        *provider_action("waitlist", {"position": 2, "eta": ETA.isoformat()}),
    ),
    Verb("accept", "provider", (ACK,), *provider_action("accept", {})),
    Verb("decline", "provider", (ACK,), *provider_action("decline", DECLINE)),
    Verb("confirm-arrival", "provider", (ACK, ACCEPTED), *provider_action("confirm-arrival", {})),
    Verb(
        "complete",
        "provider",
        (ACK, ACCEPTED, ARRIVED),
        *provider_action("complete", COMPLETED),
    ),
    Verb(
        "end-unfinished",
        "provider",
        (ACK, ACCEPTED),
        *provider_action("end-unfinished", {"reason": "no_show"}),
    ),
    Verb(
        "withdraw",
        "intake",
        (),
        *intake_action("withdraw", "withdraw", {"reason": "She found a place herself."}),
    ),
    Verb("refer again", "intake", (ACK, DECLINED), refer_again_api, refer_again_page),
    Verb("message (receiver)", "provider", (ACK,), message_api, provider_message_page),
    Verb("message (sender)", "intake", (ACK,), message_api, intake_message_page),
    Verb("hand over (bundle)", "intake", (ACK,), bundle_handover_api, bundle_handover_page),
    Verb("hand over (receiver)", "provider", (ACK,), receiver_handover_api, receiver_handover_page),
    Verb("send bundle", "intake", (), send_bundle_api, send_bundle_page, plan_in_session),
]


class Names:
    """Names ids by what they are, then by the order they first appear."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = dict(known)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self(item) for key, item in sorted(value.items())}
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, datetime):
            return "<time>"
        if isinstance(value, str):
            if TIME_TEXT.match(value):
                return "<time>"
            if value in self.known:
                return self.known[value]
            return UUID_TEXT.sub(self._name, value)
        return value

    def _name(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.known:
            self.known[found] = f"ID{len(self.known)}"
        return self.known[found]


def outcome(world: World, since_seq: int, since_outbox: set[uuid.UUID]) -> dict[str, Any]:
    """What the verb left: the bundle's referrals (who owns each side too), its caseworker,
    messages and capacity; the audit events and the outbox rows it added."""
    db.session.expire_all()
    names = Names(world.names)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.seq > since_seq).order_by(AuditEvent.seq)
    )
    outbox = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))
    rows = db.session.scalars(
        select(Referral)
        .where(Referral.client_id == world.client_id)
        .order_by(Referral.created_at, Referral.id)
    )
    services = [uuid.UUID(key) for key, name in world.names.items() if name.endswith("_SERVICE")]
    capacity = db.session.scalars(
        select(Capacity).where(Capacity.service_id.in_(services)).order_by(Capacity.total)
    )
    return {
        "audit": [(e.action, names(e.subject_id), names(e.details or {})) for e in events],
        "outbox": sorted(
            (row.kind, str(names(row.target)), repr(names(row.payload)))
            for row in outbox
            if row.id not in since_outbox
        ),
        "referrals": [
            {
                "service": names(r.service_id),
                "status": r.status.value,
                "bundle": names(r.bundle_id),
                "need": r.need_id is not None,
                "previous": names(r.previous_referral_id),
                "decline_reason": r.decline_reason,
                "holds_unit": r.holds_unit,
                "data_categories": sorted(r.data_categories),
                "urgency": r.urgency.value,
                "sender_assignee": names(r.sender_assignee_id),
                "receiver_assignee": names(r.receiver_assignee_id),
            }
            for r in rows
        ],
        "bundle_assignee": names(db.session.get(Bundle, world.bundle_id).sender_assignee_id),
        "messages": db.session.scalar(
            select(db.func.count())
            .select_from(Message)
            .join(Referral, Referral.id == Message.referral_id)
            .where(Referral.client_id == world.client_id)
        ),
        "capacity": sorted((c.available, c.held) for c in capacity),
    }


def drive(app: Flask, verb: Verb, door: str) -> dict[str, Any]:
    world = build_world()
    move(world, *verb.before)
    person = world.provider if verb.who == "provider" else world.worker
    http = app.test_client()
    token = sign_in(http, person)
    if door == "page" and verb.prepare is not None:
        verb.prepare(world, http)
    since_seq = db.session.scalar(select(db.func.max(AuditEvent.seq))) or 0
    since_outbox = set(db.session.scalars(select(OutboxMessage.id)))
    if door == "api":
        path, body = verb.api(world)
        answer = http.post(path, json=body, headers={"X-CSRFToken": token})
        assert answer.status_code in (200, 201), (verb.name, answer.get_json())
    else:
        path, form = verb.page(world)
        page_token = csrf_from(http.get("/?overview=1").get_data(as_text=True))
        answer = http.post(path, data={**form, "csrf_token": page_token})
        assert answer.status_code == 302, (verb.name, answer.get_data(as_text=True)[:2000])
    return outcome(world, since_seq, since_outbox)


@pytest.mark.parametrize("verb", VERBS, ids=[verb.name for verb in VERBS])
def test_the_api_and_the_page_do_the_same_for_each_verb(
    app: Flask, session: Any, verb: Verb
) -> None:
    by_api = drive(app, verb, "api")
    by_page = drive(app, verb, "page")
    assert by_api["audit"], "the verb recorded nothing"
    assert by_page == by_api
