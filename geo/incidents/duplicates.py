"""Possible duplicates of a new report: open incidents of the same kind and category nearby,
or on the same building."""

from __future__ import annotations

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from geo.incidents.definitions import workflow
from geo.models import Incident
from geo.query.nearest import candidates, nearest
from geo.settings import get_settings
from geo.spatial.geometry import from_db
from geo.spatial.search import START_RADIUS_M, closest

MAX_POSSIBLE_DUPLICATES = 20


def find_possible_duplicates(session: Session, incident: Incident) -> list[int]:
    """Open incidents of the same kind and category within the radius, or on the same building."""
    point = from_db(incident.geom)
    assert point is not None  # an incident always has its point (geom is NOT NULL)
    return open_incidents_near(
        session, incident.kind, incident.category, point.x, point.y, incident.building_id, incident.id
    )


def open_incidents_near(
    session: Session,
    kind: str,
    category: str | None,
    lon: float,
    lat: float,
    building_id: int | None,
    exclude_id: int | None = None,
) -> list[int]:
    """Ids of the open incidents of ``kind`` (and ``category``; None: any) within the duplicate
    radius of lon/lat, or on building ``building_id``: a new report's possible duplicates, and
    what a report form offers to add to before it is sent."""
    flow = workflow(kind)
    open_same = [
        Incident.kind == kind,
        Incident.status.not_in(flow.closed),
        Incident.deleted_at.is_(None),
    ]
    if category is not None:
        open_same.append(Incident.category == category)
    if exclude_id is not None:
        open_same.append(Incident.id != exclude_id)
    max_m = get_settings().duplicate_radius_m
    radius = min(START_RADIUS_M, max_m)  # the first box nearest() would search
    # One statement asks both questions: the candidates in that box (part 0) and the building's
    # most recent open ones (part 1; a building with a long-standing problem may have many).
    stmt = candidates(session, Incident, lon, lat, radius, open_same).add_columns(literal(0).label("part"))
    if building_id is not None:
        column = Incident.__table__.c.geom
        same_building = (
            select(Incident.id, func.ST_X(column), func.ST_Y(column), literal(1).label("part"))
            .where(Incident.building_id == building_id, *open_same)
            .order_by(Incident.id.desc())
            .limit(MAX_POSSIBLE_DUPLICATES)
            .subquery()
        )
        stmt = union_all(stmt, select(*same_building.c))
    rows = session.execute(stmt).all()
    near, enough = closest(lon, lat, [r for r in rows if r[3] == 0], MAX_POSSIBLE_DUPLICATES, radius)
    if not enough and radius < max_m:  # a radius wider than nearest()'s first box: widen as it does
        near = nearest(
            session, Incident, lon, lat, k=MAX_POSSIBLE_DUPLICATES, max_m=max_m, where=open_same, start_m=radius * 4.0
        )
    found = {incident_id for incident_id, _ in near} | {r[0] for r in rows if r[3] == 1}
    return sorted(found)
