"""Geotagging: every incident, building and component gets its grid (incidents also their nearest
building) from its point.

Runs on every flush, so a client can never set these fields itself; when a transaction changes
grids, the buildings, components and incidents where they changed are tagged again before it commits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from sqlalchemy import ScalarResult, bindparam, inspect, select, update
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.grids.index import locate_grid_ids
from geo.models import Building, Component, Grid, Incident
from geo.query.nearest import nearest
from geo.spatial.geometry import GEOD, from_db

# A point farther than this from every building belongs to no building (a park, a road).
BUILDING_SNAP_M = 150.0


def nearest_building_id(session: Session, lon: float, lat: float, max_m: float = BUILDING_SNAP_M) -> int | None:
    hits = nearest(session, Building, lon, lat, k=1, max_m=max_m)
    return hits[0][0] if hits else None


def nearest_building_ids(session: Session, lon, lat, max_m: float = BUILDING_SNAP_M) -> list[int | None]:
    """:func:`nearest_building_id` for many points at once: the buildings around them are read
    in one query, paired through an STRtree, and the pairs measured on the ellipsoid."""
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    out: list[int | None] = [None] * lon.size
    if lon.size == 0:
        return out
    # Degrees that certainly hold max_m, at the latitude farthest from the equator (as degrees_box).
    dlat = max_m / 110_000.0
    dlon = max_m / (110_000.0 * max(math.cos(math.radians(min(float(np.abs(lat).max()) + dlat, 89.9))), 1e-6))
    box = (float(lon.min()) - dlon, float(lat.min()) - dlat, float(lon.max()) + dlon, float(lat.max()) + dlat)
    column = Building.__table__.c.geom
    rows = session.execute(
        select(Building.id, Building.geom).where(backend_for(session).bbox_filter(column, "buildings", box))
    ).all()
    if not rows:
        return out
    ids = np.array([r.id for r in rows], dtype=np.int64)
    xy = shapely.get_coordinates(shapely.from_wkb([r.geom.data for r in rows]))
    pi, bi = shapely.STRtree(shapely.points(xy)).query(
        shapely.points(lon, lat), predicate="dwithin", distance=float(np.hypot(dlat, dlon))
    )
    if pi.size == 0:
        return out
    _, _, dist = GEOD.inv(lon[pi], lat[pi], xy[bi, 0], xy[bi, 1])
    near = dist <= max_m
    pi, bi, dist = pi[near], bi[near], dist[near]
    # Nearest first; equal distances go to the smaller id, so the answer never depends on order.
    order = np.lexsort((ids[bi], dist, pi))
    pi, bi = pi[order], bi[order]
    first = np.ones(pi.size, dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    for p, b in zip(pi[first].tolist(), ids[bi[first]].tolist()):
        out[p] = b
    return out


def geotag_incident(session: Session, incident: Incident) -> None:
    point = from_db(incident.geom)
    assert point is not None  # an incident always has its point (geom is NOT NULL)
    incident.grid_id = locate_grid_ids(session, [point.x], [point.y])[0]
    incident.building_id = nearest_building_id(session, point.x, point.y)
    # What was tagged: a new incident tagged before its flush (the workflow needs its grid
    # first) is not tagged again by the flush hook unless something changed since.
    # A plain attribute on the instance, not a mapped column.
    incident._wangge_tagged = _tag_state(incident)  # type: ignore[attr-defined]


def _tag_state(incident: Incident) -> tuple:
    return (incident.geom, incident.grid_id, incident.building_id)


def _needs_tag(session: Session, incident: Incident) -> bool:
    if incident in session.new:
        tagged = getattr(incident, "_wangge_tagged", None)
        now = _tag_state(incident)
        return tagged is None or tagged[0] is not now[0] or tagged[1:] != now[1:]
    return _changed(incident, ("geom", "grid_id", "building_id"))


def geotag_building(session: Session, building: Building | Component) -> None:
    """A building's (or component's) grid, from its point."""
    point = from_db(building.geom)
    assert point is not None  # a building or component always has its point (geom is NOT NULL)
    building.grid_id = locate_grid_ids(session, [point.x], [point.y])[0]


def _store_grid_ids(session: Session, model, changed: list[tuple[int, int | None]]) -> int:
    if changed:
        # Core, not the ORM's bulk update: that one would demand the incidents' version column.
        table = model.__table__
        session.execute(
            update(table).where(table.c.id == bindparam("row_id")).values(grid_id=bindparam("new_grid")),
            [{"row_id": i, "new_grid": g} for i, g in changed],
        )
        for row_id, _ in changed:
            obj = session.identity_map.get(inspect(model).identity_key_from_primary_key((row_id,)))
            if obj is not None:
                session.expire(obj, ["grid_id"])
    return len(changed)


def retag_area(session: Session, model, areas) -> int:
    """Tag again the rows of ``model`` whose point lies in one of ``areas`` (shapely geometries:
    where the grids changed); returns how many changed. Rows elsewhere are not read or written."""
    areas = [a for a in areas if a is not None and not a.is_empty]
    if not areas:
        return 0
    backend = backend_for(session)
    column = model.__table__.c.geom
    # A few areas: one index query each; many (an import of grids): one box around them all.
    boxes = (
        [a.bounds for a in areas] if len(areas) <= 32 else [tuple(shapely.total_bounds(np.array(areas, dtype=object)))]
    )
    found = {}
    for box in boxes:
        for row in session.execute(
            select(model.id, model.geom, model.grid_id).where(backend.bbox_filter(column, model.__tablename__, box))
        ):
            found[row.id] = row
    rows = list(found.values())
    if not rows:
        return 0
    points = shapely.from_wkb([r.geom.data for r in rows])
    _, inside = shapely.STRtree(points).query(np.array(areas, dtype=object), predicate="intersects")
    inside = np.unique(inside)
    if inside.size == 0:
        return 0
    xy = shapely.get_coordinates(points[inside])
    grid_ids = locate_grid_ids(session, xy[:, 0], xy[:, 1])
    return _store_grid_ids(
        session, model, [(rows[i].id, g) for i, g in zip(inside.tolist(), grid_ids) if rows[i].grid_id != g]
    )


def _changed(obj, names: tuple[str, ...]) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in names)


_AREA = "wangge_grid_area"  # session.info: geometries where this transaction changed grids
_PENDING = "wangge_grids_written"  # session.info: grids whose new geometry to read after the flush


def _stored_geoms(session: Session, ids) -> list:
    ids = [i for i in ids if i is not None]
    if not ids:
        return []
    stored: ScalarResult[Any] = session.scalars(select(Grid.geom).where(Grid.id.in_(ids)))
    return [from_db(g) for g in stored]


def _stored_id(obj: Grid) -> int:
    identity = inspect(obj).identity
    assert identity is not None  # asked only of grids already in the database
    return identity[0]


def _geotag_before_flush(session: Session, _ctx, _instances) -> None:
    with session.no_autoflush:
        written: list[Grid] = []
        before: list[int] = []
        for obj in list(session.new) + list(session.dirty):
            is_new = obj in session.new
            if isinstance(obj, Grid) and (is_new or _changed(obj, ("geom", "code"))):
                # A new code changes who wins ties on shared edges, so it counts as a change too.
                written.append(obj)
                if not is_new:
                    before.append(_stored_id(obj))
            if isinstance(obj, Incident) and _needs_tag(session, obj):
                geotag_incident(session, obj)
            elif isinstance(obj, (Building, Component)) and (is_new or _changed(obj, ("geom", "grid_id"))):
                geotag_building(session, obj)
        before += [_stored_id(obj) for obj in session.deleted if isinstance(obj, Grid)]
        if before:
            # Still the stored geometry: the old side of the change.
            session.info.setdefault(_AREA, []).extend(_stored_geoms(session, before))
        if written:
            session.info.setdefault(_PENDING, []).extend(written)


def _note_new_grid_geometry(session: Session, _ctx) -> None:
    written = session.info.pop(_PENDING, None)
    if written:
        with session.no_autoflush:
            # The identity key is set only after this hook; the primary key is already there.
            ids = [obj.id for obj in written]
            session.info.setdefault(_AREA, []).extend(_stored_geoms(session, ids))


def _forget_grid_changes(session: Session, previous) -> None:
    if previous.parent is None:  # the whole transaction is gone, and its changes with it
        session.info.pop(_AREA, None)
        session.info.pop(_PENDING, None)


def _retag_after_grid_change(session: Session) -> None:
    # Once per transaction, however many flushes wrote grids: tag again what lies where the grids
    # changed (old and new geometry of every grid written or deleted), and nothing else.
    session.flush()
    areas = session.info.pop(_AREA, None)
    if areas:
        with session.no_autoflush:
            retag_area(session, Building, areas)
            retag_area(session, Component, areas)
            retag_area(session, Incident, areas)


# Installed on wangge's own sessions by geo.db.session, in this order.
SESSION_HOOKS = (
    ("before_flush", _geotag_before_flush),
    ("after_flush", _note_new_grid_geometry),
    ("after_soft_rollback", _forget_grid_changes),
    ("before_commit", _retag_after_grid_change),
)
