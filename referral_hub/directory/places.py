"""The region's towns, for "near a place" in search: names and points from bundled data.

The demo network (`referral_hub.demo`) holds the one region the hub ships with; its town
list is read here, not copied, so the demo's services and the search page's place picker
always agree. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    name: str
    latitude: float
    longitude: float

    @property
    def near(self) -> str:
        """As search's `near=lat,lon`."""
        return f"{self.latitude:.4f},{self.longitude:.4f}"


def towns() -> list[Place]:
    """The region's towns, in name order."""
    from referral_hub.demo import CENTRE, TOWNS

    return sorted(
        (
            Place(name, round(CENTRE[0] + dlat, 4), round(CENTRE[1] + dlon, 4))
            for name, dlat, dlon in TOWNS
        ),
        key=lambda place: place.name,
    )


def town(name: str) -> Place | None:
    return next((place for place in towns() if place.name == name), None)
