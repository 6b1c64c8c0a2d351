"""Incidents as compact points for the maps, loaded by the visible bounding box.

A map asks for the incidents in its view. When there are at most ``limit`` of them, it gets one
small array per incident, ``[id, lon, lat, kind, state]`` (kind and state as indexes into the
``kinds`` and ``states`` lists of the answer), and clusters them itself. When there are more, it
gets counts per square cell of ``cell`` degrees instead, ``[lon, lat, kind, count, overdue,
closed]`` placed at the mean position of the incidents in the cell, so a view of a whole city
costs one grouped query and a few kilobytes, whatever the number of incidents.

``state`` is what the maps colour by: ``closed`` (the workflow ended), ``overdue`` (open and past
its deadline, as :func:`geo.incidents.workflow.is_overdue`) or ``open`` (the rest). As a filter,
``status=open`` means every incident that is not closed, overdue ones included.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.errors import InputError
from geo.incidents.definitions import workflows
from geo.layers import LAYERS
from geo.models import Grid, Incident, IncidentKind, utcnow
from geo.query.filters import Filters, check_filters
from geo.spatial.crs import WGS84, CoordinateSystem

STATES = ("open", "overdue", "closed")
KINDS = tuple(k.value for k in IncidentKind)
DECIMALS = 6  # about 0.1 m: plenty for a marker
MAX_LIMIT = 50_000
MAX_CELLS_PER_SIDE = 256
DEFAULT_CELLS_PER_SIDE = 40


def _closed_clause():
    flows = list(workflows().values())
    closed = set().union(*(flow.closed for flow in flows))
    if all(not (set(flow.statuses) - flow.closed) & closed for flow in flows):
        return Incident.status.in_(sorted(closed))  # no kind has an open status of that name
    return or_(
        *(and_(Incident.kind == kind, Incident.status.in_(sorted(flow.closed))) for kind, flow in workflows().items())
    )


def state_expr(now: datetime):
    """An incident's state at ``now`` as an index into STATES (the maps and tiles colour by it)."""
    closed = _closed_clause()
    overdue = and_(Incident.due_at.is_not(None), Incident.due_at < now)
    return case((closed, 2), (overdue, 1), else_=0)


def check_point_filters(filters: Filters, session: Session | None = None) -> None:
    """The incidents' filters, where ``status`` also takes the maps' states."""
    check_filters(LAYERS["incidents"], filters, STATES, session)


def _where(session: Session, query: Filters, now: datetime) -> list:
    clauses: list[ColumnElement[bool]] = [Incident.deleted_at.is_(None)]
    if query.bbox is not None:
        clauses.append(backend_for(session).bbox_filter(Incident.__table__.c.geom, Incident.__tablename__, query.bbox))
    if query.grid is not None:
        clauses.append(Incident.grid.has(Grid.code == query.grid))
    if query.kind is not None:
        clauses.append(Incident.kind == query.kind)
    if query.status == "open":  # everything not closed, overdue included
        clauses.append(state_expr(now) != STATES.index("closed"))
    elif query.status in STATES:
        clauses.append(state_expr(now) == STATES.index(query.status))
    elif query.status is not None:
        clauses.append(Incident.status == query.status)
    if query.category is not None:
        clauses.append(Incident.category == query.category)
    if query.since is not None:
        clauses.append(Incident.created_at >= query.since)
    if query.until is not None:
        clauses.append(Incident.created_at < query.until)
    return clauses


def _cell_size(query: Filters, cell: float | None) -> float:
    if query.bbox is not None:
        x0, y0, x1, y1 = query.bbox
        span = max(x1 - x0, y1 - y0, 1e-9)
    else:
        span = 1.0
    smallest = span / MAX_CELLS_PER_SIDE
    return max(cell, smallest) if cell is not None else span / DEFAULT_CELLS_PER_SIDE


def _xy_out(crs: CoordinateSystem, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if lon.size and crs is not WGS84:
        lon, lat = crs.from_wgs84(lon, lat)
    return np.round(lon, DECIMALS), np.round(lat, DECIMALS)


def incident_points(
    session: Session,
    query: Filters | None = None,
    limit: int = 5000,
    cell: float | None = None,
    crs: CoordinateSystem = WGS84,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The incidents matching ``query``: points when at most ``limit``, else counts per cell."""
    query = query or Filters()
    check_point_filters(query, session)
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}")
    if cell is not None and not (cell > 0 and np.isfinite(cell)):
        raise InputError("cell must be a positive number of degrees")
    now = now or utcnow()
    where = _where(session, query, now)
    # How many, counting no further than needed to choose between points and cells.
    found = (
        session.scalar(select(func.count()).select_from(select(Incident.id).where(*where).limit(limit + 1).subquery()))
        or 0
    )
    answer: dict[str, Any] = {"kinds": list(KINDS), "states": list(STATES)}
    kind_index = case(*((Incident.kind == k, i) for i, k in enumerate(KINDS)), else_=-1)
    x, y = func.ST_X(Incident.geom), func.ST_Y(Incident.geom)
    if found <= limit:
        rows = session.execute(
            select(Incident.id, x, y, kind_index, state_expr(now)).where(*where).order_by(Incident.id)
        ).all()
        columns: Iterable[Any] = (np.array(c) for c in zip(*rows)) if rows else ([],) * 5
        ids, lon, lat, kinds, states = columns
        lon, lat = _xy_out(crs, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        answer["numberMatched"] = len(rows)
        answer["mode"] = "points"
        answer["fields"] = ["id", "lon", "lat", "kind", "state"]
        answer["points"] = [
            [int(i), float(a), float(b), int(k), int(s)] for i, a, b, k, s in zip(ids, lon, lat, kinds, states)
        ]
        return answer
    size = _cell_size(query, cell)
    # Each row's coordinates and state once (SQLite would compute them again for every use).
    rows_q = (
        select(kind_index.label("k"), x.label("x"), y.label("y"), state_expr(now).label("s")).where(*where).subquery()
    )
    stmt = select(
        rows_q.c.k,
        func.count(),
        func.avg(rows_q.c.x),
        func.avg(rows_q.c.y),
        func.sum(case((rows_q.c.s == 1, 1), else_=0)),
        func.sum(case((rows_q.c.s == 2, 1), else_=0)),
    ).group_by(rows_q.c.k, func.floor(rows_q.c.x / size), func.floor(rows_q.c.y / size))
    rows = session.execute(stmt).all()
    lon, lat = _xy_out(crs, np.array([r[2] for r in rows], dtype=float), np.array([r[3] for r in rows], dtype=float))
    answer["numberMatched"] = sum(int(r[1]) for r in rows)
    answer["mode"] = "cells"
    answer["cell"] = size
    answer["fields"] = ["lon", "lat", "kind", "count", "overdue", "closed"]
    answer["cells"] = sorted(
        [float(a), float(b), int(r[0]), int(r[1]), int(r[4] or 0), int(r[5] or 0)] for r, a, b in zip(rows, lon, lat)
    )
    return answer
