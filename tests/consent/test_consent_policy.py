"""The consent policy against a plain reference model, over 10,000+ generated cases with the
expiry boundaries forced in (expires_at - 1 µs allowed; at expires_at denied), what each
referral shared (minimum necessary: never more than the referral's categories) and the
service's purpose (bound at every read, not only at send)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
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
SERVICE_CATEGORIES = ["emergency_shelter", "immigration_counsel", "primary_care", "other"]
BASE = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def reference_readable(consent, reader, stage, now, shared, purpose):
    """Written as the rules read, case by case, without sharing code with the policy."""
    everything = set(CATEGORIES)
    if reader.is_owner:
        return everything
    if stage == Stage.NONE:
        return set()
    if stage == Stage.ENDED:
        return set()
    if consent is None:  # sent without consent: profile only, and law enforcement nothing
        if reader.is_law_enforcement:
            return set()
        return {"profile"}
    active = consent.revoked_at is None and now >= consent.signed_at and now < consent.expires_at
    names_reader = reader.agency_id in consent.recipients
    for_this_service = purpose is not None and purpose in consent.purposes
    law_ok = LAW_ENFORCEMENT_PURPOSE in consent.purposes
    if not (active and names_reader and for_this_service):
        return set()  # the consent it went under no longer covers this reader: access ends
    if reader.is_law_enforcement and not law_ok:
        return set()
    if stage == Stage.OFFERED:
        return {"profile"}
    result = {"profile"}
    for category in shared:
        if category != "profile" and category in consent.categories and category in CATEGORIES:
            result.add(category)
    return result


def reference_sendable(consent, receiver, purpose, categories, now):
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


def every_moment(data, consent):
    """Each boundary that matters (expiry -1 µs, at, +1 µs; signing, -1 µs) and one moment
    drawn anywhere: every generated case is checked at all of them."""
    anchor = consent.expires_at if consent is not None else BASE
    anywhere = BASE + timedelta(
        seconds=data.draw(st.integers(min_value=-86_400, max_value=120 * 86_400))
    )
    return [anchor - MICRO, anchor, anchor + MICRO, BASE, BASE - MICRO, anywhere]


LOADED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


# Each generated example is checked at every stage and every moment above: 2,500
# examples are 2,500 x len(Stage) x 6 cases (over 10,000 many times), at a fraction of the
# cost of drawing each case on its own (Hypothesis' per-example overhead dominates here).
READABLE_EXAMPLES = 2_500
SENDABLE_EXAMPLES = 1_000


@settings(max_examples=READABLE_EXAMPLES, **LOADED)  # type: ignore[arg-type]
@given(
    data=st.data(),
    consent=consents,
    reader=readers,
    shared=st.frozensets(st.sampled_from([*CATEGORIES, "nonsense"])),
    purpose=st.none() | st.sampled_from(SERVICE_CATEGORIES),
)
def test_readable_matches_the_reference(data, consent, reader, shared, purpose):
    for stage in Stage:
        for now in every_moment(data, consent):
            got = readable(consent, reader, stage, now, shared=shared, purpose=purpose)
            expected = reference_readable(consent, reader, stage, now, shared, purpose)
            assert set(got) == expected, (stage, now)
            if not reader.is_owner:  # minimum necessary: never beyond what was shared
                assert got <= shared | {"profile"}
                assert consent is None or got - {"profile"} <= consent.categories


def test_the_property_tests_cover_over_ten_thousand_cases_each() -> None:
    assert READABLE_EXAMPLES * len(Stage) * 6 >= 10_000
    assert SENDABLE_EXAMPLES * 6 >= 5_000


@settings(max_examples=SENDABLE_EXAMPLES, **LOADED)  # type: ignore[arg-type]
@given(
    data=st.data(),
    consent=consents,
    receiver=readers,
    purpose=st.sampled_from(PURPOSES),
    categories=st.frozensets(st.sampled_from([*CATEGORIES, "nonsense"])),
)
def test_sendable_matches_the_reference(data, consent, receiver, purpose, categories):
    for now in every_moment(data, consent):
        assert set(sendable(consent, receiver, purpose, categories, now)) == reference_sendable(
            consent, receiver, purpose, categories, now
        ), now


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
    shelter: dict[str, Any] = {
        "shared": frozenset({"profile", "contact", "narrative"}),
        "purpose": "emergency_shelter",
    }
    assert readable(consent, reader, Stage.ACCEPTED, consent.expires_at - MICRO, **shelter) == {
        "profile",
        "contact",
        "narrative",
    }
    assert readable(consent, reader, Stage.ACCEPTED, consent.expires_at, **shelter) == set()
    assert readable(consent, reader, Stage.OFFERED, BASE, **shelter) == {"profile"}
    assert readable(consent, Reader(AGENCIES[1]), Stage.ACCEPTED, BASE, **shelter) == set()
    law = Reader(agency, is_law_enforcement=True)
    assert readable(consent, law, Stage.ACCEPTED, BASE, **shelter) == frozenset()  # no LE purpose


def test_the_referral_is_what_was_shared_and_the_purpose_is_bound_at_read() -> None:
    """Defects 1 and 2 of issue 14, at the policy: the consent names identity and health;
    the referral shared identity; a consent for transitional housing reads nothing at an
    emergency shelter, whatever was attached at send."""
    agency = AGENCIES[0]
    consent = ConsentFacts(
        recipients=frozenset({agency}),
        purposes=frozenset({"emergency_shelter"}),
        categories=frozenset({"identity", "health"}),
        signed_at=BASE,
        expires_at=BASE + timedelta(days=30),
    )
    reader = Reader(agency)
    shared = frozenset({"profile", "identity"})
    assert readable(
        consent, reader, Stage.ACCEPTED, BASE, shared=shared, purpose="emergency_shelter"
    ) == {"profile", "identity"}
    housing = ConsentFacts(**{**consent.__dict__, "purposes": frozenset({"transitional_housing"})})
    for stage in (Stage.OFFERED, Stage.ACCEPTED):
        assert (
            readable(housing, reader, stage, BASE, shared=shared, purpose="emergency_shelter")
            == set()
        )
    revoked = ConsentFacts(**{**consent.__dict__, "revoked_at": BASE + MICRO})
    for stage in (Stage.OFFERED, Stage.ACCEPTED):  # revoked: not even the profile any more
        assert (
            readable(
                revoked, reader, stage, BASE + MICRO, shared=shared, purpose="emergency_shelter"
            )
            == set()
        )
