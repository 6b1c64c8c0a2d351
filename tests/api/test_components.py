"""Components (部件) over HTTP, from files and at once: the 16-digit code and what it must be, the
category that follows it, states and accuracy classes, the grid from the point, an incident
naming a component near it, import and export, and concurrent creation against a real server.
On both databases."""

from __future__ import annotations

import json
import threading

import httpx
import pandas as pd
import pytest
from shapely.geometry import Point, box
from sqlalchemy import func, select

from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.edit.features import create_feature
from geo.models import Component, Grid
from geo.spatial.geometry import as_multipolygon, to_db
from tests.support.components import add_catalogue, code
from tests.support.one_grid import CENTRE, WORLD
from tests.support.world import bearer

LON, LAT = CENTRE
HYDRANT = code("01", "07", 1)


@pytest.fixture
def world_spec():
    return WORLD


@pytest.fixture
def staff(engine, world, tokens) -> dict[str, str]:
    """The world with the test catalogue; the community staff's headers."""
    add_catalogue(engine)
    return bearer(tokens["community"])


def component(code_: str | None, lon: float = LON, lat: float = LAT, **properties) -> dict:
    props = {"code": code_, **properties} if code_ is not None else properties
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def post(client, headers, body) -> httpx.Response:
    return client.post(f"{API}/components", json=body, headers=headers)


