"""Timeline rows with the indicators' columns, written by the test itself, and the indicators
counted from them in plain Python (the test's own count, independent of geo/indicators).

Each row is kept as a :class:`Row` as well as written to ``incident_history``; :func:`expected`
counts the indicators of a period from those Rows only.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from shapely.geometry import Point

from geo.models import Incident, IncidentHistory
from geo.spatial.geometry import to_db

ENDINGS = {"close", "reject", "merge"}
ON_TIME_STEPS = {"verify", "handle", "check", "close"}


@dataclass
class Row:
    id: int
    incident_id: int
    at: datetime
    action: str
    step: str | None
    changes: dict
    kind: str
    category: str
    grid_id: int | None
    assignee_id: int | None
    responder_id: int | None
    department: str | None
    on_time: bool | None
    work_hours: float | None


def add_incident(session, kind: str, category: str, where: tuple[float, float], at: datetime) -> Incident:
    incident = Incident(
        kind=kind, category=category, status="reported", title="指标场景", geom=to_db(Point(where)), created_at=at
    )
    session.add(incident)
    session.flush()
    return incident


def append(
    session, incident_id: int, at: datetime, action: str, step: str | None, changes: dict | None = None, **columns
) -> Row:
    """One timeline row with the indicators' columns, as the workflow engine writes them (an
    on-site check marked in ``changes``: {"check": "核实" or "核查", "check_on_time": ...})."""
    changes = changes or {}
    entry = IncidentHistory(
        incident_id=incident_id, at=at, actor="test", action=action, step=step, changes=changes, **columns
    )
    session.add(entry)
    session.flush()
    return Row(
        id=entry.id,
        incident_id=incident_id,
        at=at,
        action=action,
        step=step,
        changes=changes,
        kind=columns["kind"],
        category=columns["category"],
        grid_id=columns.get("grid_id"),
        assignee_id=columns.get("assignee_id"),
        responder_id=columns.get("responder_id"),
        department=columns.get("department"),
        on_time=columns.get("on_time"),
        work_hours=columns.get("work_hours"),
    )


# Paths an incident may take (steps, as actions); the generator cuts some short.
PATHS = [
    ["report", "register", "dispatch", "handle", "check", "evaluate"],
    ["report", "verify", "register", "dispatch", "overdue", "supervise", "handle", "return", "handle", "check"],
    ["report", "verify_register", "dispatch", "handle", "return", "handle", "check"],
    ["report", "register", "dispatch", "overdue", "handle", "close"],
    ["report", "overdue", "reject"],
    ["report", "merge"],
    ["report", "verify", "register", "suspend", "resume", "dispatch", "handle", "close", "overdue"],
    ["report", "register", "dispatch", "overdue", "supervise"],
    ["report", "comment", "register", "dispatch", "overdue", "handle", "overdue"],
]
STEP_OF = {"comment": None, "check": "close", "return": "rework", "verify_register": "register"}
# Actions that are on-site checks, as the workflow marks them: 核实 (verify), 核查 (inspect).
MARK_OF = {"verify": "核实", "verify_register": "核实", "check": "核查", "return": "核查"}


def scenario(
    session,
    rng: random.Random,
    n: int,
    start: datetime,
    span: timedelta,
    grids: dict[int, tuple[float, float]],
    responders: list[int],
    categories: list[tuple[str, str]],
    departments: list[str | None],
) -> tuple[list[Row], dict[int, list]]:
    """``n`` incidents, each along a path, their rows spread from ``start`` over ``span``;
    the rows, and each incident's remaining path (for more changes later)."""
    rows: list[Row] = []
    rest: dict[int, list] = {}
    for _ in range(n):
        kind, category = rng.choice(categories)
        grid_id = rng.choice(sorted(grids))
        at = start + timedelta(seconds=rng.randrange(int(span.total_seconds())))
        if rng.random() < 0.1:  # right at a China midnight
            at = at.replace(hour=16, minute=0, second=0, microsecond=0)
        incident = add_incident(session, kind, category, grids[grid_id], at)
        path = rng.choice(PATHS)
        cut = rng.randint(2, len(path)) if rng.random() < 0.6 else len(path)
        state = {"kind": kind, "category": category, "grid_id": grid_id, "department": rng.choice(departments)}
        for action in path[:cut]:
            rows.append(step_row(session, rng, incident.id, at, action, state, responders))
            at += timedelta(hours=rng.choice([0.5, 3, 20, 50, 200]))
        rest[incident.id] = [at, path[cut:], state]
    return rows, rest


