"""The receiving agency's side of its referrals: the inbox in order of what is due first, and
one referral as its receiver may see it now. The receiver's answers are the services' own
(`referrals.service.transition`, `extend_hold`, `assignment.assign`,
`conversation.post_message`): the pages call them directly.

The inbox is one bounded query (the service and sender names joined in, no per-row reads)
scoped to the actor's own agency. The detail reads her data through the audited consent
service, so each look is on the audit trail; `disclose=False` gives the same page facts
without any survivor data (for a refused form, whose transaction is rolled back — and with
it any record of a look).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import aliased

from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import Agency, User
from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.consent import service as consent
from referral_hub.core import clock, envelope
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.directory import search as finder
from referral_hub.directory import service as directory
from referral_hub.directory.models import Service
from referral_hub.extensions import db
from referral_hub.referrals import assignment, conversation, messages, priority, states
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import DEADLINES
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import Side, State

INBOX_LIMIT = 100
SUGGESTION_LIMIT = 50
# what the receiver may do, in the order a worker meets them
RECEIVER_ACTIONS = tuple(
    action
    for action in (
        "acknowledge",
        "request-info",
        "waitlist",
        "accept",
        "decline",
        "confirm-arrival",
        "complete",
        "end-unfinished",
    )
    if any(t.action == action and t.side == Side.RECEIVER for t in states.TRANSITIONS.values())
)

# what a row of the inbox carries (narrow: no sealed note, no JSON lists)
INBOX_COLUMNS = (
    "id",
    "status",
    "urgency",
    "client_reference",
    "acknowledge_by",
    "respond_by",
    "arrive_by",
    "created_at",
    "closed_at",
)


@dataclass(frozen=True, slots=True)
class Deadline:
    """What the receiver must do next (`acknowledge`, `decide`, `arrive`) and by when."""

    what: str
    at: datetime


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One referral in the receiver's inbox: no sealed note, no survivor data."""

    id: uuid.UUID
    status: str
    urgency: str
    client_reference: str
    acknowledge_by: datetime | None
    respond_by: datetime | None
    arrive_by: datetime | None
    created_at: datetime
    closed_at: datetime | None
    service_name: str
    service_category: str
    sender_name: str
    assignee_name: str | None
    deadline: Deadline | None
    open: bool


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    id: uuid.UUID
    name: str
    category: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class OtherService:
    """A service of the same category the receiver may suggest when it declines."""

    id: uuid.UUID
    name: str
    agency_name: str


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the referral's timeline, with the acting agency's name (ids and coded
    details only: the chain never held survivor data)."""

    seq: int
    at: datetime
    action: str
    actor_type: str
    agency: uuid.UUID | None
    agency_name: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClientView:
    """What the consent policy lets the receiver read of her now."""

    categories: list[str]
    profile: dict[str, Any]
    pii: dict[str, Any]
    accepted_stage: bool


@dataclass(frozen=True, slots=True)
class ReceivedReferral:
    """Everything the receiver's referral page shows. `referral` is the API's description of
    it (`referrals.service.describe`); `client`, `note` and `messages` are filled only when
    the read disclosed them (each read audited)."""

    referral: dict[str, Any]
    service: ServiceFacts
    sender_name: str
    receiver_name: str
    deadline: Deadline | None
    open: bool
    actions: list[str]
    timeline: list[Event]
    suggestions: list[OtherService]
    disclosed: bool
    access_ended: bool
    client: ClientView | None
    note: str | None
    messages: list[dict[str, Any]]
    agency_names: dict[uuid.UUID, str]
    assignee_name: str | None
    colleagues: list[dict[str, Any]]
    caseworker_names: dict[str, str]
    assignable: bool


def next_deadline(referral: Any) -> Deadline | None:
    """What is due next on this referral for its receiver, and when (None: nothing timed)."""
    due = DEADLINES.get(referral.status)
    if due is None:
        return None
    when = getattr(referral, due[1])
    return Deadline(what=due[0], at=when) if when is not None else None


def _deadline_column() -> Any:
    return case(
        *(
            (Referral.status == state, getattr(Referral, column))
            for state, (_, column) in DEADLINES.items()
        ),
        else_=None,
    )


def actions_for(state: State) -> list[str]:
    """The receiver's actions the transition table allows from `state`."""
    return [
        action
        for action in RECEIVER_ACTIONS
        if (move := states.find(state, action)) is not None and move.side == Side.RECEIVER
    ]


