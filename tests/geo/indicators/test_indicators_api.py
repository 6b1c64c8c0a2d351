"""The indicators over HTTP: JSON, CSV and XLSX agree with the test's own count of the timeline
(tests/support/timeline.py); series and the incidents behind a figure; who may see what; bad
periods and groupings refused with 400."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.indicators.definitions import INDICATORS
from tests.geo.indicators.conftest import AFTER, CST, PERIOD, key_functions
from tests.support.timeline import expected
from tests.support.world import SimClock, bearer

URL = f"{API}/stats/indicators"
DAYS = {"start": "2027-04-01", "end": "2027-05-01"}


@pytest.fixture
def client(db_url, timeline):
    app = create_app(db_url, escalate_every_s=0)
    app.state.clock = SimClock(AFTER)
    return TestClient(app)


def get(client, who, path=URL, **params):
    headers = bearer(who) if who else {}
    return client.get(path, params=params, headers=headers)


def close(a, b) -> bool:
    return a == pytest.approx(b, abs=1e-4) if a is not None and b is not None else a == b


def test_json_csv_and_xlsx_agree_with_the_tests_own_count(client, world, tokens, timeline):
    rows = timeline[0]
    keys = key_functions(world)
    for by in ("grid", "community", "worker", "department", "category", "none"):
        want = expected(rows, *PERIOD, keys[by])
        r = get(client, tokens["community"], by=by, **DAYS)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["by"] == by and datetime.fromisoformat(body["start"]) == PERIOD[0]
        assert [i["key"] for i in body["indicators"]] == [i.key for i in INDICATORS]
        assert body["grades"][0] == ["A", 90.0] and body["weights"]["close_on_time_rate"] == 0.25
        got = {row["key"]: row for row in body["rows"]}
        for key, figures in want.items():
            for name, value in figures.items():
                assert close(got[key][name], value), (by, key, name)
            assert got[key]["grade"] in (None, "A", "B", "C", "D", "E")
    want = expected(rows, *PERIOD, keys["grid"])
    r = get(client, tokens["community"], f="csv", **DAYS)
    assert r.headers["content-type"].startswith("text/csv") and ".csv" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["网格", "名称", "上报数", "有效上报率"]
    assert table[-1][0] == "total"
    by_key = {line[0]: dict(zip([i.key for i in INDICATORS], line[2:], strict=True)) for line in table[1:]}
    for key, figures in want.items():
        for name, value in figures.items():
            cell = by_key[key][name]
            assert close(None if cell == "" else float(cell), value), (key, name)
    r = get(client, tokens["community"], f="xlsx", lang="en", **DAYS)
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(r.content)).active
    table = [list(line) for line in sheet.iter_rows(values_only=True)]
    assert table[0][:3] == ["Grid", "Name", "Reports"]
    by_key = {line[0]: dict(zip([i.key for i in INDICATORS], line[2:], strict=True)) for line in table[1:]}
    for key, figures in want.items():
        for name, value in figures.items():
            assert close(by_key[key][name], value), (key, name)


def test_a_grid_leader_sees_their_grids_and_a_worker_none(client, world, tokens, timeline):
    rows = timeline[0]
    own = world.grid["441802001001001"]
    mine = [r for r in rows if r.grid_id == own]
    keys = key_functions(world)
    for by in ("grid", "worker", "category"):
        body = get(client, tokens["leader"], by=by, **DAYS).json()
        want = expected(mine, *PERIOD, keys[by])
        got = {row["key"]: row for row in body["rows"]}
        assert set(got) >= set(want)
        for key, figures in want.items():
            for name, value in figures.items():
                assert close(got[key][name], value), (by, key, name)
    assert [row["key"] for row in get(client, tokens["leader"], **DAYS).json()["rows"]] == ["441802001001001"]
    for who, status in (("worker", 403), ("viewer", 403), (None, 401)):
        for path in (URL, f"{URL}/series", f"{URL}/incidents"):
            r = get(client, tokens[who] if who else None, path, indicator="closed", **DAYS)
            assert r.status_code == status, (who, path, r.text)
    assert get(client, tokens["admin"], **DAYS).status_code == 200
    r = get(client, tokens["leader"], f"{URL}/series", by="grid", key="441802001002001", **DAYS)
    assert r.status_code == 403


def test_bad_periods_and_groupings_are_refused_with_400(client, tokens):
    h = tokens["community"]
    for params, says in (
        ({"start": "2027-05-01", "end": "2027-04-01"}, "must end after it starts"),
        ({"start": "2027-04-01", "end": "2027-04-01"}, "must end after it starts"),
        ({**DAYS, "by": "street"}, "Unknown grouping"),
    ):
        r = get(client, h, **params)
        assert r.status_code == 400 and says in r.json()["detail"], r.text
    r = get(client, h, f"{URL}/series", interval="day", **DAYS)
    assert r.status_code == 400 and "interval" in r.json()["detail"]
    r = get(client, h, f"{URL}/incidents", indicator="score", **DAYS)
    assert r.status_code == 400
    assert get(client, h, start="yesterday", end="2027-05-01").status_code == 422


def test_series_and_the_incidents_behind_a_figure(client, world, tokens, timeline):
    rows = timeline[0]
    h = tokens["community"]
    keys = key_functions(world)
    start, end = datetime(2027, 2, 20, tzinfo=CST), datetime(2027, 5, 20, tzinfo=CST)
    r = get(client, h, f"{URL}/series", start=start.isoformat(), end=end.isoformat(), interval="month")
    assert r.status_code == 200, r.text
    periods = r.json()["periods"]
    assert [p["start"][:10] for p in periods] == ["2027-02-20", "2027-03-01", "2027-04-01", "2027-05-01"]
    for p in periods:
        a, b = datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"])
        want = expected(rows, a, b, keys["none"]).get("total", {})
        for name, value in want.items():
            assert close(p["values"][name], value), (p["start"], name)
    weeks = get(client, h, f"{URL}/series", interval="week", indicator="closed", **DAYS).json()["periods"]
    assert datetime.fromisoformat(weeks[1]["start"]).weekday() == 0 and set(weeks[0]["values"]) == {"closed"}
    grid = "441802001001002"
    body = get(client, h, f"{URL}/incidents", indicator="closed", by="grid", key=grid, **DAYS).json()
    gid = world.grid[grid]
    want = {r.incident_id for r in rows if r.step == "close" and r.grid_id == gid and PERIOD[0] <= r.at < PERIOD[1]}
    assert body["total"] == len(want) > 0
    assert {i["id"] for i in body["incidents"]} == want
    due = get(client, h, f"{URL}/incidents", indicator="due_to_close", limit=1000, **DAYS).json()
    figures = get(client, h, by="none", **DAYS).json()["total"]
    assert due["total"] <= figures["due_to_close"]  # an incident closed twice in the period is one incident
    assert due["total"] >= figures["due_to_close"] - figures["closed"]
    page = get(client, h, f"{URL}/incidents", indicator="reports", limit=2, offset=1, **DAYS).json()
    assert len(page["incidents"]) == 2 and page["total"] > 3
    assert get(client, h, f"{URL}/incidents", indicator="closed", by="grid", key="nope", **DAYS).status_code == 404
    assert timedelta(0) < end - start
