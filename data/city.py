"""A synthetic city for tests and benchmarks: streets, communities, grids, estates, buildings.

The grids are the Voronoi cells of random seeds (denser around a few "town centres") clipped to a
box around 113.05 E, 23.70 N (Qingyuan): irregular polygons that tile the box with no gaps or
overlaps. Communities are a 32 x 32 lattice over the box, streets 4 x 4 blocks of communities, and
every grid takes the code of its community plus a sequence number, as surveyed grids do.
Buildings are points spread evenly over the box, each in the grid it falls in; a few estates are
small squares. Everything comes from one seed; the rows are bulk-loaded (``geo.db.bulk``), on
SpatiaLite or PostGIS.

``bench/api_data.py`` makes its grids with :func:`voronoi_cells` and :func:`grid_hierarchy`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import shapely

CENTER = (113.05, 23.70)
HALF = 0.2  # degrees: the area is 0.4 x 0.4 (about 41 km x 44 km)
DISTRICT = "441802"  # 清城区
COMMUNITY_SIDE = 32  # communities: a 32 x 32 lattice over the area
SEED = 20261130


def area_box(half: float = HALF) -> tuple[float, float, float, float]:
    return (CENTER[0] - half, CENTER[1] - half, CENTER[0] + half, CENTER[1] + half)


def voronoi_cells(
    rng: np.random.Generator, n: int, box: tuple[float, float, float, float], spread: float | None = None
):
    """``n`` Voronoi cells tiling ``box``, stored west to east in 0.01-degree strips, south to
    north within a strip (as a surveyed layer would come): (cells, centroid x, centroid y).
    ``spread``: the spread (degrees) of the seeds around each town centre (an eighth of the box)."""
    x0, y0, x1, y1 = box
    area = shapely.box(x0, y0, x1, y1)
    # Seeds with uneven density (denser towards a few "town centres"), so grids vary in size.
    n_uniform = n // 2
    centres = rng.uniform([x0, y0], [x1, y1], size=(6, 2))
    pick = rng.integers(0, len(centres), n - n_uniform)
    clustered = centres[pick] + rng.normal(0.0, (x1 - x0) / 8 if spread is None else spread, size=(n - n_uniform, 2))
    seeds = np.vstack([rng.uniform([x0, y0], [x1, y1], size=(n_uniform, 2)), clustered])
    seeds = np.clip(seeds, [x0 + 1e-6, y0 + 1e-6], [x1 - 1e-6, y1 - 1e-6])
    seeds = np.unique(seeds, axis=0)
    while len(seeds) < n:  # (never in practice) replace duplicate seeds
        extra = rng.uniform([x0, y0], [x1, y1], size=(n - len(seeds), 2))
        seeds = np.unique(np.vstack([seeds, extra]), axis=0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area))
    cells = shapely.intersection(cells, area)
    cells = cells[~shapely.is_empty(cells)]
    if len(cells) != n:
        raise RuntimeError(f"expected {n} Voronoi cells, got {len(cells)}")
    cent = shapely.centroid(cells)
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    order = np.lexsort((cy, np.floor((cx - x0) / 0.01)))
    return cells[order], cx[order], cy[order]


@dataclass
class Hierarchy:
    grid_codes: np.ndarray  # str, 15 digits: community (12) + grid (3)
    grid_community: np.ndarray  # int, community id (1-based)
    community_codes: np.ndarray  # str, 12 digits
    community_street: np.ndarray  # int, street id (1-based) of each community
    community_boxes: np.ndarray  # (n, 4) lon/lat boxes
    street_codes: np.ndarray  # str, 9 digits


def grid_hierarchy(cx: np.ndarray, cy: np.ndarray, box: tuple[float, float, float, float]) -> Hierarchy:
    """Communities (a lattice over ``box``), streets (4 x 4 blocks of them), and each grid's code
    from the community its centroid falls in."""
    x0, y0, x1, y1 = box
    side = COMMUNITY_SIDE
    ci = np.clip(((cx - x0) / (x1 - x0) * side).astype(int), 0, side - 1)
    cj = np.clip(((cy - y0) / (y1 - y0) * side).astype(int), 0, side - 1)
    community_of_cell = ci * side + cj
    used, grid_community = np.unique(community_of_cell, return_inverse=True)
    grid_community = grid_community.astype(np.int64) + 1
    street_of_comm = (used // side // 8) * 4 + (used % side) // 8  # 0..15
    street_codes = np.array([f"{DISTRICT}{s + 1:03d}" for s in range(16)], dtype=object)
    seq_in_street: dict[int, int] = {}
    community_codes = []
    for s in street_of_comm:
        seq_in_street[int(s)] = seq_in_street.get(int(s), 0) + 1
        community_codes.append(f"{street_codes[s]}{seq_in_street[int(s)]:03d}")
    sx, sy = (x1 - x0) / side, (y1 - y0) / side
    community_boxes = np.array(
        [
            [x0 + (c // side) * sx, y0 + (c % side) * sy, x0 + (c // side + 1) * sx, y0 + (c % side + 1) * sy]
            for c in used
        ]
    )
    seq = _sequence(grid_community)
    if seq.max(initial=0) > 999:
        raise RuntimeError("more than 999 grids in one community: grid codes would not be 15 digits")
    codes = np.array(community_codes, dtype=object)
    grid_codes = np.array([f"{codes[c - 1]}{s:03d}" for c, s in zip(grid_community, seq, strict=True)], dtype=object)
    return Hierarchy(
        grid_codes=grid_codes,
        grid_community=grid_community,
        community_codes=codes,
        community_street=street_of_comm.astype(np.int64) + 1,
        community_boxes=community_boxes,
        street_codes=street_codes,
    )


def _sequence(groups: np.ndarray) -> np.ndarray:
    """1, 2, 3 ... within each group, in the order the rows come."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    counts = np.diff(np.r_[starts, len(groups)])
    ranks = np.arange(len(groups)) - np.repeat(starts, counts)
    out = np.empty(len(groups), dtype=np.int64)
    out[order] = ranks + 1
    return out


