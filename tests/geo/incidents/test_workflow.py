"""The incident workflow over HTTP, with a simulated clock, on both databases.

Every kind is walked through its whole main path and its side paths; illegal transitions are
refused and change nothing; deadlines come from ``geo/incidents/workflows.toml`` (read here, not from the
engine's constants); overdue incidents are flagged and escalated to the grid leader, then to the
community; assignment, reassignment, duplicates, merging and the renovation consultation.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta

import pyproj
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

import geo.incidents.definitions
from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.catalogue.default import default_rows
from geo.incidents.definitions import DEFINITIONS
from geo.settings import get_settings
from geo.worktime.calendar import deadline, elapsed
from tests.support.photos import provide_evidence, without_photos
from tests.support.world import BuildingSpec, CommunitySpec, GridSpec, ResponderSpec, UserSpec, World, WorldSpec

WORKFLOWS = tomllib.loads(DEFINITIONS.read_text(encoding="utf-8"))
GEOD = pyproj.Geod(ellps="WGS84")
START = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in China


# --------------------------------------------------------------------------- the world


def move(p: tuple[float, float], bearing: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(p[0], p[1], bearing, metres)
    return (lon, lat)


def metres(p: tuple[float, float], q: tuple[float, float]) -> float:
    return GEOD.inv(p[0], p[1], q[0], q[1])[2]


GRID_A = (113.040, 23.690, 113.045, 23.695)
GRID_B = (113.045, 23.690, 113.050, 23.695)
CENTRE_A = (113.0425, 23.6925)
CENTRE_B = (113.0475, 23.6925)
BUILDING_1 = (113.0413, 23.6912)
BUILDING_2 = move(BUILDING_1, 90, 70)  # 70 m east of building 1


RESPONDERS = [
    # key, code, name, role, grids, on duty, position
    ("idleA", "T-R01", "闲置网格员", "grid_worker", ["A"], False, move(CENTRE_A, 0, 200)),  # lowest id, but off duty
    ("leaderA", "T-R02", "甲网格长", "grid_leader", ["A"], True, move(CENTRE_A, 180, 120)),
    ("workerA", "T-R03", "甲网格员", "grid_worker", ["A"], True, move(CENTRE_A, 90, 40)),
    ("parttimeA", "T-R04", "甲兼职", "part_time", ["A"], True, move(CENTRE_A, 270, 90)),
    ("leaderB", "T-R05", "乙网格长", "grid_leader", ["B"], True, move(CENTRE_B, 0, 100)),
    ("workerB", "T-R06", "乙网格员", "grid_worker", ["B"], True, move(CENTRE_B, 90, 60)),
    ("police", "T-R07", "片区民警", "police", ["A", "B"], True, move(CENTRE_A, 45, 300)),
]

USERS = [
    # username, role, responder key
    ("admin", "admin", None),
    ("community", "community", None),
    ("leaderA", "grid_leader", "leaderA"),
    ("workerA", "grid_worker", "workerA"),
    ("leaderB", "grid_leader", "leaderB"),
    ("workerB", "grid_worker", "workerB"),
    ("planner", "planner", None),
    ("viewer", "viewer", None),
]

WORLD = WorldSpec(
    start=START,
    communities=(CommunitySpec("441802001001", "翠湖社区", (113.040, 23.690, 113.050, 23.695)),),
    grids=(
        GridSpec("A", "441802001001001", "第一网格", "441802001001", GRID_A),
        GridSpec("B", "441802001001002", "第二网格", "441802001001", GRID_B),
    ),
    responders=tuple(
        ResponderSpec(
            key, code, name, role, tuple(served), pos, phone=f"1390000{n:04d}", on_duty=on_duty, located_at=START
        )
        for n, (key, code, name, role, served, on_duty, pos) in enumerate(RESPONDERS)
    ),
    buildings=tuple(
        BuildingSpec(key, code, f"楼栋{code}", pos, residents=40, households=15)
        for key, code, pos in [("b1", "T-B01", BUILDING_1), ("b2", "T-B02", BUILDING_2)]
    ),
    users=tuple(UserSpec(*u) for u in USERS),
)


@pytest.fixture
def world_spec() -> WorldSpec:
    return WORLD


class Api:
    """A thin client: who acts is a username (None: the public)."""

    def __init__(self, client: TestClient, world: World):
        self.client = client
        self.world = world

    def headers(self, who: str | None, etag: str | None = None) -> dict[str, str]:
        h = {}
        if who is not None:
            h["Authorization"] = f"Bearer {self.world.token[who]}"
        if etag is not None:
            h["If-Match"] = etag
        return h

    def report(self, who, kind, category, where, expect=201, **props):
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(where)},
            "properties": {
                "kind": kind,
                "category": category,
                "title": props.pop("title", f"{kind}/{category}"),
                **props,
            },
        }
        r = self.client.post(f"{API}/incidents", json=body, headers=self.headers(who))
        assert r.status_code == expect, r.text
        return r.json()["properties"] if expect == 201 else r

    def get(self, incident_id, who="community"):
        r = self.client.get(f"{API}/incidents/{incident_id}", headers=self.headers(who))
        assert r.status_code == 200, r.text
        return r.json()["properties"], r.headers["ETag"]

    def act(self, incident_id, action, who, etag=None, **body):
        provide_evidence(self.client, incident_id, action, self.headers("community"))
        if etag is None:
            _, etag = self.get(incident_id)
        return self.client.post(
            f"{API}/incidents/{incident_id}/actions/{action}", json=body, headers=self.headers(who, etag)
        )

    def ok(self, incident_id, action, who, **body):
        r = self.act(incident_id, action, who, **body)
        assert r.status_code == 200, r.text
        return r.json()["properties"]

    def timeline(self, incident_id, who="community"):
        r = self.client.get(f"{API}/incidents/{incident_id}/timeline", headers=self.headers(who))
        assert r.status_code == 200, r.text
        return without_photos(r.json()["timeline"])

    def escalate(self, who="community"):
        r = self.client.post(f"{API}/escalations", headers=self.headers(who))
        assert r.status_code == 200, r.text
        return r.json()["escalated"]

    def snapshot(self, incident_id):
        """Everything a refused request must leave as it was."""
        props, etag = self.get(incident_id)
        keep = (
            "status",
            "version",
            "due_at",
            "escalation",
            "assignee",
            "duplicate_of",
            "rating",
            "people_served",
            "closed_at",
            "description",
            "category",
            "kind",
        )
        return {k: props.get(k) for k in keep}, etag, self.timeline(incident_id)

    def refused(self, incident_id, status: int, response) -> None:
        assert response.status_code == status, response.text
        assert response.json()["detail"]


@pytest.fixture
def api(db_url, world, clock) -> Api:
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = clock
    return Api(TestClient(app), world)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def handling_limit(kind: str, category: str) -> tuple[float, str]:
    """The default catalogue's time limit (condition 1) for a category: (amount, unit)."""
    row = next(r for r in default_rows() if r.kind == kind and r.category == category and r.condition_no == 1)
    return row.time_limit, row.time_unit


