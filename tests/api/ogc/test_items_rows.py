"""The items of the layers read as rows (geo/query/features.py ``feature_rows``) answer exactly
what the ORM path answers: same features, properties (free ones included), geometry, counts and
links, on every page, filter and CRS."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

import api.ogc.features as ogc_features
import api.v1.layers as v1_layers
from geo.db.session import session_scope
from geo.models import Building, Grid
from geo.query.features import ROW_LAYERS
from geo.spatial.geometry import from_db

OGC = "/ogc/collections/"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
_STAMP = re.compile(rb'"timeStamp":"[^"]*"')


def _both(client, monkeypatch, path: str, params: dict) -> tuple[bytes, bytes]:
    fast = client.get(OGC + path, params=params)
    with monkeypatch.context() as m:
        m.setattr(ogc_features, "ROW_LAYERS", frozenset())
        slow = client.get(OGC + path, params=params)
    assert fast.status_code == slow.status_code == 200, fast.text
    assert fast.headers["content-crs"] == slow.headers["content-crs"]
    return _STAMP.sub(b"", fast.content), _STAMP.sub(b"", slow.content)


def test_rows_answer_as_the_orm_does(demo, client, monkeypatch):
    with session_scope(demo) as s:
        grid = s.scalars(select(Grid).order_by(Grid.id).limit(1)).one()
        # Free properties: nested values become JSON text and never replace a field.
        grid.properties = {"note": "旧编号", "extra": {"a": [1, 2]}, "code": "not the code"}
        building = s.scalars(select(Building).order_by(Building.id).offset(2).limit(1)).one()
        building.properties = {"floors": 6, "tags": ["old", "tall"]}
        grid_code, kind = grid.code, building.kind
        bounds = s.scalar(select(Grid.geom).where(Grid.id == grid.id))
    x0, y0, x1, y1 = from_db(bounds).bounds
    box = f"{x0},{y0},{(x0 + x1) / 2},{(y0 + y1) / 2}"
    cases = [
        ("grids", {}),
        ("grids", {"limit": 3, "offset": 1}),
        ("grids", {"code": grid_code}),
        ("grids", {"bbox": box, "crs": EPSG + "4490"}),
        ("grids", {"offset": 100000}),  # past the end: the count comes from its own query
        ("estates", {"limit": 5}),
        ("estates", {"bbox": box}),
        ("buildings", {"limit": 50}),
        ("buildings", {"kind": getattr(kind, "value", kind), "limit": 4, "offset": 2}),
        ("buildings", {"bbox": box, "crs": EPSG + "3857", "limit": 20}),
        ("buildings", {"grid": grid_code}),
        ("communities", {}),
        ("communities", {"crs": EPSG + "4326"}),
        ("components", {"limit": 20}),
        ("components", {"bbox": box, "offset": 1}),
    ]
    calls = []
    read = ogc_features.feature_rows
    monkeypatch.setattr(ogc_features, "feature_rows", lambda *a, **k: calls.append(a[1]) or read(*a, **k))
    matched = 0
    for layer, params in cases:
        fast, slow = _both(client, monkeypatch, f"{layer}/items", params)
        assert fast == slow, (layer, params)
        matched += b'"numberReturned":0' not in fast
    # The comparisons saw features (not only empty pages), free properties among them.
    assert matched >= len(cases) - 3
    assert calls == [layer for layer, _ in cases]  # the answers compared came from both paths
    grids = client.get(OGC + "grids/items", params={"code": grid_code}).json()["features"][0]["properties"]
    assert grids["note"] == "旧编号" and grids["extra"] == '{"a": [1, 2]}' and grids["code"] == grid_code


def test_v1_lists_read_as_rows_answer_as_the_orm_does(demo, client, monkeypatch):
    with session_scope(demo) as s:
        grid = s.scalars(select(Grid).order_by(Grid.id).limit(1)).one()
        grid.properties = {"extra": {"b": "乙"}}
        grid_code = grid.code
        x0, y0, x1, y1 = from_db(grid.geom).bounds
    cases = [
        ("grids", {}),
        ("grids", {"grid": grid_code}),
        ("buildings", {"limit": 30, "offset": 5}),
        ("buildings", {"grid": grid_code, "crs": "gcj02"}),
        ("buildings", {"bbox": f"{x0},{y0},{x1},{y1}"}),
        ("estates", {"offset": 100000}),
        ("communities", {}),
        ("components", {"limit": 15}),
    ]
    calls = []
    read = v1_layers.feature_rows
    monkeypatch.setattr(v1_layers, "feature_rows", lambda *a, **k: calls.append(a[1]) or read(*a, **k))
    for layer, params in cases:
        fast = client.get(f"/api/v1/{layer}", params=params)
        with monkeypatch.context() as m:
            m.setattr(v1_layers, "ROW_LAYERS", frozenset())
            slow = client.get(f"/api/v1/{layer}", params=params)
        assert fast.status_code == slow.status_code == 200, fast.text
        assert fast.content == slow.content, (layer, params)
    assert calls == [layer for layer, _ in cases]
    assert client.get("/api/v1/buildings", params={"grid": "no-such-grid"}).status_code == 422


@pytest.mark.parametrize("layer", ["incidents", "responders"])
def test_personal_layers_keep_the_orm_path(demo, client, monkeypatch, layer):
    def refuse(*args, **kwargs):
        raise AssertionError("read as rows")

    monkeypatch.setattr(ogc_features, "feature_rows", refuse)
    answer = client.get(OGC + f"{layer}/items", params={"limit": 5})
    assert answer.status_code == 200 and answer.json()["numberReturned"] >= 1
    assert layer not in ROW_LAYERS and "patrols" not in ROW_LAYERS
