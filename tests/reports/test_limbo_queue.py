"""The coordinators' in-limbo queue, urgent first and actionable: every overdue state in the
hub's one order, her reference (never her data), both agencies with their numbers, and the
two nudges (receiver; sender: answer or refer elsewhere), each audited with its e-mail in
the same transaction, rate-limited, refused to anyone but a coordinator."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral_hub.agencies.models import AgencyKind
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import transaction
from referral_hub.jobs.models import OutboxMessage
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.models import Referral
from referral_hub.reports import limbo, series
from tests import factories
from tests.notifications.test_notification_words import _mails

T0 = datetime(2026, 3, 4, 21, 0, tzinfo=UTC)  # a Wednesday night
QUEUE = "/api/v1/reports/in-limbo"
ROWS = f"{QUEUE}/referrals"
HER_NAME = "Rosa Secretname"
SENDER_PHONE, RECEIVER_PHONE = "555 0142", "555 0177"


def nudge_url(referral_id: Any) -> str:
    return f"{QUEUE}/{referral_id}/nudge"


@pytest.fixture
def frozen() -> Iterator[Any]:
    with clock.frozen_at(T0) as handle:
        yield handle


@dataclass
class World:
    intake: Actor
    provider: Actor
    coordinator: Actor
    sender_name: str
    receiver_name: str
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    bundles: dict[str, uuid.UUID] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def world(session: Any, frozen: Any) -> World:
    """One referral (or need) per row kind, and three that must stay out of the queue."""
    now = clock.now()
    with transaction():
        sender = factories.agency(AgencyKind.HOTLINE)
        receiver = factories.agency(AgencyKind.SHELTER)
        factories.directory_service(sender, "case_management", phone=SENDER_PHONE)
        intake = factories.actor_for(factories.user(sender, ["intake"]))
        provider = factories.actor_for(factories.user(receiver, ["provider"]))
        hub = factories.agency(AgencyKind.OTHER)
        coordinator = factories.actor_for(factories.user(hub, ["coordinator"]))
        services = []
        for _ in range(14):
            service = factories.directory_service(
                receiver, "emergency_shelter", phone=RECEIVER_PHONE
            )
            factories.capacity(service, total=3, available=3)
            services.append(service)
        w = World(intake, provider, coordinator, sender.name, receiver.name)
        free = iter(services)

        def single(name: str, urgency: str, *moves: tuple[str, dict[str, Any]]) -> Referral:
            person = clients.create_client(intake, pii={"name": HER_NAME})
            made = factories.sent_referral(intake, person.id, next(free).id, urgency=urgency)
            for action, payload in moves:
                referrals.transition(provider, made.id, action, **payload)
            w.ids[name] = made.id
            w.references[name] = person.reference
            return made

        def bundle(name: str, urgency: str, count: int) -> list[Referral]:
            person = clients.create_client(intake, pii={"name": HER_NAME})
            made = bundles.create_bundle(
                intake,
                client_id=person.id,
                urgency=urgency,  # type: ignore[arg-type]
                needs=[
                    {
                        "category": "emergency_shelter",
                        "service_ids": [next(free).id for _ in range(count)],
                        "data_categories": [],
                    }
                ],
            )
            w.bundles[name] = made.id
            w.references[name] = person.reference
            return list(
                db_scalars(
                    select(Referral)
                    .where(Referral.bundle_id == made.id)
                    .order_by(Referral.service_id)
                )
            )

        # overdue, oldest first by deadline; one emergency a minute late tops them all
        single("routine unacknowledged", "routine").acknowledge_by = now - timedelta(hours=3)
        single("emergency unacknowledged", "emergency").acknowledge_by = now - timedelta(minutes=1)
        single("undecided", "urgent", ("acknowledge", {})).respond_by = now - timedelta(hours=2)
        asked = single("question", "urgent", ("request-info", {"question": "Can she travel?"}))
        asked.respond_by = now - timedelta(minutes=90)
        listed = single("waitlisted", "urgent", ("waitlist", {"position": 2}))
        listed.respond_by = now - timedelta(hours=1)
        single("not arrived", "urgent", ("accept", {})).arrive_by = now - timedelta(minutes=30)
        # an emergency need that bounced twice, its third referral not due yet
        first, second, third = bundle("bounced", "emergency", 3)
        for made in (first, second):
            referrals.transition(provider, made.id, "decline", reason="no_capacity")
        w.ids["bounced"] = third.id
        # a routine need with nothing open: its one referral declined
        (only,) = bundle("nothing open", "routine", 1)
        referrals.transition(provider, only.id, "decline", reason="out_of_area")
        w.ids["nothing open"] = only.id
        # fine: not due yet, she arrived, a hold still running
        single("fresh", "routine")
        single("arrived", "urgent", ("accept", {}), ("confirm-arrival", {}))
        single("held", "urgent", ("accept", {}))
    return w


def db_scalars(statement: Any) -> Any:
    from referral_hub.extensions import db

    return db.session.scalars(statement)


ORDER = [
    "emergency unacknowledged",  # overdue emergency
    "routine unacknowledged",  # then overdue, longest first
    "undecided",
    "question",
    "waitlisted",
    "not arrived",
    "bounced",  # then due soonest
    "nothing open",  # then the untimed
]
WHY = {
    "emergency unacknowledged": "unacknowledged",
    "routine unacknowledged": "unacknowledged",
    "undecided": "decision_overdue",
    "question": "question_unanswered",
    "waitlisted": "waitlist_overdue",
    "not arrived": "arrival_overdue",
    "bounced": "too_many_hops",
    "nothing open": "nothing_open",
}


def ours(world: World, items: list[dict[str, Any]]) -> list[str]:
    names = {str(referral_id): name for name, referral_id in world.ids.items()}
    found = [str(item["referral_id"]) for item in items]
    return [names[referral_id] for referral_id in found if referral_id in names]


def counts(session: Any) -> tuple[int, int]:
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    mails = session.scalar(select(func.count()).select_from(OutboxMessage))
    return int(events), int(mails)


# --- the queue --------------------------------------------------------------------------------


def test_every_overdue_state_is_listed_urgent_first_with_why(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    response = client.get(ROWS, query_string={"limit": 200})
    assert response.status_code == 200
    items = response.json["items"]
    assert ours(world, items) == ORDER  # and not "fresh", "arrived" or "held"
    by_name = {
        name: next(i for i in items if i["referral_id"] == str(world.ids[name])) for name in ORDER
    }
    for name in ORDER:
        assert by_name[name]["why"] == WHY[name], name
    assert by_name["routine unacknowledged"]["overdue_seconds"] == 3 * 3600
    assert by_name["bounced"]["hops"] == 2
    assert by_name["bounced"]["overdue_seconds"] is None
    assert by_name["nothing open"]["deadline"] is None


def test_each_row_shows_her_reference_both_agencies_and_their_numbers_but_no_pii(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    response = client.get(ROWS, query_string={"limit": 200})
    (row,) = [i for i in response.json["items"] if i["referral_id"] == str(world.ids["question"])]
    assert row["client_reference"] == world.references["question"]
    assert row["sender"] == {
        "id": str(world.intake.agency_id),
        "name": world.sender_name,
        "phone": SENDER_PHONE,
    }
    assert row["receiver"]["name"] == world.receiver_name
    assert row["service"]["phone"] == RECEIVER_PHONE
    assert HER_NAME not in response.get_data(as_text=True)
    assert row["runaround"]["client_reference"] == world.references["question"]
    for path in (ROWS, QUEUE):  # the rows, or the page's bundle items' rows: one per line
        csv = client.get(path, query_string={"limit": 200, "format": "csv"})
        assert csv.mimetype == "text/csv"
        text = csv.get_data(as_text=True)
        assert text.splitlines()[0].startswith("client_reference,urgency,why,")
        assert world.references["question"] in text
        assert RECEIVER_PHONE in text
        assert HER_NAME not in text


def test_the_page_shows_the_queue_with_numbers_to_call_and_the_nudges(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    page = client.get("/network/in-limbo", query_string={"limit": 200}).get_data(as_text=True)
    positions = [page.index(f'id="limbo-{world.ids[name]}"') for name in ORDER]
    assert positions == sorted(positions)
    assert world.references["emergency unacknowledged"] in page
    assert f'href="tel:{RECEIVER_PHONE.replace(" ", "")}"' in page
    assert f'href="tel:{SENDER_PHONE.replace(" ", "")}"' in page
    assert f"Nudge {world.receiver_name} to acknowledge" in page
    assert f"Ask {world.sender_name} to answer the question" in page
    assert f"Ask {world.sender_name} to refer her elsewhere" in page
    assert HER_NAME not in page
    csv = client.get("/network/in-limbo.csv", query_string={"limit": 200})
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    found = [line for line in lines if world.references["emergency unacknowledged"] in line]
    assert found
    assert found[0].split(",")[1:3] == ["emergency", "unacknowledged"]


def test_the_dashboard_counts_the_queue_rows(session: Any, world: World) -> None:
    everything, more = limbo.in_limbo(clock.now(), 10_000)
    assert not more
    assert len(ours(world, everything)) == len(ORDER)
    assert series.in_limbo_count(clock.now()) == {"count": len(everything), "more": False}
    assert limbo.count(clock.now(), cap=len(everything) - 1) == (len(everything) - 1, True)


# --- bundle items: the API's long-standing shape -----------------------------------------------

OLD_FIELDS = {
    "bundle_id",
    "urgency",
    "sender_agency_id",
    "sender_agency_name",
    "created_at",
    "waiting_seconds",
    "reasons",
    "needs",
    "runaround",
}
ITEMS = [
    "emergency unacknowledged",
    "two late",  # placed by its most urgent row: 4 hours overdue
    "routine unacknowledged",
    *ORDER[2:],
]


@pytest.fixture
def two_late(world: World) -> World:
    """A bundle with two stuck referrals in one need (4 and 2.5 hours unacknowledged) and a
    second need that is fine (not due yet)."""
    now = clock.now()
    with transaction():
        person = clients.create_client(world.intake, pii={"name": HER_NAME})
        receiver = factories.agency(AgencyKind.SHELTER)
        shelters = [factories.directory_service(receiver, "emergency_shelter") for _ in "ab"]
        legal = factories.directory_service(receiver, "legal_advocacy")
        for service in [*shelters, legal]:
            factories.capacity(service, total=3, available=3)
        made = bundles.create_bundle(
            world.intake,
            client_id=person.id,
            urgency="urgent",  # type: ignore[arg-type]
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [s.id for s in shelters],
                    "data_categories": [],
                },
                {"category": "legal_advocacy", "service_ids": [legal.id], "data_categories": []},
            ],
        )
        sent = {
            r.service_id: r
            for r in db_scalars(select(Referral).where(Referral.bundle_id == made.id))
        }
        sent[shelters[0].id].acknowledge_by = now - timedelta(minutes=150)
        sent[shelters[1].id].acknowledge_by = now - timedelta(hours=4)
    world.bundles["two late"] = made.id
    world.references["two late"] = person.reference
    world.ids["two late"] = sent[shelters[1].id].id
    world.ids["two late, later"] = sent[shelters[0].id].id
    return world


def item_names(world: World, items: list[dict[str, Any]]) -> list[str]:
    """The items of this world, named by their first (most urgent) referral."""
    return ours(world, [item["referrals"][0] for item in items])


def test_bundle_items_keep_every_old_field_most_urgent_first(
    client: Any, two_late: World, act_as: Callable[[Actor], None]
) -> None:
    w = two_late
    act_as(w.coordinator)
    items = client.get(QUEUE, query_string={"limit": 200}).json["items"]
    assert item_names(w, items) == ITEMS
    for item in items:
        assert OLD_FIELDS | {"client_reference", "referrals"} == set(item)
    (pair,) = [i for i in items if i["bundle_id"] == str(w.bundles["two late"])]
    assert [r["referral_id"] for r in pair["referrals"]] == [
        str(w.ids["two late"]),
        str(w.ids["two late, later"]),
    ]
    assert (pair["urgency"], pair["sender_agency_name"]) == ("urgent", w.sender_name)
    assert pair["sender_agency_id"] == str(w.intake.agency_id)
    assert pair["waiting_seconds"] == 0
    assert pair["created_at"] == T0.isoformat()
    assert pair["reasons"] == ["emergency_shelter: unacknowledged"]
    assert sorted((n["category"], n["status"], n["hops"], n["why"]) for n in pair["needs"]) == [
        ("emergency_shelter", "pending", 0, "unacknowledged"),
        ("legal_advocacy", "pending", 0, None),
    ]
    assert pair["client_reference"] == w.references["two late"]
    assert pair["runaround"]["client_reference"] == w.references["two late"]
    assert pair["runaround"]["doors"] == 3
    # the rows are the referrals endpoint's own, runaround aside
    rows = {
        r["referral_id"]: r for r in client.get(ROWS, query_string={"limit": 200}).json["items"]
    }
    for row in pair["referrals"]:
        assert row == {k: v for k, v in rows[row["referral_id"]].items() if k != "runaround"}
    bounced = next(i for i in items if i["bundle_id"] == str(w.bundles["bounced"]))
    assert bounced["reasons"] == ["emergency_shelter: too_many_hops"]
    assert [(n["status"], n["hops"]) for n in bounced["needs"]] == [("pending", 2)]


def test_a_stuck_referral_sent_alone_is_an_item_with_a_null_bundle(
    client: Any, world: World, act_as: Callable[[Actor], None]
) -> None:
    act_as(world.coordinator)
    items = client.get(QUEUE, query_string={"limit": 200}).json["items"]
    (alone,) = [i for i in items if i["referrals"][0]["referral_id"] == str(world.ids["question"])]
    assert alone["bundle_id"] is None
    assert alone["needs"] == []
    assert alone["reasons"] == ["emergency_shelter: question_unanswered"]
    assert (alone["urgency"], alone["sender_agency_name"]) == ("urgent", world.sender_name)
    assert alone["created_at"] == T0.isoformat()
    assert alone["waiting_seconds"] == 0
    assert alone["client_reference"] == world.references["question"]
    assert alone["runaround"]["client_reference"] == world.references["question"]
    assert len(alone["referrals"]) == 1
    assert HER_NAME not in str(items)


@pytest.mark.parametrize("path", [QUEUE, ROWS])
def test_pages_follow_each_other_without_loss_or_repeat(
    client: Any, two_late: World, act_as: Callable[[Actor], None], path: str
) -> None:
    act_as(two_late.coordinator)
    whole = client.get(path, query_string={"limit": 200}).json
    assert whole["next_cursor"] is None
    seen: list[Any] = []
    cursor = None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, query_string=query).json
        assert 0 < len(page["items"]) <= 2
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["items"]
    firsts = [item["referrals"][0] if path == QUEUE else item for item in seen]
    assert len({row["referral_id"] for row in firsts}) == len(seen)
    expected = ITEMS if path == QUEUE else [*ITEMS[:3], "two late, later", *ITEMS[3:]]
    named = item_names(two_late, seen) if path == QUEUE else ours(two_late, seen)
    assert named == expected


# --- nudges -----------------------------------------------------------------------------------


def test_a_receiver_nudge_e_mails_its_staff_without_her_data_and_is_on_the_timeline(
    app: Flask,
    client: Any,
    world: World,
    act_as: Callable[[Actor], None],
    session: Any,
    run_jobs: Any,
) -> None:
    act_as(world.coordinator)
    referral_id = world.ids["emergency unacknowledged"]
    before = set(session.scalars(select(OutboxMessage.id)))
    response = client.post(nudge_url(referral_id), json={"to": "receiver"})
    assert response.status_code == 200, response.json
    assert response.json["what"] == "acknowledge"
    assert response.json["notified"] == 1
    (row,) = session.scalars(select(OutboxMessage).where(OutboxMessage.id.not_in(before)))
    values = row.payload["values"]
    assert row.payload["template"] == "referral_nudged"
    assert values == {
        "urgency": "emergency",
        "reference": world.references["emergency unacknowledged"],
        "what": "acknowledge",
        "due": (T0 - timedelta(minutes=1)).isoformat(),
        "path": f"/provider/referrals/{referral_id}",
    }
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral.receiver_nudged")
    ).one()
    assert event.subject_id == str(referral_id)
    assert event.actor_id == world.coordinator.id
    assert event.details == {"to": "receiver", "what": "acknowledge", "notified": 1}
    timeline = client.get(f"/api/v1/referrals/{referral_id}/timeline").json
    assert timeline[-1]["action"] == "referral.receiver_nudged"
    (mail,) = _mails(app, run_jobs, before)
    body = mail.get_payload(decode=True).decode()
    assert world.references["emergency unacknowledged"] in mail["Subject"]
    assert f"/provider/referrals/{referral_id}" in body
    assert HER_NAME not in str(mail)
    rows = client.get(ROWS, query_string={"limit": 200}).json["items"]
    items = client.get(QUEUE, query_string={"limit": 200}).json["items"]
    for queue in (rows, [row for item in items for row in item["referrals"]]):
        (shown,) = [item for item in queue if item["referral_id"] == str(referral_id)]
        assert shown["last_nudged"]["receiver"] == T0.isoformat()


def test_a_second_nudge_within_the_interval_is_refused_and_writes_nothing(
    client: Any, world: World, act_as: Callable[[Actor], None], session: Any, frozen: Any
) -> None:
    act_as(world.coordinator)
    url = nudge_url(world.ids["undecided"])
    assert client.post(url, json={"to": "receiver"}).status_code == 200
    frozen.advance(timedelta(minutes=14))
    before = counts(session)
    again = client.post(url, json={"to": "receiver"})
    assert again.status_code == 429
    assert again.mimetype == "application/problem+json"
    assert again.json["code"] == "rate_limited"
    assert again.headers["Retry-After"] == "60"
    assert counts(session) == before
    # the other side has its own allowance; after the interval the receiver may be nudged
    assert client.post(url, json={"to": "sender"}).status_code == 200
    frozen.advance(timedelta(minutes=1))
    assert client.post(url, json={"to": "receiver"}).status_code == 200


def test_the_sender_is_asked_to_refer_elsewhere_or_to_answer_the_question(
    client: Any, world: World, act_as: Callable[[Actor], None], session: Any
) -> None:
    act_as(world.coordinator)
    before = set(session.scalars(select(OutboxMessage.id)))
    stuck = world.ids["nothing open"]
    refer = client.post(nudge_url(stuck), json={"to": "sender"})
    assert refer.status_code == 200
    assert refer.json["what"] == "refer"
    question = client.post(nudge_url(world.ids["question"]), json={"to": "sender"})
    assert question.json["what"] == "provide"
    lapsing = client.post(nudge_url(world.ids["not arrived"]), json={"to": "sender"})
    assert lapsing.json["what"] == "check"  # the hold is ending: is she on her way?
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.not_in(before))).all()
    paths = {row.payload["values"]["path"] for row in rows if "values" in row.payload}
    # a bundle's referral: its page, where the sender refers again
    assert f"/intake/bundles/{world.bundles['nothing open']}/referrals/{stuck}" in paths
    # a referral outside a bundle has no page of its own to link: the plain e-mail
    assert any(row.payload["template"] == "action_waiting" for row in rows)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == str(stuck))
    ).all()
    assert "referral.sender_nudged" in actions


@pytest.mark.parametrize(
    ("body", "status", "field_name"),
    [
        ({}, 422, "to"),
        ({"to": "police"}, 422, "to"),
        ({"to": "receiver", "note": "hurry"}, 422, "note"),
        ({"to": "receiver", "referral": "x"}, 422, "referral"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    client: Any,
    world: World,
    act_as: Callable[[Actor], None],
    session: Any,
    body: dict[str, Any],
    status: int,
    field_name: str,
) -> None:
    act_as(world.coordinator)
    before = counts(session)
    response = client.post(nudge_url(world.ids["undecided"]), json=body)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert field_name in response.json["errors"]
    assert counts(session) == before


def test_nothing_owed_or_no_such_referral_writes_nothing(
    client: Any, world: World, act_as: Callable[[Actor], None], session: Any
) -> None:
    act_as(world.coordinator)
    before = counts(session)
    # the question is the sender's to answer: nothing waits on the receiver
    owed = client.post(nudge_url(world.ids["question"]), json={"to": "receiver"})
    assert owed.status_code == 409
    assert owed.json["errors"] == {"to": ["Nothing waits on the receiver now."]}
    # she arrived: nothing to ask of the sender either
    arrived = client.post(nudge_url(world.ids["arrived"]), json={"to": "sender"})
    assert arrived.status_code == 409
    missing = client.post(nudge_url(uuid.uuid4()), json={"to": "receiver"})
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert client.post(f"{QUEUE}/not-an-id/nudge", json={"to": "receiver"}).status_code == 404
    assert counts(session) == before


def test_only_coordinators_may_nudge(
    client: Any, world: World, act_as: Callable[[Actor], None], session: Any
) -> None:
    url = nudge_url(world.ids["undecided"])
    with transaction():
        agency = factories.agency()
        auditor_id, auditor_secret = factories.api_client(agency, ["audit:read"])
    auditor = factories.token(client, auditor_id, auditor_secret)
    before = counts(session)
    system = client.post(
        url, json={"to": "receiver"}, headers={"Authorization": f"Bearer {auditor}"}
    )
    assert system.status_code == 403
    assert system.mimetype == "application/problem+json"
    for roles in ({"intake"}, {"provider", "agency_admin"}, {"hub_admin"}):
        act_as(Actor(ActorKind.USER, "someone", world.intake.agency_id, frozenset(roles)))
        refused = client.post(url, json={"to": "receiver"})
        assert refused.status_code == 403, roles
        assert refused.json["code"] == "forbidden"
    events, mails = counts(session)
    assert mails == before[1]
    assert not session.scalar(
        select(func.count()).where(AuditEvent.action.like("referral.%nudged"))
    )
    assert events >= before[0]  # refusals are on the record (access.denied), nothing else


# --- the page's forms -------------------------------------------------------------------------


def test_the_page_nudges_with_its_csrf_token_by_form_and_by_htmx(
    client: Any, world: World, act_as: Callable[[Actor], None], session: Any
) -> None:
    act_as(world.coordinator)
    page = client.get("/network/in-limbo").get_data(as_text=True)
    token = factories.csrf_from(page)
    url = f"/network/in-limbo/{world.ids['waitlisted']}/nudge"
    before = counts(session)
    assert client.post(url, data={"to": "receiver"}).status_code in (400, 403)  # no token
    assert counts(session)[1] == before[1]
    done = client.post(url, data={"to": "receiver", "csrf_token": token})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/network/in-limbo")
    listed = client.get("/network/in-limbo", query_string={"limit": 200}).get_data(as_text=True)
    assert "1 staff at the receiving agency were e-mailed" in listed
    assert "nudged" in listed
    assert " disabled" in listed
    # htmx: the queue comes back in place, with what happened; too soon: the reason, 429
    htmx = {"HX-Request": "true"}
    other = f"/network/in-limbo/{world.ids['not arrived']}/nudge"
    fragment = client.post(other, data={"to": "sender", "csrf_token": token}, headers=htmx)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert text.lstrip().startswith('<div id="limbo-queue"')
    assert "1 staff at the sending agency were e-mailed" in text
    again = client.post(other, data={"to": "sender", "csrf_token": token}, headers=htmx)
    assert again.status_code == 429
    assert "nudge again in 15 minutes" in again.get_data(as_text=True)
    bad = client.post(url, data={"to": "police", "csrf_token": token})
    assert bad.status_code == 422
    assert "Please choose whom to nudge." in bad.get_data(as_text=True)
