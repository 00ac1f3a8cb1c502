"""Recording, revoking and expiring consent; and disclosing a client under the policy.

Every read of survivor data by anyone passes `disclose_client`: it asks the consent policy
with the consent *as it is now*, returns only what the policy allows, and records a
`client.pii_viewed` event in the same transaction before returning any PII — if the event
cannot be written, the transaction fails and nothing is returned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from blinker import signal
from flask import current_app
from sqlalchemy import select, update

from referral_hub.agencies.models import Agency
from referral_hub.agencies.outside import owned_by
from referral_hub.agencies.vocabulary import is_law_enforcement
from referral_hub.audit import service as audit
from referral_hub.clients import service as clients
from referral_hub.clients.models import Client
from referral_hub.consent import policy
from referral_hub.consent.models import AccessGrant, Consent
from referral_hub.core import clock
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import NotFound, ValidationFailed
from referral_hub.core.tenancy import foreign
from referral_hub.directory.vocabulary import Category
from referral_hub.extensions import db

# sent with (consent_id, reason, agency_id) after a consent is revoked or expires — or, with
# `agency_id`, withdrawn from that one agency — inside the same transaction: referrals
# subscribe to withdraw what was sent under it (to that agency only, when one is named)
consent_ended = signal("consent-ended")

METHODS = ("written", "electronic", "verbal_attested")
SIGNERS = ("survivor", "representative")
PURPOSES = (*(category.value for category in Category), policy.LAW_ENFORCEMENT_PURPOSE)
MAX_DAYS = 90
DEFAULT_DAYS = 30
SKEW = timedelta(minutes=5)


def facts(consent: Consent | None) -> policy.ConsentFacts | None:
    if consent is None:
        return None
    return policy.ConsentFacts(
        recipients=frozenset(uuid.UUID(agency) for agency in consent.covered_recipients),
        purposes=frozenset(consent.purposes),
        categories=frozenset(consent.data_categories),
        signed_at=consent.signed_at,
        expires_at=consent.expires_at,
        revoked_at=consent.revoked_at,
    )


def _authority_context(consent_id: uuid.UUID) -> str:
    return f"consent.signer_authority:{consent_id}"


def signer_authority(record: Consent) -> str | None:
    """The representative's stated authority, opened from its seal (None once erased)."""
    sealed = record.signer_authority_sealed
    return clients.open_text(record.client_id, sealed, _authority_context(record.id))


def record_consent(
    actor: Actor,
    client_id: uuid.UUID,
    *,
    recipients: list[uuid.UUID],
    purposes: list[str],
    data_categories: list[str],
    method: str,
    signer: str,
    form_version: str,
    form_language: str,
    signed_at: datetime,
    expires_at: datetime | None = None,
    signer_authority: str | None = None,
) -> Consent:
    """Validate everything first; a defective consent stores nothing (422, field named)."""
    client = clients.load_owned(actor, client_id)
    now = clock.now()
    errors: dict[str, list[str]] = {}
    agencies = []
    # besides hub agencies, the owning agency's own organisations not on the hub
    outside = owned_by(client.owner_agency_id, recipients)
    named: list[uuid.UUID] = []
    for index, agency_id in enumerate(recipients):
        agency = db.session.get(Agency, agency_id)
        if agency is not None:
            agencies.append(agency)
            named.append(agency.id)
        elif agency_id in outside:
            named.append(agency_id)
        else:
            errors[f"recipients.{index}"] = ["Unknown agency: consent names agencies, not kinds."]
    if any(is_law_enforcement(agency.kind) for agency in agencies) and (
        policy.LAW_ENFORCEMENT_PURPOSE not in purposes
    ):
        errors["purposes"] = [
            "A law-enforcement recipient needs the law_enforcement_contact purpose, "
            "which the survivor must choose explicitly."
        ]
    if signer == "representative" and not (signer_authority or "").strip():
        errors["signer_authority"] = ["A representative signs under a stated authority."]
    if signed_at > now + SKEW:
        errors["signed_at"] = ["Cannot be in the future."]
    expires_at = expires_at or signed_at + timedelta(days=DEFAULT_DAYS)
    if expires_at <= signed_at:
        errors["expires_at"] = ["Must be after signed_at."]
    elif expires_at - signed_at > timedelta(days=MAX_DAYS):
        errors["expires_at"] = [f"At most {MAX_DAYS} days after signing."]
    elif expires_at <= now:
        errors["expires_at"] = ["Already expired."]
    if errors:
        raise ValidationFailed("The consent is defective; nothing was stored.", errors=errors)
    consent = Consent(
        client_id=client.id,
        owner_agency_id=client.owner_agency_id,
        recipients=sorted({str(recipient) for recipient in named}),
        purposes=sorted(set(purposes)),
        data_categories=sorted(set(data_categories)),
        method=method,
        signer=signer,
        form_version=form_version,
        form_language=form_language,
        signed_at=signed_at,
        expires_at=expires_at,
        recorded_by=actor.id,
    )
    db.session.add(consent)
    db.session.flush()
    if signer_authority is not None and signer_authority.strip():  # stored as given
        consent.signer_authority_sealed = clients.seal_text(
            client.id, signer_authority, _authority_context(consent.id)
        )
    audit.record(
        actor,
        "consent.recorded",
        consent,
        client_reference=client.reference,
        consent_id=consent.id,
        fields=consent.data_categories,
        details={"recipients": consent.recipients, "purposes": consent.purposes},
    )
    return consent


