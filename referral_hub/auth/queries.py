"""The administration reads: an agency and a staff member, for those who administer them
(the writes are `auth.admin`).

Same tenancy as `auth.admin`: hub administrators see every agency, agency administrators
their own; anyone else's agency or staff member looks missing (404, on the record).
"""

from __future__ import annotations

import uuid

from referral_hub.agencies.models import Agency, User
from referral_hub.agencies.service import get_agency
from referral_hub.auth.service import may_administer
from referral_hub.core.actor import Actor
from referral_hub.core.errors import NotFound
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db


def administered_agency(actor: Actor, agency_id: uuid.UUID) -> Agency:
    """The agency, if this actor administers it."""
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    return agency


def get_user(actor: Actor, user_id: uuid.UUID) -> User:
    """One staff member of an agency this actor administers."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    try:
        may_administer(actor, user.agency)
    except NotFound:
        raise foreign("user_account", user.id) from None
    return user
