"""Real parallel writers on a real database (a fresh one, committed for real)."""

from __future__ import annotations

import fcntl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import Table, select

from referral_hub.audit import service as audit
from referral_hub.audit.chain import GENESIS, chain_hash, leaf_hash
from referral_hub.audit.models import AuditEvent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM
from referral_hub.core.db import transaction
from referral_hub.core.errors import NotFound
from referral_hub.extensions import db
from referral_hub.referrals.deadlines import Urgency

WRITERS = 20
EVENTS_EACH = 5


@pytest.fixture(autouse=True)
def one_race_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """These tests open up to 50 connections each: two of them at once in two test workers,
    beside the workers' own pools, would pass PostgreSQL's 100-connection default and fail
    on "too many clients" instead of on what they test. A lock file in the directory the
    workers share lets one run at a time (the other tests still run beside it)."""
    shared = tmp_path_factory.getbasetemp().parent
    with (shared / "concurrency-races.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.mark.parametrize("per_transaction", [1, 3])
def test_audit_seq_stays_gapless_under_concurrent_writers(
    committing_app: Flask, per_transaction: int
) -> None:
    """Parallel appends from many connections never fork the chain: every `seq` is taken
    once, every event's `prev` is the chain hash of the event before it, and the hashes
    (on PostgreSQL computed by `audit_append` under the head's lock) are the ones the
    Python code computes from the stored event."""
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                for index in range(EVENTS_EACH):
                    with transaction():
                        for part in range(per_transaction):
                            audit.record(
                                SYSTEM,
                                "test.raced",
                                ("writer", str(number)),
                                details={"i": index, "part": part, "text": "é🏠" * number},
                            )
            except BaseException as exc:  # surfaced below, with the thread's own traceback
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    total = WRITERS * EVENTS_EACH * per_transaction
    with committing_app.app_context():
        events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        assert [event.seq for event in events] == list(range(1, total + 1))
        previous = GENESIS
        for event in events:
            assert event.prev_hash == previous, event.seq
            assert event.leaf_hash == leaf_hash(event.document()), event.seq
            assert event.chain_hash == chain_hash(previous, event.leaf_hash), event.seq
            previous = event.chain_hash
        assert audit.head() == (total, previous)
        result = audit.verify_stored()
        assert result.ok, result
        assert result.events_checked == total
        by_writer: dict[str, int] = {}
        for event in events:
            by_writer[str(event.subject_id)] = by_writer.get(str(event.subject_id), 0) + 1
        assert set(by_writer.values()) == {EVENTS_EACH * per_transaction}
        assert len(by_writer) == WRITERS
        # one transaction's events stay together, in the order they were recorded
        for start in range(0, total, per_transaction):
            group = events[start : start + per_transaction]
            assert len({event.subject_id for event in group}) == 1
            assert [event.details["part"] for event in group] == list(range(per_transaction))


def test_a_failed_request_leaves_no_row_event_or_outbox_row(committing_app: Flask) -> None:
    """The request boundary commits once, at the end, and only on success."""
    from referral_hub.agencies import service as agencies
    from referral_hub.agencies.models import Agency, AgencyKind
    from referral_hub.core.errors import Conflict
    from referral_hub.jobs.models import OutboxMessage
    from referral_hub.notifications.service import send_email

    app: Any = committing_app

    @app.post("/api/v1/test-fails-after-writing")
    def fails_after_writing() -> Any:
        from referral_hub.core.actor import SYSTEM as actor

        agency = agencies.create_agency(actor, name="Doomed Agency", kind=AgencyKind.SHELTER)
        send_email("someone@agency.example", "action_waiting")
        assert agency.id is not None
        raise Conflict("the last step refused")

    response = app.test_client().post("/api/v1/test-fails-after-writing")
    assert response.status_code == 409
    with app.app_context():
        assert db.session.scalars(select(Agency)).all() == []
        assert db.session.scalars(select(OutboxMessage)).all() == []
        assert db.session.scalars(select(AuditEvent)).all() == []
        assert audit.head()[0] == 0


def test_concurrent_capacity_updates_and_holds_lose_nothing(committing_app: Flask) -> None:
    """Ten people setting the numbers while ten referrals are accepted at once."""
    from sqlalchemy import func

    from referral_hub.directory.capacity import hold_unit, set_capacity
    from referral_hub.directory.models import Capacity, CapacityChange
    from tests import factories

    with committing_app.app_context():
        with transaction():
            shelter = factories.directory_service(factories.agency())
            factories.capacity(shelter, total=30, available=12)
            service_id = shelter.id
        db.session.remove()
    barrier = threading.Barrier(20)
    outcomes: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def setter(free: int) -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                with transaction():
                    set_capacity(SYSTEM, service_id, total=30, available=free)
                outcomes.append(("set", True))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    def holder() -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                with transaction():
                    outcomes.append(("hold", hold_unit(SYSTEM, service_id)))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=setter, args=(10 + n,)) for n in range(10)]
    threads += [threading.Thread(target=holder) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    held = sum(1 for kind, ok in outcomes if kind == "hold" and ok)
    with committing_app.app_context():
        row = db.session.get(Capacity, service_id)
        assert row.held == held  # a PUT never overwrote a hold
        assert row.available + row.held <= row.total
        changes = db.session.scalar(
            select(func.count())
            .select_from(CapacityChange)
            .where(CapacityChange.service_id == service_id)
        )
        assert changes == 1 + 10 + held  # the first set, ten sets, every successful hold
        db.session.remove()


def test_the_last_bed_goes_to_exactly_one_of_many_racers(committing_app: Flask) -> None:
    from referral_hub.directory.capacity import hold_unit
    from referral_hub.directory.models import Capacity, CapacityChange
    from tests import factories

    with committing_app.app_context():
        racers = 30 if db.engine.dialect.name == "postgresql" else 10
        with transaction():
            shelter = factories.directory_service(factories.agency())
            factories.capacity(shelter, total=5, available=1)
            service_id = shelter.id
        db.session.remove()
    barrier = threading.Barrier(racers)
    wins: list[bool] = []

    def race() -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                with transaction():
                    wins.append(hold_unit(SYSTEM, service_id))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(wins) == [False] * (racers - 1) + [True]
    with committing_app.app_context():
        row = db.session.get(Capacity, service_id)
        assert (row.available, row.held) == (0, 1)
        # a loser's write found no unit (re-checked after the winner's commit): it wrote
        # no history row either, in the same statement on PostgreSQL
        holds = db.session.execute(
            select(CapacityChange.kind, CapacityChange.available, CapacityChange.held).where(
                CapacityChange.service_id == service_id, CapacityChange.kind == "hold"
            )
        ).all()
        assert [tuple(hold) for hold in holds] == [("hold", 0, 1)]
        db.session.remove()


def test_no_read_that_starts_after_a_revocation_commits_returns_pii(committing_app: Flask) -> None:
    """Fifty readers racing a revocation (both databases; the issue asks it of PostgreSQL)."""
    import time

    from referral_hub.clients import service as clients
    from referral_hub.consent import service as consent
    from referral_hub.core import clock
    from referral_hub.core.actor import Actor, ActorKind
    from tests import factories

    with committing_app.app_context():
        readers = 50 if db.engine.dialect.name == "postgresql" else 12
        with transaction():
            owner, shelter = factories.agency(), factories.agency()
            actor = Actor(ActorKind.USER, "intake", owner.id, frozenset({"intake"}))
            record = clients.create_client(actor, pii={"contact": "secret"})
            granted = consent.record_consent(
                actor,
                record.id,
                recipients=[shelter.id],
                purposes=["emergency_shelter"],
                data_categories=["contact"],
                method="written",
                signer="survivor",
                form_version="1",
                form_language="en",
                signed_at=clock.now(),
            )
            consent.open_grant(
                record.id,
                shelter.id,
                granted.id,
                "race",
                shared=["profile", "contact"],
                purpose="emergency_shelter",
            )
            consent.set_grant("race", accepted=True)
            client_id, consent_id, shelter_id, owner_id = (
                record.id,
                granted.id,
                shelter.id,
                owner.id,
            )
        db.session.remove()
    reader_actor = Actor(ActorKind.USER, "provider", shelter_id, frozenset({"provider"}))
    revoked_at: list[float] = []
    reads: list[tuple[float, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(readers + 1)

    def reader() -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                # read on until two reads started after the revocation committed (however
                # long a loaded machine makes it take), or the revoker failed; the cap only
                # keeps a broken run from hanging
                deadline = time.monotonic() + 240
                after = 0
                while after < 2 and not errors and time.monotonic() < deadline:
                    started = time.monotonic()
                    try:  # after the revocation her record is gone for the shelter: 404
                        with transaction():
                            seen = bool(consent.disclose_client(reader_actor, client_id).pii)
                    except NotFound:
                        seen = False
                    reads.append((started, seen))
                    if revoked_at and started > revoked_at[0]:
                        after += 1
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    def revoker() -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                time.sleep(0.01)
                with transaction():
                    consent.revoke_consent(
                        Actor(ActorKind.USER, "intake", owner_id, frozenset({"intake"})),
                        consent_id,
                        "race",
                    )
                revoked_at.append(time.monotonic())
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=reader) for _ in range(readers)] + [
        threading.Thread(target=revoker)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    (committed,) = revoked_at
    late = [saw for started, saw in reads if started > committed]
    assert late, "no read started after the revocation; the race did not happen"
    assert not any(late)  # reads that started before the commit may still have seen it


def _referral_world(app: Flask, services: int, free: int) -> dict[str, Any]:
    """One sender with a consented client; `services` shelters, each with `free` beds."""
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind
    from tests import factories

    with app.app_context():
        with transaction():
            sender = factories.agency()
            intake = Actor(ActorKind.USER, "intake", sender.id, frozenset({"intake"}))
            shelters = []
            for _ in range(services):
                agency = factories.agency()
                service = factories.directory_service(agency, "emergency_shelter")
                factories.capacity(service, total=free + 1, available=free)
                shelters.append((agency.id, service.id))
            person = clients.create_client(intake, profile={"language": "es"})
            granted = factories.written_consent(
                intake,
                person.id,
                recipients=[a for a, _ in shelters],
                purposes=["emergency_shelter"],
                data_categories=["contact"],
            )
            world = {
                "intake": intake,
                "shelters": shelters,
                "client": person.id,
                "consent": granted.id,
            }
        db.session.remove()
    return world


def test_sibling_referrals_accepted_at_once_exactly_one_wins(committing_app: Flask) -> None:
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.referrals import bundles
    from referral_hub.referrals import service as referrals
    from referral_hub.referrals.models import Referral

    world = _referral_world(committing_app, services=3, free=1)
    with committing_app.app_context():
        with transaction():
            bundle = bundles.create_bundle(
                world["intake"],
                client_id=world["client"],
                urgency=Urgency.EMERGENCY,
                consent_id=world["consent"],
                needs=[
                    {
                        "category": "emergency_shelter",
                        "service_ids": [s for _, s in world["shelters"]],
                        "data_categories": ["contact"],
                    }
                ],
            )
            bundle_id = bundle.id
            ids = {
                row.receiver_agency_id: row.id
                for row in db.session.scalars(
                    select(Referral).where(Referral.bundle_id == bundle_id)
                )
            }
        db.session.remove()
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def accept(agency_id: uuid.UUID) -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                with transaction():
                    referrals.transition(
                        Actor(ActorKind.USER, "p", agency_id, frozenset({"provider"})),
                        ids[agency_id],
                        "accept",
                    )
                outcomes.append("accepted")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=accept, args=(agency_id,)) for agency_id, _ in world["shelters"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["IllegalTransition", "IllegalTransition", "accepted"]
    with committing_app.app_context():
        statuses = sorted(
            row.status.value
            for row in db.session.scalars(select(Referral).where(Referral.bundle_id == bundle_id))
        )
        assert statuses == ["accepted", "superseded", "superseded"]
        from referral_hub.directory.models import Capacity

        services = [service_id for _, service_id in world["shelters"]]
        held = sum(
            db.session.scalars(select(Capacity.held).where(Capacity.service_id.in_(services)))
        )
        assert held == 1  # one bed held, none leaked by the losers
        db.session.remove()


def test_many_accepts_for_the_last_bed_exactly_one_wins(committing_app: Flask) -> None:
    """50 racers, 50 rounds on PostgreSQL (10 x 5 on SQLite): one 200, the rest 409."""
    with committing_app.app_context():
        rounds = 50 if db.engine.dialect.name == "postgresql" else 5
    for _ in range(rounds):
        _last_bed_round(committing_app)


def test_many_accepts_for_the_last_overflow_place_exactly_one_wins(
    committing_app: Flask,
) -> None:
    """Regular beds full, one overflow place open: one racer holds it, the rest 409."""
    with committing_app.app_context():
        rounds = 20 if db.engine.dialect.name == "postgresql" else 3
    for _ in range(rounds):
        _last_bed_round(committing_app, overflow=True)


def _last_bed_round(committing_app: Flask, overflow: bool = False) -> None:
    from referral_hub.clients import service as clients
    from referral_hub.core.actor import Actor, ActorKind
    from referral_hub.directory.capacity import open_overflow, set_capacity
    from referral_hub.directory.models import Capacity, OverflowWindow
    from referral_hub.referrals import service as referrals
    from referral_hub.referrals.models import Referral

    world = _referral_world(committing_app, services=1, free=1)
    ((agency_id, service_id),) = world["shelters"]
    with committing_app.app_context():
        racers = 50 if db.engine.dialect.name == "postgresql" else 10
        with transaction():
            if overflow:  # the regular bed is gone; one overflow place is open tonight
                set_capacity(SYSTEM, service_id, total=1, available=0)
                now = clock.now()
                open_overflow(
                    SYSTEM,
                    service_id,
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(hours=12),
                    places=1,
                )
            ids = []
            for _ in range(racers):
                person = clients.create_client(world["intake"], profile={"language": "en"})
                ids.append(
                    referrals.send_referral(
                        world["intake"],
                        client_id=person.id,
                        service_id=service_id,
                        urgency=Urgency.EMERGENCY,
                        data_categories=["profile"],
                    ).id
                )
        db.session.remove()
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    provider = Actor(ActorKind.USER, "p", agency_id, frozenset({"provider"}))

    def accept(referral_id: uuid.UUID) -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                with transaction():
                    referrals.transition(provider, referral_id, "accept")
                outcomes.append("accepted")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=accept, args=(rid,)) for rid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["NoCapacity"] * (racers - 1) + ["accepted"]
    with committing_app.app_context():
        row = db.session.get(Capacity, service_id)
        assert (row.available, row.held) == ((0, 0) if overflow else (0, 1))
        if overflow:
            (window,) = db.session.scalars(
                select(OverflowWindow).where(OverflowWindow.service_id == service_id)
            ).all()
            assert (window.held, window.used) == (1, 0)
            winner = db.session.scalars(
                select(Referral).where(Referral.hold_overflow_id == window.id)
            ).all()
            assert len(winner) == 1
            assert winner[0].status.value == "accepted"
        db.session.remove()


def test_racing_sends_leave_one_open_referral_per_client_and_service(
    committing_app: Flask,
) -> None:
    """The same client sent to the same service from many requests at once: one goes."""
    from sqlalchemy import func

    from referral_hub.referrals import service as referrals
    from referral_hub.referrals.models import Referral

    world = _referral_world(committing_app, services=1, free=1)
    ((_, service_id),) = world["shelters"]
    with committing_app.app_context():
        racers = 20 if db.engine.dialect.name == "postgresql" else 8
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []

    def send() -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                with transaction():
                    referrals.send_referral(
                        world["intake"],
                        client_id=world["client"],
                        service_id=service_id,
                        urgency=Urgency.EMERGENCY,
                        data_categories=["profile"],
                    )
                outcomes.append("sent")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["Conflict"] * (racers - 1) + ["sent"]
    with committing_app.app_context():
        stored = db.session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(Referral.client_id == world["client"], Referral.service_id == service_id)
        )
        assert stored == 1
        db.session.remove()


