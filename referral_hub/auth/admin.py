"""Administering who may act: agency status, staff roles, disabling, passwords.

Each change ends the sessions it makes stale (a disabled user, a suspended agency) in
the same transaction, and is audited.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from referral_hub.agencies.models import Agency, AgencyStatus, Participation, Role, User
from referral_hub.agencies.service import (
    check_new_password,
    get_agency,
    password_hasher,
    set_participation,
)
from referral_hub.audit import service as audit
from referral_hub.auth import codes
from referral_hub.auth.models import AccessToken, ApiClient
from referral_hub.auth.oauth import forget_checked_bearers
from referral_hub.auth.service import may_administer
from referral_hub.auth.sessions import end_sessions_of
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from referral_hub.core.pagination import paginate
from referral_hub.core.tenancy import foreign, refused
from referral_hub.extensions import db

# roles that see across agencies (hub administration; oversight of every handoff and the
# whole audit trail): an agency cannot hand them to its own staff
HUB_WIDE_ROLES = frozenset({"hub_admin", "coordinator"})


def _is_hub_admin(actor: Actor) -> bool:
    return actor.is_hub_wide


def grantable_roles(actor: Actor) -> list[str]:
    """The roles this actor may grant or remove (hub-wide ones only by a hub administrator)."""
    return [r.value for r in Role if _is_hub_admin(actor) or r.value not in HUB_WIDE_ROLES]


def may_manage(actor: Actor, user: User) -> bool:
    """Whether this actor may change the account: never one holding a role it cannot grant.

    Setting the password or resetting the second factor of such an account would let an
    agency administrator sign in as a coordinator or hub administrator.
    """
    return set(user.roles) <= set(grantable_roles(actor))


def _load_user(actor: Actor, user_id: uuid.UUID) -> User:
    """A user this actor may administer; anyone else's looks missing, and an account
    holding a role the actor cannot grant is refused (403, on the record)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    if not _is_hub_admin(actor) and not (
        actor.agency_id == user.agency_id
        and (
            actor.has_role("agency_admin")
            or (actor.kind == ActorKind.CLIENT and "admin" in actor.scopes)
        )
    ):
        raise foreign("user_account", user.id)
    if not may_manage(actor, user):
        raise refused(
            "user_account",
            user.id,
            "Only a hub administrator may manage an account holding hub_admin or coordinator.",
        )
    return user


def list_users(
    actor: Actor, agency_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    agency = get_agency(actor, agency_id)
    may_administer(actor, agency)
    statement = select(User).where(User.agency_id == agency.id)
    return paginate(statement, [User.email, User.id], limit, cursor, [str, uuid.UUID])


def update_user(
    actor: Actor,
    user_id: uuid.UUID,
    *,
    roles: list[str] | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
) -> User:
    user = _load_user(actor, user_id)
    if user.id == _actor_user_id(actor) and (
        is_active is False or (roles is not None and set(roles) != set(user.roles))
    ):
        raise Conflict(
            "You cannot disable yourself or change your own roles; ask another administrator."
        )
    if roles is not None:
        roles = sorted(set(roles))
        unknown = [r for r in roles if r not in {role.value for role in Role}]
        if unknown:
            raise ValidationFailed(errors={"roles": [f"Unknown role: {', '.join(unknown)}."]})
        changed = set(roles).symmetric_difference(user.roles)
        if changed & HUB_WIDE_ROLES and not _is_hub_admin(actor):
            raise Forbidden(
                "Only a hub administrator may grant or remove hub_admin or coordinator."
            )
        if roles != sorted(user.roles):
            audit.record(
                actor,
                "user.roles_changed",
                user,
                fields=["roles"],
                details={"before": sorted(user.roles), "after": roles},
            )
            user.roles = roles
            end_sessions_of(user.id)  # new roles take effect at the next sign-in
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        audit.record(actor, "user.enabled" if is_active else "user.disabled", user)
        if not is_active:
            end_sessions_of(user.id)
    if display_name is not None:
        user.display_name = display_name.strip()
        audit.record(actor, "user.updated", user, fields=["display_name"])
    db.session.flush()
    return user


def _actor_user_id(actor: Actor) -> uuid.UUID | None:
    if actor.kind != ActorKind.USER or actor.id is None:
        return None
    return uuid.UUID(actor.id)


def set_password(actor: Actor, user_id: uuid.UUID, password: str) -> User:
    check_new_password(password)
    user = _load_user(actor, user_id)
    user.password_hash = password_hasher().hash(password)
    end_sessions_of(user.id)
    audit.record(actor, "user.password_set", user)
    return user


def reset_totp(actor: Actor, user_id: uuid.UUID) -> User:
    """For a lost phone: the user enrols again at their next sign-in (and gets new
    recovery codes then; the old ones go with the old second factor)."""
    user = _load_user(actor, user_id)
    user.totp_secret = None
    user.totp_last_step = None
    codes.void(user.id)
    end_sessions_of(user.id)
    audit.record(actor, "auth.totp_reset", user)
    return user


def set_agency_status(actor: Actor, agency_id: uuid.UUID, status: AgencyStatus) -> Agency:
    """Suspending refuses the agency's staff and systems on their next request."""
    if not _is_hub_admin(actor):
        raise Forbidden("Only a hub administrator may suspend or reinstate an agency.")
    agency = get_agency(actor, agency_id)
    if agency.status == status:
        return agency
    agency.status = status
    forget_checked_bearers()  # its systems' tokens read afresh, whichever way it went
    if status == AgencyStatus.SUSPENDED:
        for user_id in db.session.scalars(select(User.id).where(User.agency_id == agency.id)):
            end_sessions_of(user_id)
        client_ids = select(ApiClient.id).where(ApiClient.agency_id == agency.id)
        db.session.execute(
            update(AccessToken)
            .where(AccessToken.client_pk.in_(client_ids), AccessToken.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        )
    audit.record(
        actor,
        "agency.suspended" if status == AgencyStatus.SUSPENDED else "agency.reinstated",
        agency,
    )
    db.session.flush()
    return agency


def update_agency(actor: Actor, agency_id: uuid.UUID, **changes: Any) -> Agency:
    status = changes.pop("status", None)
    participation = changes.pop("participation", None)
    agency = get_agency(actor, agency_id)
    if changes:
        if not _is_hub_admin(actor) and actor.agency_id != agency.id:
            raise Forbidden("Administrators change their own agency only.")
        for name, value in changes.items():
            setattr(agency, name, value)
        audit.record(actor, "agency.updated", agency, fields=sorted(changes))
    if participation is not None:
        set_participation(actor, agency_id, Participation(participation))
    if status is not None:
        set_agency_status(actor, agency_id, AgencyStatus(status))
    db.session.flush()
    return agency