def expected_due(
    kind: str, status: str, category: str, since: datetime, workflows: dict = WORKFLOWS
) -> datetime | None:
    """The deadline: in the handling status, the catalogue's time limit in its working-time unit;
    elsewhere the TOML's minutes by category (or "*"); closed statuses have none."""
    spec = workflows[kind]
    awaits = status not in spec["closed"] or any(
        status in a["from"] and a["to"] != "=" for a in spec["actions"].values()
    )  # a closed case awaits its evaluation, and that is due too
    if not awaits:
        return None
    if status == spec.get("handling"):
        return deadline(since, *handling_limit(kind, category))
    minutes = spec.get("deadlines", {}).get(status, {})
    minutes = minutes.get(category, minutes.get("*"))
    return None if minutes is None else since + timedelta(minutes=minutes)


def actions_from(kind: str, status: str) -> list[str]:
    return sorted(name for name, a in WORKFLOWS[kind]["actions"].items() if status in a["from"])


def assert_unchanged(api: Api, incident_id: int, before) -> None:
    assert api.snapshot(incident_id) == before


# --------------------------------------------------------------------------- main paths

# Each step: (action, who, body, status reached, minutes the step takes on the clock).
MAIN_PATHS = {
    "case": (
        "dispute",
        "workerA",
        [
            ("register", "workerA", {}, "registered", 12),
            ("dispatch", "leaderA", {"assignee_id": "police"}, "dispatched", 25),
            ("handle", "workerA", {"comment": "双方已调解"}, "handled", 2000),
            ("check", "leaderA", {"people_served": 6}, "closed", 90),
            ("evaluate", "community", {"rating": 4}, "evaluated", 3000),
        ],
    ),
    "hazard": (
        "fire_safety",
        None,
        [
            ("confirm", "workerA", {}, "confirmed", 45),
            ("rectify", "workerA", {}, "rectifying", 600),
            ("report_rectified", "workerA", {}, "rectified", 3000),
            ("reinspect", "leaderA", {"people_served": 30}, "closed", 700),
        ],
    ),
    "illegal_structure": (
        "rooftop",
        "workerA",
        [
            ("verify", "leaderA", {}, "verified", 1000),  # not the reporter: a 核实 is someone else's
            ("serve_notice", "leaderA", {}, "notice_served", 2000),
            ("demolish", "leaderA", {}, "demolished", 40000),
        ],
    ),
    "renovation": (
        "lighting",
        "planner",
        [
            ("consult", "planner", {}, "in_consultation", 10000),
            ("approve", "planner", {}, "approved", 40000),
            ("start_construction", "planner", {}, "under_construction", 80000),
            ("complete", "planner", {"people_served": 120}, "completed", 100000),
        ],
    ),
}

# The statuses the issue names, in order: the TOML must give exactly these main paths.
ISSUE_PATHS = {
    "case": ["reported", "registered", "dispatched", "handled", "closed", "evaluated"],
    "hazard": ["reported", "confirmed", "rectifying", "rectified", "closed"],
    "illegal_structure": ["reported", "verified", "notice_served", "demolished"],
    "renovation": ["proposed", "in_consultation", "approved", "under_construction", "completed"],
}


