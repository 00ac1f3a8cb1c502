"""Distances for search. Pure.

Confidential sites are searched at a coarse point (rounded to 0.1°, about 11 km), so a
distance never reveals where a shelter is.
"""

from __future__ import annotations

import math

KM_PER_DEGREE = 111.32
COARSE_DEGREES = 0.1


def coarse(latitude: float, longitude: float) -> tuple[float, float]:
    return (
        round(round(latitude / COARSE_DEGREES) * COARSE_DEGREES, 4),
        round(round(longitude / COARSE_DEGREES) * COARSE_DEGREES, 4),
    )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def bounding_box(
    latitude: float, longitude: float, radius_km: float
) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) containing the circle: the index-friendly prefilter."""
    dlat = radius_km / KM_PER_DEGREE
    dlon = radius_km / (KM_PER_DEGREE * max(math.cos(math.radians(latitude)), 0.01))
    return latitude - dlat, latitude + dlat, longitude - dlon, longitude + dlon


def lon_scale(latitude: float) -> float:
    """Degrees of longitude shrink with latitude; flat-earth distance squared uses this."""
    return math.cos(math.radians(latitude))
