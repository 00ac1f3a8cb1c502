"""The words agencies are described with: plain enums, importable without the database
(the command line lists them in its help without loading the app)."""

from __future__ import annotations

from enum import StrEnum


class AgencyKind(StrEnum):
    SHELTER = "shelter"
    HOUSING = "housing"
    HEALTH = "health"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"
    LEGAL_AID = "legal_aid"
    IMMIGRATION_LEGAL = "immigration_legal"
    LAW_ENFORCEMENT = "law_enforcement"
    CASE_MANAGEMENT = "case_management"
    HOTLINE = "hotline"
    OTHER = "other"


def is_law_enforcement(kind: AgencyKind | str | None) -> bool:
    """The one test for "this agency is law enforcement": the consent policy treats it apart
    (nothing reaches it without her explicit consent naming it)."""
    return kind is not None and str(kind) == AgencyKind.LAW_ENFORCEMENT.value


class AgencyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Participation(StrEnum):
    """How an agency takes part: it receives referrals through the hub (the default), or it
    publishes its services' capacity only, so workers see its beds and call it instead."""

    RECEIVES_REFERRALS = "receives_referrals"
    COUNTS_ONLY = "counts_only"


def receives_referrals(participation: Participation | str | None) -> bool:
    """The one test for "may this agency be sent a referral": not when it publishes counts
    only (None, an agency not yet loaded with the column, reads as the default)."""
    return participation is None or str(participation) != Participation.COUNTS_ONLY.value
