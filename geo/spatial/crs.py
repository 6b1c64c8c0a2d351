"""Coordinate systems used in China, vectorised with numpy.

Storage is always WGS84 (EPSG:4326, lon/lat). Phones and Amap/Tencent speak GCJ-02, Baidu speaks
BD-09; PROJ knows neither, so they are computed here. CGCS2000 (EPSG:4490) and any EPSG code go
through pyproj with lon/lat (``always_xy``) order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo.errors import UnknownCRS

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

ALIASES = {
    "wgs84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "cgcs2000": "EPSG:4490",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
}
SUPPORTED = "wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn"


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # GCJ-02 only shifts coordinates inside this box; elsewhere it equals WGS84.
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sx
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sx
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, x, y, tol_deg: float = 1e-10, max_iter: int = 30):
    """Invert a small, smooth coordinate shift by fixed-point iteration (well under a millimetre)."""
    tx, ty = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    gx, gy = tx.copy(), ty.copy()
    for _ in range(max_iter):
        fx, fy = forward(gx, gy)
        ex, ey = fx - tx, fy - ty
        gx, gy = gx - ex, gy - ey
        if np.nanmax(np.abs(ex), initial=0.0) < tol_deg and np.nanmax(np.abs(ey), initial=0.0) < tol_deg:
            break
    return gx, gy


def gcj02_to_wgs84(lon, lat):
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon, lat):
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    # The closed-form inverse in circulation is off by up to ~0.2 m; iterate instead.
    return _invert(gcj02_to_bd09, lon, lat)


@dataclass(frozen=True)
class CoordinateSystem:
    """A named coordinate system wangge can convert to and from WGS84."""

    name: str  # wgs84, gcj02, bd09, or a pyproj-understood string such as EPSG:4490
    # Coordinates come latitude first, as OGC's URIs for EPSG:4326 and EPSG:4490 order them
    # (ogc_crs); wangge's own names are always longitude first.
    lat_first: bool = False

    def point_to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        """One point, as plain floats (WGS84 itself costs nothing)."""
        if self.name == "wgs84" and not self.lat_first:
            return float(x), float(y)
        xs, ys = self.to_wgs84([x], [y])
        return float(xs[0]), float(ys[0])

    def to_wgs84(self, x, y):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if self.lat_first:
            x, y = y, x
        if self.name == "wgs84":
            return x, y
        if self.name == "gcj02":
            return gcj02_to_wgs84(x, y)
        if self.name == "bd09":
            return gcj02_to_wgs84(*bd09_to_gcj02(x, y))
        return _transformer(self.name, "EPSG:4326").transform(x, y)

    def from_wgs84(self, x, y):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        out_x, out_y = self._from_wgs84(x, y)
        return (out_y, out_x) if self.lat_first else (out_x, out_y)

    def _from_wgs84(self, x, y):
        if self.name == "wgs84":
            return x, y
        if self.name == "gcj02":
            return wgs84_to_gcj02(x, y)
        if self.name == "bd09":
            return gcj02_to_bd09(*wgs84_to_gcj02(x, y))
        return _transformer("EPSG:4326", self.name).transform(x, y)

    def geometries_to_wgs84(self, geoms):
        return self._apply(geoms, self.to_wgs84)

    def geometries_from_wgs84(self, geoms):
        return self._apply(geoms, self.from_wgs84)

    def _apply(self, geoms, fn):
        if self.name == "wgs84" and not self.lat_first:
            return geoms

        def coords(xy: np.ndarray) -> np.ndarray:
            x, y = fn(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geoms, coords)


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


WGS84 = CoordinateSystem("wgs84")


def parse_crs(value: str | None) -> CoordinateSystem:
    """Resolve a user-given CRS name; raise :class:`UnknownCRS` with the accepted forms."""
    if value is None or str(value).strip() == "":
        return WGS84
    key = str(value).strip()
    alias = ALIASES.get(key.lower())
    if alias in ("wgs84", "gcj02", "bd09"):
        return CoordinateSystem(alias)
    target = alias or key
    try:
        crs = CRS.from_user_input(target)
    except CRSError:
        raise UnknownCRS(f"Unknown coordinate system {value!r}: use {SUPPORTED}") from None
    return from_pyproj(crs)


def from_pyproj(crs: CRS) -> CoordinateSystem:
    """The CoordinateSystem for a CRS read from a file."""
    epsg = crs.to_epsg()
    if epsg == 4326:
        return WGS84
    try:
        _transformer(crs.to_string(), "EPSG:4326")
    except CRSError:
        raise UnknownCRS(f"Cannot transform from the file's coordinate system {crs.name!r} to WGS84") from None
    return CoordinateSystem(f"EPSG:{epsg}" if epsg else crs.to_wkt())


CRS84_URIS = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84", "[OGC:CRS84]", "CRS84")
_EPSG_URI = re.compile(r"^(?:http://www\.opengis\.net/def/crs/EPSG/0/|\[?EPSG:)(\d{1,6})\]?$")


def ogc_crs(uri: str | None) -> CoordinateSystem:
    """The coordinate system an OGC API names by URI (``filter-crs``, ``bbox-crs``, ``crs``):
    CRS84 (longitude, latitude) when None, or ``http://www.opengis.net/def/crs/EPSG/0/nnnn``
    (also ``EPSG:nnnn``, ``[EPSG:nnnn]``) with the EPSG axis order: latitude first for
    EPSG:4326 and EPSG:4490, easting first for EPSG:3857."""
    if uri is None or not uri.strip():
        return WGS84
    key = uri.strip()
    if key in CRS84_URIS:
        return WGS84
    match = _EPSG_URI.match(key)
    if match is None:
        raise UnknownCRS(
            f"Unknown coordinate system {uri!r}: use {CRS84_URIS[0]} or http://www.opengis.net/def/crs/EPSG/0/nnnn"
        )
    code = int(match.group(1))
    try:
        crs = CRS.from_epsg(code)
    except CRSError:
        raise UnknownCRS(f"Unknown coordinate system {uri!r}: EPSG has no code {code}") from None
    lat_first = crs.axis_info[0].direction in ("north", "south") if crs.axis_info else False
    base = from_pyproj(crs)
    if not lat_first:
        return base
    # Named by its code even for EPSG:4326: code that leaves "wgs84" as it is must not leave this.
    return CoordinateSystem(f"EPSG:{code}", lat_first=True)


# OGC API Features part 2: the coordinate reference systems its answers are served in (``crs``,
# ``bbox-crs``, a body's ``Content-Crs``), by the URIs that name them.
CRS84_URI = CRS84_URIS[0]
OGC_CRS: tuple[str, ...] = (
    CRS84_URI,  # lon/lat: what is stored
    "http://www.opengis.net/def/crs/EPSG/0/4326",  # latitude first
    "http://www.opengis.net/def/crs/EPSG/0/4490",  # CGCS2000, latitude first
    "http://www.opengis.net/def/crs/EPSG/0/3857",  # web mercator, metres
)


def served_crs(uri: str | None) -> tuple[str, CoordinateSystem]:
    """One of :data:`OGC_CRS` (None or empty: CRS84; ``<uri>`` as ``Content-Crs`` writes it), as
    its URI and coordinate system; UnknownCRS naming those served."""
    key = (uri or "").strip().removeprefix("<").removesuffix(">") or CRS84_URI
    if key not in OGC_CRS:
        raise UnknownCRS(f"Unsupported crs {uri!r}: use one of {', '.join(OGC_CRS)}")
    return key, ogc_crs(key)


def box_to_wgs84(box: tuple[float, float, float, float], crs: CoordinateSystem) -> tuple[float, float, float, float]:
    """A box given in ``crs`` (in its axis order: latitude first for EPSG:4326) as the lon/lat
    box covering its corners."""
    x0, y0, x1, y1 = box
    xs, ys = crs.to_wgs84([x0, x0, x1, x1], [y0, y1, y0, y1])
    return float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys))