def refused(r, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.json()["detail"], r.json()["detail"]


def test_codes_states_and_accuracy_are_checked(client, staff, tokens):
    r = post(client, staff, component(HYDRANT, state="破损", accuracy="一级", properties={"型号": "SS100"}))
    assert r.status_code == 201, r.text
    p = r.json()["properties"]
    assert p["code"] == HYDRANT and p["category"] == "C0107" and p["grid"] == "441802001001001"
    assert (p["state"], p["state_label"], p["accuracy"]) == ("damaged", "破损", "A")
    # The name and department default to the sub-category's; the names of its categories come along.
    assert (p["name"], p["department"], p["major_name"], p["minor_name"]) == (
        "消防栓",
        "消防救援站",
        "公用设施",
        "消防栓",
    )
    assert p["型号"] == "SS100"
    ident = p["id"]

    refused(post(client, staff, component("4418020107")), 422, "exactly 16 digits", "10 characters")
    refused(post(client, staff, component("44180201070000A1")), 422, "exactly 16 digits", "other than digits")
    refused(post(client, staff, component(code("09", "99", 1))), 422, "大类 09 小类 99", "current catalogue")
    refused(post(client, staff, component(code("01", "99", 1))), 422, "大类 01 小类 99")
    refused(post(client, staff, component("110101" + HYDRANT[6:])), 422, "district 110101", "441802")
    refused(post(client, staff, component(HYDRANT)), 409, "already exists")
    refused(post(client, staff, component(code("01", "07", 2), category="C0101")), 422, "contradicts the code")
    refused(post(client, staff, component(code("01", "07", 2), state="broken")), 422, "intact (完好)")
    refused(post(client, staff, component(code("01", "07", 2), accuracy="D")), 422, "A (一级, within 0.5 m)")
    refused(post(client, staff, component(code("01", "07", 2), lon=LON + 0.01)), 422, "outside the area")
    refused(post(client, bearer(tokens["worker"]), component(code("01", "07", 2))), 403, "community staff")
    refused(client.post(f"{API}/components", json=component(code("01", "07", 2))), 401)

    # A new code brings its category; a category alone cannot contradict the code.
    light = code("01", "08", 7)
    r = client.patch(f"{API}/components/{ident}", json={"properties": {"code": light}}, headers=staff)
    assert r.status_code == 200, r.text
    assert (r.json()["properties"]["category"], r.json()["properties"]["minor_name"]) == ("C0108", "路灯")
    refused(client.patch(f"{API}/components/{ident}", json={"properties": {"category": "C0107"}}, headers=staff), 422)
    r = client.patch(f"{API}/components/{ident}", json={"properties": {"category": None}}, headers=staff)
    assert r.status_code == 200 and r.json()["properties"]["category"] == "C0108", r.text
    empty = {"geometry": {"type": "Point", "coordinates": []}, "properties": {}}
    refused(client.patch(f"{API}/components/{ident}", json=empty, headers=staff), 422, "needs a geometry")
    r = client.patch(f"{API}/components/{ident}", json={"properties": {"state": "removed"}}, headers=staff)
    assert r.json()["properties"]["state_label"] == "废弃"

    # Listed and filtered like the other layers; read like buildings (no personal data).
    assert post(client, staff, component(code("01", "01", 1), lon=LON + 0.001)).status_code == 201
    listed = client.get(f"{API}/components").json()
    assert listed["numberMatched"] == 2
    for query, expected in (
        ({"state": "removed"}, [light]),
        ({"state": "完好"}, [code("01", "01", 1)]),
        ({"category": "C0101"}, [code("01", "01", 1)]),
        ({"grid": "441802001001001"}, [light, code("01", "01", 1)]),
        ({"bbox": f"{LON - 0.0005},{LAT - 0.0005},{LON + 0.0005},{LAT + 0.0005}"}, [light]),
    ):
        got = client.get(f"{API}/components", params=query).json()["features"]
        assert [f["properties"]["code"] for f in got] == expected, query
    refused(client.get(f"{API}/components", params={"state": "lost"}), 422, "intact (完好)")
    refused(client.get(f"{API}/components", params={"kind": "x"}), 422, "does not apply")
    refused(client.get(f"{API}/buildings", params={"state": "intact"}), 422, "does not apply")


def test_an_incident_names_a_component_near_it(client, staff):
    r = post(client, staff, component(HYDRANT))
    assert r.status_code == 201, r.text
    ident = r.json()["id"]

    def report(lat_offset: float = 0.0002, **props):  # 0.0002° of latitude: about 22 m
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [LON, LAT + lat_offset]},
            "properties": {"kind": "case", "category": "dispute", "title": "消防栓漏水", **props},
        }
        return client.post(f"{API}/incidents", json=body, headers=staff)

    r = report(component_code=HYDRANT)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["component"] == {"id": ident, "code": HYDRANT, "category": "C0107", "name": "消防栓"}
    incident, etag = r.json()["id"], r.headers["ETag"]
    assert report(component_id=ident).json()["properties"]["component"]["code"] == HYDRANT

    refused(report(component_code=code("01", "07", 9)), 422, "No component with code")
    refused(report(component_id=ident + 100), 422, f"No component with id {ident + 100}")
    refused(report(component_id=ident, component_code=HYDRANT), 422, "not both")
    refused(report(0.001, component_code=HYDRANT), 422, f"Component {HYDRANT} is 111 m", "within 50 m")

    # Moving the incident away from its component is refused too; naming none clears it.
    far = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT + 0.001]}, "properties": {}}
    refused(client.patch(f"{API}/incidents/{incident}", json=far, headers={**staff, "If-Match": etag}), 422, "111 m")
    r = client.patch(
        f"{API}/incidents/{incident}", json={"properties": {"component_id": None}}, headers={**staff, "If-Match": etag}
    )
    assert r.status_code == 200 and r.json()["properties"]["component"] is None, r.text
    timeline = client.get(f"{API}/incidents/{incident}/timeline", headers=staff).json()["timeline"]
    assert timeline[-1]["changes"]["component"] == [HYDRANT, None]

    # A component that incidents name stays (their record keeps it): it is marked removed instead.
    refused(client.delete(f"{API}/components/{ident}", headers=staff), 409, "named by 1 incident")
    other = post(client, staff, component(code("01", "01", 5))).json()["id"]
    assert client.delete(f"{API}/components/{other}", headers=staff).status_code == 204


