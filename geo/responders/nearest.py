"""Nearest responders: an in-memory index of responder positions, ranked by ground distance.

The index follows the ``roster`` and ``responder_locations`` revisions, so a phone's new
position counts within ``index_check_interval_s`` everywhere (at once in the writing process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from geo.db.revisions import cached
from geo.errors import InputError
from geo.models import KNOWN_ROLES, Grid, Responder, responder_grids
from geo.spatial.geometry import degrees_box, from_db
from geo.spatial.ranking import GEODESIC, Ranker
from geo.spatial.search import widening_radii

_START_RADIUS_M = 500.0


@dataclass(frozen=True)
class ResponderIndex:
    ids: np.ndarray
    codes: np.ndarray  # str
    names: np.ndarray  # str
    kinds: np.ndarray  # str
    phones: np.ndarray  # str or None
    located_at: np.ndarray  # datetime or None
    roles: np.ndarray  # str
    on_duty: np.ndarray  # bool
    lon: np.ndarray  # NaN where the responder has no known position
    lat: np.ndarray
    grid_codes: list[tuple[str, ...]]  # grids each responder serves, sorted
    tree: shapely.STRtree  # over positions of responders that have one
    tree_pos: np.ndarray  # index position of each tree item
    roles_known: frozenset[str]
    located_per_m2: dict[str | None, float]  # how densely responders (of each role; None: all) are spread
    _cards: dict[tuple, dict] = field(default_factory=dict, repr=False, compare=False)

    def card(self, position: int, omit: tuple[str, ...] = ()) -> dict[str, Any]:
        """What an answer says about one responder (position in WGS84 as ``lon``, ``lat``),
        without the fields in ``omit``; made once per index and ``omit``."""
        card = self._cards.get((position, omit))
        if card is None:
            located_at = self.located_at[position]
            full = {
                "id": int(self.ids[position]),
                "code": self.codes[position],
                "name": self.names[position],
                "kind": self.kinds[position],
                "role": self.roles[position],
                "phone": self.phones[position],
                "on_duty": bool(self.on_duty[position]),
                "grids": list(self.grid_codes[position]),
                "lon": float(self.lon[position]),
                "lat": float(self.lat[position]),
                "located_at": located_at.isoformat() if located_at else None,
            }
            card = self._cards[(position, omit)] = {k: v for k, v in full.items() if k not in omit}
        return card

    def start_radius_m(self, k: int, role: str | None) -> float:
        """A first search radius expected to hold about twice ``k`` responders: a small circle
        means few ground distances to compute, and the search widens when it holds too few."""
        density = self.located_per_m2.get(role, 0.0)
        if density <= 0.0:
            return _START_RADIUS_M
        return min(max(math.sqrt(2.0 * k / (math.pi * density)), 10.0), _START_RADIUS_M)


def _build(session: Session) -> ResponderIndex:
    rows = session.execute(
        select(
            Responder.id,
            Responder.code,
            Responder.name,
            Responder.kind,
            Responder.phone,
            Responder.located_at,
            Responder.role,
            Responder.on_duty,
            Responder.geom,
        ).order_by(Responder.id)
    ).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    points = [from_db(r.geom) for r in rows]
    lon = np.array([p.x if p is not None else np.nan for p in points], dtype=float)
    lat = np.array([p.y if p is not None else np.nan for p in points], dtype=float)
    served: dict[int, list[str]] = {}
    links: Select[int, str] = select(responder_grids.c.responder_id, Grid.code).join(
        Grid, Grid.id == responder_grids.c.grid_id
    )
    for rid, code in session.execute(links):
        served.setdefault(rid, []).append(code)
    located = np.flatnonzero(~np.isnan(lon))
    roles = np.array([r.role for r in rows], dtype=object)
    return ResponderIndex(
        ids=ids,
        codes=np.array([r.code for r in rows], dtype=object),
        names=np.array([r.name for r in rows], dtype=object),
        kinds=np.array([r.kind for r in rows], dtype=object),
        phones=np.array([r.phone for r in rows], dtype=object),
        located_at=np.array([r.located_at for r in rows], dtype=object),
        roles=roles,
        on_duty=np.array([bool(r.on_duty) for r in rows], dtype=bool),
        lon=lon,
        lat=lat,
        grid_codes=[tuple(sorted(served.get(int(i), ()))) for i in ids],
        tree=shapely.STRtree(shapely.points(lon[located], lat[located])),
        tree_pos=located,
        roles_known=frozenset(KNOWN_ROLES) | frozenset(roles.tolist()),
        located_per_m2=_densities(lon[located], lat[located], roles[located]),
    )


def _densities(lon: np.ndarray, lat: np.ndarray, roles: np.ndarray) -> dict[str | None, float]:
    """Responders per square metre over the box they spread across, in all and per role."""
    if lon.size < 2:
        return {}
    width_m = (lon.max() - lon.min()) * 111_320.0 * np.cos(np.radians((lat.max() + lat.min()) / 2.0))
    area = max(width_m * (lat.max() - lat.min()) * 110_574.0, 1.0)
    names, counts = np.unique(roles.astype(str), return_counts=True)
    return {None: lon.size / area} | {str(n): int(c) / area for n, c in zip(names, counts)}


def responder_index(session: Session) -> ResponderIndex:
    return cached(session, "responder_index", ("roster", "responder_locations", "grids"), _build)


@dataclass(frozen=True)
class Ranked:
    position: int  # in the responder index: ``index.card(position)`` describes the responder
    cost: float  # metres for the geodesic ranker


def nearest_responders(
    session: Session,
    lon: float,
    lat: float,
    k: int = 5,
    role: str | None = None,
    on_duty: bool | None = None,
    max_m: float | None = None,
    ranker: Ranker = GEODESIC,
    index: ResponderIndex | None = None,
) -> list[Ranked]:
    """The ``k`` responders nearest to a point by ground distance, nearest first (ties by id).
    Positions are into ``index`` (by default :func:`responder_index`); pass the index the
    caller reads the cards from, so both are the same one."""
    if index is None:
        index = responder_index(session)
    if role is not None and role not in index.roles_known:
        raise InputError(f"Unknown role {role!r}: use one of {', '.join(sorted(index.roles_known))}")
    for radius in widening_radii(index.start_radius_m(k, role), max_m, 2.0):
        hits = index.tree_pos[index.tree.query(shapely.box(*degrees_box(lon, lat, radius)))]
        if role is not None:
            hits = hits[index.roles[hits] == role]
        if on_duty is not None:
            hits = hits[index.on_duty[hits] == on_duty]
        dist = GEODESIC.costs(lon, lat, index.lon[hits], index.lat[hits])
        inside = dist <= radius
        # Every responder within `radius` is in the box, so once k of them are, they are the k nearest.
        if inside.sum() >= k:
            break
    hits, dist = hits[inside], dist[inside]
    if ranker is not GEODESIC:
        pool = np.lexsort((index.ids[hits], dist))[: max(4 * k, 20)]
        hits, dist = hits[pool], ranker.costs(lon, lat, index.lon[hits[pool]], index.lat[hits[pool]])
    order = np.lexsort((index.ids[hits], dist))[:k]
    return [Ranked(h, cost) for h, cost in zip(hits[order].tolist(), dist[order].tolist())]
