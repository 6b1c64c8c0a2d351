"""Bad input gets a 4xx JSON answer with a message a phone app can show, never a 500, and a
refused write leaves the database exactly as it was. Runs on the demo community, on both databases.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.openapi import documents_own_errors
from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.models import Building, Estate, Grid, Incident, IncidentHistory, Responder
from geo.settings import get_settings
from tests.support.world import bearer

INSIDE = (113.0406584, 23.69558175)  # the point of demo building CH-B001, in grid 441802001001005


@pytest.fixture
def demo(demo, add_token) -> dict:
    """The demo community and a community staff member's token (writes need one)."""
    return {"engine": demo, "auth": bearer(add_token("staff", "community"))}


@pytest.fixture
def client(db_url) -> TestClient:
    # raise_server_exceptions=False: a crash would show as a 500 answer, which every test refuses.
    return TestClient(create_app(db_url), raise_server_exceptions=False)


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (Grid, Estate, Building, Responder, Incident, IncidentHistory)
        }


def refused(r, status: int, *words: str) -> str:
    """The answer is ``status`` with a JSON ``detail`` holding each of ``words``."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word.lower() in detail.lower(), (word, detail)
    return detail


def feature(geometry, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def point(lon, lat) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


HAZARD = {"kind": "hazard", "category": "fire_safety", "title": "电动车楼道充电"}


# --------------------------------------------------------------------------- coordinates in the query


COORDINATE_CASES = [
    ({"lat": "23.69"}, ["lon is required"]),
    ({"lon": "113.04"}, ["lat is required"]),
    ({"lon": "abc", "lat": "23.69"}, ["lon", "valid number", "abc"]),
    ({"lon": "113.04", "lat": "95"}, ["lat 95", "out of range", "-90..90"]),
    ({"lon": "181", "lat": "23.69"}, ["lon 181", "out of range", "-180..180"]),
    ({"lon": "nan", "lat": "23.69"}, ["lon", "finite"]),
    ({"lon": "113.04", "lat": "NaN"}, ["lat", "finite"]),
    ({"lon": "inf", "lat": "23.69"}, ["lon", "finite"]),
    ({"lon": "113.04", "lat": "-Infinity"}, ["lat", "finite"]),
    ({"lon": "23.69", "lat": "113.04"}, ["swapped", "lon=113.04, lat=23.69"]),
    ({"lon": "113.04", "lat": "23.69", "crs": "mars2000"}, ["crs", "wgs84", "cgcs2000", "gcj02", "bd09"]),
]


def test_bad_coordinates_in_the_query(demo, client, subtests):
    """Missing, non-numeric, out of range, NaN, infinite, swapped, or in an unknown crs: 422 saying so."""
    for path in ("/grids/locate", "/responders/nearest"):
        for params, words in COORDINATE_CASES:
            with subtests.test(path=path, params=params):
                refused(client.get(API + path, params=params), 422, *words)


NEAREST_CASES = [
    ({"role": "chef"}, ["unknown role 'chef'", "grid_worker"]),
    ({"k": "0"}, ["k", "greater than or equal to 1"]),
    ({"k": "101"}, ["k", "less than or equal to 100"]),
    ({"k": "five"}, ["k", "integer"]),
    ({"max_m": "-5"}, ["max_m", "greater than 0"]),
    ({"on_duty": "maybe"}, ["on_duty", "boolean"]),
]


def test_bad_nearest_parameters(demo, client, subtests):
    """An unknown role, k outside 1..100, a negative max_m, a non-boolean on_duty: 422."""
    for params, words in NEAREST_CASES:
        with subtests.test(params=params):
            refused(
                client.get(f"{API}/responders/nearest", params={"lon": INSIDE[0], "lat": INSIDE[1], **params}),
                422,
                *words,
            )


def test_bad_parameters_for_an_incidents_responders(demo, client):
    refused(client.get(f"{API}/incidents/1/responders", params={"role": "chef"}), 422, "unknown role")
    refused(client.get(f"{API}/incidents/1/responders", params={"k": 1000}), 422, "k")
    refused(client.get(f"{API}/incidents/987654/responders"), 404, "no incident", "987654")


# --------------------------------------------------------------------------- filters and paging


FILTER_CASES = [
    ("incidents", {"kind": "foo"}, ["unknown kind 'foo'", "hazard"]),
    ("buildings", {"kind": "foo"}, ["unknown kind 'foo'", "old_building"]),
    ("responders", {"kind": "robot"}, ["unknown kind 'robot'", "person"]),
    ("incidents", {"category": "foo"}, ["unknown category 'foo'", "fire_safety"]),
    ("incidents", {"kind": "hazard", "category": "rooftop"}, ["unknown category 'rooftop'", "fire_safety"]),
    ("incidents", {"status": "foo"}, ["unknown status 'foo'", "reported"]),
    ("incidents", {"kind": "hazard", "status": "demolished"}, ["unknown status 'demolished' for hazard", "rectifying"]),
    ("incidents", {"grid": "nowhere"}, ["no grid 'nowhere'"]),
    ("grids", {"status": "open"}, ["status filter does not apply to grids", "bbox, grid"]),
    ("buildings", {"category": "fire_safety"}, ["category filter does not apply to buildings"]),
    ("estates", {"grid": "441802001001001"}, ["grid filter does not apply to estates"]),
    ("communities", {"since": "2025-01-01"}, ["since filter does not apply to communities"]),
    ("incidents", {"bbox": "1,2,3"}, ["four numbers"]),
    ("incidents", {"bbox": "a,b,c,d"}, ["four numbers"]),
    ("incidents", {"bbox": "113.1,23.6,113.0,23.7"}, ["min <= max"]),
    ("incidents", {"bbox": "113.0,23.6,113.1,95"}, ["bbox", "lat 95", "out of range"]),
    ("incidents", {"bbox": "nan,23.6,113.1,23.7"}, ["bbox", "finite"]),
    ("incidents", {"since": "2025-06-01", "until": "2025-01-01"}, ["since must not be later than until"]),
    ("incidents", {"since": "yesterday"}, ["since", "datetime"]),
    ("incidents", {"limit": "0"}, ["limit", "greater than or equal to 1"]),
    ("incidents", {"limit": "10001"}, ["limit", "less than or equal to 10000"]),
    ("incidents", {"offset": "-1"}, ["offset", "greater than or equal to 0"]),
    ("incidents", {"crs": "wgs72"}, ["crs", "gcj02"]),
]


def test_bad_filters_and_paging(demo, client, subtests):
    """Unknown filter values, filters that do not apply to the layer, bad boxes and times: 422."""
    for layer, params, words in FILTER_CASES:
        with subtests.test(layer=layer, params=params):
            refused(client.get(f"{API}/{layer}", params=params), 422, *words)


# --------------------------------------------------------------------------- writes


def _bowtie(x=113.04, y=23.69, d=0.001):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]]}


CREATE_CASES = [
    ("grids", feature(_bowtie(), code="X1", name="蝴蝶"), 422, ["invalid polygon", "self-intersection"]),
    ("estates", feature(_bowtie(), name="蝴蝶花园"), 422, ["invalid polygon", "self-intersection"]),
    (
        "grids",
        feature(
            {"type": "Polygon", "coordinates": [[[113.04, 23.69], [113.05, 23.70], [113.04, 23.69]]]},
            code="X1",
            name="x",
        ),
        422,
        ["too few points"],
    ),
    (
        "grids",
        feature({"type": "Polygon", "coordinates": [[[113.04, 23.69], [113.05, 23.70]]]}, code="X1", name="x"),
        422,
        ["not a valid geojson polygon", "at least 4 coordinates"],
    ),
    (
        "grids",
        feature(
            {"type": "Polygon", "coordinates": [[[113.04, 23.69], [113.05, 23.69], [113.06, 23.69], [113.04, 23.69]]]},
            code="X1",
            name="x",
        ),
        422,
        ["polygon"],
    ),
    ("grids", feature(point(113.04, 23.69), code="X1", name="x"), 422, ["takes a polygon or multipolygon", "point"]),
    ("grids", feature(None, code="X1", name="x"), 422, ["needs a geometry"]),
    (
        "incidents",
        feature(point(113.2, 23.8), **HAZARD),
        422,
        ["outside the area wangge serves", "nearest grid", "4418020010010", "m away"],
    ),
    ("incidents", feature(point(23.69, 113.04), **HAZARD), 422, ["swapped"]),
    ("incidents", feature(point(113.04, "x"), **HAZARD), 422, ["not a valid geojson point"]),
    (
        "incidents",
        feature(point(*INSIDE), **HAZARD, grid="441802001001001"),
        422,
        ["properties.grid", "extra inputs are not permitted"],
    ),
    (
        "incidents",
        feature(point(*INSIDE), **HAZARD, colour="red"),
        422,
        ["properties.colour", "extra inputs are not permitted"],
    ),
    (
        "incidents",
        feature(point(*INSIDE), kind="hazard", category="rooftop", title="t"),
        422,
        ["unknown category 'rooftop' for hazard", "fire_safety"],
    ),
    (
        "incidents",
        feature(point(*INSIDE), kind="accident", category="fire_safety", title="t"),
        422,
        ["properties.kind"],
    ),
    (
        "incidents",
        feature(point(*INSIDE), kind="hazard", category="fire_safety"),
        422,
        ["properties.title", "required"],
    ),
    ("buildings", feature(point(*INSIDE), code="CH-B001", name="重复"), 409, ["code 'CH-B001' already exists"]),
    (
        "grids",
        feature(
            {"type": "Polygon", "coordinates": [[[113.3, 23.6], [113.31, 23.6], [113.31, 23.61], [113.3, 23.6]]]},
            code="441802001001001",
            name="重复",
        ),
        409,
        ["code '441802001001001' already exists"],
    ),
    ("responders", feature(point(*INSIDE), code="CH-R001", name="重复", role="grid_worker"), 409, ["already exists"]),
    ("responders", feature(point(*INSIDE), code="NEW1", name="新人", role="Grid Worker!"), 422, ["properties.role"]),
    (
        "responders",
        feature(point(*INSIDE), code="NEW1", name="新人", role="grid_worker", grids=["nowhere"]),
        422,
        ["no grid 'nowhere'"],
    ),
    (
        "buildings",
        feature(point(*INSIDE), code="NEW1", name="新楼", households=-1),
        422,
        ["properties.households", "greater than or equal to 0"],
    ),
    ("buildings", feature(point(*INSIDE), code="NEW1", name="新楼", estate="不存在花园"), 422, ["no estate"]),
]


def test_a_refused_create_says_why_and_changes_nothing(demo, client, subtests):
    """Invalid, self-intersecting or degenerate polygons (with the GEOS reason), points outside the
    service area (naming the nearest grid), unknown or client-set properties, duplicate codes."""
    for layer, body, status, words in CREATE_CASES:
        with subtests.test(layer=layer, words=words):
            before = counts(demo["engine"])
            refused(client.post(f"{API}/{layer}", json=body, headers=demo["auth"]), status, *words)
            assert counts(demo["engine"]) == before


def test_nan_and_infinity_in_a_geometry_are_refused(demo, client, subtests):
    """Python's JSON reader accepts NaN and Infinity literals; the API still refuses them."""
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        with subtests.test(literal=literal):
            before = counts(demo["engine"])
            body = (
                b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.04, %s]}, "properties": {"kind": "hazard", "category": "fire_safety", "title": "t"}}'
                % literal
            )
            r = client.post(
                f"{API}/incidents", content=body, headers={**demo["auth"], "Content-Type": "application/json"}
            )
            refused(r, 422, "finite")
            assert counts(demo["engine"]) == before


