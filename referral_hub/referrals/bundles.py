"""Bundles: one intake episode, its needs, each sent to up to three services at once.

The first acceptance in a need wins; the need's status, its hops and the bundle's place in
the coordinators' in-limbo queue are derived from its referrals, never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import DomainError, NotFound, ValidationFailed
from referral_hub.core.tenancy import foreign
from referral_hub.directory import service as directory
from referral_hub.extensions import db
from referral_hub.referrals import priority
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency, unset_urgencies
from referral_hub.referrals.models import Bundle, Need, Referral
from referral_hub.referrals.states import OPEN, State

HOPS = frozenset({State.DECLINED, State.EXPIRED, State.NOT_COMPLETED})
PLACED = frozenset({State.ACCEPTED, State.ENGAGED})
MET = frozenset({State.COMPLETED})


def need_urgencies(needs: list[dict[str, Any]], default: Urgency | None) -> list[Urgency]:
    """Each need's own urgency, else the bundle's: a need with neither is refused by name."""
    missing = unset_urgencies(needs, default)
    if missing:
        raise ValidationFailed(errors=missing)
    return [Urgency(need.get("urgency") or str(default)) for need in needs]


def most_urgent(urgencies: Iterable[Urgency | str]) -> Urgency:
    return min((Urgency(u) for u in urgencies), key=lambda u: priority.URGENCY_RANK[u])


def create_bundle(
    actor: Actor,
    *,
    client_id: uuid.UUID,
    needs: list[dict[str, Any]],
    urgency: Urgency | None = None,
    consent_id: uuid.UUID | None = None,
) -> Bundle:
    """All or nothing: any need that cannot be sent fails the whole bundle.

    Each need carries its own urgency (`urgency` is the default for needs that give none),
    and its referrals' deadlines follow it: the shelter tonight, the clinic next week."""
    client = clients.load_owned(actor, client_id)
    # before the bundle row names it: an unknown consent id is a 422, not a foreign-key failure
    referrals._consent_for(client.id, consent_id)
    categories = [need["category"] for need in needs]
    if len(set(categories)) != len(categories):
        raise ValidationFailed(errors={"needs": ["One need per service category."]})
    urgencies = need_urgencies(needs, urgency)
    bundle = Bundle(
        client_id=client.id,
        sender_agency_id=client.owner_agency_id,
        consent_id=consent_id,
        urgency=most_urgent(urgencies),
        created_by=actor.id,
        sender_assignee_id=referrals.person(actor),
    )
    db.session.add(bundle)
    db.session.flush()
    for index, (wanted, need_urgency) in enumerate(zip(needs, urgencies, strict=True)):
        need = Need(
            bundle_id=bundle.id,
            category=wanted["category"],
            urgency=need_urgency,
            data_categories=wanted["data_categories"],
        )
        db.session.add(need)
        db.session.flush()
        for service_index, service_id in enumerate(wanted["service_ids"]):
            try:
                service = directory.get_service(actor, service_id)
                if service.category.value != need.category:
                    raise ValidationFailed(
                        errors={"service_ids": ["Not a service of this need's category."]}
                    )
                referrals.send_referral(
                    actor,
                    client_id=client.id,
                    service_id=service_id,
                    urgency=need_urgency,
                    data_categories=wanted["data_categories"],
                    consent_id=consent_id,
                    note=wanted.get("note"),
                    bundle_id=bundle.id,
                    need_id=need.id,
                )
            except DomainError as error:  # the same refusal, naming the need and the service
                prefix = f"needs.{index}.service_ids.{service_index}"
                raise type(error)(
                    error.detail,
                    errors={
                        prefix: [
                            m
                            for messages in (error.errors or {"": [error.detail]}).values()
                            for m in messages
                        ]
                    },
                ) from None
    audit.record(
        actor,
        "bundle.created",
        bundle,
        client_reference=client.reference,
        details={
            "needs": len(needs),
            "urgency": {
                need["category"]: value.value for need, value in zip(needs, urgencies, strict=True)
            },
        },
    )
    return bundle


def get_bundle(actor: Actor, bundle_id: uuid.UUID) -> Bundle:
    bundle = db.session.get(Bundle, bundle_id)
    if bundle is None:
        raise NotFound()
    if bundle.sender_agency_id != actor.agency_id and not actor.has_role("coordinator"):
        raise foreign("bundle", bundle.id)
    return bundle


def own_bundle(actor: Actor, bundle_id: uuid.UUID) -> Bundle:
    """The actor's agency's bundle (a coordinator elsewhere follows it on the network pages,
    not on the sender's)."""
    bundle = get_bundle(actor, bundle_id)
    if bundle.sender_agency_id != actor.agency_id:
        raise foreign("bundle", bundle.id)
    return bundle


def referral_in_bundle(actor: Actor, bundle_id: uuid.UUID, referral_id: uuid.UUID) -> Referral:
    """A referral of the actor's agency's bundle, as the sender's pages name it (under its
    bundle): another agency's bundle, or a referral that is not in it, looks missing."""
    bundle = own_bundle(actor, bundle_id)
    referral = referrals.get_referral(actor, referral_id)
    if referral.bundle_id != bundle.id:
        raise NotFound()
    return referral


