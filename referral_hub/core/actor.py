"""Who is acting: a staff user, an agency's machine client, the hub itself (jobs), or a
survivor at her own door (`/me`), who acts only on her own record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    USER = "user"
    CLIENT = "client"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"
    SURVIVOR = "survivor"
    OUTSIDE = "outside"  # an outside organisation's worker, through one referral's link


@dataclass(frozen=True)
class Actor:
    """Resolved once per request (or job) and passed first to every service function."""

    kind: ActorKind
    id: str | None = None
    agency_id: uuid.UUID | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    # a survivor actor's own client record: the one record she may act on (no staff id)
    client_id: uuid.UUID | None = None

    def speaks_for(self, client_id: uuid.UUID) -> bool:
        """The survivor herself, for her own record."""
        return self.kind == ActorKind.SURVIVOR and self.client_id == client_id

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_hub_wide(self) -> bool:
        """The hub itself (jobs, CLI) or a hub administrator: may act on every agency's
        entries. Coordinators read across agencies but change nothing of theirs."""
        return self.kind == ActorKind.SYSTEM or self.has_role("hub_admin")

    @property
    def key(self) -> str:
        """Stable identity for per-actor stores (idempotency keys, rate limits)."""
        return f"{self.kind}:{self.id or '-'}"


SYSTEM = Actor(ActorKind.SYSTEM, id="hub")
ANONYMOUS = Actor(ActorKind.ANONYMOUS)


def user_actor(user_id: uuid.UUID, agency_id: uuid.UUID, roles: frozenset[str]) -> Actor:
    return Actor(ActorKind.USER, str(user_id), agency_id, roles)


def survivor_actor(client_id: uuid.UUID) -> Actor:
    return Actor(ActorKind.SURVIVOR, client_id=client_id)


def outside_actor(link_id: uuid.UUID) -> Actor:
    """Whoever holds one outside referral's link: no agency, no account, that link alone."""
    return Actor(ActorKind.OUTSIDE, id=f"outside-link:{link_id}")
