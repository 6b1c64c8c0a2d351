"""Which grid covers a coordinate: inside, on shared edges and vertices, in holes, outside, in
every coordinate system, one point at a time and a hundred thousand at once, on both databases.

The expected answers are computed here independently of ``geo.grids.index``: shapely ``covers`` over
the test's own polygons with the smallest-code rule, and ground distances measured in an
azimuthal equidistant projection centred on the query point (which keeps true distances from
its centre) and confirmed with ``pyproj.Geod``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
import shapely.ops
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from shapely.geometry import Point, Polygon, box
from sqlalchemy import select

from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.edit.features import create_feature
from geo.grids.index import locate_point
from geo.io.demo import load_demo
from geo.models import Building, Grid
from geo.spatial.crs import (
    CoordinateSystem,
    bd09_to_gcj02,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")

# One set of grid lines: every polygon vertex and every "on the edge" test point uses these
# exact floats, so a point on a shared edge is on it bit for bit.
D = 0.002  # about 204 m east-west and 221 m north-south here
X = [113.0 + i * D for i in range(13)]
Y = [23.70 + j * D for j in range(3)]


def _layout() -> dict[str, Polygon]:
    """Thirteen grids with shared edges, shared vertices, holes and a diagonal edge.

    Block A (2 x 2): codes deliberately not in reading or storage order.
        T04 | T02        the centre vertex is shared by all four
        T03 | T01
    Block B (a T junction): T07 | T05 on top of T06; (X[4], Y[1]) is a vertex of all three.
    Block C: T09 with two holes; the western hole is empty, the eastern one is grid T08.
    Block D: a square cut along its diagonal into T11 (north-west) and T10 (south-east).
    """
    cx0, cx1 = X[6], X[9]
    west_hole = [
        (X[6] + 0.5 * D, Y[0] + 0.5 * D),
        (X[7] + 0.2 * D, Y[0] + 0.5 * D),
        (X[7] + 0.2 * D, Y[1] + 0.5 * D),
        (X[6] + 0.5 * D, Y[1] + 0.5 * D),
    ]
    east_hole = [
        (X[7] + 0.8 * D, Y[0] + 0.5 * D),
        (X[8] + 0.5 * D, Y[0] + 0.5 * D),
        (X[8] + 0.5 * D, Y[1] + 0.5 * D),
        (X[7] + 0.8 * D, Y[1] + 0.5 * D),
    ]
    return {
        "T04": box(X[0], Y[1], X[1], Y[2]),
        "T02": box(X[1], Y[1], X[2], Y[2]),
        "T03": box(X[0], Y[0], X[1], Y[1]),
        "T01": box(X[1], Y[0], X[2], Y[1]),
        "T07": box(X[3], Y[1], X[4], Y[2]),
        "T05": box(X[4], Y[1], X[5], Y[2]),
        "T06": Polygon([(X[3], Y[0]), (X[5], Y[0]), (X[5], Y[1]), (X[4], Y[1]), (X[3], Y[1])]),
        "T09": Polygon([(cx0, Y[0]), (cx1, Y[0]), (cx1, Y[2]), (cx0, Y[2])], [west_hole, east_hole]),
        "T08": Polygon(east_hole),
        "T11": Polygon([(X[10], Y[0]), (X[11], Y[1]), (X[10], Y[1])]),
        "T10": Polygon([(X[10], Y[0]), (X[11], Y[0]), (X[11], Y[1])]),
    }


GRIDS = _layout()


@pytest.fixture
def grids(engine) -> dict[str, Polygon]:
    """The layout stored through the ordinary write path, in an order unrelated to the codes."""
    with session_scope(engine) as s:
        for code in ["T04", "T02", "T03", "T01", "T07", "T05", "T06", "T09", "T08", "T11", "T10"]:
            create_feature(s, "grids", {"code": code, "name": f"网格 {code}"}, GRIDS[code])
    return GRIDS


# --------------------------------------------------------------------------- independent oracles


def expected_codes(polygons: dict[str, Polygon], lon: np.ndarray, lat: np.ndarray) -> list[str | None]:
    """For each point, the smallest code among the polygons covering it (None when none does)."""
    points = shapely.points(lon, lat)
    answer = np.full(len(points), None, dtype=object)
    for code in sorted(polygons, reverse=True):  # smaller codes overwrite larger ones
        answer[shapely.covers(polygons[code], points)] = code
    return answer.tolist()


def ground_distance_m(poly, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to the nearest point of ``poly``.

    The nearest point is found in an azimuthal equidistant projection centred on the point
    (edges densified to about a metre first), then measured on the ellipsoid with pyproj.Geod.
    """
    aeqd = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
    forward = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    back = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
    dense = shapely.segmentize(poly, 1e-5)
    local = shapely.transform(dense, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))
    if local.covers(Point(0, 0)):
        return 0.0
    near = shapely.ops.nearest_points(local, Point(0, 0))[0]
    nlon, nlat = back.transform(near.x, near.y)
    return float(GEOD.inv(lon, lat, nlon, nlat)[2])