def describe(bundle: Bundle, now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    needs = []
    limbo_reasons = []
    for need in db.session.scalars(select(Need).where(Need.bundle_id == bundle.id)):
        items = list(
            db.session.scalars(
                select(Referral).where(Referral.need_id == need.id).order_by(Referral.created_at)
            )
        )
        status, hops, why = need_status(items, need.urgency, now)
        if why:
            limbo_reasons.append(limbo_reason(need.category, why))
        needs.append(
            {
                "id": need.id,
                "category": need.category,
                "urgency": need.urgency.value,
                "status": status,
                "hops": hops,
                "referrals": [referrals.describe(item) for item in items],
            }
        )
    statuses = {need["status"] for need in needs}
    overall = (
        "met" if statuses <= {"met"} else "placed" if statuses <= {"met", "placed"} else "open"
    )
    return {
        "id": bundle.id,
        "status": overall,
        "sender_assignee": bundle.sender_assignee_id,
        "in_limbo": bool(limbo_reasons),
        "limbo_reasons": limbo_reasons,
        "needs": needs,
    }


def late_referral(now: Any) -> Any:
    """SQL: an open referral past its deadline — not yet acknowledged past `acknowledge_by`,
    or not yet decided past `respond_by` (the rule `NeedFacts.of_referrals` applies too)."""
    return and_(
        Referral.status.in_([state.value for state in OPEN]),
        or_(
            Referral.respond_by < now,
            and_(Referral.status == State.SENT.value, Referral.acknowledge_by < now),
        ),
    )


def is_late(item: Referral, now: datetime) -> bool:
    if item.status not in OPEN:
        return False
    if item.respond_by is not None and item.respond_by < now:
        return True
    return (
        item.status == State.SENT
        and item.acknowledge_by is not None
        and (item.acknowledge_by < now)
    )


@dataclass(frozen=True)
class NeedFacts:
    """What the need's referrals say, reduced to the few facts its status depends on.

    Gathered either from loaded referrals (`of_referrals`, one bundle on screen) or in SQL
    for many needs at once (`facts_by_need`, the in-limbo queue); both read the same
    state sets, and `classify` is the one rule that turns the facts into a status.
    """

    urgency: Urgency  # the need's own: its hop limit depends on it
    hops: int = 0
    met: bool = False
    placed: bool = False
    waiting: bool = False
    late: bool = False

    @classmethod
    def of_referrals(cls, items: Iterable[Referral], urgency: Urgency, now: datetime) -> NeedFacts:
        items = list(items)
        waiting = [item for item in items if item.status in OPEN]
        return cls(
            urgency=Urgency(urgency),
            hops=sum(1 for item in items if item.status in HOPS),
            met=any(item.status in MET for item in items),
            placed=any(item.status in PLACED for item in items),
            waiting=bool(waiting),
            late=any(is_late(item, now) for item in waiting),
        )


def facts_by_need(
    bundle_ids: Collection[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, NeedFacts]]]:
    """(need id, category, facts) of every need of these bundles, by bundle: one query."""
    if not bundle_ids:
        return {}

    def in_(states: Iterable[State]) -> Any:
        return Referral.status.in_([state.value for state in states])

    def any_where(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    rows = db.session.execute(
        select(
            Need.bundle_id,
            Need.id,
            Need.category,
            Need.urgency,
            func.sum(case((in_(HOPS), 1), else_=0)).label("hops"),
            any_where(in_(MET)).label("met"),
            any_where(in_(PLACED)).label("placed"),
            any_where(in_(OPEN)).label("waiting"),
            any_where(late_referral(now)).label("late"),
        )
        .outerjoin(Referral, Referral.need_id == Need.id)
        .where(Need.bundle_id.in_(list(bundle_ids)))
        .group_by(Need.bundle_id, Need.id, Need.category, Need.urgency)
        .order_by(Need.bundle_id, Need.category)
    ).all()
    found: dict[uuid.UUID, list[tuple[uuid.UUID, str, NeedFacts]]] = {}
    for row in rows:
        facts = NeedFacts(
            urgency=Urgency(row.urgency),
            hops=int(row.hops or 0),
            met=bool(row.met),
            placed=bool(row.placed),
            waiting=bool(row.waiting),
            late=bool(row.late),
        )
        found.setdefault(row.bundle_id, []).append((row.id, row.category, facts))
    return found


def classify(facts: NeedFacts) -> tuple[str, int, str | None]:
    """(status, hops, why it is in limbo or None): the one definition of "in limbo".

    In limbo: waiting past its deadline, or 2+ hops (an emergency need) / 3+ (other), or
    nothing left open without a placement.
    """
    hops = facts.hops
    limit = hop_limit(facts.urgency)
    if facts.met:
        return "met", hops, None
    if facts.placed:
        return "placed", hops, None
    if facts.waiting:
        why = (
            "waiting past its deadline"
            if facts.late
            else (f"{hops} hops" if hops >= limit else None)
        )
        return "pending", hops, why
    why = f"{hops} hops" if hops >= limit else "nothing open"
    return ("unmet" if hops else "searching"), hops, why


def hop_limit(urgency: Urgency | str) -> int:
    """How many hops put a need in limbo: fewer for an emergency, which has no time to lose."""
    return 2 if Urgency(urgency) == Urgency.EMERGENCY else 3


def limbo_reason(category: str, why: str) -> str:
    return f"{category}: {why}"


def need_status(
    items: list[Referral], urgency: Urgency, now: datetime
) -> tuple[str, int, str | None]:
    """(status, hops, why it is in limbo or None) of a need whose referrals are loaded."""
    return classify(NeedFacts.of_referrals(items, urgency, now))
