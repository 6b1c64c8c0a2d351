"""OGC API Features against a real server (``wangge serve`` in another process), as its clients
use it: GDAL's OAPIF driver (through pyogrio) reads every collection and sends bbox and attribute
filters to the server; OWSLib reads and writes; parallel replaces with one ETag let one through."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from owslib.ogcapi.features import Features
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.layers import LAYERS
from geo.models import Building, Estate, Grid, Incident
from geo.spatial.geometry import from_db
from tests.support.world import bearer

PUBLIC_COLLECTIONS = {name for name in LAYERS if name != "patrols"}


@pytest.fixture
def served(db_url, demo, add_token, serve_wangge, tmp_path) -> SimpleNamespace:
    """One server on the demo community, its access log, and a community staff member's token."""
    token = add_token("staff", "community")
    log = tmp_path / "server.log"
    base = serve_wangge(db_url, log=log)
    return SimpleNamespace(ogc=base + "/ogc", log=log, token=token, engine=demo)


def _requests_since(log: Path, mark: int, path: str) -> list[str]:
    """The query strings of the requests for ``path`` logged after byte ``mark``."""
    text = log.read_bytes()[mark:].decode(errors="replace")
    return [unquote(m) for m in re.findall(rf'"GET {re.escape(path)}\?([^ ]*) HTTP', text)]


def _unfiltered_pages(queries: list[str], *marks: str) -> int:
    return sum(not any(m in q for m in marks) for q in queries)


def _count(engine, layer: str) -> int:
    model = LAYERS[layer].model
    with session_scope(engine) as s:
        stmt = select(func.count()).select_from(model)
        if model is Incident:
            stmt = stmt.where(Incident.deleted_at.is_(None))
        return s.scalar(stmt) or 0


def test_gdal_reads_every_collection_and_sends_filters_to_the_server(served):
    url = "OAPIF:" + served.ogc
    names = {str(n) for n in pyogrio.list_layers(url)[:, 0]}
    assert names == PUBLIC_COLLECTIONS  # the public is not shown the patrols' tracks
    for name in sorted(names):
        frame = pyogrio.read_dataframe(url, layer=name)
        assert len(frame) == _count(served.engine, name), name

    with session_scope(served.engine) as s:
        rows = s.execute(select(Building.code, Building.geom)).all()
    codes = np.array([r[0] for r in rows])
    points = np.array([from_db(r[1]) for r in rows])
    x0, y0, x1, y1 = shapely.total_bounds(points)
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    inside = sorted(codes[shapely.intersects(points, shapely.box(*box))])
    assert 0 < len(inside) < len(codes)

    mark = served.log.stat().st_size
    frame = pyogrio.read_dataframe(url, layer="buildings", bbox=box)
    assert sorted(frame["code"]) == inside
    sent = _requests_since(served.log, mark, "/ogc/collections/buildings/items")
    # Filtered by the server, not after a full download (GDAL first reads one page to learn the fields).
    assert any("bbox=" in q for q in sent) and _unfiltered_pages(sent, "bbox=") <= 1

    code = inside[0]
    mark = served.log.stat().st_size
    frame = pyogrio.read_dataframe(url, layer="buildings", where=f"code = '{code}'")
    assert list(frame["code"]) == [code]
    sent = _requests_since(served.log, mark, "/ogc/collections/buildings/items")
    # As a property filter (code=...), or as CQL2 when the server declares it.
    pushed = f"code={code}", "filter="
    assert any(p in q for q in sent for p in pushed) and _unfiltered_pages(sent, *pushed) <= 1


def test_owslib_reads_creates_replaces_and_deletes(served, monkeypatch):
    # OWSLib keeps its request headers in a module-level dict, which Features() updates.
    monkeypatch.setattr("owslib.ogcapi.REQUEST_HEADERS", {"User-Agent": "wangge tests"})
    api = Features(served.ogc, headers={"Authorization": f"Bearer {served.token}"})
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert {c["id"] for c in api.collections()["collections"]} == set(LAYERS)  # staff see the patrols too
    assert api.api()["servers"][0]["url"] == served.ogc
    items = api.collection_items("grids", limit=5)
    assert items["numberMatched"] == _count(served.engine, "grids") and len(items["features"]) == 5

    with session_scope(served.engine) as s:
        grid = from_db(s.scalars(select(Grid.geom).order_by(Grid.id)).first())
    at = grid.representative_point()
    shape = shapely.geometry.mapping(shapely.box(at.x - 1e-4, at.y - 1e-4, at.x + 1e-4, at.y + 1e-4))
    new = {"type": "Feature", "geometry": shape, "properties": {"name": "OGC 小区", "property_company": "甲"}}
    assert api.collection_item_create("estates", new)
    location = api.response_headers["Location"]
    fid = location.rsplit("/", 1)[1]
    assert api.collection_item("estates", fid)["properties"]["property_company"] == "甲"

    api.headers["Content-Type"] = "application/geo+json"
    replaced = {**new, "properties": {"name": "OGC 小区", "property_company": "乙"}}
    assert api.collection_item_update("estates", fid, json.dumps(replaced))
    with session_scope(served.engine) as s:
        assert s.scalar(select(Estate.property_company).where(Estate.id == int(fid))) == "乙"
    assert api.collection_item_delete("estates", fid)
    with session_scope(served.engine) as s:
        assert s.get(Estate, int(fid)) is None


def test_parallel_replaces_with_one_etag_let_one_through(served):
    with httpx.Client(base_url=served.ogc, timeout=60) as client:
        fid = client.get("/collections/estates/items", params={"limit": 1}).json()["features"][0]["id"]
        read = client.get(f"/collections/estates/items/{fid}")
        tag, geometry, name = read.headers["etag"], read.json()["geometry"], read.json()["properties"]["name"]
    answers: dict[int, httpx.Response] = {}
    start = threading.Barrier(6)

    def replace(i: int) -> None:
        body = {"type": "Feature", "geometry": geometry, "properties": {"name": name, "property_company": f"公司{i}"}}
        with httpx.Client(base_url=served.ogc, timeout=60) as client:
            start.wait(timeout=30)
            answers[i] = client.put(f"/collections/estates/items/{fid}", json=body, headers=bearer(served.token, tag))

    threads = [threading.Thread(target=replace, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [200] + [412] * 5, [a.text for a in answers.values()]
    winner = next(i for i, a in answers.items() if a.status_code == 200)
    with session_scope(served.engine) as s:
        assert s.scalar(select(Estate.property_company).where(Estate.id == fid)) == f"公司{winner}"


def test_a_retried_create_with_an_idempotency_key_makes_one_feature(served):
    with session_scope(served.engine) as s:
        grid = from_db(s.scalars(select(Grid.geom).order_by(Grid.id)).first())
    at = grid.representative_point()
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [at.x, at.y]},
        "properties": {"code": "OGC-B-1", "name": "新楼"},
    }
    headers = {**bearer(served.token), "Idempotency-Key": "ogc-create-1"}
    with httpx.Client(base_url=served.ogc, timeout=60) as client:
        first = client.post("/collections/buildings/items", json=body, headers=headers)
        again = client.post("/collections/buildings/items", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"] and again.headers["location"] == first.headers["location"]
    with session_scope(served.engine) as s:
        assert s.scalar(select(func.count()).select_from(Building).where(Building.code == "OGC-B-1")) == 1
