"""Her private access code: issued by her agency, checked at her door, locked on abuse.

The code is 80 random bits shown once (on the safe receipt) and kept only as SHA-256; her
PIN, chosen at intake, only as argon2. Both are needed. Every failure looks the same from
outside — unknown code, wrong PIN, locked, voided, expired or erased — and costs the same
(an argon2 check happens even for an unknown code). A code locks after
SURVIVOR_CODE_FAILURES wrong PINs in a row, for SURVIVOR_CODE_LOCK_MINUTES; its agency is
told, with nothing about her in the e-mail. Addresses are rate limited apart (shared by
every process through Redis in production). The code itself is never logged or audited.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select, update

from referral_hub.agencies.service import email_staff, password_hasher
from referral_hub.audit import service as audit
from referral_hub.auth import ratelimit
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent.models import Consent
from referral_hub.core import clock
from referral_hub.core.actor import ANONYMOUS, SYSTEM, Actor, survivor_actor
from referral_hub.core.errors import Conflict, ValidationFailed
from referral_hub.extensions import db
from referral_hub.survivor.models import SurvivorAccess

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 signs, none read two ways (0/O, 1/I)
GROUPS, GROUP_LENGTH = 4, 4  # 16 signs: 80 bits
PIN = re.compile(r"^[0-9]{4,8}$")


def new_code() -> str:
    signs = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(signs[i : i + GROUP_LENGTH] for i in range(0, len(signs), GROUP_LENGTH))


def normalise(code: str) -> str:
    """What she typed, as issued: case, spaces and dashes do not matter."""
    return "".join(sign for sign in code.upper() if sign.isalnum())


def digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    access: SurvivorAccess
    code: str  # shown once, never stored


def issue_code(
    actor: Actor, client_id: uuid.UUID, pin: str, *, safe_to_carry_only: bool = False
) -> Issued:
    """A new code for her (the owning agency only); any earlier code stops working."""
    client = clients.load_owned(actor, client_id, lock=True)
    if actor.speaks_for(client.id):
        raise Conflict("Only her agency issues her access code.")
    if client.erased_at is not None:
        raise Conflict("This record was erased: there is nothing left to give access to.")
    if not PIN.match(pin or ""):
        raise ValidationFailed(
            "The PIN is not valid; no code was issued.",
            errors={"pin": ["Four to eight digits, chosen by her."]},
        )
    voided = _void(client.id, "reissued")
    code = new_code()
    access = SurvivorAccess(
        client_id=client.id,
        owner_agency_id=client.owner_agency_id,
        code_digest=digest(code),
        pin_hash=password_hasher().hash(pin),
        safe_to_carry_only=safe_to_carry_only,
        issued_by=actor.id,
    )
    db.session.add(access)
    db.session.flush()
    audit.record(
        actor,
        "survivor_access.issued",
        access,
        client_reference=client.reference,
        details={"replaced": voided, "safe_to_carry_only": safe_to_carry_only},
    )
    return Issued(access, code)


def _void(client_id: uuid.UUID, reason: str) -> int:
    result = db.session.execute(
        update(SurvivorAccess)
        .where(SurvivorAccess.client_id == client_id, SurvivorAccess.voided_at.is_(None))
        .values(voided_at=clock.now(), void_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def current_access(actor: Actor, client_id: uuid.UUID) -> SurvivorAccess | None:
    """Her agency's view: the code in force (never the code itself), if any."""
    client = clients.load_owned(actor, client_id)
    return db.session.scalar(
        select(SurvivorAccess)
        .where(SurvivorAccess.client_id == client.id, SurvivorAccess.voided_at.is_(None))
        .order_by(SurvivorAccess.issued_at.desc())
        .limit(1)
    )


