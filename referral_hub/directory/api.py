"""/api/v1/services, capacity, and /api/v1/search."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from flask import current_app, g

from referral_hub.core import clock
from referral_hub.core.authz import current_actor, require
from referral_hub.core.http import HubBlueprint
from referral_hub.directory import capacity, hsds, near_misses, overflow, queries, service
from referral_hub.directory import search as finder
from referral_hub.directory.freshness import capacity_view
from referral_hub.directory.schemas import (
    CapacityHistoryPageSchema,
    CapacityPutArgs,
    CapacitySchema,
    FilterArgs,
    HistoryArgs,
    HsdsExportArgs,
    HsdsImportArgs,
    HsdsImportReportSchema,
    HsdsPageSchema,
    OverflowArgs,
    OverflowSchema,
    SearchArgs,
    SearchResultSchema,
    ServiceCreateArgs,
    ServiceListArgs,
    ServicePageSchema,
    ServiceSchema,
    ServiceUpdateArgs,
)

blp = HubBlueprint(
    "directory", __name__, url_prefix="/api/v1", description="Directory and capacity"
)
EDITORS = ("agency_admin", "provider", "hub_admin")


@blp.route("/search")
@require(scopes="directory:read")
@blp.arguments(SearchArgs, location="query")
@blp.response(200, SearchResultSchema)
def search(args: dict[str, Any]) -> Any:
    """Services that can take this person now, best first; stale capacity is listed last.

    Fewer than a handful found: `near_misses` lists the closest services that fail one to
    three of the filters, each with what it misses (fewest misses, nearest, most free first).
    """
    actor, query = current_actor(), finder.to_query(args, args["limit"])
    items = finder.search(actor, query)
    near = near_misses.for_search(actor, query, items)
    # the hottest read: the service layer already built exactly SearchResultSchema's shape
    # (a test holds it to that), so it goes out as JSON without a second field-by-field pass
    return current_app.response_class(
        json.dumps({"items": items, "near_misses": near}, default=_plain),
        mimetype="application/json",
    )


def _plain(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # UUIDs


@blp.route("/services")
@require(scopes="directory:read")
@blp.arguments(ServiceListArgs, location="query")
@blp.response(200, ServicePageSchema)
def list_services(args: dict[str, Any]) -> Any:
    actor = current_actor()
    items, next_cursor = finder.list_services(
        actor,
        finder.to_query({k: v for k, v in args.items() if k in FilterArgs().fields}),
        agency_id=args.get("agency_id"),
        limit=args["limit"],
        cursor=args.get("cursor"),
    )
    return {"items": [service.describe(item, actor) for item in items], "next_cursor": next_cursor}


@blp.route("/services", methods=["POST"])
@require(*EDITORS, scopes="admin")
@blp.arguments(ServiceCreateArgs, as_kwargs=True)
@blp.response(201, ServiceSchema)
def create_service(**fields: Any) -> Any:
    actor = current_actor()
    return service.describe(service.create_service(actor, **fields), actor)


@blp.route("/services/<uuid:service_id>")
@require(scopes="directory:read")
@blp.response(200, ServiceSchema)
def get_service(service_id: uuid.UUID) -> Any:
    actor = current_actor()
    return service.describe(service.get_service(actor, service_id), actor)


@blp.route("/services/<uuid:service_id>", methods=["PATCH"])
@require(*EDITORS, scopes="admin")
@blp.arguments(ServiceUpdateArgs, as_kwargs=True)
@blp.response(200, ServiceSchema)
def update_service(service_id: uuid.UUID, **changes: Any) -> Any:
    actor = current_actor()
    return service.describe(service.update_service(actor, service_id, **changes), actor)


@blp.route("/services/<uuid:service_id>/capacity", methods=["PUT"])
@require(*EDITORS, scopes="capacity:write")
@blp.arguments(CapacityPutArgs, as_kwargs=True)
@blp.response(200, CapacitySchema)
def put_capacity(service_id: uuid.UUID, total: int, available: int, note: str | None = None) -> Any:
    """Set the numbers. Units held for accepted referrals stay held."""
    actor = current_actor()
    updated = capacity.set_capacity(actor, service_id, total=total, available=available, note=note)
    return capacity_view(updated, clock.now())


@blp.route("/services/<uuid:service_id>/capacity/confirm", methods=["POST"])
@require(*EDITORS, scopes="capacity:write")
@blp.response(200, CapacitySchema)
def confirm_capacity(service_id: uuid.UUID) -> Any:
    """The numbers are still true: refresh the timestamp without changing them."""
    confirmed = capacity.confirm_capacity(current_actor(), service_id)
    return capacity_view(confirmed, clock.now())


@blp.route("/services/<uuid:service_id>/overflow")
@require(scopes="directory:read")
@blp.response(200, OverflowSchema(many=True))
def list_overflow(service_id: uuid.UUID) -> Any:
    """The service's overflow windows that are open or still to come."""
    now = clock.now()
    return [
        overflow.describe(w, now) for w in queries.overflow_windows(current_actor(), service_id)
    ]