def test_first_writers_racing_on_a_new_key_store_all_succeed(committing_app: Flask) -> None:
    """The key store makes its table on first use; two workers' first requests may race."""
    import uuid

    from referral_hub.core import keystore

    with committing_app.app_context():
        bind = db.engines[keystore.BIND]
        cast(Table, keystore.ClientKey.__table__).drop(bind, checkfirst=True)
        keystore.forget_prepared(bind)
    racers = 8
    barrier = threading.Barrier(racers)
    errors: list[BaseException] = []
    made = [uuid.uuid4() for _ in range(racers)]

    def first_put(client_id: uuid.UUID) -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                keystore.put(client_id, b"wrapped", "k1")
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=first_put, args=(one,)) for one in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with committing_app.app_context():
        assert all(keystore.get(one) == (b"wrapped", "k1") for one in made)


def test_concurrent_hits_on_one_rate_limit_counter_are_each_counted_once(
    committing_app: Flask,
) -> None:
    """The database counter (embedded mode, or Redis away): racing first hits on a new key
    and on an existing one each get their own number, none lost, none doubled."""
    from referral_hub.auth import ratelimit

    racers = 12
    barrier = threading.Barrier(racers)
    seen: list[int] = []
    errors: list[BaseException] = []

    def hit() -> None:
        with committing_app.app_context():
            try:
                barrier.wait()
                seen.append(ratelimit.hit_now("race-key", 60).count)
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    # the first round creates the row, the second counts on; all inside one window
    with clock.frozen_at(datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)) as frozen:
        for _round in range(2):
            threads = [threading.Thread(target=hit) for _ in range(racers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        assert not errors, errors
        assert sorted(seen) == list(range(1, 2 * racers + 1))
        frozen.advance(timedelta(seconds=60))  # the next window starts the count again
        with committing_app.app_context():
            assert ratelimit.hit_now("race-key", 60).count == 1
            db.session.remove()
