"""Working-time deadlines, suspension (挂账), extension (延期), re-work (返工), checks on site by
someone else (核实 before 立案, 核查 before 结案), supervision (督办) and the timeline's snapshot
columns: incidents moved through the real engine over HTTP, with a simulated clock, on both
databases.

Every deadline below is worked out by hand in the comments, on the default working periods
08:30–12:00 and 14:30–17:30 (3.5 h + 3 h = 6.5 h a working day) and the State Council's 2026
calendar: 劳动节 1–5 May off, 国庆节 1–7 October off with Saturday 10 October a 调休 working day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.catalogue.default import default_rows
from geo.db.session import session_scope
from geo.models import IncidentHistory
from geo.settings import get_settings
from tests.geo.incidents.test_workflow import Api
from tests.support.worktime import at as china
from tests.support.world import CommunitySpec, GridSpec, ResponderSpec, UserSpec, WorldSpec

GRID_A = (113.040, 23.690, 113.045, 23.695)
GRID_B = (113.045, 23.690, 113.050, 23.695)
CENTRE_A = (113.0425, 23.6925)


def _east(metres: float) -> tuple[float, float]:
    return (CENTRE_A[0] + metres / 102_000, CENTRE_A[1])


RESPONDERS = [
    # key, role, grids, position: worker2 stands nearest the incidents, then the leader
    ("leaderA", "grid_leader", ("A",), _east(300)),
    ("workerA", "grid_worker", ("A",), _east(400)),
    ("worker2", "grid_worker", ("A",), _east(50)),
    ("workerB", "grid_worker", ("B",), _east(20)),  # nearest of all, but serves another grid
]
USERS = [
    ("community", "community", None),
    ("leaderA", "grid_leader", "leaderA"),
    ("workerA", "grid_worker", "workerA"),
    ("worker2", "grid_worker", "worker2"),
    ("workerB", "grid_worker", "workerB"),
]
START = china(2026, 3, 2, 9, 0).astimezone(UTC)  # Monday 2 March 2026, 09:00 in China

WORLD = WorldSpec(
    start=START,
    communities=(CommunitySpec("441802001001", "翠湖社区", (113.040, 23.690, 113.050, 23.695)),),
    grids=(
        GridSpec("A", "441802001001001", "第一网格", "441802001001", GRID_A),
        GridSpec("B", "441802001001002", "第二网格", "441802001001", GRID_B),
    ),
    responders=tuple(
        ResponderSpec(
            key, f"G-R{n:02d}", key, role, grids, pos, phone=f"1390000{n:04d}", on_duty=True, located_at=START
        )
        for n, (key, role, grids, pos) in enumerate(RESPONDERS)
    ),
    users=tuple(UserSpec(*u) for u in USERS),
)


@pytest.fixture
def world_spec() -> WorldSpec:
    return WORLD


@pytest.fixture
def api(db_url, world, clock) -> Api:
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = clock
    return Api(TestClient(app), world)


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def bare(api: Api, incident_id: int, action: str, who: str, **body):
    """An action sent without taking the photos it needs first."""
    return api.client.post(
        f"{API}/incidents/{incident_id}/actions/{action}", json=body, headers=api.headers(who, api.get(incident_id)[1])
    )


def refused_unchanged(api: Api, incident_id: int, status: int, send, words: str) -> None:
    """The request is refused with ``status`` and a message saying ``words``; nothing changes."""
    before = api.snapshot(incident_id)
    r = send()
    api.refused(incident_id, status, r)
    assert words in r.json()["detail"]
    assert api.snapshot(incident_id) == before


def limit(engine, incident_id: int, amount: float, unit: str) -> None:
    """The time limit the catalogue entry gives the incident (the catalogue's part fills it)."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE incidents SET time_limit = :a, time_unit = :u WHERE id = :i"),
            {"a": amount, "u": unit, "i": incident_id},
        )


