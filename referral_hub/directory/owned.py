"""An agency's own services, every status, for the people who administer that agency.

The directory (`service.list_services`) shows what is listed to everyone; this is the
administrator's view: inactive and closed services too, another agency's look missing.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from referral_hub.agencies.service import get_agency
from referral_hub.auth.service import may_administer
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.core.tenancy import foreign
from referral_hub.directory.models import Service
from referral_hub.extensions import db

LIMIT = 200


def agency_services(actor: Actor, agency_id: uuid.UUID, *, limit: int = LIMIT) -> list[Service]:
    """The agency's services in name order (capacity loaded with them), at most `limit`."""
    may_administer(actor, get_agency(actor, agency_id))
    statement = (
        select(Service)
        .options(joinedload(Service.capacity), joinedload(Service.agency))
        .where(Service.agency_id == agency_id)
        .order_by(Service.name, Service.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement).unique())


def owned_service(actor: Actor, service_id: uuid.UUID) -> Service:
    """One service of an agency this actor administers."""
    service = db.session.scalar(
        select(Service)
        .options(joinedload(Service.capacity), joinedload(Service.agency))
        .where(Service.id == service_id)
    )
    if service is None:
        raise NotFound()
    try:
        may_administer(actor, service.agency)
    except NotFound:
        raise foreign("service", service.id) from None
    return service
