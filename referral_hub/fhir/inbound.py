"""A clinic's Task (with its ServiceRequest, Consent and Patient) turned into calls of the
hub's own services: create the client, record the consent, send the referral — the same
functions the JSON API calls, in the request's one transaction, so a refusal stores nothing.

Only mapping lives here. Every rule (consent naming the receiver, covering the purpose and the
categories, expiry limits, do-not-refer, capacity) is the services'; their field names are
translated into FHIR expressions on the way out.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.task import Task
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError
from pydantic import ValidationError as ModelError

from referral_hub.clients import service as clients
from referral_hub.clients.schemas import ClientCreateArgs
from referral_hub.consent import service as consent
from referral_hub.consent.schemas import ConsentCreateArgs
from referral_hub.core import clock
from referral_hub.core.actor import Actor
from referral_hub.core.errors import DomainError, MalformedRequest, ValidationFailed
from referral_hub.core.schemas import flatten_messages
from referral_hub.directory import service as directory
from referral_hub.fhir import codes
from referral_hub.referrals import service as referrals
from referral_hub.referrals.schemas import ReferralCreateArgs, TransitionArgs
from referral_hub.referrals.states import DECLINE_REASONS, UNFINISHED_REASONS, State

if TYPE_CHECKING:
    from referral_hub.referrals.models import Referral

# the services' field names, as the element of the clinic's resources they came from
EXPRESSIONS = {
    "service_id": "ServiceRequest.performer",
    "consent_id": "ServiceRequest.supportingInfo",
    "client_id": "Task.for",
    "urgency": "Task.priority",
    "data_categories": "Consent.provision.class",
    "recipients": "Consent.provision.actor",
    "purposes": "Consent.provision.purpose",
    "signed_at": "Consent.dateTime",
    "expires_at": "Consent.provision.period.end",
    "form_language": "Consent.sourceAttachment.language",
    "signer_authority": "Consent.performer",
    "reason": "Task.statusReason",
    "note": "Task.statusReason.text",
    "form_version": "Consent.sourceAttachment.title",
    "pii.name": "Patient.name",
    "pii.dob": "Patient.birthDate",
    "pii.contact": "Patient.telecom",
    "profile.language": "Patient.communication.language",
    "profile.gender": "Patient.gender",
}
# a reference as FHIR writes one: contained, relative, a Bundle's urn:uuid, or absolute
REFERENCE = re.compile(
    r"^(#[A-Za-z0-9\-.]{1,64}|[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}"
    r"|urn:uuid:[0-9a-fA-F-]{36}|https?://[^\s]{1,2000})$"
)
GENDERS = {"female": "female", "male": "male", "other": "nonbinary", "unknown": "undisclosed"}


def _expression(field: str) -> str:
    if field in EXPRESSIONS:
        return EXPRESSIONS[field]
    head, _, rest = field.partition(".")
    mapped = EXPRESSIONS.get(head)
    if mapped is None:
        return field
    return f"{mapped}.{rest}" if rest else mapped


def translated(error: DomainError) -> DomainError:
    """The same refusal, naming the clinic's elements instead of the hub's fields."""
    if error.errors:
        error.errors = {_expression(field): messages for field, messages in error.errors.items()}
    return error


def _load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Through the JSON API's own input schema: the same limits whichever door she came by."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except SchemaError as error:
        raise ValidationFailed(errors=flatten_messages(error.messages)) from None
    return loaded


def _invalid(expression: str, message: str) -> ValidationFailed:
    return ValidationFailed("The Task cannot be taken as sent.", errors={expression: [message]})


def parse_model(document: Any) -> Task | Bundle:
    """Structure first: the body must be a Task or a transaction Bundle that the R4B models
    parse; a model error is a malformed body (400), naming the element."""
    kind = document.get("resourceType") if isinstance(document, dict) else None
    model: type[Task] | type[Bundle]
    if kind == "Task":
        model = Task
    elif kind == "Bundle":
        model = Bundle
    else:
        raise MalformedRequest(
            "Send a Task (or a transaction Bundle holding one).",
            errors={"resourceType": ["Expected Task or Bundle."]},
        )
    _known_types(document, kind)
    try:
        return model.model_validate(document)
    except ModelError as error:
        problems: dict[str, list[str]] = {}
        for item in error.errors()[:20]:
            where = ".".join(str(part) for part in item["loc"] if part != "__root__")
            problems.setdefault(f"{kind}.{where}" if where else kind, []).append(
                "Not valid FHIR R4 here."
            )
        raise MalformedRequest("The resource does not parse as FHIR R4.", errors=problems) from None


def _known_types(document: dict[str, Any], kind: str) -> None:
    """Every resource inside (contained, or a Bundle's entries) names an R4B resource type:
    the models would fail on any other in ways that are not validation errors."""
    contained = document.get("contained")
    inner = [("contained", item) for item in (contained if isinstance(contained, list) else [])]
    if kind == "Bundle" and isinstance(document.get("entry"), list):
        inner += [
            ("entry.resource", entry.get("resource"))
            for entry in document["entry"]
            if isinstance(entry, dict) and entry.get("resource") is not None
        ]
    for where, item in inner:
        name = item.get("resourceType") if isinstance(item, dict) else None
        try:
            get_fhir_model_class(name if isinstance(name, str) else "")
        except ValueError:
            raise MalformedRequest(
                "The resource does not parse as FHIR R4.",
                errors={f"{kind}.{where}.resourceType": ["Not a FHIR resource type."]},
            ) from None


class Resolver:
    """Finds what a Task's references point at: contained (`#id`), another entry of the
    transaction Bundle (its fullUrl or `Type/id`), or — for Patient and Consent — a record
    already in the hub (`Patient/<client id>`, `Consent/<consent id>`)."""

    def __init__(self, task: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        self.contained = {item.get("id"): item for item in task.get("contained") or []}
        self.entries: dict[str, dict[str, Any]] = {}
        for entry in entries:
            resource = entry.get("resource") or {}
            if entry.get("fullUrl"):
                self.entries[entry["fullUrl"]] = resource
            if resource.get("id"):
                self.entries[f"{resource.get('resourceType')}/{resource['id']}"] = resource

    def find(self, reference: dict[str, Any] | None, kind: str, where: str) -> tuple[Any, str]:
        """(resource dict, "") when sent along; (None, id) when it names a hub record."""
        target = (reference or {}).get("reference")
        if not target:
            raise _invalid(where, f"A reference to a {kind} is required.")
        if target.startswith("#"):
            found = self.contained.get(target[1:])
        else:
            found = self.entries.get(target)
        if found is not None:
            if found.get("resourceType") != kind:
                raise _invalid(where, f"Must reference a {kind}.")
            return found, ""
        prefix = f"{kind}/"
        if target.startswith(prefix):
            return None, target[len(prefix) :]
        raise _invalid(where, f"Must reference a {kind}.")


def _uuid(text: str, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise _invalid(where, "Not an id this hub issued.") from None


def _codes(concepts: list[dict[str, Any]] | None, system: str) -> list[str]:
    return [
        coding["code"]
        for concept in concepts or []
        for coding in concept.get("coding") or []
        if coding.get("system") == system and coding.get("code")
    ]


def _moment(value: str | None, where: str) -> datetime | None:
    """A FHIR date or dateTime as an aware UTC moment (a bare date: its start, UTC)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(where, "Not a date or dateTime.") from None
    if moment.tzinfo is None:
        raise _invalid(where, "A dateTime with a time needs its time zone.")
    return moment.astimezone(UTC)


# --- the Task -------------------------------------------------------------------------------


def _task_of(parsed: Task | Bundle, document: dict[str, Any]) -> tuple[dict[str, Any], Resolver]:
    if isinstance(parsed, Task):
        return document, Resolver(document, [])
    if document.get("type") not in ("transaction", "batch", "collection"):
        raise _invalid("Bundle.type", "Send a transaction Bundle.")
    entries = document.get("entry") or []
    tasks = [
        e["resource"] for e in entries if (e.get("resource") or {}).get("resourceType") == "Task"
    ]
    if len(tasks) != 1:
        raise _invalid("Bundle.entry", "Exactly one Task per Bundle.")
    return tasks[0], Resolver(tasks[0], entries)


def _check_profile_rules(task: dict[str, Any]) -> None:
    """The guide's fixed values for a referral Task: intent order, code fulfill."""
    if task.get("intent") != "order":
        raise _invalid("Task.intent", "A referral Task has intent = order.")
    if "fulfill" not in _codes([task.get("code") or {}], codes.TASK_CODE):
        raise _invalid("Task.code", f"A referral Task has code = {codes.TASK_CODE}#fulfill.")
    if task.get("status") not in ("requested", "draft"):
        raise _invalid("Task.status", "A new referral Task is requested (or draft).")


def _patient(actor: Actor, resolver: Resolver, task: dict[str, Any]) -> uuid.UUID | dict[str, Any]:
    """The sender's own client named (its id), or the new client's fields, checked."""
    found, ident = resolver.find(task.get("for"), "Patient", "Task.for")
    if found is None:  # one of the sender's own clients
        return clients.load_owned(actor, _uuid(ident, "Task.for")).id
    profile: dict[str, Any] = {}
    pii: dict[str, Any] = {}
    if "gender" in found:
        if found["gender"] not in GENDERS:
            raise _invalid("Patient.gender", "One of male, female, other, unknown.")
        profile["gender"] = GENDERS[found["gender"]]
    languages = [
        coding.get("code")
        for item in found.get("communication") or []
        for coding in (item.get("language") or {}).get("coding") or []
        if coding.get("code")
    ]
    if languages:
        profile["language"] = languages[0]
    names = found.get("name") or []
    if names:
        first = names[0]
        text = first.get("text") or " ".join(
            [*(first.get("given") or []), first.get("family") or ""]
        )
        if text.strip():
            pii["name"] = text.strip()
    if found.get("birthDate"):
        pii["dob"] = found["birthDate"]
    contacts = [item["value"] for item in found.get("telecom") or [] if item.get("value")]
    if contacts:
        pii["contact"] = "; ".join(contacts)
    return _load(ClientCreateArgs(), {"profile": profile, "pii": pii})


def _consent(
    resolver: Resolver, request: dict[str, Any], receiver: uuid.UUID, purpose: str
) -> uuid.UUID | dict[str, Any] | None:
    """No consent; one already recorded (its id); or the new consent's fields, checked."""
    references = request.get("supportingInfo") or []
    for item in references:  # others (an Observation, say) are not the hub's to read
        if not REFERENCE.match(str(item.get("reference") or "")):
            raise _invalid("ServiceRequest.supportingInfo", "Not a FHIR reference.")
    consents = [
        item
        for item in references
        if str(item.get("reference", "")).startswith(("#", "Consent/", "urn:"))
    ]
    if not consents:
        return None
    found, ident = resolver.find(consents[0], "Consent", "ServiceRequest.supportingInfo")
    if found is None:
        return _uuid(ident, "ServiceRequest.supportingInfo")
    if found.get("status") != "active":
        raise _invalid("Consent.status", "Only an active consent can carry a referral.")
    provision = found.get("provision") or {}
    recipients = []
    for actor_entry in provision.get("actor") or []:
        target = str((actor_entry.get("reference") or {}).get("reference") or "")
        if not target.startswith("Organization/"):  # she consents to named agencies only
            raise _invalid("Consent.provision.actor", "Name the hub's agencies: Organization/{id}.")
        recipients.append(_uuid(target[len("Organization/") :], "Consent.provision.actor"))
    recipients = recipients or [receiver]  # none named: the guide's example names none
    purposes = [
        coding["code"]
        for coding in provision.get("purpose") or []
        if coding.get("system") == codes.SERVICE_CATEGORY and coding.get("code")
    ] or [purpose]
    categories = [
        coding["code"]
        for coding in provision.get("class") or []
        if coding.get("system") == codes.DATA_CATEGORY and coding.get("code")
    ] or ["profile"]
    attachment = found.get("sourceAttachment") or {}
    period = provision.get("period") or {}
    signed_at = _moment(found.get("dateTime"), "Consent.dateTime") or clock.now()
    expires_at = _moment(period.get("end"), "Consent.provision.period.end")
    return _load(
        ConsentCreateArgs(),
        {
            "recipients": [str(agency) for agency in recipients],
            "purposes": purposes,
            "data_categories": categories,
            "method": "written" if attachment else "electronic",
            "signer": "survivor",
            "form_version": (attachment.get("title") or "fhir")[:40],
            "form_language": attachment.get("language") or "en",
            "signed_at": signed_at.isoformat(),
            **({"expires_at": expires_at.isoformat()} if expires_at else {}),
        },
    )


def create_referral(actor: Actor, document: dict[str, Any]) -> Referral:
    """POST /fhir/Task: the clinic's referral, all or nothing."""
    parsed = parse_model(document)
    task, resolver = _task_of(parsed, document)
    _check_profile_rules(task)
    request, _ident = resolver.find(task.get("focus"), "ServiceRequest", "Task.focus")
    if request is None:
        raise _invalid("Task.focus", "Send the ServiceRequest with the Task (contained).")
    performers = [
        item["reference"][len("HealthcareService/") :]
        for item in request.get("performer") or []
        if str(item.get("reference", "")).startswith("HealthcareService/")
    ]
    if not performers:
        raise _invalid(
            "ServiceRequest.performer", "Name the hub's HealthcareService that should serve her."
        )
    created: uuid.UUID | None = None
    try:
        service = directory.get_service(actor, _uuid(performers[0], "ServiceRequest.performer"))
        owner = (task.get("owner") or {}).get("reference")
        if owner and owner != f"Organization/{service.agency_id}":
            raise _invalid("Task.owner", "The owner is the agency of the requested service.")
        priority = task.get("priority") or request.get("priority") or "routine"
        if priority not in codes.URGENCY_FOR_PRIORITY:
            raise _invalid("Task.priority", "One of routine, urgent, asap, stat.")
        # everything is read and checked before anything is made: a new client's key is kept
        # apart from the request's transaction, and a refusal must leave nothing behind
        person = _patient(actor, resolver, task)
        release = _consent(resolver, request, service.agency_id, service.category.value)
        if isinstance(person, dict):
            created = client_id = clients.create_client(actor, **person).id
        else:
            client_id = person
        if isinstance(release, dict):
            consent_id: uuid.UUID | None = consent.record_consent(actor, client_id, **release).id
        else:
            consent_id = release
        shared = (
            consent.load_owned(actor, consent_id).data_categories if consent_id else ["profile"]
        )
        notes = [item["text"] for item in request.get("note") or [] if item.get("text")]
        fields = _load(
            ReferralCreateArgs(),
            {
                "client_id": str(client_id),
                "service_id": str(service.id),
                "consent_id": str(consent_id) if consent_id else None,
                "urgency": codes.URGENCY_FOR_PRIORITY[priority],
                "data_categories": list(shared),
                "send": task.get("status") == "requested",
                **({"note": "\n".join(notes)} if notes else {}),
            },
        )
        return referrals.send_referral(actor, **fields)
    except DomainError as error:
        if created is not None:  # the consent or the send refused her referral
            clients.discard_new_client_key(created)
        raise translated(error) from None


# --- updates --------------------------------------------------------------------------------


def _wanted(document: Any, *, patch: bool) -> dict[str, Any]:
    """What a PUT (a whole Task) or a PATCH (JSON Patch operations, or a partial Task) asks."""
    if patch and isinstance(document, list):
        wanted: dict[str, Any] = {}
        for index, operation in enumerate(document):
            if not isinstance(operation, dict) or operation.get("op") not in ("replace", "add"):
                raise _invalid(f"{index}.op", "Only replace and add operations are taken.")
            path = str(operation.get("path", ""))
            if path not in ("/status", "/statusReason", "/businessStatus"):
                raise _invalid(f"{index}.path", "Only /status and /statusReason may change.")
            wanted[path[1:]] = operation.get("value")
        return wanted
    if isinstance(document, dict):
        kind = document.get("resourceType")
        if kind != "Task" and (kind is not None or not patch):
            raise _invalid("resourceType", "Expected Task.")
        return document
    raise MalformedRequest(
        "Send the Task (PUT), or JSON Patch operations or a partial Task (PATCH).",
        errors={"$": ["Not a Task."]},
    )


def update_status(
    actor: Actor, referral_id: uuid.UUID, document: Any, *, patch: bool = False
) -> Referral:
    """PUT/PATCH /fhir/Task/{id}: a new Task status becomes the hub move(s) it stands for."""
    wanted = _wanted(document, patch=patch)
    status = wanted.get("status")
    if not isinstance(status, str):
        raise _invalid("Task.status", "Say the status the Task moves to.")
    referral = referrals.get_referral(actor, referral_id)
    current = State(referral.status)
    if codes.TASK_STATUS[current].status == status:
        return referral  # already there: nothing to do (a repeated PUT is harmless)
    moves = codes.moves_for(current, status)
    if not moves:
        raise _invalid("Task.status", f"A Task cannot be moved to {status} here.")
    reason = wanted.get("statusReason") or {}
    text = reason.get("text") if isinstance(reason, dict) else None
    coded = _codes([reason] if isinstance(reason, dict) else [], codes.DECLINE_REASON)
    try:
        for move in moves:
            payload: dict[str, Any] = {}
            if move == "decline":
                code = coded[0] if coded else "other"
                if code not in DECLINE_REASONS:
                    raise _invalid("Task.statusReason", "Not one of the hub's decline reasons.")
                if code == "other" and not text:
                    raise _invalid("Task.statusReason.text", "Say why the referral is rejected.")
                payload = {"reason": code, "note": text}
            elif move == "end-unfinished":
                outcome = _codes([reason] if isinstance(reason, dict) else [], codes.OUTCOME)
                if not outcome or outcome[0] not in UNFINISHED_REASONS:
                    raise _invalid("Task.statusReason", "Say how it ended, coded.")
                payload = {"reason": outcome[0]}
            elif move in ("withdraw", "mark-error"):
                if not text:
                    raise _invalid("Task.statusReason.text", "Say why.")
                payload = {"reason": text}
            checked = _load(TransitionArgs(), {k: v for k, v in payload.items() if v is not None})
            referral = referrals.transition(actor, referral_id, move, **checked)
    except DomainError as error:
        raise translated(error) from None
    return referral
