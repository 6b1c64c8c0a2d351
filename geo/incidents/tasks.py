"""A worker's tasks: the open incidents that are theirs (and those awaiting their on-site check,
核实 or 核查), supervised (督办) first, then overdue, then by deadline, with how far each is from
where they stand and the workflow actions they may take on it now; and
what a report form shows before it is sent (the grid, the nearest building, and open incidents
of the same kind nearby that the reporter may add to instead)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import shapely
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from geo.access.policy import Actor, may_take, task_scope
from geo.errors import PermissionDenied
from geo.grids.index import locate_grid_ids
from geo.incidents.definitions import CHECKS, Action, Workflow, is_overdue, workflow, workflows
from geo.incidents.duplicates import open_incidents_near
from geo.incidents.geotag import nearest_building_id
from geo.incidents.workflow import check_may_check, reporter_of
from geo.models import Building, Grid, Incident, IncidentHistory
from geo.spatial.geometry import from_db, geodesic_distance_m


@dataclass(frozen=True)
class Task:
    incident: Incident
    distance_m: float | None  # None: no position given
    actions: list[dict]  # the actions the caller may take now: action, to, needs
    # The on-site check the caller is named for: {"check": "verify"|"inspect", "label": "核实"|"核查",
    # "photo": the photo stage it needs, "actions": the check's actions}; None if not theirs.
    check: dict | None = None
    # The latest supervision order (督办) on it: {"count", "order", "at", "by"}; None if none.
    supervision: dict | None = None


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    total: int


def _open_condition():
    """Open, in each kind's own workflow."""
    return or_(
        *(and_(Incident.kind == kind, Incident.status.not_in(flow.closed)) for kind, flow in workflows().items())
    )


def _distances(rows: list, point: tuple[float, float] | None) -> list[float | None]:
    """Metres on the ellipsoid from ``point`` to each row's point (None: no point given)."""
    if point is None or not rows:
        return [None] * len(rows)
    xy = shapely.get_coordinates([from_db(row.geom) for row in rows])  # every row has its point
    metres = geodesic_distance_m(point[0], point[1], xy[:, 0], xy[:, 1])
    return [round(float(m), 1) for m in metres]


def allowed_actions(session: Session, actor: Actor, incident: Incident, now: datetime | None = None) -> list[dict]:
    """The actions the caller may take now, as the engine would judge them: a suspended incident
    only resumes, an incident is supervised only when overdue, a check is not for whoever
    reported or handled what it checks (the named checker does it in any grid), and a report
    awaiting its 核实 is not registered before it."""
    flow = workflow(incident.kind)
    checker = actor.responder_id is not None and actor.responder_id == incident.checker_id
    suspended = incident.suspended_at is not None
    return [
        {"action": a.name, "to": a.target, "needs": sorted(a.needs), "evidence": list(a.evidence)}
        for a in flow.actions_from(incident.status)
        if may_take(actor, a.name, a.roles, incident.kind, incident.grid_id, designated=checker and a.check is not None)
        and (a.step == "resume") == suspended
        and (a.step != "supervise" or now is None or is_overdue(incident, now))
        and _engine_allows(session, actor, incident, flow, a)
    ]


def _engine_allows(session: Session, actor: Actor, incident: Incident, flow: Workflow, action: Action) -> bool:
    try:
        if action.check:
            check_may_check(session, actor, incident, action)
        if action.step == "register" and not action.check and flow.check_from(incident.status) == "verify":
            return reporter_of(session, incident).on_site
    except PermissionDenied:
        return False
    return True


def check_task(actor: Actor, incident: Incident) -> dict | None:
    """The on-site check the caller is named for on ``incident``, with the photo it needs."""
    if actor.responder_id is None or incident.checker_id != actor.responder_id:
        return None
    flow = workflow(incident.kind)
    check = flow.check_from(incident.status)
    if check is None:
        return None
    actions = [a for a in flow.actions_from(incident.status) if a.check == check]
    photo = next((stage for a in actions for stage in a.evidence), None)
    return {"check": check, "label": CHECKS[check], "photo": photo, "actions": [a.name for a in actions]}


