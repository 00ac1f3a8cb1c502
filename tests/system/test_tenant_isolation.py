"""Tenant isolation: another agency's object must look exactly like a missing one.

The matrix: every (method, route, id parameter) in the app's url_map — each public referral
action its own row — x {own object, another tenant's object, a missing id} x {bearer token
(OAuth client credentials), staff session cookie (the CSRF token on unsafe methods)} x
every `AgencyKind`, law enforcement included. A route added with an id in its path fails
`test_every_route_with_an_id_is_classified` until it gets a row in ROUTES.

What each cell asserts:
- own object: the status the role allows (2xx, or 403 where the role does not allow the
  action), and for 2xx the body names the object — proof the request reached it;
- another tenant's object (PRIVATE routes): identical to the missing id. "Identical" is
  exact: the test chooses each request's id (`X-Request-Id`), and after that one string is
  replaced by a placeholder in the headers and the body (the `X-Request-Id` header and the
  problem body's `request_id` member are the only request-specific parts of a response),
  status, the full header list and the body bytes must be equal;
- zero foreign bytes: no value of the other tenant's objects (ids, references, e-mails,
  names, PII, message text, webhook URL, ...) anywhere in any response's body or headers;
  on PRIVATE routes not even its public directory values (agency and service id or name);
- the attempt is on the audit chain (`access.denied`, reason `other_tenant`, the foreign
  object as subject; `forbidden` where the edge or a directory write refuses), and the
  missing id is not recorded as a foreign attempt;
- nothing changed: a foreign or missing call sends no INSERT, UPDATE or DELETE to any
  table but the audit chain, sessions and rate-limit counters (every statement on both
  databases is watched; the own call of a mutating route shows the watch sees writes),
  and on mutating routes the foreign object's rows (with its dependants: consents,
  grants, messages, capacity, tokens, keys) read the same after the call as before it.

The staff pages get the same cells (`test_page_isolation`, PAGE_ROUTES): the session
cookie, forms posted url-encoded with the CSRF header, HTML answers (the error page prints
the request id, and each page its CSRF token signed with the second it was rendered in:
both are replaced before comparing), a 302 for an accepted form; a bearer token on a page
is sent to sign in and gets nothing.

Routes that are legitimately cross-tenant are classified with the reason (DIRECTORY,
DIRECTORY_WRITE), and the hub-wide roles (coordinators oversee every handoff; hub
administrators administer every agency) have their own test, `test_hub_wide_roles`.

Speed: the world (every kind's tenant, the other tenant and the partner agency they both
work with) is built and committed once, on this module's own database; each test runs in
conftest's rolled-back `session`, and every request inside a savepoint rolled back after
its checks, so a mutating own call leaves the world as it was for the next cell. (One
transaction for the whole module would be simpler, but on PostgreSQL thousands of rolled
back savepoints in one transaction make every later statement slower.)
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

import pytest
from flask import Flask
from joserfc.jwk import ECKey
from sqlalchemy import Uuid, event, select

from referral_hub.agencies import outside as outside_organisations
from referral_hub.agencies import service as agencies
from referral_hub.agencies.models import AgencyKind, User
from referral_hub.audit.models import AuditEvent
from referral_hub.auth.models import SCOPES
from referral_hub.auth.service import create_api_client
from referral_hub.clients.service import create_client
from referral_hub.consent.service import record_consent
from referral_hub.core import clock, keystore
from referral_hub.core.actor import SYSTEM, Actor, ActorKind, survivor_actor
from referral_hub.core.db import transaction
from referral_hub.directory import service as directory
from referral_hub.directory.capacity import open_overflow, set_capacity
from referral_hub.directory.vocabulary import Category
from referral_hub.extensions import api, db
from referral_hub.jobs.models import OutboxMessage, OutboxStatus
from referral_hub.notifications.webhooks import subscribe
from referral_hub.referrals import bundles, conversation, outside
from referral_hub.referrals import service as referrals
from referral_hub.referrals.deadlines import Urgency
from referral_hub.referrals.queries.received import RECEIVER_ACTIONS as PROVIDER_ACTIONS
from referral_hub.referrals.states import PUBLIC_ACTIONS
from referral_hub.survivor import access
from referral_hub.survivor import service as survivor
from tests import factories
from tests.conftest import rolled_back_app

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EDGE: Literal["edge"] = "edge"  # refused by role or scope before any object is loaded: 403
Expect = int | Literal["edge"]

# --- classification -----------------------------------------------------------------------

PRIVATE = "private"  # an agency's own object: anyone else's answers exactly as missing
DIRECTORY = "directory"  # the directory: every signed-in agency reads every entry
DIRECTORY_WRITE = "directory write"  # a directory entry only its agency may change

DIRECTORY_REASON = (
    "the directory is public to all agencies (domain.md: an agency sees its own objects and "
    "the directory); only the owner sees a confidential address"
)
DIRECTORY_WRITE_REASON = (
    "a directory entry's existence is public (GET answers 200 to everyone), so refusing "
    "another agency's change with 403 reveals nothing; the refusal is audited as forbidden"
)

# path parameters that do not name an object
NOT_AN_ID = {
    ("/problems/<code>", "code"): "a problem code's documentation page, the same for everyone",
    ("/static/<filename>", "filename"): "static files, the same for everyone",
    ("/fhir/<_rest>", "_rest"): "any other path under /fhir: a 404 OperationOutcome for all",
    ("/api/v1/referrals/<referral_id>/<action>", "action"): (
        "the transition's name; every public action is its own row of ROUTES"
    ),
    ("/provider/referrals/<referral_id>/<action>", "action"): (
        "the transition's name; every action the page offers is its own row of PAGE_ROUTES"
    ),
    ("/o/<token>", "token"): (
        "an outside referral's one-time link: a secret, not an id; every token that is not "
        "live answers the same 404 (tests/referrals/test_outside_referrals.py)"
    ),
    ("/mail/<name>", "name"): (
        "a file of the development mail folder, for hub administrators only (no tenant's object)"
    ),
}

AGENCY_ROUTE = "/api/v1/agencies/<agency_id>"
USERS = f"{AGENCY_ROUTE}/users"
API_CLIENTS = f"{AGENCY_ROUTE}/api-clients"
REVOKE_CLIENT = f"{API_CLIENTS}/<client_pk>/revoke"
CLIENT_KEYS = f"{API_CLIENTS}/<client_pk>/keys"
# a system's public keys (private_key_jwt): any valid JWK Set will do
CLIENT_JWKS = {"keys": [ECKey.generate_key("P-384", parameters={"kid": "matrix"}).as_dict()]}
SSO = f"{AGENCY_ROUTE}/sso"
CLIENT = "/api/v1/clients/<client_id>"
REFERRAL = "/api/v1/referrals/<referral_id>"
SERVICE = "/api/v1/services/<service_id>"
WEBHOOK = "/api/v1/webhooks/<webhook_id>"
OUTSIDE = "/api/v1/outside-referrals/<referral_id>"
OUTSIDE_SLOTS = {"referral_id": "outside_referral", "link_id": "outside_link"}

Body = Callable[["Tenant", "World"], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """One row of the matrix and its classification."""

    method: str
    rule: str
    param: str  # the id parameter this row varies (the others name the caller's own objects)
    slot: str  # which of a tenant's objects `param` names
    action: str | None = None  # referral transitions: one row per public action
    token: Expect = 200  # the own-object answer to the agency's system (bearer token)
    staff: Expect = 200  # the own-object answer to its staff (intake, provider, agency_admin)
    body: Body | None = None
    access: str = PRIVATE
    reason: str = ""  # why a non-PRIVATE route may answer differently for another tenant
    subject: str | None = None  # the audit subject type of a foreign attempt
    proof: str | None = "same"  # slot whose id an own 2xx answer must contain; None: none
    hub_proof: str | None = "same"  # the same, for a hub-wide role's 2xx answer
    # the hub-wide roles: what they get for another agency's object, and why
    hub: Mapping[str, Expect] = field(default_factory=dict)
    # the slots of the path's other ids, where they are not PARAM_SLOT's (a bundle's referral)
    slots: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.method, self.rule, self.param, self.action)

    @property
    def name(self) -> str:
        path = self.rule.replace("<action>", self.action or "<action>")
        return f"{self.method} {path} [{self.param}]"

    @property
    def proof_slot(self) -> str | None:
        return self.slot if self.proof == "same" else self.proof

    @property
    def hub_proof_slot(self) -> str | None:
        return self.proof_slot if self.hub_proof == "same" else self.hub_proof


@dataclass(frozen=True)
class Page(Route):
    """A staff page: HTML, a session cookie only, forms posted url-encoded (with the CSRF
    header), refused before anything is loaded (403) unless the person holds `role`;
    `staff` is the own-object answer (302: a form accepted and the page redirects)."""

    role: str = "intake"


def _new_user(tenant: Tenant, world: World) -> dict[str, Any]:
    return {
        "email": f"new-{uuid.uuid4().hex[:10]}@agency.example",
        "display_name": "New starter",
        "roles": ["intake"],
    }


def _sso_settings(tenant: Tenant, world: World) -> dict[str, Any]:
    """A provider of its own (each e-mail domain signs in through one agency only)."""
    return {
        "issuer": "https://login.agency.example",
        "client_id": "hub",
        "client_secret": "a provider secret",
        "email_domains": [f"sso-{uuid.uuid4().hex[:10]}.example"],
        "enabled": True,
    }


def _consent(tenant: Tenant, world: World) -> dict[str, Any]:
    return {
        "recipients": [str(world.partner)],
        "purposes": ["emergency_shelter"],
        "data_categories": ["contact"],
        "method": "written",
        "signer": "survivor",
        "form_version": "1",
        "form_language": "en",
        "signed_at": clock.now().isoformat(),
    }


def _fixed(body: dict[str, Any]) -> Body:
    return lambda tenant, world: dict(body)


def _overflow(tenant: Tenant, world: World) -> dict[str, Any]:
    now = clock.now()
    return {
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=6)).isoformat(),
        "places": 2,
    }


def _page_overflow(tenant: Tenant, world: World) -> dict[str, Any]:
    """As the board's datetime-local fields send it (the hub's zone is UTC in tests)."""
    now = clock.now()
    return {
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"),
        "places": 2,
    }


# which of a tenant's referrals each action is tried on (one its side may take it from),
# and a body that makes the own-object call valid
ACTION_SLOT = {
    "send": "referral_draft",
    "acknowledge": "received",
    "request-info": "received",
    "waitlist": "received",
    "accept": "received",
    "decline": "received",
    "withdraw": "referral",
    "provide-info": "referral_info",
    "confirm-arrival": "received_accepted",
    "end-unfinished": "received_accepted",
    "complete": "received_engaged",
    "mark-error": "referral",
}
ACTION_BODY: dict[str, dict[str, Any]] = {
    "request-info": {"question": "Can she travel tonight?"},
    "provide-info": {"answer": "Yes, with her two children."},
    "waitlist": {"position": 2},
    "decline": {"reason": "no_capacity"},
    "withdraw": {"reason": "placed closer to home"},
    "end-unfinished": {"reason": "left"},
    "complete": {"outcome": "completed"},
    "mark-error": {"reason": "sent twice"},
}
STAFF_ONLY: dict[str, Expect] = {"coordinator": EDGE, "hub_admin": EDGE}
# coordinators oversee every handoff; hub administrators administer every agency
OVERSIGHT: dict[str, Expect] = {"coordinator": 200, "hub_admin": EDGE}
ADMINISTRATION: dict[str, Expect] = {"coordinator": EDGE, "hub_admin": 200}


def _colleague(side: str | None) -> Body:
    """A handover to the tenant's second user (a provider)."""

    def body(tenant: Tenant, world: World) -> dict[str, Any]:
        chosen = {"assignee_id": str(tenant.ids["user"])}
        return chosen | ({"side": side} if side else {})

    return body


