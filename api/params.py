"""Request parameters as wangge reads them: coordinate systems, points and bounding boxes."""

from __future__ import annotations

from enum import StrEnum

from api.schemas import MAX_ID
from geo.errors import InputError
from geo.spatial.coords import check_lonlat
from geo.spatial.crs import CoordinateSystem


class CRSName(StrEnum):
    wgs84 = "wgs84"
    cgcs2000 = "cgcs2000"
    gcj02 = "gcj02"
    bd09 = "bd09"


class LonLat:
    """A point from ``lon``/``lat`` query parameters, checked and converted to WGS84."""

    def __init__(self, lon: float, lat: float, crs: CoordinateSystem):
        check_lonlat(lon, lat)
        self.given = (lon, lat)
        self.lon, self.lat = crs.point_to_wgs84(lon, lat)


def parse_bbox(text: str | None, crs: CoordinateSystem) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in ``crs``, checked, as a WGS84 box (None: no box)."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"bbox {text!r} must be four numbers: minlon,minlat,maxlon,maxlat") from None
    if len(values) != 4:
        raise InputError(f"bbox {text!r} must be four numbers: minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = values
    check_lonlat(x0, y0, "bbox")
    check_lonlat(x1, y1, "bbox")
    if x0 > x1 or y0 > y1:
        raise InputError(f"bbox {text!r} must be minlon,minlat,maxlon,maxlat with min <= max")
    xs, ys = crs.to_wgs84([x0, x1], [y0, y1])
    return (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))


# Paging past the largest possible id finds nothing; beyond it the database would overflow.
MAX_OFFSET = MAX_ID
