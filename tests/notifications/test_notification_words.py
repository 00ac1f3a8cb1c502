"""E-mails that help without a word about her: a referral's e-mail says how urgent it is,
what is due by when, and links to the page where it is done — from a closed list."""

from __future__ import annotations

import email
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral_hub.clients import service as clients
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.jobs.models import OutboxMessage
from referral_hub.notifications import service as notifications
from referral_hub.referrals import bundles
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Referral
from tests import factories


def _mails(app: Flask, run_jobs: Any, since: set[uuid.UUID]) -> list[email.message.Message]:
    run_jobs()
    folder = Path(app.instance_path) / app.config["MAIL_FOLDER"]
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")).all()
    found = []
    for row in rows:
        path = folder / f"{row.id}.eml"
        if row.id not in since and path.exists():
            found.append(email.message_from_bytes(path.read_bytes()))
    return found


def test_a_sent_referral_tells_the_receiver_what_is_due_by_when_and_where(
    app: Flask, session: Any, run_jobs: Any
) -> None:
    with transaction():
        sender, receiver = factories.agency(), factories.agency()
        factories.user(receiver, ["provider"])
        intake = factories.actor_for(factories.user(sender, ["intake"]))
        provider = factories.actor_for(factories.user(receiver, ["provider"]))
        shelter = factories.directory_service(receiver, "emergency_shelter")
        factories.capacity(shelter, total=3, available=3)
        person = clients.create_client(intake, pii={"name": "Rosa Secretname"})
        before = set(db.session.scalars(select(OutboxMessage.id)))
        bundle = bundles.create_bundle(
            intake,
            client_id=person.id,
            urgency=Urgency.EMERGENCY,
            needs=[
                {
                    "category": "emergency_shelter",
                    "service_ids": [shelter.id],
                    "data_categories": [],
                }
            ],
        )
        referral = db.session.scalars(select(Referral).where(Referral.bundle_id == bundle.id)).one()
    (mail, *_) = sent = _mails(app, run_jobs, before)
    assert len(sent) == 2  # the two provider accounts of the receiving agency
    assert mail["Subject"] == "Emergency referral: acknowledge it in the referral hub"
    body = mail.get_payload(decode=True).decode()
    due = referral.acknowledge_by.strftime("%H:%M on %d %b")
    assert f"Emergency referral: acknowledge it by {due} (UTC)." in body
    assert f"/provider/referrals/{referral.id}" in body
    assert "Secretname" not in body
    assert person.reference not in body
    # the answer goes back to the sender's page for that referral
    with transaction():
        factories.user(sender, ["intake"])
        before = set(db.session.scalars(select(OutboxMessage.id)))
        referrals.transition(provider, referral.id, "request-info", question="Her shoe size?")
    back = _mails(app, run_jobs, before)
    assert back, "the sender was not told"
    assert {m["Subject"] for m in back} == {
        "Emergency referral: answer their question in the referral hub"
    }
    body = back[0].get_payload(decode=True).decode()
    assert f"/intake/bundles/{bundle.id}/referrals/{referral.id}" in body
    assert "shoe" not in body


def test_each_link_pattern_is_a_real_page(app: Flask) -> None:
    adapter = app.url_map.bind("hub.example")
    ids = {"referral": uuid.uuid4(), "bundle": uuid.uuid4()}
    expected = {"receiver": "provider.referral", "sender": "bundles.referral"}
    for side, pattern in notifications.LINKS.items():
        endpoint, _ = adapter.match(pattern.format(**ids))
        assert endpoint == expected[side]


@pytest.mark.parametrize(
    "values",
    [
        {"urgency": "urgent", "what": "decide", "due": "", "path": "/provider/referrals/x"},
        {
            "urgency": "urgent",
            "what": "Rosa",
            "due": "",
            "path": f"/provider/referrals/{uuid.uuid4()}",
        },
        {
            "urgency": "soon",
            "what": "decide",
            "due": "",
            "path": f"/provider/referrals/{uuid.uuid4()}",
        },
        {
            "urgency": "urgent",
            "what": "decide",
            "due": "tonight",
            "path": f"/provider/referrals/{uuid.uuid4()}",
        },
        {
            "urgency": "urgent",
            "what": "decide",
            "due": "",
            "path": f"/provider/referrals/{uuid.uuid4()}",
            "name": "Rosa",
        },
    ],
)
def test_nothing_outside_the_closed_list_gets_into_an_e_mail(
    session: Any, values: dict[str, str]
) -> None:
    refusals = "not a referral page|unknown urgency or action|carries|Invalid isoformat string"
    with pytest.raises(ValueError, match=refusals):
        notifications.send_email("staff@agency.example", "referral_waiting", values)


@pytest.mark.parametrize(
    "values",
    [
        {
            "organisation": "Riverside Refuge\nBcc: someone@else.example",
            "path": f"/intake/outside/{uuid.uuid4()}",
        },
        {"organisation": "Riverside Refuge", "path": "/provider/referrals/x"},
        {"organisation": "Riverside Refuge", "path": f"/o/{uuid.uuid4()}"},
        {"organisation": "", "path": f"/intake/outside/{uuid.uuid4()}"},
        {"organisation": "R" * 201, "path": f"/intake/outside/{uuid.uuid4()}"},
        {
            "organisation": "Riverside Refuge",
            "path": f"/intake/outside/{uuid.uuid4()}",
            "reference": "DEMO-001",
        },
    ],
)
def test_the_outside_notice_carries_one_line_of_name_and_its_page_only(
    session: Any, values: dict[str, str]
) -> None:
    refusals = "one line of text|not an outside referral's page|carries"
    with pytest.raises(ValueError, match=refusals):
        notifications.send_email("staff@agency.example", "outside_no_answer", values)
    fine = {"organisation": "Riverside Refuge", "path": f"/intake/outside/{uuid.uuid4()}"}
    assert notifications.send_email("staff@agency.example", "outside_no_answer", fine)