def test_positions_given_as_objects_are_refused_readably(demo, client):
    """A polygon whose positions are objects, not lists of numbers (found by the fuzz test)."""
    before = counts(demo["engine"])
    body = {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [{"lon": 113.04}]}, "properties": {}}
    r = client.patch(f"{API}/grids/1", json=body, headers=demo["auth"])
    refused(r, 422, "not a valid geojson multipolygon")
    assert counts(demo["engine"]) == before


def test_a_body_that_is_not_json_is_refused_readably(demo, client):
    r = client.post(
        f"{API}/incidents",
        content=b'{"type": "Feature", "geometry": ',
        headers={**demo["auth"], "Content-Type": "application/json"},
    )
    refused(r, 422, "not valid json")
    refused(client.post(f"{API}/grids/locate", content=b"{oops"), 422, "not valid json")


def test_a_position_with_an_altitude_is_stored_without_it(demo, client):
    """GeoJSON allows [lon, lat, altitude]; that is not a database error (it was a 500 on PostGIS)."""
    r = client.post(
        f"{API}/incidents",
        json=feature({"type": "Point", "coordinates": [*INSIDE, 12.5]}, **HAZARD),
        headers=demo["auth"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["coordinates"] == list(INSIDE)
    assert r.json()["properties"]["grid"] == "441802001001005"


def test_a_refused_patch_changes_nothing(demo, client):
    """PATCH with a new position and a bad category: 422, and the incident, its position and its
    history are exactly as before. A bad geometry on a building: the same."""
    auth = demo["auth"]
    incident = client.get(f"{API}/incidents", params={"kind": "hazard", "limit": 1}).json()["features"][0]
    current = client.get(f"{API}/incidents/{incident['id']}", headers=auth)
    before = counts(demo["engine"])
    patch = feature(point(113.0424, 23.6972), category="rooftop")
    r = client.patch(
        f"{API}/incidents/{incident['id']}", json=patch, headers={**auth, "If-Match": current.headers["ETag"]}
    )
    refused(r, 422, "unknown category 'rooftop'")
    after = client.get(f"{API}/incidents/{incident['id']}", headers=auth)
    assert after.json() == current.json() and after.headers["ETag"] == current.headers["ETag"]
    assert counts(demo["engine"]) == before

    building = client.get(f"{API}/buildings", params={"limit": 1}).json()["features"][0]
    refused(
        client.patch(f"{API}/buildings/{building['id']}", json=feature(point(113.2, 23.8), name="搬走"), headers=auth),
        422,
        "outside",
    )
    refused(
        client.patch(f"{API}/buildings/{building['id']}", json=feature(point(*INSIDE), wings=3), headers=auth),
        422,
        "properties.wings",
    )
    assert client.get(f"{API}/buildings/{building['id']}").json() == building
    grid = client.get(f"{API}/grids", params={"limit": 1}).json()["features"][0]
    refused(client.patch(f"{API}/grids/{grid['id']}", json=feature(_bowtie()), headers=auth), 422, "self-intersection")
    refused(
        client.patch(f"{API}/grids/{grid['id']}", json=feature(None, code="441802001001002"), headers=auth),
        409,
        "already exists",
    )
    assert client.get(f"{API}/grids/{grid['id']}").json() == grid
    assert counts(demo["engine"]) == before


def test_unknown_feature_ids_are_404(demo, client, subtests):
    """GET, PATCH and DELETE of an id that does not exist: 404 naming it; a non-numeric id: 422."""
    before = counts(demo["engine"])
    for layer in ("grids", "estates", "buildings", "responders", "incidents", "communities"):
        with subtests.test(layer=layer):
            refused(client.get(f"{API}/{layer}/424242"), 404, "no ", "424242")
            refused(client.get(f"{API}/{layer}/abc"), 422, "feature_id", "integer")
            if layer != "communities":
                headers = {**demo["auth"], "If-Match": "*"}
                refused(client.patch(f"{API}/{layer}/424242", json=feature(None), headers=headers), 404, "424242")
                refused(client.delete(f"{API}/{layer}/424242", headers=headers), 404, "424242")
    assert counts(demo["engine"]) == before


def test_unknown_paths_are_404_with_a_pointer_to_the_docs(demo, client):
    refused(client.get(f"{API}/parks"), 404, "/docs")


# --------------------------------------------------------------------------- batch locate


BATCH_CASES = [
    (b"[1, 2]", ['"points"', "FeatureCollection"]),
    (b'{"pts": []}', ['"points"']),
    (b'{"points": 5}', ["points", "list"]),
    (b'{"points": [[113.04, 23.69], [113.05]]}', ["point 1", "[113.05]", "[lon, lat] pair"]),
    (b'{"points": [[113.04, "x"]]}', ["point 0", "[lon, lat] pair"]),
    (b'{"points": [[113.04, 23.69, 5]]}', ["point 0", "[lon, lat] pair"]),
    (b'{"points": [[113.04, NaN]]}', ["point 0", "lat", "finite"]),
    (b'{"points": [[Infinity, 23.69]]}', ["point 0", "lon", "finite"]),
    (b'{"points": [[113.04, 23.69], [23.69, 113.04], [1, 300]]}', ["point 1", "swapped", "1 more bad point"]),
    (b'{"points": [[113.04, 23.69]], "crs": "mars"}', ["unknown coordinate system 'mars'"]),
    (b'{"points": [[113.04, 23.69]], "crs": "EPSG:3857"}', ["unknown coordinate system", "gcj02"]),
    (
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}]}',
        ["features[0]", "only point"],
    ),
    (
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}]}',
        ["features[0]", "only point"],
    ),
    (b'{"type": "FeatureCollection", "features": {}}', ["features", "list"]),
]


