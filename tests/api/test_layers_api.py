"""The layers over HTTP on the demo community: filters against a count done here in Python,
paging by following links, one-feature GET/POST/PATCH/DELETE on every writable layer,
automatic geotagging of incidents, coordinates in GCJ-02, and personal data kept from the public.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, box, shape
from sqlalchemy import select

from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.edit.features import create_feature
from geo.models import Grid, Incident, IncidentHistory, Responder
from geo.spatial.crs import gcj02_to_bd09, gcj02_to_wgs84, wgs84_to_gcj02
from tests.support.world import bearer

GEOD = Geod(ellps="WGS84")
CST = timezone(timedelta(hours=8))
EAST = box(113.0520, 23.6920, 113.0540, 23.6940)  # empty land east of the community


@pytest.fixture
def demo(demo, add_token) -> dict:
    """The demo community and a community staff member's token (writes need one)."""
    return {"engine": demo, "auth": bearer(add_token("staff", "community"))}


def everything(client, layer: str, **params) -> list[dict]:
    """Every feature of a layer (the demo has fewer than 10,000 of each)."""
    collection = client.get(f"{API}/{layer}", params={"limit": 10_000, **params}).json()
    assert collection["numberMatched"] == collection["numberReturned"] == len(collection["features"])
    return collection["features"]


