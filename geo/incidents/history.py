"""The one way a row joins an incident's append-only timeline.

Every row carries a snapshot of the incident at that moment (kind, category, grid, assignee,
department) and what the row means for the indicators (``step``, its deadline ``due_at``,
whether it was ``on_time``, and for a handling its ``work_hours``), so that figures for a past
period are computed from the timeline alone and never change when incidents move on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.policy import Actor
from geo.models import CatalogueEntry, Incident, IncidentHistory
from geo.worktime.calendar import Suspension, elapsed
from geo.worktime.days import YearNotCovered
from geo.worktime.units import TimeUnit

log = logging.getLogger("wangge")

# Rows whose punctuality the indicators measure (按时核实, 按期处置, 按时核查, 按期结案).
TIMED_STEPS = frozenset({"verify", "handle", "check", "close"})
# Rows measured against the handling deadline rather than the step's own.
HANDLING_STEPS = frozenset({"handle", "close"})


def department(session: Session, incident: Incident) -> str | None:
    """The responsible department of the incident's catalogue entry, if it has one."""
    if incident.catalogue_entry_id is None:
        return None
    with session.no_autoflush:
        entry = session.get(CatalogueEntry, incident.catalogue_entry_id)
    return entry.department if entry is not None else None


def record(
    session: Session,
    incident: Incident,
    actor: Actor | str,
    action: str,
    at: datetime,
    *,
    step: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    changes: dict[str, Any] | None = None,
    comment: str | None = None,
    due_at: datetime | None = None,
    work_hours: float | None = None,
    incident_id: int | None = None,
) -> IncidentHistory:
    """Append one row to ``incident``'s timeline with its snapshot columns filled from the incident
    as it is now (after the change the row records). ``due_at``: the deadline the step was due by
    (for timed steps; ``on_time`` follows from it). ``to_status`` defaults to the incident's status."""
    name = actor if isinstance(actor, str) else actor.name
    responder_id = None if isinstance(actor, str) else actor.responder_id
    entry = IncidentHistory(
        at=at,
        actor=name,
        action=action,
        from_status=from_status,
        to_status=incident.status if to_status is None else to_status,
        changes=changes if changes is not None else {},
        comment=comment,
        step=step,
        kind=incident.kind,
        category=incident.category,
        grid_id=incident.grid_id,
        assignee_id=incident.assignee_id,
        responder_id=responder_id,
        department=department(session, incident),
        due_at=due_at if step in TIMED_STEPS else None,
        on_time=(due_at is None or at <= due_at) if step in TIMED_STEPS else None,
        work_hours=work_hours,
    )
    if incident_id is not None:
        entry.incident_id = incident_id
    elif incident.id is None:
        entry.incident = incident  # a new incident: the row is written with it, in one INSERT each
    else:
        entry.incident_id = incident.id
    session.add(entry)
    return entry


def snapshot_columns(incident: Incident, step: str | None) -> dict[str, Any]:
    """The snapshot columns of a row written in bulk (importers), where no actor has a responder."""
    return {
        "step": step,
        "kind": incident.kind,
        "category": incident.category,
        "grid_id": incident.grid_id,
        "assignee_id": incident.assignee_id,
    }


# --------------------------------------------------------------------------- reading the timeline


def rows(session: Session, incident_id: int, steps: Iterable[str] | None = None) -> list[IncidentHistory]:
    """The incident's rows in order (only those of ``steps``, if given); written rows not yet
    flushed are included."""
    stmt = select(IncidentHistory).where(IncidentHistory.incident_id == incident_id)
    if steps is not None:
        stmt = stmt.where(IncidentHistory.step.in_(list(steps)))
    return list(session.scalars(stmt.order_by(IncidentHistory.id)))


def suspensions(session: Session, incident: Incident, now: datetime) -> list[Suspension]:
    """The intervals the incident was suspended (挂账), from its suspend and resume rows; one still
    running ends ``now``."""
    spans: list[Suspension] = []
    started: datetime | None = None
    if incident.id is None:
        return spans
    for row in rows(session, incident.id, ("suspend", "resume")):
        if row.step == "suspend":
            started = row.at
        elif started is not None:
            spans.append((started, row.at))
            started = None
    if started is not None and now > started:
        spans.append((started, now))
    return spans


def handling_work_hours(session: Session, incident: Incident, since: datetime | None, now: datetime) -> float | None:
    """Working hours (工作时 clock, suspensions excluded) from ``since`` (the dispatch that started
    this handling) to ``now``; None when the working-day calendar does not cover the period (the
    handling itself is not refused for a measurement: the operator is told in the log)."""
    if since is None or now < since:
        return None
    try:
        return round(elapsed(since, now, TimeUnit.working_hours, suspensions(session, incident, now)), 6)
    except YearNotCovered as exc:
        log.warning("incident %s: handling time not measured: %s", incident.id, exc)
        return None