def _action_row(action: str) -> Route:
    # only a coordinator may mark a referral entered in error (and a coordinator may do it
    # to any referral of the hub); every other action is the sender's or the receiver's
    own: Expect = 403 if action == "mark-error" else 200
    return Route(
        "POST",
        f"{REFERRAL}/<action>",
        "referral_id",
        ACTION_SLOT[action],
        action=action,
        token=own,
        staff=own,
        body=_fixed(ACTION_BODY.get(action, {})),
        subject="referral",
        hub={"coordinator": 200 if action == "mark-error" else 403, "hub_admin": EDGE},
    )


ROUTES: list[Route] = [
    # agencies: the directory entry is public, its staff and systems are the agency's own
    Route(
        "GET",
        AGENCY_ROUTE,
        "agency_id",
        "agency",
        access=DIRECTORY,
        reason=DIRECTORY_REASON,
        hub={"coordinator": 200, "hub_admin": 200},
    ),
    Route(
        "PATCH",
        AGENCY_ROUTE,
        "agency_id",
        "agency",
        body=_fixed({"city": "Lakeside"}),
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        hub=ADMINISTRATION,
    ),
    Route("GET", USERS, "agency_id", "agency", subject="agency", proof="user", hub=ADMINISTRATION),
    Route("GET", SSO, "agency_id", "agency", subject="agency", hub=ADMINISTRATION),
    Route(
        "PUT",
        SSO,
        "agency_id",
        "agency",
        body=_sso_settings,
        subject="agency",
        hub=ADMINISTRATION,
    ),
    Route(
        "POST",
        USERS,
        "agency_id",
        "agency",
        token=201,
        staff=201,
        body=_new_user,
        subject="agency",
        proof="agency",
        hub={"coordinator": EDGE, "hub_admin": 201},
    ),
    Route(
        "PATCH",
        "/api/v1/users/<user_id>",
        "user_id",
        "user",
        body=_fixed({"display_name": "Renamed"}),
        subject="user_account",
        hub=ADMINISTRATION,
    ),
    Route(
        "GET",
        API_CLIENTS,
        "agency_id",
        "agency",
        token=EDGE,  # staff only: agency systems do not manage systems
        subject="agency",
        proof="api_client",
        hub=ADMINISTRATION,
    ),
    Route(
        "POST",
        API_CLIENTS,
        "agency_id",
        "agency",
        token=EDGE,
        staff=201,
        body=_fixed({"name": "Case system 2", "scopes": ["directory:read"]}),
        subject="agency",
        proof=None,
        hub={"coordinator": EDGE, "hub_admin": 201},
    ),
    Route(
        "POST",
        REVOKE_CLIENT,
        "agency_id",
        "agency",
        token=EDGE,
        subject="agency",
        proof="api_client",
        hub=ADMINISTRATION,
    ),
    Route(
        "POST",
        REVOKE_CLIENT,
        "client_pk",
        "api_client",
        token=EDGE,
        subject="api_client",
        hub=ADMINISTRATION,
    ),
    # a system's public keys: another agency's client, or one named under another agency
    *(
        Route(
            "PUT",
            CLIENT_KEYS,
            param,
            slot,
            token=EDGE,
            body=_fixed({"jwks": CLIENT_JWKS}),
            subject=slot,
            hub=ADMINISTRATION,
            **proof,  # type: ignore[arg-type]
        )
        for param, slot, proof in (
            ("agency_id", "agency", {"proof": "api_client"}),
            ("client_pk", "api_client", {}),
        )
    ),
    # clients and consent: the owning agency's (receivers read through GET /clients/{id})
    Route("GET", CLIENT, "client_id", "client", subject="client", hub=STAFF_ONLY),
    Route(
        "POST",
        f"{CLIENT}/consents",
        "client_id",
        "client",
        token=201,
        staff=201,
        body=_consent,
        subject="client",
        hub=STAFF_ONLY,
    ),
    Route(
        "GET",
        f"{CLIENT}/consents",
        "client_id",
        "client",
        subject="client",
        proof="consent",
        hub=STAFF_ONLY,
    ),
    Route(
        "GET",
        f"{CLIENT}/disclosures",
        "client_id",
        "client",
        subject="client",
        proof="agency",
        hub=STAFF_ONLY,
    ),
    Route(  # her runaround: the doors she was sent to, for her own agency
        "GET", f"{CLIENT}/runaround", "client_id", "client", subject="client", hub=STAFF_ONLY
    ),
    Route(
        "POST",
        f"{CLIENT}/erase",
        "client_id",
        "client",
        body=_fixed({"reason": "she asked"}),
        subject="client",
        hub=STAFF_ONLY,
    ),
    # her access code: issued and looked at by her agency only (never the code itself)
    Route(
        "POST",
        f"{CLIENT}/survivor-access",
        "client_id",
        "client",
        token=201,
        staff=201,
        body=_fixed({"pin": "1234", "safe_to_carry_only": False}),
        subject="client",
        proof=None,  # the answer is the new code, not her record
        hub=STAFF_ONLY,
    ),
    Route(
        "GET",
        f"{CLIENT}/survivor-access",
        "client_id",
        "client",
        subject="client",
        proof=None,  # whether a code is in force, until when: nothing that names her
        hub=STAFF_ONLY,
    ),
    Route(
        "POST",
        "/api/v1/consents/<consent_id>/revoke",
        "consent_id",
        "consent",
        body=_fixed({"reason": "she asked"}),
        subject="consent",
        hub=STAFF_ONLY,
    ),
    # referrals and bundles: the sender's and the receiver's (and the coordinators')
    Route(
        "GET",
        "/api/v1/bundles/<bundle_id>",
        "bundle_id",
        "bundle",
        subject="bundle",
        hub=OVERSIGHT,
    ),
    Route("GET", REFERRAL, "referral_id", "referral", subject="referral", hub=OVERSIGHT),
    Route(
        "GET",
        f"{REFERRAL}/timeline",
        "referral_id",
        "referral",
        subject="referral",
        proof="agency",
        hub=OVERSIGHT,
    ),
    # messages are between the two parties: a coordinator sees the referral, not its talk
    Route(
        "GET",
        f"{REFERRAL}/messages",
        "referral_id",
        "referral",
        subject="referral",
        proof="message",
        hub={"coordinator": 403, "hub_admin": EDGE},
    ),
    Route(
        "POST",
        f"{REFERRAL}/messages",
        "referral_id",
        "referral",
        token=201,
        staff=201,
        body=_fixed({"body": "She arrives by the 18:40 bus."}),
        subject="referral",
        proof=None,
        hub={"coordinator": 403, "hub_admin": EDGE},
    ),
    # handing a side over to a colleague: the receiver's once taken up (a coordinator sees the
    # referral but names nobody's caseworker); a bundle's colleague must work intake, and the
    # tenant's second user is a provider: its own call is refused by rule (422), after loading
    Route(
        "POST",
        f"{REFERRAL}/assign",
        "referral_id",
        "received_accepted",
        body=_colleague("receiver"),
        subject="referral",
        hub={"coordinator": 403, "hub_admin": EDGE},
    ),
    Route(
        "POST",
        "/api/v1/bundles/<bundle_id>/assign",
        "bundle_id",
        "bundle",
        token=422,
        staff=422,
        body=_colleague(None),
        subject="bundle",
        proof=None,
        hub=STAFF_ONLY,
    ),
    # (an action without a slot stays unclassified: the classification test names it)
    *(_action_row(action) for action in PUBLIC_ACTIONS if action in ACTION_SLOT),
    # referrals outside the hub: the sending agency's alone (no coordinator reads them)
    Route(
        "GET",
        OUTSIDE,
        "referral_id",
        "outside_referral",
        subject="outside_referral",
        hub=STAFF_ONLY,
    ),
    Route(
        "POST",
        f"{OUTSIDE}/withdraw",
        "referral_id",
        "outside_referral",
        subject="outside_referral",
        hub=STAFF_ONLY,
    ),
    Route(
        "POST",
        f"{OUTSIDE}/links",
        "referral_id",
        "outside_referral",
        token=201,
        staff=201,
        subject="outside_referral",
        proof=None,  # the new link: its id and URL
        hub=STAFF_ONLY,
    ),
    Route(
        "GET",
        f"{OUTSIDE}/links",
        "referral_id",
        "outside_referral",
        subject="outside_referral",
        proof="outside_link",
        hub=STAFF_ONLY,
    ),
    *(
        Route(
            "POST",
            f"{OUTSIDE}/links/<link_id>/revoke",
            param,
            slot,
            subject=slot,
            proof="outside_link",
            slots=OUTSIDE_SLOTS,
            hub=STAFF_ONLY,
        )
        for param, slot in OUTSIDE_SLOTS.items()
    ),
    # a coordinator's nudge from the in-limbo queue: oversight, refused to agencies at the edge
    Route(
        "POST",
        "/api/v1/reports/in-limbo/<referral_id>/nudge",
        "referral_id",
        "referral",
        token=EDGE,
        staff=EDGE,
        body=_fixed({"to": "receiver"}),
        subject="referral",
        hub={"coordinator": 200, "hub_admin": EDGE},
    ),
    # the receiver keeps her place longer, once; the tenant's accepted referral is routine
    # (no arrival deadline to extend), so its own answer is 409 — after it was found
    Route(
        "POST",
        f"{REFERRAL}/extend-hold",
        "referral_id",
        "received_accepted",
        token=409,
        staff=409,
        body=_fixed({"reason": "transport_delayed"}),
        subject="referral",
        proof=None,
        hub={"coordinator": 403, "hub_admin": EDGE},
    ),
    # the FHIR interface: the same objects through the same services, as FHIR resources
    Route(
        "GET",
        "/fhir/Task/<referral_id>",
        "referral_id",
        "referral",
        subject="referral",
        hub=OVERSIGHT,
    ),
    Route(
        "GET",
        "/fhir/ServiceRequest/<referral_id>",
        "referral_id",
        "referral",
        subject="referral",
        hub=OVERSIGHT,
    ),
    *(
        Route(
            method,
            "/fhir/Task/<referral_id>",
            "referral_id",
            "received",
            body=_fixed(body),
            subject="referral",
            hub={"coordinator": 403, "hub_admin": EDGE},
        )
        for method, body in (
            ("PATCH", {"status": "accepted"}),
            ("PUT", {"resourceType": "Task", "status": "accepted"}),
        )
    ),
    Route(
        "GET",
        "/fhir/Consent/<consent_id>",
        "consent_id",
        "consent",
        subject="consent",
        hub=STAFF_ONLY,
    ),
    Route(
        "GET", "/fhir/Patient/<client_id>", "client_id", "client", subject="client", hub=STAFF_ONLY
    ),
    Route(
        "GET",
        "/fhir/HealthcareService/<service_id>",
        "service_id",
        "service",
        access=DIRECTORY,
        reason=DIRECTORY_REASON,
        hub={"coordinator": 200, "hub_admin": 200},
    ),
    # services: directory entries; only their agency changes them
    Route(
        "GET",
        SERVICE,
        "service_id",
        "service",
        access=DIRECTORY,
        reason=DIRECTORY_REASON,
        hub={"coordinator": 200, "hub_admin": 200},
    ),
    Route(
        "GET",
        f"{SERVICE}/capacity/history",
        "service_id",
        "service",
        access=DIRECTORY,
        reason="capacity and its history are part of the public directory (who changed it, "
        "and the referral a hold was for, only the owner sees)",
        proof="received_accepted",  # the owner sees the referral its hold was for
        hub_proof=None,
        hub={"coordinator": 200, "hub_admin": 200},
    ),
    Route(
        "PATCH",
        SERVICE,
        "service_id",
        "service",
        body=_fixed({"hours": "Mon-Fri 9-17"}),
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        hub=ADMINISTRATION,
    ),
    Route(
        "PUT",
        f"{SERVICE}/capacity",
        "service_id",
        "service",
        body=_fixed({"total": 20, "available": 5}),
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        proof=None,
        hub=ADMINISTRATION,
    ),
    Route(
        "POST",
        f"{SERVICE}/capacity/confirm",
        "service_id",
        "service",
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        proof=None,
        hub=ADMINISTRATION,
    ),
    # overflow places: directory entries too (listed to all, changed by their agency only)
    Route(
        "GET",
        f"{SERVICE}/overflow",
        "service_id",
        "service",
        access=DIRECTORY,
        reason="overflow places are part of the public directory, like capacity",
        hub={"coordinator": 200, "hub_admin": 200},
    ),
    Route(
        "POST",
        f"{SERVICE}/overflow",
        "service_id",
        "service",
        token=201,
        staff=201,
        body=_overflow,
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        hub={"coordinator": EDGE, "hub_admin": 201},
    ),
    Route(
        "POST",
        "/api/v1/overflow/<window_id>/close",
        "window_id",
        "overflow",
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        hub=ADMINISTRATION,
    ),
    # webhooks: the agency administrator's
    Route(
        "GET",
        f"{WEBHOOK}/deliveries",
        "webhook_id",
        "webhook",
        subject="webhook",
        proof="delivery",
        hub=STAFF_ONLY,
    ),
    Route("POST", f"{WEBHOOK}/disable", "webhook_id", "webhook", subject="webhook", hub=STAFF_ONLY),
]


