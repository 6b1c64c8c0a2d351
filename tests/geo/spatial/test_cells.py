"""The cell raster that answers most lookups with an array read (geo/cells.py), and the batch
endpoint's fast body reader: both must only ever give the answer the exact test gives.

The exact answers come from shapely ``covers`` over the test's own polygons (smallest code on
ties), and ground distances from pyproj.Geod, independently of geo.grids.index.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box

from api.v1.locate import _points_fast, _points_from_body
from geo.spatial.cells import OUTSIDE, UNDECIDED, build_cell_raster

GEOD = Geod(ellps="WGS84")


def _irregular_grids(seed: int) -> list:
    """Voronoi cells over a 0.02 x 0.02 degree box near Qingyuan, one with a hole, plus a small
    grid overlapping two others: shared edges, vertices, holes and an overlap."""
    rng = np.random.default_rng(seed)
    area = box(113.04, 23.69, 113.06, 23.71)
    seeds = shapely.points(rng.uniform(113.04, 113.06, 60), rng.uniform(23.69, 23.71, 60))
    cells = [
        c.intersection(area)
        for c in shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area))
    ]
    cells = [c for c in cells if not c.is_empty]
    big = max(range(len(cells)), key=lambda i: cells[i].area)
    hole = shapely.buffer(cells[big].centroid, 0.0004, quad_segs=4)
    cells[big] = cells[big].difference(hole)  # an empty hole: no grid covers it
    cells.append(box(*shapely.buffer(cells[0].representative_point(), 0.0003).bounds))  # overlaps its neighbours
    return cells


def _codes(n: int) -> list[str]:
    return [f"G{i:03d}" for i in range(n)]


def _exact(polygons: list, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Position of the smallest-code polygon covering each point, -1 where none does."""
    points = shapely.points(lon, lat)
    answer = np.full(len(points), -1)
    for i in reversed(range(len(polygons))):  # codes follow positions: smaller overwrite larger
        answer[shapely.covers(polygons[i], points)] = i
    return answer


def _probe_points(polygons: list, seed: int, n: int = 40_000) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over the area, plus points on and within a hair (1e-12 to 1e-5 degrees) of
    every vertex and edge: where a cell raster could go wrong."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(polygons)
    uniform = np.column_stack([rng.uniform(x0 - 0.001, x1 + 0.001, n), rng.uniform(y0 - 0.001, y1 + 0.001, n)])
    rings = shapely.get_coordinates(shapely.boundary(polygons))
    on_edges = shapely.get_coordinates(
        shapely.line_interpolate_point(
            shapely.boundary(np.repeat(polygons, 20)), rng.uniform(0, 1, 20 * len(polygons)), normalized=True
        )
    )
    near = np.vstack([rings, on_edges])
    scale = 10.0 ** rng.uniform(-12, -5, (len(near), 1))
    jittered = near + rng.normal(size=near.shape) * scale
    xy = np.vstack([uniform, near, jittered])
    return xy[:, 0], xy[:, 1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_point_the_raster_decides_is_decided_as_the_exact_test_does(seed):
    polygons = _irregular_grids(seed)
    raster = build_cell_raster(np.array(polygons, dtype=object))
    lon, lat = _probe_points(polygons, seed)
    labels = raster.lookup(lon, lat)
    exact = _exact(polygons, lon, lat)
    decided = labels != UNDECIDED
    assert np.array_equal(labels[decided] - 1, exact[decided])
    # It must also be worth having: most uniformly spread points are decided by one array read.
    assert decided[:40_000].mean() > 0.6
    # Points exactly on an edge or a vertex are never decided by the raster.
    on_boundary = shapely.intersects(shapely.union_all(shapely.boundary(polygons)), shapely.points(lon, lat))
    assert not decided[on_boundary].any()


def test_overlapping_grids_are_left_to_the_exact_test():
    a, b = box(113.0, 23.0, 113.01, 23.01), box(113.005, 23.0, 113.015, 23.01)
    raster = build_cell_raster(np.array([a, b], dtype=object))
    lon, lat = np.full(50, 113.0075), np.linspace(23.0005, 23.0095, 50)  # inside both
    assert (raster.lookup(lon, lat) == UNDECIDED).all()
    assert raster.lookup(np.array([113.00237]), np.array([23.00513]))[0] == 1
    assert raster.lookup(np.array([113.01263]), np.array([23.00513]))[0] == 2


def test_a_cell_no_grid_touches_is_outside_and_beyond_the_raster_is_undecided():
    grids = np.array([box(113.0, 23.0, 113.01, 23.01), box(113.02, 23.0, 113.03, 23.01)], dtype=object)
    raster = build_cell_raster(grids)
    assert raster.lookup(np.array([113.01517]), np.array([23.00513]))[0] == OUTSIDE  # between the two
    assert raster.lookup(np.array([114.0, 113.015]), np.array([23.005, 24.0])).tolist() == [UNDECIDED, UNDECIDED]
    assert raster.lookup_one(114.0, 23.005) == UNDECIDED


def test_no_grids_means_no_raster():
    assert build_cell_raster(np.array([], dtype=object)) is None
    assert build_cell_raster(np.array([Polygon()], dtype=object)) is None


def _metres_to(polygon, lon: float, lat: float) -> float:
    """Ground distance from a point to a polygon's boundary: in an azimuthal equidistant
    projection centred on the point, which keeps true distances from its centre."""
    aeqd = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m", always_xy=True
    )
    edge = shapely.segmentize(shapely.boundary(polygon), 1e-5)
    local = shapely.transform(edge, lambda xy: np.column_stack(aeqd.transform(xy[:, 0], xy[:, 1])))
    return float(shapely.distance(local, shapely.Point(0.0, 0.0)))


