"""One state-machine engine for every incident kind; the kinds themselves are data
(geo/incidents/definitions.py reads ``workflows.toml``).

Every change goes through :func:`apply_action` (or :func:`comment`), which checks the transition
and the actor's right to make it, moves the incident, resets its deadline, and appends one row to
the append-only history. Time comes from the caller, so tests can run a simulated clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from geo.errors import Conflict, InputError, NotFound, PermissionDenied
from geo.incidents import history
from geo.incidents.definitions import CHECKS, Action, Workflow, is_overdue, workflow
from geo.incidents.duplicates import find_possible_duplicates
from geo.incidents.geotag import geotag_incident
from geo.media.photos import has_photo_since
from geo.models import Grid, Incident, IncidentHistory, Responder, responder_grids
from geo.responders.nearest import nearest_responders, responder_index
from geo.spatial.geometry import from_db
from geo.worktime.calendar import deadline
from geo.worktime.units import TimeUnit

MAX_COMMENT_CHARS = 2000


def check_may_act(actor: Actor, incident: Incident, name: str) -> None:
    """Whether ``actor`` may take action ``name`` on ``incident`` at all (whatever its status)."""
    flow = workflow(incident.kind)
    action = flow.actions.get(name)
    if action is None:
        raise InputError(f"Unknown action {name!r} for a {incident.kind}: use one of {', '.join(flow.actions)}")
    designated = action.check is not None and is_checker(actor, incident)
    check_may_take(actor, name, action.roles, incident.kind, incident.grid_id, designated=designated)


def is_checker(actor: Actor, incident: Incident) -> bool:
    """Whether ``actor`` is the responder suggested (or assigned) for the incident's pending check."""
    return actor.responder_id is not None and actor.responder_id == incident.checker_id


def start(session: Session, incident: Incident, actor: Actor, now: datetime) -> None:
    """A new incident: initial status, its deadline, the default assignee, possible duplicates."""
    flow = workflow(incident.kind)
    incident.status = flow.initial
    incident.created_at = incident.created_at or now
    incident.updated_at = now
    incident.rework_count = incident.rework_count or 0
    incident.supervision_count = incident.supervision_count or 0
    # Everything is decided before the row is written: one INSERT, no UPDATEs after it.
    with session.no_autoflush:
        geotag_incident(session, incident)  # its grid decides the assignee
        if incident.assignee_id is None:
            incident.assignee_id = default_assignee(session, incident.grid_id)
        incident.possible_duplicates = find_possible_duplicates(session, incident)
        reporter = Reporter(actor.name, actor.responder_id)
        _enter(session, incident, flow, flow.initial, now, reporter=reporter)
    history.record(
        session,
        incident,
        actor,
        "report",
        now,
        step="report",
        changes={"assignee_id": incident.assignee_id, "possible_duplicates": incident.possible_duplicates},
    )
    session.flush()


@dataclass(frozen=True)
class Reporter:
    """Who reported an incident: their user name, and their responder when grid staff reported it
    on site (such a report needs no 核实 before it is registered)."""

    name: str
    responder_id: int | None

    @property
    def on_site(self) -> bool:
        return self.responder_id is not None


def reporter_of(session: Session, incident: Incident) -> Reporter:
    first = next(iter(history.rows(session, incident.id, ("report",))), None)
    if first is None:
        return Reporter("", None)
    return Reporter(first.actor, first.responder_id)


@dataclass(frozen=True)
class Handler:
    """Who handled the work last: the user who took the handle action and the responders it
    was theirs (the assignee at that moment and the acting user's own responder)."""

    name: str | None
    responder_ids: frozenset[int]


def handler_of(session: Session, incident: Incident) -> Handler:
    last = next(reversed(history.rows(session, incident.id, ("handle",))), None)
    if last is None:
        return Handler(None, frozenset())
    return Handler(last.actor, frozenset(r for r in (last.assignee_id, last.responder_id) if r is not None))


def _enter(
    session: Session,
    incident: Incident,
    flow: Workflow,
    status: str,
    now: datetime,
    reporter: Reporter | None = None,
) -> None:
    """The incident enters ``status``: its deadline (in working time for the handling status), and
    the checker suggested when the status awaits an on-site check."""
    incident.status = status
    incident.status_since = now
    if status == flow.handling:
        incident.handling_due_at = handling_deadline(session, incident, flow, now, since=now)
        incident.due_at = incident.handling_due_at
    else:
        allowance = flow.allowance(status, incident.category)
        incident.due_at = now + allowance if allowance is not None else None
    incident.escalation = 0
    if status in flow.closed and incident.closed_at is None:
        incident.closed_at = now  # when it first ended: a later evaluation does not move it
    incident.checker_id = _suggested_checker(session, incident, flow, reporter)