def dispatched_case(api: Api, clock, engine, at: datetime, amount: float, unit: str, category="dispute") -> int:
    """A case reported on site by workerA, registered and dispatched to workerA at ``at``."""
    clock.now = at.astimezone(UTC) - timedelta(minutes=10)
    iid = api.report("workerA", "case", category, CENTRE_A)["id"]
    limit(engine, iid, amount, unit)
    api.ok(iid, "register", "workerA")
    clock.now = at.astimezone(UTC)
    props = api.ok(iid, "dispatch", "leaderA", assignee_id=api.world.responder["workerA"])
    assert props["status"] == "dispatched"
    return iid


# --------------------------------------------------------------------------- deadlines in working time


@pytest.mark.parametrize(
    "start, amount, unit, due",
    [
        # Across a weekend: Friday 6 March 16:00 + 2 工作日 (13 working hours). Friday 16:00–17:30
        # 1.5 h (11.5 left); Saturday, Sunday none; Monday 9th a full 6.5 h (5 left); Tuesday 10th
        # 08:30–12:00 3.5 h (1.5 left), 14:30 + 1.5 h = 16:00 — the same time two working days on.
        (china(2026, 3, 6, 16, 0), 2, "working_days", china(2026, 3, 10, 16, 0)),
        # Across 劳动节: Thursday 30 April 10:00 + 8 工作时. 10:00–12:00 2 h, 14:30–17:30 3 h (3 left);
        # 1 May (Fri) holiday, 2–3 weekend, 4–5 May (Mon, Tue) holidays; Wednesday 6 May 08:30 + 3 h
        # = 11:30.
        (china(2026, 4, 30, 10, 0), 8, "working_hours", china(2026, 5, 6, 11, 30)),
        # Onto a 调休 Saturday: Friday 9 October 15:00 + 4 工作时. 15:00–17:30 2.5 h (1.5 left);
        # Saturday 10 October is a make-up working day: 08:30 + 1.5 h = 10:00.
        (china(2026, 10, 9, 15, 0), 4, "working_hours", china(2026, 10, 10, 10, 0)),
        # 紧急工时 run around the clock: Friday 16:00 + 24 h = Saturday 16:00.
        (china(2026, 3, 6, 16, 0), 24, "emergency_hours", china(2026, 3, 7, 16, 0)),
    ],
    ids=["weekend", "labour-day", "tiaoxiu-saturday", "emergency-hours"],
)
def test_handling_deadline_lands_where_the_hand_calculation_says(api, clock, engine, start, amount, unit, due):
    iid = dispatched_case(api, clock, engine, start, amount, unit)
    props, _ = api.get(iid)
    assert when(props["handling_due_at"]) == due
    assert when(props["due_at"]) == due
    clock.now = due.astimezone(UTC)
    assert api.get(iid)[0]["overdue"] is False  # due means "by then"
    clock.now = due.astimezone(UTC) + timedelta(seconds=1)
    assert api.get(iid)[0]["overdue"] is True