def ids(features) -> list[int]:
    return [f["id"] for f in features]


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def feature(geometry, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def point(lon, lat) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


# --------------------------------------------------------------------------- filters


def test_filters_match_a_count_done_in_python(demo, client, subtests):
    """Each filter, alone and combined, selects exactly the features a plain Python filter over
    the whole layer selects; numberMatched is that count."""
    layers = {
        name: everything(client, name)
        for name in ("grids", "estates", "buildings", "responders", "incidents", "communities", "components")
    }
    assert len(layers["grids"]) == 12 and len(layers["buildings"]) >= 297 and len(layers["incidents"]) > 50
    assert len(layers["components"]) == 44
    incidents, responders = layers["incidents"], layers["responders"]
    created = sorted(when(f["properties"]["created_at"]) for f in incidents)
    mid, late = created[len(created) // 2], created[3 * len(created) // 4]
    located = sorted(when(f["properties"]["located_at"]) for f in responders if f["properties"]["located_at"])
    grid = "441802001001006"

    def p(f, key):
        return f["properties"][key]

    cases = [
        ("grids", {"grid": grid}, lambda f: p(f, "code") == grid),
        ("buildings", {"grid": grid}, lambda f: p(f, "grid") == grid),
        ("buildings", {"kind": "estate_building"}, lambda f: p(f, "kind") == "estate_building"),
        (
            "buildings",
            {"kind": "public_facility", "grid": "441802001001005"},
            lambda f: p(f, "kind") == "public_facility" and p(f, "grid") == "441802001001005",
        ),
        ("responders", {"grid": grid}, lambda f: grid in (p(f, "grids") or "").split(",")),
        ("responders", {"kind": "facility"}, lambda f: p(f, "kind") == "facility"),
        (
            "responders",
            {"since": located[len(located) // 2].isoformat()},
            lambda f: when(p(f, "located_at")) and when(p(f, "located_at")) >= located[len(located) // 2],
        ),
        ("components", {"grid": grid}, lambda f: p(f, "grid") == grid),
        ("components", {"category": "C0107"}, lambda f: p(f, "category") == "C0107"),
        ("components", {"state": "intact"}, lambda f: p(f, "state") == "intact"),
        ("incidents", {"grid": grid}, lambda f: p(f, "grid") == grid),
        ("incidents", {"kind": "renovation"}, lambda f: p(f, "kind") == "renovation"),
        ("incidents", {"status": "reported"}, lambda f: p(f, "status") == "reported"),
        ("incidents", {"category": "fire_safety"}, lambda f: p(f, "category") == "fire_safety"),
        (
            "incidents",
            {"kind": "illegal_structure", "status": "demolished"},
            lambda f: p(f, "kind") == "illegal_structure" and p(f, "status") == "demolished",
        ),
        ("incidents", {"since": mid.isoformat()}, lambda f: when(p(f, "created_at")) >= mid),
        ("incidents", {"until": mid.isoformat()}, lambda f: when(p(f, "created_at")) < mid),
        (
            "incidents",
            {"since": mid.isoformat(), "until": late.isoformat()},
            lambda f: mid <= when(p(f, "created_at")) < late,
        ),
        # A time without a zone is China Standard Time.
        (
            "incidents",
            {"since": mid.astimezone(CST).replace(tzinfo=None).isoformat()},
            lambda f: when(p(f, "created_at")) >= mid,
        ),
        (
            "incidents",
            {"kind": "hazard", "grid": "441802001001002", "until": late.isoformat()},
            lambda f: (
                p(f, "kind") == "hazard" and p(f, "grid") == "441802001001002" and when(p(f, "created_at")) < late
            ),
        ),
    ]
    # Boxes of several sizes over the community; points must lie in the box (edges included),
    # polygons must meet it (not merely have a bounding box that meets it).
    rng = np.random.default_rng(4)
    for _ in range(12):
        w, h = rng.uniform(0.0003, 0.006), rng.uniform(0.0003, 0.006)
        x0, y0 = rng.uniform(113.0380, 113.0510 - w), rng.uniform(23.6900, 23.6995 - h)
        bbox = (x0, y0, x0 + w, y0 + h)
        area = box(*bbox)
        for layer in ("grids", "estates", "communities"):
            cases.append(
                (layer, {"bbox": ",".join(map(repr, bbox))}, lambda f, area=area: shape(f["geometry"]).intersects(area))
            )
        for layer in ("buildings", "responders", "incidents", "components"):
            cases.append(
                (layer, {"bbox": ",".join(map(repr, bbox))}, lambda f, area=area: area.covers(shape(f["geometry"])))
            )
    cases.append(
        (
            "incidents",
            {"bbox": "113.0380,23.6900,113.0450,23.6950", "kind": "case"},
            lambda f: box(113.0380, 23.6900, 113.0450, 23.6950).covers(shape(f["geometry"])) and p(f, "kind") == "case",
        )
    )
    # A box whose bounding-box test passes for grid 001 while the grid itself lies outside it.
    g1 = shape(next(f for f in layers["grids"] if p(f, "code") == "441802001001001")["geometry"])
    corner = box(g1.bounds[0], g1.bounds[1], g1.bounds[0] + 0.0002, g1.bounds[1] + 0.0002)
    assert not g1.intersects(corner)
    cases.append(
        ("grids", {"bbox": ",".join(map(repr, corner.bounds))}, lambda f: shape(f["geometry"]).intersects(corner))
    )

    for layer, params, keep in cases:
        with subtests.test(layer=layer, params=params):
            expected = sorted(f["id"] for f in layers[layer] if keep(f))
            answer = client.get(f"{API}/{layer}", params={**params, "limit": 10_000}).json()
            assert sorted(ids(answer["features"])) == expected
            assert answer["numberMatched"] == len(expected)
    # The filters are not all trivially empty or full.
    sizes = [sum(keep(f) for f in layers[layer]) for layer, _, keep in cases]
    assert sum(0 < n < len(layers[layer]) for n, (layer, _, _) in zip(sizes, cases, strict=True)) >= len(cases) * 0.7


def test_bbox_in_gcj02_selects_by_the_converted_box(demo, client):
    """A box given in GCJ-02 selects the points inside the same box converted to WGS84."""
    incidents = everything(client, "incidents")
    x0, y0, x1, y1 = 113.0400, 23.6920, 113.0470, 23.6980
    gx, gy = wgs84_to_gcj02([x0, x1], [y0, y1])
    answer = client.get(
        f"{API}/incidents",
        params={
            "bbox": ",".join(repr(float(v)) for v in (gx[0], gy[0], gx[1], gy[1])),
            "crs": "gcj02",
            "limit": 10_000,
        },
    ).json()
    wx, wy = gcj02_to_wgs84(gx, gy)
    area = box(wx[0], wy[0], wx[1], wy[1])
    expected = sorted(f["id"] for f in incidents if area.covers(shape(f["geometry"])))
    assert 0 < len(expected) < len(incidents)
    assert sorted(ids(answer["features"])) == expected


# --------------------------------------------------------------------------- paging


def test_following_next_links_returns_every_feature_once(demo, client):
    """limit/offset pages with a total; following rel=next to the end yields each feature exactly
    once, in id order, and the filters ride along in the links."""
    all_buildings = everything(client, "buildings")
    for params in ({"limit": 40}, {"limit": 7, "grid": "441802001001003"}, {"limit": 1000}):
        expected = [f["id"] for f in all_buildings if "grid" not in params or f["properties"]["grid"] == params["grid"]]
        url, params_now, seen, pages = f"{API}/buildings", params, [], 0
        while True:
            page = client.get(url, params=params_now).json()
            pages += 1
            assert page["numberMatched"] == len(expected)
            assert page["numberReturned"] == len(page["features"]) <= params["limit"]
            seen += ids(page["features"])
            links = {link["rel"]: link["href"] for link in page["links"]}
            assert "self" in links
            if pages > 1:
                assert "prev" in links
            if "next" not in links:
                break
            url, params_now = links["next"].removeprefix("http://testserver"), None
            if "grid" in params:
                assert "grid=441802001001003" in url
        assert seen == expected
        assert pages == -(-len(expected) // params["limit"])


def test_limit_and_offset(demo, client):
    every = ids(everything(client, "incidents"))
    page = client.get(f"{API}/incidents", params={"limit": 5, "offset": 10}).json()
    assert ids(page["features"]) == every[10:15] and page["numberMatched"] == len(every)
    beyond = client.get(f"{API}/incidents", params={"limit": 5, "offset": len(every) + 3}).json()
    assert beyond["features"] == [] and beyond["numberMatched"] == len(every)
    assert "next" not in {link["rel"] for link in beyond["links"]}


# --------------------------------------------------------------------------- one feature at a time


def _crud(client, auth, layer: str, body: dict, patch: dict, check_patched) -> dict:
    """POST, GET, PATCH, GET, DELETE, GET: the answers say what was stored at each step."""
    r = client.post(f"{API}/{layer}", json=body, headers=auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["Location"].endswith(f"{API}/{layer}/{created['id']}")
    for key, value in body["properties"].items():
        if key not in ("grids",):
            assert created["properties"][key] == value, key
    read = client.get(f"{API}/{layer}/{created['id']}", headers=auth)
    assert read.status_code == 200 and read.json() == created
    headers = {**auth, "If-Match": read.headers["ETag"]} if layer == "incidents" else auth
    r = client.patch(f"{API}/{layer}/{created['id']}", json=patch, headers=headers)
    assert r.status_code == 200, r.text
    patched = r.json()
    check_patched(patched)
    assert client.get(f"{API}/{layer}/{created['id']}", headers=auth).json() == patched
    assert created["id"] in ids(everything(client, layer))
    r = client.delete(f"{API}/{layer}/{created['id']}", headers=auth)
    assert r.status_code == 204, r.text
    assert client.get(f"{API}/{layer}/{created['id']}").status_code == 404
    assert created["id"] not in ids(everything(client, layer))
    return created


def test_grids_one_at_a_time(demo, client):
    def patched(f):
        assert f["properties"]["name"] == "东片新网格" and f["properties"]["party_branch"] == "东片支部"
        assert shape(f["geometry"]).equals(EAST.buffer(0.0005, join_style="mitre"))

    body = feature(
        shapely.geometry.mapping(EAST), code="441802001001013", name="东片网格", community_code="441802001001"
    )
    patch = feature(
        shapely.geometry.mapping(EAST.buffer(0.0005, join_style="mitre")), name="东片新网格", party_branch="东片支部"
    )
    created = _crud(client, demo["auth"], "grids", body, patch, patched)
    assert shape(created["geometry"]).equals(EAST)
    assert created["properties"]["community_code"] == "441802001001"


def test_estates_one_at_a_time(demo, client):
    area = box(113.0440, 23.6940, 113.0445, 23.6944)

    def patched(f):
        assert f["properties"]["property_company"] == "翠湖物业"

    _crud(
        client,
        demo["auth"],
        "estates",
        feature(shapely.geometry.mapping(area), name="测试花园"),
        feature(None, property_company="翠湖物业"),
        patched,
    )


def test_buildings_one_at_a_time_are_tagged_with_their_grid(demo, client):
    """A building's grid comes from its point, and follows it when it moves."""
    grids = {f["properties"]["code"]: shape(f["geometry"]) for f in everything(client, "grids")}
    here = grids["441802001001006"].representative_point()
    there = grids["441802001001011"].representative_point()

    def patched(f):
        assert f["properties"]["grid"] == "441802001001011" and f["properties"]["residents"] == 12
        assert f["geometry"]["coordinates"] == [there.x, there.y]

    created = _crud(
        client,
        demo["auth"],
        "buildings",
        feature(point(here.x, here.y), code="T-B1", name="测试楼", households=4),
        feature(point(there.x, there.y), residents=12),
        patched,
    )
    assert created["properties"]["grid"] == "441802001001006"


def test_responders_one_at_a_time(demo, client):
    def patched(f):
        assert f["properties"]["on_duty"] is False and f["properties"]["grids"] == "441802001001001,441802001001002"

    body = feature(
        point(113.0420, 23.6975),
        code="T-R1",
        name="测试员",
        role="grid_worker",
        phone="13900001111",
        grids=["441802001001002"],
    )
    created = _crud(
        client,
        demo["auth"],
        "responders",
        body,
        feature(None, on_duty=False, grids=["441802001001002", "441802001001001"]),
        patched,
    )
    assert created["properties"]["grids"] == "441802001001002"


def nearest_building(buildings: list[dict], lon: float, lat: float) -> tuple[str | None, float]:
    """Brute force: the closest building by ground distance, if within 150 m."""
    xy = np.array([f["geometry"]["coordinates"] for f in buildings])
    dist = GEOD.inv(np.full(len(xy), lon), np.full(len(xy), lat), xy[:, 0], xy[:, 1])[2]
    i = int(np.argmin(dist))
    return (buildings[i]["properties"]["code"] if dist[i] <= 150 else None), float(np.sort(dist)[1] - dist[i])


def test_incidents_are_geotagged_moved_and_soft_deleted(demo, client):
    """POST: grid and nearest building come from the point. PATCH to a new place: both follow.
    DELETE: gone from lists and GET, but the row and its whole history stay."""
    auth = demo["auth"]
    grids = {f["properties"]["code"]: shape(f["geometry"]) for f in everything(client, "grids")}
    buildings = everything(client, "buildings")
    rng = np.random.default_rng(12)
    spots = []
    while len(spots) < 2:
        code = ["441802001001003", "441802001001010"][len(spots)]
        x0, y0, x1, y1 = grids[code].bounds
        lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
        nearest, margin = nearest_building(buildings, lon, lat)
        if (
            grids[code].contains(Point(lon, lat))
            and grids[code].boundary.distance(Point(lon, lat)) > 1e-5
            and nearest
            and margin > 0.5
        ):
            spots.append((code, lon, lat, nearest))

    (code1, lon1, lat1, b1), (code2, lon2, lat2, b2) = spots
    r = client.post(
        f"{API}/incidents",
        json=feature(point(lon1, lat1), kind="case", category="dispute", title="邻里噪音纠纷"),
        headers=auth,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["properties"]["grid"] == code1 and created["properties"]["building"] == b1
    assert created["properties"]["status"] == "reported"

    r = client.patch(
        f"{API}/incidents/{created['id']}",
        json=feature(point(lon2, lat2), title="邻里噪音纠纷（位置更正）"),
        headers={**auth, "If-Match": r.headers["ETag"]},
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["properties"]["grid"] == code2 and moved["properties"]["building"] == b2
    assert (
        client.get(f"{API}/incidents", params={"grid": code2, "limit": 10_000}).json()["features"][-1]["id"]
        == created["id"]
    )
    assert created["id"] not in ids(everything(client, "incidents", grid=code1))

    # Far from every building, in a new grid: the grid is found, the building is none.
    assert (
        client.post(
            f"{API}/grids",
            json=feature(shapely.geometry.mapping(EAST), code="441802001001013", name="东片"),
            headers=auth,
        ).status_code
        == 201
    )
    far = client.post(
        f"{API}/incidents",
        json=feature(point(113.0530, 23.6930), kind="hazard", category="public_safety", title="井盖缺失"),
        headers=auth,
    ).json()
    assert far["properties"]["grid"] == "441802001001013" and far["properties"]["building"] is None

    assert client.delete(f"{API}/incidents/{created['id']}", headers=auth).status_code == 204
    assert client.get(f"{API}/incidents/{created['id']}", headers=auth).status_code == 404
    assert created["id"] not in ids(everything(client, "incidents"))
    assert created["id"] not in ids(everything(client, "incidents", grid=code2))
    with session_scope(demo["engine"]) as s:
        row = s.get(Incident, created["id"])
        assert row is not None and row.deleted_at is not None and row.title == "邻里噪音纠纷（位置更正）"
        actions = s.scalars(
            select(IncidentHistory.action)
            .where(IncidentHistory.incident_id == created["id"])
            .order_by(IncidentHistory.id)
        ).all()
    assert actions == ["report", "update", "delete"]


def test_a_client_cannot_choose_an_incidents_grid(demo, client, engine):
    """Over HTTP a client-sent grid is refused; inside the core a grid set by hand is replaced by the
    one the point lies in, on every write."""
    r = client.post(
        f"{API}/incidents",
        json=feature(
            point(113.0406584, 23.69558175), kind="hazard", category="fire_safety", title="t", grid="441802001001001"
        ),
        headers=demo["auth"],
    )
    assert r.status_code == 422 and "properties.grid" in r.json()["detail"]
    with session_scope(engine) as s:
        wrong = s.scalar(select(Grid).where(Grid.code == "441802001001001"))
        obj = create_feature(
            s,
            "incidents",
            {"kind": "hazard", "category": "fire_safety", "title": "t", "grid_id": wrong.id},
            Point(113.0406584, 23.69558175),
        )
        assert obj.grid.code == "441802001001005"
        obj.grid_id = wrong.id
        s.flush()
        s.refresh(obj)
        assert obj.grid.code == "441802001001005"


# --------------------------------------------------------------------------- coordinate systems


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_answers_and_writes_in_chinese_coordinate_systems(demo, client, crs):
    """?crs= converts every coordinate of an answer from the stored WGS84; a write in that crs is
    stored in WGS84 and read back in the crs as sent."""
    to_crs = (
        (lambda x, y: wgs84_to_gcj02(x, y)) if crs == "gcj02" else (lambda x, y: gcj02_to_bd09(*wgs84_to_gcj02(x, y)))
    )
    for layer in ("incidents", "grids"):
        plain = everything(client, layer)
        converted = everything(client, layer, crs=crs)
        assert ids(plain) == ids(converted)
        for a, b in zip(plain, converted, strict=True):
            xy = shapely.get_coordinates(shape(a["geometry"]))
            expected = np.column_stack(to_crs(xy[:, 0], xy[:, 1]))
            assert np.allclose(shapely.get_coordinates(shape(b["geometry"])), expected, rtol=0, atol=1e-9)
            assert a["properties"] == b["properties"]
    one = plain[0]
    assert client.get(f"{API}/grids/{one['id']}", params={"crs": crs}).json() == converted[0]

    lon, lat = 113.0431, 23.6951
    sent = [float(v) for v in to_crs(lon, lat)]
    r = client.post(
        f"{API}/incidents",
        params={"crs": crs},
        json=feature(point(*sent), kind="hazard", category="fire_safety", title="t"),
        headers=demo["auth"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["coordinates"] == pytest.approx(sent, abs=1e-9)
    stored = client.get(f"{API}/incidents/{r.json()['id']}").json()["geometry"]["coordinates"]
    assert GEOD.inv(lon, lat, *stored)[2] < 0.01


# --------------------------------------------------------------------------- personal data


def test_the_public_never_sees_phones_or_reporters(demo, client):
    """Without a token, no answer carries a responder's phone or a reporter's name or phone (not in
    lists, single features, grid cards, nearest responders, nor a report the public just made);
    community staff do see them."""
    with session_scope(demo["engine"]) as s:
        phones = [p for p in s.scalars(select(Responder.phone)) if p]
        reporters = [(n, p) for n, p in s.execute(select(Incident.reporter_name, Incident.reporter_phone)) if n or p]
    assert len(phones) > 50 and len(reporters) > 20
    secrets = phones + [v for pair in reporters for v in pair if v and len(v) > 1]
    incident = everything(client, "incidents")[0]
    responder = everything(client, "responders")[0]
    answers = [
        client.get(f"{API}/responders", params={"limit": 10_000}),
        client.get(f"{API}/incidents", params={"limit": 10_000}),
        client.get(f"{API}/incidents/{incident['id']}"),
        client.get(f"{API}/responders/{responder['id']}"),
        client.get(f"{API}/grids/locate", params={"lon": 113.0406584, "lat": 23.69558175}),
        client.get(f"{API}/responders/nearest", params={"lon": 113.0406584, "lat": 23.69558175, "k": 100}),
        client.get(f"{API}/incidents/{incident['id']}/responders", params={"k": 100}),
        client.get(f"{API}/responders", params={"limit": 10_000, "crs": "gcj02"}),
    ]
    report = feature(
        point(113.0406584, 23.69558175),
        kind="hazard",
        category="fire_safety",
        title="楼道堆物",
        reporter_name="欧阳明",
        reporter_phone="13712345678",
    )
    answers.append(client.post(f"{API}/incidents", json=report))
    assert answers[-1].status_code == 201, answers[-1].text
    secrets += ["欧阳明", "13712345678"]
    for r in answers:
        assert r.status_code == 200 or r.status_code == 201, r.text
        for secret in secrets:
            assert secret not in r.text, (r.url, secret)
    nearest = answers[5].json()["responders"]
    assert len(nearest) == 88 and all(
        "phone" not in p or p["phone"] in (None, "") or "*" in p["phone"] for p in nearest
    )

    staff = client.get(f"{API}/incidents/{answers[-1].json()['id']}", headers=demo["auth"]).json()["properties"]
    assert staff["reporter_name"] == "欧阳明" and staff["reporter_phone"] == "13712345678"
    assert (
        client.get(f"{API}/responders/{responder['id']}", headers=demo["auth"]).json()["properties"]["phone"] in phones
    )
