"""A month of fictional referral work in the demo network, so the staff pages have something
to show: `demo.seed` calls `seed_activity` after the agencies and users exist.

Everything goes through the services, acted by the demo users (and one staff member made
for each other receiving agency), with the clock frozen at the moment each step "happened":
clients, consents, bundles, answers, arrivals, messages, capacity updates, and the deadline
sweep at every deadline that passed — so the audit chain, capacity holds and derived
statuses are exactly what a month of real use would have left. Steps are run in time
order over the last `DAYS` days; a step that would fall after the seed's own "now" never
happens, which leaves the recent referrals open with deadlines ahead.

Names are plainly fake ("Demo Person 17"); references start with `DEMO-`, which also marks
that the activity ran (it is skipped the second time). Deterministic: one seeded random.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from referral_hub.agencies import outside as organisations
from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import Agency
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.actor import SYSTEM, Actor, user_actor
from referral_hub.core.db import transaction
from referral_hub.directory import service as directory
from referral_hub.directory.capacity import confirm_capacity, set_capacity
from referral_hub.directory.models import Service
from referral_hub.extensions import db
from referral_hub.referrals import bundles, conversation, deadlines_sweep, outside, states
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.models import Referral
from referral_hub.referrals.states import State

DAYS = 30
REFERENCE_PREFIX = "DEMO-"
HOTLINE = "Statewide Trafficking Hotline"
OPEN_DOOR = "Open Door Immigration Counsel"
HARBOR = "Harbor Light Shelter"
SAFE_PASSAGE = "Safe Passage Housing"
CLINIC = "Northgate Community Clinic"
LAKESIDE = "Lakeside Counseling Collective"
LEGAL_AID = "Riverbend Legal Aid"
REFUGE = "Northgate Women's Refuge"
IMMIGRANT_CLINIC = "Northgate Immigrant Rights Clinic"
SENDERS = {HOTLINE: "intake@hotline.example", OPEN_DOOR: "intake@opendoor.example"}
RECEIVERS = {
    HARBOR: "provider@harborlight.example",
    OPEN_DOOR: "intake@opendoor.example",
    SAFE_PASSAGE: "staff@safepassage.example",
    CLINIC: "staff@northgateclinic.example",
    LAKESIDE: "staff@lakesidecounseling.example",
    LEGAL_AID: "staff@riverbendlegalaid.example",
    REFUGE: "staff@northgaterefuge.example",
    IMMIGRANT_CLINIC: "staff@northgateimmigrantrights.example",
}
# services by short name: (agency, category, which of the agency's services of that category)
SERVICES: dict[str, tuple[str, str, int]] = {
    "hl_beds": (HARBOR, "emergency_shelter", 0),
    "hl_family": (HARBOR, "transitional_housing", 0),
    "hl_safety": (HARBOR, "case_management", 0),
    "sp_beds": (SAFE_PASSAGE, "emergency_shelter", 0),
    "sp_flats": (SAFE_PASSAGE, "transitional_housing", 0),
    "refuge": (REFUGE, "emergency_shelter", 0),
    "clinic_mh": (CLINIC, "mental_health", 0),
    "clinic_care": (CLINIC, "primary_care", 0),
    "lakeside": (LAKESIDE, "mental_health", 0),
    "tvisa": (OPEN_DOOR, "immigration_counsel", 0),
    "imm_clinic": (IMMIGRANT_CLINIC, "immigration_counsel", 0),
    "legal": (LEGAL_AID, "legal_advocacy", 0),
    "legal_wages": (LEGAL_AID, "legal_advocacy", 2),
}
DATA = {
    "emergency_shelter": ["contact", "identity"],
    "transitional_housing": ["contact", "identity"],
    "case_management": ["contact", "narrative"],
    "mental_health": ["contact", "health"],
    "primary_care": ["contact", "health"],
    "immigration_counsel": ["identity", "immigration", "narrative"],
    "legal_advocacy": ["identity", "justice", "narrative"],
}

# --- the plans ------------------------------------------------------------------------------
# A need: (category, attempts). An attempt: the services sent at once and what each
# receiver does ("fate"). The first attempt goes out with the bundle; each next one is the
# intake worker referring again once everything before it ended without a placement.
Attempt = list[tuple[str, str]]
Need = tuple[str, list[Attempt]]


@dataclass(frozen=True)
class Plan:
    sender: str
    days_ago: float
    urgency: Urgency
    needs: list[Need]
    revoke_after: timedelta | None = None  # the survivor withdraws her consent


E, U, R = Urgency.EMERGENCY, Urgency.URGENT, Urgency.ROUTINE
HOT, DOOR = HOTLINE, OPEN_DOOR


def _plans() -> list[Plan]:
    """Forty episodes: old ones finished, middle ones in progress, recent ones open."""
    return [
        # placed and finished (weeks ago)
        Plan(HOT, 29, E, [("emergency_shelter", [[("hl_beds", "complete"), ("sp_beds", "slow")]])]),
        Plan(HOT, 27, U, [("transitional_housing", [[("sp_flats", "complete")]])]),
        Plan(
            DOOR,
            26,
            R,
            [
                ("emergency_shelter", [[("hl_beds", "complete")]]),
                ("mental_health", [[("lakeside", "complete")]]),
            ],
        ),
        Plan(HOT, 24, E, [("emergency_shelter", [[("refuge", "complete"), ("hl_beds", "slow")]])]),
        Plan(HOT, 22, U, [("immigration_counsel", [[("tvisa", "complete")]])]),
        Plan(DOOR, 20, R, [("legal_advocacy", [[("legal", "complete")]])]),
        # placed, still being served
        Plan(
            HOT,
            14,
            U,
            [
                ("emergency_shelter", [[("hl_beds", "engaged")]]),
                ("legal_advocacy", [[("legal_wages", "engaged")]]),
            ],
        ),
        Plan(DOOR, 12, E, [("emergency_shelter", [[("sp_beds", "engaged"), ("hl_beds", "slow")]])]),
        Plan(HOT, 9, R, [("transitional_housing", [[("hl_family", "info_engaged")]])]),
        Plan(HOT, 6, U, [("mental_health", [[("clinic_mh", "engaged"), ("lakeside", "slow")]])]),
        Plan(DOOR, 4, U, [("emergency_shelter", [[("hl_beds", "engaged")]])]),
        # declined, then referred again
        Plan(
            HOT,
            28,
            E,
            [
                (
                    "emergency_shelter",
                    [[("hl_beds", "decline:no_capacity")], [("sp_beds", "complete")]],
                )
            ],
        ),
        Plan(
            DOOR,
            23,
            U,
            [
                (
                    "transitional_housing",
                    [[("sp_flats", "decline:not_eligible")], [("hl_family", "complete")]],
                )
            ],
        ),
        Plan(
            HOT,
            18,
            R,
            [
                (
                    "mental_health",
                    [[("lakeside", "decline:language")], [("clinic_mh", "engaged")]],
                )
            ],
        ),
        Plan(
            HOT,
            15,
            E,
            [
                (
                    "emergency_shelter",
                    [
                        [("refuge", "decline:safety_conflict"), ("sp_beds", "decline:no_capacity")],
                        [("hl_beds", "engaged")],
                    ],
                )
            ],
        ),
        Plan(
            DOOR,
            10,
            U,
            [
                (
                    "legal_advocacy",
                    [[("legal", "decline:out_of_area")], [("legal_wages", "engaged")]],
                )
            ],
        ),
        Plan(
            HOT,
            3,
            U,
            [("emergency_shelter", [[("hl_beds", "decline:other")], [("refuge", "engaged")]])],
        ),
        # no answer: reminded, escalated, expired — then referred again
        Plan(
            HOT,
            25,
            U,
            [("mental_health", [[("lakeside", "silent")], [("clinic_mh", "complete")]])],
        ),
        Plan(
            DOOR,
            19,
            R,
            [("emergency_shelter", [[("sp_beds", "ack_silent")], [("hl_beds", "complete")]])],
        ),
        Plan(
            HOT,
            8,
            E,
            [("emergency_shelter", [[("sp_beds", "silent")], [("hl_beds", "engaged")]])],
        ),
        Plan(
            HOT,
            2,
            R,
            [("immigration_counsel", [[("tvisa", "silent")], [("imm_clinic", "open")]])],
        ),
        # waitlisted
        Plan(HOT, 21, R, [("transitional_housing", [[("hl_family", "waitlist_accept")]])]),
        Plan(
            DOOR,
            11,
            R,
            [
                (
                    "transitional_housing",
                    [[("sp_flats", "waitlist_decline")], [("hl_family", "engaged")]],
                )
            ],
        ),
        Plan(HOT, 7, R, [("transitional_housing", [[("hl_family", "waitlist")]])]),  # in limbo
        Plan(DOOR, 1.2, R, [("transitional_housing", [[("hl_family", "waitlist")]])]),
        # withdrawn by the sender
        Plan(
            HOT,
            17,
            U,
            [("emergency_shelter", [[("hl_beds", "withdraw")], [("refuge", "complete")]])],
        ),
        Plan(
            DOOR,
            13,
            U,
            [("emergency_shelter", [[("sp_beds", "accept_withdraw")], [("hl_beds", "engaged")]])],
        ),
        Plan(
            HOT,
            5,
            R,
            [
                ("legal_advocacy", [[("legal", "ack")]]),
                ("mental_health", [[("lakeside", "ack")]]),
            ],
            revoke_after=timedelta(days=1, hours=3),
        ),
        # accepted, then she did not arrive or left
        Plan(
            HOT,
            16,
            U,
            [("emergency_shelter", [[("hl_beds", "no_show")], [("sp_beds", "complete")]])],
        ),
        Plan(DOOR, 9, E, [("emergency_shelter", [[("refuge", "left")], [("hl_beds", "engaged")]])]),
        Plan(
            HOT,
            6,
            U,
            [("transitional_housing", [[("hl_family", "no_show")], [("sp_flats", "engaged")]])],
        ),
        # in limbo: two hops on an emergency, the third still waiting
        Plan(
            HOT,
            0.9,
            E,
            [
                (
                    "emergency_shelter",
                    [
                        [("hl_beds", "decline:no_capacity")],
                        [("refuge", "decline:safety_conflict")],
                        [("sp_beds", "open")],
                    ],
                )
            ],
        ),
        # recent: open, deadlines in the next hours
        Plan(HOT, 0.12, U, [("emergency_shelter", [[("hl_beds", "open"), ("sp_beds", "open")]])]),
        Plan(
            DOOR,
            0.08,
            U,
            [
                ("emergency_shelter", [[("hl_beds", "ack")]]),
                ("primary_care", [[("clinic_care", "open")]]),
            ],
        ),
        Plan(HOT, 0.1, U, [("case_management", [[("hl_safety", "info_open")]])]),
        Plan(HOT, 0.6, R, [("emergency_shelter", [[("hl_beds", "accept_waiting")]])]),
        Plan(DOOR, 0.9, R, [("mental_health", [[("lakeside", "ack"), ("clinic_mh", "open")]])]),
        Plan(HOT, 0.02, E, [("emergency_shelter", [[("hl_beds", "open"), ("refuge", "open")]])]),
        Plan(DOOR, 0.1, U, [("legal_advocacy", [[("legal", "open")]])]),
        # accepted within the hold (90 minutes at Harbor Light): still waiting for her
        Plan(HOT, 0.04, U, [("emergency_shelter", [[("hl_beds", "accepted")]])]),
    ]


# --- the scheduler --------------------------------------------------------------------------

Script = Iterator[timedelta]  # yields how long until its next step


class Timeline:
    """Scripts stepped in time order, the clock frozen at each step; nothing after `end`."""

    def __init__(self, end: datetime) -> None:
        self.end = end
        self.queue: list[tuple[datetime, int, Script]] = []
        self.order = itertools.count()
        self.sweeps: set[datetime] = set()
        self.steps = 0

    def at(self, moment: datetime, script: Script) -> None:
        if moment <= self.end:
            heapq.heappush(self.queue, (moment, next(self.order), script))

    def after(self, delay: timedelta, script: Script) -> None:
        self.at(clock.now() + delay, script)

    def sweep_at(self, moment: datetime | None) -> None:
        """The deadline sweep runs every minute in production: here, just after a deadline."""
        if moment is None:
            return
        moment = moment + timedelta(seconds=30)
        if moment not in self.sweeps and moment <= self.end:
            self.sweeps.add(moment)
            self.at(moment, _sweep())

    def run(self, progress: Callable[[datetime], None]) -> None:
        while self.queue:
            moment, _, script = heapq.heappop(self.queue)
            with clock.frozen_at(moment):
                try:
                    delay = next(script)
                except StopIteration:
                    delay = None
                db.session.flush()  # rows stamped with this moment
                if delay is not None:
                    self.at(moment + max(delay, timedelta(seconds=1)), script)
            self.steps += 1
            progress(moment)


def _sweep() -> Script:
    deadlines_sweep.sweep()
    return
    yield


# --- the activity ---------------------------------------------------------------------------


@dataclass
class World:
    rng: random.Random
    timeline: Timeline
    senders: dict[str, Actor]
    receivers: dict[uuid.UUID, Actor]
    services: dict[str, Service]
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    bundles_made: int = 0

    def receiver_of(self, referral: Referral) -> Actor:
        return self.receivers[referral.receiver_agency_id]

    def between(self, start: datetime, end: datetime, low: float, high: float) -> timedelta:
        """How long from now until a moment `low`..`high` of the way from start to end."""
        moment = start + (end - start) * self.rng.uniform(low, high)
        return max(moment - clock.now(), timedelta(minutes=1))

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))


def _act(actor: Actor, referral: Referral, action: str, **payload: Any) -> bool:
    """Take the step if it is still legal (a sibling's acceptance or a sweep may have
    moved the referral on); False when the referral's story has ended."""
    if states.find(referral.status, action) is None:
        return False
    if action == "accept":
        _make_room(actor, referral.service_id)
    referrals.transition(actor, referral.id, action, **payload)
    return True


