"""Fixes as phones send them, made into a clean track.

A fix is one row ``(lon, lat, t, accuracy_m)`` in WGS84, ``t`` in Unix seconds, ``accuracy_m`` NaN
when the device did not say. Cleaning drops fixes that are too inaccurate, that would need an
impossible speed to reach from the fix before, and repeats of a time already seen; it sorts what
arrived out of order. Lengths are geodesic (pyproj.Geod on WGS84); simplification and nearness
work in a local azimuthal equidistant projection, exact to centimetres across a district.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString

from geo.errors import InputError
from geo.spatial.coords import check_lonlat
from geo.spatial.geometry import GEOD

LON, LAT, T, ACC = range(4)
FUTURE_SLACK_S = 300.0  # phones' clocks run a little fast


@dataclass
class Cleaned:
    """The fixes kept, in time order, and how many were dropped for which reason."""

    kept: np.ndarray  # (n, 4)
    dropped: Counter = field(default_factory=Counter)  # accuracy, speed, duplicate
    reordered: int = 0  # fixes that arrived after a later one


def as_fixes(rows: object) -> np.ndarray:
    """``[[lon, lat, t, accuracy_m], ...]`` (accuracy may be null or left out) as an (n, 4) array,
    or a message naming the first row that is not four numbers."""
    if not isinstance(rows, list):
        raise InputError("Send the fixes as a JSON array of [lon, lat, unix_time_s, accuracy_m] rows")
    out = np.full((len(rows), 4), np.nan)
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or not 3 <= len(row) <= 4:
            raise InputError(f"fix {i}: expected [lon, lat, unix_time_s, accuracy_m], got {row!r:.80}")
        for j, value in enumerate(row):
            if value is None and j == ACC:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(
                    f"fix {i}: {('lon', 'lat', 'unix_time_s', 'accuracy_m')[j]} must be a number, got {value!r:.40}"
                )
            out[i, j] = value
    return out


def check_fixes(fixes: np.ndarray, now: datetime, not_before: datetime, max_batch: int) -> None:
    """Refuse a batch with any fix out of range, not finite, in the future or from before
    ``not_before``, naming the first bad fix (counted from 0)."""
    if len(fixes) == 0:
        raise InputError("The batch has no fixes")
    if len(fixes) > max_batch:
        raise InputError(f"{len(fixes)} fixes in one batch: send at most {max_batch} per request")
    lon, lat, t, acc = fixes.T
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        check_lonlat(float(lon[i]), float(lat[i]), f"fix {i}")
    _first_bad(~np.isfinite(t), "its time must be a finite number (Unix seconds)")
    _first_bad(~np.isnan(acc) & ~((acc >= 0) & np.isfinite(acc)), "accuracy_m must be a number of metres ≥ 0, or null")
    latest = now.timestamp() + FUTURE_SLACK_S
    ahead = _first(t > latest)
    if ahead is not None:
        by = timedelta(seconds=round(float(t[ahead]) - now.timestamp()))
        raise InputError(f"fix {ahead}: its time is {by} in the future; is the phone's clock right?")
    early = _first(t < not_before.timestamp())
    if early is not None:
        i = early
        when = datetime.fromtimestamp(float(t[i]), now.tzinfo).isoformat(timespec="seconds")
        raise InputError(
            f"fix {i}: its time {when} is before {not_before.isoformat(timespec='seconds')}, when this patrol could have begun"
        )


def _first(mask: np.ndarray) -> int | None:
    return int(np.flatnonzero(mask)[0]) if mask.any() else None


def _first_bad(mask: np.ndarray, what: str) -> None:
    i = _first(mask)
    if i is not None:
        raise InputError(f"fix {i}: {what}")


def clean(
    fixes: np.ndarray, max_accuracy_m: float, max_speed_mps: float, previous: tuple[float, float, float] | None = None
) -> Cleaned:
    """Sort by time, drop repeats, inaccurate fixes and impossible jumps. ``previous`` is the last
    fix kept before this batch, as ``(t, lon, lat)``: fixes at or before its time are repeats."""
    dropped: Counter = Counter()
    t = fixes[:, T]
    reordered = int((t < np.maximum.accumulate(t)).sum())
    fixes = fixes[np.argsort(t, kind="stable")]
    t = fixes[:, T]
    repeat = np.zeros(len(fixes), dtype=bool)
    repeat[1:] = t[1:] == t[:-1]
    if previous is not None:
        repeat |= t <= previous[0]
    dropped["duplicate"] = int(repeat.sum())
    fixes = fixes[~repeat]
    inaccurate = fixes[:, ACC] > max_accuracy_m  # NaN (not said) compares False: kept
    dropped["accuracy"] = int(inaccurate.sum())
    fixes = fixes[~inaccurate]
    keep = _plausible(fixes, max_speed_mps, previous)
    dropped["speed"] = int((~keep).sum())
    return Cleaned(fixes[keep], +dropped, reordered)


def _plausible(fixes: np.ndarray, max_speed_mps: float, previous: tuple[float, float, float] | None) -> np.ndarray:
    """Which fixes can be reached from the last kept one at no more than ``max_speed_mps``."""
    n = len(fixes)
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    lon, lat, t = fixes[:, LON], fixes[:, LAT], fixes[:, T]
    start = (previous[1], previous[2], previous[0]) if previous is not None else (lon[0], lat[0], t[0])
    plon = np.concatenate(([start[0]], lon[:-1]))
    plat = np.concatenate(([start[1]], lat[:-1]))
    pt = np.concatenate(([start[2]], t[:-1]))
    _, _, step = GEOD.inv(plon, plat, lon, lat)
    dt = t - pt
    if previous is None:
        dt[0] = 1.0  # the first fix of a patrol is where it starts
    if not (step > max_speed_mps * dt).any():
        return keep  # the usual case: one vectorised pass
    # A jump: walk the fixes, measuring each from the last one kept, so that the fix after a
    # stray one is judged from where the worker really was.
    last = start
    first = previous is None
    for i in range(n):
        if first:
            first = False
            last = (lon[i], lat[i], t[i])
            continue
        _, _, d = GEOD.inv(last[0], last[1], lon[i], lat[i])
        if d > max_speed_mps * max(t[i] - last[2], 1e-9):
            keep[i] = False
        else:
            last = (lon[i], lat[i], t[i])
    return keep


def geodesic_length_m(lon: np.ndarray, lat: np.ndarray) -> float:
    """Length of the line through the points on the WGS84 ellipsoid."""
    if len(lon) < 2:
        return 0.0
    return float(GEOD.line_length(lon, lat))


@lru_cache(maxsize=64)
def _aeqd(lon0: float, lat0: float) -> tuple[Transformer, Transformer]:
    # The pipeline Transformer.from_crs("EPSG:4326", "+proj=aeqd ...", always_xy=True) finds,
    # written out: the same numbers, but made in microseconds instead of milliseconds (no search
    # of PROJ's database). It matters because pyproj makes a transformer anew in every thread
    # that uses it, and a server answers fix batches from many threads.
    aeqd = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +x_0=0 +y_0=0 +ellps=WGS84"
    return (
        Transformer.from_pipeline(f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {aeqd}"),
        Transformer.from_pipeline(f"+proj=pipeline +step +inv {aeqd} +step +proj=unitconvert +xy_in=rad +xy_out=deg"),
    )


def local_frame(bounds: tuple[float, float, float, float]) -> tuple[Transformer, Transformer]:
    """Transformers to and from metres around the middle of ``bounds`` (rounded, so that nearby
    questions share them)."""
    x0, y0, x1, y1 = bounds
    return _aeqd(round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2))


def to_metres(forward: Transformer, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    x, y = forward.transform(lon, lat)
    return np.column_stack((x, y))


def simplified_line(kept: np.ndarray, tolerance_m: float) -> LineString | None:
    """The kept fixes as a line simplified within ``tolerance_m`` (Douglas–Peucker, in metres),
    in WGS84; None below two distinct positions."""
    if len(kept) < 2:
        return None
    lon, lat = kept[:, LON], kept[:, LAT]
    forward, back = local_frame((lon.min(), lat.min(), lon.max(), lat.max()))
    line = shapely.linestrings(to_metres(forward, lon, lat))
    if tolerance_m > 0:
        line = shapely.simplify(line, tolerance_m, preserve_topology=False)
    xy = shapely.get_coordinates(line)
    if len(xy) < 2 or (len(xy) == 2 and np.allclose(xy[0], xy[1])):
        return None
    wlon, wlat = back.transform(xy[:, 0], xy[:, 1])
    return LineString(np.column_stack((wlon, wlat)))


def line_length_m(line: LineString | None) -> float:
    if line is None:
        return 0.0
    xy = shapely.get_coordinates(line)
    return geodesic_length_m(xy[:, 0], xy[:, 1])


def time_inside_s(kept: np.ndarray, area) -> float:
    """Seconds between consecutive fixes that both lie in ``area`` (a prepared polygon or None)."""
    if area is None or len(kept) < 2:
        return 0.0
    inside = shapely.contains_xy(area, kept[:, LON], kept[:, LAT])
    both = inside[1:] & inside[:-1]
    return float(np.diff(kept[:, T])[both].sum())