# --------------------------------------------------------------------------- deadlines


def time_limit(incident: Incident, flow: Workflow) -> tuple[float, TimeUnit] | None:
    """The handling time limit: the incident's own (from its catalogue entry), or else the
    handling status's minutes in workflows.toml, around the clock."""
    if incident.time_limit is not None and incident.time_unit:
        return incident.time_limit, TimeUnit.parse(incident.time_unit)
    if flow.handling is None:
        return None
    allowance = flow.allowance(flow.handling, incident.category)
    return None if allowance is None else (allowance / timedelta(hours=1), TimeUnit.emergency_hours)


def handling_deadline(
    session: Session, incident: Incident, flow: Workflow, now: datetime, since: datetime | None = None
) -> datetime | None:
    """The handling deadline of the handling that began ``since`` (by default when the incident
    entered its status): the time limit and every extension (延期) granted since, the clock
    stopped while suspended (挂账)."""
    limit = time_limit(incident, flow)
    start = since or incident.status_since
    if limit is None or start is None:
        return None
    suspensions = history.suspensions(session, incident, now)
    due = deadline(start, limit[0], limit[1], suspensions)
    for row in history.rows(session, incident.id, ("extend",)) if incident.id is not None else ():
        if row.at >= start:
            due = deadline(due, row.changes["amount"], row.changes["unit"], suspensions)
    return due.astimezone(UTC)


def recompute_deadline(session: Session, incident: Incident, now: datetime) -> None:
    """After a change of category (its time limit may have changed): the open deadline again,
    from when the incident entered its status."""
    flow = workflow(incident.kind)
    if not flow.awaits(incident.status) or incident.status_since is None:
        return
    if incident.status == flow.handling:
        incident.handling_due_at = handling_deadline(session, incident, flow, now)
        incident.due_at = incident.handling_due_at
    else:
        allowance = flow.allowance(incident.status, incident.category)
        incident.due_at = incident.status_since + allowance if allowance is not None else None


# --------------------------------------------------------------------------- checks by someone else


def check_may_check(session: Session, actor: Actor, incident: Incident, action: Action) -> None:
    """核实 is not done by whoever reported it, 核查 not by whoever handled the work."""
    if action.check == "verify":
        reporter = reporter_of(session, incident)
        if actor.name == reporter.name or (
            actor.responder_id is not None and actor.responder_id == reporter.responder_id
        ):
            raise PermissionDenied(
                "A reporter cannot verify their own report: the 核实 is done on site by another grid worker"
            )
    elif action.check == "inspect":
        handler = handler_of(session, incident)
        if actor.name == handler.name or (
            actor.responder_id is not None and actor.responder_id in handler.responder_ids
        ):
            raise PermissionDenied(
                "A handler cannot verify their own work: the 核查 is done on site by a grid worker who did not handle it"
            )


def _excluded(session: Session, incident: Incident, check: str, reporter: Reporter | None) -> set[int]:
    if check == "verify":
        r = reporter or reporter_of(session, incident)
        return {r.responder_id} if r.responder_id is not None else set()
    # The assignee too: the check is suggested as the work is handed in, before the handle row
    # that names its handler is written.
    excluded = set(handler_of(session, incident).responder_ids)
    if incident.assignee_id is not None:
        excluded.add(incident.assignee_id)
    return excluded


CHECKER_ROLES = ("grid_worker", "grid_leader")


def _suggested_checker(session: Session, incident: Incident, flow: Workflow, reporter: Reporter | None) -> int | None:
    """The nearest on-duty grid worker or leader serving the incident's grid who is not the one
    the check is about; None when the status awaits no check (or nobody fits)."""
    check = flow.check_from(incident.status)
    if check is None or incident.grid_id is None:
        return None
    if check == "verify" and reporter is not None and reporter.on_site and _registers_directly(flow, incident.status):
        return None  # grid staff's own on-site report: registered without a 核实
    excluded = _excluded(session, incident, check, reporter)
    grid = session.get(Grid, incident.grid_id)
    point = from_db(incident.geom)
    if grid is not None and point is not None:
        index = responder_index(session)
        for ranked in nearest_responders(session, point.x, point.y, k=20, on_duty=True, index=index):
            rid = int(index.ids[ranked.position])
            if (
                index.roles[ranked.position] in CHECKER_ROLES
                and rid not in excluded
                and grid.code in index.grid_codes[ranked.position]
            ):
                return rid
    stmt = (  # nobody on duty near: whoever serves the grid, on duty first
        select(Responder.id)
        .join(responder_grids, responder_grids.c.responder_id == Responder.id)
        .where(responder_grids.c.grid_id == incident.grid_id, Responder.role.in_(CHECKER_ROLES))
        .order_by(Responder.on_duty.desc(), Responder.id)
    )
    return next((rid for rid in session.scalars(stmt) if rid not in excluded), None)