def test_bad_batches(demo, client, subtests):
    """A batch of the wrong shape, with a bad, NaN, infinite or swapped point, or an unknown crs:
    422 naming the first bad point (counted from 0)."""
    for body, words in BATCH_CASES:
        with subtests.test(body=body[:60]):
            refused(
                client.post(f"{API}/grids/locate", content=body, headers={"Content-Type": "application/json"}),
                422,
                *words,
            )


def test_a_batch_whose_body_and_query_name_different_crs(demo, client):
    r = client.post(f"{API}/grids/locate", params={"crs": "bd09"}, json={"points": [list(INSIDE)], "crs": "gcj02"})
    refused(r, 422, "gcj02", "bd09")


def test_more_than_a_million_points_is_422_and_a_million_is_answered(demo, client):
    """The limit is 1,000,000 points per request: one more is refused with the count, exactly that many is located."""
    one = "[113.0406584,23.69558175]"
    too_many = ('{"points":[' + ",".join([one] * 1_000_001) + "]}").encode()
    refused(
        client.post(f"{API}/grids/locate", content=too_many, headers={"Content-Type": "application/json"}),
        422,
        "too many points",
        "1,000,001",
        "1,000,000",
    )
    r = client.post(
        f"{API}/grids/locate",
        content=too_many.replace(b"[" + one.encode() + b",", b"[", 1),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text[:300]
    answer = r.json()
    assert answer["count"] == answer["located"] == 1_000_000
    assert set(answer["grids"]) == {"441802001001005"}


@pytest.fixture
def small_limit_app(db_url, monkeypatch):
    """An app whose body limit is 2,000 bytes."""
    monkeypatch.setenv("WANGGE_MAX_BODY_BYTES", "2000")
    get_settings.cache_clear()
    app = create_app(db_url)
    yield app
    monkeypatch.delenv("WANGGE_MAX_BODY_BYTES")
    get_settings.cache_clear()


def _points_body(n: int) -> bytes:
    return json.dumps({"points": [list(INSIDE)] * n}).encode()


def test_a_body_over_the_limit_is_413(demo, small_limit_app):
    """With Content-Length, and streamed (chunked, no Content-Length): 413 and a message, before parsing."""
    client = TestClient(small_limit_app, raise_server_exceptions=False)
    body = _points_body(200)
    assert len(body) > 2000
    refused(
        client.post(f"{API}/grids/locate", content=body, headers={"Content-Type": "application/json"}),
        413,
        "larger than 2,000 bytes",
        "fewer points",
    )

    def chunks():
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    r = client.post(f"{API}/grids/locate", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    refused(r, 413, "larger than 2,000 bytes")
    # A feature write streamed over the limit is a 413 too, not "an error parsing the body".
    before = counts(demo["engine"])
    big = json.dumps(feature(point(*INSIDE), **HAZARD, description="很长" * 1500)).encode()
    r = client.post(
        f"{API}/incidents",
        content=iter([big[:1000], big[1000:]]),
        headers={**demo["auth"], "Content-Type": "application/json"},
    )
    refused(r, 413, "larger than")
    assert counts(demo["engine"]) == before
    # Under the limit, the same app answers.
    small = _points_body(10)
    assert (
        client.post(f"{API}/grids/locate", content=small, headers={"Content-Type": "application/json"}).json()[
            "located"
        ]
        == 10
    )


def test_a_body_streamed_in_many_small_pieces_is_counted_as_a_whole(demo, small_limit_app):
    """Straight over ASGI: thirty 100-byte messages, none over the limit alone, add up to 413."""
    body = _points_body(200)[:3000]
    messages = [{"type": "http.request", "body": body[i : i + 100], "more_body": True} for i in range(0, 3000, 100)]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{API}/grids/locate",
        "raw_path": f"{API}/grids/locate".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(small_limit_app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert "larger than 2,000 bytes" in json.loads(payload)["detail"]
    assert len(messages) <= 10  # it stopped reading once past the limit


# --------------------------------------------------------------------------- never a 500


def test_nothing_above_answers_500(demo, client):
    """A sweep of odd requests over every endpoint: each answer is below 500 and carries a detail."""
    odd = [
        ("get", f"{API}/grids/locate", {"params": {"lon": "", "lat": ""}}),
        ("get", f"{API}/grids/locate", {"params": {"lon": "1e999", "lat": "1"}}),
        ("get", f"{API}/responders/nearest", {"params": {"lon": "113.04", "lat": "23.69", "max_m": "nan"}}),
        ("get", f"{API}/buildings", {"params": {"bbox": ",,,"}}),
        ("get", f"{API}/incidents", {"params": {"until": "2025-13-45"}}),
        ("post", f"{API}/grids/locate", {"content": b"", "headers": {"Content-Type": "application/json"}}),
        (
            "post",
            f"{API}/grids/locate",
            {"content": "\ufeff{}".encode(), "headers": {"Content-Type": "application/json"}},
        ),
        ("post", f"{API}/incidents", {"json": [1, 2, 3], "headers": demo["auth"]}),
        (
            "post",
            f"{API}/incidents",
            {"json": feature({"type": "Point", "coordinates": []}, **HAZARD), "headers": demo["auth"]},
        ),
        (
            "post",
            f"{API}/incidents",
            {"json": feature({"type": "Point", "coordinates": [[1, 2]]}, **HAZARD), "headers": demo["auth"]},
        ),
        (
            "post",
            f"{API}/grids",
            {
                "json": feature({"type": "MultiPolygon", "coordinates": [[[[1, 2]]]]}, code="Z", name="z"),
                "headers": demo["auth"],
            },
        ),
    ]
    before = counts(demo["engine"])
    for method, url, kwargs in odd:
        r = getattr(client, method)(url, **kwargs)
        assert 400 <= r.status_code < 500, (url, kwargs, r.status_code, r.text[:300])
        assert r.json()["detail"], (url, kwargs)
    assert counts(demo["engine"]) == before


# --------------------------------------------------------------------------- numbers, strings and nesting past every limit


BIG = [2**31, 2**63, 2**64, 10**30]


def test_ids_and_paging_past_32_bits_are_422_naming_the_parameter(demo, client, subtests):
    """PostGIS ids are 32-bit: a larger one (or one past 64 bits, which overflowed) is refused
    before the database is asked, naming the parameter."""
    auth = {**demo["auth"], "If-Match": "*"}
    for n in BIG:
        requests = [
            ("get", f"{API}/incidents/{n}", {}, "feature_id"),
            ("get", f"{API}/incidents/{n}/workflow", {}, "incident_id"),
            ("get", f"{API}/incidents/{n}/timeline", {}, "incident_id"),
            ("get", f"{API}/incidents/{n}/responders", {}, "incident_id"),
            ("post", f"{API}/incidents/{n}/assign", {"json": {"responder_id": 1}, "headers": auth}, "incident_id"),
            ("post", f"{API}/incidents/{n}/actions/register", {"json": {}, "headers": auth}, "incident_id"),
            ("post", f"{API}/incidents/{n}/comments", {"json": {"text": "t"}, "headers": auth}, "incident_id"),
            ("patch", f"{API}/buildings/{n}", {"json": feature(None), "headers": auth}, "feature_id"),
            ("delete", f"{API}/buildings/{n}", {"headers": auth}, "feature_id"),
            ("get", f"{API}/incidents", {"params": {"offset": n}}, "offset"),
            ("get", f"{API}/incidents", {"params": {"limit": n}}, "limit"),
            ("get", f"{API}/incidents/points", {"params": {"limit": n}}, "limit"),
            ("get", f"{API}/responders/nearest", {"params": {"lon": INSIDE[0], "lat": INSIDE[1], "k": n}}, "k"),
            ("get", f"{API}/incidents/1/responders", {"params": {"k": n}}, "k"),
        ]
        for method, url, kwargs, name in requests:
            with subtests.test(url=url, params=kwargs.get("params")):
                refused(getattr(client, method)(url, **kwargs), 422, name)


def _incident(client) -> dict:
    return client.get(f"{API}/incidents", params={"kind": "case", "limit": 1}).json()["features"][0]


def test_integers_in_workflow_bodies_are_range_checked(demo, client, subtests):
    incident = _incident(client)
    headers = {**demo["auth"], "If-Match": "*"}
    before = counts(demo["engine"])
    cases = [
        ("actions/dispatch", {"assignee_id": 2**31}, "assignee_id"),
        ("actions/dispatch", {"assignee_id": 0}, "assignee_id"),
        ("actions/merge", {"target_id": 2**63}, "target_id"),
        ("actions/evaluate", {"rating": 6}, "rating"),
        ("actions/evaluate", {"rating": 2**64}, "rating"),
        ("actions/close", {"people_served": -1}, "people_served"),
        ("actions/close", {"people_served": 2**31}, "people_served"),
        ("actions/register", {"comment": "长" * 2001}, "comment"),
        ("assign", {"responder_id": 2**63}, "responder_id"),
        ("assign", {"responder_id": -1}, "responder_id"),
        ("comments", {"text": ""}, "text"),
        ("comments", {"text": "x" * 2001}, "text"),
        ("comments", {"text": "ok", "stance": "s" * 17}, "stance"),
    ]
    for path, body, name in cases:
        with subtests.test(path=path, body=str(body)[:40]):
            refused(client.post(f"{API}/incidents/{incident['id']}/{path}", json=body, headers=headers), 422, name)
    assert counts(demo["engine"]) == before


def test_feature_properties_past_the_column_sizes_are_422_on_create_and_patch(demo, client, subtests):
    """Every integer and string a feature carries is checked against its column, on PATCH too
    (which once took any value), before the database sees it."""
    auth = demo["auth"]
    building = client.get(f"{API}/buildings", params={"limit": 1}).json()["features"][0]
    responder = client.get(f"{API}/responders", params={"limit": 1}).json()["features"][0]
    before = counts(demo["engine"])
    too_big = [
        ("buildings", dict(code="B" * 65, name="楼"), "properties.code"),
        ("buildings", dict(code="NEW1", name="楼" * 201), "properties.name"),
        ("buildings", dict(code="NEW1", name="楼", households=2**63), "properties.households"),
        ("buildings", dict(code="NEW1", name="楼", residents=2**31), "properties.residents"),
        ("buildings", dict(code="NEW1", name="楼", address="路" * 301), "properties.address"),
        ("buildings", dict(code="NEW1", name="楼", estate="园" * 201), "properties.estate"),
        ("responders", dict(code="NEW1", name="人", role="grid_worker", phone="1" * 33), "properties.phone"),
        ("responders", dict(code="NEW1", name="人", role="grid_worker", grids=["G" * 65]), "properties.grids.0"),
        ("incidents", dict(HAZARD, reporter_name="名" * 101), "properties.reporter_name"),
        ("incidents", dict(HAZARD, category="c" * 65), "properties.category"),
    ]
    for layer, props, name in too_big:
        with subtests.test(layer=layer, field=name):
            refused(client.post(f"{API}/{layer}", json=feature(point(*INSIDE), **props), headers=auth), 422, name)
    patches = [
        ("buildings", building["id"], dict(households=2**63), "properties.households"),
        ("buildings", building["id"], dict(name="楼" * 201), "properties.name"),
        ("buildings", building["id"], dict(name=None), "properties.name"),
        ("buildings", building["id"], dict(households=None), "properties.households"),
        ("responders", responder["id"], dict(phone="1" * 33), "properties.phone"),
        ("responders", responder["id"], dict(role="Grid Worker"), "properties.role"),
    ]
    for layer, fid, props, name in patches:
        with subtests.test(layer=layer, patch=str(props)[:40]):
            refused(client.patch(f"{API}/{layer}/{fid}", json=feature(None, **props), headers=auth), 422, name)
    assert counts(demo["engine"]) == before
    assert client.get(f"{API}/buildings/{building['id']}").json() == building


def test_nul_characters_are_refused_in_the_query_the_path_and_the_body(demo, client, subtests):
    """PostgreSQL text cannot hold NUL (it was a 500 on PostGIS): 422 naming where it was."""
    auth = demo["auth"]
    incident = _incident(client)
    before = counts(demo["engine"])
    for url, name in [
        (f"{API}/incidents?grid=a%00b", "grid"),
        (f"{API}/incidents/points?grid=%00", "grid"),
        (f"{API}/buildings?category=x%00&limit=5", "category"),
        (f"{API}/responders/nearest?lon={INSIDE[0]}&lat={INSIDE[1]}&role=%00", "role"),
    ]:
        with subtests.test(url=url):
            refused(client.get(url), 422, name, "NUL")
    refused(
        client.post(f"{API}/incidents/{incident['id']}/actions/x%00", json={}, headers={**auth, "If-Match": "*"}),
        404,
        "NUL",
    )
    bodies = [
        ("post", f"{API}/incidents", feature(point(*INSIDE), **{**HAZARD, "title": "a\x00b"}), "properties.title"),
        ("post", f"{API}/buildings", feature(point(*INSIDE), code="N\x00", name="楼"), "properties.code"),
        ("post", f"{API}/incidents/{incident['id']}/comments", {"text": "a\x00"}, "text"),
        ("post", f"{API}/incidents/{incident['id']}/assign", {"responder_id": 1, "comment": "\x00"}, "comment"),
    ]
    for method, url, body, name in bodies:
        with subtests.test(url=url, field=name):
            refused(getattr(client, method)(url, json=body, headers={**auth, "If-Match": "*"}), 422, name, "NUL")
    assert counts(demo["engine"]) == before


def test_dates_far_from_today_are_422_not_an_overflow(demo, client, subtests):
    """Converting year 1 or year 9999 between time zones overflows: refused, naming the field."""
    auth = demo["auth"]
    for params, name in [
        ({"since": "0001-01-01T00:00:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-12:00"}, "until"),
    ]:
        with subtests.test(params=params):
            refused(client.get(f"{API}/incidents", params=params), 422, name, "1900")
    refused(client.get(f"{API}/stats", params={"start": "0001-01-01", "end": "2026-01-01"}), 422, "start")
    body = feature(point(*INSIDE), code="NEW1", name="人", role="grid_worker", located_at="9999-12-31T23:59:59-14:00")
    refused(client.post(f"{API}/responders", json=body, headers=auth), 422, "properties.located_at")


def test_nan_inside_free_properties_is_refused(demo, client):
    body = b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.0406584, 23.69558175]}, "properties": {"kind": "hazard", "category": "fire_safety", "title": "t", "properties": {"depth": NaN}}}'
    before = counts(demo["engine"])
    refused(
        client.post(f"{API}/incidents", content=body, headers={**demo["auth"], "Content-Type": "application/json"}),
        422,
        "properties.properties",
        "finite",
    )
    assert counts(demo["engine"]) == before


