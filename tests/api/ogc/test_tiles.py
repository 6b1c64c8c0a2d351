"""/ogc tiles over HTTP: tiles, tilesets, TileJSON, tile matrix sets, caching and refusals."""

from __future__ import annotations

import mapbox_vector_tile
import pytest
from sqlalchemy import func, select

from api.ogc.tiles import CONFORMANCE, MVT
from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from geo.models import Building
from geo.tiles import matrix
from tests.support.world import bearer

TILES = "/ogc/tiles/WebMercatorQuad"


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


@pytest.fixture
def centre(demo) -> tuple[float, float]:
    with session_scope(demo) as s:
        x, y = s.execute(select(func.avg(func.ST_X(Building.geom)), func.avg(func.ST_Y(Building.geom)))).one()
    return float(x), float(y)


def path(tile: matrix.Tile, collection: str | None = None) -> str:
    where = f"/ogc/collections/{collection}/tiles/WebMercatorQuad" if collection else TILES
    return f"{where}/{tile.z}/{tile.x}/{tile.y}"


def test_the_maps_tile_holds_grids_estates_and_buildings_by_default(client, centre):
    tile = matrix.tile_at(*centre, 15)
    r = client.get(path(tile))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    layers = decode(r.content)
    assert set(layers) == {"grids", "estates", "buildings"}
    assert all(layer["features"] for layer in layers.values())
    picked = decode(client.get(path(tile) + "?collections=buildings,incidents,components").content)
    assert set(picked) == {"buildings", "incidents", "components"}
    assert {f["id"] for f in picked["buildings"]["features"]} == {f["id"] for f in layers["buildings"]["features"]}


def test_one_collections_tile_and_an_empty_tile(client, centre):
    tile = matrix.tile_at(*centre, 16)
    r = client.get(path(tile, "buildings"))
    assert r.status_code == 200 and set(decode(r.content)) == {"buildings"}
    far = matrix.tile_at(-centre[0], -centre[1], 16)
    empty = client.get(path(far, "buildings"))
    assert empty.status_code == 204 and empty.content == b""
    assert client.get(path(matrix.tile_at(*centre, 13), "buildings")).status_code == 204  # below its zoom