def supervisions(session: Session, incident_ids: list[int]) -> dict[int, dict]:
    """The latest supervision order (督办) of each incident that has one."""
    if not incident_ids:
        return {}
    rows = session.scalars(
        select(IncidentHistory)
        .where(IncidentHistory.incident_id.in_(incident_ids), IncidentHistory.step == "supervise")
        .order_by(IncidentHistory.id)
    )
    out: dict[int, dict] = {}
    for row in rows:
        count = out.get(row.incident_id, {}).get("count", 0) + 1
        out[row.incident_id] = {"count": count, "order": row.comment, "at": row.at.isoformat(), "by": row.actor}
    return out


def my_tasks(
    session: Session, actor: Actor, now: datetime, point: tuple[float, float] | None, limit: int, offset: int
) -> TaskPage:
    """The caller's open incidents, supervised (督办) ones first, then overdue, then by deadline
    (none last), then oldest. Incidents awaiting an on-site check the caller is named for are
    theirs too, in any grid."""
    scope = task_scope(actor)
    where: list[ColumnElement[bool]] = [Incident.deleted_at.is_(None), _open_condition()]
    if not scope.everywhere:
        mine: list[ColumnElement[bool]] = [Incident.grid_id.in_(sorted(scope.grid_ids))]
        if scope.responder_id is not None:
            mine.append(Incident.assignee_id == scope.responder_id)
            mine.append(Incident.checker_id == scope.responder_id)
        where.append(or_(*mine))
    running = and_(Incident.due_at.is_not(None), Incident.due_at < now, Incident.suspended_at.is_(None))
    supervised_first = case((and_(Incident.supervision_count > 0, running), 0), else_=1)
    overdue_first = case((running, 0), else_=1)
    no_deadline_last = case((Incident.due_at.is_(None), 1), else_=0)
    total = session.scalar(select(func.count()).select_from(Incident).where(*where)) or 0
    rows = list(
        session.scalars(
            select(Incident)
            .where(*where)
            .order_by(supervised_first, overdue_first, no_deadline_last, Incident.due_at, Incident.id)
            .limit(limit)
            .offset(offset)
        )
    )
    distances = _distances(rows, point)
    orders = supervisions(session, [i.id for i in rows])
    return TaskPage(
        [
            Task(i, d, allowed_actions(session, actor, i, now), check_task(actor, i), orders.get(i.id))
            for i, d in zip(rows, distances)
        ],
        total,
    )


def task_of(
    session: Session, actor: Actor, incident: Incident, point: tuple[float, float] | None, now: datetime | None = None
) -> Task:
    """One incident as a task page shows it: the distance and the actions the caller may take
    now (none for one they may only read)."""
    return Task(
        incident,
        _distances([incident], point)[0],
        allowed_actions(session, actor, incident, now),
        check_task(actor, incident),
        supervisions(session, [incident.id]).get(incident.id),
    )


def report_preview(session: Session, lon: float, lat: float, kind: str, category: str | None) -> dict:
    """What a report at lon/lat would be tagged with, and the open incidents of the same kind
    (and category, if given) within the duplicate radius, nearest first."""
    workflow(kind)  # an unknown kind is refused with the kinds there are
    grid_id = locate_grid_ids(session, [lon], [lat])[0]
    building_id = nearest_building_id(session, lon, lat)
    grid = session.get(Grid, grid_id) if grid_id is not None else None
    building = session.get(Building, building_id) if building_id is not None else None
    near = open_incidents_near(session, kind, category, lon, lat, building_id)
    incidents = list(session.scalars(select(Incident).where(Incident.id.in_(near)))) if near else []
    distances = _distances(incidents, (lon, lat))
    found = sorted(zip(incidents, distances), key=lambda pair: (pair[1], pair[0].id))
    return {
        "grid": {"code": grid.code, "name": grid.name} if grid is not None else None,
        "building": {
            "code": building.code,
            "name": building.name,
            "distance_m": _distances([building], (lon, lat))[0],
        }
        if building is not None
        else None,
        "open_incidents": [
            {
                "id": i.id,
                "kind": i.kind,
                "category": i.category,
                "title": i.title,
                "status": i.status,
                "status_label": workflow(i.kind).labels.get(i.status, i.status),
                "distance_m": d,
            }
            for i, d in found
        ],
    }
