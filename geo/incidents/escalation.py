"""Deadlines passed: overdue open incidents go to the grid leader, then to the community."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.policy import SYSTEM
from geo.incidents import history
from geo.incidents.definitions import workflow
from geo.models import Grid, Incident, IncidentHistory


def escalate_overdue(session: Session, now: datetime) -> list[IncidentHistory]:
    """Flag overdue incidents and escalate them: first to the grid leader, then, when a second
    allowance has passed, to the community. A closed case awaiting its evaluation is overdue when
    the evaluation is; a suspended (挂账) incident's clock is stopped. Safe to run as often as wanted."""
    entries = []
    overdue = session.scalars(
        select(Incident).where(
            Incident.due_at.is_not(None),
            Incident.due_at < now,
            Incident.deleted_at.is_(None),
            Incident.suspended_at.is_(None),
        )
    )
    for incident in overdue:
        assert incident.due_at is not None  # the query selects only incidents with a deadline
        flow = workflow(incident.kind)
        allowance = flow.allowance(incident.status, incident.category)
        if allowance is None or not flow.awaits(incident.status):
            continue
        level = 2 if now >= incident.due_at + allowance else 1
        if level <= incident.escalation:
            continue
        to = _escalation_target(session, incident, level)
        # The first escalation for a deadline is what the indicators count as overdue (超期).
        entry = history.record(
            session,
            incident,
            SYSTEM,
            "escalate",
            now,
            step="overdue" if incident.escalation == 0 else None,
            from_status=incident.status,
            changes={"level": level, "to": to, "due_at": incident.due_at.isoformat()},
            comment=f"overdue since {incident.due_at.isoformat()}; escalated to the {'grid leader' if level == 1 else 'community'}",
        )
        incident.escalation = level
        entries.append(entry)
    session.flush()
    return entries


def _escalation_target(session: Session, incident: Incident, level: int) -> dict[str, Any]:
    grid = session.get(Grid, incident.grid_id) if incident.grid_id else None
    if level == 1:
        leader = grid.leader if grid else None
        return {
            "role": "grid_leader",
            "responder_id": leader.id if leader else None,
            "name": leader.name if leader else None,
        }
    community = grid.community if grid else None
    return {
        "role": "community",
        "code": community.code if community else None,
        "name": community.name if community else None,
    }
