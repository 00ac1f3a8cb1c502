"""Disclosure accounting for coordinators: who saw which of her data, by client reference.

`consent.service.disclosures` answers the client's owner by client id. A coordinator
oversees every agency and holds only the reference (the random `C-XXXX-XXXX` a survivor
or her advocate can read out), so this resolves the reference, checks the role, and
reads the same events — `client.pii_viewed`, `referral.sent`, `referral.accepted` on her
reference — with the agencies', people's and consents' names instead of ids. Nothing
here unseals her data: the events never held it. The look itself is recorded
(`client.disclosures_viewed`, on her reference, so it shows on her own trail too).

An unknown reference is NotFound, and nothing is recorded about it: the page says so
without telling a mistyped reference from one that never existed.
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import select

from referral_hub.agencies.models import User
from referral_hub.agencies.service import agency_names
from referral_hub.audit import service as audit
from referral_hub.audit.models import AuditEvent
from referral_hub.audit.schemas import REFERENCE
from referral_hub.clients.models import Client
from referral_hub.consent.models import Consent
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.core.schemas import HubSchema
from referral_hub.extensions import db
from referral_hub.referrals.models import Referral
from referral_hub.reports.queries import may_read_reports

DISCLOSING = ("client.pii_viewed", "referral.sent", "referral.accepted")
LIMIT = 500  # one survivor's trail; more than this is a case for the API's export


class DisclosureLookupArgs(HubSchema):
    reference = fields.String(required=True, validate=[validate.Length(min=4, max=40), REFERENCE])


def disclosure_report(actor: Actor, reference: str) -> dict[str, Any]:
    may_read_reports(actor)
    client = db.session.scalar(select(Client).where(Client.reference == reference.strip()))
    if client is None:
        raise NotFound("No client has this reference.")
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.client_reference == client.reference,
                AuditEvent.action.in_(DISCLOSING),
            )
            .order_by(AuditEvent.seq)
            .limit(LIMIT)
        )
    )
    # a referral's events name its sender as the actor; her data went to its receiver
    referral_ids = set()
    for event in events:
        if event.subject_type == "referral" and event.subject_id:
            try:
                referral_ids.add(uuid.UUID(event.subject_id))
            except ValueError:
                continue
    sent_to = _referrals(referral_ids)
    agency_ids = {e.actor_agency_id for e in events if e.actor_agency_id}
    agency_ids |= {receiver for receiver, _ in sent_to.values()}
    agencies = agency_names(agency_ids)
    users = _user_names({e.actor_id for e in events if e.actor_type == "user" and e.actor_id})
    consents = _consents({e.consent_id for e in events if e.consent_id})
    rows = []
    for event in events:
        actor_agency = agencies.get(str(event.actor_agency_id), "") if event.actor_agency_id else ""
        person = (
            users.get(event.actor_id or "", "")
            if event.actor_type == "user"
            else ("the agency's system" if event.actor_type == "client" else "the hub")
        )
        referral = sent_to.get(event.subject_id or "") if event.subject_type == "referral" else None
        categories = list(event.fields) or (list(referral[1]) if referral else [])
        if event.action == "referral.sent" and referral is not None:
            recipient, recipient_person = agencies.get(str(referral[0]), ""), ""
            sent_by = f"{actor_agency} ({person})" if person else actor_agency
        else:
            recipient, recipient_person, sent_by = actor_agency, person, ""
        rows.append(
            {
                "at": event.at,
                "action": event.action,
                "agency": recipient,
                "person": recipient_person,
                "sent_by": sent_by,
                "data_categories": categories,
                "consent": consents.get(event.consent_id) if event.consent_id else None,
            }
        )
    audit.record(
        actor,
        "client.disclosures_viewed",
        ("client", client.id),
        client_reference=client.reference,
        details={"rows": len(rows)},
    )
    return {
        "reference": client.reference,
        "erased": client.erased_at is not None,
        "rows": rows,
        "capped": len(rows) == LIMIT,
    }


def _referrals(ids: set[uuid.UUID]) -> dict[str, tuple[uuid.UUID, list[str]]]:
    """Referral id (as the audit table writes it) → (receiving agency, data categories)."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(Referral.id, Referral.receiver_agency_id, Referral.data_categories).where(
            Referral.id.in_(ids)
        )
    )
    return {str(row.id): (row.receiver_agency_id, list(row.data_categories)) for row in rows}


def _user_names(ids: set[str]) -> dict[str, str]:
    wanted = set()
    for raw in ids:
        try:
            wanted.add(uuid.UUID(raw))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {str(row.id): row.display_name for row in rows}


def _consents(ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    now = clock.now()
    rows = db.session.scalars(select(Consent).where(Consent.id.in_(ids)))
    return {
        row.id: {
            "signed_at": row.signed_at,
            "expires_at": row.expires_at,
            "method": row.method,
            "status": row.status(now),
        }
        for row in rows
    }
