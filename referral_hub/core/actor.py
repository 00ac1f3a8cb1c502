"""Who is acting: a staff user, an agency's machine client, or the hub itself (jobs)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    USER = "user"
    CLIENT = "client"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Actor:
    """Resolved once per request (or job) and passed first to every service function."""

    kind: ActorKind
    id: str | None = None
    agency_id: uuid.UUID | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def key(self) -> str:
        """Stable identity for per-actor stores (idempotency keys, rate limits)."""
        return f"{self.kind}:{self.id or '-'}"


SYSTEM = Actor(ActorKind.SYSTEM, id="hub")
ANONYMOUS = Actor(ActorKind.ANONYMOUS)


def user_actor(user_id: uuid.UUID, agency_id: uuid.UUID, roles: frozenset[str]) -> Actor:
    return Actor(ActorKind.USER, str(user_id), agency_id, roles)
