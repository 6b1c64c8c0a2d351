"""The growing-radius search for the nearest points, by ground distance (geodesic on WGS84).

Candidates are taken from a box that grows until it holds ``k`` points within its inscribed
circle; they are then ranked by exact geodesic distance. The caller finds the candidates (in the
database's spatial index, or in an in-memory tree); the radii and the ranking are here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from geo.spatial.geometry import geodesic_distance_m

START_RADIUS_M = 200.0
EARTH_HALF_CIRCUMFERENCE_M = 20_040_000.0  # no two points on Earth are farther apart


def widening_radii(start_m: float, max_m: float | None, factor: float) -> Iterator[float]:
    """The growing-radius search's radii: from ``start_m``, times ``factor`` each time, up to and
    including ``max_m`` (None: the whole Earth). The caller stops as soon as it has enough."""
    limit = max_m if max_m is not None else EARTH_HALF_CIRCUMFERENCE_M
    radius = min(start_m, limit)
    while True:
        yield radius
        if radius >= limit:
            return
        radius = min(radius * factor, limit)


def closest(lon: float, lat: float, rows, k: int, radius_m: float) -> tuple[list[tuple[int, float]], bool]:
    """The ``k`` rows (id, x, y) nearest to lon/lat within ``radius_m``, with metres, nearest
    first; and whether at least ``k`` lay within the radius."""
    if rows:
        table = np.array([(r[1], r[2]) for r in rows], dtype=float)
        dist = geodesic_distance_m(lon, lat, table[:, 0], table[:, 1])
    else:
        dist = np.empty(0)
    inside = dist <= radius_m
    order = [i for i in np.argsort(dist, kind="stable") if inside[i]][:k]
    return [(rows[i][0], float(dist[i])) for i in order], int(inside.sum()) >= k
