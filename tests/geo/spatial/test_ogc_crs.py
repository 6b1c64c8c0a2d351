"""OGC API Features' coordinate reference systems: each URI converts as pyproj says, in EPSG's
axis order (latitude first for 4326 and 4490), shapes included; boxes cover their corners."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo.errors import UnknownCRS
from geo.spatial.crs import CRS84_URI, OGC_CRS, WGS84, box_to_wgs84, ogc_crs, served_crs

LON = np.array([113.03, 113.05, 116.39])
LAT = np.array([23.68, 23.70, 39.91])


@pytest.mark.parametrize("uri", list(OGC_CRS))
def test_each_crs_converts_as_pyproj_does_and_back(uri):
    named, crs = served_crs(uri)
    assert named == uri
    code = "OGC:CRS84" if uri == CRS84_URI else "EPSG:" + uri.rsplit("/", 1)[1]
    # Without always_xy pyproj keeps each CRS's own axis order: what OGC API Features serves.
    expected = Transformer.from_crs("OGC:CRS84", code).transform(LON, LAT)
    got = crs.from_wgs84(LON, LAT)
    assert np.allclose(got, expected, atol=1e-7)
    back = crs.to_wgs84(*got)
    assert np.allclose(back, (LON, LAT), atol=1e-9)
    line = shapely.LineString(np.column_stack((LON, LAT)))
    moved = crs.geometries_from_wgs84(np.array([line], dtype=object))[0]
    assert np.allclose(shapely.get_coordinates(moved), np.column_stack(expected), atol=1e-7)


def test_other_crs_are_not_served():
    assert served_crs(None) == (CRS84_URI, WGS84) and served_crs(f"<{CRS84_URI}>") == (CRS84_URI, WGS84)
    with pytest.raises(UnknownCRS, match="EPSG/0/3857"):
        served_crs("http://www.opengis.net/def/crs/EPSG/0/2000")


def test_a_box_latitude_first_becomes_a_lon_lat_box():
    box = box_to_wgs84((23.68, 113.03, 23.70, 113.05), ogc_crs("http://www.opengis.net/def/crs/EPSG/0/4326"))
    assert box == pytest.approx((113.03, 23.68, 113.05, 23.70))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform([113.03, 113.05], [23.68, 23.70])
    box = box_to_wgs84((x[0], y[0], x[1], y[1]), ogc_crs("http://www.opengis.net/def/crs/EPSG/0/3857"))
    assert box == pytest.approx((113.03, 23.68, 113.05, 23.70))
