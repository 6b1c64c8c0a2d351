"""The tile a request asks for: its revision stamp (for ETags and the cache) and its bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from geo.db.revisions import read_revisions
from geo.errors import InputError
from geo.spatial.crs import WGS84, CoordinateSystem
from geo.tiles import cache
from geo.tiles.encode import render
from geo.tiles.layers import TileLayer
from geo.tiles.matrix import Tile

TILE_CRS = ("wgs84", "gcj02")


def tile_crs(crs: CoordinateSystem) -> CoordinateSystem:
    """Tiles are WGS84 or shifted to GCJ-02 (for Amap and Tencent basemaps), nothing else."""
    if crs.name not in TILE_CRS:
        raise InputError(f"Vector tiles come in crs wgs84 or gcj02 (for Amap basemaps), not {crs.name}")
    return crs


def stamp(session: Session, layers: Sequence[TileLayer], now: datetime) -> str:
    """What the tiles of ``layers`` depend on: their revision counters, and the minute for
    layers whose tiles change with the clock. Equal stamps, equal tiles."""
    deps = tuple(sorted({dep for layer in layers for dep in layer.deps}))
    revisions = read_revisions(session, deps)
    text = ",".join(f"{dep}={rev}" for dep, rev in zip(deps, revisions))
    if any(layer.timely for layer in layers):
        text += f",minute={now.replace(second=0, microsecond=0).isoformat()}"
    return text


def etag(layers: Sequence[TileLayer], revision: str, tile: Tile, crs: CoordinateSystem = WGS84) -> str:
    """A strong ETag over the layers, their revisions, the tile and the coordinate system."""
    key = "|".join(
        (
            cache.FORMAT_VERSION,
            ",".join(layer.name for layer in layers),
            revision,
            f"{tile.z}/{tile.x}/{tile.y}",
            crs.name,
        )
    )
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def max_age(layers: Sequence[TileLayer]) -> int:
    """How long a client may reuse a tile without asking: the shortest of its layers'."""
    return min(layer.max_age_s for layer in layers)


def tile_bytes(
    session: Session,
    layers: Sequence[TileLayer],
    tile: Tile,
    now: datetime,
    crs: CoordinateSystem = WGS84,
    revision: str | None = None,
) -> bytes:
    """The tile (b"" when empty): from the tile cache when it is on and the tile may be kept
    (``revision``: the layers' stamp, when the caller has it already)."""
    if cache.enabled(session) and cache.keepable(layers):
        return cache.cached_tile(session, layers, tile, now, revision or stamp(session, layers, now), crs)
    return render(session, layers, tile, now, crs)
