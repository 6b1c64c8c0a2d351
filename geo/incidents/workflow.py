"""One state-machine engine for every incident kind; the kinds themselves are data
(``geo/incidents/workflows.toml``).

Every change goes through :func:`apply_action` (or :func:`comment`), which checks the transition
and the actor's right to make it, moves the incident, resets its deadline, and appends one row to
the append-only history. Time comes from the caller, so tests can run a simulated clock.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from geo.errors import Conflict, InputError, NotFound, PermissionDenied
from geo.spatial.geometry import from_db
from geo.incidents.geotag import geotag_incident
from geo.models import Grid, Incident, IncidentHistory, Responder, responder_grids
from geo.spatial.search import START_RADIUS_M, candidates, closest, nearest
from geo.settings import get_settings

DEFINITIONS = Path(__file__).with_name("workflows.toml")
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Action:
    name: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    needs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Workflow:
    kind: str
    label: str
    initial: str
    statuses: tuple[str, ...]
    closed: frozenset[str]
    labels: dict[str, str]
    actions: dict[str, Action]
    deadlines: dict[str, dict[str, int]]  # status -> category (or "*") -> minutes

    def is_open(self, status: str) -> bool:
        return status not in self.closed

    def allowance(self, status: str, category: str) -> timedelta | None:
        """How long an incident may stay in ``status`` before its next step is due."""
        if status in self.closed or status not in self.deadlines:
            return None
        by_category = self.deadlines[status]
        minutes = by_category.get(category, by_category.get("*"))
        return None if minutes is None else timedelta(minutes=minutes)

    def actions_from(self, status: str) -> list[Action]:
        return [a for a in self.actions.values() if status in a.sources]


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@lru_cache
def _load(override_path: str | None) -> dict[str, Workflow]:
    data = tomllib.loads(DEFINITIONS.read_text(encoding="utf-8"))
    if override_path:
        data = _merge(data, tomllib.loads(Path(override_path).read_text(encoding="utf-8")))
    workflows = {}
    for kind, spec in data.items():
        actions = {
            name: Action(name, tuple(a["from"]), a["to"], frozenset(a["roles"]), frozenset(a.get("needs", ())))
            for name, a in spec["actions"].items()
        }
        workflows[kind] = Workflow(
            kind=kind,
            label=spec["label"],
            initial=spec["initial"],
            statuses=tuple(spec["statuses"]),
            closed=frozenset(spec["closed"]),
            labels=dict(spec.get("labels", {})),
            actions=actions,
            deadlines={status: dict(v) for status, v in spec.get("deadlines", {}).items()},
        )
    return workflows


def workflows() -> dict[str, Workflow]:
    return _load(get_settings().workflows_file)


def workflow(kind: str) -> Workflow:
    try:
        return workflows()[kind]
    except KeyError:
        raise InputError(f"Unknown kind {kind!r}: use one of {', '.join(workflows())}") from None


# --------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user with a role, or the public."""

    name: str
    role: str  # admin, community, grid_leader, grid_worker, planner, viewer, public
    grid_ids: frozenset[int] | None = None  # grids a grid leader or worker may change; None: all
    responder_id: int | None = None
    grid_codes: frozenset[str] | None = None  # the codes of grid_ids (answers name grids by code)

    @property
    def sees_personal_data(self) -> bool:
        return self.role in ("admin", "community", "grid_leader", "grid_worker")

    def may_change_grid(self, grid_id: int | None) -> bool:
        if self.role in ("admin", "community", "planner"):
            return True
        if self.role in ("grid_leader", "grid_worker"):
            return grid_id is not None and self.grid_ids is not None and grid_id in self.grid_ids
        return False


PUBLIC = Actor("public", "public")
SYSTEM = Actor("system", "admin")


def _check_may(actor: Actor, incident: Incident, action: Action) -> None:
    if actor.role != "admin" and actor.role not in action.roles:
        who = ", ".join(sorted(action.roles | {"admin"}))
        raise PermissionDenied(f"A {actor.role} may not {action.name} a {incident.kind}; that is for {who}")
    if not actor.may_change_grid(incident.grid_id):
        raise PermissionDenied(f"{actor.name} may only change incidents in their own grids")


# --------------------------------------------------------------------------- the engine