def test_without_a_time_limit_the_workflows_minutes_apply(api, clock, engine, world):
    iid = api.report("workerA", "case", "public_order", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    props = api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    assert when(props["handling_due_at"]) == clock.now + timedelta(minutes=240)  # public_order in workflows.toml


def test_a_category_change_recomputes_the_open_deadline(api, clock, engine):
    # Monday 2 March 09:00 + 1 工作日 = Tuesday 3 March 09:00.
    iid = dispatched_case(api, clock, engine, china(2026, 3, 2, 9, 0), 1, "working_days")
    assert when(api.get(iid)[0]["due_at"]) == china(2026, 3, 3, 9, 0)
    clock.advance(hours=1)
    # The new category's entry in the default catalogue: 4 紧急工时.
    (entry,) = [r for r in default_rows() if r.category == "public_order" and r.condition_no == 1]
    assert (entry.time_limit, entry.time_unit) == (4, "emergency_hours")
    props, etag = api.get(iid)
    r = api.client.patch(
        f"{API}/incidents/{iid}",
        json={"properties": {"category": "public_order"}},
        headers=api.headers("community", etag),
    )
    assert r.status_code == 200, r.text
    # Counted from the dispatch, not from the change: 09:00 + 4 h around the clock = 13:00.
    assert when(r.json()["properties"]["due_at"]) == china(2026, 3, 2, 13, 0)
    row = api.timeline(iid)[-1]
    assert (row["action"], row["step"]) == ("update", "recategorise")


def test_a_year_the_calendar_does_not_know_is_503_with_a_clear_message_when_told_to_refuse(
    api, clock, engine, world, monkeypatch
):
    clock.now = datetime(2031, 3, 3, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
    first, second = (api.report("workerA", "case", "dispute", CENTRE_A)["id"] for _ in range(2))
    for iid in (first, second):
        limit(engine, iid, 1, "working_days")
        api.ok(iid, "register", "workerA")
    # By default a year nobody covers counts Monday to Friday: one 工作日 from Monday 09:00 is
    # Tuesday 09:00.
    props = api.ok(first, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    assert when(props["handling_due_at"]) == datetime(2031, 3, 4, 1, 0, tzinfo=UTC)
    monkeypatch.setattr(get_settings(), "work_calendar_unknown_years", "refuse")
    before = api.snapshot(second)
    r = api.act(second, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    assert r.status_code == 503, r.text
    assert "2031" in r.json()["detail"] and "calendar" in r.json()["detail"]
    assert api.snapshot(second) == before


# --------------------------------------------------------------------------- suspension and extension


def test_a_suspension_stops_the_clock_and_an_extension_adds_time(api, clock, engine, world):
    # Friday 6 March 16:00 + 2 工作日: due Tuesday 10 March 16:00 (see above).
    iid = dispatched_case(api, clock, engine, china(2026, 3, 6, 16, 0), 2, "working_days")
    # Suspended Tuesday 15:00, one hour of working time before the deadline.
    clock.now = china(2026, 3, 10, 15, 0).astimezone(UTC)
    before = api.snapshot(iid)
    api.refused(iid, 422, api.act(iid, "suspend", "leaderA"))  # a suspension needs its reason
    api.refused(iid, 403, api.act(iid, "suspend", "workerA", comment="等待配件"))  # approved by a leader
    api.refused(iid, 409, api.act(iid, "resume", "leaderA"))  # not suspended
    assert api.snapshot(iid) == before
    props = api.ok(iid, "suspend", "leaderA", comment="等待供电部门配合，社区批准挂账")
    assert props["suspended"] is True and when(props["suspended_at"]) == clock.now
    suspend_row = api.timeline(iid)[-1]
    assert (suspend_row["step"], suspend_row["actor"], suspend_row["comment"]) == (
        "suspend",
        "leaderA",
        "等待供电部门配合，社区批准挂账",
    )
    # Wednesday 09:00: past the old deadline, but the clock is stopped: not overdue, not escalated.
    clock.now = china(2026, 3, 11, 9, 0).astimezone(UTC)
    assert api.get(iid)[0]["overdue"] is False
    assert api.escalate() == []
    api.refused(iid, 409, api.act(iid, "handle", "workerA"))  # resume first
    # Resumed Wednesday 10:00. Suspended working time: Tuesday 15:00–17:30 2.5 h + Wednesday
    # 08:30–10:00 1.5 h = 4 h. Old deadline Tuesday 16:00 + 4 working hours: 16:00–17:30 1.5 h,
    # Wednesday 08:30 + 2.5 h = 11:00.
    clock.now = china(2026, 3, 11, 10, 0).astimezone(UTC)
    props = api.ok(iid, "resume", "leaderA")
    assert props["suspended"] is False
    assert when(props["handling_due_at"]) == when(props["due_at"]) == china(2026, 3, 11, 11, 0)
    # 延期 by 1 工作日 (the entry's unit), with its reason: Wednesday 11:00 + 6.5 h = Thursday 11:00.
    api.refused(iid, 422, api.act(iid, "extend", "leaderA", comment="需协调物业"))  # no amount
    api.refused(iid, 422, api.act(iid, "extend", "leaderA", amount=1))  # no reason
    props = api.ok(iid, "extend", "leaderA", amount=1, comment="需协调物业，延期一个工作日")
    assert when(props["handling_due_at"]) == china(2026, 3, 12, 11, 0)
    extend_row = api.timeline(iid)[-1]
    assert extend_row["step"] == "extend" and extend_row["changes"]["unit"] == "working_days"
    # Handled Thursday 09:00: working hours from the dispatch (Friday 16:00) are Friday 1.5 +
    # Monday 6.5 + Tuesday 6.5 + Wednesday 6.5 + Thursday 0.5 = 21.5, less the 4 suspended = 17.5.
    clock.now = china(2026, 3, 12, 9, 0).astimezone(UTC)
    api.ok(iid, "handle", "workerA")
    handle = api.timeline(iid)[-1]
    assert handle["step"] == "handle"
    assert handle["work_hours"] == pytest.approx(17.5)
    assert when(handle["due_at"]) == china(2026, 3, 12, 11, 0) and handle["on_time"] is True


def test_suspension_outside_the_handling_moves_the_allowance_by_the_time_suspended(api, clock, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    due = when(api.get(iid)[0]["due_at"])
    clock.advance(minutes=10)
    api.ok(iid, "suspend", "leaderA", comment="报告人联系不上")
    clock.advance(hours=2)
    props = api.ok(iid, "resume", "leaderA")
    assert when(props["due_at"]) == due + timedelta(hours=2)


# --------------------------------------------------------------------------- checks by someone else


def test_a_public_report_is_verified_on_site_before_it_is_registered(api, clock, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    props, _ = api.get(iid)
    assert props["pending_check"] == "verify"
    # The suggested checker: the nearest on-duty grid worker or leader serving the grid.
    assert props["checker"]["id"] == world.responder["worker2"]
    refused_unchanged(api, iid, 409, lambda: api.act(iid, "register", "leaderA"), "核实")
    clock.advance(minutes=20)
    props = api.ok(iid, "verify", "worker2")
    assert props["status"] == "verified" and props["checker"] is None
    row = api.timeline(iid)[-1]
    assert (row["step"], row["on_time"], row["changes"]["check"]) == ("verify", True, "核实")
    assert api.ok(iid, "register", "leaderA")["status"] == "registered"


def test_a_grid_workers_own_on_site_report_is_registered_directly(api, world):
    iid = api.report("workerA", "case", "dispute", CENTRE_A)["id"]
    assert api.get(iid)[0]["checker"] is None  # no 核实 to do
    assert api.ok(iid, "register", "workerA")["status"] == "registered"


def test_a_reporter_cannot_verify_their_own_report(api, world):
    iid = api.report("workerA", "illegal_structure", "rooftop", CENTRE_A)["id"]
    props, _ = api.get(iid)
    assert props["checker"]["id"] == world.responder["worker2"]
    refused_unchanged(api, iid, 403, lambda: api.act(iid, "verify", "workerA"), "cannot verify their own report")
    assert api.ok(iid, "verify", "worker2")["status"] == "verified"


def test_a_handler_cannot_check_their_own_work_and_a_different_worker_can(api, clock, world):
    iid = api.report("workerA", "case", "dispute", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    clock.advance(hours=2)
    api.ok(iid, "handle", "workerA")
    props, _ = api.get(iid)
    assert props["pending_check"] == "inspect"
    assert props["checker"]["id"] == world.responder["worker2"]  # nearest, and not the handler
    before = api.snapshot(iid)
    for action in ("check", "return"):
        r = api.act(iid, action, "workerA", comment="自查")
        api.refused(iid, 403, r)
        assert "a handler cannot verify their own work" in r.json()["detail"].lower()
    assert api.snapshot(iid) == before
    # The leader names another checker; the handler cannot be named.
    _, etag = api.get(iid)
    r = api.client.post(
        f"{API}/incidents/{iid}/assign",
        json={"responder_id": world.responder["workerA"], "checker": True},
        headers=api.headers("leaderA", etag),
    )
    assert r.status_code == 409 and "handler" in r.json()["detail"]
    r = api.client.post(
        f"{API}/incidents/{iid}/assign",
        json={"responder_id": world.responder["leaderA"], "checker": True},
        headers=api.headers("leaderA", etag),
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["checker"]["id"] == world.responder["leaderA"]
    # Handled by workerA for another assignee: neither may check.
    props = api.ok(iid, "return", "worker2", comment="现场仍有杂物，返工")
    assert props["rework_count"] == 1 and props["status"] == "dispatched"
    clock.advance(hours=1)
    api.ok(iid, "handle", "leaderA")
    for who in ("leaderA", "workerA"):
        api.refused(iid, 403, bare(api, iid, "check", who))
    # A check needs its on-site photo.
    r = bare(api, iid, "check", "worker2")
    assert r.status_code == 422 and "'verify' photo" in r.json()["detail"]
    props = api.ok(iid, "check", "worker2", people_served=2)
    assert props["status"] == "closed" and props["rework_count"] == 1
    row = api.timeline(iid)[-1]
    assert (row["action"], row["step"], row["changes"]["check"]) == ("check", "close", "核查")


def test_hazard_reinspection_is_a_check_by_someone_else(api, world):
    iid = api.report(None, "hazard", "fire_safety", CENTRE_A)["id"]
    for action in ("confirm", "rectify", "report_rectified"):
        api.ok(iid, action, "leaderA")
    api.refused(iid, 403, api.act(iid, "reinspect", "leaderA"))
    # workerA is the assignee the leader handled it for: not them either; grid workers may not
    # reinspect a hazard at all (the definition leaves it to leaders and the community).
    assert api.ok(iid, "reinspect", "community")["status"] == "closed"


# --------------------------------------------------------------------------- the checker's task


def test_the_checker_sees_the_check_as_a_task_with_the_photo_it_needs(api, clock, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    r = api.client.get(f"{API}/tasks", headers=api.headers("worker2"))
    assert r.status_code == 200, r.text
    task = next(f for f in r.json()["features"] if f["id"] == iid)
    check = task["properties"]["my_check"]
    assert check == {"check": "verify", "label": "核实", "photo": "verify", "actions": ["verify"]}
    assert "verify" in [a["action"] for a in task["properties"]["my_actions"]]
    # Not the others' check.
    r = api.client.get(f"{API}/tasks", headers=api.headers("workerA"))
    task = next(f for f in r.json()["features"] if f["id"] == iid)
    assert task["properties"]["my_check"] is None


def test_a_checker_named_from_another_grid_sees_and_does_the_check(api, clock, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    _, etag = api.get(iid)
    r = api.client.post(
        f"{API}/incidents/{iid}/assign",
        json={"responder_id": world.responder["workerB"], "checker": True},
        headers=api.headers("leaderA", etag),
    )
    assert r.status_code == 200, r.text
    r = api.client.get(f"{API}/tasks", headers=api.headers("workerB"))
    assert iid in [f["id"] for f in r.json()["features"]]
    assert api.ok(iid, "verify", "workerB")["status"] == "verified"
    api.refused(iid, 403, api.act(iid, "register", "workerB"))  # only the check, not the rest


# --------------------------------------------------------------------------- supervision


def test_supervision_of_an_overdue_incident_is_recorded_and_shown_to_the_assignee(api, clock, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    other = api.report(None, "case", "dispute", _east(10))["id"]
    before = api.snapshot(iid)
    r = api.act(iid, "supervise", "leaderA", comment="请立即核实")
    api.refused(iid, 409, r)  # not overdue yet
    assert "overdue" in r.json()["detail"]
    clock.advance(hours=1)  # 30 minutes to verify: both overdue now
    api.refused(iid, 403, api.act(iid, "supervise", "workerA", comment="催办"))
    api.refused(iid, 422, api.act(iid, "supervise", "leaderA"))  # the order's text
    assert api.snapshot(iid)[0] == {**before[0], "version": before[0]["version"]}
    props = api.ok(iid, "supervise", "leaderA", comment="超期未核实，请今日内办结")
    assert props["supervision_count"] == 1 and props["status"] == "reported"
    row = api.timeline(iid)[-1]
    assert row["step"] == "supervise" and row["changes"]["order"] == "超期未核实，请今日内办结"
    assert row["changes"]["to"] == world.responder["workerA"]
    # The assignee's task list: the supervised incident first, with the order.
    r = api.client.get(f"{API}/tasks", headers=api.headers("workerA"))
    features = r.json()["features"]
    assert [f["id"] for f in features][:2] == [iid, other]
    assert features[0]["properties"]["supervision"]["order"] == "超期未核实，请今日内办结"
    assert features[0]["properties"]["supervision"]["count"] == 1
    assert features[1]["properties"]["supervision"] is None


# --------------------------------------------------------------------------- the timeline's columns


def test_every_row_carries_its_snapshot_and_timed_rows_their_punctuality(api, clock, engine, world):
    iid = api.report(None, "case", "dispute", CENTRE_A)["id"]
    clock.advance(minutes=45)  # 30 allowed: the verification is late
    api.ok(iid, "verify", "worker2")
    api.ok(iid, "register", "leaderA")
    limit(engine, iid, 1, "working_days")
    clock.now = china(2026, 3, 3, 9, 0).astimezone(UTC)
    api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    clock.now = china(2026, 3, 3, 15, 0).astimezone(UTC)  # 3 + 0.5 working hours later
    api.ok(iid, "handle", "workerA")
    clock.advance(hours=1)
    api.ok(iid, "check", "worker2")
    clock.advance(days=1)
    api.ok(iid, "evaluate", "community", rating=5)
    with session_scope(engine) as s:
        rows = list(
            s.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == iid).order_by(IncidentHistory.id))
        )
        steps = [(r.action, r.step) for r in rows if r.action != "photo"]
        assert steps == [
            ("report", "report"),
            ("verify", "verify"),
            ("register", "register"),
            ("dispatch", "dispatch"),
            ("handle", "handle"),
            ("check", "close"),
            ("evaluate", "evaluate"),
        ]
        grid_a = rows[0].grid_id
        for r in rows:
            assert (r.kind, r.category, r.grid_id) == ("case", "dispute", grid_a), r.action
        by = {r.action: r for r in rows}
        assert by["report"].responder_id is None  # the public
        assert by["verify"].responder_id == world.responder["worker2"]
        assert by["handle"].assignee_id == world.responder["workerA"]
        assert by["verify"].on_time is False  # 45 minutes for 30
        assert by["handle"].on_time is True and by["handle"].work_hours == pytest.approx(3.5)
        # Tuesday 09:00 + 1 工作日 = Wednesday 09:00: handled and closed well before it.
        assert by["handle"].due_at == by["check"].due_at == china(2026, 3, 4, 9, 0)
        assert by["check"].on_time is True
        assert by["register"].on_time is None and by["evaluate"].on_time is None


def test_a_closed_case_awaits_its_evaluation_and_goes_overdue_if_it_waits_too_long(api, clock, world):
    iid = api.report("workerA", "case", "dispute", CENTRE_A)["id"]
    api.ok(iid, "register", "workerA")
    api.ok(iid, "dispatch", "leaderA", assignee_id=world.responder["workerA"])
    api.ok(iid, "handle", "workerA")
    props = api.ok(iid, "check", "worker2")
    assert props["open"] is False
    assert when(props["due_at"]) == clock.now + timedelta(minutes=10080)  # closed: a week to evaluate
    clock.advance(minutes=10081)
    assert api.get(iid)[0]["overdue"] is True
    assert [(e["incident"], e["level"]) for e in api.escalate()] == [(iid, 1)]
    row = [e for e in api.timeline(iid) if e["action"] == "escalate"][-1]
    assert row["step"] == "overdue"
    props = api.ok(iid, "evaluate", "community", rating=4)
    assert props["due_at"] is None and props["overdue"] is False