def _make_room(actor: Actor, service_id: uuid.UUID) -> None:
    """A provider with nothing free updates the board first ("a bed came free")."""
    service = directory.get_service(actor, service_id)
    db.session.refresh(service, ["capacity"])
    capacity = service.capacity
    if capacity is None or capacity.available > 0:
        return
    total = max(capacity.total, capacity.held + 1)
    set_capacity(actor, service_id, total=total, available=1, note="a place came free")


def _say(actor: Actor, referral: Referral, text: str) -> None:
    conversation.post_message(actor, referral.id, text)


QUESTIONS = [
    ("Does she need a ground-floor room?", "Yes please, she has a knee injury."),
    ("Will she arrive with children?", "One child, aged 6."),
    ("Does she have any ID documents with her?", "No documents; the hotline can vouch."),
    ("Which language should our counsellor use?", "Spanish, and some English."),
]
WELCOMES = [
    "Bed ready; ask for the duty worker at the side door.",
    "Intake appointment booked; we will call the number on file.",
    "We can see her today; the interpreter is booked.",
]
WITHDRAW_REASONS = [
    "She found a place with family.",
    "She chose a service closer to her work.",
    "Sent to the wrong service by mistake.",
]


def _fate(world: World, referral: Referral, fate: str, sender: Actor, need: NeedRun) -> Script:
    """What the receiver (and the sender, for this referral) does, step by step."""
    kind, _, reason = fate.partition(":")
    receiver = world.receiver_of(referral)
    sent, ack_by, respond_by = referral.sent_at, referral.acknowledge_by, referral.respond_by
    if sent is None or ack_by is None or respond_by is None:
        raise RuntimeError("a demo referral was not sent")
    if kind == "open":
        return
    if kind == "silent":
        yield referral.expire_by - clock.now() + timedelta(minutes=2)  # type: ignore[operator]
        need.ended(referral)
        return
    if kind == "slow":  # answers late: a sibling has usually been accepted by then
        yield world.between(sent, respond_by, 0.7, 0.95)
        _act(receiver, referral, "acknowledge")
        yield world.minutes(5, 20)
        if _act(receiver, referral, "decline", reason="no_capacity"):
            need.ended(referral)
        return
    quick = referral.urgency == Urgency.ROUTINE  # days to answer, but most answer the same day
    yield world.between(sent, ack_by, *((0.03, 0.25) if quick else (0.15, 0.8)))
    if kind == "decline" and world.rng.random() < 0.4:  # a quick no, without acknowledging
        if _act(receiver, referral, "decline", reason=reason):
            need.ended(referral)
        return
    if not _act(receiver, referral, "acknowledge"):
        return
    if kind in ("ack", "ack_silent"):
        if kind == "ack_silent":
            yield referral.expire_by - clock.now() + timedelta(minutes=2)  # type: ignore[operator]
            need.ended(referral)
        return
    if kind in ("info_open", "info_engaged"):
        yield world.minutes(10, 40)
        question, answer = world.rng.choice(QUESTIONS)
        _act(receiver, referral, "request-info", question=question)
        _say(receiver, referral, question)
        if kind == "info_open":
            return
        yield world.minutes(30, 180)
        _act(sender, referral, "provide-info", answer=answer)
        _say(sender, referral, answer)
        kind = "engaged"
    if kind in ("accepted", "accept_waiting"):
        yield world.minutes(30, 180)
    else:
        yield world.between(clock.now(), respond_by, *((0.02, 0.2) if quick else (0.1, 0.5)))
    if kind == "decline":
        if _act(receiver, referral, "decline", reason=reason):
            need.ended(referral)
        return
    if kind == "withdraw":
        _act(sender, referral, "withdraw", reason=world.rng.choice(WITHDRAW_REASONS))
        need.ended(referral)
        return
    if kind.startswith("waitlist"):
        _act(receiver, referral, "waitlist", position=world.rng.randint(2, 5))
        if kind == "waitlist":
            return
        yield timedelta(days=world.rng.uniform(1.5, 4))
        if kind == "waitlist_decline":
            if _act(receiver, referral, "decline", reason="no_capacity"):
                need.ended(referral)
            return
    if not _act(receiver, referral, "accept"):
        return
    _say(receiver, referral, world.rng.choice(WELCOMES))
    world.timeline.sweep_at(referral.arrive_by)
    if kind in ("accepted", "accept_waiting"):
        return
    if kind == "no_show":  # nobody confirms: the sweep marks the no-show at the deadline
        yield referral.arrive_by - clock.now() + timedelta(minutes=5)  # type: ignore[operator]
        need.ended(referral)
        return
    if kind == "accept_withdraw":
        yield world.minutes(30, 120)
        _act(sender, referral, "withdraw", reason=world.rng.choice(WITHDRAW_REASONS))
        need.ended(referral)
        return
    window = (
        referral.arrive_by - clock.now() if referral.arrive_by else timedelta(days=2)
    ) * world.rng.uniform(0.2, 0.7)
    yield window
    if not _act(receiver, referral, "confirm-arrival"):
        return
    if kind == "left":
        yield timedelta(days=world.rng.uniform(1, 3))
        if _act(receiver, referral, "end-unfinished", reason="left"):
            need.ended(referral)
        return
    if kind == "complete":
        yield timedelta(days=world.rng.uniform(4, 12))
        _act(receiver, referral, "complete", outcome="completed")


