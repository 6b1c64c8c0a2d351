"""Built tiles kept on disk, keyed by the revisions of their layers.

SpatiaLite builds tiles in Python, several times slower than PostGIS's ST_AsMVT; a tile built
once is kept under ``WANGGE_VECTOR_TILE_CACHE_DIR`` and served from there until a write to one
of its layers bumps their revision (geo/db/revisions.py), which moves every later request to a
new folder (and removes the older ones): a changed layer is never served from an old tile. Tiles
are written on first request, or in advance with ``wangge tiles build``.

Layout: ``DIR/<database>/<layers and crs>/<revisions>/<z>/<x>/<y>.mvt`` (the first three parts
hashed; an empty file is an empty tile). Tiles that change with the clock (incidents, which turn
overdue) are never kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.db.session import session_scope
from geo.query.extent import layer_extent
from geo.settings import get_settings
from geo.spatial.crs import WGS84, CoordinateSystem
from geo.tiles.encode import render
from geo.tiles.layers import TileLayer
from geo.tiles.matrix import Tile, tiles_covering

FORMAT_VERSION = "mvt-2"  # a change to how tiles are encoded moves every tile to a new folder


def enabled(session: Session) -> bool:
    mode = get_settings().vector_tile_cache
    return mode == "on" or (mode == "auto" and backend_for(session).name == "spatialite")


def keepable(layers: Sequence[TileLayer]) -> bool:
    return not any(layer.timely for layer in layers)


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _set_dir(root: Path, session: Session, layers: Sequence[TileLayer], crs: CoordinateSystem) -> Path:
    database = _hash(session.get_bind().engine.url.render_as_string(hide_password=True))
    return root / database / _hash(FORMAT_VERSION, ",".join(layer.name for layer in layers), crs.name)


def tile_path(
    root: Path, session: Session, layers: Sequence[TileLayer], revision: str, tile: Tile, crs: CoordinateSystem
) -> Path:
    return _set_dir(root, session, layers, crs) / _hash(revision) / str(tile.z) / str(tile.x) / f"{tile.y}.mvt"


def cached_tile(
    session: Session,
    layers: Sequence[TileLayer],
    tile: Tile,
    now: datetime,
    revision: str,
    crs: CoordinateSystem = WGS84,
    root: Path | None = None,
) -> bytes:
    """The tile from the cache, or built and kept there."""
    path = tile_path(root or Path(get_settings().vector_tile_cache_dir), session, layers, revision, tile, crs)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    body = render(session, layers, tile, now, crs)
    revision_dir = path.parents[2]
    first = not revision_dir.exists()
    _write(path, body)
    if first:  # the layers changed: their older tiles will never be asked for again
        prune(revision_dir)
    return body


def prune(current: Path) -> None:
    """Remove the folders of the other revisions beside ``current`` (a reader that had opened
    one of their tiles still reads it; one that had not builds the tile again)."""
    for stale in current.parent.iterdir():
        if stale != current and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _write(path: Path, body: bytes) -> None:
    # Written aside and renamed: a reader sees the whole tile or none (several servers may share it).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tiles_to_build(session: Session, layers: Sequence[TileLayer], minzoom: int | None, maxzoom: int) -> Iterator[Tile]:
    """Every tile from ``minzoom`` (default: the lowest the layers are drawn at) to ``maxzoom``
    that meets one of the layers' features."""
    boxes = [layer_extent(session, layer.name, layer.deps) for layer in layers]
    found = [b for b in boxes if b is not None]
    if not found:
        return
    box = (min(b[0] for b in found), min(b[1] for b in found), max(b[2] for b in found), max(b[3] for b in found))
    start = min(layer.minzoom for layer in layers) if minzoom is None else minzoom
    for z in range(start, maxzoom + 1):
        yield from tiles_covering(box, z)


def build_tiles(
    engine: Engine,
    layers: Sequence[TileLayer],
    tiles: Iterable[Tile],
    now: datetime,
    crs: CoordinateSystem = WGS84,
    root: Path | None = None,
    progress=None,
) -> tuple[int, int]:
    """Build and keep ``tiles`` at the layers' current revision; remove the folders of older
    revisions of the same layers. (tiles built, of which empty)."""
    from geo.tiles.service import stamp

    root = root or Path(get_settings().vector_tile_cache_dir)
    built = empty = 0
    with session_scope(engine) as session:
        revision = stamp(session, layers, now)
        current = tile_path(root, session, layers, revision, Tile(0, 0, 0), crs).parents[2]
        for tile in tiles:
            body = cached_tile(session, layers, tile, now, revision, crs, root)
            built += 1
            empty += not body
            if progress is not None:
                progress(1)
    if current.exists():
        prune(current)
    return built, empty
