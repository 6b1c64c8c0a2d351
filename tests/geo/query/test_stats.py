"""Statistics per grid and per community, checked against a count kept by the test itself.

A seeded scenario runs on a simulated clock over HTTP: incidents of every kind in three grids of
two communities, reported before, during and after the period, some closed in it, some late.
The test writes down every step it takes (when, from which status to which) and counts from
that record; the service's answer, as JSON and as CSV, must agree.

What the figures mean (for the area, kind and category of each incident):
- reported: created in the period;
- closed: reached an end status for the first time in the period, as done (not rejected or merged:
  that is no handled work);
- people_served: of those closed in the period, the number given when closing (1 if none given);
- overdue: went overdue in the period, i.e. a deadline (from geo/incidents/workflows.toml) that fell in the
  period passed while the incident was still in that status; counted once per incident;
- median_minutes[status]: median time spent in the status, over the steps out of it taken in
  the period.
"""

from __future__ import annotations

import csv
import io
import random
import statistics
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.catalogue.default import default_rows
from geo.incidents.definitions import DEFINITIONS
from geo.worktime.calendar import deadline
from tests.support.photos import provide_evidence
from tests.support.world import CommunitySpec, GridSpec, ResponderSpec, UserSpec, WorldSpec

WORKFLOWS = tomllib.loads(DEFINITIONS.read_text(encoding="utf-8"))
CST = timezone(timedelta(hours=8))
PERIOD = (datetime(2027, 4, 1, tzinfo=CST), datetime(2027, 5, 1, tzinfo=CST))

# Grid code -> (community code, bounds). Grids A and B make up community 1, grid C community 2.
GRIDS = {
    "441802001001001": ("441802001001", (113.040, 23.690, 113.045, 23.695)),
    "441802001001002": ("441802001001", (113.045, 23.690, 113.050, 23.695)),
    "441802001002001": ("441802001002", (113.050, 23.690, 113.055, 23.695)),
}

CATEGORIES = {
    "case": ["dispute", "public_order", "aid"],
    "hazard": ["safety_production", "fire_safety", "public_safety"],
    "illegal_structure": ["rooftop", "shed"],
    "renovation": ["lighting", "road"],
}

# Whole paths through each workflow (the scenario cuts some short, leaving them open).
PATHS = {
    "case": [
        ["verify", "register", "dispatch", "handle", "check", "evaluate"],
        ["verify", "register", "dispatch", "handle", "return", "handle", "check"],
        ["reject"],
    ],
    "hazard": [
        ["confirm", "rectify", "report_rectified", "reinspect"],
        ["confirm", "rectify", "report_rectified", "reinspect_failed", "report_rectified", "reinspect"],
        ["reject"],
    ],
    "illegal_structure": [["verify", "serve_notice", "demolish"], ["verify", "legalise"], ["reject"]],
    "renovation": [["consult", "approve", "start_construction", "complete"], ["consult", "reject"]],
}
ENDING = {"check", "reinspect", "demolish", "complete"}  # steps that may say how many people were served


def due_by(kind: str, status: str, category: str, entered: datetime) -> datetime | None:
    """When a step from ``status`` entered at ``entered`` is due: the catalogue's time limit in
    working time in the kind's handling status, the TOML's minutes elsewhere."""
    if status == WORKFLOWS[kind].get("handling"):
        row = next(r for r in default_rows() if r.kind == kind and r.category == category and r.condition_no == 1)
        return deadline(entered, row.time_limit, row.time_unit)
    allowed = allowance(kind, status, category)
    return None if allowed is None else entered + allowed


def allowance(kind: str, status: str, category: str) -> timedelta | None:
    spec = WORKFLOWS[kind]
    awaits = status not in spec["closed"] or any(
        status in a["from"] and a["to"] != "=" for a in spec["actions"].values()
    )  # a closed case awaits its evaluation, and that is due too
    if not awaits:
        return None
    minutes = spec.get("deadlines", {}).get(status, {})
    minutes = minutes.get(category, minutes.get("*"))
    return None if minutes is None else timedelta(minutes=minutes)


# --------------------------------------------------------------------------- the test's own record


@dataclass
class Record:
    """What the test did to one incident."""

    kind: str
    category: str
    grid: str
    reported: datetime
    steps: list[tuple[datetime, str, str, str]] = field(default_factory=list)  # (at, action, from, to)
    people_served: int | None = None
    id: int | None = None
    where: list[float] | None = None

    @property
    def community(self) -> str:
        return GRIDS[self.grid][0]

    def stints(self, end_of_time: datetime):
        """(status, entered, left or end_of_time, left by a step?) for every status it was in."""
        status, since = WORKFLOWS[self.kind]["initial"], self.reported
        for at, _action, before, after in self.steps:
            assert before == status
            yield status, since, at, True
            status, since = after, at
        yield status, since, end_of_time, False

    def closed_at(self) -> datetime | None:
        """When it first ended as done (rejected or duplicate endings are not handled work)."""
        return next(
            (
                at
                for at, _a, _f, to in self.steps
                if to in WORKFLOWS[self.kind]["closed"] and to not in ("rejected", "duplicate")
            ),
            None,
        )


