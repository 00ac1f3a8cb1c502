"""/fhir: the hub as a FHIR R4 server for clinics' systems (SDOH Clinical Care referrals).

Each view does what a JSON API view does — check who calls, read the input, call one
service, map the answer — with FHIR resources instead of our schemas. Errors are the hub's
problems rendered as OperationOutcome (`outcome.render`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request

from referral_hub.agencies import service as agencies
from referral_hub.clients import service as clients
from referral_hub.consent import service as consent
from referral_hub.core import clock
from referral_hub.core.authz import current_actor, require
from referral_hub.core.errors import MalformedRequest, NotFound
from referral_hub.directory import search as finder
from referral_hub.directory import service as directory
from referral_hub.directory.vocabulary import Category
from referral_hub.fhir import capability, inbound, search
from referral_hub.fhir import resources as fhir
from referral_hub.fhir.outcome import FHIR_JSON
from referral_hub.referrals import service as referrals

blp = Blueprint("fhir", __name__, url_prefix="/fhir")
SENDERS = ("intake", "agency_admin")
PARTIES = ("intake", "provider", "agency_admin", "coordinator")
READERS = ("intake", "provider", "agency_admin")
MAX_COUNT = 200


def respond(resource: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return current_app.response_class(
        json.dumps(fhir.as_json(resource)),
        status=status,
        mimetype=FHIR_JSON,
        headers=headers,
    )


def takes_body(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that reads a JSON body (the intake hook refuses bodies elsewhere)."""
    view.takes_body = True  # type: ignore[attr-defined]
    return view


def _base() -> str:
    return request.host_url.rstrip("/") + "/fhir"


def _names(*agency_ids: uuid.UUID) -> dict[str, str]:
    """Agencies' names for display, each looked up once per request (a page of Tasks names
    the same few agencies over and over)."""
    known: dict[str, str | None] = g.setdefault("fhir_agency_names", {})
    for agency_id in agency_ids:
        if str(agency_id) not in known:
            try:
                known[str(agency_id)] = agencies.get_agency(current_actor(), agency_id).name
            except NotFound:
                known[str(agency_id)] = None
    return {key: name for key, name in known.items() if name is not None}


def _page(resources: list[Any], next_cursor: str | None) -> Response:
    self_url = f"{_base()}/{request.path.rsplit('/', 1)[-1]}"
    query = urlencode(list(request.args.items(multi=True)))
    next_url = None
    if next_cursor:
        kept = [(k, v) for k, v in request.args.items(multi=True) if k != "_cursor"]
        next_url = f"{self_url}?{urlencode([*kept, ('_cursor', next_cursor)])}"
    return respond(fhir.searchset(resources, _base(), f"{self_url}?{query}", next_url))


@blp.route("/metadata")
def metadata() -> Response:
    """What this server implements (no token needed, as FHIR clients expect)."""
    return respond(capability.statement(_base(), clock.now()))


