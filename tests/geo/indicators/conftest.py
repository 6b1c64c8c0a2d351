"""The indicators' tests share one small world and one timeline written by the test itself
(tests/support/timeline.py): three grids in two communities, a leader and a worker per grid,
90 incidents whose rows run from 45 days before April 2027 to 40 days after it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from geo.db.session import session_scope
from tests.support.timeline import scenario, worker_key
from tests.support.world import CommunitySpec, GridSpec, ResponderSpec, UserSpec, WorldSpec

CST = timezone(timedelta(hours=8))
PERIOD = (datetime(2027, 4, 1, tzinfo=CST), datetime(2027, 5, 1, tzinfo=CST))
AFTER = datetime(2027, 6, 15, 10, tzinfo=CST)  # the service's clock: the period is past

GRIDS = {
    "441802001001001": ("441802001001", (113.040, 23.690, 113.045, 23.695)),
    "441802001001002": ("441802001001", (113.045, 23.690, 113.050, 23.695)),
    "441802001002001": ("441802001002", (113.050, 23.690, 113.055, 23.695)),
}
WORLD = WorldSpec(
    start=PERIOD[0],
    communities=(
        CommunitySpec("441802001001", "翠湖社区", (113.040, 23.690, 113.050, 23.695)),
        CommunitySpec("441802001002", "东湖社区", (113.050, 23.690, 113.055, 23.695)),
    ),
    grids=tuple(
        GridSpec(code, code, f"网格{n + 1}", community, bounds)
        for n, (code, (community, bounds)) in enumerate(GRIDS.items())
    ),
    responders=tuple(
        ResponderSpec(f"R{n}{role[5]}", f"R-{n}-{role}", f"{role}{n}", role, (code,), (113.041 + 0.005 * n, 23.692))
        for n, code in enumerate(GRIDS)
        for role in ("grid_leader", "grid_worker")
    ),
    users=(
        UserSpec("community", "community"),
        UserSpec("leader", "grid_leader", "R0l"),
        UserSpec("worker", "grid_worker", "R0w"),
        UserSpec("viewer", "viewer"),
        UserSpec("admin", "admin"),
    ),
)
CATEGORIES = [("case", "dispute"), ("case", "E0102"), ("hazard", "fire_safety")]
DEPARTMENTS = ["城管局", "市政", None]


@pytest.fixture
def world_spec() -> WorldSpec:
    return WORLD


def centre(bounds):
    return ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)


def write_timeline(engine, world, rng: random.Random, n: int, start: datetime, span: timedelta):
    """``n`` incidents of the world, their rows from ``start`` over ``span``."""
    grids = {world.grid[code]: centre(bounds) for code, (_c, bounds) in GRIDS.items()}
    with session_scope(engine) as s:
        return scenario(s, rng, n, start, span, grids, sorted(world.responder.values()), CATEGORIES, DEPARTMENTS)


@pytest.fixture
def timeline(engine, world):
    rng = random.Random(20270401)
    rows, rest = write_timeline(engine, world, rng, 90, PERIOD[0] - timedelta(days=45), timedelta(days=85))
    return rows, rest, rng


def key_functions(world) -> dict:
    grid_code = {gid: code for code, gid in world.grid.items()}
    community = {world.grid[code]: c for code, (c, _b) in GRIDS.items()}
    codes = {rid: spec.code for spec in WORLD.responders for key, rid in world.responder.items() if key == spec.key}
    none = "(none)"
    return {
        "grid": lambda r, _c: grid_code.get(r.grid_id, none),
        "community": lambda r, _c: community.get(r.grid_id, none),
        "worker": worker_key(codes),
        "department": lambda r, _c: r.department or none,
        "category": lambda r, _c: r.category or none,
        "none": lambda r, _c: "total",
    }
