"""The demo is drawn in metres around the community centre and written in degrees on a 1e-7° grid."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely import affinity
from shapely.geometry import Point, Polygon, box

from .facts import DECIMALS


class LocalFrame:
    """Metres east/north of the community centre (azimuthal equidistant)."""

    def __init__(self, lon: float, lat: float):
        crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
        self._fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def to_m(self, geom):
        return shapely.transform(geom, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1])))

    def to_deg(self, geom):
        # Rounded once, here, so every later check sees exactly the coordinates that are written.
        return shapely.transform(
            geom, lambda xy: np.round(np.column_stack(self._inv.transform(xy[:, 0], xy[:, 1])), DECIMALS)
        )


def snap(geom):
    """Round to the written precision (1e-7°)."""
    return shapely.transform(geom, lambda xy: np.round(xy, DECIMALS))


def rotated_rect(length: float, depth: float, angle_deg: float, cx: float, cy: float) -> Polygon:
    """A footprint rectangle centred on (cx, cy), long side rotated angle_deg from east."""
    return place(box(-length / 2, -depth / 2, length / 2, depth / 2), angle_deg, (cx, cy))


def place(local: Polygon, angle_deg: float, centre: tuple[float, float]) -> Polygon:
    """A shape drawn around the origin, rotated about it and moved to centre."""
    return affinity.translate(affinity.rotate(local, angle_deg, origin=(0, 0)), *centre)


def random_point_in(rng: np.random.Generator, poly: Polygon) -> Point:
    x0, y0, x1, y1 = poly.bounds
    while True:
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if poly.contains(p):
            return p


def random_point_around(rng: np.random.Generator, centre: Point, r_min: float, r_max: float) -> Point:
    """A point at a random bearing, r_min to r_max metres from centre (radius drawn first)."""
    r, t = rng.uniform(r_min, r_max), rng.uniform(0.0, 2 * np.pi)
    return Point(centre.x + r * np.cos(t), centre.y + r * np.sin(t))
