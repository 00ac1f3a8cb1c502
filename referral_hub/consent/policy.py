"""Who may read or be sent which categories of a survivor's data. Pure: no database.

The rules (domain: consent): the owning agency reads everything it recorded. Anyone else
reads only through a referral, and then:
  - before acceptance: `profile` (non-identifying) only;
  - from acceptance until the referral ends: `profile` plus the categories of an *active*
    consent that names the reader's agency — active means signed, not revoked, and now is
    before `expires_at` (at `expires_at` exactly it is expired);
  - a law-enforcement agency gets nothing beyond what a consent with the
    `law_enforcement_contact` purpose allows, and no profile without one.
Sending follows the same consent: `profile` alone needs none; every other category needs
an active consent naming the receiver, covering the service's purpose and the category.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

PROFILE = "profile"
CATEGORIES = ("profile", "identity", "contact", "narrative", "immigration", "health", "justice")
PII_CATEGORIES = frozenset(CATEGORIES) - {PROFILE}
LAW_ENFORCEMENT_PURPOSE = "law_enforcement_contact"


class Stage(StrEnum):
    """Where the reader's referral stands (as far as access is concerned)."""

    NONE = "none"  # no referral to this reader
    OFFERED = "offered"  # sent, acknowledged, info requested, waitlisted
    ACCEPTED = "accepted"  # accepted or engaged
    ENDED = "ended"  # any terminal state


@dataclass(frozen=True)
class ConsentFacts:
    recipients: frozenset[uuid.UUID]
    purposes: frozenset[str]
    categories: frozenset[str]
    signed_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Reader:
    agency_id: uuid.UUID
    is_owner: bool = False
    is_law_enforcement: bool = False


def is_active(consent: ConsentFacts | None, now: datetime) -> bool:
    return (
        consent is not None
        and consent.revoked_at is None
        and consent.signed_at <= now < consent.expires_at
    )


def readable(
    consent: ConsentFacts | None, reader: Reader, stage: Stage, now: datetime
) -> frozenset[str]:
    """Categories `reader` may read now."""
    if reader.is_owner:
        return frozenset(CATEGORIES)
    if stage in (Stage.NONE, Stage.ENDED):
        return frozenset()
    covered = (
        is_active(consent, now) and consent is not None and reader.agency_id in consent.recipients
    )
    if reader.is_law_enforcement and not (covered and LAW_ENFORCEMENT_PURPOSE in consent.purposes):  # type: ignore[union-attr]
        return frozenset()
    if stage == Stage.OFFERED or not covered or consent is None:
        return frozenset({PROFILE})
    return frozenset({PROFILE}) | (consent.categories & PII_CATEGORIES)


def sendable(
    consent: ConsentFacts | None,
    receiver: Reader,
    purpose: str,
    categories: frozenset[str],
    now: datetime,
) -> frozenset[str]:
    """The categories in `categories` that may go to `receiver` for `purpose` now."""
    wanted = categories & frozenset(CATEGORIES)
    covered = (
        is_active(consent, now)
        and consent is not None
        and receiver.agency_id in consent.recipients
        and purpose in consent.purposes
        and (not receiver.is_law_enforcement or LAW_ENFORCEMENT_PURPOSE in consent.purposes)
    )
    if not covered or consent is None:
        if receiver.is_law_enforcement:
            return frozenset()
        return wanted & {PROFILE}
    return wanted & (consent.categories | {PROFILE})
