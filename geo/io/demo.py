"""Load the demo community (``data/demo``) through the ordinary importers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.io.importers import ImportReport, import_layer
from geo.io.read import ImportOptions
from geo.layers import LAYERS
from geo.models import Community

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
DEMO_COMMUNITY = "441802001001"


def load_demo(session: Session, progress: bool = False, directory: Path = DEMO_DIR) -> list[ImportReport]:
    """Load the demo in the caller's transaction. A database that already has it is left as it is."""
    if session.scalar(select(Community.id).where(Community.code == DEMO_COMMUNITY)) is not None:
        return []
    options = ImportOptions(progress=progress)
    # The registry's order is the order layers depend on each other (grids name their community ...).
    return [import_layer(session, entry.name, directory / entry.demo_file, options) for entry in LAYERS.values()]