@dataclass
class City:
    grids: int
    buildings: int
    estates: int
    box: tuple[float, float, float, float]
    seconds: float


def _half_for(grids: int) -> float:
    # The demo's grids are about 0.4 km2; 100,000 of them fill the 0.4 x 0.4 degree box.
    return float(min(HALF, max(0.01, HALF * np.sqrt(grids / 100_000))))


def make_city(
    database_url: str,
    grids: int = 100_000,
    buildings: int = 1_000_000,
    seed: int = SEED,
    estates: int = 20,
    log=None,
) -> City:
    """Fill the migrated database (no places yet) at ``database_url`` with a city of ``grids`` grids and
    ``buildings`` buildings; the area grows with the number of grids (up to 0.4 x 0.4 degrees)."""
    from geo.db.engine import make_engine
    from geo.db.session import session_scope

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    box = area_box(_half_for(grids))
    cells, cx, cy = voronoi_cells(rng, grids, box)
    h = grid_hierarchy(cx, cy, box)
    b_lon = np.round(rng.uniform(box[0], box[2], buildings), 7)
    b_lat = np.round(rng.uniform(box[1], box[3], buildings), 7)
    b_points = shapely.points(b_lon, b_lat)
    tree = shapely.STRtree(cells)
    pi, gi = tree.query(b_points, predicate="intersects")
    b_grid = np.full(buildings, -1, dtype=np.int64)
    b_grid[pi[::-1]] = gi[::-1]  # the first grid of a point on a shared edge
    b_seq = _sequence(b_grid)
    if log:
        log(f"city: {grids:,} grids, {buildings:,} buildings made in {time.perf_counter() - started:.1f} s")

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            _load(session, h, cells, b_points, b_grid, b_seq, estates, rng, box)
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    if log:
        log(f"city: loaded in {seconds:.1f} s")
    return City(grids=grids, buildings=buildings, estates=estates, box=box, seconds=seconds)


