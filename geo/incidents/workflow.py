"""One state-machine engine for every incident kind; the kinds themselves are data
(geo/incidents/definitions.py reads ``workflows.toml``).

Every change goes through :func:`apply_action` (or :func:`comment`), which checks the transition
and the actor's right to make it, moves the incident, resets its deadline, and appends one row to
the append-only history. Time comes from the caller, so tests can run a simulated clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.policy import (
    Actor,
    check_may_assign,
    check_may_comment,
    check_may_comment_outside_consultation,
    check_may_take,
)
from geo.errors import Conflict, InputError, NotFound
from geo.incidents.definitions import Workflow, workflow
from geo.incidents.duplicates import find_possible_duplicates
from geo.incidents.geotag import geotag_incident
from geo.media.photos import has_photo_since
from geo.models import Incident, IncidentHistory, Responder, responder_grids

MAX_COMMENT_CHARS = 2000


def check_may_act(actor: Actor, incident: Incident, name: str) -> None:
    """Whether ``actor`` may take action ``name`` on ``incident`` at all (whatever its status)."""
    flow = workflow(incident.kind)
    action = flow.actions.get(name)
    if action is None:
        raise InputError(f"Unknown action {name!r} for a {incident.kind}: use one of {', '.join(flow.actions)}")
    check_may_take(actor, name, action.roles, incident.kind, incident.grid_id)


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
            incident=incident,
            at=now,
            actor=actor.name,
            action="report",
            to_status=incident.status,
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


def apply_action(
    session: Session, incident: Incident, name: str, actor: Actor, now: datetime, data: ActionInput | None = None
) -> IncidentHistory:
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
    for stage in action.evidence:
        if not has_photo_since(session, incident.id, stage, incident.status_since):
            raise InputError(
                f"{name} needs {'an' if stage[0] in 'aeiou' else 'a'} '{stage}' photo taken since the incident "
                f"became {incident.status}: "
                "take one, then try again"
            )
    changes: dict[str, Any] = {}
    if data.assignee_id is not None:
        _check_responder(session, data.assignee_id)
        changes["assignee_id"] = [incident.assignee_id, data.assignee_id]
        incident.assignee_id = data.assignee_id
    if "target" in action.needs:
        assert data.target_id is not None  # a target_id was required above
        target = _merge_target(session, incident, data.target_id)
        incident.duplicate_of_id = target.id
        changes["duplicate_of"] = target.id
        session.add(
            IncidentHistory(
                incident_id=target.id,
                at=now,
                actor=actor.name,
                action="absorb",
                from_status=target.status,
                to_status=target.status,
                changes={"merged": incident.id},
                comment=data.comment,
            )
        )
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
    entry = IncidentHistory(
        incident_id=incident.id,
        at=now,
        actor=actor.name,
        action=name,
        from_status=before,
        to_status=action.target,
        changes=changes,
        comment=data.comment,
    )
    session.add(entry)
    session.flush()
    return entry


def assign(
    session: Session, incident: Incident, responder_id: int, actor: Actor, now: datetime, comment: str | None = None
) -> IncidentHistory:
    """Reassign an open incident; the old and new assignee are recorded."""
    check_may_assign(actor, incident.grid_id)
    if not workflow(incident.kind).is_open(incident.status):
        raise Conflict(f"The incident is {incident.status}: closed incidents are not reassigned")
    _check_comment(comment)
    _check_responder(session, responder_id)
    entry = IncidentHistory(
        incident_id=incident.id,
        at=now,
        actor=actor.name,
        action="assign",
        from_status=incident.status,
        to_status=incident.status,
        changes={"assignee_id": [incident.assignee_id, responder_id]},
        comment=comment,
    )
    incident.assignee_id = responder_id
    incident.updated_at = now
    session.add(entry)
    session.flush()
    return entry


def comment(
    session: Session, incident: Incident, actor: Actor, now: datetime, text: str, stance: str | None = None
) -> IncidentHistory:
    """A remark on the timeline. On a renovation point in consultation, residents (anyone,
    the public included) also say whether they support it; the counts are kept on the point."""
    check_may_comment(actor, incident.grid_id)
    in_consultation = incident.kind == "renovation" and incident.status == "in_consultation"
    _check_comment(text)
    if not text:
        raise InputError("A comment needs text")
    counts = dict((incident.properties or {}).get("consultation", {}))
    if stance is not None:
        if not in_consultation:
            raise Conflict("Support and opposition are counted only for renovation points in consultation")
        if stance not in ("support", "oppose"):
            raise InputError("stance must be support or oppose")
        counts[stance] = counts.get(stance, 0) + 1
    elif not in_consultation:
        check_may_comment_outside_consultation(actor)
    if in_consultation:
        counts["comments"] = counts.get("comments", 0) + 1
        incident.properties = {**(incident.properties or {}), "consultation": counts}
    incident.updated_at = now
    entry = IncidentHistory(
        incident_id=incident.id,
        at=now,
        actor=actor.name,
        action="comment",
        from_status=incident.status,
        to_status=incident.status,
        changes={"stance": stance} if stance else {},
        comment=text,
    )
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


def timeline(session: Session, incident_id: int) -> list[IncidentHistory]:
    rows = session.scalars(
        select(IncidentHistory).where(IncidentHistory.incident_id == incident_id).order_by(IncidentHistory.id)
    ).all()
    if not rows and session.get(Incident, incident_id) is None:
        raise NotFound(f"No incident with id {incident_id}")
    return list(rows)
