"""Deterministic benchmark data: grids, communities, responders and query points.

Everything comes from one seed, so two runs (and both databases in one run) see the same data.
The area is 0.4 deg x 0.4 deg around 113.05 E, 23.70 N (Qingyuan, Guangdong), about
41 km x 44 km. Grids are the Voronoi cells of 100,000 random seeds clipped to that box: irregular
polygons that tile the area with no gaps or overlaps and share their edges exactly (made by
``data.city``, which the map benchmark's synthetic city uses too).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from data.city import CENTER, DISTRICT, HALF, grid_hierarchy, voronoi_cells  # noqa: F401 - re-exported
from geo.models import KNOWN_ROLES

SEED = 20261125
# Query points come from a slightly larger box (about 220 m wider on each side), so a couple of
# percent fall outside every grid and the batch answers contain nulls.
QUERY_MARGIN = 0.002
DECIMALS = 7  # query points are rounded to 1e-7 deg (1 cm): HTTP, in-process and sjoin see the same values


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
    cells, cx, cy = voronoi_cells(rng, p.grids, (x0, y0, x1, y1), spread=0.05)
    multi = shapely.multipolygons(cells.reshape(-1, 1))
    grid_wkb = shapely.to_wkb(multi)
    h = grid_hierarchy(cx, cy, (x0, y0, x1, y1))

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
        grid_codes=h.grid_codes,
        grid_community=h.grid_community,
        community_codes=h.community_codes,
        community_street=h.community_street,
        community_boxes=h.community_boxes,
        street_codes=h.street_codes,
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
