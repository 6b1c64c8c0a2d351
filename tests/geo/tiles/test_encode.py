"""Vector tiles hold exactly the features that meet them, where they are, with their
properties, on both databases; the Python encoder means what PostGIS's does."""

from __future__ import annotations

from datetime import UTC, datetime

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.edit.features import delete_feature, update_feature
from geo.layers import LAYERS, field_values
from geo.models import Building, Incident, Responder
from geo.spatial.crs import CoordinateSystem, wgs84_to_gcj02
from geo.tiles import matrix
from geo.tiles.encode import postgis_tile, python_tile, render
from geo.tiles.layers import TILE_LAYERS, tile_layers
from geo.tiles.service import etag, stamp

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TO_MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
PERSONAL = {"phone", "reporter_name", "reporter_phone", "name", "title", "description"}


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def to_units(geom, tile: matrix.Tile):
    """Independent of the code under test: PROJ, then the tile's affine map."""
    x0, y0, x1, y1 = tile.bounds()

    def fn(lonlat):
        mx, my = TO_MERCATOR.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([(np.asarray(mx) - x0) / (x1 - x0) * 4096, (y1 - np.asarray(my)) / (y1 - y0) * 4096])

    return shapely.transform(geom, fn)


def stored(session, name: str) -> dict[int, tuple]:
    """Every row of the layer that a tile may show: id -> (geometry, properties)."""
    model = LAYERS[name].model
    out = {}
    for obj in session.scalars(select(model)):
        if obj.geom is None or getattr(obj, "deleted_at", None) is not None:
            continue
        values = {"id": obj.id, **field_values(obj, LAYERS[name].properties)}
        values.update(code=obj.code, name=obj.name) if name == "communities" else None
        out[obj.id] = (
            shapely.from_wkb(bytes(session.scalar(select(func.ST_AsBinary(model.geom)).where(model.id == obj.id)))),
            values,
        )
    return out


def demo_centre(session) -> tuple[float, float]:
    x, y = session.execute(select(func.avg(func.ST_X(Building.geom)), func.avg(func.ST_Y(Building.geom)))).one()
    return float(x), float(y)


def tiles_around(session, z: int) -> list[matrix.Tile]:
    """The four tiles meeting at the corner nearest the demo's centre (edges cut features)."""
    lon, lat = demo_centre(session)
    t = matrix.tile_at(lon, lat, z)
    return [matrix.Tile(z, t.x + dx, t.y + dy) for dx in (0, 1) for dy in (0, 1)]


def check_layer(tile: matrix.Tile, decoded: dict, name: str, rows: dict[int, tuple]) -> int:
    """The layer in the tile against the database: the same features, properties, places."""
    # The tile and its buffer of 64 units; geometries are snapped to whole units before they are
    # clipped (as ST_AsMVTGeom does), so what lies within half a unit beyond it may be drawn too.
    buffered = shapely.box(*tile.lonlat_bounds(64 / 4096))
    reach = shapely.box(*tile.lonlat_bounds(64.5 / 4096))
    meets = {i for i, (g, _) in rows.items() if g.intersects(buffered)}
    features = decoded.get(name, {"features": []})["features"]
    got = {f["id"]: f for f in features}
    assert len(got) == len(features), "each feature once"
    assert all(rows[i][0].intersects(reach) for i in got), f"{name}: features that do not meet the tile"
    for fid in meets - set(got):
        # Left out only a polygon of which less than one unit is more than half a unit inside.
        inside = shapely.clip_by_rect(to_units(rows[fid][0], tile), -63.5, -63.5, 4159.5, 4159.5)
        assert rows[fid][0].geom_type != "Point" and inside.area < 1.0, f"{name} {fid} is missing"
    wanted = TILE_LAYERS[name].fields
    for fid, feature in got.items():
        props = feature["properties"]
        expect = {k: v for k, v in rows[fid][1].items() if k in wanted and v is not None}
        computed = {"state"} if name == "incidents" else set()  # open, overdue or closed at NOW
        assert {k: v for k, v in props.items() if k not in computed} == expect
        assert not PERSONAL & set(props) - set(wanted)
        where = to_units(rows[fid][0], tile)
        drawn = shape(feature["geometry"])
        if drawn.geom_type == "Point":
            assert drawn.distance(where) <= 1.0
        else:
            inside = shapely.clip_by_rect(where, -64, -64, 4160, 4160)
            assert shapely.hausdorff_distance(drawn, inside) <= 2.0, f"{name} {fid} is not where it is stored"
    return len(got)


