"""How responders are ranked: the seam where a road-network travel time can replace distance.

A ranker receives an origin and candidate positions and returns one cost per candidate, lower
is better. The candidate pool is chosen by ground distance (a lower bound on any route), so a
travel-time ranker only has to re-order a pool a few times larger than the answer.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from geo.spatial.geometry import geodesic_distance_m


class Ranker(Protocol):
    name: str
    unit: str

    def costs(self, lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray: ...


class GeodesicRanker:
    """Straight-line ground distance on the WGS84 ellipsoid, in metres."""

    name = "geodesic"
    unit = "m"

    def costs(self, lon, lat, lons, lats):
        return geodesic_distance_m(lon, lat, lons, lats)


GEODESIC = GeodesicRanker()