def list_consents(actor: Actor, client_id: uuid.UUID) -> list[Consent]:
    client = clients.load_owned(actor, client_id)
    return list(
        db.session.scalars(
            select(Consent).where(Consent.client_id == client.id).order_by(Consent.recorded_at)
        )
    )


def active_consents(client_id: uuid.UUID) -> list[Consent]:
    """Her consents in force now (not revoked, not past their end), oldest signed first."""
    now = clock.now()
    records = db.session.scalars(
        select(Consent).where(Consent.client_id == client_id).order_by(Consent.signed_at)
    )
    return [record for record in records if record.status(now) == "active"]


def load_owned(actor: Actor, consent_id: uuid.UUID) -> Consent:
    """The owner's own consent; another agency's looks missing (the attempt on record)."""
    consent = db.session.get(Consent, consent_id)
    if consent is None:
        raise NotFound()
    if actor.speaks_for(consent.client_id):
        return consent
    if actor.kind != ActorKind.SYSTEM and consent.owner_agency_id != actor.agency_id:
        raise foreign("consent", consent.id)  # another agency's: 404, the consent on record
    return consent


def revoke_consent(
    actor: Actor, consent_id: uuid.UUID, reason: str, *, agency_id: uuid.UUID | None = None
) -> Consent:
    """Take back a consent — from every agency it names, or (`agency_id`) from that one only,
    the rest staying covered. The one call behind staff revocation and her own at `/me`."""
    consent = load_owned(actor, consent_id)
    client = clients.load_owned(actor, consent.client_id)
    if consent.revoked_at is not None:
        return consent
    remaining = consent.covered_recipients
    if agency_id is not None and str(agency_id) not in remaining:
        raise ValidationFailed(
            "This consent does not cover that agency.",
            errors={"agency_id": ["Not among the agencies this consent still covers."]},
        )
    if agency_id is not None and len(remaining) > 1:
        consent.withdrawn_from = sorted({*(consent.withdrawn_from or ()), str(agency_id)})
        db.session.flush()
        audit.record(
            actor,
            "consent.withdrawn_from_agency",
            consent,
            client_reference=client.reference,
            consent_id=consent.id,
            details={"agency": str(agency_id)},
        )
        consent_ended.send(consent_id=consent.id, reason="revoked", agency_id=agency_id)
        return consent
    consent.revoked_at = clock.now()
    consent.revoked_by = actor.id
    consent.revocation_reason = reason
    db.session.flush()
    audit.record(
        actor,
        "consent.revoked",
        consent,
        client_reference=client.reference,
        consent_id=consent.id,
        details={"recipients": consent.recipients},
    )
    consent_ended.send(consent_id=consent.id, reason="revoked", agency_id=None)
    return consent


def expire_consents() -> int:
    """Periodic: mark consents past `expires_at` (reads already treat them as expired)."""
    from referral_hub.core.actor import SYSTEM

    now = clock.now()
    due = list(
        db.session.scalars(
            select(Consent).where(
                Consent.expires_at <= now,
                Consent.expired_at.is_(None),
                Consent.revoked_at.is_(None),
            )
        )
    )
    for consent in due:
        consent.expired_at = now
        audit.record(SYSTEM, "consent.expired", consent, consent_id=consent.id)
        consent_ended.send(consent_id=consent.id, reason="expired", agency_id=None)
    return len(due)


# --- disclosure -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    client: Client
    categories: frozenset[str]
    consent_id: uuid.UUID | None
    pii: dict[str, Any]
    owner: bool = False
    # the agencies she must never be sent to: her own agency's to know (it keeps the list),
    # no receiver's — an agency on it would learn she fears it
    do_not_refer: list[str] = field(default_factory=list)

    @property
    def profile(self) -> dict[str, Any]:
        """Her non-identifying profile, when it may be read. Each need's urgency stays
        with her own agency: it names her other needs (immigration counsel, health) to a
        service that has no business knowing them; a receiver has its referral's urgency."""
        if "profile" not in self.categories:
            return {}
        profile = dict(self.client.profile or {})
        if not self.owner:
            profile.pop("urgencies", None)
        return profile


