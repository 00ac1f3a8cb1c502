"""Who hears about a side's referral: its caseworker first, the agency when nobody owns it.

One rule for every notice a side gets — a move by the other party, a deadline coming
close, a consent that ended — so the named caseworker is the one told and her colleagues
are not woken for what she already owns. A caseworker who has left (disabled, moved to
another agency, no longer working that side) owns nothing here: her agency hears instead.
The e-mails are fixed texts (`notifications.mailer`): nothing about her.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from referral_hub.agencies.models import User
from referral_hub.agencies.service import email_staff
from referral_hub.extensions import db
from referral_hub.notifications.service import send_email
from referral_hub.referrals.models import Referral

# who works each side's referrals: who may own it, and who hears when nobody does
SIDE_ROLES = {
    "sender": frozenset({"intake", "agency_admin"}),
    "receiver": frozenset({"provider", "agency_admin"}),
}


def side_agency(referral: Referral, side: str) -> uuid.UUID:
    return referral.sender_agency_id if side == "sender" else referral.receiver_agency_id


def may_own(user: User | None, agency_id: uuid.UUID, side: str) -> bool:
    """An active user of that side's agency, in one of the side's roles."""
    return (
        user is not None
        and user.agency_id == agency_id
        and user.is_active
        and bool(SIDE_ROLES[side] & set(user.roles))
    )


def caseworker(referral: Referral, side: str) -> User | None:
    """The side's named caseworker while she may still own it; None: nobody does."""
    user_id = referral.sender_assignee_id if side == "sender" else referral.receiver_assignee_id
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if may_own(user, side_agency(referral, side), side) else None


def tell(
    pairs: Iterable[tuple[Referral, str]],
    template: str,
    values: dict[str, str] | None = None,
) -> None:
    """The notice to each (referral, side): its caseworker, else its agency's staff of that
    side — each address and each agency once, however many referrals it concerns."""
    people: set[str] = set()
    agencies: set[tuple[uuid.UUID, str]] = set()
    for referral, side in pairs:
        user = caseworker(referral, side)
        if user is not None:
            people.add(user.email)
        else:
            agencies.add((side_agency(referral, side), side))
    for email in sorted(people):
        send_email(email, template, values)
    for agency_id, side in sorted(agencies, key=lambda pair: (str(pair[0]), pair[1])):
        email_staff(agency_id, set(SIDE_ROLES[side]), template, values)
