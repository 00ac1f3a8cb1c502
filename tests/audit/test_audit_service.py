"""Recording events in the caller's transaction; the database refuses rewrites."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent, AuditHead
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from tests import factories


def events_after(session: Any, seq: int) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
    )


def test_record_appends_gapless_events_that_verify(session: Any) -> None:
    start, _ = audit.head()
    with transaction():
        shelter = factories.agency()
        audit.record(SYSTEM, "agency.viewed", shelter, details={"reason": "test"})
    events = events_after(session, start)
    assert [e.seq for e in events] == [start + 1, start + 2]
    assert [e.action for e in events] == ["agency.created", "agency.viewed"]
    assert events[1].prev_hash == events[0].chain_hash
    assert events[0].subject_type == "agency"
    assert events[0].subject_id == str(shelter.id)
    assert audit.head() == (start + 2, events[1].chain_hash)
    assert audit.verify_stored().ok


def test_event_content_and_actor_are_recorded(session: Any, app: Any) -> None:
    person = None
    with transaction():
        shelter = factories.agency()
        person = factories.user(shelter, roles=["provider", "intake"])
        actor = factories.actor_for(person)
        event = audit.record(
            actor, "capacity.updated", ("service", "abc"), fields=["available", "total"]
        )
    stored = session.get(AuditEvent, event.seq)
    document = stored.document()
    assert document["actor"] == {
        "type": "user",
        "id": str(person.id),
        "agency_id": str(shelter.id),
        "roles": ["intake", "provider"],
    }
    assert document["fields"] == ["available", "total"]
    assert document["at"].endswith("Z")


@pytest.mark.parametrize(
    "details",
    [{"name": "Maria"}, {"nested": {"dob": "2001-01-01"}}, {"text": "x" * 500}, {"n": 1.5}],
)
def test_details_that_could_carry_pii_are_refused(session: Any, details: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="audit details"), transaction():
        audit.record(SYSTEM, "client.viewed", details=details)


@pytest.mark.parametrize("action", ["Referral.Accepted", "accepted", "referral.", "a.b c"])
def test_actions_must_be_dotted_lower_case(session: Any, action: str) -> None:
    with pytest.raises(ValueError, match="dotted"):
        audit.record(SYSTEM, action)


def test_a_failed_transaction_leaves_no_event_and_no_gap(session: Any) -> None:
    start, head_hash = audit.head()
    # the raise inside is what rolls the transaction back: the work and it belong together
    with pytest.raises(RuntimeError), transaction():  # noqa: PT012
        factories.agency()
        raise RuntimeError("boom")
    assert audit.head() == (start, head_hash)
    assert events_after(session, start) == []
    with transaction():
        factories.agency()
    assert [e.seq for e in events_after(session, start)] == [start + 1]


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(action="agency.deleted"),
        delete(AuditEvent),
        update(AuditHead).values(seq=0),
        delete(AuditHead),
    ],
    ids=["update-event", "delete-event", "rewind-head", "delete-head"],
)
def test_the_database_refuses_to_rewrite_the_record(session: Any, statement: Any) -> None:
    with transaction():
        factories.agency()
    with pytest.raises(DatabaseError, match=r"append-only|only moves forward"), transaction() as s:
        s.execute(statement)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) >= 1


def test_truncate_is_refused_where_the_database_has_it(session: Any) -> None:
    """PostgreSQL has TRUNCATE (a statement trigger refuses it); SQLite has no such statement."""
    dialect = session.get_bind().dialect.name
    statement = "TRUNCATE audit_event" if dialect == "postgresql" else "DELETE FROM audit_event"
    with transaction():
        factories.agency()
    with pytest.raises(DatabaseError, match="append-only"), transaction() as s:
        s.execute(text(statement))