def test_tiles_are_revalidated_by_etag_and_change_with_a_write(client, centre, add_token):
    tile = matrix.tile_at(*centre, 16)
    first = client.get(path(tile, "buildings"))
    tag = first.headers["ETag"]
    assert tag.startswith('"') and "public" in first.headers["Cache-Control"]
    assert "must-revalidate" in first.headers["Cache-Control"]
    again = client.get(path(tile, "buildings"), headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    assert client.get(path(tile, "buildings"), headers={"If-None-Match": f"W/{tag}"}).status_code == 304
    # Another tile, another layer set, another crs: other tags.
    assert client.get(path(tile, "estates")).headers["ETag"] != tag
    assert client.get(path(tile, "buildings") + "?crs=gcj02").headers["ETag"] != tag
    building = decode(first.content)["buildings"]["features"][0]
    auth = bearer(add_token("staff", "community"))
    r = client.patch(
        f"{API}/buildings/{building['id']}", json={"type": "Feature", "properties": {"name": "新名楼"}}, headers=auth
    )
    assert r.status_code == 200, r.text
    after = client.get(path(tile, "buildings"), headers={"If-None-Match": tag})
    assert after.status_code == 200 and after.headers["ETag"] != tag
    names = {f["id"]: f["properties"]["name"] for f in decode(after.content)["buildings"]["features"]}
    assert names[building["id"]] == "新名楼"


def test_incident_tiles_show_what_the_map_points_show(client, centre, add_token):
    tile = matrix.tile_at(*centre, 14)
    west, south, east, north = tile.lonlat_bounds()
    points = client.get(f"{API}/incidents/points", params={"bbox": f"{west},{south},{east},{north}"}).json()
    r = client.get(path(tile, "incidents"))
    assert r.headers["Cache-Control"].startswith("public, max-age=15")
    features = decode(r.content)["incidents"]["features"]
    # The tile also holds the buffer's incidents; within the tile itself, the same ones.
    inside = {f["id"] for f in features if all(0 <= c <= 4096 for c in f["geometry"]["coordinates"])}
    states = dict(zip(points["states"], range(3)))
    assert inside == {p[0] for p in points["points"]}
    by_id = {p[0]: p[4] for p in points["points"]}
    assert all(states[f["properties"]["state"]] == by_id[f["id"]] for f in features if f["id"] in by_id)
    for feature in features:
        assert not {"reporter_name", "reporter_phone", "title", "description"} & set(feature["properties"])
    # Deleted: gone from both.
    gone = sorted(inside)[0]
    auth = bearer(add_token("staff", "community"))
    etag = client.get(f"{API}/incidents/{gone}", headers=auth).headers["ETag"]
    assert client.delete(f"{API}/incidents/{gone}", headers={**auth, "If-Match": etag}).status_code == 204
    assert gone not in {f["id"] for f in decode(client.get(path(tile, "incidents")).content)["incidents"]["features"]}


def test_responder_tiles_carry_no_phone_or_name(client, centre, add_token):
    tile = matrix.tile_at(*centre, 14)
    staff = bearer(add_token("staff", "community"))
    for headers in ({}, staff):  # the same tile for everyone: it has nothing personal
        features = decode(client.get(path(tile, "responders"), headers=headers).content)["responders"]["features"]
        assert features
        for feature in features:
            assert set(feature["properties"]) <= {"id", "code", "role", "kind", "on_duty"}


def test_tilejson_points_at_absolute_tile_urls(client, centre):
    tj = client.get(f"{TILES}/tilejson.json", params={"collections": "grids,buildings", "crs": "gcj02"}).json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == [f"http://testserver{TILES}/{{z}}/{{x}}/{{y}}?collections=grids,buildings&crs=gcj02"]
    assert (tj["minzoom"], tj["maxzoom"]) == (10, 24)
    west, south, east, north = tj["bounds"]
    assert west < centre[0] < east and south < centre[1] < north
    assert west < tj["center"][0] < east and south < tj["center"][1] < north
    layers = {layer["id"]: layer for layer in tj["vector_layers"]}
    assert set(layers) == {"grids", "buildings"}
    assert layers["buildings"]["fields"] == {
        "id": "Number",
        "code": "String",
        "name": "String",
        "kind": "String",
        "grid": "String",
    }
    assert layers["buildings"]["minzoom"] == 14
    one = client.get("/ogc/collections/incidents/tiles/WebMercatorQuad/tilejson.json").json()
    assert one["tiles"] == ["http://testserver/ogc/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}"]
    assert one["vector_layers"][0]["fields"]["state"] == "String"
    # The default is the maps' layers.
    assert [v["id"] for v in client.get(f"{TILES}/tilejson.json").json()["vector_layers"]] == [
        "grids",
        "estates",
        "buildings",
    ]


def test_tilesets_and_tile_matrix_sets(client, centre):
    listed = client.get("/ogc/collections/grids/tiles").json()
    (tileset,) = listed["tilesets"]
    assert tileset["dataType"] == "vector" and tileset["tileMatrixSetURI"] == matrix.TMS_URI
    self_link = next(link["href"] for link in tileset["links"] if link["rel"] == "self")
    meta = client.get(self_link).json()
    links = {link["rel"]: link for link in meta["links"]}
    assert links["item"]["templated"] and links["item"]["type"] == MVT
    assert links["item"]["href"].endswith(
        "/ogc/collections/grids/tiles/WebMercatorQuad/{tileMatrix}/{tileCol}/{tileRow}"
    )
    # The template's places are zoom, column, row: filled in, it is a tile.
    tile = matrix.tile_at(*centre, 15)
    href = links["item"]["href"].format(tileMatrix=tile.z, tileCol=tile.x, tileRow=tile.y)
    assert client.get(href).status_code == 200
    limits = {m["tileMatrix"]: m for m in meta["tileMatrixSetLimits"]}
    assert "9" not in limits and limits["15"]["minTileCol"] <= tile.x <= limits["15"]["maxTileCol"]
    assert limits["15"]["minTileRow"] <= tile.y <= limits["15"]["maxTileRow"]
    assert (
        client.get(links["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"]).json()["id"]
        == "WebMercatorQuad"
    )
    dataset = client.get("/ogc/tiles").json()["tilesets"][0]
    assert client.get(dataset["links"][0]["href"]).status_code == 200
    sets = client.get("/ogc/tileMatrixSets").json()["tileMatrixSets"]
    assert [s["id"] for s in sets] == ["WebMercatorQuad"]
    assert len(client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()["tileMatrices"]) == 25
    assert client.get("/ogc/tileMatrixSets/WorldCRS84Quad").status_code == 404
    assert any(c.endswith("/conf/mvt") for c in CONFORMANCE) and any(c.endswith("/conf/core") for c in CONFORMANCE)


@pytest.mark.parametrize(
    "url, status, words",
    [
        ("/ogc/collections/nothing/tiles/WebMercatorQuad/1/0/0", 404, "nothing"),
        ("/ogc/collections/patrols/tiles/WebMercatorQuad/1/0/0", 404, "personal"),
        ("/ogc/collections/patrols/tiles/WebMercatorQuad/tilejson.json", 404, "personal"),
        ("/ogc/collections/grids/tiles/WebMercatorQuad/25/0/0", 422, "0 to 24"),
        ("/ogc/collections/grids/tiles/WebMercatorQuad/2/4/0", 422, "column 4"),
        ("/ogc/collections/grids/tiles/WebMercatorQuad/2/0/-1", 422, "row -1"),
        ("/ogc/collections/grids/tiles/WebMercatorQuad/2/a/0", 422, "x"),
        (f"{TILES}/2/0/0?collections=grids,patrols", 422, "patrols"),
        (f"{TILES}/2/0/0?collections=,", 422, "at least one"),
        (f"{TILES}/2/0/0?crs=bd09", 422, "gcj02"),
    ],
)
def test_bad_requests_say_what_to_change(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert words in r.text