def _nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


def test_a_json_body_nested_too_deeply_is_422_before_parsing(demo, client, subtests):
    """1,000 levels made the parser raise RecursionError (a 500). Every JSON body is checked,
    whatever its JSON content type (or none), before any parser sees it."""
    deep = b'{"points": ' + _nested(1000) + b"}"
    for content_type in (
        "application/json",
        "application/geo+json",
        "application/vnd.example+json; charset=utf-8",
        None,
        "text/plain",
    ):
        with subtests.test(content_type=content_type):
            headers = {"Content-Type": content_type} if content_type else {}
            refused(
                client.post(f"{API}/grids/locate", content=deep, headers=headers), 422, "nested more than 64 levels"
            )
    r = client.post(f"{API}/grids/locate", content=deep, headers={"Content-Type": "application/json"})
    assert r.json()["errors"] == [{"loc": ["body"], "msg": r.json()["detail"]}]
    before = counts(demo["engine"])
    for url in (f"{API}/incidents", f"{API}/incidents/1/comments", f"{API}/incidents/1/actions/register"):
        with subtests.test(url=url):
            body = b'{"type": "Feature", "properties": {"properties": ' + b'{"a":' * 200 + b"1" + b"}" * 200 + b"}}"
            refused(
                client.post(
                    url, content=body, headers={**demo["auth"], "Content-Type": "application/json", "If-Match": "*"}
                ),
                422,
                "nested",
            )
    assert counts(demo["engine"]) == before
    # Brackets inside strings are text, not nesting (escaped quotes included).
    text = b'{"points": [[113.0406584, 23.69558175]], "note": "' + b"[" * 500 + b'\\"' + b"{" * 500 + b'"}'
    assert (
        client.post(f"{API}/grids/locate", content=text, headers={"Content-Type": "application/json"}).status_code
        != 500
    )
    assert (
        "nested"
        not in client.post(f"{API}/grids/locate", content=text, headers={"Content-Type": "application/json"}).text
    )
    # 64 levels is allowed: the body gets the usual answer about its shape.
    refused(
        client.post(
            f"{API}/grids/locate",
            content=b'{"points": ' + _nested(63, b"1") + b"}",
            headers={"Content-Type": "application/json"},
        ),
        422,
        "point 0",
    )