# --- the staff pages ------------------------------------------------------------------------
# The same objects through the pages: every page with an id in its path is a PAGE_ROUTES
# row. The person holds intake, provider and agency_admin, so a coordinator's page answers
# 403 before loading anything (EDGE); a POST the page accepts redirects (302), one the
# object's state refuses shows the page again with the reason (409, 422).

INTAKE_CLIENT = "/intake/clients/<client_id>"
BUNDLE_PAGE = "/intake/bundles/<bundle_id>"
BUNDLED = f"{BUNDLE_PAGE}/referrals/<referral_id>"
RECEIVED = "/provider/referrals/<referral_id>"
CARD = "/provider/capacity/<service_id>"
ADMIN_USER = "/admin/users/<user_id>"
ADMIN_SERVICE = "/admin/services/<service_id>"
ADMIN_WEBHOOK = "/admin/webhooks/<webhook_id>"
THE_BUNDLED = {"referral_id": "referral_bundled"}  # the bundle's own referral
# hub-wide roles on pages: a coordinator has no intake, provider or admin page; a hub
# administrator administers every agency's staff, systems and services (not its webhooks)
NO_HUB: dict[str, Expect] = {"coordinator": EDGE, "hub_admin": EDGE}
HUB_ADMIN: dict[str, Expect] = {"coordinator": EDGE, "hub_admin": 200}
HUB_ADMIN_FORM: dict[str, Expect] = {"coordinator": EDGE, "hub_admin": 302}


def _page_consent(tenant: Tenant, world: World) -> dict[str, Any]:
    signed = clock.now() - timedelta(days=1)  # in any display zone, not in the future
    return {
        "recipients": [str(world.partner)],
        "purposes": ["emergency_shelter"],
        "data_categories": ["contact"],
        "method": "written",
        "signer": "survivor",
        "signed_at": signed.strftime("%Y-%m-%dT%H:%M"),
    }