def _load(session, h: Hierarchy, cells, b_points, b_grid, b_seq, n_estates: int, rng, box) -> None:
    from geo.db import bulk
    from geo.models import Building, Community, Estate, Grid, Street
    from geo.models.kinds import BuildingKind

    now = datetime.now(UTC)
    n_streets, n_comms, n_grids = len(h.street_codes), len(h.community_codes), len(cells)
    bulk.insert(
        session,
        Street.__table__,
        {
            "id": np.arange(1, n_streets + 1),
            "code": h.street_codes,
            "name": [f"第{i}街道" for i in range(1, n_streets + 1)],
            "district_code": [DISTRICT] * n_streets,
            "district_name": ["清城区"] * n_streets,
            "city_name": ["清远市"] * n_streets,
        },
    )
    bulk.insert(
        session,
        Community.__table__,
        {
            "id": np.arange(1, n_comms + 1),
            "street_id": h.community_street,
            "code": h.community_codes,
            "name": [f"{c[-3:]}社区" for c in h.community_codes],
            "geom": shapely.multipolygons(shapely.box(*h.community_boxes.T).reshape(-1, 1)),
        },
    )
    seq = [c[-3:] for c in h.grid_codes]
    bulk.insert(
        session,
        Grid.__table__,
        {
            "id": np.arange(1, n_grids + 1),
            "community_id": h.grid_community,
            "code": h.grid_codes,
            "name": [f"{c[-6:-3]}社区第{s}网格" for c, s in zip(h.grid_codes, seq, strict=True)],
            "party_branch": [f"{c[-6:-3]}社区第{s}网格党支部" for c, s in zip(h.grid_codes, seq, strict=True)],
            "properties": [{}] * n_grids,
            "updated_at": [now] * n_grids,
            "geom": shapely.multipolygons(cells.reshape(-1, 1)),
        },
    )
    # Estates: small squares (about 300 m) around grids spread over the area.
    picks = rng.choice(n_grids, size=min(n_estates, n_grids), replace=False)
    centres = shapely.point_on_surface(cells[picks])
    ex, ey = shapely.get_x(centres), shapely.get_y(centres)
    side = min(0.0015, (box[2] - box[0]) / 40)
    squares = shapely.box(ex - side, ey - side, ex + side, ey + side)
    n_est = len(picks)
    bulk.insert(
        session,
        Estate.__table__,
        {
            "id": np.arange(1, n_est + 1),
            "community_id": h.grid_community[picks],
            "name": [f"合成小区{i:03d}" for i in range(1, n_est + 1)],
            "property_company": [f"物业公司{i % 7 + 1}" for i in range(n_est)],
            "properties": [{}] * n_est,
            "geom": shapely.multipolygons(squares.reshape(-1, 1)),
        },
    )
    estate_of = np.full(len(b_points), None, dtype=object)
    e_tree = shapely.STRtree(squares)
    bi, ei = e_tree.query(b_points, predicate="intersects")
    estate_of[bi] = ei + 1
    kinds = np.array([k.value for k in BuildingKind], dtype=object)
    n_b = len(b_points)
    codes = h.grid_codes[b_grid]
    bulk.insert(
        session,
        Building.__table__,
        {
            "id": np.arange(1, n_b + 1),
            "code": [f"{c}{s:04d}" for c, s in zip(codes, b_seq, strict=True)],
            "name": [f"{c[-6:]}-{s}栋" for c, s in zip(codes, b_seq, strict=True)],
            "kind": kinds[rng.integers(0, len(kinds), n_b)],
            "households": rng.integers(4, 120, n_b),
            "residents": rng.integers(8, 300, n_b),
            "estate_id": estate_of,
            "grid_id": b_grid + 1,
            "properties": [{}] * n_b,
            "geom": b_points,
        },
    )