def expected_rows(records: list[Record], start: datetime, end: datetime, by: str, end_of_time: datetime) -> dict:
    rows: dict = defaultdict(
        lambda: {"reported": 0, "closed": 0, "overdue": 0, "people_served": 0, "durations": defaultdict(list)}
    )
    for r in records:
        key = (r.grid if by == "grid" else r.community, r.kind, r.category)
        if start <= r.reported < end:
            rows[key]["reported"] += 1
        closed = r.closed_at()
        if closed is not None and start <= closed < end:
            rows[key]["closed"] += 1
            rows[key]["people_served"] += r.people_served if r.people_served is not None else 1
        late = False
        for status, entered, left, by_step in r.stints(end_of_time):
            if by_step and start <= left < end:
                rows[key]["durations"][status].append((left - entered).total_seconds() / 60)
            due = due_by(r.kind, status, r.category, entered)
            # Escalations run at every step and at the end, so a deadline passed in a status is seen.
            if due is not None and due < left and start <= due < end:
                late = True
        if late:
            rows[key]["overdue"] += 1
    return {
        key: {
            "reported": row["reported"],
            "closed": row["closed"],
            "overdue": row["overdue"],
            "people_served": row["people_served"],
            "median_minutes": {s: round(statistics.median(d), 1) for s, d in row["durations"].items()},
        }
        for key, row in rows.items()
    }


# --------------------------------------------------------------------------- the scenario


WORLD = WorldSpec(
    start=PERIOD[0] - timedelta(days=40),
    communities=(
        CommunitySpec("441802001001", "翠湖社区", (113.040, 23.690, 113.050, 23.695)),
        CommunitySpec("441802001002", "东湖社区", (113.050, 23.690, 113.055, 23.695)),
    ),
    grids=tuple(
        GridSpec(code, code, f"网格{n + 1}", community, bounds)
        for n, (code, (community, bounds)) in enumerate(GRIDS.items())
    ),
    responders=tuple(
        ResponderSpec(f"S-{n}-{role}", f"S-{n}-{role}", f"{role}{n}", role, (code,), ((x0 + x1) / 2, (y0 + y1) / 2))
        for n, (code, (_community, (x0, y0, x1, y1))) in enumerate(GRIDS.items())
        for role in ("grid_leader", "grid_worker")
    ),
    # The administrator does the on-site checks (核实, 核查): not the community staff, who report
    # and handle everything here.
    users=(UserSpec("community", "community"), UserSpec("planner", "planner"), UserSpec("admin", "admin")),
)


@pytest.fixture
def world_spec() -> WorldSpec:
    return WORLD


