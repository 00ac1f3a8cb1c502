"""/api/v1: her record as the consent policy shows it, her consents, who saw what, erasure.

Every read of her data here goes through the consent policy (`consent.service`), which is
why these routes live with consent rather than with the client record.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app

from referral_hub.clients.schemas import ClientCreatedSchema, ClientSchema
from referral_hub.consent import service as consent
from referral_hub.consent.schemas import (
    ConsentCreateArgs,
    ConsentRevokeArgs,
    ConsentSchema,
    DisclosureArgs,
    DisclosureSchema,
    RevokeArgs,
)
from referral_hub.core import clock
from referral_hub.core.authz import current_actor, require
from referral_hub.core.csvout import csv_text
from referral_hub.core.http import HubBlueprint

blp = HubBlueprint("consent", __name__, url_prefix="/api/v1", description="Consent and her data")
INTAKE = ("intake", "agency_admin")
READERS = ("intake", "provider", "agency_admin")


def consent_view(record: Any) -> dict[str, Any]:
    return {
        **{name: getattr(record, name) for name in ConsentSchema().fields if hasattr(record, name)},
        "signer_authority": consent.signer_authority(record),
        "status": record.status(clock.now()),
    }


@blp.route("/clients/<uuid:client_id>")
@require(*READERS, scopes="clients:read")
@blp.response(200, ClientSchema)
def get_client(client_id: uuid.UUID) -> Any:
    """The owner sees everything; a receiver what the consent policy allows; others 404."""
    shown = consent.disclose_client(current_actor(), client_id)
    record = shown.client
    return {
        "id": record.id,
        "reference": record.reference,
        "owner_agency": record.owner_agency_id,
        "profile": shown.profile,
        "pii": shown.pii,
        "categories": sorted(shown.categories),
        "do_not_refer": shown.do_not_refer,
        "consent_id": shown.consent_id,
    }


@blp.route("/clients/<uuid:client_id>/consents", methods=["POST"])
@require(*INTAKE, scopes="clients:write")
@blp.arguments(ConsentCreateArgs, as_kwargs=True)
@blp.response(201, ConsentSchema)
def record_consent(client_id: uuid.UUID, **fields: Any) -> Any:
    return consent_view(consent.record_consent(current_actor(), client_id, **fields))


@blp.route("/clients/<uuid:client_id>/consents")
@require(*INTAKE, scopes="clients:read")
@blp.response(200, ConsentSchema(many=True))
def list_consents(client_id: uuid.UUID) -> Any:
    return [consent_view(record) for record in consent.list_consents(current_actor(), client_id)]


@blp.route("/consents/<uuid:consent_id>/revoke", methods=["POST"])
@require(*INTAKE, scopes="clients:write")
@blp.arguments(ConsentRevokeArgs, as_kwargs=True)
@blp.response(200, ConsentSchema)
def revoke_consent(consent_id: uuid.UUID, reason: str, agency_id: uuid.UUID | None) -> Any:
    """Revoke now (or, with `agency_id`, for that agency only): receivers lose access on
    their next read."""
    record = consent.revoke_consent(current_actor(), consent_id, reason, agency_id=agency_id)
    return consent_view(record)


@blp.route("/clients/<uuid:client_id>/disclosures")
@require(*INTAKE, scopes="clients:read")
@blp.arguments(DisclosureArgs, location="query", as_kwargs=True)
@blp.response(200, DisclosureSchema(many=True))
@blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def disclosures(client_id: uuid.UUID, format: str) -> Any:
    """Who received or viewed her data, when, which categories, under which consent.

    `?format=csv` gives the same as a spreadsheet for her advocate.
    """
    rows = consent.disclosures(current_actor(), client_id)
    if format != "csv":
        return rows
    return current_app.response_class(
        csv_text(["at", "agency", "user", "action", "data_categories", "consent_id"], rows),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="disclosures.csv"'},
    )


@blp.route("/clients/<uuid:client_id>/erase", methods=["POST"])
@require(*INTAKE, scopes="clients:write")
@blp.arguments(RevokeArgs, as_kwargs=True)
@blp.response(200, ClientCreatedSchema)
def erase_client(client_id: uuid.UUID, reason: str) -> Any:
    """At her request: destroy her data key, so every copy of her PII stops opening."""
    return consent.erase_client(current_actor(), client_id, reason)
