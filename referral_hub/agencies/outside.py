"""Organisations not on the hub that an agency refers to: kept per agency, named in consents.

Their phone and e-mail are theirs, not hers, so they are stored as given; still, they are
contact details of someone else's staff, and never go into audit details, logs or webhooks
(the organisation's id stands for it there)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select

from referral_hub.agencies.models import OutsideOrganisation
from referral_hub.audit import service as audit
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import NotFound, ValidationFailed
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db


def add_organisation(
    actor: Actor, *, name: str, phone: str | None = None, email: str | None = None
) -> OutsideOrganisation:
    """Record an outside organisation for the actor's agency (name required, plus a way to
    reach it: a phone or an e-mail)."""
    name = (name or "").strip()
    phone = (phone or "").strip() or None
    email = (email or "").strip() or None
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Required."]
    if phone is None and email is None:
        errors["phone"] = ["A phone number or an e-mail address, to reach them."]
    if email is not None and "@" not in email:
        errors["email"] = ["Not an e-mail address."]
    if errors:
        raise ValidationFailed("The organisation was not recorded.", errors=errors)
    organisation = OutsideOrganisation(
        id=uuid.uuid4(),
        owner_agency_id=actor.agency_id,
        name=name,
        phone=phone,
        email=email,
        created_by=actor.id,
    )
    db.session.add(organisation)
    db.session.flush()  # its created_at, for the answer
    audit.record(actor, "outside_organisation.recorded", organisation)
    return organisation


def list_organisations(actor: Actor) -> list[OutsideOrganisation]:
    """The actor's agency's outside organisations, by name."""
    return list(
        db.session.scalars(
            select(OutsideOrganisation)
            .where(OutsideOrganisation.owner_agency_id == actor.agency_id)
            .order_by(OutsideOrganisation.name, OutsideOrganisation.id)
        )
    )


def get_organisation(actor: Actor, organisation_id: uuid.UUID) -> OutsideOrganisation:
    """The actor's agency's own outside organisation; another agency's looks missing."""
    organisation = db.session.get(OutsideOrganisation, organisation_id)
    if organisation is None:
        raise NotFound()
    if actor.kind != ActorKind.SYSTEM and organisation.owner_agency_id != actor.agency_id:
        raise foreign("outside_organisation", organisation.id)
    return organisation


def owned_by(
    agency_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, OutsideOrganisation]:
    """Those of `ids` that are `agency_id`'s outside organisations (consents name only these)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = db.session.scalars(
        select(OutsideOrganisation).where(
            OutsideOrganisation.id.in_(wanted), OutsideOrganisation.owner_agency_id == agency_id
        )
    )
    return {row.id: row for row in rows}


def describe(organisation: OutsideOrganisation) -> dict[str, object]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "phone": organisation.phone,
        "email": organisation.email,
        "created_at": organisation.created_at,
    }