@dataclass
class NeedRun:
    """One need of a bundle: its attempts, and the intake worker referring again."""

    world: World
    sender: Actor
    client: Client
    bundle_id: uuid.UUID
    need_id: uuid.UUID
    category: str
    urgency: Urgency
    consent_id: uuid.UUID
    attempts: list[Attempt]
    live: list[Referral] = field(default_factory=list)
    next_attempt: int = 1

    def start(self, sent: list[Referral]) -> None:
        for referral, (_, fate) in zip(sent, self.attempts[0], strict=True):
            self.follow(referral, fate)

    def follow(self, referral: Referral, fate: str) -> None:
        self.live.append(referral)
        timeline = self.world.timeline
        for deadline in (referral.acknowledge_by, referral.respond_by, referral.expire_by):
            timeline.sweep_at(deadline)
        timeline.after(timedelta(0), _fate(self.world, referral, fate, self.sender, self))

    def ended(self, referral: Referral) -> None:
        """A referral ended unplaced: once nothing is open, the worker refers again."""
        if any(item.status in states.OPEN or item.status in bundles.MET for item in self.live):
            return
        if self.next_attempt >= len(self.attempts):
            return
        delay = self.world.minutes(10, 40 if self.urgency == Urgency.EMERGENCY else 180)
        self.world.timeline.after(delay, self._again(referral))

    def _again(self, previous: Referral) -> Script:
        attempt = self.attempts[self.next_attempt]
        self.next_attempt += 1
        for name, fate in attempt:
            referral = referrals.send_referral(
                self.sender,
                client_id=self.client.id,
                service_id=self.world.services[name].id,
                urgency=self.urgency,
                data_categories=DATA[self.category],
                consent_id=self.consent_id,
                bundle_id=self.bundle_id,
                need_id=self.need_id,
                previous_referral_id=previous.id,
            )
            self.follow(referral, fate)
        return
        yield


