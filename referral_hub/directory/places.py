"""The region's towns, for "near a place" in search: names and points from bundled data.

The one region the hub ships with is defined here; the demo network (`referral_hub.demo`)
places its services in these towns, so its services and the search page's place picker
always agree. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass

CENTRE = (41.88, -87.63)

TOWNS = [
    ("Riverbend", 0.0, 0.0),
    ("Northgate", 0.28, 0.05),
    ("Lakeside", 0.1, 0.22),
    ("Millbrook", -0.22, -0.12),
    ("Cedar Falls", 0.35, -0.3),
    ("Port Harlow", -0.4, 0.18),
    ("Ashford", -0.1, -0.42),
    ("Capital City", 0.6, 0.4),
]


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
    return sorted(
        (
            Place(name, round(CENTRE[0] + dlat, 4), round(CENTRE[1] + dlon, 4))
            for name, dlat, dlon in TOWNS
        ),
        key=lambda place: place.name,
    )


def town(name: str) -> Place | None:
    return next((place for place in towns() if place.name == name), None)
