"""Which grid covers a point: the one function every caller uses.

Grids are held in memory, rebuilt when the grids change (see ``geo.db.revisions``), so a lookup
costs no database round trip: a raster of cells that one grid wholly covers (``geo.spatial.cells``)
answers most points with an array read, and a shapely STRtree answers the rest exactly. A
million points are answered in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.db.revisions import cached
from geo.models import Grid
from geo.spatial.cells import UNDECIDED, CellRaster, build_cell_raster
from geo.spatial.geometry import degrees_box, geodesic_distance_to

_POINT_TREE_FROM = 5_000


@dataclass(frozen=True)
class GridIndex:
    ids: np.ndarray  # grid primary keys
    codes: np.ndarray  # grid codes, same order
    geoms: np.ndarray  # shapely geometries, same order
    tree: shapely.STRtree
    rank: np.ndarray  # tie-break order: position of each grid when sorted by code
    cells: CellRaster | None  # decides the points well inside a grid; None when there are no grids

    def locate(self, lon, lat) -> np.ndarray:
        """Positions into ``ids`` of the grid covering each point, -1 where none does.

        A point on an edge shared by several grids is covered by all of them; the one with the
        smallest code wins, so the answer never depends on storage order.
        """
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        if lon.size == 0 or self.ids.size == 0 or self.cells is None:
            return self._covering(lon, lat)
        # Label - 1 is the position (and -1 for OUTSIDE); the undecided points get the exact test.
        result = self.cells.lookup(lon, lat).astype(np.int64) - 1
        undecided = np.flatnonzero(result == UNDECIDED - 1)
        if undecided.size:
            result[undecided] = self._covering(lon[undecided], lat[undecided])
        return result

    def locate_one(self, lon: float, lat: float) -> int:
        """:meth:`locate` for one point, without the array overhead where the raster decides."""
        label = self.cells.lookup_one(lon, lat) if self.cells is not None else UNDECIDED
        if label != UNDECIDED:
            return label - 1
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        if hits.size == 0:
            return -1
        return int(hits[np.argmin(self.rank[hits])]) if hits.size > 1 else int(hits[0])

    def locate_clear(self, lon: float, lat: float, clearance_m: float) -> int | None:
        """Position of the grid covering one point when the raster shows that no grid boundary
        comes within ``clearance_m`` of it; None when only the exact test can tell."""
        if self.cells is None:
            return None
        label = self.cells.lookup_one(lon, lat, clearance_m)
        return label - 1 if label > 0 else None

    def _covering(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The exact test: which grids' polygons cover each point (STRtree, GEOS predicates)."""
        result = np.full(lon.shape[0], -1, dtype=np.int64)
        if lon.size == 0 or self.ids.size == 0:
            return result
        points = shapely.points(lon, lat)
        # For a point, "intersects" is "covered by" (inside or on the boundary), and GEOS
        # answers it about twice as fast.
        if points.size >= _POINT_TREE_FROM:
            # Many points: index the points and let each (prepared) grid find its own, as
            # geopandas' sjoin does; one prepared polygon tests many points cheaply.
            grid_idx, point_idx = shapely.STRtree(points).query(self.geoms, predicate="intersects")
        else:
            point_idx, grid_idx = self.tree.query(points, predicate="intersects")
        if point_idx.size == 0:
            return result
        # Sort hits by (point, rank) and keep the first hit of each point.
        order = np.lexsort((self.rank[grid_idx], point_idx))
        point_idx, grid_idx = point_idx[order], grid_idx[order]
        first = np.ones(point_idx.size, dtype=bool)
        first[1:] = point_idx[1:] != point_idx[:-1]
        result[point_idx[first]] = grid_idx[first]
        return result


def _build_grid_index(session: Session) -> GridIndex:
    rows = session.execute(select(Grid.id, Grid.code, Grid.geom).order_by(Grid.id)).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    codes = np.array([r.code for r in rows], dtype=object)
    # One vectorised parse (WKB bytes from SpatiaLite, hex from PostGIS) instead of one per row.
    geoms = shapely.from_wkb([r.geom.data for r in rows]) if rows else np.empty(0, dtype=object)
    rank = np.empty(len(rows), dtype=np.int64)
    rank[np.argsort(codes.astype(str), kind="stable")] = np.arange(len(rows))
    return GridIndex(ids, codes, geoms, shapely.STRtree(geoms), rank, build_cell_raster(geoms))