def _stage(grant: AccessGrant | None) -> policy.Stage:
    if grant is None:
        return policy.Stage.NONE
    if grant.ended_at is not None:
        return policy.Stage.ENDED
    return policy.Stage.ACCEPTED if grant.accepted else policy.Stage.OFFERED


def _reader(actor: Actor, client: Client) -> policy.Reader:
    owner = actor.kind == ActorKind.SYSTEM or client.owner_agency_id == actor.agency_id
    return _agency_reader(actor.agency_id, owner=owner)


def _agency_reader(agency_id: uuid.UUID | None, *, owner: bool = False) -> policy.Reader:
    agency = db.session.get(Agency, agency_id) if agency_id else None
    return policy.Reader(
        agency_id=agency_id or uuid.UUID(int=0),
        is_owner=owner,
        is_law_enforcement=agency is not None and is_law_enforcement(agency.kind),
    )


def _through(
    grant: AccessGrant, reader: policy.Reader, now: datetime, *, if_accepted: bool = False
) -> tuple[frozenset[str], uuid.UUID | None]:
    """The one rule asked for one grant: what the reader reads through it (or would, once an
    open referral is accepted), and under which consent."""
    record = db.session.get(Consent, grant.consent_id) if grant.consent_id else None
    stage = _stage(grant)
    if if_accepted and stage == policy.Stage.OFFERED:
        stage = policy.Stage.ACCEPTED
    categories = policy.readable(
        facts(record), reader, stage, now, shared=grant.data_categories, purpose=grant.purpose
    )
    return categories, record.id if record else None


def _through_all(
    reader: policy.Reader,
    client_id: uuid.UUID,
    referral_id: str | None = None,
    *,
    if_accepted: bool = False,
) -> tuple[frozenset[str], uuid.UUID | None]:
    """Through one referral, or all of the agency's referrals of her (each shares only its own
    categories): the union, and the consent of the newest referral that gives anything."""
    statement = select(AccessGrant).where(
        AccessGrant.client_id == client_id, AccessGrant.agency_id == reader.agency_id
    )
    if referral_id is not None:
        statement = statement.where(AccessGrant.referral_id == referral_id)
    statement = statement.order_by(
        AccessGrant.ended_at.is_(None).desc(), AccessGrant.opened_at.desc()
    )
    now = clock.now()
    categories: frozenset[str] = policy.NOTHING
    consent_id = None
    for grant in db.session.scalars(statement):
        through, record = _through(grant, reader, now, if_accepted=if_accepted)
        if through and consent_id is None:
            consent_id = record
        categories |= through
    return categories, consent_id


def readable_now(
    actor: Actor, client: Client, referral_id: str | None = None
) -> tuple[frozenset[str], uuid.UUID | None]:
    """What the actor may read of her now (through one referral when named), and under which
    consent. Reads nothing and records nothing."""
    reader = _reader(actor, client)
    if reader.is_owner:
        everything = policy.readable(
            None, reader, policy.Stage.NONE, clock.now(), shared=(), purpose=None
        )
        return everything, None
    return _through_all(reader, client.id, referral_id)


def receiver_reads(
    agency_id: uuid.UUID, client_id: uuid.UUID
) -> tuple[frozenset[str], frozenset[str]]:
    """For the survivor's receipt: what this agency reads of her now — exactly what its
    `GET /clients/{id}` gives — and what it would read once it accepts what is still open
    (the same rule, asked at the accepted stage)."""
    reader = _agency_reader(agency_id)
    now, _ = _through_all(reader, client_id)
    later, _ = _through_all(reader, client_id, if_accepted=True)
    return now, later


def disclose_client(
    actor: Actor, client_id: uuid.UUID, referral_id: str | None = None
) -> Disclosure:
    """What this actor may see of this client now (through one referral when named) —
    audited before any PII leaves."""
    client = clients.load_client(client_id)
    categories, consent_id = readable_now(actor, client, referral_id)
    if not categories:
        raise foreign("client", client.id)
    owner = client.owner_agency_id == actor.agency_id or actor.kind == ActorKind.SYSTEM
    pii = clients.unseal(client, set(categories))
    shown = sorted(categories & policy.PII_CATEGORIES & clients.present_categories(client))
    if shown:  # the record first, then the data: no event, no PII
        audit.record(
            actor,
            "client.pii_viewed",
            client,
            client_reference=client.reference,
            fields=shown,
            consent_id=consent_id,
            details={"as": "owner" if owner else "recipient"},
        )
    keeps_list = client.owner_agency_id == actor.agency_id
    return Disclosure(
        client,
        categories,
        consent_id,
        pii,
        owner=owner,
        do_not_refer=list(client.do_not_refer or []) if keeps_list else [],
    )