def _refer_again(tenant: Tenant, world: World) -> dict[str, Any]:
    return {"service_id": str(world.partner_case)}


def _bundled(method: str, suffix: str, param: str, **extra: Any) -> Page:
    slot = "bundle" if param == "bundle_id" else "referral_bundled"
    return Page(
        method,
        f"{BUNDLED}{suffix}",
        param,
        slot,
        subject="bundle" if param == "bundle_id" else "referral",
        slots=THE_BUNDLED,
        hub=NO_HUB,
        **extra,
    )


def _provider_action(action: str) -> Page:
    return Page(
        "POST",
        f"{RECEIVED}/<action>",
        "referral_id",
        ACTION_SLOT[action],
        action=action,
        staff=302,
        body=_fixed(ACTION_BODY.get(action, {})),
        subject="referral",
        proof=None,
        hub=NO_HUB,
        role="provider",
    )


def _card(suffix: str, body: Body | None = None) -> Page:
    return Page(
        "POST",
        f"{CARD}/{suffix}",
        "service_id",
        "service",
        staff=302,
        body=body,
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        proof=None,
        hub=NO_HUB,
        role="provider",
    )


def _admin(method: str, rule: str, param: str, slot: str, subject: str, **extra: Any) -> Page:
    posted = method in UNSAFE
    settings: dict[str, Any] = {
        "staff": 302 if posted else 200,
        "proof": None if posted else "same",
        "hub": HUB_ADMIN_FORM if posted else HUB_ADMIN,
        "role": "agency_admin",
        **extra,
    }
    return Page(method, rule, param, slot, subject=subject, **settings)


def _outside_referral(tenant: Tenant, world: World) -> dict[str, Any]:
    return {
        "organisation_id": str(tenant.ids["outside_organisation"]),
        "consent_id": str(tenant.ids["outside_consent"]),
        "purpose": "emergency_shelter",
        "urgency": "routine",
        "data_categories": ["contact"],
    }


def _outside_page(method: str, suffix: str, **extra: Any) -> Page:
    posted = method in UNSAFE
    settings: dict[str, Any] = {
        "staff": 302 if posted else 200,
        "proof": None if posted else "same",
        "hub": NO_HUB,
        **extra,
    }
    slot = settings.pop("slot", "outside_referral")
    param = settings.pop("param", "referral_id")
    return Page(method, f"{OUTSIDE_PAGE}{suffix}", param, slot, subject=slot, **settings)


OUTSIDE_PAGE = "/intake/outside/<referral_id>"
OUTSIDE_CLIENT = "/intake/outside/clients/<client_id>"

PAGE_ROUTES: list[Page] = [
    # referring her outside the hub: her agency's pages only
    Page("GET", OUTSIDE_CLIENT, "client_id", "client", subject="client", hub=NO_HUB),
    Page(
        "POST",
        OUTSIDE_CLIENT,
        "client_id",
        "client",
        staff=302,
        body=_outside_referral,
        subject="client",
        proof=None,
        hub=NO_HUB,
    ),
    Page(
        "POST",
        f"{OUTSIDE_CLIENT}/organisations",
        "client_id",
        "client",
        staff=302,
        body=_fixed({"name": "Hillside Refuge", "phone": "+1 555 0199"}),
        subject="client",
        proof=None,
        hub=NO_HUB,
    ),
    _outside_page("GET", ""),
    _outside_page("GET", "/letter", proof=None),  # printed for them: it names no id
    _outside_page("POST", "/links", staff=200, proof="same"),  # the new link, shown once
    _outside_page("POST", "/withdraw"),
    *(
        _outside_page(
            "POST", "/links/<link_id>/revoke", param=param, slot=slot, slots=OUTSIDE_SLOTS
        )
        for param, slot in OUTSIDE_SLOTS.items()
    ),
    # intake: her record and her consents, the owning agency's
    Page("GET", INTAKE_CLIENT, "client_id", "client", subject="client", hub=NO_HUB),
    Page("GET", f"{INTAKE_CLIENT}/consent", "client_id", "client", subject="client", hub=NO_HUB),
    Page(
        "POST",
        f"{INTAKE_CLIENT}/consent",
        "client_id",
        "client",
        staff=302,
        body=_page_consent,
        subject="client",
        proof=None,
        hub=NO_HUB,
    ),
    *(
        Page(
            "POST",
            f"{INTAKE_CLIENT}/consents/<consent_id>/revoke",
            param,
            param.removesuffix("_id"),
            staff=302,
            body=_fixed({"reason": "she asked"}),
            subject=param.removesuffix("_id"),
            proof=None,
            hub=NO_HUB,
        )
        for param in ("client_id", "consent_id")
    ),
    # her door, from her agency's side: her code (a page in her language for her to carry),
    # the safe receipt, and an erasure she asked for at the door
    Page(
        "GET", f"{INTAKE_CLIENT}/access-code", "client_id", "client", subject="client", hub=NO_HUB
    ),
    Page(
        "POST",
        f"{INTAKE_CLIENT}/access-code",
        "client_id",
        "client",
        staff=201,  # the card with her new code, shown this once (not a redirect)
        body=_fixed({"pin": "2468", "pin_again": "2468"}),
        subject="client",
        hub=NO_HUB,
    ),
    Page(
        "GET", f"{INTAKE_CLIENT}/safe-receipt", "client_id", "client", subject="client", hub=NO_HUB
    ),
    Page(
        "POST",
        "/intake/erasure-requests/<request_id>/confirm",
        "request_id",
        "erasure_request",
        staff=302,
        subject="erasure_request",
        proof=None,
        hub=NO_HUB,
    ),
    # following a bundle: the sender's; the referral must be the bundle's own
    Page("GET", BUNDLE_PAGE, "bundle_id", "bundle", subject="bundle", hub=NO_HUB),
    Page("GET", f"{BUNDLE_PAGE}/receipt", "bundle_id", "bundle", subject="bundle", hub=NO_HUB),
    # handing the bundle over: the tenant's second user is a provider, refused by rule (the
    # form again, 422) once the bundle is loaded as the caller's own
    Page(
        "POST",
        f"{BUNDLE_PAGE}/assign",
        "bundle_id",
        "bundle",
        staff=422,
        body=_colleague(None),
        subject="bundle",
        proof=None,
        hub=NO_HUB,
    ),
    *(
        row
        for param in ("bundle_id", "referral_id")
        for row in (
            _bundled("GET", "", param, proof="referral_bundled"),
            _bundled(
                "POST",
                "/messages",
                param,
                staff=302,
                body=_fixed({"body": "She arrives by the 18:40 bus."}),
                proof=None,
            ),
            # the bundled referral is sent, not asked a question: refused for its state
            _bundled(
                "POST",
                "/provide-info",
                param,
                staff=409,
                body=_fixed({"answer": "Yes, with her two children."}),
                proof=None,
            ),
            _bundled(
                "POST",
                "/withdraw",
                param,
                staff=302,
                body=_fixed({"reason": "placed closer to home"}),
                proof=None,
            ),
            # it has not ended: referring again is refused ("follows an ended referral")
            _bundled("POST", "/refer-again", param, staff=422, body=_refer_again, proof=None),
        )
    ),
    # the provider's side: what it received, and its capacity board
    Page(
        "GET", RECEIVED, "referral_id", "received", subject="referral", hub=NO_HUB, role="provider"
    ),
    *(_provider_action(action) for action in PROVIDER_ACTIONS),
    Page(
        "POST",
        f"{RECEIVED}/messages",
        "referral_id",
        "received",
        staff=302,
        body=_fixed({"body": "A bed is ready."}),
        subject="referral",
        proof=None,
        hub=NO_HUB,
        role="provider",
    ),
    Page(
        "POST",
        f"{RECEIVED}/assign",
        "referral_id",
        "received_accepted",
        staff=302,
        body=_colleague(None),
        subject="referral",
        proof=None,
        hub=NO_HUB,
        role="provider",
    ),
    _card("less"),
    _card("more"),
    _card("confirm"),
    _card("set", _fixed({"total": 20, "available": 5})),
    _card("hold", _fixed({"hold_minutes": 120, "night_hold_minutes": 480})),
    _card("overflow", _page_overflow),
    Page(
        "POST",
        "/provider/overflow/<window_id>/close",
        "window_id",
        "overflow",
        staff=302,
        access=DIRECTORY_WRITE,
        reason=DIRECTORY_WRITE_REASON,
        proof=None,
        hub=NO_HUB,
        role="provider",
    ),
    Page(
        "POST",
        f"{RECEIVED}/extend-hold",
        "referral_id",
        "received_accepted",
        staff=409,  # routine: no arrival deadline to extend (found first, then refused)
        body=_fixed({"reason": "transport_delayed"}),
        subject="referral",
        proof=None,
        hub=NO_HUB,
        role="provider",
    ),
    # administration: the agency's staff, systems, webhooks and services
    _admin("GET", ADMIN_USER, "user_id", "user", "user_account"),
    _admin(
        "POST",
        ADMIN_USER,
        "user_id",
        "user",
        "user_account",
        body=_fixed({"display_name": "Renamed", "roles": ["provider"]}),
    ),
    _admin(
        "POST",
        f"{ADMIN_USER}/active",
        "user_id",
        "user",
        "user_account",
        body=_fixed({"is_active": "false"}),
    ),
    _admin("POST", f"{ADMIN_USER}/reset-second-factor", "user_id", "user", "user_account"),
    _admin(
        "POST",
        f"{ADMIN_USER}/password",
        "user_id",
        "user",
        "user_account",
        body=_fixed({"password": "correct horse battery staple 42"}),
    ),
    # the form names the agency (a hub administrator's page is about the agency picked)
    _admin(
        "POST",
        "/admin/api-clients/<client_pk>/revoke",
        "client_pk",
        "api_client",
        "api_client",
        body=lambda tenant, world: {"agency": str(tenant.ids["agency"])},
    ),
    _admin(
        "POST",
        "/admin/api-clients/<client_pk>/keys",
        "client_pk",
        "api_client",
        "api_client",
        body=lambda tenant, world: {
            "agency": str(tenant.ids["agency"]),
            "jwks": json.dumps(CLIENT_JWKS),
        },
    ),
    _admin("GET", ADMIN_WEBHOOK, "webhook_id", "webhook", "webhook", hub=NO_HUB),
    _admin("POST", f"{ADMIN_WEBHOOK}/disable", "webhook_id", "webhook", "webhook", hub=NO_HUB),
    _admin("GET", ADMIN_SERVICE, "service_id", "service", "service"),
    _admin(
        "POST",
        ADMIN_SERVICE,
        "service_id",
        "service",
        "service",
        body=_fixed({"hours": "Mon-Fri 9-17"}),
    ),
    # oversight: a coordinator's page (the agency's own staff are refused at the edge)
    Page(
        "POST",
        "/network/in-limbo/<referral_id>/nudge",
        "referral_id",
        "referral",
        staff=EDGE,
        body=_fixed({"to": "receiver"}),
        subject="referral",
        hub_proof=None,  # the form is accepted with a redirect to the queue
        hub={"coordinator": 302, "hub_admin": EDGE},
        role="coordinator",
    ),
    Page(
        "GET",
        "/network/referrals/<referral_id>",
        "referral_id",
        "referral",
        staff=EDGE,
        subject="referral",
        # it names the referral by her reference, not by its id: the 200 (a missing id
        # answers 404) is the proof it was reached
        hub_proof=None,
        hub={"coordinator": 200, "hub_admin": EDGE},
        role="coordinator",
    ),
]