def test_a_point_the_raster_calls_clear_has_no_grid_boundary_within_the_tolerance():
    """``lookup_one`` with a tolerance decides a point only when no boundary of any grid comes
    within that many metres; points a centimetre to 20 m from edges probe it."""
    polygons = _irregular_grids(7)
    raster = build_cell_raster(np.array(polygons, dtype=object))
    rng = np.random.default_rng(7)
    edges = shapely.boundary(np.array(polygons, dtype=object))
    picks = rng.integers(0, len(polygons), 3000)
    on_edge = shapely.get_coordinates(
        shapely.line_interpolate_point(edges[picks], rng.uniform(0, 1, 3000), normalized=True)
    )
    metres = rng.uniform(0.01, 20.0, 3000)
    azimuth = rng.uniform(0, 360, 3000)
    lon, lat, _ = GEOD.fwd(on_edge[:, 0], on_edge[:, 1], azimuth, metres)
    exact = _exact(polygons, lon, lat)
    decided = 0
    for x, y, want in zip(lon, lat, exact, strict=True):
        label = raster.lookup_one(float(x), float(y), 0.5)
        if label == UNDECIDED:
            continue
        decided += 1
        assert label - 1 == want
        near = [i for i, p in enumerate(polygons) if shapely.distance(p, shapely.Point(x, y)) < 1e-4]
        assert min(_metres_to(polygons[i], x, y) for i in near) > 0.5
    assert decided > 600  # points farther from the edges than a cell is wide are decided


# --------------------------------------------------------------------------- the batch body


@pytest.mark.parametrize(
    "text",
    [
        '{"points": [[113.04, 23.69], [113.05, 23.7]]}',
        '{"crs": "gcj02", "points": [[113.04, 23.69], [113.05, 23.7]]}',
        '{"points": [[113.04, 23.69], [113.05, 23.7]], "crs": "bd09"}',
        '{ "points" : [ [ 113 , 23 ] ,\n\t[ -1.5e2 , 2E-3 ] ] , "crs" : "wgs84" }',
        '{"points": []}',
        '{"points": [[113.04, 23.69]]}',
        '{"points": [[113.04, 23.69]], "crs": null}',
    ],
)
def test_the_fast_body_reader_reads_what_the_general_parser_reads(text):
    fast = _points_fast(text.encode())
    assert fast is not None
    general = _points_from_body(json.loads(text))
    assert np.array_equal(fast[0], general[0]) and fast[0].shape == general[0].shape
    assert fast[1] == general[1]


@pytest.mark.parametrize(
    "text",
    [
        '{"points": [[113.04, 23.69, 5], [113.05]]}',  # three and one: as many numbers as two pairs
        '{"points": [[113.04, 23.69], [113.05]]}',
        '{"points": [113.04, 23.69]}',
        '{"points": [[[113.04, 23.69]]]}',
        '{"points": [[113.04, "23.69"]]}',
        '{"points": [[113.04, true]]}',
        '{"points": [[113.04, null]]}',
        '{"points": [[113.04, NaN]]}',
        '{"points": [[1e400, 23.69]]}',
        '{"points": {"a": 1}}',
        '{"points": [[113.04, 23.69]], "crs": "g[,]"}',
        '{"points": [[113.04, 23.69]], "extra": 1}',
        '{"type": "FeatureCollection", "features": []}',
        "[[113.04, 23.69]]",
        '{"points": [[113.04, 23.69]]',
        "",
    ],
)
def test_anything_else_is_left_to_the_general_parser(text):
    """None means: the general parser reads the body and explains what is wrong with it."""
    assert _points_fast(text.encode()) is None
