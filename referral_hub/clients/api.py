"""/api/v1/clients: recording a client (reading her data is consent.api's: the policy decides)."""

from __future__ import annotations

from typing import Any

from referral_hub.clients import service as clients
from referral_hub.clients.schemas import ClientCreateArgs, ClientCreatedSchema
from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint

blp = HubBlueprint("clients", __name__, url_prefix="/api/v1", description="Clients")
INTAKE = ("intake", "agency_admin")


@blp.route("/clients", methods=["POST"])
@require(*INTAKE, scopes="clients:write")
@blp.arguments(ClientCreateArgs, as_kwargs=True)
@blp.response(201, ClientCreatedSchema)
def create_client(**fields: Any) -> Any:
    return clients.create_client(current_actor(), **fields)