@pytest.mark.parametrize("kind", list(MAIN_PATHS))
def test_every_kind_walks_its_main_path_to_the_end(api, clock, world, kind):
    category, reporter, steps = MAIN_PATHS[kind]
    where = move(CENTRE_A, 200, 30)
    props = api.report(reporter, kind, category, where, reporter_name="王五", reporter_phone="13512345678")
    iid = props["id"]
    created = clock.now
    assert props["status"] == ISSUE_PATHS[kind][0] == WORKFLOWS[kind]["initial"]
    assert props["grid"] == "441802001001001"
    assert at(props["due_at"]) == expected_due(kind, props["status"], category, created)
    assert sorted(props["actions"]) == actions_from(kind, props["status"])
    assert props["open"] is True and props["overdue"] is False
    assert at(props["created_at"]) == created
    expected_timeline = [("report", reporter or "public", None, ISSUE_PATHS[kind][0], created)]
    reached = [props["status"]]
    for action, who, body, status, minutes in steps:
        clock.advance(minutes=minutes)
        body = {k: world.responder[v] if k == "assignee_id" else v for k, v in body.items()}
        before = props["status"]
        props = api.ok(iid, action, who, **body)
        reached.append(props["status"])
        assert props["status"] == status
        assert props["status_label"] == WORKFLOWS[kind]["labels"][status]
        assert at(props["status_since"]) == clock.now
        assert at(props["due_at"]) == expected_due(kind, status, category, clock.now)
        assert sorted(props["actions"]) == actions_from(kind, status)
        assert props["escalation"] == 0
        expected_timeline.append((action, who, before, status, clock.now))
        if "assignee_id" in body:
            assert props["assignee"]["id"] == body["assignee_id"]
        if "rating" in body:
            assert props["rating"] == body["rating"]
        if "people_served" in body:
            assert props["people_served"] == body["people_served"]
    assert reached == ISSUE_PATHS[kind]
    assert props["open"] is False and props["due_at"] is None
    # Closed when it first reached an end status (a case's later evaluation does not move it).
    first_end = next(e[4] for e in expected_timeline if e[3] in WORKFLOWS[kind]["closed"])
    assert at(props["closed_at"]) == first_end
    assert props["actions"] == []
    timeline = api.timeline(iid)
    assert [
        (e["action"], e["actor"], e["from_status"], e["to_status"], at(e["at"])) for e in timeline
    ] == expected_timeline
    # Once at the end nothing moves it any more: every action is refused.
    before = api.snapshot(iid)
    for action in WORKFLOWS[kind]["actions"]:
        r = api.act(
            iid, action, "admin", comment="再试一次", rating=3, assignee_id=world.responder["workerA"], target_id=iid
        )
        assert r.status_code == 409, (action, r.text)
    assert_unchanged(api, iid, before)


def test_case_dispatch_records_the_assignee_change_and_the_workflow_endpoint_agrees(api, clock, world):
    iid = api.report("workerA", "case", "aid", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    clock.advance(minutes=10)
    api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["parttimeA"], comment="就近派遣")
    entry = api.timeline(iid)[-1]
    assert entry["action"] == "dispatch" and entry["comment"] == "就近派遣"
    assert entry["changes"]["assignee_id"] == [world.responder["workerA"], world.responder["parttimeA"]]
    r = api.client.get(f"{API}/incidents/{iid}/workflow")
    assert r.status_code == 200
    flow = r.json()
    assert flow["status"] == "dispatched" and flow["kind"] == "case"
    assert sorted(a["action"] for a in flow["actions"]) == actions_from("case", "dispatched")
    assert [s["status"] for s in flow["statuses"]] == WORKFLOWS["case"]["statuses"]
    assert at(flow["due_at"]) == expected_due("case", "dispatched", "aid", clock.now)
    assert flow["overdue"] is False and flow["escalation"] == 0


# --------------------------------------------------------------------------- side paths


def test_case_reject_needs_a_comment(api, world):
    iid = api.report(None, "case", "public_order", CENTRE_B)["id"]
    before = api.snapshot(iid)
    api.refused(iid, 422, api.act(iid, "reject", "leaderB"))
    assert_unchanged(api, iid, before)
    # A grid worker may register but not reject.
    api.refused(iid, 403, api.act(iid, "reject", "workerB", comment="不属实"))
    assert_unchanged(api, iid, before)
    props = api.ok(iid, "reject", "leaderB", comment="经核实不属于网格事项")
    assert props["status"] == "rejected" and props["open"] is False and props["due_at"] is None
    last = api.timeline(iid)[-1]
    assert (last["action"], last["from_status"], last["to_status"], last["comment"]) == (
        "reject",
        "reported",
        "rejected",
        "经核实不属于网格事项",
    )