def check_may_act(actor: Actor, incident: Incident, name: str) -> None:
    """Whether ``actor`` may take action ``name`` on ``incident`` at all (whatever its status)."""
    flow = workflow(incident.kind)
    action = flow.actions.get(name)
    if action is None:
        raise InputError(f"Unknown action {name!r} for a {incident.kind}: use one of {', '.join(flow.actions)}")
    _check_may(actor, incident, action)


def check_may_assign(actor: Actor, incident: Incident) -> None:
    if actor.role not in ("admin", "community", "grid_leader") or not actor.may_change_grid(incident.grid_id):
        raise PermissionDenied(f"A {actor.role} may not reassign this incident; that is for the grid leader or the community")


def start(session: Session, incident: Incident, actor: Actor, now: datetime) -> None:
    """A new incident: initial status, its deadline, the default assignee, possible duplicates."""
    flow = workflow(incident.kind)
    incident.status = flow.initial
    incident.created_at = incident.created_at or now
    incident.updated_at = now
    _enter(incident, flow, flow.initial, now)
    # Everything is decided before the row is written: one INSERT, no UPDATEs after it.
    with session.no_autoflush:
        geotag_incident(session, incident)  # its grid decides the assignee
        if incident.assignee_id is None:
            incident.assignee_id = default_assignee(session, incident.grid_id)
        incident.possible_duplicates = find_possible_duplicates(session, incident)
    session.add(
        IncidentHistory(
            incident=incident, at=now, actor=actor.name, action="report", to_status=incident.status,
            changes={"assignee_id": incident.assignee_id, "possible_duplicates": incident.possible_duplicates},
        )
    )
    session.flush()


def _enter(incident: Incident, flow: Workflow, status: str, now: datetime) -> None:
    incident.status = status
    incident.status_since = now
    allowance = flow.allowance(status, incident.category)
    incident.due_at = now + allowance if allowance is not None else None
    incident.escalation = 0
    if status in flow.closed and incident.closed_at is None:
        incident.closed_at = now  # when it first ended: a later evaluation does not move it


@dataclass
class ActionInput:
    comment: str | None = None
    assignee_id: int | None = None
    target_id: int | None = None
    rating: int | None = None
    people_served: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def apply_action(session: Session, incident: Incident, name: str, actor: Actor, now: datetime, data: ActionInput | None = None) -> IncidentHistory:
    """Move ``incident`` by action ``name``; raise without changing anything if it may not."""
    data = data or ActionInput()
    check_may_act(actor, incident, name)
    flow = workflow(incident.kind)
    action = flow.actions[name]
    if incident.status not in action.sources:
        possible = ", ".join(a.name for a in flow.actions_from(incident.status)) or "none (it is closed)"
        raise Conflict(
            f"Cannot {name} a {incident.kind} that is {incident.status}; "
            f"{name} needs {' or '.join(action.sources)}. Possible now: {possible}"
        )
    _check_comment(data.comment)
    for need in action.needs:
        if need == "comment" and not data.comment:
            raise InputError(f"{name} needs a comment saying why")
        if need == "assignee" and data.assignee_id is None:
            raise InputError(f"{name} needs an assignee_id (see /incidents/{incident.id}/responders for suggestions)")
        if need == "target" and data.target_id is None:
            raise InputError(f"{name} needs a target_id: the incident this one duplicates")
        if need == "rating" and (data.rating is None or not 1 <= data.rating <= 5):
            raise InputError(f"{name} needs a rating from 1 to 5")
    changes: dict[str, Any] = {}
    if data.assignee_id is not None:
        _check_responder(session, data.assignee_id)
        changes["assignee_id"] = [incident.assignee_id, data.assignee_id]
        incident.assignee_id = data.assignee_id
    if "target" in action.needs:
        target = _merge_target(session, incident, data.target_id)
        incident.duplicate_of_id = target.id
        changes["duplicate_of"] = target.id
        session.add(IncidentHistory(incident_id=target.id, at=now, actor=actor.name, action="absorb", from_status=target.status, to_status=target.status, changes={"merged": incident.id}, comment=data.comment))
    if data.rating is not None:
        incident.rating = data.rating
        changes["rating"] = data.rating
    if data.people_served is not None:
        if data.people_served < 0:
            raise InputError("people_served cannot be negative")
        incident.people_served = data.people_served
        changes["people_served"] = data.people_served
    before = incident.status
    _enter(incident, flow, action.target, now)
    incident.updated_at = now
    entry = IncidentHistory(incident_id=incident.id, at=now, actor=actor.name, action=name, from_status=before, to_status=action.target, changes=changes, comment=data.comment)
    session.add(entry)
    session.flush()
    return entry