PROFILES = [
    {"age_range": "18_24", "gender": "female", "language": "es", "household": "alone"},
    {"age_range": "25_39", "gender": "female", "language": "en", "household": "with_children"},
    {"age_range": "25_39", "gender": "male", "language": "tl", "household": "with_adults"},
    {"age_range": "40_59", "gender": "female", "language": "vi", "household": "alone"},
    {"age_range": "18_24", "gender": "transgender", "language": "en", "household": "alone"},
    {"age_range": "25_39", "gender": "nonbinary", "language": "uk", "household": "with_family"},
]


def _episode(world: World, plan: Plan) -> Script:
    """The intake worker's part: her client, her consent, the bundle; then the needs."""
    sender = world.senders[plan.sender]
    number = next(world.numbers)
    profile = dict(world.rng.choice(PROFILES), urgency=plan.urgency.value)
    pii: dict[str, Any] = {
        "name": f"Demo Person {number}",
        "contact": f"Demo phone 555-01{number:02d} (fictional)",
        "narrative": "Fictional demonstration record; no real person.",
    }
    categories = [category for category, _ in plan.needs]
    if "immigration_counsel" in categories:
        pii["immigration"] = "Fictional: asking about a T-visa."
    if {"mental_health", "primary_care"} & set(categories):
        pii["health"] = "Fictional: trouble sleeping."
    if "legal_advocacy" in categories:
        pii["justice"] = "Fictional: unpaid wages claim."
    client = clients.create_client(
        sender, reference=f"{REFERENCE_PREFIX}{number:03d}", profile=profile, pii=pii
    )
    yield world.minutes(3, 12)  # the consent conversation
    every = [name for _, attempts in plan.needs for attempt in attempts for name, _ in attempt]
    recipients = sorted({world.services[name].agency_id for name in every}, key=str)
    signed = clock.now()
    granted = consent.record_consent(
        sender,
        client.id,
        recipients=recipients,
        purposes=categories,
        data_categories=sorted({item for category in categories for item in DATA[category]}),
        method=world.rng.choice(consent.METHODS),
        signer="survivor",
        form_version="2026-01",
        form_language="es" if profile["language"] == "es" else "en",
        signed_at=signed,
        expires_at=signed + timedelta(days=world.rng.choice([45, 60, 90])),
    )
    yield world.minutes(2, 8)  # picking the services
    bundle = bundles.create_bundle(
        sender,
        client_id=client.id,
        urgency=plan.urgency,
        consent_id=granted.id,
        needs=[
            {
                "category": category,
                "data_categories": DATA[category],
                "service_ids": [world.services[name].id for name, _ in attempts[0]],
            }
            for category, attempts in plan.needs
        ],
    )
    world.bundles_made += 1
    db.session.flush()
    sent = list(
        db.session.scalars(
            select(Referral).where(Referral.bundle_id == bundle.id).order_by(Referral.created_at)
        )
    )
    for category, attempts in plan.needs:
        services = [world.services[name].id for name, _ in attempts[0]]
        mine = sorted(
            (item for item in sent if item.service_id in services),
            key=lambda item: services.index(item.service_id),
        )
        run = NeedRun(
            world,
            sender,
            client,
            bundle.id,
            mine[0].need_id,  # type: ignore[arg-type]
            category,
            plan.urgency,
            granted.id,
            attempts,
        )
        run.start(mine)
    if plan.revoke_after is not None:
        yield plan.revoke_after
        consent.revoke_consent(sender, granted.id, "The survivor asked to stop sharing.")


