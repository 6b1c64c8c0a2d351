"""GPX files in and out (geo/io/gpx.py): fixes survive a round trip, other apps' files read, and
bad files are refused naming the track and point."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from geo.errors import InputError
from geo.io.gpx import gpx_text, parse_gpx, read_gpx, write_gpx

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC).timestamp()


def walk(n: int, seed: int) -> np.ndarray:
    """A phone's fixes: full-precision floats, sub-second times, some without accuracy."""
    rng = np.random.default_rng(seed)
    fixes = np.empty((n, 4))
    fixes[:, 0] = 113.04 + np.cumsum(rng.normal(0, 2e-5, n))
    fixes[:, 1] = 23.69 + np.cumsum(rng.normal(0, 2e-5, n))
    fixes[:, 2] = T0 + np.cumsum(rng.uniform(0.9, 6.0, n))
    fixes[:, 3] = rng.uniform(3, 60, n)
    fixes[rng.random(n) < 0.2, 3] = np.nan
    return fixes


def gpx(body: str, version: str = "1.1") -> bytes:
    ns = "http://www.topografix.com/GPX/1/1" if version == "1.1" else "http://www.topografix.com/GPX/1/0"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="{version}" creator="t" xmlns="{ns}">{body}</gpx>'.encode()


def refusal(data: bytes) -> str:
    with pytest.raises(InputError) as info:
        parse_gpx(data, "walk.gpx")
    return str(info.value)


def test_a_written_file_reads_back_fix_for_fix(tmp_path):
    tracks = [("XL20260302-000001", walk(500, 1)), ("XL20260302-000002", walk(3, 2))]
    path = tmp_path / "out" / "patrols.gpx"
    write_gpx(path, tracks)
    back = read_gpx(path)
    assert [(t.number, t.name) for t in back] == [(1, "XL20260302-000001"), (2, "XL20260302-000002")]
    for (_, sent), got in zip(tracks, back, strict=True):
        assert got.fixes.shape == sent.shape
        # Coordinates and accuracy are the same floats; times within a microsecond.
        assert np.array_equal(got.fixes[:, [0, 1, 3]], sent[:, [0, 1, 3]], equal_nan=True)
        assert np.abs(got.fixes[:, 2] - sent[:, 2]).max() < 1e-6
    text = path.read_text(encoding="utf-8")
    assert 'xmlns:wangge="urn:wangge:gpx:1"' in text and "<wangge:accuracy>" in text
    assert not list(tmp_path.glob("out/*.partial"))


def test_a_track_from_another_app_reads_with_segments_elevation_zones_and_no_accuracy():
    # As phone trackers write them: GPX 1.1, metadata, two segments (a pause), elevation, speed
    # in their own extension, times in UTC, with an offset, and one without a zone (UTC by the standard).
    data = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<gpx version="1.1" creator="OruxMaps v.9.6" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
     xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">
  <metadata><name>翠湖巡查</name><time>2026-03-02T01:29:58Z</time></metadata>
  <wpt lat="23.6950" lon="113.0450"><name>起点</name></wpt>
  <trk>
    <name>翠湖社区 早巡</name>
    <type>walking</type>
    <trkseg>
      <trkpt lat="23.695012" lon="113.045031"><ele>21.4</ele><time>2026-03-02T01:30:00Z</time>
        <extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>1.2</gpxtpx:speed></gpxtpx:TrackPointExtension></extensions>
      </trkpt>
      <trkpt lat="23.695101" lon="113.045122"><ele>21.9</ele><time>2026-03-02T09:30:05.500+08:00</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="23.695301" lon="113.045402"><ele>22.0</ele><time>2026-03-02T01:35:10</time><hdop>1.3</hdop></trkpt>
    </trkseg>
  </trk>