def test_case_returned_for_rework_then_closed(api, clock, world):
    iid = api.report("workerA", "case", "dispute", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    clock.advance(hours=3)
    api.ok(iid, "handle", "workerA")
    clock.advance(minutes=50)
    before = api.snapshot(iid)
    api.refused(iid, 422, api.act(iid, "return", "leaderA"))  # needs a comment
    api.refused(iid, 403, api.act(iid, "return", "workerA", comment="自己退回"))  # the handler checks not
    assert_unchanged(api, iid, before)
    props = api.ok(iid, "return", "leaderA", comment="处置不彻底，返工")
    assert props["status"] == "dispatched" and props["rework_count"] == 1
    assert at(props["due_at"]) == expected_due("case", "dispatched", "dispute", clock.now)
    clock.advance(hours=5)
    api.ok(iid, "handle", "workerA")
    props = api.ok(iid, "check", "leaderA")
    assert props["status"] == "closed" and props["rework_count"] == 1
    steps = [(e["action"], e["from_status"], e["to_status"]) for e in api.timeline(iid)]
    assert steps == [
        ("report", None, "reported"),
        ("register", "reported", "registered"),
        ("dispatch", "registered", "dispatched"),
        ("handle", "dispatched", "handled"),
        ("return", "handled", "dispatched"),
        ("handle", "dispatched", "handled"),
        ("check", "handled", "closed"),
    ]
    assert [e["step"] for e in api.timeline(iid)] == [
        "report",
        "register",
        "dispatch",
        "handle",
        "rework",
        "handle",
        "close",
    ]


def test_hazard_reinspection_failed_goes_back_to_rectifying(api, clock):
    iid = api.report(None, "hazard", "safety_production", CENTRE_B)["id"]
    for action in ("confirm", "rectify", "report_rectified"):
        clock.advance(minutes=30)
        api.ok(iid, action, "workerB")
    clock.advance(minutes=30)
    before = api.snapshot(iid)
    api.refused(iid, 403, api.act(iid, "reinspect_failed", "workerB", comment="没整改好"))
    api.refused(iid, 422, api.act(iid, "reinspect_failed", "leaderB"))
    assert_unchanged(api, iid, before)
    props = api.ok(iid, "reinspect_failed", "leaderB", comment="复查不合格：灭火器未更换")
    assert props["status"] == "rectifying"
    assert at(props["due_at"]) == expected_due("hazard", "rectifying", "safety_production", clock.now)
    clock.advance(days=2)
    api.ok(iid, "report_rectified", "workerB")
    props = api.ok(iid, "reinspect", "leaderB")
    assert props["status"] == "closed" and props["open"] is False
    assert [e["to_status"] for e in api.timeline(iid)] == [
        "reported",
        "confirmed",
        "rectifying",
        "rectified",
        "rectifying",
        "rectified",
        "closed",
    ]


def test_hazard_reject(api):
    iid = api.report(None, "hazard", "public_safety", CENTRE_B)["id"]
    props = api.ok(iid, "reject", "leaderB", comment="现场无隐患")
    assert props["status"] == "rejected" and props["open"] is False


@pytest.mark.parametrize("from_status", ["verified", "notice_served"])
def test_illegal_structure_legalised(api, from_status):
    iid = api.report("workerA", "illegal_structure", "shed", CENTRE_A)["id"]
    api.ok(iid, "verify", "leaderA")
    if from_status == "notice_served":
        api.ok(iid, "serve_notice", "leaderA")
    before = api.snapshot(iid)
    api.refused(iid, 403, api.act(iid, "legalise", "leaderA", comment="已补办手续"))  # community only
    api.refused(iid, 422, api.act(iid, "legalise", "community"))  # needs a comment
    assert_unchanged(api, iid, before)
    props = api.ok(iid, "legalise", "community", comment="已补办规划许可")
    assert props["status"] == "legalised" and props["open"] is False and props["due_at"] is None
    assert api.timeline(iid)[-1]["from_status"] == from_status


def test_illegal_structure_reject(api):
    iid = api.report("workerA", "illegal_structure", "enclosure", CENTRE_A)["id"]
    props = api.ok(iid, "reject", "community", comment="围挡为临时施工设施")
    assert props["status"] == "rejected"


@pytest.mark.parametrize("from_status", ["proposed", "in_consultation"])
def test_renovation_rejected(api, from_status):
    iid = api.report("planner", "renovation", "parking", CENTRE_A)["id"]
    if from_status == "in_consultation":
        api.ok(iid, "consult", "planner")
    before = api.snapshot(iid)
    api.refused(iid, 422, api.act(iid, "reject", "planner"))
    api.refused(iid, 403, api.act(iid, "reject", "leaderA", comment="不同意"))
    assert_unchanged(api, iid, before)
    props = api.ok(iid, "reject", "planner", comment="居民意见分歧较大，暂缓")
    assert props["status"] == "rejected" and props["open"] is False


# --------------------------------------------------------------------------- illegal transitions and bad input


@pytest.mark.parametrize(
    "kind, category, path, illegal",
    [
        ("case", "aid", [], ["dispatch", "handle", "check", "evaluate", "return", "extend"]),
        ("case", "aid", [("register", "workerA")], ["register", "verify", "handle", "check", "reject", "evaluate"]),
        (
            "case",
            "aid",
            [("register", "workerA"), ("dispatch", "leaderA")],
            ["register", "dispatch", "check", "merge", "evaluate"],
        ),
        ("hazard", "fire_safety", [], ["rectify", "report_rectified", "reinspect", "reinspect_failed"]),
        (
            "hazard",
            "fire_safety",
            [("confirm", "workerA"), ("rectify", "workerA")],
            ["confirm", "reinspect", "merge", "reject"],
        ),
        ("illegal_structure", "rooftop", [], ["serve_notice", "demolish", "legalise"]),
        ("illegal_structure", "rooftop", [("verify", "leaderA")], ["verify", "demolish", "reject"]),
        ("renovation", "road", [], ["approve", "start_construction", "complete"]),
        (
            "renovation",
            "road",
            [("consult", "planner"), ("approve", "planner")],
            ["consult", "approve", "complete", "reject", "merge"],
        ),
    ],
)
def test_illegal_transitions_get_409_and_change_nothing(api, world, kind, category, path, illegal):
    reporter = "planner" if kind == "renovation" else "workerA"
    iid = api.report(reporter, kind, category, CENTRE_A)["id"]
    other = api.report(reporter, kind, category, move(CENTRE_A, 0, 150))["id"]
    for action, who in path:
        api.ok(iid, action, who, **({"assignee_id": world.responder["workerA"]} if action == "dispatch" else {}))
    before = api.snapshot(iid)
    for action in illegal:
        # Give everything an action could need, so only the transition itself is wrong.
        r = api.act(
            iid,
            action,
            "admin",
            comment="试试",
            rating=5,
            assignee_id=world.responder["workerA"],
            target_id=other,
            people_served=1,
        )
        assert r.status_code == 409, (action, r.text)
        assert before[0]["status"] in r.json()["detail"]
    assert_unchanged(api, iid, before)
    # An action the kind does not have is bad input, not a conflict.
    api.refused(iid, 422, api.act(iid, "teleport", "admin"))
    assert_unchanged(api, iid, before)


def test_action_bad_input_changes_nothing(api, world):
    iid = api.report("workerA", "case", "dispute", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    before = api.snapshot(iid)
    api.refused(iid, 422, api.act(iid, "dispatch", "leaderA"))  # no assignee
    api.refused(iid, 422, api.act(iid, "dispatch", "leaderA", assignee_id=987654))  # unknown responder
    api.refused(
        iid, 422, api.act(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"], comment="长" * 2001)
    )
    api.refused(
        iid, 422, api.act(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"], status="closed")
    )  # unknown field
    api.refused(
        iid, 403, api.act(iid, "dispatch", "workerA", assignee_id=world.responder["workerA"])
    )  # role without the right
    api.refused(
        iid, 403, api.act(iid, "dispatch", "leaderB", assignee_id=world.responder["workerB"])
    )  # another grid's leader
    api.refused(
        iid,
        428,
        api.client.post(
            f"{API}/incidents/{iid}/actions/dispatch",
            json={"assignee_id": world.responder["workerA"]},
            headers=api.headers("leaderA"),
        ),
    )
    api.refused(
        iid, 412, api.act(iid, "dispatch", "leaderA", etag=f'"{iid}-1"', assignee_id=world.responder["workerA"])
    )
    # PATCH cannot move the status around the workflow either.
    r = api.client.patch(
        f"{API}/incidents/{iid}", json={"properties": {"status": "closed"}}, headers=api.headers("community", before[1])
    )
    api.refused(iid, 422, r)
    # Nor can it put the incident into another kind's workflow (a "registered" hazard does not exist).
    r = api.client.patch(
        f"{API}/incidents/{iid}",
        json={"properties": {"kind": "hazard", "category": "fire_safety"}},
        headers=api.headers("community", before[1]),
    )
    api.refused(iid, 422, r)
    assert_unchanged(api, iid, before)
    # A comment of exactly the limit is fine.
    props = api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"], comment="长" * 2000)
    assert props["status"] == "dispatched"
    assert api.timeline(iid)[-1]["comment"] == "长" * 2000


def test_evaluation_needs_a_rating_from_1_to_5(api, world):
    iid = api.report("workerA", "case", "aid", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    api.ok(iid, "handle", "workerA")
    api.ok(iid, "check", "leaderA")
    before = api.snapshot(iid)
    for rating in (None, 0, 6):
        api.refused(iid, 422, api.act(iid, "evaluate", "community", **({} if rating is None else {"rating": rating})))
    api.refused(iid, 403, api.act(iid, "evaluate", "leaderA", rating=5))
    assert_unchanged(api, iid, before)
    assert api.ok(iid, "evaluate", "community", rating=5)["rating"] == 5


def test_history_is_append_only_in_the_database(api, engine):
    iid = api.report("workerA", "case", "aid", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    for statement in ("UPDATE incident_history SET actor = 'someone else'", "DELETE FROM incident_history"):
        with pytest.raises(Exception, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    assert [e["actor"] for e in api.timeline(iid)] == ["workerA", "workerA"]


# --------------------------------------------------------------------------- deadlines and escalation


@pytest.mark.parametrize("category", ["dispute", "public_order", "aid"])
def test_case_deadlines_per_status_and_category(api, clock, world, category):
    iid = api.report("workerA", "case", category, CENTRE_A)["id"]
    steps = [
        ("register", "workerA", {}),
        ("dispatch", "leaderA", {"assignee_id": world.responder["workerA"]}),
        ("handle", "workerA", {}),
        ("check", "leaderA", {}),
    ]
    props, _ = api.get(iid)
    assert at(props["due_at"]) == expected_due("case", "reported", category, clock.now)
    for action, who, body in steps:
        clock.advance(minutes=7)
        props = api.ok(iid, action, who, **body)
        want = expected_due("case", props["status"], category, clock.now)
        assert at(props["due_at"]) == want
        if props["status"] == "dispatched":  # the catalogue's limit, in its unit
            amount, unit = handling_limit("case", category)
            assert elapsed(clock.now, want, unit) == pytest.approx(amount)


@pytest.mark.parametrize("category", ["safety_production", "fire_safety"])
def test_hazard_rectification_deadline_depends_on_the_category(api, clock, category):
    iid = api.report(None, "hazard", category, CENTRE_B)["id"]
    api.ok(iid, "confirm", "workerB")
    clock.advance(hours=1)
    props = api.ok(iid, "rectify", "workerB")
    assert at(props["due_at"]) == expected_due("hazard", "rectifying", category, clock.now)
    allowance = at(props["due_at"]) - clock.now
    clock.advance(seconds=allowance.total_seconds() - 1)
    assert api.get(iid)[0]["overdue"] is False
    clock.advance(seconds=2)
    assert api.get(iid)[0]["overdue"] is True


def test_overdue_is_escalated_to_the_grid_leader_then_the_community_once_each(api, clock, world):
    iid = api.report(None, "case", "public_order", CENTRE_A)["id"]
    calm = api.report(None, "illegal_structure", "rooftop", CENTRE_B)["id"]  # a day to verify: not due yet
    reported = clock.now
    due = expected_due("case", "reported", "public_order", reported)
    allowance = due - reported
    props, _ = api.get(iid)
    assert at(props["due_at"]) == due

    clock.now = due - timedelta(seconds=1)
    assert api.get(iid)[0]["overdue"] is False
    assert api.escalate() == []
    clock.now = due  # due means "by then": not yet overdue
    assert api.get(iid)[0]["overdue"] is False
    assert api.escalate() == []

    clock.now = due + timedelta(minutes=1)
    props, _ = api.get(iid)
    assert props["overdue"] is True and props["escalation"] == 0
    assert api.client.get(f"{API}/incidents/{iid}/workflow").json()["overdue"] is True
    # Only community staff run escalations by hand.
    for who in ("workerA", "leaderA", "viewer", "planner"):
        assert api.client.post(f"{API}/escalations", headers=api.headers(who)).status_code == 403
    assert api.client.post(f"{API}/escalations").status_code == 401
    assert api.get(iid)[0]["escalation"] == 0
    first = api.escalate()
    assert first == [
        {
            "incident": iid,
            "level": 1,
            "to": {"role": "grid_leader", "responder_id": world.responder["leaderA"], "name": "甲网格长"},
        }
    ]
    assert api.get(iid)[0]["escalation"] == 1
    assert api.escalate() == []  # running it again does nothing more
    clock.now = due + allowance - timedelta(seconds=1)
    assert api.escalate() == []

    clock.now = due + allowance
    second = api.escalate()
    assert second == [
        {"incident": iid, "level": 2, "to": {"role": "community", "code": "441802001001", "name": "翠湖社区"}}
    ]
    assert api.get(iid)[0]["escalation"] == 2
    assert api.get(calm)[0]["escalation"] == 0
    clock.now = expected_due("illegal_structure", "reported", "rooftop", reported) - timedelta(seconds=1)
    assert api.escalate() == []
    assert api.escalate(who="admin") == []
    clock.advance(days=10)  # only the other incident has anything left to escalate
    assert [e["incident"] for e in api.escalate()] == [calm]
    assert api.escalate() == []

    escalations = [e for e in api.timeline(iid) if e["action"] == "escalate"]
    assert [(e["changes"]["level"], e["actor"], at(e["at"])) for e in escalations] == [
        (1, "system", due + timedelta(minutes=1)),
        (2, "system", due + allowance),
    ]
    assert all(at(e["changes"]["due_at"]) == due for e in escalations)

    # A transition resets the deadline and the escalation.
    props = api.ok(iid, "verify", "workerA")
    assert props["escalation"] == 0 and props["overdue"] is False
    assert at(props["due_at"]) == expected_due("case", "verified", "public_order", clock.now)
    assert api.escalate() == []
    clock.now = at(props["due_at"]) + timedelta(seconds=1)
    assert [(e["incident"], e["level"]) for e in api.escalate()] == [(iid, 1)]


def test_an_incident_far_past_its_deadline_goes_straight_to_the_community(api, clock):
    iid = api.report(None, "hazard", "public_safety", CENTRE_B)["id"]
    clock.advance(days=30)
    assert [(e["incident"], e["level"], e["to"]["role"]) for e in api.escalate()] == [(iid, 2, "community")]
    assert api.escalate() == []
    assert [e["changes"]["level"] for e in api.timeline(iid) if e["action"] == "escalate"] == [2]


def test_closed_incidents_are_never_overdue_or_escalated(api, clock):
    iid = api.report(None, "hazard", "public_safety", CENTRE_B)["id"]
    api.ok(iid, "reject", "leaderB", comment="不属实")
    clock.advance(days=30)
    assert api.get(iid)[0]["overdue"] is False
    assert api.escalate() == []


@pytest.fixture
def deadline_override(tmp_path, monkeypatch):
    path = tmp_path / "deadlines.toml"
    path.write_text(
        '[case.deadlines]\nreported = { "*" = 7, aid = 3 }\n\n[hazard.deadlines]\nrectifying = { fire_safety = 99 }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WANGGE_WORKFLOWS_FILE", str(path))
    get_settings.cache_clear()
    geo.incidents.definitions._load.cache_clear()
    yield path
    monkeypatch.delenv("WANGGE_WORKFLOWS_FILE")
    get_settings.cache_clear()
    geo.incidents.definitions._load.cache_clear()


def test_deadlines_are_configurable_with_a_workflows_file(api, clock, deadline_override):
    dispute = api.report(None, "case", "dispute", CENTRE_A)
    aid = api.report(None, "case", "aid", CENTRE_A)
    assert at(dispute["due_at"]) == clock.now + timedelta(minutes=7)
    assert at(aid["due_at"]) == clock.now + timedelta(minutes=3)
    # Entries the file does not give keep their defaults.
    props = api.ok(dispute["id"], "verify", "workerA")
    assert at(props["due_at"]) == expected_due("case", "verified", "dispute", clock.now)
    fire = api.report(None, "hazard", "fire_safety", CENTRE_B)["id"]
    other = api.report(None, "hazard", "safety_production", move(CENTRE_B, 0, 200))["id"]
    for iid in (fire, other):
        api.ok(iid, "confirm", "workerB")
    # The handling status counts the catalogue's time limit in working time: the file's minutes
    # for it apply only to an incident with no catalogue entry.
    assert at(api.ok(fire, "rectify", "workerB")["due_at"]) == expected_due(
        "hazard", "rectifying", "fire_safety", clock.now
    )
    assert expected_due("hazard", "rectifying", "fire_safety", clock.now) != clock.now + timedelta(minutes=99)
    assert at(api.ok(other, "rectify", "workerB")["due_at"]) == expected_due(
        "hazard", "rectifying", "safety_production", clock.now
    )
    # The override drives escalation too.
    clock.advance(minutes=8)
    assert [e["incident"] for e in api.escalate()] == [aid["id"]]


# --------------------------------------------------------------------------- assignment


def test_new_incident_goes_to_the_full_time_worker_on_duty_of_its_grid(api, world):
    a = api.report(None, "hazard", "fire_safety", CENTRE_A)
    b = api.report(None, "case", "aid", CENTRE_B)
    assert a["assignee"]["id"] == world.responder["workerA"]  # not the off-duty one with the lower id
    assert a["assignee"]["role"] == "grid_worker"
    assert b["assignee"]["id"] == world.responder["workerB"]
    report = api.timeline(a["id"])[0]
    assert report["action"] == "report" and report["changes"]["assignee_id"] == world.responder["workerA"]


def test_reassignment_is_recorded_and_checked(api, clock, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    clock.advance(minutes=5)
    _, etag = api.get(iid)
    before = api.snapshot(iid)

    def assign(who, responder_id, tag=etag, **extra):
        return api.client.post(
            f"{API}/incidents/{iid}/assign", json={"responder_id": responder_id, **extra}, headers=api.headers(who, tag)
        )

    api.refused(iid, 422, assign("leaderA", 424242))
    api.refused(iid, 403, assign("workerA", world.responder["parttimeA"]))
    api.refused(iid, 403, assign("leaderB", world.responder["workerB"]))
    api.refused(
        iid,
        428,
        api.client.post(
            f"{API}/incidents/{iid}/assign",
            json={"responder_id": world.responder["parttimeA"]},
            headers=api.headers("leaderA"),
        ),
    )
    api.refused(iid, 422, assign("leaderA", world.responder["parttimeA"], comment="x" * 2001))
    assert_unchanged(api, iid, before)

    r = assign("leaderA", world.responder["parttimeA"], comment="网格员请假，改派兼职")
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["assignee"]["id"] == world.responder["parttimeA"]
    assert r.headers["ETag"] != etag
    entry = api.timeline(iid)[-1]
    assert entry["action"] == "assign" and entry["actor"] == "leaderA" and at(entry["at"]) == clock.now
    assert entry["changes"]["assignee_id"] == [world.responder["workerA"], world.responder["parttimeA"]]
    assert entry["from_status"] == entry["to_status"] == "reported"
    props, _ = api.get(iid)
    assert props["status"] == "reported" and props["due_at"] == before[0]["due_at"]  # reassigning is not a step
    # The old ETag is stale now.
    api.refused(iid, 412, assign("leaderA", world.responder["workerA"]))


def test_dispatch_suggests_the_nearest_on_duty_responders(api, world):
    where = move(CENTRE_A, 10, 20)
    iid = api.report(None, "case", "aid", where)["id"]
    r = api.client.get(
        f"{API}/incidents/{iid}/responders", params={"on_duty": "true", "k": 4}, headers=api.headers("leaderA")
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["incident"] == iid and got["grid"] == "441802001001001"
    on_duty = [k for k, _c, _n, _r, _g, duty, _p in RESPONDERS if duty]
    want = sorted(on_duty, key=lambda k: metres(where, world.position[k]))[:4]
    assert [p["id"] for p in got["responders"]] == [world.responder[k] for k in want]
    for p in got["responders"]:
        key = next(k for k, v in world.responder.items() if v == p["id"])
        assert p["distance_m"] == pytest.approx(metres(where, world.position[key]), abs=0.01)
        assert p["serves_grid"] == ("441802001001001" in p["grids"])
    assert world.responder["idleA"] not in [p["id"] for p in got["responders"]]
    # Any of them can be picked.
    api.ok(iid, "verify", "workerA")
    api.ok(iid, "register", "leaderA")
    assert (
        api.ok(iid, "dispatch", "leaderA", assignee_id=got["responders"][-1]["id"])["assignee"]["id"]
        == got["responders"][-1]["id"]
    )


# --------------------------------------------------------------------------- duplicates


def test_possible_duplicates_by_distance_kind_category_and_building(api, world):
    x = api.report(None, "hazard", "fire_safety", CENTRE_B)  # no building within reach
    assert x["building"] is None and x["possible_duplicates"] == []
    near = move(CENTRE_B, 0, 40)
    far = move(CENTRE_B, 180, 65)
    assert metres(near, CENTRE_B) < 50 < 60 < metres(far, CENTRE_B)
    y = api.report(None, "hazard", "fire_safety", near)
    assert y["possible_duplicates"] == [x["id"]]
    z = api.report(None, "hazard", "fire_safety", far)
    assert x["id"] not in z["possible_duplicates"]
    # Same place, another category or another kind: not a duplicate.
    assert api.report(None, "hazard", "public_safety", near)["possible_duplicates"] == []
    assert api.report("workerB", "case", "aid", near)["possible_duplicates"] == []
    # The flag is kept on the incident and in its timeline.
    props, _ = api.get(y["id"])
    assert props["possible_duplicates"] == [x["id"]]
    assert api.timeline(y["id"])[0]["changes"]["possible_duplicates"] == [x["id"]]


def test_possible_duplicate_on_the_same_building_beyond_the_radius(api, world):
    first = api.report("workerA", "illegal_structure", "extension", BUILDING_1)
    assert first["building"] == world.building["b1"]
    west = move(BUILDING_1, 270, 80)  # farther than 50 m, but building 1 is still the nearest building
    assert metres(west, BUILDING_1) < metres(west, BUILDING_2)
    second = api.report("workerA", "illegal_structure", "extension", west)
    assert second["building"] == world.building["b1"]
    assert second["possible_duplicates"] == [first["id"]]
    # 70 m away, at the next building: neither near enough nor on the same building.
    third = api.report("workerA", "illegal_structure", "extension", BUILDING_2)
    assert third["building"] == world.building["b2"]
    assert third["possible_duplicates"] == []


def test_a_closed_incident_is_not_a_possible_duplicate(api):
    old = api.report(None, "hazard", "public_safety", CENTRE_B)["id"]
    api.ok(old, "reject", "leaderB", comment="不属实")
    assert api.report(None, "hazard", "public_safety", move(CENTRE_B, 90, 10))["possible_duplicates"] == []


def test_merge_a_duplicate_into_the_open_original(api, clock, world):
    original = api.report(None, "case", "public_order", CENTRE_A)["id"]
    clock.advance(minutes=3)
    dup = api.report(None, "case", "public_order", move(CENTRE_A, 45, 20))
    assert dup["possible_duplicates"] == [original]
    closed = api.report(None, "case", "public_order", move(CENTRE_A, 0, 200))["id"]
    api.ok(closed, "reject", "leaderA", comment="不属实")
    hazard = api.report(None, "hazard", "public_safety", CENTRE_A)["id"]
    before = api.snapshot(dup["id"])
    original_before = api.snapshot(original)
    api.refused(dup["id"], 422, api.act(dup["id"], "merge", "workerA"))  # no target
    api.refused(dup["id"], 422, api.act(dup["id"], "merge", "workerA", target_id=dup["id"]))
    api.refused(dup["id"], 422, api.act(dup["id"], "merge", "workerA", target_id=hazard))  # another kind
    api.refused(dup["id"], 422, api.act(dup["id"], "merge", "workerA", target_id=99999))
    api.refused(dup["id"], 409, api.act(dup["id"], "merge", "workerA", target_id=closed))  # not open
    api.refused(dup["id"], 403, api.act(dup["id"], "merge", "workerB", target_id=original))  # another grid's worker
    assert_unchanged(api, dup["id"], before)
    assert_unchanged(api, original, original_before)

    clock.advance(minutes=2)
    props = api.ok(dup["id"], "merge", "workerA", target_id=original, comment="同一起噪音投诉")
    assert props["status"] == "duplicate" and props["duplicate_of"] == original and props["open"] is False
    last = api.timeline(dup["id"])[-1]
    assert (last["action"], last["from_status"], last["to_status"]) == ("merge", "reported", "duplicate")
    assert last["changes"]["duplicate_of"] == original
    absorbed = api.timeline(original)[-1]
    assert (
        absorbed["action"] == "absorb"
        and absorbed["changes"] == {"merged": dup["id"]}
        and at(absorbed["at"]) == clock.now
    )
    props, _ = api.get(original)
    assert props["status"] == "reported" and props["open"] is True
    # Merged ones are no longer offered as duplicates of new reports.
    again = api.report(None, "case", "public_order", move(CENTRE_A, 45, 10))
    assert again["possible_duplicates"] == [original]


def test_renovation_merge(api):
    first = api.report("planner", "renovation", "elevator", BUILDING_2)["id"]
    api.ok(first, "consult", "planner")
    second = api.report("planner", "renovation", "elevator", move(BUILDING_2, 0, 10))
    assert second["possible_duplicates"] == [first]
    props = api.ok(second["id"], "merge", "planner", target_id=first)
    assert props["status"] == "duplicate" and props["duplicate_of"] == first


# --------------------------------------------------------------------------- renovation consultation


def consultation(props) -> dict:
    value = props.get("consultation") or {}
    return json.loads(value) if isinstance(value, str) else value


def test_renovation_consultation_counts_support_and_opposition(api, clock):
    iid = api.report("planner", "renovation", "elevator", BUILDING_1)["id"]

    def comment(who, text, stance=None):
        body = {"text": text, **({"stance": stance} if stance else {})}
        return api.client.post(f"{API}/incidents/{iid}/comments", json=body, headers=api.headers(who))

    # Before the consultation the public may not take part.
    assert comment(None, "支持", "support").status_code == 409
    assert comment(None, "支持").status_code == 401
    api.ok(iid, "consult", "planner")
    stances = [
        (None, "support"),
        (None, "support"),
        ("viewer", "oppose"),
        (None, "oppose"),
        ("community", "support"),
        (None, None),
    ]
    for n, (who, stance) in enumerate(stances):
        clock.advance(minutes=1)
        r = comment(who, f"居民意见{n}", stance)
        assert r.status_code == 201, r.text
    props, _ = api.get(iid)
    assert consultation(props) == {"support": 3, "oppose": 2, "comments": 6}
    before = api.snapshot(iid)
    r = comment(None, "长" * 2001, "support")
    assert r.status_code == 422 and "2000" in r.json()["detail"]
    assert comment(None, "长" * 2001).status_code == 422
    assert comment(None, "", "support").status_code == 422
    assert comment(None, "随便", "maybe").status_code == 422
    assert_unchanged(api, iid, before)
    assert consultation(api.get(iid)[0]) == {"support": 3, "oppose": 2, "comments": 6}
    comments = [e for e in api.timeline(iid) if e["action"] == "comment"]
    assert [e["changes"].get("stance") for e in comments] == [s for _w, s in stances]
    assert [e["actor"] for e in comments] == ["public", "public", "viewer", "public", "community", "public"]
    # After the consultation the counts stay; no more stances are taken.
    api.ok(iid, "approve", "planner")
    assert comment(None, "晚了", "support").status_code == 409
    assert consultation(api.get(iid)[0]) == {"support": 3, "oppose": 2, "comments": 6}


def test_stances_are_only_for_renovation_points(api):
    iid = api.report(None, "hazard", "fire_safety", CENTRE_A)["id"]
    before = api.snapshot(iid)
    r = api.client.post(
        f"{API}/incidents/{iid}/comments", json={"text": "支持", "stance": "support"}, headers=api.headers("workerA")
    )
    assert r.status_code == 409
    r = api.client.post(f"{API}/incidents/{iid}/comments", json={"text": "我也看到了"})
    assert r.status_code == 401  # the public: only renovation points in consultation
    r = api.client.post(f"{API}/incidents/{iid}/comments", json={"text": "我也看到了"}, headers=api.headers("viewer"))
    assert r.status_code == 403
    assert_unchanged(api, iid, before)
    r = api.client.post(
        f"{API}/incidents/{iid}/comments", json={"text": "已电话联系业主"}, headers=api.headers("workerA")
    )
    assert r.status_code == 201
    assert api.timeline(iid)[-1]["comment"] == "已电话联系业主"
