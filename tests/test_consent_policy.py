"""The consent policy against a plain reference model, over 10,000+ generated cases with the
expiry boundaries forced in (expires_at - 1 µs allowed; at expires_at denied)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_hub.consent.policy import (
    CATEGORIES,
    LAW_ENFORCEMENT_PURPOSE,
    ConsentFacts,
    Reader,
    Stage,
    readable,
    sendable,
)

AGENCIES = [uuid.UUID(int=n) for n in range(1, 5)]
PURPOSES = ["emergency_shelter", "immigration_counsel", "primary_care", LAW_ENFORCEMENT_PURPOSE]
BASE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def reference_readable(consent, reader, stage, now):  # type: ignore[no-untyped-def]
    """Written as the rules read, case by case, without sharing code with the policy."""
    everything = set(CATEGORIES)
    if reader.is_owner:
        return everything
    if stage == Stage.NONE:
        return set()
    if stage == Stage.ENDED:
        return set()
    active = (
        consent is not None
        and consent.revoked_at is None
        and now >= consent.signed_at
        and now < consent.expires_at
    )
    names_reader = consent is not None and reader.agency_id in consent.recipients
    law_ok = consent is not None and LAW_ENFORCEMENT_PURPOSE in consent.purposes
    if reader.is_law_enforcement and not (active and names_reader and law_ok):
        return set()
    if stage == Stage.OFFERED:
        return {"profile"}
    if active and names_reader:
        return {"profile"} | {c for c in consent.categories if c != "profile"}
    return {"profile"}


def reference_sendable(consent, receiver, purpose, categories, now):  # type: ignore[no-untyped-def]
    result = set()
    for category in categories:
        if category not in CATEGORIES:
            continue
        active = (
            consent is not None
            and consent.revoked_at is None
            and consent.signed_at <= now < consent.expires_at
        )
        ok = (
            active
            and receiver.agency_id in consent.recipients
            and purpose in consent.purposes
            and (not receiver.is_law_enforcement or LAW_ENFORCEMENT_PURPOSE in consent.purposes)
        )
        if (ok and (category == "profile" or category in consent.categories)) or (
            not ok and category == "profile" and not receiver.is_law_enforcement
        ):
            result.add(category)
    return result


consents = st.none() | st.builds(
    ConsentFacts,
    recipients=st.frozensets(st.sampled_from(AGENCIES)),
    purposes=st.frozensets(st.sampled_from(PURPOSES)),
    categories=st.frozensets(st.sampled_from(CATEGORIES)),
    signed_at=st.just(BASE),
    expires_at=st.sampled_from([BASE + timedelta(days=d) for d in (0, 1, 30, 90)]),
    revoked_at=st.none() | st.just(BASE + timedelta(hours=1)),
)
readers = st.builds(
    Reader,
    agency_id=st.sampled_from(AGENCIES),
    is_owner=st.booleans(),
    is_law_enforcement=st.booleans(),
)


@st.composite
def moments(draw, consent):  # type: ignore[no-untyped-def]
    """Around the boundaries that matter, and anywhere else."""
    anchor = consent.expires_at if consent is not None else BASE
    choice = draw(
        st.sampled_from(["just_before", "at", "just_after", "signed", "before_signed", "any"])
    )
    if choice == "just_before":
        return anchor - MICRO
    if choice == "at":
        return anchor
    if choice == "just_after":
        return anchor + MICRO
    if choice == "signed":
        return BASE
    if choice == "before_signed":
        return BASE - MICRO
    return BASE + timedelta(seconds=draw(st.integers(min_value=-86_400, max_value=120 * 86_400)))


@settings(max_examples=6_000, deadline=None)
@given(data=st.data(), consent=consents, reader=readers, stage=st.sampled_from(list(Stage)))
def test_readable_matches_the_reference(data, consent, reader, stage):  # type: ignore[no-untyped-def]
    now = data.draw(moments(consent))
    assert set(readable(consent, reader, stage, now)) == reference_readable(
        consent, reader, stage, now
    )


@settings(max_examples=5_000, deadline=None)
@given(
    data=st.data(),
    consent=consents,
    receiver=readers,
    purpose=st.sampled_from(PURPOSES),
    categories=st.frozensets(st.sampled_from([*CATEGORIES, "nonsense"])),
)
def test_sendable_matches_the_reference(data, consent, receiver, purpose, categories):  # type: ignore[no-untyped-def]
    now = data.draw(moments(consent))
    assert set(sendable(consent, receiver, purpose, categories, now)) == reference_sendable(
        consent, receiver, purpose, categories, now
    )


def test_the_expiry_boundary_exactly() -> None:
    agency = AGENCIES[0]
    consent = ConsentFacts(
        recipients=frozenset({agency}),
        purposes=frozenset({"emergency_shelter"}),
        categories=frozenset({"contact", "narrative"}),
        signed_at=BASE,
        expires_at=BASE + timedelta(days=30),
    )
    reader = Reader(agency)
    assert readable(consent, reader, Stage.ACCEPTED, consent.expires_at - MICRO) == {
        "profile",
        "contact",
        "narrative",
    }
    assert readable(consent, reader, Stage.ACCEPTED, consent.expires_at) == {"profile"}
    assert readable(consent, reader, Stage.OFFERED, BASE) == {"profile"}
    assert readable(consent, Reader(AGENCIES[1]), Stage.ACCEPTED, BASE) == {"profile"}
    law = Reader(agency, is_law_enforcement=True)
    assert readable(consent, law, Stage.ACCEPTED, BASE) == frozenset()  # no law-enforcement purpose
