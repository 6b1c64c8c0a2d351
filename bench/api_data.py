"""Deterministic benchmark data: grids, communities, responders and query points.

Everything comes from one seed, so two runs (and both databases in one run) see the same data.
The area is 0.4 deg x 0.4 deg around 113.05 E, 23.70 N (Qingyuan, Guangdong), about
41 km x 44 km. Grids are the Voronoi cells of 100,000 random seeds clipped to that box: irregular
polygons that tile the area with no gaps or overlaps and share their edges exactly.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from geo.models import KNOWN_ROLES

SEED = 20261125
CENTER = (113.05, 23.70)
HALF = 0.2  # degrees: the area is 0.4 x 0.4
# Query points come from a slightly larger box (about 220 m wider on each side), so a couple of
# percent fall outside every grid and the batch answers contain nulls.
QUERY_MARGIN = 0.002
DECIMALS = 7  # query points are rounded to 1e-7 deg (1 cm): HTTP, in-process and sjoin see the same values
DISTRICT = "441802"  # 清城区


@dataclass
class Params:
    grids: int = 100_000
    responders: int = 100_000
    points: int = 1_000_000
    http_points: int = 10_000  # the list wrk's Lua script cycles through
    seed: int = SEED

    def key(self) -> str:
        text = json.dumps(self.__dict__, sort_keys=True) + "|v3"
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class Data:
    params: Params
    # grids, in id order (id = position + 1)
    grid_wkb: np.ndarray  # object array of WKB bytes (MultiPolygon)
    grid_codes: np.ndarray  # str
    grid_community: np.ndarray  # int, community id
    # communities and streets
    community_codes: np.ndarray
    community_street: np.ndarray  # street id of each community
    community_boxes: np.ndarray  # (n, 4) lon/lat boxes
    street_codes: np.ndarray
    # responders, in id order
    resp_lon: np.ndarray
    resp_lat: np.ndarray
    resp_role: np.ndarray  # str
    resp_on_duty: np.ndarray  # bool
    serve_resp: np.ndarray  # responder id of each (responder, grid) pair
    serve_grid: np.ndarray  # grid id of each pair
    # query points
    q_lon: np.ndarray
    q_lat: np.ndarray
    http_idx: np.ndarray  # indices into q_* of the points the HTTP benchmarks send (all inside a grid)

    @property
    def area(self) -> tuple[float, float, float, float]:
        return (CENTER[0] - HALF, CENTER[1] - HALF, CENTER[0] + HALF, CENTER[1] + HALF)


def _make(p: Params) -> Data:
    rng = np.random.default_rng(p.seed)
    x0, y0, x1, y1 = CENTER[0] - HALF, CENTER[1] - HALF, CENTER[0] + HALF, CENTER[1] + HALF
    area = shapely.box(x0, y0, x1, y1)

    # Seeds with uneven density (denser towards a few "town centres"), so grids vary in size.
    n_uniform = p.grids // 2
    centres = rng.uniform([x0, y0], [x1, y1], size=(6, 2))
    pick = rng.integers(0, len(centres), p.grids - n_uniform)
    clustered = centres[pick] + rng.normal(0.0, 0.05, size=(p.grids - n_uniform, 2))
    seeds = np.vstack([rng.uniform([x0, y0], [x1, y1], size=(n_uniform, 2)), clustered])
    seeds = np.clip(seeds, [x0 + 1e-6, y0 + 1e-6], [x1 - 1e-6, y1 - 1e-6])
    seeds = np.unique(seeds, axis=0)
    while len(seeds) < p.grids:  # (never in practice) replace duplicate seeds
        extra = rng.uniform([x0, y0], [x1, y1], size=(p.grids - len(seeds), 2))
        seeds = np.unique(np.vstack([seeds, extra]), axis=0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area))
    cells = shapely.intersection(cells, area)
    cells = cells[~shapely.is_empty(cells)]
    if len(cells) != p.grids:
        raise RuntimeError(f"expected {p.grids} Voronoi cells, got {len(cells)}")
    # Store order: west to east, south to north by centroid (like a surveyed layer would come).
    cent = shapely.centroid(cells)
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    order = np.lexsort((cy, np.floor((cx - x0) / 0.01)))
    cells, cx, cy = cells[order], cx[order], cy[order]
    multi = shapely.multipolygons(cells.reshape(-1, 1))
    grid_wkb = shapely.to_wkb(multi)

    # Communities: a 32 x 32 lattice of cells; streets: 4 x 4 blocks of communities.
    side = 32
    ci = np.clip(((cx - x0) / (2 * HALF) * side).astype(int), 0, side - 1)
    cj = np.clip(((cy - y0) / (2 * HALF) * side).astype(int), 0, side - 1)
    community_of_cell = ci * side + cj  # 0..1023
    used = np.unique(community_of_cell)
    community_id = {int(c): k + 1 for k, c in enumerate(used)}
    grid_community = np.array([community_id[int(c)] for c in community_of_cell], dtype=np.int64)
    street_of_comm = (used // side // 8) * 4 + (used % side) // 8  # 0..15
    street_codes = np.array([f"{DISTRICT}{s + 1:03d}" for s in range(16)], dtype=object)
    seq_in_street: dict[int, int] = {}
    community_codes = []
    for s in street_of_comm:
        seq_in_street[int(s)] = seq_in_street.get(int(s), 0) + 1
        community_codes.append(f"{street_codes[s]}{seq_in_street[int(s)]:03d}")
    community_codes = np.array(community_codes, dtype=object)
    step = 2 * HALF / side
    community_boxes = np.array(
        [
            [x0 + (c // side) * step, y0 + (c % side) * step, x0 + (c // side + 1) * step, y0 + (c % side + 1) * step]
            for c in used
        ]
    )
    seq_in_comm: dict[int, int] = {}
    grid_codes = []
    for c in grid_community:
        seq_in_comm[int(c)] = seq_in_comm.get(int(c), 0) + 1
        grid_codes.append(f"{community_codes[c - 1]}{seq_in_comm[int(c)]:03d}")
    grid_codes = np.array(grid_codes, dtype=object)
    if len(set(grid_codes.tolist())) != p.grids or max(seq_in_comm.values()) > 999:
        raise RuntimeError("grid codes are not unique 15-digit codes")

    # Responders: random positions, roles, about 15 % off duty; each serves the grid it stands
    # in and up to two grids nearby.
    resp_lon = np.round(rng.uniform(x0, x1, p.responders), DECIMALS)
    resp_lat = np.round(rng.uniform(y0, y1, p.responders), DECIMALS)
    weights = np.array([0.08, 0.12, 0.25, 0.1, 0.1, 0.3, 0.05])
    resp_role = np.array(KNOWN_ROLES, dtype=object)[
        rng.choice(len(KNOWN_ROLES), p.responders, p=weights / weights.sum())
    ]
    resp_on_duty = rng.random(p.responders) >= 0.15
    tree = shapely.STRtree(cells)
    pts = shapely.points(resp_lon, resp_lat)
    pi, gi = tree.query(pts, predicate="intersects")
    home = np.full(p.responders, -1, dtype=np.int64)
    home[pi[::-1]] = gi[::-1]  # first hit per responder
    # Extra grids: a grid close by in storage order (grids are stored in 0.01-degree strips).
    n_serve = rng.integers(1, 4, p.responders)
    r_all = [np.flatnonzero(home >= 0)]
    g_all = [home[home >= 0]]
    for extra in (1, 2):
        who = np.flatnonzero((home >= 0) & (n_serve > extra))
        r_all.append(who)
        g_all.append(np.clip(home[who] + rng.integers(-40, 41, who.size), 0, p.grids - 1))
    pairs_arr = np.unique(np.column_stack([np.concatenate(r_all), np.concatenate(g_all)]), axis=0)
    serve_resp, serve_grid = pairs_arr[:, 0] + 1, pairs_arr[:, 1] + 1

    # Query points.
    q_lon = np.round(rng.uniform(x0 - QUERY_MARGIN, x1 + QUERY_MARGIN, p.points), DECIMALS)
    q_lat = np.round(rng.uniform(y0 - QUERY_MARGIN, y1 + QUERY_MARGIN, p.points), DECIMALS)
    inside = (q_lon > x0) & (q_lon < x1) & (q_lat > y0) & (q_lat < y1)
    http_idx = np.flatnonzero(inside)[: p.http_points]

    return Data(
        params=p,
        grid_wkb=grid_wkb,
        grid_codes=grid_codes,
        grid_community=grid_community,
        community_codes=community_codes,
        community_street=street_of_comm.astype(np.int64) + 1,
        community_boxes=community_boxes,
        street_codes=street_codes,
        resp_lon=resp_lon,
        resp_lat=resp_lat,
        resp_role=resp_role,
        resp_on_duty=resp_on_duty,
        serve_resp=serve_resp,
        serve_grid=serve_grid,
        q_lon=q_lon,
        q_lat=q_lat,
        http_idx=http_idx,
    )


def cache_path(p: Params, cache_dir: Path) -> Path:
    return cache_dir / f"api-data-{p.key()}.npz"


def load_or_make(p: Params, cache_dir: Path, log=print) -> Data:
    """The data for ``p``, from the cache in ``cache_dir`` when an identical run made it before."""
    path = cache_path(p, cache_dir)
    if path.exists():
        z = np.load(path, allow_pickle=True)
        fields = {k: z[k] for k in z.files}
        log(f"data: read from cache {path}")
        return Data(params=p, **fields)
    t = time.perf_counter()
    d = _make(p)
    log(
        f"data: generated {p.grids:,} grids, {p.responders:,} responders, {p.points:,} points in {time.perf_counter() - t:.1f} s"
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    fields = {k: v for k, v in d.__dict__.items() if k != "params"}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **fields)
    tmp.rename(path)
    return d