def moved(lon: float, lat: float, azimuth: float, metres: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return float(x), float(y)


def locate(client: TestClient, lon: float, lat: float, **params):
    return client.get(f"{API}/grids/locate", params={"lon": repr(lon), "lat": repr(lat), **params})


# --------------------------------------------------------------------------- single points


def test_points_inside_a_grid_get_that_grid(grids, client):
    """A point well inside every grid (holes excluded) is answered with that grid and no neighbours."""
    for code, poly in grids.items():
        p = poly.representative_point()
        assert min(g.distance(p) for c, g in grids.items() if c != code) > 1e-4  # ten metres or more
        r = locate(client, p.x, p.y)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["grid"]["code"] == code
        assert body["grid"]["name"] == f"网格 {code}"
        assert body["on_boundary"] is False and body["touching"] == []
        assert body["point"] == {"lon": p.x, "lat": p.y, "crs": "wgs84"}


@pytest.mark.parametrize(
    "point, chosen, others",
    [
        ((X[1], Y[0] + 0.37 * D), "T01", ["T03"]),  # T03 | T01
        ((X[1], Y[1] + 0.63 * D), "T02", ["T04"]),  # T04 | T02
        ((X[0] + 0.41 * D, Y[1]), "T03", ["T04"]),  # T04 over T03
        ((X[1] + 0.5 * D, Y[1]), "T01", ["T02"]),  # T02 over T01
        ((X[3] + 0.3 * D, Y[1]), "T06", ["T07"]),  # T07 over T06
        ((X[4], Y[1] + 0.5 * D), "T05", ["T07"]),  # T07 | T05
        ((X[7] + 0.8 * D, Y[1]), "T08", ["T09"]),  # the edge of the filled hole
    ],
)
def test_a_point_on_a_shared_edge_goes_to_the_smaller_code(grids, client, point, chosen, others):
    """Both grids cover the point; the smaller code is chosen and the other is named as touching."""
    lon, lat = point
    covering = [c for c, g in grids.items() if g.covers(Point(lon, lat))]
    assert sorted(covering) == sorted([chosen, *others])  # the point really is on the shared edge
    body = locate(client, lon, lat).json()
    assert body["grid"]["code"] == chosen == min(covering)
    assert body["on_boundary"] is True
    assert body["touching"] == others


def test_a_point_on_the_diagonal_edge_goes_to_the_smaller_code(grids, client):
    """The diagonal's own vertices lie on both triangles; T10 < T11 wins there."""
    for lon, lat in [(X[10], Y[0]), (X[11], Y[1])]:
        body = locate(client, lon, lat).json()
        assert body["grid"]["code"] == "T10" and body["on_boundary"] is True and body["touching"] == ["T11"]


@pytest.mark.parametrize(
    "vertex, chosen, others",
    [
        ((X[1], Y[1]), "T01", ["T02", "T03", "T04"]),  # four grids meet
        ((X[4], Y[1]), "T05", ["T06", "T07"]),  # three grids meet
    ],
)
def test_a_point_on_a_shared_vertex_goes_to_the_smallest_code(grids, client, vertex, chosen, others):
    lon, lat = vertex
    assert sorted(c for c, g in grids.items() if g.covers(Point(lon, lat))) == sorted([chosen, *others])
    body = locate(client, lon, lat).json()
    assert body["grid"]["code"] == chosen
    assert body["on_boundary"] is True
    assert body["touching"] == others


@pytest.mark.parametrize("side, inside, other", [(270.0, "T04", "T02"), (90.0, "T02", "T04")])
def test_within_half_a_metre_of_a_shared_edge_is_on_the_boundary(grids, client, side, inside, other):
    """0.4 m from the T04 | T02 edge: the covering grid is chosen, the neighbour touches; 0.6 m: not."""
    edge_lon, edge_lat = X[1], Y[1] + 0.5 * D
    near = moved(edge_lon, edge_lat, side, 0.4)
    assert 0.39 < ground_distance_m(grids[other], *near) < 0.41
    body = locate(client, *near).json()
    assert body["grid"]["code"] == inside
    assert body["on_boundary"] is True and body["touching"] == [other]

    far = moved(edge_lon, edge_lat, side, 0.6)
    assert 0.59 < ground_distance_m(grids[other], *far) < 0.61
    body = locate(client, *far).json()
    assert body["grid"]["code"] == inside
    assert body["on_boundary"] is False and body["touching"] == []


def test_near_a_vertex_every_grid_within_half_a_metre_touches(grids, client):
    """0.3 m north-east of the four-grid vertex: inside T02, and all three others are within 0.5 m."""
    lon, lat = moved(X[1], Y[1], 45.0, 0.3)
    body = locate(client, lon, lat).json()
    assert body["grid"]["code"] == "T02"
    assert body["touching"] == ["T01", "T03", "T04"] and body["on_boundary"] is True


def test_near_an_edge_no_other_grid_shares_is_not_on_a_boundary(grids, client):
    """0.3 m inside the empty hole's edge, or the outer edge: no other grid is near, so no boundary."""
    for lon, lat in [moved(X[6] + 0.5 * D, Y[1], 270.0, 0.3), moved(X[6], Y[1], 90.0, 0.3)]:
        body = locate(client, lon, lat).json()
        assert body["grid"]["code"] == "T09"
        assert body["on_boundary"] is False and body["touching"] == []


def test_a_point_in_an_empty_hole_is_in_no_grid(grids, client):
    """The hole's centre: 404, and the nearest grid is the one around the hole, at the right distance."""
    lon, lat = X[6] + 0.85 * D, Y[1]
    r = locate(client, lon, lat)
    assert r.status_code == 404
    body = r.json()
    assert "No grid covers" in body["detail"] and "T09" in body["detail"]
    expected = ground_distance_m(grids["T09"], lon, lat)
    assert 60 < expected < 80
    assert body["nearest"]["code"] == "T09"
    assert body["nearest"]["distance_m"] == pytest.approx(expected, abs=0.01)


def test_a_point_in_a_filled_hole_gets_the_grid_filling_it(grids, client):
    lon, lat = X[8] + 0.15 * D, Y[1]
    assert not grids["T09"].covers(Point(lon, lat))
    body = locate(client, lon, lat).json()
    assert body["grid"]["code"] == "T08" and body["on_boundary"] is False


def test_outside_every_grid_404_names_the_nearest_grid_and_its_ground_distance(grids, client):
    """Random points around and between the blocks: the nearest grid and metres match our own measure."""
    rng = np.random.default_rng(11)
    union = shapely.union_all(list(grids.values()))
    checked = 0
    while checked < 40:
        lon = rng.uniform(X[0] - 10 * D, X[12] + 10 * D)
        lat = rng.uniform(Y[0] - 10 * D, Y[2] + 10 * D)
        if union.covers(Point(lon, lat)):
            continue
        distances = {code: ground_distance_m(g, lon, lat) for code, g in grids.items()}
        best = min(distances, key=lambda c: (distances[c], c))
        second = sorted(distances.values())[1]
        if second - distances[best] < 0.05:
            continue  # too close to call for a comparison at the centimetre
        r = locate(client, lon, lat)
        assert r.status_code == 404, r.text
        body = r.json()
        assert body["nearest"]["code"] == best, (lon, lat)
        assert abs(body["nearest"]["distance_m"] - distances[best]) <= max(0.01, 0.001 * distances[best]), (lon, lat)
        assert "No grid covers" in body["detail"] and f"nearest grid is {best}" in body["detail"]
        checked += 1


def test_with_no_grids_at_all_outside_has_no_nearest(engine, client):
    """With the grid layer empty (its one grid deleted) the answer is 404 with a message, not an error."""
    with session_scope(engine) as s:
        create_feature(s, "grids", {"code": "ONLY", "name": "only"}, box(X[0], Y[0], X[1], Y[1]))
    with session_scope(engine) as s:
        s.delete(s.scalar(select(Grid)))
    r = locate(client, X[0], Y[0])
    assert r.status_code == 404
    assert r.json()["nearest"] is None and "No grid covers" in r.json()["detail"]


# --------------------------------------------------------------------------- coordinate systems


def _from_wgs84(name: str, lon: float, lat: float) -> tuple[float, float]:
    if name == "gcj02":
        x, y = wgs84_to_gcj02(lon, lat)
    elif name == "bd09":
        x, y = gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    else:
        x, y = Transformer.from_crs("EPSG:4326", "EPSG:4490", always_xy=True).transform(lon, lat)
    return float(x), float(y)


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "cgcs2000"])
def test_locate_in_chinese_coordinate_systems(grids, client, crs):
    """A WGS84 point converted to the crs and sent with crs=... is located in the same grid."""
    for code in ("T04", "T05", "T08"):
        p = grids[code].representative_point()
        lon, lat = _from_wgs84(crs, p.x, p.y)
        if crs != "cgcs2000":
            assert GEOD.inv(p.x, p.y, lon, lat)[2] > 100  # the shift is large: the crs matters
        r = locate(client, lon, lat, crs=crs)
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["code"] == code
        assert r.json()["point"] == {
            "lon": lon,
            "lat": lat,
            "crs": {"gcj02": "gcj02", "bd09": "bd09", "cgcs2000": "EPSG:4490"}[crs],
        }


