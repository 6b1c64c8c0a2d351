"""Nearest features by ground distance (geodesic on the WGS84 ellipsoid).

Candidates come from the database's spatial index through a bounding box that grows until it
holds ``k`` features within its inscribed circle; they are then ranked by exact geodesic
distance. The same code runs on SpatiaLite and PostGIS: only the box filter differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.spatial.geometry import degrees_box, geodesic_distance_m

START_RADIUS_M = 200.0
_EARTH_HALF_CIRCUMFERENCE_M = 20_040_000.0


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
    limit = max_m if max_m is not None else _EARTH_HALF_CIRCUMFERENCE_M
    radius = min(start_m, limit)
    while True:
        rows = session.execute(candidates(session, model, lon, lat, radius, where)).all()
        found, enough = closest(lon, lat, rows, k, radius)
        if enough or radius >= limit:
            return found
        radius = min(radius * 4.0, limit)


def candidates(session: Session, model, lon: float, lat: float, radius_m: float, where: list[Any] | None = None):
    """SELECT id, x, y of the rows of ``model`` in a box around lon/lat that holds ``radius_m``
    (through the spatial index); :func:`closest` then ranks them."""
    column = model.__table__.c.geom
    box = backend_for(session).bbox_filter(column, model.__tablename__, degrees_box(lon, lat, radius_m))
    return select(model.id, func.ST_X(column), func.ST_Y(column)).where(column.is_not(None), box, *(where or ()))


def closest(lon: float, lat: float, rows, k: int, radius_m: float) -> tuple[list[tuple[int, float]], bool]:
    """The ``k`` rows (id, x, y) nearest to lon/lat within ``radius_m``, with metres, nearest
    first; and whether at least ``k`` lay within the radius."""
    if rows:
        table = np.array([(r[1], r[2]) for r in rows], dtype=float)
        dist = geodesic_distance_m(lon, lat, table[:, 0], table[:, 1])
    else:
        dist = np.empty(0)
    inside = dist <= radius_m
    order = [i for i in np.argsort(dist, kind="stable") if inside[i]][:k]
    return [(rows[i][0], float(dist[i])) for i in order], int(inside.sum()) >= k