def step_row(session, rng, incident_id: int, at: datetime, action: str, state: dict, responders: list[int]) -> Row:
    step = STEP_OF.get(action, action)
    if rng.random() < 0.05:
        state["category"] = state["category"] + "_x"  # recategorised on the way
    columns = dict(state)
    columns["assignee_id"] = rng.choice([*responders, None])
    columns["responder_id"] = rng.choice([*responders, None])
    if step in ON_TIME_STEPS:
        columns["on_time"] = rng.choice([True, True, False, None])
    changes = {}
    if action in MARK_OF and (action != "verify" or rng.random() < 0.5):
        changes = {"check": MARK_OF[action], "check_on_time": rng.choice([True, True, False])}
    if step == "handle":
        columns["work_hours"] = rng.choice([None, 1.5, 4.0, 12.25])
    return append(session, incident_id, at, action, step, changes, **columns)


# --------------------------------------------------------------------------- the test's own count


def _worker_of(row: Row, counter: str) -> int | None:
    return row.responder_id if counter in ("reports", "verify", "check") else row.assignee_id


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _counts(rows: list[Row], start: datetime, end: datetime, key_of) -> dict[str, dict[str, float]]:
    c: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def bump(row: Row, counter: str, name: str, amount: float = 1) -> None:
        c[key_of(row, counter)][name] += amount

    for r in rows:
        if not start <= r.at < end:
            continue
        s = r.step
        if s == "report":
            bump(r, "reports", "reports")
        if s in ("register", "reject", "merge", "handle", "rework", "close", "supervise", "overdue"):
            bump(r, "other", s)
        if s == "handle" and r.on_time is not None:
            bump(r, "other", "handle_timed")
            bump(r, "other", "handle_on_time", r.on_time)
        if s == "handle" and r.work_hours is not None:
            bump(r, "other", "hours_n")
            bump(r, "other", "hours", r.work_hours)
        if s == "close" and r.on_time:
            bump(r, "other", "close_on_time")
        mark = r.changes.get("check")
        punctual = r.changes.get("check_on_time", r.on_time)
        if (s == "verify" or mark == "核实") and punctual is not None:
            bump(r, "verify", "verify_timed")
            bump(r, "verify", "verify_on_time", punctual)
        if (s == "check" or mark == "核查") and punctual is not None:
            bump(r, "check", "check_timed")
            bump(r, "check", "check_on_time", punctual)
    # 应结案: incidents overdue in the period, not ended before its end, in their first overdue row's group.
    ended = {r.incident_id for r in rows if r.step in ENDINGS and r.at < end}
    first: dict[int, Row] = {}
    for r in sorted(rows, key=lambda r: r.id):
        if r.step == "overdue" and start <= r.at < end and r.incident_id not in first:
            first[r.incident_id] = r
    for incident_id, r in first.items():
        if incident_id not in ended:
            bump(r, "other", "owed")
    return c


def expected(rows: list[Row], start: datetime, end: datetime, key_of) -> dict[str, dict]:
    """Group -> indicator -> value over the rows in [start, end). ``key_of(row, counter)`` names
    a row's group for a counter ("reports", "verify", "check" or "other")."""
    c = _counts(rows, start, end, key_of)
    out = {}
    for key, v in c.items():
        due = v["close"] + v["owed"]
        out[key] = {
            "reports": v["reports"],
            "valid_report_rate": _ratio(v["register"], v["register"] + v["reject"] + v["merge"]),
            "registered": v["register"],
            "register_rate": _ratio(v["register"], v["reports"]),
            "due_to_close": due,
            "closed": v["close"],
            "close_rate": _ratio(v["close"], due),
            "closed_on_time": v["close_on_time"],
            "close_on_time_rate": _ratio(v["close_on_time"], due),
            "handled": v["handle"],
            "handle_on_time_rate": _ratio(v["handle_on_time"], v["handle_timed"]),
            "rework_rate": _ratio(v["rework"], v["handle"]),
            "verify_on_time_rate": _ratio(v["verify_on_time"], v["verify_timed"]),
            "check_on_time_rate": _ratio(v["check_on_time"], v["check_timed"]),
            "avg_handle_work_hours": _ratio(v["hours"], v["hours_n"]),
            "supervised": v["supervise"],
            "overdue": v["overdue"],
        }
    return out


def worker_key(codes: dict[int, str]):
    def key_of(row: Row, counter: str) -> str:
        who = _worker_of(row, counter)
        return codes[who] if who is not None else "(none)"

    return key_of
