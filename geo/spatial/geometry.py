"""Small geometry helpers shared by the store, the importer and the API."""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.ops
from geoalchemy2.shape import from_shape, to_shape
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

SRID = 4326  # everything is stored in WGS84 longitude/latitude
GEOD = Geod(ellps="WGS84")


def to_db(geom: BaseGeometry | None):
    return None if geom is None else from_shape(geom, srid=SRID)


def from_db(value) -> BaseGeometry | None:
    return None if value is None else to_shape(value)


def polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygons of a geometry (make_valid can return lines beside them)."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(parts) if parts else Polygon()


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    geom = polygonal_part(geom)
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    return geom


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """Area on the WGS84 ellipsoid in square metres (never in square degrees)."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area)


def geodesic_distance_m(lon0, lat0, lon1, lat1) -> np.ndarray:
    _, _, dist = GEOD.inv(
        np.full(np.shape(lon1), lon0, dtype=float), np.full(np.shape(lat1), lat0, dtype=float), lon1, lat1
    )
    return np.asarray(dist)


def degrees_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that certainly contains the geodesic circle of ``radius_m`` around a point."""
    # 110,000 m per degree is below the true length of a degree of latitude anywhere on Earth.
    dlat = radius_m / 110_000.0
    coslat = math.cos(math.radians(min(abs(lat) + dlat, 89.9)))
    dlon = min(radius_m / (110_000.0 * max(coslat, 1e-6)), 360.0)
    return (max(lon - dlon, -180.0), max(lat - dlat, -90.0), min(lon + dlon, 180.0), min(lat + dlat, 90.0))


def local_metres(geom: BaseGeometry, lon: float, lat: float) -> BaseGeometry:
    """``geom`` in metres east/north of (lon, lat), equirectangular: exact enough within a few km."""
    kx = GEOD.a * np.pi / 180.0 * np.cos(np.radians(lat))
    ky = GEOD.a * np.pi / 180.0
    return shapely.transform(geom, lambda xy: np.column_stack(((xy[:, 0] - lon) * kx, (xy[:, 1] - lat) * ky)))


def geodesic_distance_to(geom: BaseGeometry, lon: float, lat: float) -> float:
    """Ground distance in metres from a point to the nearest point of ``geom`` (0 when inside)."""
    origin = shapely.Point(0.0, 0.0)
    local = local_metres(geom, lon, lat)
    if local.covers(origin):
        return 0.0
    # Find the closest point in a local metric frame, then measure it on the ellipsoid.
    nearest = shapely.ops.nearest_points(local, origin)[0]
    kx = GEOD.a * np.pi / 180.0 * np.cos(np.radians(lat))
    ky = GEOD.a * np.pi / 180.0
    return float(geodesic_distance_m(lon, lat, np.array([lon + nearest.x / kx]), np.array([lat + nearest.y / ky]))[0])