def assign(session: Session, incident: Incident, responder_id: int, actor: Actor, now: datetime, comment: str | None = None) -> IncidentHistory:
    """Reassign an open incident; the old and new assignee are recorded."""
    check_may_assign(actor, incident)
    if not workflow(incident.kind).is_open(incident.status):
        raise Conflict(f"The incident is {incident.status}: closed incidents are not reassigned")
    _check_comment(comment)
    _check_responder(session, responder_id)
    entry = IncidentHistory(incident_id=incident.id, at=now, actor=actor.name, action="assign", from_status=incident.status, to_status=incident.status, changes={"assignee_id": [incident.assignee_id, responder_id]}, comment=comment)
    incident.assignee_id = responder_id
    incident.updated_at = now
    session.add(entry)
    session.flush()
    return entry


def comment(session: Session, incident: Incident, actor: Actor, now: datetime, text: str, stance: str | None = None) -> IncidentHistory:
    """A remark on the timeline. On a renovation point in consultation, residents (anyone,
    the public included) also say whether they support it; the counts are kept on the point."""
    if actor.role in ("grid_leader", "grid_worker") and not actor.may_change_grid(incident.grid_id):
        raise PermissionDenied(f"{actor.name} may comment only on incidents in their own grids; this one is in another grid")
    _check_comment(text)
    if not text:
        raise InputError("A comment needs text")
    counts = dict((incident.properties or {}).get("consultation", {}))
    if stance is not None:
        if incident.kind != "renovation" or incident.status != "in_consultation":
            raise Conflict("Support and opposition are counted only for renovation points in consultation")
        if stance not in ("support", "oppose"):
            raise InputError("stance must be support or oppose")
        counts[stance] = counts.get(stance, 0) + 1
    elif actor.role in ("public", "viewer") and not (incident.kind == "renovation" and incident.status == "in_consultation"):
        raise PermissionDenied("The public may comment only on renovation points in consultation")
    if incident.kind == "renovation" and incident.status == "in_consultation":
        counts["comments"] = counts.get("comments", 0) + 1
        incident.properties = {**(incident.properties or {}), "consultation": counts}
    incident.updated_at = now
    entry = IncidentHistory(incident_id=incident.id, at=now, actor=actor.name, action="comment", from_status=incident.status, to_status=incident.status, changes={"stance": stance} if stance else {}, comment=text)
    session.add(entry)
    session.flush()
    return entry


def _check_comment(text: str | None) -> None:
    if text is not None and len(text) > MAX_COMMENT_CHARS:
        raise InputError(f"The comment is {len(text)} characters; at most {MAX_COMMENT_CHARS}")


def _check_responder(session: Session, responder_id: int) -> Responder:
    responder = session.get(Responder, responder_id)
    if responder is None:
        raise InputError(f"Unknown responder {responder_id}")
    return responder


def _merge_target(session: Session, incident: Incident, target_id: int) -> Incident:
    target = session.get(Incident, target_id)
    if target is None or target.deleted_at is not None:
        raise InputError(f"Unknown incident {target_id}")
    if target.id == incident.id:
        raise InputError("An incident cannot duplicate itself")
    if target.kind != incident.kind:
        raise InputError(f"Incident {target.id} is a {target.kind}, not a {incident.kind}")
    if not workflow(target.kind).is_open(target.status):
        raise Conflict(f"Incident {target.id} is {target.status}: merge into an open incident")
    return target


def default_assignee(session: Session, grid_id: int | None) -> int | None:
    """The full-time grid worker (专职网格员) of the grid: on duty first, then the longest-serving."""
    if grid_id is None:
        return None
    stmt = (
        select(Responder.id)
        .join(responder_grids, responder_grids.c.responder_id == Responder.id)
        .where(responder_grids.c.grid_id == grid_id, Responder.role == "grid_worker")
        .order_by(Responder.on_duty.desc(), Responder.id)
        .limit(1)
    )
    return session.scalar(stmt)