def grid_index(session: Session, fresh: bool = False) -> GridIndex:
    """The grid index for this session's database, rebuilt when the grids change (``fresh``:
    including another process's change of a moment ago)."""
    return cached(session, "grid_index", ("grids",), _build_grid_index, fresh)


def locate_grid_ids(session: Session, lon, lat) -> list[int | None]:
    """Grid id covering each point (None outside every grid), for storing: it sees every
    committed change to the grids."""
    index = grid_index(session, fresh=True)
    pos = index.locate(lon, lat)
    return [int(index.ids[p]) if p >= 0 else None for p in pos]


@dataclass(frozen=True)
class PointLocation:
    """The answer to "which grid covers this point", with what a person needs to know around it."""

    grid_id: int | None
    code: str | None
    on_boundary: bool  # within the boundary tolerance of another grid
    touching: list[str]  # codes of the other grids within the tolerance
    nearest_code: str | None = None  # outside every grid: the closest one
    nearest_id: int | None = None
    nearest_distance_m: float | None = None


BOUNDARY_TOLERANCE_M = 0.5


def locate_point(session: Session, lon: float, lat: float, tolerance_m: float = BOUNDARY_TOLERANCE_M) -> PointLocation:
    """The grid covering one point (the same choice as :func:`locate_grid_ids`), and its neighbours.

    A point within ``tolerance_m`` of another grid is ``on_boundary``; the grid chosen is still
    the one the batch lookup chooses, so single and batch answers always agree.
    """
    index = grid_index(session)
    clear = index.locate_clear(lon, lat, tolerance_m)
    if clear is not None:  # well inside one grid: no other grid within the tolerance
        return PointLocation(int(index.ids[clear]), str(index.codes[clear]), False, [])
    pos = index.locate_one(lon, lat)
    if pos < 0:
        return _outside(index, lon, lat)
    near = index.tree.query(shapely.box(*degrees_box(lon, lat, tolerance_m)))
    near = near[near != pos]
    if near.size:
        # Cheap first: a grid farther in degrees than the tolerance allows cannot be within it.
        metres_per_degree = 110_000.0 * max(np.cos(np.radians(abs(lat) + 0.01)), 1e-6)
        near = near[shapely.distance(index.geoms[near], shapely.Point(lon, lat)) * metres_per_degree <= tolerance_m]
    touching = sorted(
        str(index.codes[i]) for i in near if geodesic_distance_to(index.geoms[i], lon, lat) <= tolerance_m
    )
    return PointLocation(int(index.ids[pos]), str(index.codes[pos]), bool(touching), touching)


def _outside(index: GridIndex, lon: float, lat: float) -> PointLocation:
    if index.ids.size == 0:
        return PointLocation(None, None, False, [])
    # The nearest grid in degrees bounds the search; the ground distance then decides.
    first = int(index.tree.query_nearest(shapely.Point(lon, lat))[0])
    bound = geodesic_distance_to(index.geoms[first], lon, lat)
    candidates = index.tree.query(shapely.box(*degrees_box(lon, lat, bound * 1.01 + 1.0)))
    distances = {int(i): geodesic_distance_to(index.geoms[i], lon, lat) for i in set(candidates) | {first}}
    best = min(distances, key=lambda i: (distances[i], index.rank[i]))
    return PointLocation(None, None, False, [], str(index.codes[best]), int(index.ids[best]), distances[best])


def grid_bounds(session: Session, code: str | None = None) -> tuple[float, float, float, float] | None:
    """WGS84 bounds of one grid (by code) or of all grids; None when there is none."""
    index = grid_index(session)
    geoms = index.geoms
    if code is not None:
        geoms = geoms[np.asarray(index.codes) == code]
    if len(geoms) == 0:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return float(x0), float(y0), float(x1), float(y1)


def grid_names(session: Session) -> dict[str, str]:
    """Code -> name of every grid, in code order."""
    return dict(session.execute(select(Grid.code, Grid.name).order_by(Grid.code)).all())
