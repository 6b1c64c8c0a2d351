"""A layer's extent: the lon/lat box around all its features (collections' and tilesets'
metadata), kept until the layer's revision changes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.db.revisions import cached
from geo.layers import LAYERS

Box = tuple[float, float, float, float]


def layer_extent(session: Session, layer_name: str, deps: tuple[str, ...]) -> Box | None:
    """(west, south, east, north) of the layer's features, or None when it has none; ``deps``
    are the revision counters its rows bump."""

    def build(s: Session) -> Box | None:
        geom = LAYERS[layer_name].model.__table__.c.geom
        west, south, east, north = backend_for(s).bounds(geom)
        row = s.execute(select(func.min(west), func.min(south), func.max(east), func.max(north))).one()
        return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))

    return cached(session, f"extent:{layer_name}", deps, build)