MAX_POSSIBLE_DUPLICATES = 20


def find_possible_duplicates(session: Session, incident: Incident) -> list[int]:
    """Open incidents of the same kind and category within the radius, or on the same building."""
    flow = workflow(incident.kind)
    open_same = [
        Incident.kind == incident.kind,
        Incident.category == incident.category,
        Incident.status.not_in(flow.closed),
        Incident.deleted_at.is_(None),
        Incident.id != incident.id,
    ]
    point = from_db(incident.geom)
    max_m = get_settings().duplicate_radius_m
    radius = min(START_RADIUS_M, max_m)  # the first box nearest() would search
    # One statement asks both questions: the candidates in that box (part 0) and the building's
    # most recent open ones (part 1; a building with a long-standing problem may have many).
    stmt = candidates(session, Incident, point.x, point.y, radius, open_same).add_columns(literal(0).label("part"))
    if incident.building_id is not None:
        column = Incident.__table__.c.geom
        same_building = (
            select(Incident.id, func.ST_X(column), func.ST_Y(column), literal(1).label("part"))
            .where(Incident.building_id == incident.building_id, *open_same)
            .order_by(Incident.id.desc())
            .limit(MAX_POSSIBLE_DUPLICATES)
            .subquery()
        )
        stmt = union_all(stmt, select(*same_building.c))
    rows = session.execute(stmt).all()
    near, enough = closest(point.x, point.y, [r for r in rows if r[3] == 0], MAX_POSSIBLE_DUPLICATES, radius)
    if not enough and radius < max_m:  # a radius wider than nearest()'s first box: widen as it does
        near = nearest(session, Incident, point.x, point.y, k=MAX_POSSIBLE_DUPLICATES, max_m=max_m, where=open_same, start_m=radius * 4.0)
    found = {incident_id for incident_id, _ in near} | {r[0] for r in rows if r[3] == 1}
    return sorted(found)


# --------------------------------------------------------------------------- deadlines


def escalate_overdue(session: Session, now: datetime) -> list[IncidentHistory]:
    """Flag overdue open incidents and escalate them: first to the grid leader, then, when a
    second allowance has passed, to the community. Safe to run as often as wanted."""
    entries = []
    overdue = session.scalars(select(Incident).where(Incident.due_at.is_not(None), Incident.due_at < now, Incident.deleted_at.is_(None)))
    for incident in overdue:
        flow = workflow(incident.kind)
        allowance = flow.allowance(incident.status, incident.category)
        if allowance is None or not flow.is_open(incident.status):
            continue
        level = 2 if now >= incident.due_at + allowance else 1
        if level <= incident.escalation:
            continue
        to = _escalation_target(session, incident, level)
        incident.escalation = level
        entry = IncidentHistory(
            incident_id=incident.id, at=now, actor="system", action="escalate", from_status=incident.status, to_status=incident.status,
            changes={"level": level, "to": to, "due_at": incident.due_at.isoformat()},
            comment=f"overdue since {incident.due_at.isoformat()}; escalated to the {'grid leader' if level == 1 else 'community'}",
        )
        session.add(entry)
        entries.append(entry)
    session.flush()
    return entries


def _escalation_target(session: Session, incident: Incident, level: int) -> dict[str, Any]:
    grid = session.get(Grid, incident.grid_id) if incident.grid_id else None
    if level == 1:
        leader = grid.leader if grid else None
        return {"role": "grid_leader", "responder_id": leader.id if leader else None, "name": leader.name if leader else None}
    community = grid.community if grid else None
    return {"role": "community", "code": community.code if community else None, "name": community.name if community else None}


def is_overdue(incident: Incident, now: datetime) -> bool:
    return incident.due_at is not None and incident.due_at < now and workflow(incident.kind).is_open(incident.status)


def timeline(session: Session, incident_id: int) -> list[IncidentHistory]:
    rows = session.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == incident_id).order_by(IncidentHistory.id)).all()
    if not rows and session.get(Incident, incident_id) is None:
        raise NotFound(f"No incident with id {incident_id}")
    return list(rows)
