"""Agencies and users: create, find, list. Every change is audited in its transaction."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable

from argon2 import PasswordHasher
from flask import current_app
from sqlalchemy import func, select

from referral_hub.agencies.models import (
    Agency,
    AgencyKind,
    AgencyStatus,
    Participation,
    Role,
    User,
)
from referral_hub.audit import service as audit
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from referral_hub.core.pagination import paginate
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db
from referral_hub.notifications.service import send_email


@functools.cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def password_hasher() -> PasswordHasher:
    """argon2id with the configured cost; hashes made with other costs are redone at sign-in."""
    config = current_app.config
    return _hasher(config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"])


PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024  # what the forms read; argon2 hashes any length


def check_new_password(password: str) -> None:
    """The rules every new password meets, whoever sets it: an administrator, or its owner
    through an e-mailed reset link. Raises ValidationFailed naming `password`."""
    if len(password) < PASSWORD_MIN_LENGTH:
        problem = f"At least {PASSWORD_MIN_LENGTH} characters."
    elif len(password) > PASSWORD_MAX_LENGTH:
        problem = f"At most {PASSWORD_MAX_LENGTH} characters."
    elif "\x00" in password:  # the sign-in form refuses it, so it could never be used
        problem = "A password cannot hold a NUL character."
    else:
        return
    raise ValidationFailed(errors={"password": [problem]})


def create_agency(
    actor: Actor,
    *,
    name: str,
    kind: AgencyKind,
    is_victim_service_provider: bool = False,
    city: str | None = None,
    region: str | None = None,
) -> Agency:
    name = name.strip()
    # lower() on both sides in the database: Python's lower() also folds non-ASCII letters,
    # which the database's may not, and a name that then slipped past this check hit the
    # unique constraint (a 500)
    if db.session.scalar(select(Agency.id).where(func.lower(Agency.name) == func.lower(name))):
        raise Conflict("An agency with this name exists.", errors={"name": ["Already taken."]})
    agency = Agency(
        name=name,
        kind=kind,
        is_victim_service_provider=is_victim_service_provider,
        city=city,
        region=region,
    )
    db.session.add(agency)
    db.session.flush()
    audit.record(
        actor,
        "agency.created",
        agency,
        details={"kind": kind.value, "is_victim_service_provider": is_victim_service_provider},
    )
    return agency


def get_agency(actor: Actor, agency_id: uuid.UUID) -> Agency:
    """Agencies are the directory: every signed-in actor may see every agency."""
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise NotFound()
    return agency


def set_participation(actor: Actor, agency_id: uuid.UUID, participation: Participation) -> Agency:
    """Receive referrals, or publish counts only: the agency's own administrators (or its
    systems with `admin`) and hub administrators decide. Referrals already sent to it run
    their course; only new ones are refused (referrals.service.send_referral)."""
    agency = get_agency(actor, agency_id)
    if not actor.is_hub_wide:
        if actor.agency_id != agency.id:  # a directory entry: no secret, but not theirs
            raise Forbidden("Administrators change their own agency only.")
        system = actor.kind == ActorKind.CLIENT and "admin" in actor.scopes
        if not (actor.has_role("agency_admin") or system):
            raise Forbidden("Only the agency's administrators decide how it takes part.")
    if agency.participation == participation:
        return agency
    previous = agency.participation
    agency.participation = participation
    db.session.flush()
    audit.record(
        actor,
        "agency.participation_changed",
        agency,
        details={"from": previous.value, "to": participation.value},
    )
    return agency


def agency_names(ids: Iterable[uuid.UUID | str] | None = None) -> dict[str, str]:
    """Agencies' names by id as text (how pages and events hold ids); every agency's when
    `ids` is None (the directory: a few hundred rows at most). Names are no secret."""
    statement = select(Agency.id, Agency.name)
    if ids is not None:
        wanted = sorted(
            {value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)) for value in ids}
        )
        if not wanted:
            return {}
        statement = statement.where(Agency.id.in_(wanted))
    return {str(row.id): row.name for row in db.session.execute(statement)}


def find_agency_by_name(name: str) -> Agency | None:
    return db.session.scalar(
        select(Agency).where(func.lower(Agency.name) == func.lower(name.strip()))
    )


def list_agencies(
    actor: Actor, *, limit: int, cursor: str | None, status: AgencyStatus | None = None
) -> tuple[list[Agency], str | None]:
    statement = select(Agency)
    if status is not None:
        statement = statement.where(Agency.status == status)
    return paginate(statement, [Agency.name, Agency.id], limit, cursor, [str, uuid.UUID])


def create_user(
    actor: Actor,
    *,
    agency_id: uuid.UUID,
    email: str,
    display_name: str,
    roles: Iterable[str],
    password: str | None = None,
    notify: bool = True,
) -> User:
    agency = get_agency(actor, agency_id)
    if not actor.is_hub_wide and actor.agency_id != agency.id:
        raise foreign("agency", agency.id)  # another agency's staff: as if missing
    roles = sorted(set(roles))
    hub_wide = {"hub_admin", "coordinator"} & set(roles)  # they see across agencies
    if hub_wide and not actor.is_hub_wide:
        raise Forbidden("Only a hub administrator may grant hub_admin or coordinator.")
    unknown = [role for role in roles if role not in {r.value for r in Role}]
    if unknown:
        raise ValidationFailed(errors={"roles": [f"Unknown role: {', '.join(unknown)}."]})
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("A user with this e-mail exists.", errors={"email": ["Already taken."]})
    user = User(
        agency_id=agency.id,
        email=email,
        display_name=display_name.strip(),
        roles=roles,
        password_hash=password_hasher().hash(password) if password else None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", user, fields=["roles"], details={"roles": roles})
    if notify:
        send_email(user.email, "account_created")
    return user


def who(actor: Actor) -> tuple[str, str]:
    """A signed-in person's display name and agency name, for the page footer."""
    if actor.id is None or actor.kind != "user":
        return ("", "")
    row = db.session.execute(
        select(User.display_name, Agency.name)
        .join(Agency, Agency.id == User.agency_id)
        .where(User.id == uuid.UUID(actor.id))
    ).first()
    return (row[0], row[1]) if row else ("", "")


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def email_staff(
    agency_id: uuid.UUID | None,
    roles: set[str],
    template: str,
    values: dict[str, str] | None = None,
) -> int:
    """Queue a fixed-text e-mail to the active staff holding any of `roles` (in one agency,
    or hub-wide when `agency_id` is None, as for coordinators). Returns how many."""
    statement = select(User.email, User.roles).where(User.is_active.is_(True))
    if agency_id is not None:
        statement = statement.where(User.agency_id == agency_id)
    count = 0
    for email, held in db.session.execute(statement):
        if roles & set(held):
            send_email(email, template, values)
            count += 1
    return count
