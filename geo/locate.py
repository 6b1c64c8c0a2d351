"""Which grid covers a point: the one function every caller uses.

Grids are held in memory as a shapely STRtree, rebuilt when the grids change (see
``geo.revisions``), so a lookup costs no database round trip and a million points are answered in
one vectorised query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.geometry import from_db
from geo.models import Grid
from geo.revisions import cached


@dataclass(frozen=True)
class GridIndex:
    ids: np.ndarray  # grid primary keys
    codes: np.ndarray  # grid codes, same order
    geoms: np.ndarray  # shapely geometries, same order
    tree: shapely.STRtree
    rank: np.ndarray  # tie-break order: position of each grid when sorted by code

    def locate(self, lon, lat) -> np.ndarray:
        """Positions into ``ids`` of the grid covering each point, -1 where none does.

        A point on an edge shared by several grids is covered by all of them; the one with the
        smallest code wins, so the answer never depends on storage order.
        """
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        result = np.full(lon.shape[0], -1, dtype=np.int64)
        if lon.size == 0 or self.ids.size == 0:
            return result
        points = shapely.points(lon, lat)
        point_idx, grid_idx = self.tree.query(points, predicate="covered_by")
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
    geoms = np.array([from_db(r.geom) for r in rows], dtype=object)
    rank = np.empty(len(rows), dtype=np.int64)
    rank[np.argsort(codes.astype(str), kind="stable")] = np.arange(len(rows))
    return GridIndex(ids, codes, geoms, shapely.STRtree(geoms), rank)


def grid_index(session: Session) -> GridIndex:
    """The grid index for this session's database, rebuilt when the grids change."""
    return cached(session, "grid_index", ("grids",), _build_grid_index)


def locate_grid_ids(session: Session, lon, lat) -> list[int | None]:
    """Grid id covering each point (None outside every grid)."""
    index = grid_index(session)
    pos = index.locate(lon, lat)
    return [int(index.ids[p]) if p >= 0 else None for p in pos]
