"""A raster of small cells, each labelled with the one grid that wholly covers it.

Most points fall well inside a grid. For them "which grid covers this point" is one array read:
the cell under the point says which grid covers all of it. Only points in cells that a grid
boundary crosses (or that grids overlap, or that lie outside the grids' extent) need the exact
geometric test, and so is a point too close to its cell's edge. So the answer
is always the exact one; the raster only decides, quickly, the points it can decide for certain.

GDAL rasterises the grids (through rasterio): a cell is labelled with a grid when no grid boundary
touches it (``all_touched``) and exactly one grid covers its centre. A cell that no boundary
touches lies wholly inside or wholly outside every grid, so its centre decides for all of it.
"""

from __future__ import annotations

import gc
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import shapely
from rasterio import Affine
from rasterio.enums import MergeAlg
from rasterio.features import rasterize

UNDECIDED = -1  # a boundary touches the cell, grids overlap in it, or the point is outside the raster
OUTSIDE = 0  # no grid covers any part of the cell
# Rounding slack between GDAL's cell arithmetic and ours, as a fraction of a cell: a point this
# close to its cell's edge is left to the exact test.
_EDGE_SLACK = 1e-3
_METRES_PER_DEGREE = 110_000.0  # less than a degree of latitude anywhere: margins err on the safe side


@dataclass(frozen=True)
class CellRaster:
    labels: np.ndarray  # (rows, cols) int32: position + 1 of the grid covering the cell, OUTSIDE or UNDECIDED
    west: float
    north: float
    dx: float  # cell width in degrees of longitude
    dy: float  # cell height in degrees of latitude
    max_abs_lat: float  # for turning metres into degrees of longitude safely

    def _margins(self, tolerance_m: float) -> tuple[float, float]:
        """Margins as fractions of a cell: a point farther than these from its cell's edges is
        farther than ``tolerance_m`` from every grid boundary."""
        dlat = tolerance_m / _METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(min(self.max_abs_lat + dlat, 89.9))), 1e-6)
        return dlon / self.dx + _EDGE_SLACK, dlat / self.dy + _EDGE_SLACK

    def lookup(self, lon: np.ndarray, lat: np.ndarray, tolerance_m: float = 0.0) -> np.ndarray:
        """Label of each point's cell (int32), UNDECIDED where the raster cannot decide, or where
        a grid boundary may come within ``tolerance_m`` of the point."""
        mx, my = self._margins(tolerance_m)
        rows, cols = self.labels.shape
        fx = (lon - self.west) / self.dx
        fy = (self.north - lat) / self.dy
        col = np.floor(fx)
        row = np.floor(fy)
        fx -= col
        fy -= row
        ok = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        ok &= (fx > mx) & (fx < 1.0 - mx) & (fy > my) & (fy < 1.0 - my)
        out = np.full(lon.shape, UNDECIDED, dtype=np.int32)
        out[ok] = self.labels[row[ok].astype(np.intp), col[ok].astype(np.intp)]
        return out

    def lookup_one(self, lon: float, lat: float, tolerance_m: float = 0.0) -> int:
        """The same for one point, in plain Python floats (no array overhead). A point near its
        cell's edge is still decided when the neighbouring cells within the tolerance all carry
        the same label: then no boundary crosses the little box around it."""
        mx, my = self._margins(tolerance_m)
        fx = (lon - self.west) / self.dx
        fy = (self.north - lat) / self.dy
        c0, c1 = math.floor(fx - mx), math.floor(fx + mx)
        r0, r1 = math.floor(fy - my), math.floor(fy + my)
        rows, cols = self.labels.shape
        if c0 < 0 or r0 < 0 or c1 >= cols or r1 >= rows or c1 - c0 > 2 or r1 - r0 > 2:
            return UNDECIDED
        label = self.labels.item(r0, c0)
        if label == UNDECIDED:
            return UNDECIDED
        if c1 != c0 or r1 != r0:
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    if self.labels.item(r, c) != label:
                        return UNDECIDED
        return label


