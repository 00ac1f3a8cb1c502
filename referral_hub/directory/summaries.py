"""Short descriptions of a handful of services at once, for pages that list picks.

One query for any number of ids (a search page's results, an intake worker's plan):
name, category, agency, and the eligibility a worker weighs — no addresses, no
capacity history. Every signed-in actor may read the directory.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Uuid, bindparam, select

from referral_hub.agencies.models import Agency
from referral_hub.directory.models import Service
from referral_hub.directory.vocabulary import GENDERS, POPULATIONS, TRAFFICKING_TYPES, unmask
from referral_hub.extensions import db

MAX_IDS = 200


def summaries(service_ids: Collection[uuid.UUID | str]) -> dict[uuid.UUID, dict[str, Any]]:
    """id → summary, for those of `service_ids` that exist (unknown ids are left out)."""
    wanted = []
    for value in list(service_ids)[:MAX_IDS]:
        try:
            wanted.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = db.session.execute(_statement(), {"ids": wanted}).all()
    return {row.id: _summary(row) for row in rows}


@functools.lru_cache(maxsize=1)
def _statement() -> Any:
    """Built once; the ids are bound at execution."""
    return (
        select(
            Service.id,
            Service.name,
            Service.category,
            Service.status,
            Service.city,
            Service.confidential,
            Service.min_age,
            Service.max_age,
            Service.genders_mask,
            Service.populations_mask,
            Service.trafficking_mask,
            Service.languages,
            Service.accessibility,
            Service.no_police_report_needed,
            Service.no_id_needed,
            Service.accepts_children,
            Agency.id.label("agency_id"),
            Agency.name.label("agency_name"),
            Agency.kind.label("agency_kind"),
        )
        .join(Agency, Agency.id == Service.agency_id)
        .where(Service.id.in_(bindparam("ids", expanding=True, type_=Uuid())))
    )


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "category": row.category.value,
        "status": row.status.value,
        "city": row.city,
        "confidential": row.confidential,
        "agency_id": row.agency_id,
        "agency_name": row.agency_name,
        "agency_kind": row.agency_kind.value,
        "eligibility": {
            "min_age": row.min_age,
            "max_age": row.max_age,
            "genders": unmask(row.genders_mask, GENDERS),
            "populations": unmask(row.populations_mask, POPULATIONS),
            "trafficking_types": unmask(row.trafficking_mask, TRAFFICKING_TYPES),
            "languages": list(row.languages or []),
            "accessibility": list(row.accessibility or []),
            "no_police_report_needed": row.no_police_report_needed,
            "no_id_needed": row.no_id_needed,
            "accepts_children": row.accepts_children,
        },
    }
