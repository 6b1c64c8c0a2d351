"""Nearest features by ground distance (geodesic on the WGS84 ellipsoid).

Candidates come from the database's spatial index through a bounding box that grows until it
holds ``k`` features within its inscribed circle; they are then ranked by exact geodesic
distance. The same code runs on SpatiaLite and PostGIS: only the box filter differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.db import backend_for
from geo.geometry import degrees_box, from_db, geodesic_distance_m

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
) -> list[tuple[Any, float]]:
    """Up to ``k`` rows of ``model`` (point geometry ``geom``) nearest to lon/lat, with metres."""
    backend = backend_for(session)
    column = model.__table__.c.geom
    limit = max_m if max_m is not None else _EARTH_HALF_CIRCUMFERENCE_M
    radius = min(_START_RADIUS_M, limit)
    while True:
        stmt = select(model).where(column.is_not(None), backend.bbox_filter(column, model.__tablename__, degrees_box(lon, lat, radius)))
        for clause in where or []:
            stmt = stmt.where(clause)
        rows = session.scalars(stmt).all()
        if rows:
            xy = shapely.get_coordinates(np.array([from_db(r.geom) for r in rows], dtype=object))
            dist = geodesic_distance_m(lon, lat, xy[:, 0], xy[:, 1])
        else:
            dist = np.empty(0)
        inside = dist <= radius
        if inside.sum() >= k or radius >= limit:
            order = [i for i in np.argsort(dist, kind="stable") if inside[i]][:k]
            return [(rows[i], float(dist[i])) for i in order]
        radius = min(radius * 4.0, limit)
