"""The reports as CSV.

Handoff figures: one flat `metric,dimension,value` file, one figure per line. Long
format, so a spreadsheet can filter or pivot it and new figures never move a column.
`dimension` is empty for a single figure and holds the status, reason, hop count or agency
id otherwise; an agency's name is its own `…name` line.

The in-limbo queue: one line per row, in the queue's order, with the numbers to call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from referral_hub.core.csvout import csv_text

COLUMNS = ("metric", "dimension", "value")
DURATIONS = ("time_to_acknowledge", "time_to_accept", "time_to_placement")
AGENCY_FIGURES = (
    "received",
    "accepted",
    "declined",
    "expired",
    "settled",
    "acceptance_rate",
    "decline_rate",
)
RUNAROUND_FIGURES = (
    "needs",
    "placed",
    "unmet",
    "hops_median",
    "hops_p90",
    "placement_median_seconds",
    "placement_p90_seconds",
)
STALE_FIGURES = ("stale_services", "never_set", "oldest_update")


def handoff_csv(figures: dict[str, Any]) -> str:
    return csv_text(COLUMNS, handoff_rows(figures))


def handoff_rows(figures: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def line(metric: str, value: Any, dimension: Any = None) -> dict[str, Any]:
        return {"metric": metric, "dimension": dimension, "value": value}

    yield line("period.from", figures["from"])
    yield line("period.to", figures["to"])
    yield line("generated_at", figures["generated_at"])
    yield line("referrals.sent", figures["referrals_sent"])
    for status, count in figures["by_status"].items():
        yield line("referrals.by_status", count, status)
    yield line("referrals.expired", figures["expired"])
    yield line("referrals.no_show", figures["no_show"])
    yield line("placements.regular", figures["placements_regular"])
    yield line("placements.overflow", figures["placements_overflow"])
    for name in DURATIONS:
        for key in ("count", "median_seconds", "p90_seconds"):
            yield line(f"{name}.{key}", figures[name][key])
    for agency in figures["receiving_agencies"]:
        yield line("receiving_agency.name", agency["agency_name"], agency["agency_id"])
        for key in AGENCY_FIGURES:
            yield line(f"receiving_agency.{key}", agency[key], agency["agency_id"])
    for reason, count in figures["declines_by_reason"].items():
        yield line("declines.by_reason", count, reason)
    hops = figures["hops_per_bundle"]
    for key in ("bundles", "mean", "max"):
        yield line(f"hops_per_bundle.{key}", hops[key])
    for bucket in hops["distribution"]:
        yield line("hops_per_bundle.distribution", bucket["bundles"], bucket["hops"])
    for agency in figures["stale_capacity_agencies"]:
        yield line("stale_capacity_agency.name", agency["agency_name"], agency["agency_id"])
        for key in STALE_FIGURES:
            yield line(f"stale_capacity_agency.{key}", agency[key], agency["agency_id"])
    for agency in figures["runaround_by_agency"]:
        yield line("runaround.sending_agency.name", agency["agency_name"], agency["agency_id"])
        for key in RUNAROUND_FIGURES:
            yield line(f"runaround.{key}", agency[key], agency["agency_id"])
    for key, count in figures["referred_outside"].items():
        yield line("referred_outside", count, key)


LIMBO_COLUMNS = (
    "client_reference",
    "urgency",
    "why",
    "status",
    "deadline",
    "overdue_seconds",
    "hops",
    "category",
    "service",
    "receiver",
    "receiver_phone",
    "sender",
    "sender_phone",
    "referral_id",
    "bundle_id",
)


def limbo_csv(items: list[dict[str, Any]]) -> str:
    return csv_text(
        LIMBO_COLUMNS,
        (
            item
            | {
                "service": item["service"]["name"],
                "receiver": item["receiver"]["name"],
                "receiver_phone": item["service"]["phone"],
                "sender": item["sender"]["name"],
                "sender_phone": item["sender"]["phone"],
            }
            for item in items
        ),
    )
