"""Plain factory functions: each makes one realistic row through the real services."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from referral_hub.agencies import service
from referral_hub.agencies.models import Agency, AgencyKind, User
from referral_hub.core.actor import SYSTEM, Actor, ActorKind

_counter = itertools.count(1)


def agency(kind: AgencyKind = AgencyKind.SHELTER, **fields: object) -> Agency:
    number = next(_counter)
    return service.create_agency(
        SYSTEM,
        name=str(fields.pop("name", f"Agency {number}")),
        kind=kind,
        **fields,  # type: ignore[arg-type]
    )


def user(of: Agency, roles: Iterable[str] = ("intake",), notify: bool = False) -> User:
    number = next(_counter)
    return service.create_user(
        SYSTEM,
        agency_id=of.id,
        email=f"staff{number}@agency.example",
        display_name=f"Staff {number}",
        roles=roles,
        password="correct horse battery staple",
        notify=notify,
    )


def actor_for(person: User) -> Actor:
    return Actor(ActorKind.USER, str(person.id), person.agency_id, frozenset(person.roles))
