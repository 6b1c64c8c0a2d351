"""Unit-grid codes (GB/T 30428 practice): district (6) + street (3) + community (3) + sequence (3).

Grids are numbered row by row from north to south, and west to east within a row.
"""

from __future__ import annotations

import re

import numpy as np
import shapely

from geo.errors import InputError

_DISTRICT = re.compile(r"^\d{6}$")


def community_code(district_code: str, street_seq: int, community_seq: int) -> str:
    if not _DISTRICT.match(district_code):
        raise InputError(f"District code {district_code!r} must be 6 digits (GB/T 2260, e.g. 441802)")
    for label, value in (("street", street_seq), ("community", community_seq)):
        if not 1 <= value <= 999:
            raise InputError(f"The {label} number must be between 1 and 999, got {value}")
    return f"{district_code}{street_seq:03d}{community_seq:03d}"


def reading_order(geoms) -> np.ndarray:
    """Indices of ``geoms`` in reading order: rows north → south, each row west → east.

    Two grids share a row when their representative points are closer in latitude than half
    the median grid height, so small wobbles in a row of grids do not reorder it.
    """
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size == 0:
        return np.empty(0, dtype=np.int64)
    pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
    bounds = shapely.bounds(geoms)
    band = max(float(np.median(bounds[:, 3] - bounds[:, 1])) / 2.0, 1e-9)
    by_lat = np.argsort(-pts[:, 1], kind="stable")
    rows = np.empty(geoms.size, dtype=np.int64)
    row, top = 0, pts[by_lat[0], 1]
    for i in by_lat:
        if top - pts[i, 1] > band:
            row, top = row + 1, pts[i, 1]
        rows[i] = row
    return np.lexsort((pts[:, 0], rows))


def unit_grid_codes(community: str, geoms) -> list[str]:
    """15-digit codes for the grids of one community, in the order the geometries were given."""
    if not re.fullmatch(r"\d{12}", community):
        raise InputError(f"Community code {community!r} must be 12 digits (district+street+community)")
    order = reading_order(geoms)
    if order.size > 999:
        raise InputError(f"A community can hold at most 999 unit grids, got {order.size}")
    codes = [""] * order.size
    for seq, i in enumerate(order, start=1):
        codes[i] = f"{community}{seq:03d}"
    return codes