def test_json_depth_counts_only_brackets_outside_strings():
    from api.bodycheck import json_depth

    assert json_depth(b"") == json_depth(b"1") == json_depth(b'"[[["') == 0
    assert json_depth(b'{"a": [1, {"b": [2]}]}') == 4
    assert json_depth(b'["\\"[[", "\\\\", [[]]]') == 3
    assert json_depth(b'["\\\\\\"]]]"]') == 1
    assert json_depth(_nested(1000)) == 1000
    assert json_depth(json.dumps([[[1]]]).encode("utf-16")) == 3
    multipolygon = feature(
        {"type": "MultiPolygon", "coordinates": [[[[113.0, 23.0], [113.1, 23.0], [113.0, 23.1], [113.0, 23.0]]]]}
    )
    assert json_depth(json.dumps(multipolygon).encode()) == 6


def test_every_error_answer_is_documented_with_its_real_shape(client):
    """No operation documents FastAPI's own 422 (a list of details): every error is
    ``{"detail": str}``, a 422 may also list ``errors``; 503 and 429 carry Retry-After."""
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorAnswer"]["properties"]["detail"]["type"] == "string"
    assert schemas["ValidationErrorAnswer"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/ErrorLocation"
    }
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if path.endswith("/health") or "Service" in op.get("tags", ()) or documents_own_errors(path):
                continue  # documents_own_errors: a standard API's (Open311, OGC), tested with it
            responses = op["responses"]
            assert {"401", "422", "503"} <= responses.keys(), (method, path)
            assert responses["422"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ValidationErrorAnswer"
            }
            assert "Retry-After" in responses["503"]["headers"]
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in op:
                assert "413" in responses, (method, path)