@blp.route("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """SMART discovery for backend services (no token needed): where and how to get one."""
    return current_app.response_class(
        json.dumps(capability.smart_configuration()), mimetype="application/json"
    )


# --- directory ------------------------------------------------------------------------------


@blp.route("/HealthcareService")
@require(scopes="directory:read")
def search_services() -> Response:
    """Search the directory: `category`, `location.near` (lat|lon|distance|km), `_count`."""
    params = search.parameters(search.HEALTHCARE_SERVICE)
    actor = current_actor()
    wanted = search.categories(params.get("category", []))
    near, radius = search.near(params.get("location.near", []))
    query = finder.SearchQuery(
        categories=tuple(Category(code) for code in wanted), near=near, radius_km=radius
    )
    items, next_cursor = finder.list_services(
        actor, query, agency_id=None, limit=search.count(params), cursor=search.cursor(params)
    )
    now = clock.now()
    return _page(
        [fhir.healthcare_service(directory.describe(item, actor, now)) for item in items],
        next_cursor,
    )


@blp.route("/HealthcareService/<uuid:service_id>")
@require(scopes="directory:read")
def read_service(service_id: uuid.UUID) -> Response:
    actor = current_actor()
    view = directory.describe(directory.get_service(actor, service_id), actor)
    return respond(fhir.healthcare_service(view))


# --- referrals ------------------------------------------------------------------------------


def _task(referral: Any) -> Any:
    view = referrals.describe(referral)
    return fhir.task(view, _names(referral.sender_agency_id, referral.receiver_agency_id))


@blp.route("/Task")
@require(*PARTIES, scopes="referrals:read")
def search_tasks() -> Response:
    """Tasks the caller's agency sent (`requester`) or owns (`owner`), by `status` and
    `_lastUpdated`; paged with Bundle links."""
    params = search.parameters(search.TASK)
    actor = current_actor()
    box = search.box(actor, params)
    statuses = search.task_states(params.get("status", []))
    items, next_cursor = referrals.list_referrals(
        actor,
        box=box,
        status=None,
        urgency=None,
        limit=search.count(params),
        cursor=search.cursor(params),
        statuses=statuses,
        updated=search.last_updated(params.get("_lastUpdated", [])),
    )
    return _page([_task(item) for item in items], next_cursor)


@blp.route("/Task/<uuid:referral_id>")
@require(*PARTIES, scopes="referrals:read")
def read_task(referral_id: uuid.UUID) -> Response:
    return respond(_task(referrals.get_referral(current_actor(), referral_id)))


@blp.route("/Task", methods=["POST"])
@require(*SENDERS, scopes="clients:write referrals:write")
@takes_body
def create_task() -> Response:
    """A clinic's referral: a Task (SDOHCC Task For Referral Management) with its
    ServiceRequest, Consent and Patient contained, or a transaction Bundle of them."""
    referral = inbound.create_referral(current_actor(), _body_object())
    return respond(_task(referral), 201, {"Location": f"{_base()}/Task/{referral.id}"})


def _moved(referral_id: uuid.UUID, *, patch: bool) -> Response:
    if not g.get("json_present"):
        raise MalformedRequest("Send the Task or its JSON Patch.", errors={"$": ["No body."]})
    referral = inbound.update_status(current_actor(), referral_id, g.json_body, patch=patch)
    return respond(_task(referral))


@blp.route("/Task/<uuid:referral_id>", methods=["PUT"])
@require(*PARTIES, scopes="referrals:write")
@takes_body
def replace_task(referral_id: uuid.UUID) -> Response:
    """Move the referral by the Task's new status: accepted, rejected (+ statusReason),
    in-progress, completed, failed, cancelled; the hub's state machine decides what is
    legal. Nothing else of the Task changes."""
    return _moved(referral_id, patch=False)


@blp.route("/Task/<uuid:referral_id>", methods=["PATCH"])
@require(*PARTIES, scopes="referrals:write")
@takes_body
def patch_task(referral_id: uuid.UUID) -> Response:
    """The same move, asked as JSON Patch (`replace /status`, `/statusReason`) or as a
    partial Task."""
    return _moved(referral_id, patch=True)


@blp.route("/ServiceRequest/<uuid:referral_id>")
@require(*PARTIES, scopes="referrals:read")
def read_service_request(referral_id: uuid.UUID) -> Response:
    actor = current_actor()
    referral = referrals.get_referral(actor, referral_id)
    category = directory.get_service(actor, referral.service_id).category.value
    names = _names(referral.sender_agency_id)
    return respond(fhir.service_request(referrals.describe(referral), category, names))


@blp.route("/Consent/<uuid:consent_id>")
@require(*READERS, scopes=["clients:read", "referrals:read"])
def read_consent(consent_id: uuid.UUID) -> Response:
    """Her consent: whole for the agency that recorded it; for a receiver, only itself as
    recipient, its referral's purpose and the categories it may read now."""
    actor = current_actor()
    record, referral = referrals.consent_for_party(actor, consent_id)
    status = record.status(clock.now())
    if referral is None:
        shown = fhir.consent(
            record,
            status,
            recipients=list(record.covered_recipients),
            purposes=list(record.purposes),
            categories=list(record.data_categories),
        )
        return respond(shown)
    client = clients.load_client(record.client_id)
    readable, _ = consent.readable_now(actor, client, str(referral.id))
    purpose = directory.get_service(actor, referral.service_id).category.value
    shown = fhir.consent(
        record,
        status,
        recipients=[str(actor.agency_id)] if readable else [],
        purposes=[purpose] if readable else [],
        categories=sorted(readable & set(record.data_categories)),
    )
    return respond(shown)


@blp.route("/Patient/<uuid:client_id>")
@require(*READERS, scopes="clients:read")
def read_patient(client_id: uuid.UUID) -> Response:
    """Her record as the consent policy lets this reader see it, the read audited exactly
    as `GET /api/v1/clients/{id}` audits it (the same function)."""
    shown = consent.disclose_client(current_actor(), client_id)
    record = shown.client
    profile = record.profile if "profile" in shown.categories else {}
    return respond(fhir.patient(record.id, record.reference, profile, shown.pii))


@blp.route("/<path:_rest>")
def unknown(_rest: str) -> Response:
    """Any other resource type or path under /fhir: an OperationOutcome 404, not an HTML
    page (other methods there: a 405 OperationOutcome)."""
    raise NotFound()


def _body_object() -> dict[str, Any]:
    if not g.get("json_present") or not isinstance(g.json_body, dict):
        raise MalformedRequest("Send a FHIR resource as JSON.", errors={"$": ["Not a resource."]})
    return dict(g.json_body)
