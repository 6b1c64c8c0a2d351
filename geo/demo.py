"""Load the demo community (``data/demo``) through the ordinary importers."""

from __future__ import annotations

import json
from pathlib import Path

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.geometry import as_multipolygon, to_db
from geo.io import ImportOptions, ImportReport, import_layer
from geo.models import Community, Street

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
LAYER_ORDER = ("grids", "estates", "buildings", "responders", "incidents")


def demo_dir() -> Path:
    if not DEMO_DIR.is_dir():  # pragma: no cover - only in a broken installation
        raise FileNotFoundError(f"demo data not found at {DEMO_DIR}")
    return DEMO_DIR


def load_community(session: Session, path: Path) -> tuple[Community, bool]:
    """Create the street and community described by a one-feature GeoJSON file.

    Returns the community and whether it was created (False: it was already there).
    """
    feature = json.loads(path.read_text(encoding="utf-8"))["features"][0]
    props = feature["properties"]
    existing = session.scalar(select(Community).where(Community.code == props["community_code"]))
    if existing is not None:
        return existing, False
    street = session.scalar(select(Street).where(Street.code == props["street_code"]))
    if street is None:
        street = Street(
            code=props["street_code"],
            name=props["street_name"],
            district_code=props["district_code"],
            district_name=props["district_name"],
            city_name=props["city_name"],
        )
        session.add(street)
    community = Community(
        street=street,
        code=props["community_code"],
        name=props["community_name"],
        geom=to_db(as_multipolygon(shape(feature["geometry"]))),
    )
    session.add(community)
    session.flush()
    return community, True


def load_demo(session: Session, progress: bool = False) -> list[ImportReport]:
    """Load the demo in the caller's transaction. A database that already has it is left as it is."""
    directory = demo_dir()
    _, created = load_community(session, directory / "community.geojson")
    if not created:
        return []
    options = ImportOptions(progress=progress)
    return [import_layer(session, layer, directory / f"{layer}.geojson", options) for layer in LAYER_ORDER]
