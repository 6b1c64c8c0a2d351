"""Deadlines passed: overdue open incidents go to the grid leader, then to the community."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.incidents.definitions import workflow
from geo.models import Grid, Incident, IncidentHistory


def escalate_overdue(session: Session, now: datetime) -> list[IncidentHistory]:
    """Flag overdue open incidents and escalate them: first to the grid leader, then, when a
    second allowance has passed, to the community. Safe to run as often as wanted."""
    entries = []
    overdue = session.scalars(
        select(Incident).where(Incident.due_at.is_not(None), Incident.due_at < now, Incident.deleted_at.is_(None))
    )
    for incident in overdue:
        assert incident.due_at is not None  # the query selects only incidents with a deadline
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
            incident_id=incident.id,
            at=now,
            actor="system",
            action="escalate",
            from_status=incident.status,
            to_status=incident.status,
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