def works_until(access: SurvivorAccess) -> datetime:
    """Her last consent's end (revoked or expired) plus the grace days; from issue when she
    has none. Erasure ends it at once (see `usable`)."""
    ends = db.session.scalars(
        select(func.coalesce(Consent.revoked_at, Consent.expires_at)).where(
            Consent.client_id == access.client_id
        )
    ).all()
    latest = max([access.issued_at, *ends])
    return latest + timedelta(days=current_app.config["SURVIVOR_CODE_GRACE_DAYS"])


def usable(access: SurvivorAccess | None, now: datetime) -> bool:
    if access is None or access.voided_at is not None:
        return False
    client = db.session.get(Client, access.client_id)
    if client is None or client.erased_at is not None:
        return False
    return now < works_until(access)


class SignInRefused(Exception):
    """One answer for every failure: nothing tells a wrong PIN from an unknown code."""


def sign_in(code: str, pin: str, address: str) -> SurvivorAccess:
    """Check code and PIN; count and record a failure (in the caller's transaction, which
    commits it with the refusal page). Raises RateLimited past the address allowance."""
    config = current_app.config
    address_key = f"me:ip:{address}"
    window = config["SURVIVOR_ADDRESS_WINDOW_SECONDS"]
    ratelimit.refuse_if_exhausted(
        [address_key], config["SURVIVOR_ADDRESS_FAILURES_PER_WINDOW"], window, "attempts"
    )
    now = clock.now()
    access = db.session.scalar(
        select(SurvivorAccess)
        .where(SurvivorAccess.code_digest == digest(code or ""))
        .with_for_update()
    )
    pin_ok = _pin_matches(access.pin_hash if access else _decoy(), pin or "")
    if access is not None and access.locked_until is not None and access.locked_until <= now:
        access.locked_until, access.failures = None, 0  # the lock ran out: a fresh start
    locked = access is not None and access.locked_until is not None
    if access is None or locked or not pin_ok or not usable(access, now):
        ratelimit.count([address_key], window)
        if access is not None and not locked and not pin_ok and access.voided_at is None:
            _count_wrong_pin(access, now)
        audit.record(ANONYMOUS, "survivor.sign_in_failed", outcome="failure")
        raise SignInRefused()
    access.failures, access.last_signed_in_at = 0, now
    client = db.session.get(Client, access.client_id)
    audit.record(
        survivor_actor(access.client_id),
        "survivor.signed_in",
        access,
        client_reference=client.reference if client else None,
    )
    return access


@functools.cache
def _decoy_for(time_cost: int, memory_kib: int) -> str:
    return password_hasher().hash(secrets.token_urlsafe(16))


def _decoy() -> str:
    """A hash of a PIN nobody has, at today's cost: checked when the code is unknown, so an
    unknown code takes as long to refuse as a wrong PIN."""
    config = current_app.config
    return _decoy_for(config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"])


def _pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        return bool(password_hasher().verify(pin_hash, pin))
    except (VerificationError, InvalidHashError):
        return False


def _count_wrong_pin(access: SurvivorAccess, now: datetime) -> None:
    """The row is held locked by the caller: parallel guesses are counted one at a time."""
    config = current_app.config
    access.failures += 1
    if access.failures < config["SURVIVOR_CODE_FAILURES"]:
        return
    access.locked_until = now + timedelta(minutes=config["SURVIVOR_CODE_LOCK_MINUTES"])
    client = db.session.get(Client, access.client_id)
    audit.record(
        SYSTEM,
        "survivor_access.locked",
        access,
        client_reference=client.reference if client else None,
        details={"failures": access.failures},
    )
    email_staff(access.owner_agency_id, {"intake", "agency_admin"}, "survivor_code_locked")


def is_locked(access: SurvivorAccess | None) -> bool:
    return bool(access and access.locked_until and access.locked_until > clock.now())


def still_signed_in(access_id: uuid.UUID) -> SurvivorAccess | None:
    """The access behind her session, if it still works (voided, erased, expired: None)."""
    access = db.session.get(SurvivorAccess, access_id)
    return access if usable(access, clock.now()) else None
