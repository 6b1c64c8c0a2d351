"""The indicators of incidents moved through the real workflow engine over HTTP, with a simulated
clock: every figure equals the test's own count (tests/support/timeline.py, plain Python) of the
timeline rows the engine wrote, for a past period, by every grouping, on both databases; and the
period's figures stay the same when the incidents move on afterwards."""

from __future__ import annotations

import random
import tomllib
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from geo.db.session import session_scope
from geo.incidents.definitions import DEFINITIONS
from geo.models import IncidentHistory
from tests.geo.incidents.test_workflow import Api
from tests.geo.indicators.conftest import CST, GRIDS, centre, key_functions
from tests.support.timeline import Row, expected

# The engine that writes the timeline's indicator columns (geo/incidents/history.py) lands with
# the governance workflow; until then its rows carry no step and there is nothing to count.
pytest.importorskip("geo.incidents.history", reason="the workflow engine does not write the indicator columns yet")

WORKFLOWS = tomllib.loads(DEFINITIONS.read_text(encoding="utf-8"))
PATHS = {
    "case": [
        ["verify", "register", "dispatch", "handle", "check", "evaluate"],
        ["verify", "register", "dispatch", "supervise", "handle", "return", "handle", "check"],
        ["verify", "reject"],
        ["reject"],
    ],
    "hazard": [
        ["confirm", "rectify", "report_rectified", "reinspect"],
        ["confirm", "rectify", "report_rectified", "reinspect_failed", "report_rectified", "reinspect"],
    ],
    "illegal_structure": [["verify", "serve_notice", "demolish"], ["reject"]],
}
CATEGORY = {"case": "dispute", "hazard": "fire_safety", "illegal_structure": "rooftop"}
START = datetime(2027, 3, 1, 9, tzinfo=CST)
PERIOD = (datetime(2027, 3, 8, tzinfo=CST), datetime(2027, 3, 29, tzinfo=CST))


def rows_of(engine) -> list[Row]:
    with session_scope(engine) as s:
        return [
            Row(
                id=h.id,
                incident_id=h.incident_id,
                at=h.at,
                action=h.action,
                step=h.step,
                changes=h.changes or {},
                kind=h.kind,
                category=h.category,
                grid_id=h.grid_id,
                assignee_id=h.assignee_id,
                responder_id=h.responder_id,
                department=h.department,
                on_time=h.on_time,
                work_hours=h.work_hours,
            )
            for h in s.scalars(select(IncidentHistory).order_by(IncidentHistory.id))
        ]


def take(api: Api, world, rng, incident_id: int, action: str, kind: str, grid: str) -> bool:
    spec = WORKFLOWS[kind]["actions"][action]
    body: dict = {}
    if "comment" in spec.get("needs", []):
        body["comment"] = "说明"
    if "assignee" in spec.get("needs", []):
        body["assignee_id"] = world.responder[f"R{list(GRIDS).index(grid)}w"]
    if "rating" in spec.get("needs", []):
        body["rating"] = rng.randint(1, 5)
    who = "admin" if spec.get("check") else "community"
    return api.act(incident_id, action, who, **body).status_code == 200


def test_the_real_workflows_timeline_counts_as_the_test_counts_it(db_url, engine, world, clock):
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = clock
    api = Api(TestClient(app), world)
    rng = random.Random(20270301)
    plans = []
    for n in range(30):
        kind = ("case", "case", "hazard", "illegal_structure")[n % 4]
        grid = rng.choice(list(GRIDS))
        at = START + timedelta(hours=rng.uniform(0, 24 * 30))
        path = rng.choice(PATHS[kind])
        steps, t = [], at
        for action in path:
            t += timedelta(hours=rng.choice([0.3, 2, 9, 30, 80]))
            steps.append((t, action))
        plans.append((at, kind, grid, steps))
    events = sorted(
        [(at, 0, n, "report") for n, (at, _k, _g, _s) in enumerate(plans)]
        + [(t, 1, n, a) for n, (_at, _k, _g, steps) in enumerate(plans) for t, a in steps]
    )
    ids: dict[int, int] = {}
    stopped: set[int] = set()
    later: list = []
    for at, _order, n, action in events:
        if at >= PERIOD[1] + timedelta(days=3):
            later.append((at, n, action))
            continue
        clock.now = at
        api.escalate()
        _a, kind, grid, _s = plans[n]
        if action == "report":
            ids[n] = api.report("community", kind, CATEGORY[kind], centre(GRIDS[grid][1]))["id"]
        elif n not in stopped and not take(api, world, rng, ids[n], action, kind, grid):
            stopped.add(n)  # a step the workflow refuses here: the incident goes no further
    after = PERIOD[1] + timedelta(days=3)
    clock.now = after
    api.escalate()
    rows = rows_of(engine)
    keys = key_functions(world)
    whole = expected(rows, *PERIOD, keys["none"])["total"]
    for name in ("reports", "registered", "closed", "handled", "overdue", "due_to_close"):
        assert whole[name] > 0, name
    assert whole["check_on_time_rate"] is not None and whole["verify_on_time_rate"] is not None
    answers = {}
    for by, key_of in keys.items():
        want = expected(rows, *PERIOD, key_of)
        body = api.client.get(
            "/api/v1/stats/indicators",
            params={"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat(), "by": by},
            headers=api.headers("community"),
        ).json()
        answers[by] = body
        got = {row["key"]: row for row in body["rows"]}
        for key, figures in want.items():
            for name, value in figures.items():
                assert got[key][name] == value or abs(got[key][name] - value) < 1e-9, (by, key, name)
    # The incidents move on: the period's figures stay as they were.
    for at, n, action in sorted(later):
        clock.now = at
        api.escalate()
        _a, kind, grid, _s = plans[n]
        if n in ids and n not in stopped and not take(api, world, rng, ids[n], action, kind, grid):
            stopped.add(n)
    clock.now = max(at for at, _n, _a in later) + timedelta(days=30) if later else after + timedelta(days=30)
    api.escalate()
    assert len(rows_of(engine)) > len(rows)
    for by in keys:
        body = api.client.get(
            "/api/v1/stats/indicators",
            params={"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat(), "by": by},
            headers=api.headers("community"),
        ).json()
        assert body == answers[by], by
