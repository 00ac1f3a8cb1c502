"""Creating client records and sealing / opening their PII. Reading *as someone else*
goes through consent.service, which asks the consent policy first."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select

from referral_hub.agencies.models import Agency
from referral_hub.audit import service as audit
from referral_hub.clients.models import Client
from referral_hub.core import clock, envelope, keystore
from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from referral_hub.core.tenancy import foreign
from referral_hub.extensions import db

# API "pii" keys → the sealed column (data category) that holds them
PII_FIELDS = {
    "name": "identity",
    "dob": "identity",
    "contact": "contact",
    "narrative": "narrative",
    "immigration": "immigration",
    "health": "health",
    "justice": "justice",
}
MAX_AGE = 120  # years: the profile's age ranges end at "60 or older", the search at 120
SEALED = ("identity", "contact", "narrative", "immigration", "health", "justice")
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over a phone


def new_reference() -> str:
    return (
        "C-"
        + "".join(secrets.choice(_ALPHABET) for _ in range(4))
        + "-"
        + "".join(secrets.choice(_ALPHABET) for _ in range(4))
    )


def _reference_taken(reference: str) -> bool:
    return db.session.scalar(select(Client.id).where(Client.reference == reference)) is not None


def _unused_reference() -> str:
    """A fresh reference; a rare clash with an existing one just draws again."""
    for _ in range(5):
        reference = new_reference()
        if not _reference_taken(reference):
            return reference
    raise RuntimeError("five client references in a row were taken: widen new_reference()")


def _context(client_id: uuid.UUID, category: str) -> str:
    return f"client.{category}:{client_id}"


def create_client(
    actor: Actor,
    *,
    reference: str | None = None,
    profile: dict[str, Any] | None = None,
    pii: dict[str, Any] | None = None,
    do_not_refer: list[uuid.UUID] | None = None,
) -> Client:
    if (
        actor.kind not in (ActorKind.USER, ActorKind.CLIENT, ActorKind.SYSTEM)
        or actor.agency_id is None
    ):
        raise Forbidden("Clients are recorded by an agency.")
    for index, agency_id in enumerate(do_not_refer or []):
        if db.session.get(Agency, agency_id) is None:
            raise ValidationFailed(errors={f"do_not_refer.{index}": ["Unknown agency."]})
    _check_birth_date((pii or {}).get("dob"))
    if reference is None:
        reference = _unused_reference()
    elif _reference_taken(reference):
        raise Conflict("That reference is taken.", errors={"reference": ["Already used."]})
    client = Client(
        id=uuid.uuid4(),
        reference=reference,
        owner_agency_id=actor.agency_id,
        profile=dict(profile or {}),
        do_not_refer=[str(agency_id) for agency_id in do_not_refer or []],
        created_by=actor.id,
    )
    her_key = envelope.new_data_key()
    keystore.put(client.id, *envelope.wrap(her_key))  # stored first: never data without its key
    _seal(client, her_key, pii or {})
    db.session.add(client)
    db.session.flush()
    audit.record(
        actor,
        "client.created",
        client,
        client_reference=client.reference,
        fields=sorted(
            {PII_FIELDS[key] for key in (pii or {})} | ({"profile"} if profile else set())
        ),
    )
    return client


def discard_new_client_key(client_id: uuid.UUID) -> None:
    """A client created in a request that is being refused (its transaction rolls back):
    her key, stored first and on its own, goes too, so the refusal leaves nothing behind."""
    keystore.destroy([client_id])


def _check_birth_date(dob: date | str | None) -> None:
    """A date of birth that makes sense: not in the future, not over 120 years ago (the
    API's schema gives a date; callers inside the hub may hand its ISO text)."""
    if isinstance(dob, str):
        try:
            dob = date.fromisoformat(dob)
        except ValueError:
            raise ValidationFailed(errors={"pii.dob": ["Not a valid date."]}) from None
    if dob is None:
        return
    today = clock.now().date()
    if dob > today:
        raise ValidationFailed(errors={"pii.dob": ["A date of birth cannot be in the future."]})
    if dob < today.replace(year=today.year - MAX_AGE, day=min(today.day, 28)):
        raise ValidationFailed(
            errors={"pii.dob": [f"That is over {MAX_AGE} years ago: check the year."]}
        )


def urgency_for(client: Client, category: str) -> str | None:
    """How urgent her need of this category is, as intake recorded it (that need's own,
    else her overall urgency); None when it was never asked."""
    profile = client.profile or {}
    own = (profile.get("urgencies") or {}).get(category)
    return str(own or profile.get("urgency") or "") or None


def _seal(client: Client, her_key: bytes, pii: dict[str, Any]) -> None:
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in pii.items():
        grouped.setdefault(PII_FIELDS[name], {})[name] = value
    for category, values in grouped.items():
        _seal_category(client, her_key, category, values)


def _seal_category(client: Client, her_key: bytes, category: str, values: dict[str, Any]) -> None:
    plain = json.dumps(values, default=str).encode()  # dates as ISO text
    setattr(client, category, envelope.seal(her_key, plain, _context(client.id, category)))


def load_client(client_id: uuid.UUID, *, lock: bool = False) -> Client:
    """`lock` holds her row to the end of the transaction: decisions that depend on her
    other records (one open referral per service) are then taken one at a time."""
    if lock:
        client = db.session.scalar(
            select(Client)
            .where(Client.id == client_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        client = db.session.get(Client, client_id)
    if client is None:
        raise NotFound()
    return client


def load_owned(actor: Actor, client_id: uuid.UUID, *, lock: bool = False) -> Client:
    """The owner's own client (or the survivor's own record, at her door); anyone else's
    looks missing."""
    client = load_client(client_id, lock=lock)
    if actor.speaks_for(client.id):
        return client
    if actor.kind != ActorKind.SYSTEM and client.owner_agency_id != actor.agency_id:
        raise foreign("client", client.id)
    return client


def set_contact_preference(actor: Actor, client_id: uuid.UUID, how: str | None) -> Client:
    """How she wants to be reached (`None`: do not contact me), sealed with her contact data
    so exactly the agencies that may read `contact` see it."""
    client = load_owned(actor, client_id, lock=True)
    key = data_key(client.id)
    if key is None or client.erased_at is not None:
        raise Conflict("This record was erased.")
    values = unseal(client, {"contact"})
    if how is None:
        values.pop("contact_preference", None)
        values["do_not_contact"] = True
    else:
        values.pop("do_not_contact", None)
        values["contact_preference"] = how
    _seal_category(client, key, "contact", values)
    db.session.flush()
    audit.record(
        actor,
        "client.contact_preference_set",
        client,
        client_reference=client.reference,
        fields=["contact"],
    )
    return client


def data_key(client_id: uuid.UUID) -> bytes | None:
    """Her own data key, unwrapped; None once it was destroyed (she was erased)."""
    stored = keystore.get(client_id)
    return None if stored is None else envelope.unwrap(*stored)


def seal_text(client_id: uuid.UUID, text: str, context: str) -> bytes | None:
    """Free text about her (an outcome, a representative's authority), sealed under her data
    key and bound to `context` (row and field); None when her key is gone (erased)."""
    key = data_key(client_id)
    return None if key is None else envelope.seal(key, text.encode(), context)


def present_categories(client: Client) -> frozenset[str]:
    """The sealed categories that hold something for her (none once she is erased)."""
    return frozenset(category for category in SEALED if getattr(client, category) is not None)


def open_text(client_id: uuid.UUID, sealed: bytes | None, context: str) -> str | None:
    """What `seal_text` sealed; None when nothing was, or her key is gone (erased)."""
    if sealed is None:
        return None
    key = data_key(client_id)
    return None if key is None else envelope.open_sealed(key, sealed, context).decode()


def unseal(client: Client, categories: set[str]) -> dict[str, Any]:
    """The PII values of `categories` (only the caller decides who may see them)."""
    wanted = [
        category for category in SEALED if category in categories and getattr(client, category)
    ]
    if not wanted:
        return {}
    key = data_key(client.id)
    if key is None:
        raise envelope.Undecryptable("this client's data key was destroyed (erased)")
    values: dict[str, Any] = {}
    for category in wanted:
        plain = envelope.open_sealed(key, getattr(client, category), _context(client.id, category))
        values.update(json.loads(plain))
    return values
