"""One vector tile of one or more layers: built by PostGIS, or in Python on either database.

Both give the same tile in meaning (MVT 2.1, extent 4096, a buffer of 64 beyond each edge,
y pointing down, coordinates snapped to whole tile units, polygons made valid and collapsed
ones dropped, each feature's id as the MVT feature id and as the ``id`` property):

- PostGIS: one statement per tile, ``ST_AsMVT`` over ``ST_AsMVTGeom`` of each layer's rows that
  meet the buffered tile, found through the GiST index; the layers' tiles concatenated (MVT
  layers concatenate).
- Python (SpatiaLite, and GCJ-02 tiles on both): the rows that meet the buffered tile, found
  through the spatial index, read as WKB, moved to tile units with numpy and shapely (shifted to
  GCJ-02 first when asked), clipped, snapped, and encoded by mapbox-vector-tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from geoalchemy2 import WKTElement
from mapbox_vector_tile.encoder import VectorTile
from sqlalchemy import ColumnElement, LargeBinary, func, literal, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.spatial.crs import WGS84, CoordinateSystem
from geo.tiles.layers import TileLayer
from geo.tiles.matrix import BUFFER, EXTENT, Tile, lonlat_to_mercator

_ENCODE_OPTIONS = {
    "extents": EXTENT,
    "y_coord_down": True,  # given in tile units, y down, as PostGIS makes them
    "quantize_bounds": None,
    "check_winding_order": False,  # to_tile_units oriented every polygon at once
}
# Geometries are snapped to whole units before they are clipped (as ST_AsMVTGeom does): what
# lies within half a unit beyond the buffer snaps onto its edge, so rows are looked for that far.
_HALF = float(np.nextafter(np.float32(0.5), np.float32(0)))  # as PostGIS: what rounds onto the edge
_REACH = BUFFER + 0.5
# How far beyond the tile's lon/lat box a GCJ-02 tile's rows are looked for (degrees, about
# 11 m): the shift changes by far less than that across any tile.
_GCJ_PAD = 1e-4


def shown(layers: Sequence[TileLayer], tile: Tile) -> list[TileLayer]:
    """The layers a tile at its zoom draws."""
    return [layer for layer in layers if tile.z >= layer.minzoom]


def render(
    session: Session, layers: Sequence[TileLayer], tile: Tile, now: datetime, crs: CoordinateSystem = WGS84
) -> bytes:
    """The tile of ``layers`` (b"" when it holds no feature)."""
    drawn = shown(layers, tile)
    if not drawn:
        return b""
    if crs == WGS84 and backend_for(session).name == "postgis":
        return postgis_tile(session, drawn, tile, now)
    return python_tile(session, drawn, tile, now, crs)


# --------------------------------------------------------------------------- PostGIS


def _bbox_clause(session: Session, layer: TileLayer, box: tuple[float, float, float, float]) -> ColumnElement[bool]:
    return backend_for(session).bbox_filter(layer.table.c.geom, layer.table.name, box)


def postgis_tile(session: Session, layers: Sequence[TileLayer], tile: Tile, now: datetime) -> bytes:
    """One statement: each layer's ``ST_AsMVT``, concatenated."""
    envelope = func.ST_TileEnvelope(tile.z, tile.x, tile.y)
    box = tile.lonlat_bounds(_REACH / EXTENT)
    parts: list[Any] = []
    for layer in layers:
        geom = layer.table.c.geom
        mvt_geom = func.ST_AsMVTGeom(func.ST_Transform(geom, 3857), envelope, EXTENT, BUFFER, True)
        rows = (
            select(layer.table.c.id.label("fid"), *layer.columns(now), mvt_geom.label("mvt_geom"))
            .where(_bbox_clause(session, layer, box), *layer.where())
            .subquery(f"{layer.name}_rows")
        )
        mvt = (
            select(func.ST_AsMVT(rows.table_valued(), layer.name, EXTENT, "mvt_geom", "fid"))
            .where(rows.c.mvt_geom.is_not(None))
            .scalar_subquery()
        )
        parts.append(func.coalesce(mvt, literal(b"", LargeBinary)))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return bytes(session.execute(select(joined)).scalar_one() or b"")


# --------------------------------------------------------------------------- Python


def _selection_box(tile: Tile, crs: CoordinateSystem) -> tuple[float, float, float, float]:
    """The WGS84 box that holds every stored point the tile (in ``crs``) may show."""
    west, south, east, north = tile.lonlat_bounds(_REACH / EXTENT)
    if crs == WGS84:
        return west, south, east, north
    # The tile's edges in crs, taken back to WGS84: the box around them, a little wider.
    t = np.linspace(0.0, 1.0, 9)
    lon = np.concatenate([west + (east - west) * t, west + (east - west) * t, np.full(9, west), np.full(9, east)])
    lat = np.concatenate(
        [np.full(9, south), np.full(9, north), south + (north - south) * t, south + (north - south) * t]
    )
    x, y = crs.to_wgs84(lon, lat)
    return (
        float(x.min()) - _GCJ_PAD,
        float(y.min()) - _GCJ_PAD,
        float(x.max()) + _GCJ_PAD,
        float(y.max()) + _GCJ_PAD,
    )