# --- the world ------------------------------------------------------------------------------


@dataclass
class Tenant:
    """One agency and one of each of its objects, with every value they hold."""

    kind: AgencyKind
    ids: dict[str, uuid.UUID]
    public: set[str]  # directory values: its agency's and service's id and name
    private: set[str]  # every other value (ids, references, e-mails, names, PII, text)
    pii: set[str]  # of which survivor data: what no hub-wide role may see either
    staff: uuid.UUID  # a user with intake, provider and agency_admin, password and TOTP
    totp: str
    client_id: str
    secret: str

    @property
    def everything(self) -> set[str]:
        return self.public | self.private


@dataclass
class World:
    tenants: dict[AgencyKind, Tenant]
    other: Tenant  # the other tenant whose objects the matrix reaches for
    partner: uuid.UUID  # the agency both send to and receive from
    partner_case: uuid.UUID  # its case management service (the bundles' need)
    hub_staff: dict[str, tuple[uuid.UUID, str]]  # coordinator, hub_admin: user id, TOTP
    # by bind key: the main database (None) and the key store; a test's own connections
    connections: dict[str | None, Any] = field(default_factory=dict)

    @property
    def connection(self) -> Any:
        return self.connections[None]


def _mark() -> str:
    return "zq" + uuid.uuid4().hex[:12]


def _actor(user: User, roles: set[str]) -> Actor:
    return Actor(ActorKind.USER, str(user.id), user.agency_id, frozenset(roles))


def _client_pii(mark: str) -> dict[str, Any]:
    return {
        "name": f"{mark} name",
        "dob": "1999-04-01",
        "contact": f"{mark} +1 555 0100",
        "narrative": f"{mark} narrative",
        "immigration": f"{mark} immigration",
        "health": f"{mark} health",
        "justice": f"{mark} justice",
    }


def _marked_pii(mark: str) -> list[str]:
    """Her PII values that are hers alone (a date of birth may well be someone else's)."""
    return [value for value in _client_pii(mark).values() if mark in value]


def build_tenant(kind: AgencyKind, partner: dict[str, Any]) -> Tenant:
    """An agency of `kind` and one of each object a route names, in the states the actions
    need: what it sent (draft, sent, info requested, a bundle), what it received (sent,
    accepted, engaged), its client, consent, staff, systems, service and webhook."""
    mark = _mark()
    private: set[str] = set()
    pii: set[str] = set()  # survivor data (and the confidential address): a subset of private
    ids: dict[str, uuid.UUID] = {}

    def keep(slot: str | None, *values: Any) -> None:
        for value in values:
            if value is None:
                continue
            private.add(str(value))
            if isinstance(value, uuid.UUID):
                private.add(value.hex)
        if slot is not None:
            ids[slot] = values[0]

    agency = agencies.create_agency(SYSTEM, name=f"Agency {mark}", kind=kind, city="Riverbend")
    ids["agency"] = agency.id
    staff = factories.with_password(
        agencies.create_user(
            SYSTEM,
            agency_id=agency.id,
            email=f"staff-{mark}@agency.example",
            display_name=f"Staff {mark}",
            roles=["intake", "provider", "agency_admin"],
            notify=False,
        )
    )
    totp = factories.with_totp(staff)
    keep(None, staff.id, staff.email, staff.display_name)
    other_user = agencies.create_user(
        SYSTEM,
        agency_id=agency.id,
        email=f"user-{mark}@agency.example",
        display_name=f"User {mark}",
        roles=["provider"],
        notify=False,
    )
    keep("user", other_user.id, other_user.email, other_user.display_name)
    factories.with_totp(other_user)  # a second factor an administrator may reset
    system, secret = create_api_client(
        SYSTEM, agency_id=agency.id, name=f"System {mark}", scopes=list(SCOPES)
    )
    keep(None, system.id, system.client_id, system.name)
    target, _ = create_api_client(
        SYSTEM, agency_id=agency.id, name=f"Target {mark}", scopes=["directory:read"]
    )
    keep("api_client", target.id, target.client_id, target.name)

    actor = _actor(staff, {"intake", "provider", "agency_admin"})
    service = directory.create_service(
        SYSTEM,
        agency_id=agency.id,
        category=Category("emergency_shelter"),
        name=f"Beds {mark}",
        location={
            "name": f"{mark} house",
            "address": {"street": f"{mark} hidden lane"},
            "city": "Riverbend",
            "confidential": True,
            "latitude": 41.8827,
            "longitude": -87.6233,
        },
    )
    ids["service"] = service.id
    # a confidential site's address: not her data, but held as closely
    keep(None, f"{mark} house", f"{mark} hidden lane")
    pii.update((f"{mark} house", f"{mark} hidden lane"))
    set_capacity(actor, service.id, total=10, available=10, note="ten beds")
    window = open_overflow(
        actor,
        service.id,
        starts_at=clock.now() - timedelta(hours=1),
        ends_at=clock.now() + timedelta(days=30),
        places=3,
    )
    ids["overflow"] = window.id  # a directory entry's: public, like the service's id

    def own_client(label: str) -> Any:
        record = create_client(
            actor, pii=_client_pii(f"{mark} {label}"), profile={"language": "es"}
        )
        keep(None, record.id, record.reference, *_marked_pii(f"{mark} {label}"))
        pii.update(_marked_pii(f"{mark} {label}"))
        return record

    client = own_client("client")
    keep("client", client.id)
    # her code to her own door (kept: the code is hers alone), and another client's request
    # to be erased, made there
    keep(None, access.issue_code(actor, client.id, "2580").code)
    asking = own_client("erasing")
    keep("erasure_request", survivor.request_erasure(survivor_actor(asking.id)).id)
    consent = record_consent(
        actor,
        client.id,
        recipients=[partner["agency"]],
        purposes=["emergency_shelter", "case_management"],
        data_categories=["contact"],
        method="written",
        signer="survivor",
        form_version="1",
        form_language="en",
        signed_at=clock.now(),
    )
    keep("consent", consent.id)

    def send(record: Any, service_id: uuid.UUID, **extra: Any) -> Any:
        referral = referrals.send_referral(
            actor,
            client_id=record.id,
            service_id=service_id,
            urgency=Urgency.ROUTINE,
            data_categories=["profile"],
            **extra,
        )
        keep(None, referral.id)
        return referral

    keep("referral", send(client, partner["shelter"]).id)
    keep("referral_draft", send(client, partner["case"], send=False).id)
    asked = send(own_client("asked"), partner["shelter"])
    referrals.transition(partner["actor"], asked.id, "request-info", question="Her age?")
    keep("referral_info", asked.id)
    message = conversation.post_message(actor, ids["referral"], f"{mark} message body")
    keep("message", message["id"], message["body"])
    pii.add(message["body"])
    bundle = bundles.create_bundle(
        actor,
        client_id=own_client("bundled").id,
        urgency=Urgency.ROUTINE,
        needs=[
            {
                "category": "case_management",
                "service_ids": [partner["case"]],
                "data_categories": ["profile"],
            }
        ],
    )
    keep("bundle", bundle.id)
    for described in bundles.describe(bundle)["needs"]:
        keep(None, described["id"], *(item["id"] for item in described["referrals"]))
        ids.setdefault("referral_bundled", uuid.UUID(str(described["referrals"][0]["id"])))

    # received from the partner: its clients, under consents naming this agency (a
    # law-enforcement receiver gets nothing without the law_enforcement_contact purpose)
    def receive(label: str, *moves: str) -> uuid.UUID:
        theirs = create_client(partner["actor"], pii=_client_pii(f"{mark} {label}"))
        keep(None, theirs.id, theirs.reference, *_marked_pii(f"{mark} {label}"))
        pii.update(_marked_pii(f"{mark} {label}"))
        their_consent = record_consent(
            partner["actor"],
            theirs.id,
            recipients=[agency.id],
            purposes=["emergency_shelter", "law_enforcement_contact"],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="en",
            signed_at=clock.now(),
        )
        keep(None, their_consent.id)
        referral = referrals.send_referral(
            partner["actor"],
            client_id=theirs.id,
            service_id=service.id,
            urgency=Urgency.ROUTINE,
            data_categories=["profile", "contact"],
            consent_id=their_consent.id,
        )
        for move in moves:
            referrals.transition(actor, referral.id, move)
        keep(None, referral.id)
        return referral.id

    ids["received"] = receive("received")
    ids["received_accepted"] = receive("accepted", "accept")
    ids["received_engaged"] = receive("engaged", "accept", "confirm-arrival")

    # an organisation not on the hub, named in her consent, a referral to it and its link
    refuge = outside_organisations.add_organisation(
        actor, name=f"Refuge {mark}", phone=f"{mark} phone", email=f"{mark}@refuge.example"
    )
    keep("outside_organisation", refuge.id, refuge.name, refuge.phone, refuge.email)
    outside_consent = factories.written_consent(
        actor,
        client.id,
        recipients=[refuge.id],
        purposes=["emergency_shelter"],
        data_categories=["contact"],
    )
    keep("outside_consent", outside_consent.id)
    sent_outside = outside.refer_outside(
        actor,
        client_id=client.id,
        organisation_id=refuge.id,
        consent_id=outside_consent.id,
        purpose="emergency_shelter",
        urgency=Urgency.ROUTINE,
        data_categories=["contact"],
    )
    keep("outside_referral", sent_outside.id)
    outside_link, link_token = outside.issue_link(actor, sent_outside.id)
    keep("outside_link", outside_link.id, link_token)

    hook, hook_secret = subscribe(
        _actor(staff, {"agency_admin"}),
        url=f"https://{mark}.example/hook",
        events=["referral.entered_in_error"],
    )
    keep("webhook", hook.id, hook.url, hook_secret)
    delivery = OutboxMessage(
        id=uuid.uuid4(),
        kind="webhook",
        payload={"webhook_id": str(hook.id), "event": "referral.entered_in_error", "at": "x"},
        target=str(hook.id),
        status=OutboxStatus.DELIVERED,
        attempts=1,
        delivered_at=clock.now(),
    )
    db.session.add(delivery)
    db.session.flush()
    keep("delivery", delivery.id)

    public = {str(agency.id), agency.id.hex, agency.name, str(service.id), service.id.hex}
    public.update((str(window.id), window.id.hex))
    public.add(service.name)
    return Tenant(
        kind=kind,
        ids=ids,
        public=public,
        private=private - public,
        pii=pii,
        staff=staff.id,
        totp=totp,
        client_id=system.client_id,
        secret=secret,
    )