def test_a_tile_holds_exactly_the_features_that_meet_it(demo, session):
    layers = list(TILE_LAYERS.values())
    rows = {name: stored(session, name) for name in TILE_LAYERS}
    seen = dict.fromkeys(TILE_LAYERS, 0)
    for tile in tiles_around(session, 17):
        decoded = decode(render(session, layers, tile, NOW))
        for name in TILE_LAYERS:
            seen[name] += check_layer(tile, decoded, name, rows[name])
    assert all(seen.values()), seen  # every layer was drawn somewhere


def test_incidents_carry_their_state_and_never_the_deleted_ones(demo, session):
    layers = tile_layers("incidents")
    incident = session.scalars(select(Incident).order_by(Incident.id)).first()
    lon, lat = session.execute(
        select(func.ST_X(Incident.geom), func.ST_Y(Incident.geom)).where(Incident.id == incident.id)
    ).one()
    tile = matrix.tile_at(lon, lat, 16)
    before = {f["id"]: f["properties"] for f in decode(render(session, layers, tile, NOW))["incidents"]["features"]}
    assert incident.id in before
    assert {p["state"] for p in before.values()} <= {"open", "overdue", "closed"}
    delete_feature(session, "incidents", incident.id, now=NOW)
    after = decode(render(session, layers, tile, NOW)).get("incidents", {"features": []})["features"]
    assert incident.id not in {f["id"] for f in after}
    assert len(after) == len(before) - 1


def test_responders_and_incidents_tiles_hold_no_personal_data(demo, session):
    people = {r.name for r in session.scalars(select(Responder))} | {
        r.phone for r in session.scalars(select(Responder)) if r.phone
    }
    people |= {i.reporter_name for i in session.scalars(select(Incident)) if i.reporter_name}
    people |= {i.reporter_phone for i in session.scalars(select(Incident)) if i.reporter_phone}
    assert people
    lon, lat = demo_centre(session)
    tile = matrix.tile_at(lon, lat, 14)
    decoded = decode(render(session, tile_layers("incidents,responders"), tile, NOW))
    assert decoded["incidents"]["features"] and decoded["responders"]["features"]
    for layer in decoded.values():
        for feature in layer["features"]:
            assert not PERSONAL & set(feature["properties"])
            assert not people & set(map(str, feature["properties"].values()))


def test_layers_are_left_out_below_their_zoom_and_empty_tiles_are_empty(demo, session):
    lon, lat = demo_centre(session)
    decoded = decode(render(session, tile_layers("grids,buildings"), matrix.tile_at(lon, lat, 12), NOW))
    assert set(decoded) == {"grids"}  # buildings start at zoom 14
    assert render(session, tile_layers("buildings"), matrix.tile_at(lon, lat, 13), NOW) == b""
    assert render(session, tile_layers("grids,buildings"), matrix.tile_at(-lon, -lat, 16), NOW) == b""


