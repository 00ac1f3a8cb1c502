"""What she does at her own door: withdraw consent, ask to be erased, say how to reach her.

Each is the same service call staff use (revocation, erasure, her record), acting as her:
`actor.kind = survivor`, no staff id, on the audit chain in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from referral_hub.agencies.service import email_staff
from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor
from referral_hub.core.errors import Conflict, NotFound, ValidationFailed
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db
from referral_hub.survivor import queries
from referral_hub.survivor.models import ErasureRequest

WITHDRAWN_BY_HER = "withdrawn by her at her own page"
CONTACT_MAX = 300


def _her(actor: Actor) -> uuid.UUID:
    if actor.client_id is None:
        raise NotFound()
    return actor.client_id


def withdraw(
    actor: Actor,
    *,
    consent_id: uuid.UUID | None = None,
    agency_id: uuid.UUID | None = None,
    everything: bool = False,
) -> int:
    """One consent, one agency (from every consent that names it), or everything: the
    staff revocation call each time. Returns how many consents changed."""
    client_id = _her(actor)
    if sum((consent_id is not None, agency_id is not None, everything)) != 1:
        raise ValidationFailed(errors={"what": ["Choose one consent, one agency, or everything."]})
    active = consent.active_consents(client_id)
    if consent_id is not None:
        chosen = [record for record in active if record.id == consent_id]
        if not chosen:
            raise NotFound("That permission is no longer active.")
        consent.revoke_consent(actor, consent_id, WITHDRAWN_BY_HER)
        return 1
    if agency_id is not None:
        naming = [r for r in active if str(agency_id) in r.covered_recipients]
        if not naming:
            raise NotFound("No active permission names that agency.")
        for record in naming:
            consent.revoke_consent(actor, record.id, WITHDRAWN_BY_HER, agency_id=agency_id)
        return len(naming)
    for record in active:
        consent.revoke_consent(actor, record.id, WITHDRAWN_BY_HER)
    return len(active)


def erase_now(actor: Actor) -> None:
    """Her erasure at once — only when no referral is open (someone may be helping her now;
    then she asks her agency instead). Her code ends with it."""
    client_id = _her(actor)
    clients.load_owned(actor, client_id, lock=True)
    if queries.open_referrals(client_id):
        raise Conflict(
            "Help is still open for you, so your agency confirms the erasure.",
            errors={"choice": ["Ask your agency to erase your data instead."]},
        )
    consent.erase_client(actor, client_id, "she asked at her own page")
    _close_requests(client_id, actor)


def request_erasure(actor: Actor) -> ErasureRequest:
    """Asked while help is open: her agency confirms before the deadline (or coordinators
    hear it is overdue). Asking twice keeps the first request."""
    client_id = _her(actor)
    client = clients.load_owned(actor, client_id, lock=True)
    existing = db.session.scalar(
        select(ErasureRequest).where(
            ErasureRequest.client_id == client_id, ErasureRequest.closed_at.is_(None)
        )
    )
    if existing is not None:
        return existing
    now = clock.now()
    request = ErasureRequest(
        client_id=client_id,
        owner_agency_id=client.owner_agency_id,
        requested_at=now,
        due_at=now + timedelta(hours=current_app.config["ERASURE_REQUEST_HOURS"]),
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        actor,
        "client.erasure_requested",
        client,
        client_reference=client.reference,
        details={"due_at": request.due_at.isoformat()},
    )
    email_staff(client.owner_agency_id, {"intake", "agency_admin"}, "erasure_requested")
    return request


def confirm_erasure(actor: Actor, request_id: uuid.UUID) -> None:
    """Her agency carries out what she asked: the same erasure as everywhere else."""
    request = db.session.get(ErasureRequest, request_id)
    if request is not None and request.owner_agency_id != actor.agency_id:
        raise foreign("erasure_request", request.id)  # as missing; the attempt on record
    if request is None or request.closed_at is not None:
        raise NotFound()
    clients.load_owned(actor, request.client_id)
    consent.erase_client(actor, request.client_id, "she asked at her own page")
    _close_requests(request.client_id, actor)


def _close_requests(client_id: uuid.UUID, actor: Actor) -> None:
    for request in db.session.scalars(
        select(ErasureRequest).where(
            ErasureRequest.client_id == client_id, ErasureRequest.closed_at.is_(None)
        )
    ):
        request.closed_at, request.closed_by = clock.now(), actor.id or str(actor.kind)


def escalate_overdue_erasures() -> int:
    """Periodic: erasures her agency did not confirm in time go to the coordinators, once."""
    now = clock.now()
    overdue = list(
        db.session.scalars(
            select(ErasureRequest)
            .join(Client, Client.id == ErasureRequest.client_id)
            .where(
                ErasureRequest.closed_at.is_(None),
                ErasureRequest.escalated_at.is_(None),
                ErasureRequest.due_at <= now,
                Client.erased_at.is_(None),  # erased meanwhile (API, CLI, sweep): answered
            )
        )
    )
    for request in overdue:
        request.escalated_at = now
        client = clients.load_client(request.client_id)
        audit.record(
            SYSTEM,
            "client.erasure_overdue",
            client,
            client_reference=client.reference,
            details={"agency": str(request.owner_agency_id)},
        )
        email_staff(None, {"coordinator"}, "erasure_overdue")
        email_staff(request.owner_agency_id, {"intake", "agency_admin"}, "erasure_overdue")
    return len(overdue)


def set_contact_preference(actor: Actor, how: str | None) -> None:
    """How she wants to be reached (None: do not contact me)."""
    if how is not None and not how.strip():
        raise ValidationFailed(errors={"how": ["Say how to reach you, or choose not to be."]})
    if how is not None and "\x00" in how:  # as every other door: no NUL is ever stored
        raise ValidationFailed(errors={"how": ["Contains a NUL character."]})
    if how is not None and len(how.strip()) > CONTACT_MAX:
        raise ValidationFailed(errors={"how": [f"At most {CONTACT_MAX} characters."]})
    clients.set_contact_preference(actor, _her(actor), how.strip() if how else None)
