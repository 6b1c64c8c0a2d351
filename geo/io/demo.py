"""Load the demo community (``data/demo``) through the ordinary importers, and its accounts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.passwords import check_password_policy, hash_password
from geo.access.users import add_user
from geo.io.importers import ImportReport, import_layer
from geo.io.read import ImportOptions
from geo.layers import LAYERS
from geo.models import Community, User, utcnow

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
    # The registry's order is the order layers depend on each other (grids name their community ...).
    reports = [import_layer(session, entry.name, directory / entry.demo_file, options) for entry in LAYERS.values()]
    add_demo_accounts(session)
    return reports


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