def to_tile_units(geoms: np.ndarray, tile: Tile, crs: CoordinateSystem = WGS84) -> np.ndarray:
    """Stored (WGS84) geometries in the tile's units: 0 to EXTENT across, y down; snapped to
    whole units, clipped to the buffered tile and made valid (empty where nothing is left)."""
    if crs != WGS84:
        geoms = crs.geometries_from_wgs84(geoms)
    x0, y0, x1, y1 = tile.bounds()
    sx, sy = EXTENT / (x1 - x0), EXTENT / (y1 - y0)

    def project(lonlat: np.ndarray) -> np.ndarray:
        mx, my = lonlat_to_mercator(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([(mx - x0) * sx, (y1 - my) * sy])

    # ST_AsMVTGeom's steps, in its order: lines and polygons smaller than half a unit dropped,
    # clipped to the buffered tile plus (just under) half a unit, snapped to whole units, and made
    # valid where snapping broke them. (It also simplifies within half a unit, which moves nothing
    # by more than that: left out here but for the slivers it makes vanish.)
    moved = shapely.transform(geoms, project)
    shaped = shapely.get_type_id(moved) != 0
    bounds = shapely.bounds(moved)
    with np.errstate(invalid="ignore"):  # empty geometries have no bounds
        tiny = shaped & (bounds[:, 2] - bounds[:, 0] < 0.5) & (bounds[:, 3] - bounds[:, 1] < 0.5)
        lo, hi = -BUFFER - _HALF, EXTENT + BUFFER + _HALF
        beyond = (bounds[:, 0] < lo) | (bounds[:, 1] < lo) | (bounds[:, 2] > hi) | (bounds[:, 3] > hi)
    moved[tiny] = None
    moved[beyond] = shapely.clip_by_rect(moved[beyond], lo, lo, hi, hi)
    snapped = shapely.transform(moved, np.round)
    broken = ~shapely.is_valid(snapped) & ~shapely.is_missing(snapped)
    snapped[broken] = shapely.set_precision(moved[broken], 1.0)
    # Polygons left smaller than one unit are what its simplification collapses (slivers).
    with np.errstate(invalid="ignore"):
        snapped[shaped & (shapely.area(snapped) < 1.0) & (shapely.get_dimensions(snapped) == 2)] = None
    # Exterior rings clockwise on screen (y down), as MVT 2.1 wants, the holes the other way.
    return shapely.orient_polygons(snapped)


def layer_features(
    session: Session, layer: TileLayer, tile: Tile, now: datetime, crs: CoordinateSystem = WGS84
) -> list[dict[str, Any]]:
    """The layer's features in the tile, in tile units, as mapbox-vector-tile takes them."""
    box = _selection_box(tile, crs)
    geom = layer.table.c.geom
    where = [_bbox_clause(session, layer, box), *layer.where()]
    if not layer.points:  # a point's box is the point: the index said it all
        frame = WKTElement(shapely.box(*box).wkt, srid=4326)
        where.append(func.ST_Intersects(geom, frame))
    columns = layer.columns(now)
    stmt = select(func.ST_AsBinary(geom), *columns).where(*where)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    wkb = np.array([bytes(r[0]) for r in rows], dtype=object)
    geoms = to_tile_units(shapely.from_wkb(wkb), tile, crs)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    names = [c.key for c in columns]
    features = []
    for row, shape in zip((r for r, k in zip(rows, keep) if k), geoms[keep]):
        props = {name: value for name, value in zip(names, row[1:]) if value is not None}
        features.append({"geometry": shape, "properties": props, "id": props["id"]})
    return features


def python_tile(
    session: Session, layers: Sequence[TileLayer], tile: Tile, now: datetime, crs: CoordinateSystem = WGS84
) -> bytes:
    encoded = []
    for layer in layers:
        features = layer_features(session, layer, tile, now, crs)
        if features:
            encoded.append({"name": layer.name, "features": features})
    if not encoded:
        return b""
    # What mapbox_vector_tile.encode does, with the faster properties below.
    tile_message = _VectorTile(default_options=_ENCODE_OPTIONS)
    for layer_data in encoded:
        tile_message.add_layer(name=layer_data["name"], features=layer_data["features"])
    return tile_message.tile.SerializeToString()


class _VectorTile(VectorTile):
    """mapbox-vector-tile's encoder, with a feature's properties (its keys and values indexed
    once per layer, as the library does) added in one call instead of two per property: on a
    tile of thousands of features, the library's own way takes longer than the geometry."""

    def _handle_attr(self, layer, feature, props):
        tags: list[int] = []
        for key, value in props.items():
            if not isinstance(value, (str, bool, int, float)):
                continue  # as the library: other types are not MVT values
            k = self.seen_keys_idx.get(key)
            if k is None:
                k = self.seen_keys_idx[key] = self.key_idx
                self.key_idx += 1
                layer.keys.append(key)
            seen = self.seen_values_bool_idx if isinstance(value, bool) else self.seen_values_idx
            v = seen.get(value)
            if v is None:
                v = seen[value] = self.val_idx
                self.val_idx += 1
                _set_value(layer.values.add(), value)
            tags += (k, v)
        feature.tags.extend(tags)


def _set_value(message, value: str | bool | int | float) -> None:
    if isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, int):
        message.int_value = value
    else:
        message.double_value = value