def test_import_and_export_round_trip(cli, engine, staff, tmp_path):
    rows = [
        ("441802010700000001", "消防栓", "intact", "A", LON, LAT),  # 18 digits: refused
        (code("01", "07", 1), "1号消防栓", "完好", "一级", LON, LAT),
        (code("01", "07", 1), "重复", "intact", "B", LON, LAT),  # the same code again
        (code("09", "01", 1), "未知小类", "intact", "B", LON, LAT),
        (code("01", "08", 2), "路灯", "坏了", "二级", LON, LAT),
        (code("01", "01", 3), "井盖", "damaged", "X", LON, LAT),
    ]
    header = "编码,名称,状态,精度,经度,纬度\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    mapping = ["--code-field", "编码", "--name-field", "名称", "--field", "state=状态", "--field", "accuracy=精度"]
    result = cli("import", "components", bad, *mapping, "--lon-field", "经度", "--lat-field", "纬度", "-q")
    assert result.exit_code == 2
    for problem in (
        "row 1 (编码 '441802010700000001'): code '441802010700000001' must be exactly 16 digits",
        "row 3: duplicate component code '4418020107000001' (first on row 2)",
        "row 4 (编码 '4418020901000001'): 大类 09 小类 01 is not a component sub-category",
        "row 5 (编码 '4418020108000002'): state '坏了' is not one of",
        "row 6 (编码 '4418020101000003'): accuracy 'X' is not a position accuracy class",
    ):
        assert problem in result.output, result.output
    assert "row 2 (" not in result.output  # the good row
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Component)) == 0  # all or nothing

    good = tmp_path / "good.csv"
    good.write_text(
        header + "".join(",".join(map(str, r)) + "\n" for r in (rows[1], rows[4][:2] + ("占用", "二级") + rows[4][4:])),
        encoding="utf-8",
    )
    result = cli("import", "components", good, *mapping, "--lon-field", "经度", "--lat-field", "纬度", "-q")
    assert result.exit_code == 0, result.output
    assert "components: 2 rows read (wgs84), 2 created" in result.output

    exported = {}
    for suffix in ("geojson", "csv", "xlsx"):
        path = tmp_path / f"components.{suffix}"
        result = cli("export", "components", path)
        assert result.exit_code == 0 and "components: 2 rows written" in result.output, result.output
        exported[suffix] = path
    features = json.loads(exported["geojson"].read_text(encoding="utf-8"))["features"]
    first = {k: v for k, v in features[0]["properties"].items() if v is not None}
    assert first == {
        "code": code("01", "07", 1),
        "category": "C0107",
        "name": "1号消防栓",
        "state": "intact",
        "accuracy": "A",
        "department": "消防救援站",
        "grid": "441802001001001",
    }
    assert features[1]["properties"]["state"] == "occupied" and features[1]["properties"]["accuracy"] == "B"
    # Read back: the same rows, refused as they are there; with --replace, the same again.
    for suffix, path in exported.items():
        result = cli("import", "components", path, "-q")
        assert result.exit_code == 2 and "already exists in the database" in result.output, suffix
        result = cli("import", "components", path, "--replace", "-q")
        assert result.exit_code == 0 and "2 updated" in result.output, result.output
        again = tmp_path / "again" / path.name  # the same name: GeoJSON carries it
        cli("export", "components", again)
        if suffix == "xlsx":  # a workbook carries the time it was written: compare its cells
            assert pd.read_excel(again, dtype=str).equals(pd.read_excel(path, dtype=str))
        else:
            assert again.read_bytes() == path.read_bytes(), suffix


# --------------------------------------------------------------------------- a real server


def test_components_created_at_once_on_a_real_server(db_url, cli, engine, serve_wangge, staff):
    """Eight clients create components at once on a real server: four codes of their own, and
    four the same code. Each new code is stored once; of those sharing one, one is created and the
    rest are told 409; no request fails otherwise."""
    base = serve_wangge(db_url)
    shared = code("01", "01", 999)
    codes = [code("01", "02", n) for n in range(1, 5)] + [shared] * 4
    barrier = threading.Barrier(len(codes))
    statuses: list[int] = [0] * len(codes)

    def create(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            barrier.wait()
            statuses[i] = post(c, staff, component(codes[i], lon=LON + 0.0001 * i)).status_code

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(codes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses[:4] == [201] * 4, statuses
    assert sorted(statuses[4:]) == [201, 409, 409, 409], statuses
    with session_scope(engine) as s:
        stored = sorted(s.scalars(select(Component.code)))
    assert stored == sorted(set(codes))


def test_a_component_follows_the_grids_as_they_change(engine, staff):
    """Its grid comes from its point, and again when the grids change under it."""
    with session_scope(engine) as s:
        made = create_feature(s, "components", {"code": HYDRANT}, Point(LON, LAT))
        ident, grid_id = made.id, made.grid_id
    assert grid_id is not None
    with session_scope(engine) as s:
        grid = s.get(Grid, grid_id)
        grid.geom = to_db(as_multipolygon(box(113.040, 23.690, 113.042, 23.695)))  # the west half
    with session_scope(engine) as s:
        assert s.get(Component, ident).grid_id is None
