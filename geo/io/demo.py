"""Load the demo community (``data/demo``) through the ordinary importers, and its accounts."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import ScalarResult, select
from sqlalchemy.orm import Session

from geo.access.passwords import check_password_policy, hash_password
from geo.access.policy import SYSTEM
from geo.access.users import add_user
from geo.io.demo_timeline import walk_demo_incidents
from geo.io.importers import ImportReport, import_layer
from geo.io.read import ImportOptions
from geo.layers import LAYERS
from geo.models import Building, Community, Grid, Patrol, Responder, User, utcnow
from geo.patrols.service import import_track
from geo.spatial.geometry import GEOD, from_db

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
DEMO_COMMUNITY = "441802001001"
DEMO_GRID = "441802001001006"  # the grid the README's examples use


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str
    display_name: str
    responder: str | None = None  # the demo responder the user acts for
    grid: str | None = None  # their grid, for grid staff; None: every grid


# One per role, with fixed passwords that meet the policy; published in the README, so they
# are for trying wangge out only. Grid staff act for the leader and the full-time worker of
# DEMO_GRID.
DEMO_ACCOUNTS = (
    DemoAccount("admin", "admin", "Guanli@2026", "系统管理员"),
    DemoAccount("community", "community", "Shequ@2026", "社区工作人员"),
    DemoAccount("grid_leader", "grid_leader", "Wanggezhang@2026", "廖婷欣", "CH-R016", DEMO_GRID),
    DemoAccount("grid_worker", "grid_worker", "Wanggeyuan@2026", "邓秀洁", "CH-R017", DEMO_GRID),
    DemoAccount("planner", "planner", "Guihua@2026", "规划员"),
    DemoAccount("viewer", "viewer", "Chakan@2026", "查看员"),
)


def load_demo(session: Session, progress: bool = False, directory: Path = DEMO_DIR) -> list[ImportReport]:
    """Load the demo and its accounts in the caller's transaction. A database that already has
    it is left as it is."""
    if session.scalar(select(Community.id).where(Community.code == DEMO_COMMUNITY)) is not None:
        return []
    options = ImportOptions(progress=progress)
    with tempfile.TemporaryDirectory() as scratch:
        # Incidents come in as just reported; walk_demo_incidents takes each to the file's status.
        targets = _reported_copy(directory / LAYERS["incidents"].demo_file, Path(scratch))
        # The registry's order is the order layers depend on each other (grids name their community ...).
        reports = [
            import_layer(
                session,
                entry.name,
                Path(scratch) / entry.demo_file if entry.name == "incidents" else directory / entry.demo_file,
                options,
            )
            for entry in LAYERS.values()
            if entry.in_demo
        ]
    add_demo_accounts(session)
    walk_demo_incidents(session, targets, {a.responder: a.username for a in DEMO_ACCOUNTS if a.responder})
    add_demo_patrol(session, utcnow())
    return reports


def _reported_copy(path: Path, scratch: Path) -> dict[str, tuple[str, datetime | None]]:
    """A copy of the incidents file in ``scratch`` (same name) without their status and closing
    time, so that they are imported as just reported; and each one's (status, closed_at) in the file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    targets = {}
    for feature in data["features"]:
        props = feature["properties"]
        closed = props.pop("closed_at", None)
        targets[props["code"]] = (props.pop("status"), datetime.fromisoformat(closed) if closed else None)
    (scratch / path.name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return targets


def add_demo_patrol(session: Session, now: datetime) -> Patrol:
    """The demo grid worker's patrol of this morning: past half of their grid's buildings,
    ending a quarter of an hour ago (so the maps have a day's coverage to show)."""
    worker = next(a for a in DEMO_ACCOUNTS if a.role == "grid_worker")
    responder = session.scalar(select(Responder).where(Responder.code == worker.responder))
    assert responder is not None, "the demo's responders are loaded first"
    grid_id = session.scalar(select(Grid.id).where(Grid.code == DEMO_GRID))
    stored: ScalarResult[Any] = session.scalars(
        select(Building.geom).where(Building.grid_id == grid_id).order_by(Building.code)
    )
    points = shapely.get_coordinates([from_db(g) for g in stored])
    stops = _nearest_neighbour_order(points)[: max(2, len(points) // 2)]
    # Walk between the stops at 1.2 m/s, one fix every 5 s, with a phone's metre-level noise.
    rng = np.random.default_rng(2026)
    legs = []
    for (x0, y0), (x1, y1) in zip(stops[:-1], stops[1:], strict=True):
        _, _, length = GEOD.inv(x0, y0, x1, y1)
        steps = max(int(length / 6.0), 1)
        legs.append(
            np.column_stack((np.linspace(x0, x1, steps, endpoint=False), np.linspace(y0, y1, steps, endpoint=False)))
        )
    path = np.vstack([*legs, stops[-1:]])
    noise = rng.normal(0, 1.5e-5, path.shape)
    t = now.timestamp() - 15 * 60 - 5.0 * np.arange(len(path))[::-1]
    fixes = np.column_stack((path + noise, t, rng.uniform(4, 10, len(path))))
    return import_track(session, SYSTEM, responder.id, fixes, now)


def _nearest_neighbour_order(xy: np.ndarray) -> np.ndarray:
    """The points in the order a walker going always to the nearest unvisited one meets them."""
    left = list(range(len(xy)))
    order = [left.pop(0)]
    while left:
        here = xy[order[-1]]
        nearest = min(left, key=lambda i: float(np.hypot(*(xy[i] - here))))
        left.remove(nearest)
        order.append(nearest)
    return xy[order]


def add_demo_accounts(session: Session) -> list[DemoAccount]:
    """The demo accounts not there yet (by username), signed in at once: not temporary."""
    existing = set(session.scalars(select(User.username)))
    made = []
    for account in DEMO_ACCOUNTS:
        if account.username in existing:
            continue
        user = add_user(session, account.username, account.role, account.responder, account.display_name)
        check_password_policy(account.username, account.password)
        user.password_hash = _demo_hash(account.password)
        user.password_changed_at = utcnow()
        made.append(account)
    session.flush()
    return made


@lru_cache
def _demo_hash(password: str) -> str:
    # Argon2 takes ~0.25 s a hash on purpose; these passwords are public, so one hash per
    # process serves every database the demo is loaded into (tests load it many times).
    return hash_password(password)
