"""Deterministic data for the patrol benchmark (``bench/patrol_coverage.py``): a district's day.

A district of about 10 km x 10 km whose south-west corner is 113.00 E, 23.65 N (Qingyuan):

- 1,000 rectangular grids (40 x 25, 250 m x 400 m) in 10 communities of one street, one grid
  worker serving each grid;
- 100,000 buildings on a jittered lattice (31.25 m apart, +-8 m, 2,400 lattice places left empty
  at random), 30 % of them with a square footprint 8-20 m wide at a random angle, the rest a point;
- streets every 125 m in both directions, running between the buildings;
- 1,000 patrols, one per worker, of 8 hours at one fix every 5 s (5,760 fixes each): a walk along
  the streets around the worker's own grid (at most 750 m from its starting crossing), at a
  walker's pace with stops at some crossings, with GPS noise (sigma 3 m per axis), the accuracy
  the phone reports (3-15 m), 0.3 % wild fixes with a poor reported accuracy (60-200 m, 80-400 m
  off) and 0.05 % that claim good accuracy but jump 300 m (the speed check drops them).

Everything is in local metres first and then in degrees by the plain scale of a degree at
23.7 N; the values are rounded to 1e-7 degree (1 cm), which is what HTTP sends. Fix times are
seconds from the patrol's start: the loader and the HTTP client put them on a day.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

import numpy as np

SEED = 20261130
ORIGIN = (113.0, 23.65)  # south-west corner of the district (lon, lat)
SIDE_M = 10_000.0
LAT_MID = math.radians(23.70)
# Length of a degree at the district's latitude (WGS84 series).
M_PER_DEG_LAT = 111132.954 - 559.822 * math.cos(2 * LAT_MID) + 1.175 * math.cos(4 * LAT_MID)
M_PER_DEG_LON = 111412.84 * math.cos(LAT_MID) - 93.5 * math.cos(3 * LAT_MID) + 0.118 * math.cos(5 * LAT_MID)
DECIMALS = 7
DISTRICT = "441802"  # 清城区
STREET = "441802001"
GRID_COLS, GRID_ROWS = 40, 25  # 250 m x 400 m
COMMUNITY_COLS = 4  # each community is 4 grid columns wide, all rows high: 10 communities
BLOCK_M = 125.0  # street spacing
LATTICE_M = 31.25  # building spacing: 4 buildings between two streets
WALK_REACH = 6  # crossings a walk may go from its start in each direction (750 m)


@dataclass
class Params:
    buildings: int = 100_000
    patrols: int = 1_000
    hours: float = 8.0
    interval_s: float = 5.0
    footprint_share: float = 0.3
    seed: int = SEED

    @property
    def fixes_per_patrol(self) -> int:
        return int(round(self.hours * 3600 / self.interval_s))

    def key(self) -> str:
        text = json.dumps(self.__dict__, sort_keys=True) + "|v2"
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class Data:
    params: Params
    grid_boxes: np.ndarray  # (1000, 4) lon0, lat0, lon1, lat1; grid i is served by worker i
    b_lon: np.ndarray  # building points
    b_lat: np.ndarray
    b_grid: np.ndarray  # index of the grid holding the point
    b_footprint: np.ndarray  # (n, 4, 2) corners in degrees; NaN where the building has no footprint
    home_lon: np.ndarray  # each patrol's first crossing
    home_lat: np.ndarray
    fix_lon: np.ndarray  # (patrols * fixes_per_patrol,) patrol after patrol
    fix_lat: np.ndarray
    fix_acc: np.ndarray
    fix_dt: np.ndarray  # seconds from the patrol's start


def to_lon(x: np.ndarray | float) -> np.ndarray:
    return np.round(ORIGIN[0] + np.asarray(x) / M_PER_DEG_LON, DECIMALS)


def to_lat(y: np.ndarray | float) -> np.ndarray:
    return np.round(ORIGIN[1] + np.asarray(y) / M_PER_DEG_LAT, DECIMALS)


def _grids() -> np.ndarray:
    w, h = SIDE_M / GRID_COLS, SIDE_M / GRID_ROWS
    i = np.arange(GRID_COLS * GRID_ROWS)
    col, row = i % GRID_COLS, i // GRID_COLS
    return np.column_stack((to_lon(col * w), to_lat(row * h), to_lon((col + 1) * w), to_lat((row + 1) * h)))


def grid_of(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The grid index of points in local metres (inside the district)."""
    col = np.clip((x // (SIDE_M / GRID_COLS)).astype(int), 0, GRID_COLS - 1)
    row = np.clip((y // (SIDE_M / GRID_ROWS)).astype(int), 0, GRID_ROWS - 1)
    return row * GRID_COLS + col


def _buildings(p: Params, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    side = int(SIDE_M / LATTICE_M)  # 320
    places = side * side
    if p.buildings > places:
        raise ValueError(f"at most {places} buildings fit the lattice")
    chosen = np.sort(rng.choice(places, p.buildings, replace=False))
    x = (chosen % side + 0.5) * LATTICE_M + rng.uniform(-8, 8, p.buildings)
    y = (chosen // side + 0.5) * LATTICE_M + rng.uniform(-8, 8, p.buildings)
    has = rng.random(p.buildings) < p.footprint_share
    half = rng.uniform(4, 10, p.buildings)
    angle = rng.uniform(0, math.pi / 2, p.buildings)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=float)  # counter-clockwise
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    cx = x[:, None] + half[:, None] * (corners[:, 0] * c - corners[:, 1] * s)
    cy = y[:, None] + half[:, None] * (corners[:, 0] * s + corners[:, 1] * c)
    footprint = np.stack((to_lon(cx), to_lat(cy)), axis=-1)
    footprint[~has] = np.nan
    return to_lon(x), to_lat(y), grid_of(x, y), footprint


def _walk(rng: np.random.Generator, start: tuple[int, int], metres: float) -> np.ndarray:
    """Crossings (i, j) of a walk along the streets from ``start``, at least ``metres`` long:
    mostly straight on, never straight back unless there is no other way, within WALK_REACH."""
    last = int(SIDE_M / BLOCK_M)  # 80: crossings 0..80 each way
    lo = (max(0, start[0] - WALK_REACH), max(0, start[1] - WALK_REACH))
    hi = (min(last, start[0] + WALK_REACH), min(last, start[1] + WALK_REACH))
    steps = int(metres / BLOCK_M) + 2
    out = np.empty((steps + 1, 2), dtype=int)
    out[0] = start
    i, j = start
    di, dj = (1, 0) if rng.random() < 0.5 else (0, 1)
    moves = ((1, 0), (-1, 0), (0, 1), (0, -1))
    for k in range(1, steps + 1):
        options = [(a, b) for a, b in moves if lo[0] <= i + a <= hi[0] and lo[1] <= j + b <= hi[1]]
        forward = [m for m in options if m != (-di, -dj)] or options
        if (di, dj) not in forward or rng.random() >= 0.55:  # else: straight on
            di, dj = forward[int(rng.integers(len(forward)))]
        i, j = i + di, j + dj
        out[k] = (i, j)
    return out


def _patrol(rng: np.random.Generator, p: Params, home: tuple[int, int]) -> tuple[np.ndarray, ...]:
    n = p.fixes_per_patrol
    duration = n * p.interval_s
    pace = rng.uniform(0.9, 1.4)
    crossings = _walk(rng, home, pace * 1.2 * duration)
    # Time and distance along the path at each crossing: walk a block, perhaps stop there.
    blocks = len(crossings) - 1
    walk_s = BLOCK_M / (pace * rng.uniform(0.85, 1.15, blocks))
    stop_s = np.where(rng.random(blocks) < 0.08, rng.uniform(60, 600, blocks), 0.0)
    knot_t = np.concatenate(([0.0], np.cumsum(np.column_stack((walk_s, stop_s)).ravel())))
    knot_s = np.concatenate(([0.0], np.repeat(np.arange(1, blocks + 1) * BLOCK_M, 2)))
    t = np.arange(n) * p.interval_s
    s = np.interp(t, knot_t, knot_s)
    path_x, path_y = crossings[:, 0] * BLOCK_M, crossings[:, 1] * BLOCK_M
    along = np.arange(len(crossings)) * BLOCK_M
    x = np.interp(s, along, path_x) + rng.normal(0, 3.0, n)
    y = np.interp(s, along, path_y) + rng.normal(0, 3.0, n)
    acc = np.round(rng.uniform(3, 15, n), 1)
    wild = rng.random(n) < 0.003
    angle = rng.uniform(0, 2 * math.pi, n)
    off = np.where(wild, rng.uniform(80, 400, n), 0.0)
    acc = np.where(wild, np.round(rng.uniform(60, 200, n), 1), acc)
    jump = (rng.random(n) < 0.0005) & ~wild
    off = np.where(jump, 300.0, off)
    # Inside the district, whose edge is the service area's (the walks on its edge streets).
    x = np.clip(x + off * np.cos(angle), 0.5, SIDE_M - 0.5)
    y = np.clip(y + off * np.sin(angle), 0.5, SIDE_M - 0.5)
    return to_lon(x), to_lat(y), acc, t


def _make(p: Params) -> Data:
    rng = np.random.default_rng(p.seed)
    b_lon, b_lat, b_grid, footprint = _buildings(p, rng)
    boxes = _grids()
    # Each worker starts at the crossing nearest the middle of their grid.
    g = np.arange(p.patrols) % (GRID_COLS * GRID_ROWS)
    w, h = SIDE_M / GRID_COLS, SIDE_M / GRID_ROWS
    home_i = np.round(((g % GRID_COLS) + 0.5) * w / BLOCK_M).astype(int)
    home_j = np.round(((g // GRID_COLS) + 0.5) * h / BLOCK_M).astype(int)
    parts = [_patrol(rng, p, (int(i), int(j))) for i, j in zip(home_i, home_j, strict=True)]
    return Data(
        params=p,
        grid_boxes=boxes,
        b_lon=b_lon,
        b_lat=b_lat,
        b_grid=b_grid,
        b_footprint=footprint,
        home_lon=to_lon(home_i * BLOCK_M),
        home_lat=to_lat(home_j * BLOCK_M),
        fix_lon=np.concatenate([q[0] for q in parts]),
        fix_lat=np.concatenate([q[1] for q in parts]),
        fix_acc=np.concatenate([q[2] for q in parts]),
        fix_dt=np.concatenate([q[3] for q in parts]),
    )


def make(p: Params, log=print) -> Data:
    """The data for ``p`` (a few seconds: it is made anew each run, the same from the same seed)."""
    t = time.perf_counter()
    d = _make(p)
    log(
        f"data: generated {p.buildings:,} buildings and {p.patrols:,} patrols "
        f"({d.fix_lon.size:,} fixes) in {time.perf_counter() - t:.1f} s"
    )
    return d
