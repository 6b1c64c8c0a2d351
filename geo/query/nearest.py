"""Nearest rows of a layer by ground distance, through the database's spatial index.

The same code runs on SpatiaLite and PostGIS: only the box filter differs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.spatial.geometry import degrees_box
from geo.spatial.search import START_RADIUS_M, closest, widening_radii


def nearest(
    session: Session,
    model,
    lon: float,
    lat: float,
    k: int = 5,
    max_m: float | None = None,
    where: list[Any] | None = None,
    start_m: float = START_RADIUS_M,
) -> list[tuple[int, float]]:
    """The ids of up to ``k`` rows of ``model`` (point geometry ``geom``) nearest to lon/lat,
    with metres. Only ids and coordinates are read: a busy area may hold thousands of rows."""
    found: list[tuple[int, float]] = []
    for radius in widening_radii(start_m, max_m, 4.0):
        rows = session.execute(candidates(session, model, lon, lat, radius, where)).all()
        found, enough = closest(lon, lat, rows, k, radius)
        if enough:
            break
    return found


def candidates(session: Session, model, lon: float, lat: float, radius_m: float, where: list[Any] | None = None):
    """SELECT id, x, y of the rows of ``model`` in a box around lon/lat that holds ``radius_m``
    (through the spatial index); :func:`closest` then ranks them."""
    column = model.__table__.c.geom
    box = backend_for(session).bbox_filter(column, model.__tablename__, degrees_box(lon, lat, radius_m))
    return select(model.id, func.ST_X(column), func.ST_Y(column)).where(column.is_not(None), box, *(where or ()))
