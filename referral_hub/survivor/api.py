"""/api/v1/clients/{id}/survivor-access: her private access code, issued by her agency."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from referral_hub.core.authz import current_actor, require
from referral_hub.core.errors import NotFound
from referral_hub.core.http import HubBlueprint
from referral_hub.survivor import access
from referral_hub.survivor.schemas import AccessSchema, IssueCodeArgs, IssuedCodeSchema

if TYPE_CHECKING:  # the view reads the record the service returns; it never queries
    from referral_hub.survivor.models import SurvivorAccess

blp = HubBlueprint(
    "survivor_access", __name__, url_prefix="/api/v1", description="The survivor's own door"
)
INTAKE = ("intake", "agency_admin")


def _view(record: SurvivorAccess) -> dict[str, Any]:
    return {
        "issued_at": record.issued_at,
        "works_until": access.works_until(record),
        "locked": access.is_locked(record),
        "safe_to_carry_only": record.safe_to_carry_only,
    }


@blp.route("/clients/<uuid:client_id>/survivor-access", methods=["POST"])
@require(*INTAKE, scopes="clients:write")
@blp.arguments(IssueCodeArgs, as_kwargs=True)
@blp.response(201, IssuedCodeSchema)
def issue_code(client_id: uuid.UUID, pin: str, safe_to_carry_only: bool) -> Any:
    """A new private code for her `/me` page (the old one stops working). The answer is
    the only place the code appears in clear: the hub keeps its hash, and (for a retry with
    the same Idempotency-Key, 24 hours) this answer sealed; it is sent nowhere else."""
    issued = access.issue_code(
        current_actor(), client_id, pin, safe_to_carry_only=safe_to_carry_only
    )
    return {**_view(issued.access), "code": issued.code}, 201, {"Cache-Control": "no-store"}


@blp.route("/clients/<uuid:client_id>/survivor-access")
@require(*INTAKE, scopes="clients:read")
@blp.response(200, AccessSchema)
def current_code(client_id: uuid.UUID) -> Any:
    """Whether she has a code in force (never the code), until when, and if it is locked."""
    record = access.current_access(current_actor(), client_id)
    if record is None:
        raise NotFound("No access code is in force for her.")
    return _view(record)