</gpx>""".encode()
    (track,) = parse_gpx(data, "oruxmaps.gpx")
    assert track.name == "翠湖社区 早巡" and track.label == "track 1 ('翠湖社区 早巡')"
    assert track.fixes[:, :2].tolist() == [[113.045031, 23.695012], [113.045122, 23.695101], [113.045402, 23.695301]]
    assert track.fixes[:, 2].tolist() == [T0, T0 + 5.5, T0 + 310]
    assert np.isnan(track.fixes[:, 3]).all()


def test_gpx_1_0_and_a_gbk_file_read():
    (old,) = parse_gpx(
        gpx(
            '<trk><trkseg><trkpt lat="23.7" lon="113.0"><time>2026-03-02T01:30:00Z</time></trkpt></trkseg></trk>', "1.0"
        )
    )
    assert old.fixes[0, :3].tolist() == [113.0, 23.7, T0] and math.isnan(old.fixes[0, 3])
    text = (
        '<?xml version="1.0" encoding="GBK"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        '<trk><name>网格巡查</name><trkseg><trkpt lat="23.7" lon="113.0"><time>2026-03-02T01:30:00Z</time>'
        "</trkpt></trkseg></trk></gpx>"
    )
    (gbk,) = parse_gpx(text.encode("gbk"))
    assert gbk.name == "网格巡查" and gbk.fixes.shape == (1, 4)


def test_a_file_without_a_track_is_refused_saying_what_it_holds():
    message = refusal(
        gpx(
            '<wpt lat="23.7" lon="113.0"><name>a</name></wpt>'
            '<rte><rtept lat="23.7" lon="113.0"/><rtept lat="23.71" lon="113.0"/></rte>'
        )
    )
    assert "walk.gpx: nothing imported" in message
    assert "no track (<trk>)" in message and "1 route(s)" in message and "1 waypoint(s)" in message
    assert "no track (<trk>)" in refusal(gpx(""))


def test_every_bad_point_is_named_by_track_and_point():
    message = refusal(
        gpx(
            "<trk><name>早巡</name><trkseg>"
            '<trkpt lat="23.7" lon="113.0"><time>2026-03-02T01:30:00Z</time></trkpt>'
            '<trkpt lat="23.7" lon="113.0"></trkpt>'
            "</trkseg><trkseg>"
            '<trkpt lat="95.0" lon="113.0"><time>2026-03-02T01:30:00Z</time></trkpt>'
            '<trkpt lat="23.7" lon="113.0"><time>yesterday</time></trkpt>'
            "</trkseg></trk>"
            "<trk><trkseg>"
            '<trkpt lat="nan" lon="113.0"><time>2026-03-02T01:30:00Z</time></trkpt>'
            '<trkpt lat="23.7" lon="113.0"><time>2026-03-02T01:30:00Z</time>'
            '<extensions><wangge:accuracy xmlns:wangge="urn:wangge:gpx:1">-3</wangge:accuracy></extensions></trkpt>'
            "</trkseg></trk>"
            "<trk><name>空</name></trk>"
        )
    )
    lines = message.splitlines()[1:]
    assert lines == [
        "  - track 1 ('早巡'), point 2 (segment 1): no time (<time>), or one that is not an ISO 8601 date and time",
        "  - track 1 ('早巡'), point 3 (segment 2): coordinates lon=113.0, lat=95.0 are outside longitude/latitude range",
        "  - track 1 ('早巡'), point 4 (segment 2): no time (<time>), or one that is not an ISO 8601 date and time",
        "  - track 2, point 1: coordinates (113.0, nan) are not finite numbers",
        "  - track 2, point 2: accuracy '-3' is not a distance in metres (0 or more)",
        "  - track 3 ('空') has no points (<trkpt>)",
    ]


def test_a_coordinate_that_is_not_a_number_is_named():
    message = refusal(
        gpx(
            '<trk><name>a</name><trkseg><trkpt lat="23.7" lon="113.0"><time>2026-03-02T01:30:00Z</time></trkpt>'
            '<trkpt lat="23,7" lon="113.0"><time>2026-03-02T01:30:05Z</time></trkpt></trkseg></trk>'
        )
    )
    assert "track 1 ('a'), point 2: lat='23,7' is not a number" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "not a GPX file"),
        (b"lon,lat,time\n113,23.7,2026-03-02\n", "not a GPX file"),
        (b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>', "not a GPX file"),
        (b'<gpx version="1.1"><trk><trkseg><trkpt lat="1" lon="2"></trk></gpx>', "the XML cannot be read"),
        (b'<?xml version="1.0" encoding="klingon"?><gpx/>', "unknown text encoding 'klingon'"),
        ("<gpx>网格</gpx>".encode("gbk"), "are not utf-8 text"),
    ],
)
def test_what_is_not_gpx_is_refused_plainly(data, expected):
    assert expected in refusal(data)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_gpx(tmp_path / "nope.gpx")


def test_names_are_escaped_and_a_track_without_fixes_is_written_empty():
    text = gpx_text([("A & <B>", np.empty((0, 4)))])
    assert "<name>A &amp; &lt;B&gt;</name>" in text