def _registers_directly(flow: Workflow, status: str) -> bool:
    return any(a.step == "register" and not a.check for a in flow.actions_from(status))


@dataclass
class ActionInput:
    comment: str | None = None
    assignee_id: int | None = None
    target_id: int | None = None
    rating: int | None = None
    people_served: int | None = None
    amount: float | None = None  # extend: how much more time, in the unit of the incident's time limit
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
    _check_needs(incident, action, data)
    _check_rules(session, actor, incident, flow, action, now)
    changes = _take_input(session, incident, action, actor, now, data)
    before, due_before, since = incident.status, incident.due_at, incident.status_since
    row_due = incident.handling_due_at if action.step in history.HANDLING_STEPS else due_before
    if action.check:
        changes["check"] = CHECKS[action.check]
        changes["check_due_at"] = due_before.isoformat() if due_before else None
        changes["check_on_time"] = due_before is None or now <= due_before
    work_hours = history.handling_work_hours(session, incident, since, now) if action.step == "handle" else None
    if action.stays:
        _stay(session, incident, flow, action, now, data, changes)
    else:
        _enter(session, incident, flow, action.target, now)
    if action.step == "rework":
        incident.rework_count = (incident.rework_count or 0) + 1
        changes["rework_count"] = incident.rework_count
    incident.updated_at = now
    entry = history.record(
        session,
        incident,
        actor,
        name,
        now,
        step=action.step,
        from_status=before,
        changes=changes,
        comment=data.comment,
        due_at=row_due,
        work_hours=work_hours,
    )
    session.flush()
    return entry


def _check_needs(incident: Incident, action: Action, data: ActionInput) -> None:
    name = action.name
    for need in action.needs:
        if need == "comment" and not data.comment:
            raise InputError(f"{name} needs a comment saying why")
        if need == "assignee" and data.assignee_id is None:
            raise InputError(f"{name} needs an assignee_id (see /incidents/{incident.id}/responders for suggestions)")
        if need == "target" and data.target_id is None:
            raise InputError(f"{name} needs a target_id: the incident this one duplicates")
        if need == "rating" and (data.rating is None or not 1 <= data.rating <= 5):
            raise InputError(f"{name} needs a rating from 1 to 5")
        if need == "amount" and (data.amount is None or not 0 < data.amount <= 10_000):
            raise InputError(
                f"{name} needs an amount: the time granted, a positive number in the unit of the time limit"
            )
    if data.people_served is not None and data.people_served < 0:
        raise InputError("people_served cannot be negative")


def _check_rules(
    session: Session, actor: Actor, incident: Incident, flow: Workflow, action: Action, now: datetime
) -> None:
    """The rules beyond the transition: suspension, checks by someone else, 核实 before 立案,
    督办 only when overdue, and the photos the action needs."""
    _check_suspension(incident, action)
    if action.check:
        check_may_check(session, actor, incident, action)
    if action.step == "register" and not action.check and flow.check_from(incident.status) == "verify":
        if not reporter_of(session, incident).on_site:
            verify = " or ".join(a.name for a in flow.actions_from(incident.status) if a.check == "verify")
            raise Conflict(
                "A report not made on site by grid staff is verified on site (核实) before it is registered: "
                f"{verify} it first"
            )
    if action.step == "supervise" and not is_overdue(incident, now):
        due = incident.due_at.isoformat() if incident.due_at else "no deadline"
        raise Conflict(f"Only an overdue incident is supervised (督办); this one is due at {due}")
    for stage in action.evidence:
        if not has_photo_since(session, incident.id, stage, incident.status_since):
            raise InputError(
                f"{action.name} needs {'an' if stage[0] in 'aeiou' else 'a'} '{stage}' photo taken since the "
                f"incident became {incident.status}: take one, then try again"
            )


