"""/api/v1/audit: the audit trail, for oversight (coordinators; systems with `audit:read`)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from referral_hub.audit import oversight
from referral_hub.audit.schemas import (
    AuditEventListArgs,
    AuditEventPageSchema,
    CheckpointListArgs,
    CheckpointPageSchema,
    PublicKeysSchema,
    VerificationSchema,
    VerifyArgs,
)
from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint

blp = HubBlueprint("audit", __name__, url_prefix="/api/v1/audit", description="Audit trail")


@blp.route("/events")
@require("coordinator", scopes="audit:read")
# a misspelt filter must be refused, not quietly widen an oversight query
@blp.arguments(AuditEventListArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, AuditEventPageSchema)
def list_events(limit: int, cursor: str | None, **filters: Any) -> Any:
    """Events in `seq` order, hub-wide, as stored and hashed (they hold no survivor data).

    Page with `next_cursor`, or tail with `after_seq`. Each query is itself recorded
    (`audit.events_read`); the pages after its first are part of the same query.
    """
    items, next_cursor = oversight.list_events(
        current_actor(), oversight.EventFilter(**filters), limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/checkpoints")
@require("coordinator", scopes="audit:read")
@blp.arguments(CheckpointListArgs, location="query", as_kwargs=True)
@blp.response(200, CheckpointPageSchema)
def list_checkpoints(limit: int, cursor: str | None, after_seq: int) -> Any:
    """Signed checkpoints, oldest first. Keep the ones you fetch: the offline verifier holds
    the hub to them (`--checkpoints`) and reports a fork if it later signs another history."""
    items, next_cursor = oversight.list_checkpoints(after_seq=after_seq, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/public-key")
@require("coordinator", scopes="audit:read")
@blp.response(200, PublicKeysSchema)
def public_keys() -> Any:
    """Every key that has signed checkpoints (kept after rotation), and which one is current."""
    return oversight.public_keys()


@blp.route("/verify")
@require("coordinator", scopes="audit:read")
@blp.arguments(VerifyArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, VerificationSchema)
def verify(full: bool) -> Any:
    """Check the stored chain with the offline verifier's own code, on the hub's database.

    By default only the events since the last verified point are re-hashed (that point's
    event too, which must still have the chain hash verified then), against the head and
    the checkpoints signed since. `full=true` re-hashes the whole chain against every signed
    checkpoint, which also catches an edit made before that point. The check is recorded.
    """
    return oversight.verify(current_actor(), full=full)