def open_grant(
    client_id: uuid.UUID,
    agency_id: uuid.UUID,
    consent_id: uuid.UUID | None,
    referral_id: str,
    *,
    shared: list[str],
    purpose: str,
) -> AccessGrant:
    """For referrals: a receiver's window onto what this referral shared, for the service's
    purpose (profile only until accepted)."""
    grant = AccessGrant(
        client_id=client_id,
        agency_id=agency_id,
        consent_id=consent_id,
        referral_id=referral_id,
        data_categories=sorted(set(shared)),
        purpose=purpose,
    )
    db.session.add(grant)
    return grant


def set_grant(referral_id: str, *, accepted: bool | None = None, ended: bool = False) -> None:
    values: dict[str, Any] = {}
    if accepted is not None:
        values["accepted"] = accepted
    if ended:
        values["ended_at"] = clock.now()
    db.session.execute(
        update(AccessGrant)
        .where(AccessGrant.referral_id == referral_id, AccessGrant.ended_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def disclosures(actor: Actor, client_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every view or receipt of her data, from the audit chain (owner only)."""
    client = clients.load_owned(actor, client_id)
    from referral_hub.audit.models import AuditEvent

    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.client_reference == client.reference,
            AuditEvent.action.in_(("client.pii_viewed", "referral.sent", "referral.accepted")),
        )
        .order_by(AuditEvent.seq)
    )
    return [
        {
            "at": event.at,
            "agency": event.actor_agency_id,
            "user": event.actor_id,
            "action": event.action,
            "data_categories": list(event.fields),
            "consent_id": event.consent_id,
        }
        for event in events
    ]


# --- erasure --------------------------------------------------------------------------------


def erase_client(actor: Actor, client_id: uuid.UUID, reason: str) -> Client:
    """Crypto-shred her PII: sealed fields cleared, her data key destroyed after commit.

    Open grants end and active consents are revoked in the same transaction. What remains
    is her reference and the audit events, which never held PII.
    """
    from referral_hub.core import keystore
    from referral_hub.core.db import after_commit

    client = clients.load_owned(actor, client_id)
    if client.erased_at is not None:
        return client
    now = clock.now()
    for category in clients.SEALED:
        setattr(client, category, None)
    client.erased_at = now
    for record in db.session.scalars(
        select(Consent).where(Consent.client_id == client.id, Consent.revoked_at.is_(None))
    ):
        record.revoked_at, record.revoked_by, record.revocation_reason = now, actor.id, "erased"
        consent_ended.send(consent_id=record.id, reason="erased", agency_id=None)
    db.session.execute(
        update(AccessGrant)
        .where(AccessGrant.client_id == client.id, AccessGrant.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    audit.record(
        actor,
        "client.erased",
        client,
        client_reference=client.reference,
        details={"reason": reason[:100]},
    )
    doomed = client.id
    after_commit(db.session, lambda: keystore.destroy([doomed]))
    return client


def erasure_sweep() -> int:
    """Periodic: finish erasures (destroy keys still present) and erase clients whose last
    referral ended ERASE_AFTER_DAYS ago with no active consent and nothing open."""
    from referral_hub.core import keystore
    from referral_hub.core.actor import SYSTEM
    from referral_hub.core.db import after_commit

    erased = [
        row for row in db.session.scalars(select(Client.id).where(Client.erased_at.is_not(None)))
    ]
    if erased:
        ids = list(erased)
        after_commit(db.session, lambda: keystore.destroy(ids))
    cutoff = clock.now() - timedelta(days=current_app.config["ERASE_AFTER_DAYS"])
    count = 0
    for client in db.session.scalars(select(Client).where(Client.erased_at.is_(None))):
        grants = list(
            db.session.scalars(select(AccessGrant).where(AccessGrant.client_id == client.id))
        )
        if not grants or any(grant.ended_at is None or grant.ended_at > cutoff for grant in grants):
            continue
        consents = db.session.scalars(select(Consent).where(Consent.client_id == client.id))
        if any(record.status(clock.now()) == "active" for record in consents):
            continue
        erase_client(SYSTEM, client.id, "retention period over")
        count += 1
    return count