def received(
    actor: Actor,
    *,
    status: str | None = None,
    urgency: str | None = None,
    assignee: str | None = None,
    limit: int = INBOX_LIMIT,
) -> list[InboxRow]:
    """Referrals sent to the actor's agency: open ones first, urgent first (`priority`:
    overdue emergencies, overdue, due soonest, untimed), then ended ones, most recently
    ended first. Drafts are the sender's own. `assignee` (`me`, a user id, `none`) keeps
    those whose caseworker here is that person, or nobody yet."""
    if actor.agency_id is None:
        return []
    owner = referrals.assignee_filter(actor, assignee)
    caseworker = aliased(User)
    is_open = Referral.status.in_([state.value for state in states.OPEN])
    deadline = _deadline_column()
    statement = (
        select(
            *(getattr(Referral, column) for column in INBOX_COLUMNS),
            Service.name.label("service_name"),
            Service.category.label("service_category"),
            Agency.name.label("sender_name"),
            caseworker.display_name.label("assignee_name"),
        )
        .join(Service, Service.id == Referral.service_id)
        .join(Agency, Agency.id == Referral.sender_agency_id)
        .outerjoin(caseworker, caseworker.id == Referral.receiver_assignee_id)
        .where(Referral.receiver_agency_id == actor.agency_id, Referral.status != State.DRAFT)
        .order_by(
            case((is_open, 0), else_=1),
            # open ones urgent first (the one rule); ended ones by when they ended
            *(
                case((is_open, term), else_=None)
                for term in priority.sql_order(Referral.urgency, deadline, clock.now())
            ),
            Referral.closed_at.desc(),
            Referral.created_at,
            Referral.id,
        )
        .limit(min(limit, INBOX_LIMIT))
    )
    if status:
        statement = statement.where(Referral.status == status)
    if urgency:
        statement = statement.where(Referral.urgency == urgency)
    if owner is not None:
        statement = statement.where(owner(Referral.receiver_assignee_id))
    return [
        InboxRow(
            **row._asdict()
            | {
                "status": row.status.value,
                "urgency": row.urgency.value,
                "service_category": row.service_category.value,
                "deadline": next_deadline(row),
                "open": row.status in states.OPEN,
            }
        )
        for row in db.session.execute(statement)
    ]


# --- one referral ---------------------------------------------------------------------------


def _own_received(actor: Actor, referral_id: uuid.UUID) -> Referral:
    """A referral this actor's agency received and that was sent; anything else looks missing."""
    referral = referrals.get_referral(actor, referral_id)
    if referral.receiver_agency_id != actor.agency_id or referral.status == State.DRAFT:
        raise NotFound()
    return referral


def received_referral(
    actor: Actor, referral_id: uuid.UUID, *, disclose: bool = True
) -> ReceivedReferral:
    """Everything the receiver's page shows. With `disclose`, her data as the consent
    policy allows it now, the sender's note and the messages — each read audited."""
    referral = _own_received(actor, referral_id)
    service = directory.get_service(actor, referral.service_id)
    sender = agencies.get_agency(actor, referral.sender_agency_id)
    names = {
        referral.sender_agency_id: sender.name,
        referral.receiver_agency_id: service.agency.name,
    }
    suggestions, _ = finder.list_services(
        actor,
        finder.SearchQuery(categories=(service.category,)),
        agency_id=None,
        limit=SUGGESTION_LIMIT,
        cursor=None,
    )
    colleagues = assignment.colleagues(actor, "receiver")
    view = ReceivedReferral(
        referral=referrals.describe(referral),
        service=ServiceFacts(
            id=service.id,
            name=service.name,
            category=service.category.value,
            unit=service.capacity.unit.value if service.capacity else None,
        ),
        sender_name=sender.name,
        receiver_name=service.agency.name,
        deadline=next_deadline(referral),
        open=referral.status in states.OPEN,
        actions=actions_for(referral.status),
        timeline=[
            Event(
                seq=entry["seq"],
                at=entry["at"],
                action=entry["action"],
                actor_type=entry["actor_type"],
                agency=entry["agency"],
                agency_name=names.get(entry["agency"]),
                details=entry["details"] or {},
            )
            for entry in conversation.timeline(actor, referral.id)
        ],
        suggestions=[
            OtherService(id=other.id, name=other.name, agency_name=other.agency.name)
            for other in suggestions
            if other.id != service.id
        ],
        disclosed=disclose,
        access_ended=False,
        client=None,
        note=None,
        messages=[],
        agency_names=names,
        assignee_name=assignment.name_of(referral.receiver_assignee_id),
        colleagues=colleagues,
        caseworker_names={str(c["id"]): c["name"] for c in colleagues},
        assignable=referral.status not in states.TERMINAL
        and referral.status not in (State.DRAFT, State.SENT),
    )
    if not disclose:
        return view
    if not messages.is_open_to(actor, referral):
        return replace(view, access_ended=True)  # her data, the note, the messages: closed
    return replace(
        view,
        client=_client_view(actor, referral),
        note=_read_note(actor, referral),
        messages=conversation.list_messages(actor, referral.id),
    )


def _client_view(actor: Actor, referral: Referral) -> ClientView | None:
    """What the consent policy lets this agency read of her now (None: nothing)."""
    if referral.status in states.TERMINAL:
        return None  # the receiver's window closed with the referral
    try:
        shown = consent.disclose_client(actor, referral.client_id, str(referral.id))
    except NotFound:
        return None  # e.g. a law-enforcement receiver without her opt-in
    return ClientView(
        categories=sorted(shown.categories),
        profile=shown.profile,
        pii=shown.pii,
        accepted_stage=referral.status in states.ACCEPTED_STAGE,
    )


def _read_note(actor: Actor, referral: Referral) -> str | None:
    """The sender's note, sealed under her key like her data: the read is recorded."""
    if referral.note is None:
        return None
    key = clients.data_key(referral.client_id)
    if key is None:
        return None  # her data was erased: the note with it
    text = envelope.open_sealed(key, referral.note, f"referral.note:{referral.id}").decode()
    audit.record(actor, "referral.note_read", referral, client_reference=referral.client_reference)
    return text