def build_partner() -> dict[str, Any]:
    agency = agencies.create_agency(SYSTEM, name=f"Partner {_mark()}", kind=AgencyKind.SHELTER)
    shelter = factories.directory_service(agency, "emergency_shelter")
    case = factories.directory_service(agency, "case_management")
    set_capacity(SYSTEM, shelter.id, total=50, available=50)
    return {
        "agency": agency.id,
        "shelter": shelter.id,
        "case": case.id,
        "actor": Actor(ActorKind.USER, "partner-intake", agency.id, frozenset({"intake"})),
    }


def build_hub_staff() -> dict[str, tuple[uuid.UUID, str]]:
    office = agencies.create_agency(SYSTEM, name=f"Hub office {_mark()}", kind=AgencyKind.OTHER)
    staff = {}
    for role in ("coordinator", "hub_admin"):
        person = factories.with_password(factories.user(office, [role]))
        staff[role] = (person.id, factories.with_totp(person))
    return staff


@pytest.fixture(scope="module")
def app(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """This module's own database (overriding conftest's `app`), so that the world can be
    committed once and every test still runs in conftest's rolled-back `session`."""
    with rolled_back_app(f"isolation_{worker_id}", worker_id, tmp_path_factory) as application:
        yield application


@pytest.fixture(scope="module")
def built(app: Flask) -> World:
    with app.app_context():
        with transaction():
            partner = build_partner()
            tenants = {kind: build_tenant(kind, partner) for kind in AgencyKind}
            other = build_tenant(AgencyKind.SHELTER, partner)
            hub_staff = build_hub_staff()
        db.session.remove()
    return World(tenants, other, partner["agency"], partner["case"], hub_staff)


@pytest.fixture
def world(built: World, session: Any) -> World:
    """The world, seen through this test's rolled-back connections."""
    return replace(built, connections=dict(db.engines))


# --- one request, observed and undone ---------------------------------------------------------

# rows that a refused request legitimately writes: its audit event (and the chain head),
# the sign-in session's last-seen time, the rate-limit counter
UNWATCHED = {"audit_event", "audit_head", "staff_session", "rate_limit_counter"}
# the table a statement writes to ("FOR UPDATE" locks, it does not write)
WRITE = re.compile(
    r'(?<!FOR )\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE
)
# the rows an object's state is made of: (bind, table, column holding the object's id)
STATE_ROWS: dict[str, list[tuple[str | None, str, str]]] = {
    "agency": [
        (None, "agency", "id"),
        (None, "user_account", "agency_id"),
        (None, "api_client", "agency_id"),
        (None, "service", "agency_id"),
    ],
    "user": [(None, "user_account", "id")],
    "api_client": [(None, "api_client", "id"), (None, "access_token", "client_pk")],
    "client": [
        (None, "client", "id"),
        (None, "consent", "client_id"),
        (None, "access_grant", "client_id"),
        (None, "referral", "client_id"),
        (None, "survivor_access", "client_id"),
        (None, "erasure_request", "client_id"),
        (keystore.BIND, "client_key", "client_id"),
    ],
    "consent": [
        (None, "consent", "id"),
        (None, "referral", "consent_id"),
        (None, "access_grant", "consent_id"),
    ],
    "bundle": [
        (None, "bundle", "id"),
        (None, "need", "bundle_id"),
        (None, "referral", "bundle_id"),
    ],
    "referral": [
        (None, "referral", "id"),
        (None, "referral_message", "referral_id"),
        (None, "access_grant", "referral_id"),
    ],
    "service": [
        (None, "service", "id"),
        (None, "capacity", "service_id"),
        (None, "capacity_change", "service_id"),
        (None, "overflow_window", "service_id"),
    ],
    "overflow": [(None, "overflow_window", "id")],
    "webhook": [(None, "webhook", "id"), (None, "outbox_message", "target")],
    "erasure_request": [(None, "erasure_request", "id")],
    "outside_referral": [(None, "outside_referral", "id"), (None, "outside_link", "referral_id")],
    "outside_link": [(None, "outside_link", "id")],
}


def state_of(world: World, slot: str, object_id: uuid.UUID) -> list[Any]:
    """Every row that makes up the object's state, read fresh from the database."""
    kind = "referral" if slot.startswith(("referral", "received")) else slot
    tables = {**db.metadata.tables, **keystore.KeysBase.metadata.tables}
    rows = []
    for bind, name, column_name in STATE_ROWS[kind]:
        table = tables[name]
        column = table.c[column_name]
        value = object_id if isinstance(column.type, Uuid) else str(object_id)
        statement = select(table).where(column == value).order_by(*table.primary_key.columns)
        rows.append((name, world.connections[bind].execute(statement).all()))
    return rows


@contextmanager
def writes(world: World) -> Iterator[set[str]]:
    """The watched tables that statements sent meanwhile wrote to (or tried to)."""
    watched = {
        table
        for metadata in (db.metadata, keystore.KeysBase.metadata)
        for table in metadata.tables
        if table not in UNWATCHED
    }
    written: set[str] = set()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        written.update(name.lower() for name in WRITE.findall(statement))

    for connection in world.connections.values():
        event.listen(connection, "before_cursor_execute", record)
    try:
        yield written
    finally:
        for connection in world.connections.values():
            event.remove(connection, "before_cursor_execute", record)
        written.intersection_update(watched)


@dataclass
class Seen:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    request_id: str
    denials: list[tuple[str | None, str | None, Any]]  # (subject type, id, reason)
    written: set[str]  # watched tables the request wrote to
    state_kept: bool  # the object's rows after the request are as before it

    @property
    def shape(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """The response with the request's own id replaced: all that may not differ."""
        placeholder = "<request-id>"
        headers = sorted((k, v.replace(self.request_id, placeholder)) for k, v in self.headers)
        body = self.body.replace(self.request_id.encode(), b"<request-id>")
        return self.status, headers, CSRF_TOKEN.sub(rb"\1<csrf-token>", body)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace") + "\n" + repr(self.headers)

    def leaks(self, values: set[str]) -> list[str]:
        """Which of `values` appear anywhere in the answer (its body or a header).

        A substring test per value: a few hundred of them over a page cost a fraction of one
        regular expression alternating between them all (which tries each at every offset).
        """
        text = self.text()
        return sorted(value for value in values if value and value in text)


# a page's CSRF token: the session's, signed with the second it was rendered in
CSRF_TOKEN = re.compile(rb'(name="csrf_token" value="|"X-CSRFToken": ")[^"]+')


def exchange(
    world: World,
    http: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    target: tuple[str, uuid.UUID] | None = None,
    form: bool = False,
) -> Seen:
    """Send one request inside a savepoint on each database, observe it, roll it back.

    `target` (slot, id): an existing object whose rows must be the same afterwards;
    `form`: the body is posted as a page's form (url-encoded), not as JSON.
    """
    request_id = f"iso-{uuid.uuid4().hex}"
    savepoints = [connection.begin_nested() for connection in world.connections.values()]
    try:
        before = state_of(world, *target) if target else None
        with writes(world) as written:
            response = http.open(
                path,
                method=method,
                headers={**headers, "X-Request-Id": request_id},
                **({"data": body or {}} if form else {"json": body}),
            )
        denials = [
            (row.subject_type, row.subject_id, (row.details or {}).get("reason"))
            for row in world.connection.execute(
                select(AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.details).where(
                    AuditEvent.request_id == request_id, AuditEvent.action == "access.denied"
                )
            )
        ]
        return Seen(
            response.status_code,
            list(response.headers.items()),
            response.get_data(),
            request_id,
            denials,
            set(written),
            before is None or state_of(world, *target) == before,  # type: ignore[misc]
        )
    finally:
        for savepoint in reversed(savepoints):
            savepoint.rollback()


def path_of(route: Route, values: dict[str, uuid.UUID]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return route.action if name == "action" and route.action else str(values[name])

    return re.sub(r"<([a-z_]+)>", fill, route.rule)


PARAM_SLOT = {
    "agency_id": "agency",
    "client_pk": "api_client",
    "user_id": "user",
    "client_id": "client",
    "consent_id": "consent",
    "bundle_id": "bundle",
    "service_id": "service",
    "webhook_id": "webhook",
    "request_id": "erasure_request",
    "window_id": "overflow",
}


def values_for(route: Route, fixed: Tenant, varied: uuid.UUID) -> dict[str, uuid.UUID]:
    """The path's ids: `varied` for the row's parameter, `fixed`'s objects for the others."""
    values = {name: fixed.ids[slot] for name, slot in {**PARAM_SLOT, **route.slots}.items()}
    values[route.param] = varied
    return values


# --- credentials ----------------------------------------------------------------------------


@dataclass
class Caller:
    http: Any
    headers: dict[str, str]
    csrf: str | None = None

    def headers_for(self, method: str) -> dict[str, str]:
        if self.csrf and method in UNSAFE:
            return {**self.headers, "X-CSRFToken": self.csrf}
        return dict(self.headers)


def staff_caller(app: Flask, user_id: uuid.UUID, totp: str) -> Caller:
    http = app.test_client()
    person = db.session.get(User, user_id)
    assert person is not None
    csrf = factories.sign_in(http, person, totp)
    return Caller(http, {}, csrf)


def token_caller(app: Flask, tenant: Tenant) -> Caller:
    http = app.test_client()
    token = factories.token(http, tenant.client_id, tenant.secret)
    return Caller(http, {"Authorization": f"Bearer {token}"})


# --- the tests ------------------------------------------------------------------------------

# a werkzeug rule's variable part: <name>, <converter:name>, <converter(arguments):name>
ARGUMENT = re.compile(
    r"<(?:(?P<converter>[a-z_]+)(?:\((?P<arguments>[^)]*)\))?:)?(?P<name>[a-z_]+)>"
)


def discovered(app: Flask) -> tuple[set[tuple[str, str, str, str | None]], set[tuple[str, str]]]:
    """(method, rule, id parameter, action) of every route with a uuid in its path, and
    (rule, parameter) of every other path parameter; rules written as `<name>` only."""
    with_ids, others = set(), set()
    for rule in app.url_map.iter_rules():
        parts = list(ARGUMENT.finditer(rule.rule))
        plain = ARGUMENT.sub(lambda part: f"<{part['name']}>", rule.rule)
        ids = [part["name"] for part in parts if part["converter"] == "uuid"]
        others |= {(plain, part["name"]) for part in parts if part["converter"] != "uuid"}
        # one row per referral action: those the rule's converter lists, else every public one
        listed = [
            re.findall(r'"([^"]+)"', p["arguments"] or "") for p in parts if p["name"] == "action"
        ]
        actions: list[str | None] = [None]
        if listed:
            actions = list(listed[0] or PUBLIC_ACTIONS)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for name in ids:
                with_ids |= {(method, plain, name, action) for action in actions}
    return with_ids, others


def test_every_route_with_an_id_is_classified(app: Flask) -> None:
    """Every route with an id is an API row (ROUTES) or a page row (PAGE_ROUTES)."""
    with_ids, others = discovered(app)
    classified = [route.key for route in [*ROUTES, *PAGE_ROUTES]]
    assert len(classified) == len(set(classified)), "a route is classified twice"
    assert sorted(with_ids - set(classified), key=str) == [], "routes with an id, unclassified"
    assert sorted(set(classified) - with_ids, key=str) == [], "rows for routes that are gone"
    assert others == set(NOT_AN_ID), "a path parameter that is not an id, unexplained"
    for route in [*ROUTES, *PAGE_ROUTES]:
        assert route.access == PRIVATE or route.reason, f"{route.name}: say why"
        assert route.access != PRIVATE or route.subject, f"{route.name}: audit subject"
        assert set(route.hub) == {"coordinator", "hub_admin"}, f"{route.name}: hub roles"
    machine = ("/api/", "/fhir/")
    assert all(route.rule.startswith(machine) for route in ROUTES), "a page among the API rows"
    assert not any(page.rule.startswith(machine) for page in PAGE_ROUTES), "an API page row"
    # the published contract agrees: every uuid path parameter in the OpenAPI document is
    # one the matrix covers, and the other way round
    with app.app_context():
        document = api.spec.to_dict()
    published = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                if parameter["in"] == "path" and parameter["schema"].get("format") == "uuid":
                    published.add((method.upper(), path, parameter["name"]))
    routed = {
        (method, re.sub(r"<([a-z_]+)>", r"{\1}", rule), name)
        for method, rule, name, _ in with_ids
        if rule.startswith("/api/")
    }
    assert published == routed


KINDS = list(AgencyKind)


@pytest.mark.parametrize("auth", ["token", "session"])
@pytest.mark.parametrize("kind", KINDS, ids=[kind.value for kind in KINDS])
def test_tenant_isolation(app: Flask, world: World, kind: AgencyKind, auth: str) -> None:
    tenant = world.tenants[kind]
    caller = (
        token_caller(app, tenant)
        if auth == "token"
        else staff_caller(app, tenant.staff, tenant.totp)
    )
    failures = matrix(world, tenant, caller, ROUTES, auth)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", KINDS, ids=[kind.value for kind in KINDS])
def test_page_isolation(app: Flask, world: World, kind: AgencyKind) -> None:
    """The same cells through the staff pages, with the staff session cookie: own object
    reached, another tenant's answering byte for byte as a missing one (the error page
    prints the request id too), nothing written, nothing of theirs shown, the attempt on
    the audit chain. Pages take no bearer token: one gets a page's own object nowhere."""
    tenant = world.tenants[kind]
    failures = matrix(world, tenant, staff_caller(app, tenant.staff, tenant.totp), PAGE_ROUTES)
    system = token_caller(app, tenant)
    mine = tenant.private
    for route in PAGE_ROUTES:
        body = route.body(tenant, world) if route.body else None
        path = path_of(route, values_for(route, tenant, tenant.ids[route.slot]))
        seen = exchange(world, system.http, route.method, path, system.headers, body, form=True)
        # the sign-in page (its `next` names the path asked for) or a refusal, no data
        shown = seen.leaks(mine - set(re.split(r"[/?&=]", path)))
        if seen.status not in (302, 400, 401, 403) or shown or seen.written:
            failures.append(
                f"{route.name}: a bearer token got {seen.status}, {shown}, wrote {seen.written}"
            )
        elif seen.status == 302:
            location = dict(seen.headers).get("Location", "")
            if not location.startswith("/login?"):
                failures.append(f"{route.name}: a bearer token sent to {location}")
    assert not failures, "\n".join(failures)


def matrix(
    world: World, tenant: Tenant, caller: Caller, routes: list[Route] | list[Page], auth: str = ""
) -> list[str]:
    """Every cell of `routes` for `tenant`'s `caller` (`auth` "token": its system's answers);
    what failed, one line each."""
    other = world.other
    forbidden_values = other.private | {
        value for t in world.tenants.values() if t is not tenant for value in t.private
    }
    failures: list[str] = []

    def expect(condition: bool, route: Route, message: str) -> None:
        if not condition:
            failures.append(f"{route.name}: {message}")

    for route in routes:
        own_expected = route.token if auth == "token" else route.staff
        body = route.body(tenant, world) if route.body else None
        headers = caller.headers_for(route.method)
        page = isinstance(route, Page)
        error_type = "text/html; charset=utf-8" if page else "application/problem+json"
        if route.rule.startswith("/fhir/"):
            error_type = "application/fhir+json"  # OperationOutcome

        def send(
            varied: uuid.UUID,
            target: tuple[str, uuid.UUID] | None = None,
            route: Route = route,
            headers: dict[str, str] = headers,
            body: dict[str, Any] | None = body,
            page: bool = page,
        ) -> Seen:
            path = path_of(route, values_for(route, tenant, varied))
            return exchange(world, caller.http, route.method, path, headers, body, target, page)

        own = send(tenant.ids[route.slot])
        mutating = route.method in UNSAFE
        foreign = send(
            other.ids[route.slot], (route.slot, other.ids[route.slot]) if mutating else None
        )
        missing = send(uuid.uuid4())

        for seen, case in ((own, "own"), (foreign, "foreign"), (missing, "missing")):
            leaked = seen.leaks(forbidden_values)
            expect(not leaked, route, f"{case}: another tenant's values in the answer {leaked}")
            if seen.status >= 400:
                expect(
                    dict(seen.headers).get("Content-Type") == error_type,
                    route,
                    f"{case}: {seen.status} is not {error_type}",
                )
        for seen, case in ((foreign, "foreign"), (missing, "missing")):
            expect(not seen.written, route, f"{case}: wrote to {sorted(seen.written)}")
        expect(foreign.state_kept, route, "foreign: the other tenant's object changed")
        if route.method in UNSAFE and own.status < 400:  # the write watch sees writes
            expect(bool(own.written), route, "own: a change that wrote nothing?")

        # own object: reached, and answered as the role allows
        if own_expected == EDGE:
            expect(own.status == 403, route, f"own: {own.status}, wanted 403 (role or scope)")
            expect(foreign.shape == missing.shape, route, "foreign differs from missing")
            expect(foreign.status == 403, route, f"foreign: {foreign.status}, wanted 403")
            for seen, case in ((foreign, "foreign"), (missing, "missing")):
                expect(
                    [reason for _, _, reason in seen.denials] == ["forbidden"],
                    route,
                    f"{case}: denial not recorded as forbidden: {seen.denials}",
                )
            continue
        expect(
            own.status == own_expected,
            route,
            f"own: {own.status}, wanted {own_expected}: {own.body[:300]!r}",
        )
        proof = route.proof_slot
        if proof and own.status < 300:
            expect(str(tenant.ids[proof]) in own.text(), route, f"own answer does not name {proof}")

        expect(missing.status == 404, route, f"missing: {missing.status}, wanted 404")
        expect(
            not [d for d in missing.denials if d[2] == "other_tenant"],
            route,
            f"missing recorded as a foreign attempt: {missing.denials}",
        )
        if route.access == DIRECTORY:
            expect(foreign.status == own_expected, route, f"directory read: {foreign.status}")
            continue
        leaked = foreign.leaks(other.everything)
        expect(not leaked, route, f"foreign: the other tenant's values in the answer {leaked}")
        if route.access == DIRECTORY_WRITE:
            expect(foreign.status == 403, route, f"directory write: {foreign.status}, wanted 403")
            expect(
                [reason for _, _, reason in foreign.denials] == ["forbidden"],
                route,
                f"directory write refusal not recorded: {foreign.denials}",
            )
            continue
        expect(foreign.shape == missing.shape, route, _difference(foreign, missing))
        wanted = [(route.subject, str(other.ids[route.slot]), "other_tenant")]
        expect(foreign.denials == wanted, route, f"foreign attempt recorded as {foreign.denials}")
    return failures


def _difference(foreign: Seen, missing: Seen) -> str:
    a, b = foreign.shape, missing.shape
    if a[0] != b[0]:
        return f"foreign answers {a[0]}, missing {b[0]}: {foreign.body[:200]!r}"
    if a[1] != b[1]:
        return f"headers differ: {sorted(set(a[1]) ^ set(b[1]))}"
    return f"bodies differ: {a[2]!r} vs {b[2]!r}"


@pytest.mark.parametrize("role", ["coordinator", "hub_admin"])
def test_hub_wide_roles(app: Flask, world: World, role: str) -> None:
    """Coordinators oversee every referral and bundle; hub administrators every agency's
    staff, systems and directory entries — neither sees survivor data. Elsewhere they are
    refused before any object is loaded, so another agency's object still answers exactly
    as a missing one."""
    user_id, totp = world.hub_staff[role]
    caller = staff_caller(app, user_id, totp)
    other = world.other
    failures: list[str] = []
    for route in [*ROUTES, *PAGE_ROUTES]:
        wanted = route.hub[role]
        body = route.body(other, world) if route.body else None
        headers = caller.headers_for(route.method)

        def send(
            varied: uuid.UUID,
            route: Route = route,
            headers: dict[str, str] = headers,
            body: dict[str, Any] | None = body,
        ) -> Seen:
            path = path_of(route, values_for(route, other, varied))
            page = isinstance(route, Page)
            return exchange(world, caller.http, route.method, path, headers, body, None, page)

        foreign, missing = send(other.ids[route.slot]), send(uuid.uuid4())
        leaked = foreign.leaks(other.pii)  # oversight and administration, never her data
        if leaked:
            failures.append(f"{route.name}: survivor data in a hub-wide answer {leaked}")
        if wanted == EDGE:
            if not (foreign.status == 403 and foreign.shape == missing.shape):
                failures.append(f"{route.name}: {foreign.status} / {_difference(foreign, missing)}")
            continue
        if foreign.status != wanted or missing.status != 404:
            failures.append(
                f"{route.name}: foreign {foreign.status} (wanted {wanted}), "
                f"missing {missing.status}: {foreign.body[:200]!r}"
            )
        proof = route.hub_proof_slot
        if proof and foreign.status < 300 and str(other.ids[proof]) not in foreign.text():
            failures.append(f"{route.name}: the answer does not name {proof}")
    assert not failures, "\n".join(failures)


IN_LIMBO_READS = ("/api/v1/reports/in-limbo", "/api/v1/reports/in-limbo/referrals")


@pytest.mark.parametrize("kind", KINDS, ids=[kind.value for kind in KINDS])
def test_the_in_limbo_queue_is_oversight_in_both_shapes(
    app: Flask, world: World, kind: AgencyKind
) -> None:
    """The queue spans every agency and so has no id to isolate: an agency's staff are
    refused both shapes (bundle items and rows) before anything is read; its system with
    `audit:read`, and the hub's coordinators, read them without any survivor's data; a hub
    administrator is refused. Nothing is written but the record of the read."""
    tenant = world.tenants[kind]
    everyone = set().union(*(t.pii for t in world.tenants.values()), world.other.pii)
    coordinator, administrator = (
        staff_caller(app, *world.hub_staff[role]) for role in ("coordinator", "hub_admin")
    )
    callers = {
        "staff": (staff_caller(app, tenant.staff, tenant.totp), 403),
        "system": (token_caller(app, tenant), 200),
        "coordinator": (coordinator, 200),
        "hub_admin": (administrator, 403),
    }
    failures = []
    for who, (caller, wanted) in callers.items():
        for path in IN_LIMBO_READS:
            seen = exchange(world, caller.http, "GET", path, caller.headers_for("GET"), None)
            if seen.status != wanted:
                failures.append(f"{who} {path}: {seen.status}, wanted {wanted}")
            if seen.leaks(everyone):
                failures.append(f"{who} {path}: survivor data {seen.leaks(everyone)}")
            if seen.written:
                failures.append(f"{who} {path}: wrote {seen.written}")
    assert not failures, "\n".join(failures)
