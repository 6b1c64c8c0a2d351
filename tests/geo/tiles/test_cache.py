"""The tile cache: tiles kept on disk by their layers' revisions, never served after a write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import mapbox_vector_tile
import pytest
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.edit.features import update_feature
from geo.models import Building
from geo.settings import get_settings
from geo.spatial.crs import WGS84
from geo.tiles import cache, matrix
from geo.tiles.encode import render
from geo.tiles.layers import tile_layers
from geo.tiles.service import stamp, tile_bytes

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def cache_on(monkeypatch, tmp_path) -> Path:
    root = tmp_path / "tiles"
    monkeypatch.setenv("WANGGE_VECTOR_TILE_CACHE", "on")
    monkeypatch.setenv("WANGGE_VECTOR_TILE_CACHE_DIR", str(root))
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


def demo_tile(session, z: int = 16) -> matrix.Tile:
    x, y = session.execute(select(func.avg(func.ST_X(Building.geom)), func.avg(func.ST_Y(Building.geom)))).one()
    return matrix.tile_at(float(x), float(y), z)


def names(body: bytes) -> dict[int, str]:
    return {f["id"]: f["properties"]["name"] for f in mapbox_vector_tile.decode(body)["buildings"]["features"]}


def test_a_kept_tile_is_served_until_its_layer_changes(demo, cache_on):
    layers = tile_layers("buildings")
    with session_scope(demo) as s:
        tile = demo_tile(s)
        first = tile_bytes(s, layers, tile, NOW)
        assert first == render(s, layers, tile, NOW)
        path = cache.tile_path(cache_on, s, layers, stamp(s, layers, NOW), tile, WGS84)
        assert path.read_bytes() == first
        path.write_bytes(render(s, tile_layers("grids"), tile, NOW))  # what the cache holds is what is served
        assert tile_bytes(s, layers, tile, NOW) == path.read_bytes()
        building = next(iter(names(first)))
    with session_scope(demo) as s:
        update_feature(s, "buildings", building, {"name": "新名楼"}, None)
    with session_scope(demo) as s:
        after = tile_bytes(s, layers, tile, NOW)
        assert names(after)[building] == "新名楼"
        assert not path.exists()  # the older revision's tiles are gone with their folder
        assert cache.tile_path(cache_on, s, layers, stamp(s, layers, NOW), tile, WGS84).read_bytes() == after


def test_incident_tiles_are_never_kept_and_the_cache_can_be_off(demo, cache_on, monkeypatch):
    with session_scope(demo) as s:
        tile = demo_tile(s, 15)
        assert tile_bytes(s, tile_layers("incidents"), tile, NOW)
        assert not cache_on.exists()
        monkeypatch.setenv("WANGGE_VECTOR_TILE_CACHE", "off")
        get_settings.cache_clear()
        assert tile_bytes(s, tile_layers("buildings"), tile, NOW)
        assert not cache_on.exists()


def test_wangge_tiles_build_fills_the_cache_and_drops_older_revisions(demo, cli, cache_on):
    result = cli("tiles", "build", "--collections", "grids,buildings", "--maxzoom", "15")
    assert result.exit_code == 0, result.output
    built = sorted(cache_on.rglob("*.mvt"))
    assert built and {p.parent.parent.name for p in built} == {"10", "11", "12", "13", "14", "15"}
    assert f"{len(built)} tiles of grids,buildings" in result.output
    (revision_dir,) = {p.parents[2] for p in built}
    layers = tile_layers("grids,buildings")
    with session_scope(demo) as s:
        tile = demo_tile(s, 15)
        assert tile_bytes(s, layers, tile, NOW) == render(s, layers, tile, NOW)
        building = s.scalars(select(Building.id)).first()
    with session_scope(demo) as s:
        update_feature(s, "buildings", building, {"name": "新名楼"}, None)
    assert cli("tiles", "build", "--collections", "grids,buildings", "--maxzoom", "14").exit_code == 0
    assert not revision_dir.exists()
    assert {p.parents[2] for p in cache_on.rglob("*.mvt")} != {revision_dir}


@pytest.mark.parametrize(
    "args, words",
    [
        (("--collections", "incidents"), "never kept"),
        (("--collections", "patrols"), "patrols"),
        (("--minzoom", "9", "--maxzoom", "8"), "minzoom"),
        (("--crs", "bd09"), "gcj02"),
    ],
)
def test_wangge_tiles_build_refuses_what_it_cannot_build(demo, cli, cache_on, args, words):
    result = cli("tiles", "build", *args)
    assert result.exit_code == 2 and words in result.output
