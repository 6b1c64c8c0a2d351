"""Geotagging: every incident and building gets its grid (and nearest building) from its point.

Runs on every flush, so a client can never set these fields itself; when a transaction changes
grids, every building and incident is tagged again against them before it commits.
"""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from geo.geometry import from_db
from geo.locate import locate_grid_ids
from geo.models import Building, Grid, Incident
from geo.nearest import nearest

# A point farther than this from every building belongs to no building (a park, a road).
BUILDING_SNAP_M = 150.0


def nearest_building_id(session: Session, lon: float, lat: float, max_m: float = BUILDING_SNAP_M) -> int | None:
    hits = nearest(session, Building, lon, lat, k=1, max_m=max_m)
    return hits[0][0].id if hits else None


def geotag_incident(session: Session, incident: Incident) -> None:
    point = from_db(incident.geom)
    incident.grid_id = locate_grid_ids(session, [point.x], [point.y])[0]
    incident.building_id = nearest_building_id(session, point.x, point.y)


def geotag_building(session: Session, building: Building) -> None:
    point = from_db(building.geom)
    building.grid_id = locate_grid_ids(session, [point.x], [point.y])[0]


def retag_grids(session: Session, model) -> int:
    """Tag every row of ``model`` with the grid covering it now; returns how many changed."""
    rows = session.execute(select(model.id, model.geom, model.grid_id)).all()
    if not rows:
        return 0
    xy = shapely.get_coordinates(np.array([from_db(r.geom) for r in rows], dtype=object))
    grid_ids = locate_grid_ids(session, xy[:, 0], xy[:, 1])
    changed = [{"id": r.id, "grid_id": g} for r, g in zip(rows, grid_ids) if r.grid_id != g]
    if changed:
        session.execute(update(model), changed)
        for item in changed:
            obj = session.identity_map.get(inspect(model).identity_key_from_primary_key((item["id"],)))
            if obj is not None:
                session.expire(obj, ["grid_id"])
    return len(changed)


def _changed(obj, names: tuple[str, ...]) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in names)


@event.listens_for(Session, "before_flush")
def _geotag_before_flush(session: Session, _ctx, _instances) -> None:
    with session.no_autoflush:
        for obj in list(session.new) + list(session.dirty):
            if isinstance(obj, Grid):
                session.info["wangge_grids_changed"] = True
            is_new = obj in session.new
            if isinstance(obj, Incident) and (is_new or _changed(obj, ("geom", "grid_id", "building_id"))):
                geotag_incident(session, obj)
            elif isinstance(obj, Building) and (is_new or _changed(obj, ("geom", "grid_id"))):
                geotag_building(session, obj)
        if any(isinstance(obj, Grid) for obj in session.deleted):
            session.info["wangge_grids_changed"] = True


@event.listens_for(Session, "before_commit")
def _retag_after_grid_change(session: Session) -> None:
    # Once per transaction, however many flushes wrote grids: tag everything against them.
    session.flush()
    if session.info.pop("wangge_grids_changed", False):
        with session.no_autoflush:
            retag_grids(session, Building)
            retag_grids(session, Incident)
