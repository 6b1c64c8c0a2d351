"""Which buildings a track passed: within a distance of the building's footprint, or of its
point when it has none.

Tracks are cut into their segments, and the buildings' R-tree (shapely's STRtree, in a local
metric projection) is asked for everything within the distance of each segment: a long walk's
bounding box covers half a grid, its segments only the street they follow.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.models import Building
from geo.patrols.tracks import local_frame, to_metres
from geo.spatial.geometry import degrees_box

# Buildings are found by their point; a footprint reaches at most this far beyond it.
FOOTPRINT_REACH_M = 200.0


@dataclass(frozen=True)
class Visits:
    """For each visit: which track (its index in the tracks asked about), which building, and
    the first vertex of the track from which the building is within the distance."""

    track: np.ndarray
    building_id: np.ndarray
    vertex: np.ndarray


def track_visits(session: Session, lines: Sequence[BaseGeometry], distance_m: float) -> Visits:
    """The buildings within ``distance_m`` of each line (WGS84; a point for a track of one fix),
    each building once per line."""
    empty = Visits(np.empty(0, int), np.empty(0, int), np.empty(0, int))
    lines = [line for line in lines]
    coords, line_of = (
        shapely.get_coordinates(lines, return_index=True) if lines else (np.empty((0, 2)), np.empty(0, int))
    )
    if len(coords) == 0:
        return empty
    x0, y0 = coords.min(axis=0)
    x1, y1 = coords.max(axis=0)
    reach = distance_m + FOOTPRINT_REACH_M
    box = (*degrees_box(x0, y0, reach)[:2], *degrees_box(x1, y1, reach)[2:])
    ids, shapes = _buildings_in(session, box)
    if len(ids) == 0:
        return empty
    forward, _ = local_frame((x0, y0, x1, y1))
    xy = to_metres(forward, coords[:, 0], coords[:, 1])
    # Segment k joins vertex k and k + 1 of the same line.
    starts = np.flatnonzero(line_of[:-1] == line_of[1:])
    singles = np.setdiff1d(np.unique(line_of), line_of[starts])  # a line of one point: its point
    first_vertex = np.searchsorted(line_of, np.arange(len(lines)))
    pieces = np.concatenate(
        (
            shapely.linestrings(np.stack((xy[starts], xy[starts + 1]), axis=1)),
            shapely.points(xy[first_vertex[singles]]),
        )
    )
    piece_vertex = np.concatenate((starts, first_vertex[singles]))
    metric = shapely.transform(shapes, lambda c: to_metres(forward, c[:, 0], c[:, 1]))
    tree = shapely.STRtree(metric)
    piece, building = tree.query(pieces, predicate="dwithin", distance=distance_m)
    if len(piece) == 0:
        return empty
    vertex = piece_vertex[piece]
    track = line_of[vertex]
    # The first vertex per (track, building): sort by it, keep the first of each pair.
    order = np.lexsort((vertex, building, track))
    track, building, vertex = track[order], building[order], vertex[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (track[1:] != track[:-1]) | (building[1:] != building[:-1])
    return Visits(track[first], ids[building[first]], vertex[first] - first_vertex[track[first]])


def visited_buildings(
    session: Session, tracks: Sequence[tuple[Hashable, shapely.LineString]], distance_m: float
) -> list[tuple[Hashable, int]]:
    """``(key, building id)`` for every building within ``distance_m`` of a track."""
    keys = [key for key, _ in tracks]
    found = track_visits(session, [line for _, line in tracks], distance_m)
    return [(keys[t], int(b)) for t, b in zip(found.track.tolist(), found.building_id.tolist(), strict=True)]


def _buildings_in(session: Session, box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and shapes (footprint, else point) of the buildings whose point lies in ``box``."""
    shape = func.coalesce(Building.footprint, Building.geom)
    rows = session.execute(
        select(Building.id, func.ST_AsBinary(shape)).where(
            backend_for(session).bbox_filter(Building.geom, Building.__tablename__, box)
        )
    ).all()
    if not rows:
        return np.empty(0, int), np.empty(0, object)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    shapes = shapely.from_wkb([bytes(r[1]) for r in rows])
    return ids, shapes
