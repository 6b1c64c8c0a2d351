"""The district boundary, the community outline and its grids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon

from geo.spatial.codes import unit_grid_codes
from geo.spatial.crs import CoordinateSystem
from geo.spatial.geometry import as_multipolygon

from .facts import COMMUNITY_NAME, DISTRICT_FILE, MIN_EDGE_M, PRECISION
from .frame import LocalFrame, snap

CN_DIGITS = "一二三四五六七八九"


@dataclass(eq=False)  # compared by identity: `b.grid is g`, never field by field
class Grid:
    code: str
    name: str
    party_branch: str
    geom: Polygon  # WGS84
    metric: Polygon  # local metres


def cn_number(n: int) -> str:
    """Chinese numerals for 1..99, as in 第十二网格."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_DIGITS[tens - 1] + "十")
    return head + (CN_DIGITS[ones - 1] if ones else "")


def load_boundary_wgs84(path: str | Path | None = None) -> MultiPolygon:
    """The real boundary of 清城区 in WGS84; the DataV file is GCJ-02, so it is converted first."""
    doc = json.loads(Path(path or DISTRICT_FILE).read_text(encoding="utf-8"))
    features = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    gcj = shapely.union_all([shapely.from_geojson(json.dumps(f["geometry"])) for f in features])
    return as_multipolygon(CoordinateSystem("gcj02").geometries_to_wgs84(gcj))


def community_outline_m(rng: np.random.Generator) -> Polygon:
    """An irregular 16-gon of about 1.2 km × 1.0 km: an ellipse with jittered vertices."""
    n = 16
    angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.1, 0.1, n)
    a, b = 620.0, 510.0
    radius = rng.uniform(0.9, 1.06, n) / np.sqrt((np.cos(angles) / a) ** 2 + (np.sin(angles) / b) ** 2)
    return Polygon(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)]))


def grid_cells(rng: np.random.Generator, frame: LocalFrame, outline: Polygon) -> list[Polygon]:
    """12 Voronoi cells of a jittered 4 × 3 lattice, clipped to the community on a 1e-7° grid."""
    inner = frame.to_m(outline).buffer(-90.0)
    seeds = []
    for y in (340.0, 0.0, -340.0):
        for x in (-450.0, -150.0, 150.0, 450.0):
            p = np.array([x, y]) + rng.uniform(-45.0, 45.0, 2)
            while not inner.contains(Point(p)):  # pull rim seeds inward so no grid is a sliver
                p *= 0.92
            seeds.append(p)
    seeds_deg = frame.to_deg(MultiPoint(seeds))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds_deg, extend_to=outline.buffer(0.01)))
    # Fixed-precision overlay puts every vertex on the 1e-7 grid, so shared edges are bit-identical.
    clipped = snap(shapely.intersection(cells, outline, grid_size=PRECISION))
    assert all(isinstance(c, Polygon) for c in clipped), "every grid must be a single polygon"
    return list(clipped)


def make_grids(rng: np.random.Generator, frame: LocalFrame, outline: Polygon, ccode: str) -> list[Grid]:
    cells = grid_cells(rng, frame, outline)
    codes = unit_grid_codes(ccode, cells)
    grids = []
    for seq, (code, cell) in enumerate(sorted(zip(codes, cells, strict=True), key=lambda t: t[0]), start=1):
        # Party groups follow grids: 3 grids per group, 2 groups per branch.
        branch, group = (seq - 1) // 6 + 1, (seq - 1) // 3 % 2 + 1
        party = f"{COMMUNITY_NAME}第{cn_number(branch)}党支部第{cn_number(group)}党小组"
        grids.append(Grid(code, f"{COMMUNITY_NAME}第{cn_number(seq)}网格", party, cell, frame.to_m(cell)))
    return grids


def make_community(
    rng: np.random.Generator, frame: LocalFrame, district: MultiPolygon, ccode: str
) -> tuple[Polygon, list[Grid]]:
    """The community polygon and its grids, drawn inside the district."""
    outline = shapely.set_precision(frame.to_deg(community_outline_m(rng)), PRECISION)
    assert district.contains(outline), "the community outline must lie inside 清城区"
    grids = make_grids(rng, frame, outline, ccode)
    # The community is exactly the union of its grids, so "in the community" means "in some grid".
    community = snap(shapely.coverage_union_all(np.array([g.geom for g in grids], dtype=object)))
    assert isinstance(community, Polygon) and not community.interiors
    return community, grids


def grid_of(grids: list[Grid], point_m: Point) -> Grid | None:
    """The grid holding a point (in metres) at least MIN_EDGE_M inside, else None."""
    for g in grids:
        if g.metric.contains(point_m) and g.metric.boundary.distance(point_m) >= MIN_EDGE_M:
            return g
    return None