def test_gcj02_tiles_are_shifted_as_amap_draws(demo, session):
    gcj = CoordinateSystem("gcj02")
    rows = stored(session, "buildings")
    lon, lat = demo_centre(session)
    tile = matrix.tile_at(lon, lat, 14)  # about 2 km across: most points are in it either way
    plain = {
        f["id"]: shape(f["geometry"])
        for f in decode(render(session, tile_layers("buildings"), tile, NOW))["buildings"]["features"]
    }
    shifted = {
        f["id"]: shape(f["geometry"])
        for f in decode(render(session, tile_layers("buildings"), tile, NOW, gcj))["buildings"]["features"]
    }
    assert shifted
    units_per_m = 4096 / (tile.bounds()[2] - tile.bounds()[0])
    moved = 0
    for fid, point in shifted.items():
        p = rows[fid][0]
        glon, glat = wgs84_to_gcj02(p.x, p.y)
        assert point.distance(to_units(shapely.Point(float(glon), float(glat)), tile)) <= 1.0
        if fid in plain:
            # GCJ-02 moves points here by a few hundred metres (more in Mercator metres).
            shift = point.distance(plain[fid]) / units_per_m
            assert 200 < shift < 1000
            moved += 1
    assert moved

    # Exactly the points whose shifted position meets the buffered tile (give or take the half
    # unit a point is snapped by).
    def meets(margin: float) -> set[int]:
        box = shapely.box(*tile.lonlat_bounds(margin / 4096))
        return {i for i, (g, _) in rows.items() if box.intersects(shapely.Point(*map(float, wgs84_to_gcj02(g.x, g.y))))}

    assert meets(64) <= set(shifted) <= meets(64.5)


def test_the_stamp_and_etag_change_with_a_write_to_the_layer(demo, engine):
    tile = matrix.tile(16, 0, 0)
    layers = tile_layers("buildings")
    with session_scope(engine) as s:
        first = stamp(s, layers, NOW)
        grid_stamp = stamp(s, tile_layers("estates"), NOW)
        building = s.scalars(select(Building)).first()
        assert stamp(s, layers, NOW) == first  # reading changes nothing
    with session_scope(engine) as s:
        update_feature(s, "buildings", building.id, {"name": "改名楼"}, None)
    with session_scope(engine) as s:
        second = stamp(s, layers, NOW)
        assert second != first
        assert stamp(s, tile_layers("estates"), NOW) == grid_stamp  # another layer's writes do not count
    assert etag(layers, first, tile) != etag(layers, second, tile)
    assert etag(layers, first, tile) != etag(layers, first, matrix.tile(16, 0, 1))
    assert etag(layers, first, tile) != etag(layers, first, tile, CoordinateSystem("gcj02"))
    # Incidents' tiles change with the clock (overdue): their stamps name the minute.
    incidents = tile_layers("incidents")
    with session_scope(engine) as s:
        assert stamp(s, incidents, NOW) != stamp(s, incidents, NOW.replace(minute=1))


def test_python_and_postgis_encoders_agree(postgis_url):
    from geo.db.engine import get_engine

    engine = get_engine(postgis_url)
    with session_scope(engine) as s:
        from geo.io.demo import load_demo

        load_demo(s, progress=False)
    layers = list(TILE_LAYERS.values())
    with session_scope(engine) as s:
        for tile in tiles_around(s, 16):
            by_sql, by_python = decode(postgis_tile(s, layers, tile, NOW)), decode(python_tile(s, layers, tile, NOW))
            assert set(by_sql) == set(by_python)
            for name in by_sql:
                a = {f["id"]: f for f in by_sql[name]["features"]}
                b = {f["id"]: f for f in by_python[name]["features"]}
                assert set(a) == set(b), name
                for fid in a:
                    assert a[fid]["properties"] == b[fid]["properties"]
                    assert a[fid]["geometry"]["type"] == b[fid]["geometry"]["type"]
                    ga, gb = shape(a[fid]["geometry"]), shape(b[fid]["geometry"])
                    assert shapely.hausdorff_distance(ga, gb) <= 2.0, (name, fid)
                    if ga.geom_type.endswith("Polygon"):
                        assert ga.area == pytest.approx(gb.area, rel=0.05, abs=4)