def _take_input(
    session: Session, incident: Incident, action: Action, actor: Actor, now: datetime, data: ActionInput
) -> dict[str, Any]:
    """The action's own fields onto the incident (assignee, merge target, rating, people served)."""
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
        history.record(
            session,
            target,
            actor,
            "absorb",
            now,
            from_status=target.status,
            changes={"merged": incident.id},
            comment=data.comment,
        )
    if data.rating is not None:
        incident.rating = data.rating
        changes["rating"] = data.rating
    if data.people_served is not None:
        incident.people_served = data.people_served
        changes["people_served"] = data.people_served
    return changes


def _check_suspension(incident: Incident, action: Action) -> None:
    if incident.suspended_at is not None and action.step != "resume":
        raise Conflict(
            f"The incident is suspended (挂账) since {incident.suspended_at.isoformat()}: resume it before you {action.name} it"
        )
    if incident.suspended_at is None and action.step == "resume":
        raise Conflict("The incident is not suspended: there is nothing to resume")


def _stay(
    session: Session,
    incident: Incident,
    flow: Workflow,
    action: Action,
    now: datetime,
    data: ActionInput,
    changes: dict,
) -> None:
    """The actions that leave the status as it is: suspend, resume, extend, supervise."""
    if action.step == "suspend":
        incident.suspended_at = now
    elif action.step == "resume":
        assert incident.suspended_at is not None  # checked by _check_suspension
        changes["suspended"] = [incident.suspended_at.isoformat(), now.isoformat()]
        if incident.status == flow.handling:
            incident.suspended_at = None  # the running suspension ends now (history.suspensions)
            incident.handling_due_at = handling_deadline(session, incident, flow, now)
            incident.due_at = incident.handling_due_at
        elif incident.due_at is not None:
            incident.due_at = incident.due_at + (now - incident.suspended_at)  # the allowances run around the clock
        incident.suspended_at = None
    elif action.step == "extend":
        limit = time_limit(incident, flow)
        if limit is None:
            raise Conflict(f"The {incident.kind} has no handling time limit to extend")
        assert data.amount is not None  # an amount was required
        changes.update({"amount": data.amount, "unit": limit[1].value, "unit_zh": limit[1].zh})
        due = incident.handling_due_at or incident.due_at or now
        incident.handling_due_at = deadline(
            due, data.amount, limit[1], history.suspensions(session, incident, now)
        ).astimezone(UTC)
        incident.due_at = incident.handling_due_at
        incident.escalation = 0
    elif action.step == "supervise":
        incident.supervision_count = (incident.supervision_count or 0) + 1
        changes.update(
            {"order": data.comment, "to": incident.assignee_id, "supervision_count": incident.supervision_count}
        )
    if incident.due_at is not None:
        changes.setdefault("due_at", incident.due_at.isoformat())


def assign(
    session: Session,
    incident: Incident,
    responder_id: int,
    actor: Actor,
    now: datetime,
    comment: str | None = None,
    checker: bool = False,
) -> IncidentHistory:
    """Reassign an open incident (or, with ``checker``, its pending on-site check); the old and
    new responder are recorded."""
    check_may_assign(actor, incident.grid_id)
    flow = workflow(incident.kind)
    if not flow.is_open(incident.status):
        raise Conflict(f"The incident is {incident.status}: closed incidents are not reassigned")
    _check_comment(comment)
    _check_responder(session, responder_id)
    field_name = "assignee_id"
    if checker:
        check = flow.check_from(incident.status)
        if check is None:
            raise Conflict(
                f"The {incident.kind} is {incident.status}: no on-site check is pending, so it has no checker"
            )
        if responder_id in _excluded(session, incident, check, None):
            who = (
                "a reporter cannot verify their own report"
                if check == "verify"
                else "a handler cannot verify their own work"
            )
            raise Conflict(f"Responder {responder_id} cannot be the checker: {who}")
        field_name = "checker_id"
    changes = {field_name: [getattr(incident, field_name), responder_id]}
    setattr(incident, field_name, responder_id)
    incident.updated_at = now
    entry = history.record(
        session, incident, actor, "assign", now, from_status=incident.status, changes=changes, comment=comment
    )
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
    entry = history.record(
        session,
        incident,
        actor,
        "comment",
        now,
        from_status=incident.status,
        changes={"stance": stance} if stance else {},
        comment=text,
    )
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
