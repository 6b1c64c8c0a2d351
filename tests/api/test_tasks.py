"""The worker app's API on both databases: my tasks (whose, in what order, how far, which
actions now, personal data per role, paging) and what a report form shows before sending."""

from __future__ import annotations

import pytest

from api.v1 import API_PREFIX as API
from tests.support.permissions import CENTRE_A, CODE_A, REPORTER, WORLD, Api, make_api, move


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def api(db_url, world, clock) -> Api:
    return make_api(db_url, world, clock)


def tasks(api: Api, who, **params):
    r = api.client.get(f"{API}/tasks", params=params, headers=api.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def ids(answer) -> list[int]:
    return [f["properties"]["id"] for f in answer["features"]]


def test_a_grid_worker_sees_the_open_incidents_of_their_grids_and_those_assigned_to_them(api):
    inc = api.world.incident
    assert set(ids(tasks(api, "workerA"))) == {inc["caseA"], inc["hazardA"], inc["renovationA"]}
    # A case of grid B assigned to worker A becomes one of theirs.
    assert api.assign(inc["caseB"], "community", api.world.responder["workerA"]).status_code == 200
    assert inc["caseB"] in ids(tasks(api, "workerA"))
    # A closed one is no longer a task.
    assert api.act(inc["hazardA"], "reject", "leaderA", comment="不属实").status_code == 200
    assert inc["hazardA"] not in ids(tasks(api, "workerA"))
    # Community staff see every open incident.
    assert set(ids(tasks(api, "community"))) == {inc["caseA"], inc["caseB"], inc["renovationA"]}


def test_overdue_first_then_by_deadline(api, clock):
    inc = api.world.incident
    clock.advance(minutes=60)  # cases (30 minutes to register) are overdue; the hazard (120) is not
    answer = tasks(api, "community")
    props = [f["properties"] for f in answer["features"]]
    assert [p["id"] for p in props][:2] == sorted([inc["caseA"], inc["caseB"]])
    assert [p["overdue"] for p in props] == [True, True, False, False]
    assert props[2]["id"] == inc["hazardA"]  # due in an hour; the renovation point in two weeks
    assert props[3]["id"] == inc["renovationA"] and props[2]["due_at"] < props[3]["due_at"]


def test_distance_from_where_i_stand_and_none_without_a_position(api):
    inc = api.world.incident
    lon, lat = CENTRE_A
    by_id = {f["properties"]["id"]: f["properties"] for f in tasks(api, "workerA", lon=lon, lat=lat)["features"]}
    assert by_id[inc["caseA"]]["distance_m"] == pytest.approx(0, abs=0.5)
    assert by_id[inc["hazardA"]]["distance_m"] == pytest.approx(120, abs=0.5)
    assert all(f["properties"]["distance_m"] is None for f in tasks(api, "workerA")["features"])


def test_each_task_lists_the_actions_the_caller_may_take_now(api):
    inc = api.world.incident
    worker = {f["properties"]["id"]: f["properties"]["my_actions"] for f in tasks(api, "workerA")["features"]}
    leader = {f["properties"]["id"]: f["properties"]["my_actions"] for f in tasks(api, "leaderA")["features"]}
    # Reported by the community staff, not on site: verified (核实) on site before it is registered.
    assert [a["action"] for a in worker[inc["caseA"]]] == ["verify", "merge"]
    assert {"action": "verify", "to": "verified", "needs": [], "evidence": ["verify"]} in worker[inc["caseA"]]
    assert {"action": "merge", "to": "duplicate", "needs": ["target"], "evidence": []} in worker[inc["caseA"]]
    assert "reject" in [a["action"] for a in leader[inc["caseA"]]]
    assert worker[inc["renovationA"]] == []  # in their grid, but renovation points are the planners'
    one = api.client.get(f"{API}/tasks/{inc['caseA']}", headers=api.headers("workerA"))
    assert one.status_code == 200
    assert one.headers["ETag"] == api.etag(inc["caseA"])
    assert [a["action"] for a in one.json()["properties"]["my_actions"]] == ["verify", "merge"]
    # An incident of another grid: readable, but nothing to do on it.
    other = api.client.get(f"{API}/tasks/{inc['caseB']}", headers=api.headers("workerA")).json()
    assert other["properties"]["my_actions"] == []


def test_personal_data_follow_the_privacy_rules(api):
    case_a = api.world.incident["caseA"]
    mine = {f["properties"]["id"]: f["properties"] for f in tasks(api, "workerA")["features"]}
    assert mine[case_a]["reporter_phone"] == REPORTER["reporter_phone"]
    planner = tasks(api, "planner")
    assert case_a in ids(planner)
    assert REPORTER["reporter_phone"] not in str(planner) and REPORTER["reporter_name"] not in str(planner)


def test_paging_and_who_has_no_tasks(api):
    everything = ids(tasks(api, "community"))
    page = tasks(api, "community", limit=1, offset=1)
    assert page["numberMatched"] == len(everything) == 4
    assert ids(page) == everything[1:2]
    r = api.client.get(f"{API}/tasks")
    assert r.status_code == 401 and "Sign in" in r.json()["detail"]
    r = api.client.get(f"{API}/tasks", headers=api.headers("viewer"))
    assert r.status_code == 403 and r.json()["detail"]
    r = api.client.get(f"{API}/tasks", params={"lon": 113.04}, headers=api.headers("workerA"))
    assert r.status_code == 422 and "lon and lat" in r.json()["detail"]


def test_before_reporting_the_grid_the_nearest_building_and_open_incidents_of_the_kind_nearby(api):
    inc = api.world.incident
    lon, lat = move(CENTRE_A, 90, 10)
    r = api.client.get(f"{API}/incidents/nearby", params={"lon": lon, "lat": lat, "kind": "case"})
    assert r.status_code == 200, r.text  # the public may ask: it reports too
    found = r.json()
    assert found["grid"] == {"code": CODE_A, "name": "第一网格"}
    assert found["building"]["code"] == "P-B01"
    assert 60 < found["building"]["distance_m"] < 62
    assert [i["id"] for i in found["open_incidents"]] == [inc["caseA"]]
    assert found["open_incidents"][0]["distance_m"] == pytest.approx(10, abs=0.5)
    assert REPORTER["reporter_phone"] not in r.text
    # The hazard is 120 m away: beyond the duplicate radius (50 m).
    hazards = api.client.get(f"{API}/incidents/nearby", params={"lon": lon, "lat": lat, "kind": "hazard"}).json()
    assert hazards["open_incidents"] == []
    other = api.client.get(
        f"{API}/incidents/nearby", params={"lon": lon, "lat": lat, "kind": "case", "category": "aid"}
    ).json()
    assert other["open_incidents"] == []
    outside = api.client.get(f"{API}/incidents/nearby", params={"lon": 113.2, "lat": 23.8, "kind": "case"}).json()
    assert outside["grid"] is None and outside["building"] is None
    bad = api.client.get(f"{API}/incidents/nearby", params={"lon": lon, "lat": lat, "kind": "party"})
    assert bad.status_code == 422 and "hazard" in bad.json()["detail"]
    bad = api.client.get(f"{API}/incidents/nearby", params={"lon": lon, "lat": 95, "kind": "case"})
    assert bad.status_code == 422