@contextmanager
def _gc_paused():
    # Building a few hundred thousand small lists at once makes the cyclic collector walk every
    # live object again and again; none of them form cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _shapes(geoms: np.ndarray) -> tuple[list[dict], list[dict]]:
    """GeoJSON-like polygons and their rings as lines, for GDAL, built from shapely's ragged
    arrays in one pass (``__geo_interface__`` one geometry at a time is several times slower)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    multi = shapely.multipolygons(parts, indices=owner)
    _, coords, (ring_off, poly_off, geom_off) = shapely.to_ragged_array(multi)
    points = coords.tolist()
    rings = [points[a:b] for a, b in zip(ring_off[:-1].tolist(), ring_off[1:].tolist())]
    polys = [rings[a:b] for a, b in zip(poly_off[:-1].tolist(), poly_off[1:].tolist())]
    starts, ends = geom_off[:-1].tolist(), geom_off[1:].tolist()
    areas = [{"type": "MultiPolygon", "coordinates": polys[a:b]} for a, b in zip(starts, ends)]
    ring_start = poly_off.tolist()
    lines = [
        {"type": "MultiLineString", "coordinates": rings[ring_start[a] : ring_start[b]]} for a, b in zip(starts, ends)
    ]
    return areas, lines


def build_cell_raster(
    geoms: np.ndarray, cells_per_grid: int = 1024, min_cells: int = 1 << 16, max_cells: int = 1 << 24
) -> CellRaster | None:
    """The raster for these grid geometries (positions in ``geoms`` + 1 are the labels), or None
    when there is nothing to rasterise.

    About ``cells_per_grid`` cells per grid, between ``min_cells`` and ``max_cells`` in all (the
    labels take 4 bytes a cell: at most 64 MiB). Finer cells decide more points.
    """
    geoms = np.asarray(geoms, dtype=object)
    present = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    if present.size == 0:
        return None
    west, south, east, north = shapely.total_bounds(geoms[present]).tolist()
    if not (east > west and north > south):
        return None
    max_abs_lat = max(abs(south), abs(north))
    # Cells about square on the ground, so the margins cost the same in both directions.
    coslat = max(np.cos(np.radians((south + north) / 2.0)), 1e-6)
    width_m, height_m = (east - west) * coslat, north - south  # in "metres" of one degree of latitude
    target = min(max(cells_per_grid * present.size, min_cells), max_cells)
    side = np.sqrt(width_m * height_m / target)
    cols = max(1, min(int(np.ceil(width_m / side)), max_cells))
    rows = max(1, min(int(np.ceil(height_m / side)), max_cells // cols))
    dx, dy = (east - west) / cols, (north - south) / rows
    transform = Affine(dx, 0.0, west, 0.0, -dy, north)  # north-up, from the north-west corner

    with _gc_paused():
        areas, lines = _shapes(geoms[present])
        labels = (present + 1).astype(np.int64)
        # One pass gives both the label and how many grids cover the centre: each grid adds
        # 2**32 + its label, so a cell covered once holds exactly 2**32 + that label.
        covered = rasterize(
            zip(areas, ((1 << 32) + labels).tolist()),
            out_shape=(rows, cols),
            transform=transform,
            fill=0,
            dtype="int64",
            merge_alg=MergeAlg.add,
        )
        touched = rasterize(
            ((line, 1) for line in lines),
            out_shape=(rows, cols),
            transform=transform,
            fill=0,
            dtype="uint8",
            all_touched=True,
        )
        del areas, lines
    # The two 32-bit halves of each cell, read in place: the count and the label.
    halves = covered.view(np.int32).reshape(rows, cols, 2)
    label, count = (halves[..., 0], halves[..., 1]) if sys.byteorder == "little" else (halves[..., 1], halves[..., 0])
    out = np.where(count == 1, label, np.int32(OUTSIDE))
    out[(count > 1) | (touched != 0)] = UNDECIDED
    return CellRaster(out, west, north, dx, dy, max_abs_lat)
