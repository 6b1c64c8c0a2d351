"""The WebMercatorQuad tile matrix set (OGC 17-083r4, Google Maps compatible) and tile math."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from geo.errors import InputError

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_URI = "http://www.opengis.net/def/crs/EPSG/0/3857"
ORIGIN = 20037508.3427892  # half the width of the world in EPSG:3857 metres
MAX_ZOOM = 24
TILE_SIZE = 256  # pixels of a tile as the scale denominators count them
EXTENT = 4096  # MVT coordinates across a tile
BUFFER = 64  # MVT coordinates kept beyond each edge (so lines and labels join across tiles)
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511...: where the square world ends


@dataclass(frozen=True)
class Tile:
    z: int
    x: int  # column, from the west
    y: int  # row, from the north

    def bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """The tile's envelope in EPSG:3857, widened by ``margin`` (a fraction of its width) on
        each side, as ST_TileEnvelope's margin."""
        size = 2 * ORIGIN / (1 << self.z)
        x0 = -ORIGIN + self.x * size
        y1 = ORIGIN - self.y * size
        pad = margin * size
        return x0 - pad, y1 - size - pad, x0 + size + pad, y1 + pad

    def lonlat_bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """The same envelope in longitude/latitude (the projection keeps its edges straight)."""
        x0, y0, x1, y1 = self.bounds(margin)
        lon, lat = mercator_to_lonlat(np.array([x0, x1]), np.array([y0, y1]))
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])

    @property
    def buffered_bounds(self) -> tuple[float, float, float, float]:
        """What a tile shows: its envelope plus the MVT buffer."""
        return self.bounds(BUFFER / EXTENT)


def tile(z: int, x: int, y: int) -> Tile:
    """The tile at zoom ``z``, column ``x``, row ``y``, or a message saying what is allowed."""
    if not 0 <= z <= MAX_ZOOM:
        raise InputError(f"Tile matrix (zoom) {z} is out of range: use 0 to {MAX_ZOOM}")
    last = (1 << z) - 1
    if not 0 <= x <= last:
        raise InputError(f"Tile column {x} is out of range at zoom {z}: use 0 to {last}")
    if not 0 <= y <= last:
        raise InputError(f"Tile row {y} is out of range at zoom {z}: use 0 to {last}")
    return Tile(z, x, y)


def lonlat_to_mercator(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4326 to EPSG:3857 (spherical, as PROJ and PostGIS compute it), vectorised."""
    lon = np.asarray(lon, dtype=float)
    lat = np.clip(np.asarray(lat, dtype=float), -MAX_LAT, MAX_LAT)
    x = np.radians(lon) * 6378137.0
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * 6378137.0
    return x, y


def mercator_to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    lon = np.degrees(x / 6378137.0)
    lat = np.degrees(2 * np.arctan(np.exp(y / 6378137.0)) - np.pi / 2)
    return lon, lat


def tile_at(lon: float, lat: float, z: int) -> Tile:
    """The tile at zoom ``z`` that holds a point."""
    x, y = lonlat_to_mercator([lon], [lat])
    n = 1 << z
    col = int(np.clip(np.floor((x[0] + ORIGIN) / (2 * ORIGIN) * n), 0, n - 1))
    row = int(np.clip(np.floor((ORIGIN - y[0]) / (2 * ORIGIN) * n), 0, n - 1))
    return Tile(z, col, row)


def tiles_covering(bbox: tuple[float, float, float, float], z: int) -> list[Tile]:
    """Every tile at zoom ``z`` that meets a lon/lat box."""
    west, south, east, north = bbox
    a, b = tile_at(west, north, z), tile_at(east, south, z)
    return [Tile(z, x, y) for y in range(a.y, b.y + 1) for x in range(a.x, b.x + 1)]


def tile_matrix_set() -> dict[str, Any]:
    """The tile matrix set's definition (OGC Two Dimensional Tile Matrix Set 2.0, JSON)."""
    matrices = []
    for z in range(MAX_ZOOM + 1):
        cell = 2 * ORIGIN / TILE_SIZE / (1 << z)
        matrices.append(
            {
                "id": str(z),
                "scaleDenominator": cell / 0.00028,  # the standard's 0.28 mm pixel
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-ORIGIN, ORIGIN],
                "tileWidth": TILE_SIZE,
                "tileHeight": TILE_SIZE,
                "matrixWidth": 1 << z,
                "matrixHeight": 1 << z,
            }
        )
    return {
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": CRS_URI,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices,
    }
