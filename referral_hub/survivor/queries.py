"""What her door shows her: who holds her data, what each can read and did, her consents.

What an agency "can read now" is asked of the consent policy through the same call every
other door uses (`consent.service.receiver_reads`), so her page cannot disagree with what
the agency is actually served. Each look is recorded on the chain as her own
(`survivor.viewed_holders`), with no staff id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from referral_hub.agencies.service import agency_names
from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import policy
from referral_hub.consent import service as consent
from referral_hub.consent.models import Consent
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.extensions import db
from referral_hub.referrals import states
from referral_hub.referrals.models import Referral
from referral_hub.survivor.models import ErasureRequest

# what an agency did with her data, from the disclosure accounting (the audit chain)
DID = {"referral.sent": "received", "client.pii_viewed": "viewed", "referral.accepted": "accepted"}


@dataclass(frozen=True)
class Holder:
    agency_id: uuid.UUID
    name: str
    is_owner: bool  # her own agency: holds what she told it, until she is erased
    reads_now: frozenset[str]  # data categories beyond `profile`
    basic_facts: bool  # reads her non-identifying needs (profile) now
    until: datetime | None  # the latest end of the consents that still name it
    did: dict[str, datetime] = field(default_factory=dict)  # "received" → last time
    withdrawable: bool = False  # an active consent still names it


@dataclass(frozen=True)
class ConsentView:
    id: uuid.UUID
    agencies: list[str]
    categories: list[str]
    purposes: list[str]
    until: datetime


@dataclass(frozen=True)
class HerPage:
    reference: str
    holders: list[Holder]
    consents: list[ConsentView]
    open_referrals: int
    erasure_requested_at: datetime | None
    contact: dict[str, object]


def her_page(actor: Actor) -> HerPage:
    """Everything `/me` shows, in one read recorded as hers."""
    if actor.client_id is None:  # only she has a page of her own
        raise NotFound()
    client = clients.load_owned(actor, actor.client_id)
    active = [record for record in consent.active_consents(client.id) if record.covered_recipients]
    holders = _holders(client, active)
    names = agency_names(a for record in active for a in record.covered_recipients)
    consents = [
        ConsentView(
            id=record.id,
            agencies=[names.get(a, "") for a in record.covered_recipients],
            categories=[c for c in record.data_categories if c != policy.PROFILE],
            purposes=list(record.purposes),
            until=record.expires_at,
        )
        for record in active
    ]
    audit.record(
        actor,
        "survivor.viewed_holders",
        client,
        client_reference=client.reference,
        details={"agencies": len(holders)},
    )
    return HerPage(
        reference=client.reference,
        holders=holders,
        consents=consents,
        open_referrals=open_referrals(client.id),
        erasure_requested_at=_open_request(client.id),
        contact=_contact(client),
    )


def _holders(client: Client, active: list[Consent]) -> list[Holder]:
    granted = set(
        db.session.scalars(
            select(Referral.receiver_agency_id).where(Referral.client_id == client.id)
        )
    )
    named = {uuid.UUID(a) for record in active for a in record.covered_recipients}
    names = agency_names(granted | named | {client.owner_agency_id})
    did = _did(client)
    holders = [
        Holder(
            agency_id=client.owner_agency_id,
            name=names.get(str(client.owner_agency_id), ""),
            is_owner=True,
            reads_now=clients.present_categories(client),
            basic_facts=True,
            until=None,
        )
    ]
    for agency_id in sorted(granted | named, key=lambda a: names.get(str(a), "")):
        if agency_id == client.owner_agency_id:
            continue
        reads_now, _later = consent.receiver_reads(agency_id, client.id)
        ends = [r.expires_at for r in active if str(agency_id) in r.covered_recipients]
        holders.append(
            Holder(
                agency_id=agency_id,
                name=names.get(str(agency_id), ""),
                is_owner=False,
                reads_now=reads_now - {policy.PROFILE},
                basic_facts=policy.PROFILE in reads_now,
                until=max(ends) if ends else None,
                did=did.get(agency_id, {}),
                withdrawable=bool(ends),
            )
        )
    return holders


def _did(client: Client) -> dict[uuid.UUID, dict[str, datetime]]:
    """Per agency, the last time it received, viewed or accepted her data."""
    receivers = dict(
        db.session.execute(
            select(Referral.id, Referral.receiver_agency_id).where(Referral.client_id == client.id)
        ).all()
    )
    by_id = {str(referral_id): agency for referral_id, agency in receivers.items()}
    done: dict[uuid.UUID, dict[str, datetime]] = {}
    for event in db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.client_reference == client.reference, AuditEvent.action.in_(DID))
        .order_by(AuditEvent.seq)
    ):
        if event.action == "referral.sent":
            agency = by_id.get(event.subject_id or "")
        else:
            agency = event.actor_agency_id
        if agency is not None and agency != client.owner_agency_id:
            done.setdefault(agency, {})[DID[event.action]] = event.at
    return done


def open_referrals(client_id: uuid.UUID) -> int:
    rows = db.session.scalars(
        select(Referral.id).where(
            Referral.client_id == client_id,
            Referral.status.in_([state.value for state in states.OPEN]),
        )
    ).all()
    return len(rows)


def _open_request(client_id: uuid.UUID) -> datetime | None:
    return db.session.scalar(
        select(ErasureRequest.requested_at).where(
            ErasureRequest.client_id == client_id, ErasureRequest.closed_at.is_(None)
        )
    )


def _contact(client: Client) -> dict[str, object]:
    """Only whether she set a way to be reached: her page never shows it back (whoever
    holds her phone would read it)."""
    if client.contact is None:
        return {"set": False, "do_not_contact": False}
    values = clients.unseal(client, {"contact"})
    return {
        "set": "contact_preference" in values,
        "do_not_contact": bool(values.get("do_not_contact")),
    }


@dataclass(frozen=True)
class PendingErasure:
    id: uuid.UUID
    reference: str
    requested_at: datetime
    due_at: datetime
    open_referrals: int


def pending_erasures(actor: Actor) -> list[PendingErasure]:
    """Her agency's dashboard: erasures she asked for that it has not yet confirmed."""
    rows = db.session.execute(
        select(ErasureRequest, Client.reference)
        .join(Client, Client.id == ErasureRequest.client_id)
        .where(
            ErasureRequest.owner_agency_id == actor.agency_id,
            ErasureRequest.closed_at.is_(None),
            Client.erased_at.is_(None),  # erased meanwhile by another door: nothing to confirm
        )
        .order_by(ErasureRequest.due_at)
    ).all()
    return [
        PendingErasure(
            request.id,
            reference,
            request.requested_at,
            request.due_at,
            open_referrals(request.client_id),
        )
        for request, reference in rows
    ]