def _china(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(73.7, 134.7, n), rng.uniform(18.2, 53.4, n)


def _metres(lon0, lat0, lon1, lat1) -> np.ndarray:
    return np.asarray(GEOD.inv(lon0, lat0, lon1, lat1)[2])


def test_gcj02_round_trips_within_a_centimetre_across_china():
    """100,000 random points: GCJ-02 -> WGS84 -> GCJ-02 and WGS84 -> GCJ-02 -> WGS84 within 0.01 m."""
    lon, lat = _china(100_000, 1)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    assert np.median(_metres(lon, lat, wlon, wlat)) > 100  # a real shift, not the identity
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    assert _metres(lon, lat, glon, glat).max() < 0.01
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _metres(lon, lat, back_lon, back_lat).max() < 0.01


def test_bd09_round_trips_within_a_centimetre_across_china():
    """100,000 random points: BD-09 -> GCJ-02 -> BD-09, and BD-09 -> WGS84 -> BD-09, within 0.01 m."""
    lon, lat = _china(100_000, 2)
    glon, glat = bd09_to_gcj02(lon, lat)
    assert np.median(_metres(lon, lat, glon, glat)) > 100
    blon, blat = gcj02_to_bd09(glon, glat)
    assert _metres(lon, lat, blon, blat).max() < 0.01
    bd = CoordinateSystem("bd09")
    wlon, wlat = bd.to_wgs84(lon, lat)
    assert np.median(_metres(lon, lat, wlon, wlat)) > 500
    blon, blat = bd.from_wgs84(wlon, wlat)
    assert _metres(lon, lat, blon, blat).max() < 0.01
    back_lon, back_lat = bd.to_wgs84(*bd.from_wgs84(lon, lat))
    assert _metres(lon, lat, back_lon, back_lat).max() < 0.01


# --------------------------------------------------------------------------- batches


def batch_points(polygons: dict[str, Polygon], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in random order: every vertex, points exactly on edges, and random points
    around all the grids (some outside every grid)."""
    rng = np.random.default_rng(seed)
    special = []
    for poly in polygons.values():
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            special.append(xy)
            for t in (0.25, 0.5, 0.75):  # exact on axis-parallel edges, nearly so on the diagonal
                special.append(xy[:-1] + t * (xy[1:] - xy[:-1]))
    special = np.unique(np.vstack(special), axis=0)
    k = n - len(special)
    random = np.column_stack([rng.uniform(X[0] - D, X[12] + D, k), rng.uniform(Y[0] - D, Y[2] + D, k)])
    xy = np.vstack([special, random])[rng.permutation(n)]
    return xy[:, 0], xy[:, 1]


def post_locate(client: TestClient, body, **params):
    r = client.post(
        f"{API}/grids/locate", content=json.dumps(body), params=params, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text[:500]
    return r.json()


def test_batch_agrees_with_single_lookups_on_100000_points(grids, client, session):
    """100,000 points, both body forms: the same answers, in input order, as our own covers
    check, as locate_point called in-process for every point, and as GET for a sample of 300."""
    lon, lat = batch_points(grids, 100_000, seed=7)
    expected = expected_codes(grids, lon, lat)
    assert 0 < expected.count(None) < 100_000  # some points are outside every grid

    pairs = np.column_stack([lon, lat]).tolist()
    plain = post_locate(client, {"points": pairs, "crs": "wgs84"})
    assert plain["count"] == 100_000 and plain["crs"] == "wgs84"
    assert plain["located"] == 100_000 - expected.count(None)
    assert plain["grids"] == expected

    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"n": i}, "geometry": {"type": "Point", "coordinates": p}}
            for i, p in enumerate(pairs)
        ],
    }
    assert post_locate(client, collection)["grids"] == expected

    in_process = [locate_point(session, x, y).code for x, y in zip(lon.tolist(), lat.tolist(), strict=True)]
    assert in_process == expected

    sample = np.random.default_rng(8).choice(100_000, 300, replace=False)
    # Make sure the sample holds vertices and edge points, not only random interior points.
    points = shapely.points(lon, lat)
    covering = sum(shapely.covers(g, points).astype(int) for g in grids.values())
    on_edges = np.flatnonzero(covering > 1)
    for i in [*sample.tolist(), *on_edges[:60].tolist()]:
        x, y = float(lon[i]), float(lat[i])
        r = locate(client, x, y)
        if expected[i] is None:
            assert r.status_code == 404, (i, r.text)
            continue
        assert r.status_code == 200 and r.json()["grid"]["code"] == expected[i], (i, r.text)
        # Touching: every other grid within 0.5 m by our own measure (near-ties at 0.5 m skipped).
        near = {
            c: ground_distance_m(g, x, y)
            for c, g in grids.items()
            if c != expected[i] and g.distance(Point(x, y)) < 1e-4
        }
        if not any(0.45 < m < 0.55 for m in near.values()):
            touching = sorted(c for c, m in near.items() if m <= 0.5)
            assert r.json()["touching"] == touching and r.json()["on_boundary"] == bool(touching), (i, r.text)
    assert len(on_edges) >= 20


def test_batch_answers_follow_the_input_order(grids, client):
    """The same points reversed give the answers reversed; outside points are null."""
    lon, lat = batch_points(grids, 5000, seed=9)
    pairs = np.column_stack([lon, lat]).tolist()
    forward = post_locate(client, {"points": pairs})["grids"]
    backward = post_locate(client, {"points": pairs[::-1]})["grids"]
    assert backward == forward[::-1]
    assert None in forward
    outside = [i for i, code in enumerate(forward) if code is None]
    union = shapely.union_all(list(grids.values()))
    assert not any(union.covers(Point(*pairs[i])) for i in outside)


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "cgcs2000"])
def test_batch_in_chinese_coordinate_systems(grids, client, crs):
    """Points at least 2 m inside or outside any edge, sent in the crs (in the body or the query),
    are located as their WGS84 originals are."""
    lon, lat = batch_points(grids, 3000, seed=10)
    edges = shapely.union_all([g.boundary for g in grids.values()])
    clear = shapely.distance(edges, shapely.points(lon, lat)) > 2e-5
    lon, lat = lon[clear], lat[clear]
    expected = expected_codes(grids, lon, lat)
    to_crs = Transformer.from_crs("EPSG:4326", "EPSG:4490", always_xy=True).transform
    cx, cy = {
        "gcj02": lambda: wgs84_to_gcj02(lon, lat),
        "bd09": lambda: gcj02_to_bd09(*wgs84_to_gcj02(lon, lat)),
        "cgcs2000": lambda: to_crs(lon, lat),
    }[crs]()
    pairs = np.column_stack([cx, cy]).tolist()
    assert post_locate(client, {"points": pairs, "crs": crs})["grids"] == expected
    assert post_locate(client, {"points": pairs}, crs=crs)["grids"] == expected
    features = [{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": p}} for p in pairs]
    assert post_locate(client, {"type": "FeatureCollection", "features": features}, crs=crs)["grids"] == expected
    if crs != "cgcs2000":  # the same numbers read as WGS84 land elsewhere
        assert post_locate(client, {"points": pairs})["grids"] != expected


def test_an_empty_batch_is_answered(grids, client):
    assert post_locate(client, {"points": []}) == {"crs": "wgs84", "count": 0, "located": 0, "grids": []}


# --------------------------------------------------------------------------- the demo


def test_every_demo_building_locates_to_its_own_grid(engine, client):
    """Each of the demo's buildings, asked one by one and in one batch, lies in the grid stored on it,
    and that grid covers it by our own check against the grid polygons."""
    with session_scope(engine) as s:
        load_demo(s)
    with session_scope(engine) as s:
        count = len(s.scalars(select(Building.id)).all())
    buildings = client.get(f"{API}/buildings", params={"limit": 10_000}).json()["features"]
    assert len(buildings) == count >= 297
    polygons = {
        f["properties"]["code"]: shapely.geometry.shape(f["geometry"])
        for f in client.get(f"{API}/grids").json()["features"]
    }
    lon = np.array([f["geometry"]["coordinates"][0] for f in buildings])
    lat = np.array([f["geometry"]["coordinates"][1] for f in buildings])
    stored = [f["properties"]["grid"] for f in buildings]
    assert None not in stored
    assert expected_codes(polygons, lon, lat) == stored
    for f in buildings:
        x, y = f["geometry"]["coordinates"]
        r = locate(client, x, y)
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["code"] == f["properties"]["grid"], f["properties"]["code"]
    assert post_locate(client, {"points": np.column_stack([lon, lat]).tolist()})["grids"] == stored