@blp.route("/services/<uuid:service_id>/overflow", methods=["POST"])
@require(*EDITORS, scopes="capacity:write")
@blp.arguments(OverflowArgs, as_kwargs=True)
@blp.response(201, OverflowSchema)
def open_overflow(service_id: uuid.UUID, **fields: Any) -> Any:
    """Open temporary places for a while. Search shows them as `overflow_available`; a hold
    takes one only when no regular unit is free; they close by themselves at `ends_at`."""
    window = capacity.open_overflow(current_actor(), service_id, **fields)
    return overflow.describe(window, clock.now())


@blp.route("/overflow/<uuid:window_id>/close", methods=["POST"])
@require(*EDITORS, scopes="capacity:write")
@blp.response(200, OverflowSchema)
def close_overflow(window_id: uuid.UUID) -> Any:
    """Close an overflow window early; places already held stay held for their referrals."""
    window = capacity.close_overflow(current_actor(), window_id)
    return overflow.describe(window, clock.now())


@blp.route("/services/<uuid:service_id>/capacity/history")
@require(scopes="directory:read")
@blp.arguments(HistoryArgs, location="query", as_kwargs=True)
@blp.response(200, CapacityHistoryPageSchema)
def capacity_history(service_id: uuid.UUID, since: Any, limit: int, cursor: str | None) -> Any:
    items, next_cursor = queries.capacity_history(
        current_actor(), service_id, since=since, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/hsds/services")
@require(scopes="directory:read")
@blp.arguments(HsdsExportArgs, location="query", as_kwargs=True)
@blp.response(200, HsdsPageSchema)
def hsds_export(limit: int, cursor: str | None, version: str) -> Any:
    """The directory as Open Referral HSDS 3.0 or 3.1 service objects (no confidential address).

    An imported service comes back as its document said, except where the hub has changed
    it since (`referral_hub.directory.hsds.NOT_ROUND_TRIPPED`, docs/hsds.md).
    """
    contents, next_cursor = hsds.export_all(
        current_actor(), limit=limit, cursor=cursor, version=version
    )
    return {"contents": contents, "size": len(contents), "next_cursor": next_cursor}


@blp.route("/hsds/import", methods=["POST"])
@require("hub_admin", scopes="admin")  # agency systems: dry runs only (checked by the service)
@blp.arguments(HsdsImportArgs, location="query", as_kwargs=True)
@blp.doc(
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": ["object", "array"],
                    "description": "An HSDS 3.0 or 3.1 document: a service, an organization "
                    "with services, a service_at_location, a list of them, or a page of them "
                    "(`contents`); each service is checked against the HSDS service schema.",
                }
            }
        },
    }
)
@blp.response(200, HsdsImportReportSchema)
def hsds_import(agency_id: uuid.UUID | None, version: str | None, dry_run: bool) -> Any:
    """Import services, organizations or services-at-locations (HSDS 3.0, 3.1); all or nothing.

    A service already imported from the same id is updated, not duplicated; `dry_run=true`
    reports what would change and writes nothing. Only hub administrators import; an agency
    system with the `admin` scope may dry-run, to check a document before handing it over.
    """
    return hsds.import_document(
        current_actor(), g.json_body, agency_id=agency_id, version=version, dry_run=dry_run
    )
