"""OGC API Features' ``datetime`` values: instants, days, open and closed intervals, in China
time when no zone is given; and the feature tags that change with any change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo.errors import InputError
from geo.query.ogc import feature_etag, time_range

CST = datetime(2024, 5, 1, tzinfo=UTC) - timedelta(hours=8)  # 2024-05-01 00:00 China time


def test_time_ranges():
    assert time_range("2024-05-01T08:00:00Z") == (datetime(2024, 5, 1, 8, tzinfo=UTC),) * 2 + (True,)
    assert time_range("2024-05-01") == (CST, CST + timedelta(days=1), False)
    assert time_range("../2024-05-01") == (None, CST + timedelta(days=1), False)
    start, end, inclusive = time_range("2024-05-01T00:00:00+08:00/..")
    assert start == CST and end is None
    start, end, inclusive = time_range("2024-05-01T00:00:00/2024-05-02T00:00:00")  # no zone: China time
    assert (start, end, inclusive) == (CST, CST + timedelta(days=1), True)
    for bad in ("../..", "/", "soon", "2024-05-02/2024-05-01"):
        with pytest.raises(InputError):
            time_range(bad)


def test_feature_tags_follow_every_change():
    one = {
        "type": "Feature",
        "id": 1,
        "geometry": {"type": "Point", "coordinates": [113.0, 23.0]},
        "properties": {"a": 1},
    }
    same = {
        "properties": {"a": 1},
        "id": 1,
        "type": "Feature",
        "geometry": {"coordinates": [113.0, 23.0], "type": "Point"},
    }
    assert feature_etag(one) == feature_etag(same)  # key order does not matter
    moved = {**one, "geometry": {"type": "Point", "coordinates": [113.0, 23.0000001]}}
    changed = {**one, "properties": {"a": 2}}
    assert len({feature_etag(one), feature_etag(moved), feature_etag(changed)}) == 3
    assert feature_etag(one).startswith('"') and len(feature_etag(one)) == 66