def plan(rng: random.Random, start: datetime, end: datetime, n: int) -> list[tuple[Record, list[tuple[datetime, str]]]]:
    """n incidents, each with its report time and its steps' times; some steps come late."""
    out = []
    span = (end - start).total_seconds()
    for i in range(n):
        kind = list(CATEGORIES)[i % 4]
        category = rng.choice(CATEGORIES[kind])
        grid = rng.choice(list(GRIDS))
        reported = start + timedelta(minutes=int(rng.uniform(-0.4 * span, 1.05 * span) // 60))
        path = rng.choice(PATHS[kind])
        path = path[: rng.randint(1, len(path))] if rng.random() < 0.3 else path
        status, at, steps = WORKFLOWS[kind]["initial"], reported, []
        for action in path:
            due = due_by(kind, status, category, at)
            allowed = due - at if due is not None else timedelta(days=3)
            at = at + timedelta(
                minutes=max(1, int(allowed.total_seconds() / 60 * rng.choice([0.1, 0.3, 0.6, 0.9, 1.3, 2.4])))
            )
            steps.append((at, action))
            status = WORKFLOWS[kind]["actions"][action]["to"]
        out.append((Record(kind, category, grid, reported), steps))
    return out


def point_in(rng: random.Random, grid: str) -> list[float]:
    x0, y0, x1, y1 = GRIDS[grid][1]
    return [rng.uniform(x0 + 0.0003, x1 - 0.0003), rng.uniform(y0 + 0.0003, y1 - 0.0003)]


@pytest.fixture
def scenario(db_url, tokens, clock):
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = clock
    client = TestClient(app)
    auth = {who: {"Authorization": f"Bearer {t}"} for who, t in tokens.items()}
    rng = random.Random(20270403)
    planned = plan(rng, *PERIOD, n=36)
    # Two duplicates merged into their open original, inside the period.
    merge_into: dict[int, int] = {}
    for grid, kind, category in (("441802001001002", "case", "aid"), ("441802001002001", "hazard", "fire_safety")):
        at = PERIOD[0] + timedelta(days=9, hours=3)
        planned.append((Record(kind, category, grid, at), []))
        planned.append((Record(kind, category, grid, at), [(at + timedelta(minutes=17), "merge")]))
        merge_into[len(planned) - 1] = len(planned) - 2
    events = sorted(
        [(rec.reported, 0, n, "report", rec) for n, (rec, _s) in enumerate(planned)]
        + [(at, 1, n, action, rec) for n, (rec, steps) in enumerate(planned) for at, action in steps],
        key=lambda e: (e[0], e[1], e[2]),
    )
    escalated: list = []

    def escalate():
        r = client.post(f"{API}/escalations", headers=auth["community"])
        assert r.status_code == 200, r.text
        escalated.extend(r.json()["escalated"])

    for at, _order, n, action, rec in events:
        clock.now = at
        escalate()  # the server does this every minute; here, at least before every step
        if action == "report":
            who = "planner" if rec.kind == "renovation" else "community"
            where = planned[merge_into[n]][0].where if n in merge_into else point_in(rng, rec.grid)
            rec.where = where
            body = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": where},
                "properties": {"kind": rec.kind, "category": rec.category, "title": "统计场景"},
            }
            r = client.post(f"{API}/incidents", json=body, headers=auth[who])
            assert r.status_code == 201, r.text
            rec.id = r.json()["id"]
            assert r.json()["properties"]["grid"] == rec.grid
            continue
        current = client.get(f"{API}/incidents/{rec.id}", headers=auth["community"])
        before = current.json()["properties"]["status"]
        body: dict = {}
        spec = WORKFLOWS[rec.kind]["actions"][action]
        if "comment" in spec.get("needs", []):
            body["comment"] = "原因说明"
        if "assignee" in spec.get("needs", []):
            body["assignee_id"] = current.json()["properties"]["assignee"]["id"]
        if "target" in spec.get("needs", []):
            body["target_id"] = planned[merge_into[n]][0].id
        if "rating" in spec.get("needs", []):
            body["rating"] = rng.randint(1, 5)
        if action in ENDING and rng.random() < 0.6:
            body["people_served"] = rng.randint(2, 400)
            rec.people_served = body["people_served"]
        provide_evidence(client, rec.id, action, auth["community"])
        r = client.post(
            f"{API}/incidents/{rec.id}/actions/{action}",
            json=body,
            headers={**auth["admin" if spec.get("check") else "community"], "If-Match": current.headers["ETag"]},
        )
        assert r.status_code == 200, (action, r.text)
        rec.steps.append((at, action, before, r.json()["properties"]["status"]))

    end_of_time = max(e[0] for e in events) + timedelta(days=60)
    clock.now = end_of_time
    escalate()
    records = [rec for rec, _steps in planned]
    # The record and the service's timelines tell the same story (a check on the record itself).
    for rec in records:
        timeline = client.get(f"{API}/incidents/{rec.id}/timeline", headers=auth["community"]).json()["timeline"]
        steps = [
            (datetime.fromisoformat(e["at"]), e["action"], e["from_status"], e["to_status"])
            for e in timeline
            if e["action"] not in ("report", "escalate", "absorb", "photo")
        ]
        assert steps == rec.steps
    return client, records, end_of_time, escalated


def _service(client, start, end, by, fmt="json"):
    r = client.get(f"{API}/stats", params={"start": start.isoformat(), "end": end.isoformat(), "by": by, "format": fmt})
    assert r.status_code == 200, r.text
    return r


PERIODS = [
    PERIOD,
    (datetime(2027, 4, 8, 12, tzinfo=CST), datetime(2027, 4, 15, tzinfo=CST)),
    (PERIOD[0] - timedelta(days=40), PERIOD[1] + timedelta(days=200)),
]


def _json_rows(client, start, end, by) -> dict:
    body = _service(client, start, end, by).json()
    assert body["by"] == by
    assert datetime.fromisoformat(body["start"]) == start and datetime.fromisoformat(body["end"]) == end
    got = {
        (row[by], row["kind"], row["category"]): {
            k: row[k] for k in ("reported", "closed", "overdue", "people_served", "median_minutes")
        }
        for row in body["rows"]
    }
    assert len(got) == len(body["rows"])
    return got


def _csv_rows(client, start, end, by, statuses) -> dict:
    r = _service(client, start, end, by, fmt="csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert f"wangge-stats-{by}.csv" in r.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(r.text))
    assert reader.fieldnames == [
        by,
        "kind",
        "category",
        "reported",
        "closed",
        "overdue",
        "people_served",
        *[f"median_minutes_{s}" for s in statuses],
    ]
    got = {}
    for row in reader:
        got[(row[by], row["kind"], row["category"])] = {
            "reported": int(row["reported"]),
            "closed": int(row["closed"]),
            "overdue": int(row["overdue"]),
            "people_served": int(row["people_served"]),
            "median_minutes": {
                s: float(row[f"median_minutes_{s}"]) for s in statuses if row[f"median_minutes_{s}"] != ""
            },
        }
    return got


def test_statistics_match_an_independent_count(scenario):
    client, records, end_of_time, escalated = scenario
    # The scenario is varied enough to be a test: every figure is exercised.
    want = expected_rows(records, *PERIOD, "grid", end_of_time)
    assert sum(r["reported"] for r in want.values()) >= 10
    assert sum(r["closed"] for r in want.values()) >= 5
    assert sum(r["overdue"] for r in want.values()) >= 3
    assert sum(r["people_served"] for r in want.values()) > sum(r["closed"] for r in want.values())
    assert any(
        rec.closed_at() and rec.closed_at() >= PERIOD[0] and rec.reported < PERIOD[0] for rec in records
    )  # reported before, closed in
    assert any(
        PERIOD[0] <= rec.reported < PERIOD[1] and (rec.closed_at() is None or rec.closed_at() >= PERIOD[1])
        for rec in records
    )
    assert any(rec.reported >= PERIOD[1] for rec in records)
    assert escalated and {e["level"] for e in escalated} == {1, 2}
    for by, areas in (("grid", 3), ("community", 2)):
        for start, end in PERIODS:
            assert _json_rows(client, start, end, by) == expected_rows(records, start, end, by, end_of_time), (
                by,
                start,
                end,
            )
        want = expected_rows(records, *PERIOD, by, end_of_time)
        assert len({k[0] for k in want}) == areas
        statuses = sorted({s for row in want.values() for s in row["median_minutes"]})
        assert _csv_rows(client, *PERIOD, by, statuses) == want, by


def test_a_case_closed_in_one_period_and_evaluated_in_the_next_counts_as_closed_once(scenario):
    client, records, end_of_time, _escalated = scenario
    evaluated = [r for r in records if r.kind == "case" and any(a == "evaluate" for _t, a, _f, _to in r.steps)]
    assert evaluated
    rec = evaluated[0]
    closed = next(t for t, a, _f, _to in rec.steps if a == "check")
    evaluation = next(t for t, a, _f, _to in rec.steps if a == "evaluate")
    # A period holding the evaluation but not the closing: the case is not closed again there.
    start, end = evaluation - timedelta(minutes=1), evaluation + timedelta(minutes=1)
    assert closed < start
    key = (rec.grid, rec.kind, rec.category)
    want = expected_rows(records, start, end, "grid", end_of_time)[key]
    others = [
        r
        for r in records
        if (r.grid, r.kind, r.category) == key and r is not rec and r.closed_at() and start <= r.closed_at() < end
    ]
    assert want["closed"] == len(others)
    assert "closed" in want["median_minutes"]  # closing to evaluation is a step taken in this period
    assert _json_rows(client, start, end, "grid")[key] == want
    assert _json_rows(client, closed - timedelta(minutes=1), closed + timedelta(minutes=1), "grid")[key]["closed"] >= 1


def test_bad_periods_are_refused(db_url, engine):
    client = TestClient(create_app(db_url, escalate_every_s=0))
    assert client.get(f"{API}/stats", params={"start": "2027-05-01", "end": "2027-04-01"}).status_code == 422
    assert client.get(f"{API}/stats", params={"start": "2027-04-01", "end": "2027-04-01"}).status_code == 422
    assert (
        client.get(f"{API}/stats", params={"start": "2027-04-01", "end": "2027-05-01", "by": "street"}).status_code
        == 422
    )
    assert client.get(f"{API}/stats", params={"start": "yesterday", "end": "2027-05-01"}).status_code == 422
    r = client.get(f"{API}/stats", params={"start": "2027-04-01T00:00:00", "end": "2027-05-01T00:00:00"})
    assert r.status_code == 200 and r.json()["rows"] == []
    assert datetime.fromisoformat(r.json()["start"]) == PERIOD[0]  # no zone given: China time
