"""Topology checks for a set of grid polygons: overlaps and gaps ("seamless coverage").

Shapes are compared in longitude/latitude; areas are measured on the ellipsoid. Pieces thinner
than the tolerance (floating-point slivers along shared edges) are not reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from geo.spatial.geometry import geodesic_area_m2

# Metres per degree of latitude, rounded down: turns a tolerance in metres into degrees.
_M_PER_DEG = 110_000.0


@dataclass
class TopologyReport:
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)  # code, code, m²
    gaps: list[tuple[float, float, float]] = field(default_factory=list)  # lon, lat of a point inside, m²

    @property
    def ok(self) -> bool:
        return not self.overlaps and not self.gaps

    def lines(self) -> list[str]:
        out = [f"overlap: grids {a} and {b} share {area:.1f} m²" for a, b, area in self.overlaps]
        out += [f"gap: {area:.1f} m² uncovered near lon {x:.6f}, lat {y:.6f}" for x, y, area in self.gaps]
        return out


def _significant(piece, tolerance_deg: float, min_area_m2: float) -> bool:
    piece = shapely.get_parts(piece)
    polys = [p for p in piece if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return False
    merged = shapely.union_all(polys)
    if geodesic_area_m2(merged) <= min_area_m2:
        return False
    return not merged.buffer(-tolerance_deg / 2, join_style="mitre").is_empty


def check_grids(codes, geoms, boundary=None, tolerance_m: float = 0.05, min_area_m2: float = 0.01) -> TopologyReport:
    """Overlaps between any two grids, and gaps inside their union (or inside ``boundary``)."""
    geoms = np.asarray(geoms, dtype=object)
    codes = list(codes)
    report = TopologyReport()
    if geoms.size == 0:
        return report
    tol = tolerance_m / _M_PER_DEG
    geoms = shapely.make_valid(geoms)

    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    for i, j in zip(left, right):
        if i < j:
            shared = shapely.intersection(geoms[i], geoms[j])
            if _significant(shared, tol, min_area_m2):
                report.overlaps.append((codes[i], codes[j], geodesic_area_m2(shared)))

    union = shapely.union_all(geoms)
    if boundary is not None:
        parts = shapely.get_parts(shapely.difference(boundary, union))
    else:
        parts = [
            shapely.Polygon(ring)
            for poly in shapely.get_parts(union)
            if poly.geom_type == "Polygon"
            for ring in poly.interiors
        ]
    for part in parts:
        if _significant(part, tol, min_area_m2):
            p = part.point_on_surface()
            report.gaps.append((p.x, p.y, geodesic_area_m2(part)))
    return report