def _capacity_upkeep(world: World, end: datetime) -> None:
    """Harbor Light confirms its board every morning; the others more or less often, so
    the board ends with fresh, aging and stale figures."""
    harbor = world.receivers[world.services["hl_beds"].agency_id]
    names = ["hl_beds", "hl_family", "hl_safety"]

    def daily() -> Script:
        for _ in range(DAYS // 2):
            for name in names:
                confirm_capacity(harbor, world.services[name].id)
            yield timedelta(days=2)

    world.timeline.at(end - timedelta(days=DAYS, hours=-9), daily())
    last_seen = {  # service: hours before the end when its provider last said "still true"
        "hl_beds": 0.6,
        "hl_family": 1.5,
        "hl_safety": 20,
        "tvisa": 6,
        "clinic_mh": 50,  # aging
        "sp_beds": 70,  # stale (beds: 8 h)
        "sp_flats": 30,  # stale
        "lakeside": 240,  # stale (others: 168 h)
        "legal": 400,  # stale
    }
    for name, hours in last_seen.items():
        service = world.services[name]
        actor = world.receivers[service.agency_id]

        def confirm(actor: Actor = actor, service_id: uuid.UUID = service.id) -> Script:
            confirm_capacity(actor, service_id)
            return
            yield

        world.timeline.at(end - timedelta(hours=hours), confirm())


# a referral to an organisation not on the hub: on the hotline's own list, under her consent
# naming it, sent a few hours before the end so its answer is still due
OUTSIDE_ORGANISATION = ("Eastside Church Night Shelter", "+1 555 0190")  # fictitious
OUTSIDE_SENT_BEFORE = timedelta(hours=3)


def _outside_referral(world: World) -> Script:
    sender = world.senders[HOTLINE]
    name, phone = OUTSIDE_ORGANISATION
    organisation = organisations.add_organisation(sender, name=name, phone=phone)
    number = next(world.numbers)
    client = clients.create_client(
        sender,
        reference=f"{REFERENCE_PREFIX}{number:03d}",
        profile=dict(PROFILES[1], urgency=Urgency.URGENT.value),
        pii={
            "name": f"Demo Person {number}",
            "contact": f"Demo phone 555-01{number:02d} (fictional)",
        },
    )
    yield world.minutes(3, 8)  # the consent conversation: this church, a bed tonight
    signed = clock.now()
    granted = consent.record_consent(
        sender,
        client.id,
        recipients=[organisation.id],
        purposes=["emergency_shelter"],
        data_categories=["contact"],
        method="written",
        signer="survivor",
        form_version="2026-01",
        form_language="en",
        signed_at=signed,
        expires_at=signed + timedelta(days=30),
    )
    outside.refer_outside(
        sender,
        client_id=client.id,
        organisation_id=organisation.id,
        consent_id=granted.id,
        purpose="emergency_shelter",
        urgency=Urgency.URGENT,
        data_categories=["contact"],
    )


def already_seeded() -> bool:
    return (
        db.session.scalar(
            select(Client.id).where(Client.reference.like(f"{REFERENCE_PREFIX}%")).limit(1)
        )
        is not None
    )


def _staff(echo: Callable[[str], None]) -> tuple[dict[str, Actor], dict[uuid.UUID, Actor]]:
    """The demo users, and one staff member (no password: nobody signs in as them) for
    each other receiving agency, made the way an agency admin would."""

    def actor_of(email: str, agency_name: str) -> Actor:
        user = agencies.find_user_by_email(email)
        if user is None:
            agency = _agency(agency_name)
            user = agencies.create_user(
                SYSTEM,
                agency_id=agency.id,
                email=email,
                display_name=f"Demo Staff ({agency.name})",
                roles=["provider"],
                notify=False,
            )
        return user_actor(user.id, user.agency_id, frozenset(user.roles))

    senders = {name: actor_of(email, name) for name, email in SENDERS.items()}
    receivers: dict[uuid.UUID, Actor] = {}
    for name, email in RECEIVERS.items():
        actor = actor_of(email, name)
        if actor.agency_id is not None:
            receivers[actor.agency_id] = actor
    return senders, receivers


def _agency(name: str) -> Agency:
    agency = agencies.find_agency_by_name(name)
    if agency is None:
        raise RuntimeError(f"demo agency {name!r} is missing: run the demo seed from scratch")
    return agency


def _services() -> dict[str, Service]:
    found = {}
    for short, (agency_name, category, index) in SERVICES.items():
        agency = _agency(agency_name)
        matching = list(
            db.session.scalars(
                select(Service)
                .where(Service.agency_id == agency.id, Service.category == category)
                .order_by(Service.name)
            )
        )
        found[short] = matching[min(index, len(matching) - 1)]
    return found


def seed_activity(echo: Callable[[str], None] = print, seed_value: int = 8) -> dict[str, int]:
    """Run the month of activity once; returns referral counts by state (empty if skipped)."""
    if already_seeded():
        echo("  demo activity present")
        return {}
    end = clock.now() - timedelta(minutes=1)
    plans = _plans()
    with transaction():
        senders, receivers = _staff(echo)
        world = World(random.Random(seed_value), Timeline(end), senders, receivers, _services())  # noqa: S311 - demo data
        for plan in plans:
            jitter = min(30.0, plan.days_ago * 144)  # minutes: a tenth of its age at most
            start = end - timedelta(days=plan.days_ago, minutes=world.rng.uniform(-jitter, jitter))
            world.timeline.at(min(start, end - timedelta(minutes=20)), _episode(world, plan))
        _capacity_upkeep(world, end)
        world.timeline.at(end - OUTSIDE_SENT_BEFORE, _outside_referral(world))
        shown = [0]

        def progress(moment: datetime) -> None:
            day = DAYS - (end - moment).days
            if day >= shown[0] + 10:
                shown[0] = day - day % 10
                echo(f"  activity: day {shown[0]}/{DAYS}, {world.bundles_made} bundles")

        world.timeline.run(progress)
        counts = _counts()
    total = sum(counts.values())
    summary = ", ".join(f"{state} {n}" for state, n in sorted(counts.items()))
    echo(f"demo activity ready: {world.bundles_made} bundles, {total} referrals ({summary})")
    return counts


def _counts() -> dict[str, int]:
    statuses = db.session.scalars(
        select(Referral.status).where(Referral.client_reference.like(f"{REFERENCE_PREFIX}%"))
    )
    counts: dict[str, int] = {}
    for status in statuses:
        counts[State(status).value] = counts.get(State(status).value, 0) + 1
    return counts
