"""The figures a community reports, per grid or per community, for a period.

For each (area, kind, category): incidents reported in the period, closed in the period (as done:
an incident rejected or merged into another is not handled work), that
went overdue in the period, people served by those closed, and the median minutes spent in each
status for the steps taken in the period.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.models import Community, Grid, Incident, IncidentHistory

# Endings that are not work done: a report refused, or merged into another incident.
NOT_DONE = frozenset({"rejected", "duplicate"})

# History actions that are not steps of the workflow.
_NOT_STEPS = {"report", "import", "create", "update", "delete", "comment", "assign", "escalate", "absorb"}


def _area_of(session: Session, by: str) -> dict[int | None, str]:
    """Grid id -> the key of the area it is counted in."""
    if by == "grid":
        return {gid: code for gid, code in session.execute(select(Grid.id, Grid.code))}
    if by == "community":
        rows = session.execute(
            select(Grid.id, Community.code).join(Community, Grid.community_id == Community.id, isouter=True)
        )
        return {gid: code or "(none)" for gid, code in rows}
    raise InputError("by must be grid or community")


def incident_statistics(session: Session, start: datetime, end: datetime, by: str = "grid") -> list[dict[str, Any]]:
    if start >= end:
        raise InputError("The period must start before it ends")
    area = _area_of(session, by)
    incidents = {i.id: i for i in session.scalars(select(Incident).where(Incident.deleted_at.is_(None)))}
    rows: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {"reported": 0, "closed": 0, "overdue": 0, "people_served": 0, "durations": defaultdict(list)}
    )

    def key(incident: Incident) -> tuple:
        return (area.get(incident.grid_id, "(none)"), incident.kind, incident.category)

    for incident in incidents.values():
        if start <= incident.created_at < end:
            rows[key(incident)]["reported"] += 1
        done = incident.status not in NOT_DONE  # closed as rejected or merged: no work was done
        if done and incident.closed_at is not None and start <= incident.closed_at < end:
            row = rows[key(incident)]
            row["closed"] += 1
            row["people_served"] += incident.people_served if incident.people_served is not None else 1

    history = session.scalars(select(IncidentHistory).order_by(IncidentHistory.incident_id, IncidentHistory.id)).all()
    entered: dict[int, datetime] = {}
    overdue_seen: set[int] = set()
    for entry in history:
        if entry.incident_id not in incidents:
            continue
        incident = incidents[entry.incident_id]
        if entry.action in ("report", "import", "create"):
            entered[incident.id] = entry.at
        elif entry.action == "escalate":
            # It went overdue when its deadline passed, not when an escalation round noticed it
            # (a level-2 escalation of one already late before the period is not new in it).
            due = (entry.changes or {}).get("due_at")
            went_overdue = datetime.fromisoformat(due) if due else entry.at
            if start <= went_overdue < end and incident.id not in overdue_seen:
                overdue_seen.add(incident.id)
                rows[key(incident)]["overdue"] += 1
        elif entry.action not in _NOT_STEPS and entry.from_status != entry.to_status:
            since = entered.get(incident.id)
            if since is not None and start <= entry.at < end:
                rows[key(incident)]["durations"][entry.from_status].append((entry.at - since).total_seconds() / 60.0)
            entered[incident.id] = entry.at

    out = []
    for (area_key, kind, category), row in sorted(rows.items()):
        out.append(
            {
                by: area_key,
                "kind": kind,
                "category": category,
                "reported": row["reported"],
                "closed": row["closed"],
                "overdue": row["overdue"],
                "people_served": row["people_served"],
                "median_minutes": {
                    status: round(statistics.median(d), 1) for status, d in sorted(row["durations"].items())
                },
            }
        )
    return out


def statistics_csv(rows: list[dict[str, Any]], by: str) -> str:
    """One line per area, kind and category; the medians as one column per status."""
    statuses = sorted({s for r in rows for s in r["median_minutes"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            by,
            "kind",
            "category",
            "reported",
            "closed",
            "overdue",
            "people_served",
            *[f"median_minutes_{s}" for s in statuses],
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r[by],
                r["kind"],
                r["category"],
                r["reported"],
                r["closed"],
                r["overdue"],
                r["people_served"],
                *[r["median_minutes"].get(s, "") for s in statuses],
            ]
        )
    return buffer.getvalue()
