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

from geo.db import backend_for
from geo.geometry import degrees_box, geodesic_distance_m

_START_RADIUS_M = 200.0
_EARTH_HALF_CIRCUMFERENCE_M = 20_040_000.0


def nearest(
    session: Session,
    model,
    lon: float,
    lat: float,
    k: int = 5,
    max_m: float | None = None,
    where: list[Any] | None = None,
) -> list[tuple[int, float]]:
    """The ids of up to ``k`` rows of ``model`` (point geometry ``geom``) nearest to lon/lat,
    with metres. Only ids and coordinates are read: a busy area may hold thousands of rows."""
    backend = backend_for(session)
    column = model.__table__.c.geom
    limit = max_m if max_m is not None else _EARTH_HALF_CIRCUMFERENCE_M
    radius = min(_START_RADIUS_M, limit)
    while True:
        box = backend.bbox_filter(column, model.__tablename__, degrees_box(lon, lat, radius))
        stmt = select(model.id, func.ST_X(column), func.ST_Y(column)).where(column.is_not(None), box)
        for clause in where or []:
            stmt = stmt.where(clause)
        rows = session.execute(stmt).all()
        if rows:
            table = np.array([(r[1], r[2]) for r in rows], dtype=float)
            dist = geodesic_distance_m(lon, lat, table[:, 0], table[:, 1])
        else:
            dist = np.empty(0)
        inside = dist <= radius
        if inside.sum() >= k or radius >= limit:
            order = [i for i in np.argsort(dist, kind="stable") if inside[i]][:k]
            return [(rows[i][0], float(dist[i])) for i in order]
        radius = min(radius * 4.0, limit)
