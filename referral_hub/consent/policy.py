"""Who may read or be sent which categories of a survivor's data. Pure: no database.

One rule, asked at every door (API, staff pages, messages and notes, bundle views, exports,
the survivor's receipt): `readable`. The owning agency reads everything it recorded. Anyone
else reads only through a referral, and only what *that referral shared* (domain: consent,
"minimum necessary" — the consent is the ceiling, the referral is what was shared):
  - no referral, or the referral ended: nothing;
  - a referral sent under a consent reads only while that consent still *covers* the
    reader: active (signed, not revoked, now before `expires_at`; at `expires_at` exactly it
    is expired), naming the reader's agency, its purposes holding the service's category
    (and `law_enforcement_contact` for a law-enforcement reader). Once it no longer covers,
    the reader's access to her data ends at once: nothing, not even `profile`;
  - a referral sent without consent (profile only): `profile`, except to law enforcement,
    which gets nothing without a consent naming it;
  - before acceptance: `profile` only; from acceptance: `profile` plus the referral's
    shared categories that the consent also names.
Messages and the sender's note are survivor data under the same rule: a party other than
the owner reads or writes them only while `readable` gives it something (`may_converse`).

Sending follows the same consent: `profile` alone needs none; every other category needs
an active consent naming the receiver, covering the service's purpose and the category; and
a consent attached to a send must cover the receiver and the purpose (`covers`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

PROFILE = "profile"
CATEGORIES = ("profile", "identity", "contact", "narrative", "immigration", "health", "justice")
PII_CATEGORIES = frozenset(CATEGORIES) - {PROFILE}
LAW_ENFORCEMENT_PURPOSE = "law_enforcement_contact"
NOTHING: frozenset[str] = frozenset()


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


def covers(
    consent: ConsentFacts | None, reader: Reader, purpose: str | None, now: datetime
) -> bool:
    """The consent is active, names the reader's agency and holds the service's purpose (and
    the law-enforcement purpose for a law-enforcement reader)."""
    return (
        consent is not None
        and is_active(consent, now)
        and reader.agency_id in consent.recipients
        and purpose is not None
        and purpose in consent.purposes
        and (not reader.is_law_enforcement or LAW_ENFORCEMENT_PURPOSE in consent.purposes)
    )


def readable(
    consent: ConsentFacts | None,
    reader: Reader,
    stage: Stage,
    now: datetime,
    *,
    shared: Iterable[str],
    purpose: str | None,
) -> frozenset[str]:
    """Categories `reader` may read now through one referral that shared `shared` for a
    service of category `purpose`, sent under `consent` (None: sent without one)."""
    if reader.is_owner:
        return frozenset(CATEGORIES)
    if stage in (Stage.NONE, Stage.ENDED):
        return NOTHING
    if consent is None:
        return NOTHING if reader.is_law_enforcement else frozenset({PROFILE})
    if not covers(consent, reader, purpose, now):
        return NOTHING  # revoked, expired, or never for this agency and purpose: access ends
    if stage == Stage.OFFERED:
        return frozenset({PROFILE})
    return frozenset({PROFILE}) | (frozenset(shared) & consent.categories & PII_CATEGORIES)


def may_converse(categories: frozenset[str]) -> bool:
    """Messages and notes about her open to whoever `readable` gives anything to."""
    return bool(categories)


def sendable(
    consent: ConsentFacts | None,
    receiver: Reader,
    purpose: str,
    categories: frozenset[str],
    now: datetime,
) -> frozenset[str]:
    """The categories in `categories` that may go to `receiver` for `purpose` now."""
    wanted = categories & frozenset(CATEGORIES)
    if not covers(consent, receiver, purpose, now) or consent is None:
        if receiver.is_law_enforcement:
            return frozenset()
        return wanted & {PROFILE}
    return wanted & (consent.categories | {PROFILE})
