"""Track cleaning on its own: order, repeats, accuracy, and stray fixes judged from where the
worker really was."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from pyproj import Geod

from geo.errors import InputError
from geo.patrols import tracks

GEOD = Geod(ellps="WGS84")
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def walk(n: int, step_m: float = 6.0, t0: float = 1_000.0) -> np.ndarray:
    lon, lat, _ = GEOD.fwd(np.full(n, 113.04), np.full(n, 23.69), np.full(n, 90.0), step_m * np.arange(n))
    return np.column_stack((lon, lat, t0 + 5.0 * np.arange(n), np.full(n, 5.0)))


def test_out_of_order_fixes_are_sorted_and_counted():
    fixes = walk(10)
    shuffled = fixes[[0, 1, 5, 6, 2, 3, 4, 7, 8, 9]]
    cleaned = tracks.clean(shuffled, 50, 30)
    assert np.array_equal(cleaned.kept, fixes)
    assert cleaned.reordered == 3 and not cleaned.dropped


def test_a_stray_fix_is_dropped_and_the_next_judged_from_the_last_kept_one():
    fixes = walk(10)
    fixes[4, 0], fixes[4, 1], _ = GEOD.fwd(fixes[4, 0], fixes[4, 1], 0, 800)  # 800 m in 5 s
    fixes[6, 3] = 120.0  # inaccurate
    fixes[7, 3] = np.nan  # the phone did not say: kept
    cleaned = tracks.clean(fixes, 50, 30)
    assert cleaned.dropped == {"speed": 1, "accuracy": 1}
    assert list(cleaned.kept[:, 2]) == [1000.0 + 5 * i for i in (0, 1, 2, 3, 5, 7, 8, 9)]


def test_repeats_and_fixes_not_after_the_previous_batch_are_duplicates():
    fixes = walk(6)
    batch = np.vstack((fixes[2:], fixes[[3]]))
    cleaned = tracks.clean(batch, 50, 30, previous=(fixes[2, 2], fixes[2, 0], fixes[2, 1]))
    assert cleaned.dropped == {"duplicate": 2}  # the fix at the previous time, and the repeat
    assert list(cleaned.kept[:, 2]) == list(fixes[3:, 2])


def test_the_simplified_line_keeps_the_length_of_a_straight_walk():
    fixes = walk(200)
    line = tracks.simplified_line(fixes, 5.0)
    assert line is not None and len(line.coords) == 2
    assert tracks.line_length_m(line) == pytest.approx(6.0 * 199, rel=1e-6)
    assert tracks.simplified_line(fixes[:1], 5.0) is None


@pytest.mark.parametrize(
    "row,message",
    [
        ([np.nan, 23.69, NOW.timestamp(), 5], "fix 1: lon must be a finite number"),
        ([113.04, 23.69, np.inf, 5], "fix 1: its time must be a finite number"),
        ([113.04, 23.69, NOW.timestamp() + 3600, 5], "fix 1: its time is 1:00:00 in the future"),
        ([113.04, 23.69, NOW.timestamp() - 86400, 5], "fix 1: its time 2026-11-28T02:00:00+00:00 is before"),
    ],
)
def test_a_bad_fix_is_named(row, message):
    fixes = np.array([[113.04, 23.69, NOW.timestamp(), 5.0], row])
    with pytest.raises(InputError) as caught:
        tracks.check_fixes(fixes, NOW, NOW.replace(hour=1), 10)
    assert message in str(caught.value)


def test_rows_that_are_not_four_numbers_are_named():
    assert tracks.as_fixes([[1, 2, 3], [1, 2, 3, None]]).shape == (2, 4)
    for rows, message in (([[1, 2]], "fix 0: expected"), ([[1, 2, 3, True]], "must be a number"), ({}, "JSON array")):
        with pytest.raises(InputError, match=message):
            tracks.as_fixes(rows)


def test_local_frame_is_projs_azimuthal_equidistant_both_ways():
    # The frame's pipeline is written out by hand: it must be the one PROJ finds for the CRS, and
    # it must keep distances from its centre (pyproj.Geod) as an equidistant projection does.
    from pyproj import Transformer

    forward, back = tracks.local_frame((113.0, 23.6, 113.1, 23.8))
    crs = "+proj=aeqd +lat_0=23.7 +lon_0=113.05 +ellps=WGS84 +units=m"
    by_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lon = np.linspace(112.95, 113.15, 50)
    lat = np.linspace(23.55, 23.85, 50)
    x, y = forward.transform(lon, lat)
    assert np.allclose(np.column_stack(by_crs.transform(lon, lat)), np.column_stack((x, y)), rtol=0, atol=1e-6)
    _, _, metres = GEOD.inv(np.full(50, 113.05), np.full(50, 23.7), lon, lat)
    assert np.allclose(np.hypot(x, y), metres, rtol=0, atol=1e-3)
    back_lon, back_lat = back.transform(x, y)
    assert np.allclose(back_lon, lon, rtol=0, atol=1e-9) and np.allclose(back_lat, lat, rtol=0, atol=1e-9)
