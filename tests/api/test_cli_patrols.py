"""`wangge import patrols FILE.gpx`, `wangge export patrols FILE.gpx` and `wangge patrols purge`
on both databases: a round trip keeps every fix, another app's track counts, bad files write
nothing, and purging keeps the daily figures."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from geo.access import audit
from geo.access.policy import SYSTEM
from geo.db.session import session_scope
from geo.errors import InputError
from geo.io.gpx import gpx_text, read_gpx
from geo.io.patrols import import_patrols
from geo.models import Building, BuildingVisitDay, CoverageDay, Patrol, PatrolFix, utcnow
from geo.patrols import service
from geo.patrols.figures import grid_coverage
from geo.timezones import CHINA_TIME
from tests.support.permissions import CODE_A, GEOD, WORLD, move
from tests.support.world import BuildingSpec

WORKER, OTHER = "P-R02", "P-R04"  # grid A's worker, grid B's
# A walk in grid A: east along a street 450 m, then north along a lane 300 m.
CORNER = (113.0405, 23.6906)
TURN = move(CORNER, 90, 450)
NEAR = [move(move(CORNER, 90, d), 0, 15) for d in (60, 250)] + [move(move(TURN, 0, 200), 270, 15)]
FAR = [move(move(CORNER, 90, 200), 0, 150)]
NEAR_CODES = {f"G-BN{i}" for i in range(len(NEAR))}


@pytest.fixture
def world_spec():
    return dataclasses.replace(
        WORLD,
        buildings=WORLD.buildings
        + tuple(BuildingSpec(f"n{i}", f"G-BN{i}", f"近楼{i}", p, 10, 4) for i, p in enumerate(NEAR))
        + tuple(BuildingSpec(f"f{i}", f"G-BF{i}", f"远楼{i}", p, 10, 4) for i, p in enumerate(FAR)),
        users=(),
        incidents=(),
    )


def yesterday_at(hour: int) -> datetime:
    """A time of yesterday (China date): always past, always within the retention period."""
    day = utcnow().astimezone(CHINA_TIME).date() - timedelta(days=1)
    return datetime.combine(day, time(hour), CHINA_TIME)


def phone_walk(t0: datetime, seed: int) -> np.ndarray:
    """The walk as a phone records it: metre noise, sub-second times, accuracies with a few
    missing and a few too poor to keep (the track drops them; the raw fixes keep them)."""
    rng = np.random.default_rng(seed)
    path = [move(CORNER, 90, d) for d in np.arange(0, 450, 6.0)] + [move(TURN, 0, d) for d in np.arange(0, 300, 6.0)]
    lon, lat = np.array(path).T
    lon, lat, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360, len(lon)), np.abs(rng.normal(0, 1.5, len(lon))))
    t = t0.timestamp() + 5.0 * np.arange(len(lon)) + rng.uniform(0, 0.999, len(lon))
    accuracy = rng.uniform(3, 15, len(lon))
    accuracy[rng.choice(len(lon), 8, replace=False)] = np.nan
    accuracy[rng.choice(len(lon), 4, replace=False)] = 85.0
    return np.column_stack((lon, lat, t, accuracy))


def patrols(engine) -> list[Patrol]:
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Patrol).order_by(Patrol.id)))
        s.expunge_all()
        return rows


def visited_codes(session, patrol_id: int) -> set[str]:
    ids = service.visited_ids(session, session.get(Patrol, patrol_id))
    return set(session.scalars(select(Building.code).where(Building.id.in_(list(ids)))))


def test_a_gpx_round_trip_keeps_every_fix(cli, engine, world, tmp_path):
    walks = [phone_walk(yesterday_at(9), 1), phone_walk(yesterday_at(14), 2)]
    source = tmp_path / "walks.gpx"
    source.write_text(gpx_text([("morning", walks[0]), ("afternoon", walks[1])]), encoding="utf-8")
    r = cli("import", "patrols", source, "--responder", WORKER)
    assert r.exit_code == 0, r.output
    made = patrols(engine)
    assert r.output.splitlines()[0] == f"patrols: 2 imported from walks.gpx for {WORKER} (甲网格员)"
    assert f"{made[0].code}  track 1 ('morning')" in r.output and "checked in: yes" in r.output
    with session_scope(engine) as s:
        for patrol, fixes in zip(made, walks, strict=True):
            assert (patrol.status, patrol.source, patrol.responder_id) == ("ended", "gpx", world.responder["workerA"])
            assert patrol.fixes_received == len(fixes) and patrol.dropped.get("accuracy") == 4
            assert patrol.started_at.timestamp() == pytest.approx(fixes[0, 2], abs=1e-3)
            assert patrol.ended_at.timestamp() == pytest.approx(fixes[-1, 2], abs=1e-3)
            assert patrol.checked_in is True and patrol.distance_m == pytest.approx(750, rel=0.05)
            assert visited_codes(s, patrol.id) == NEAR_CODES

    day = yesterday_at(9).date().isoformat()
    out = tmp_path / "export" / "patrols.gpx"
    r = cli("export", "patrols", out, "--responder", WORKER, "--date", day)
    assert r.exit_code == 0, r.output
    assert f"patrols: 2 patrol(s), {sum(map(len, walks))} fixes written to {out}" in r.output
    back = read_gpx(out)
    assert [t.name for t in back] == [p.code for p in made]
    with session_scope(engine) as s:  # tracks are personal data: who read them is logged
        (read,) = audit.events(s, event=audit.PERSONAL_DATA_READ)
        assert read.username.startswith("cli") and read.detail["layers"] == {"patrols": [p.id for p in made]}
    for sent, got in zip(walks, back, strict=True):
        assert got.fixes.shape == sent.shape
        assert np.array_equal(got.fixes[:, [0, 1, 3]], sent[:, [0, 1, 3]], equal_nan=True)  # the same floats
        assert np.abs(got.fixes[:, 2] - sent[:, 2]).max() < 1e-5

    # The filters choose: another worker's patrols, another day.
    for args in (("--responder", OTHER), ("--date", (yesterday_at(9).date() - timedelta(days=1)).isoformat())):
        elsewhere = tmp_path / f"none{args[0]}.gpx"
        r = cli("export", "patrols", elsewhere, *args)
        assert r.exit_code == 0 and "no patrol with fixes matched" in r.output and not elsewhere.exists()

    # The same walks again, from the export: refused, naming the patrols they already are.
    r = cli("import", "patrols", out, "--responder", WORKER)
    assert r.exit_code == 2 and "was this file imported already?" in r.output
    for patrol in made:
        assert f"during patrol {patrol.code} (" in r.output
    assert len(patrols(engine)) == 2


def test_a_track_from_another_app_imports(cli, engine, world, tmp_path):
    # As a phone tracker writes one: a pause splits it in two segments; elevation, speed in its
    # own extension, a waypoint, and no accuracy at all.
    t0 = yesterday_at(15).astimezone(UTC)
    path = [move(CORNER, 90, d) for d in range(0, 451, 10)]
    path2 = [move(TURN, 0, d) for d in range(10, 301, 10)]

    def trkpt(p, k: int, extra: str = "") -> str:
        when = (t0 + timedelta(seconds=8 * k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f'<trkpt lat="{p[1]:.6f}" lon="{p[0]:.6f}"><ele>{21 + k % 3}.4</ele><time>{when}</time>{extra}</trkpt>'

    speed = "<extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>1.3</gpxtpx:speed></gpxtpx:TrackPointExtension></extensions>"
    first = "\n".join(trkpt(p, k, speed if k % 2 else "") for k, p in enumerate(path))
    second = "\n".join(trkpt(p, k + len(path) + 20) for k, p in enumerate(path2))  # after a 160 s pause
    text = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<gpx version="1.1" creator="GPSLogger 131 - http://gpslogger.mendhak.com/"
     xmlns="http://www.topografix.com/GPX/1/1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
     xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">
<metadata><time>{t0.strftime("%Y-%m-%dT%H:%M:%SZ")}</time></metadata>
<wpt lat="{CORNER[1]}" lon="{CORNER[0]}"><name>起点</name></wpt>
<trk><name>{t0:%Y%m%d}</name><trkseg>
{first}
</trkseg><trkseg>
{second}
</trkseg></trk>
</gpx>"""
    source = tmp_path / "20260302.GPX"  # the suffix in any case
    source.write_text(text, encoding="utf-8")
    r = cli("import", "patrols", source, "--responder", WORKER)
    assert r.exit_code == 0, r.output
    (patrol,) = patrols(engine)
    n = len(path) + len(path2)
    assert (patrol.source, patrol.fixes_received, patrol.fixes_kept, patrol.checked_in) == ("gpx", n, n, True)
    assert patrol.started_at == t0 and patrol.ended_at == t0 + timedelta(seconds=8 * (n + 19))
    assert patrol.distance_m == pytest.approx(750, rel=0.02)
    with session_scope(engine) as s:
        raw = service.raw_fixes(s, patrol.id)
        assert raw.shape == (n, 4) and np.isnan(raw[:, 3]).all()
        assert raw[0, :2].tolist() == [round(CORNER[0], 6), round(CORNER[1], 6)]
        assert visited_codes(s, patrol.id) == NEAR_CODES


H = timedelta(hours=1)


def _point(lon: float, lat: float, when: datetime) -> str:
    return f'<trkpt lat="{lat}" lon="{lon}"><time>{when.astimezone(UTC).isoformat()}</time></trkpt>'


def _gpx(body: str) -> str:
    return f'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">{body}</gpx>'


def _track(name: str, points: list[tuple[float, float, datetime]]) -> str:
    return f"<trk><name>{name}</name><trkseg>{''.join(_point(*p) for p in points)}</trkseg></trk>"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            lambda t: f'<wpt lat="{CORNER[1]}" lon="{CORNER[0]}"><name>a</name></wpt>',
            ["the file has no track (<trk>): nothing to import; it holds only 1 waypoint(s) <wpt>"],
            id="no-track",
        ),
        pytest.param(
            lambda t: (
                _track("good", [(*CORNER, t), (*TURN, t + timedelta(minutes=6))])
                + _track(
                    "late", [(*CORNER, t + H), (*TURN, t + H + timedelta(minutes=6)), (*TURN, t + timedelta(days=3))]
                )
            ),
            # How far ahead depends on the time of day the test runs (the track starts yesterday).
            ["track 2 ('late'), point 3: its time is ", " in the future; is the phone's clock right?"],
            id="future-point",
        ),
        pytest.param(
            lambda t: (
                _track("good", [(*CORNER, t), (*TURN, t + timedelta(minutes=6))])
                + _track("far", [(*CORNER, t + H), (113.2, 23.9, t + H + timedelta(minutes=6))])
            ),
            ["track 2 ('far'), point 2 (113.200000, 23.900000) is outside the area wangge serves"],
            id="outside-area",
        ),
        pytest.param(
            lambda t: (
                _track("a", [(*CORNER, t), (*TURN, t + timedelta(minutes=6))])
                + _track("b", [(*CORNER, t + timedelta(minutes=5)), (*TURN, t + timedelta(minutes=11))])
            ),
            ["track 2 ('b'): walked ", ", during track 1 ('a') of this file"],
            id="overlapping-tracks",
        ),
        pytest.param(
            lambda t: _track("old", [(*CORNER, t - timedelta(days=40)), (*TURN, t - timedelta(days=40, minutes=-6))]),
            ["track 1 ('old'): The track begins ", "more than 30 days ago: tracks that old are no longer kept"],
            id="too-old",
        ),
    ],
)
def test_a_bad_gpx_is_refused_naming_the_track_and_writes_nothing(cli, engine, world, tmp_path, body, expected):
    source = tmp_path / "bad.gpx"
    source.write_text(_gpx(body(yesterday_at(10))), encoding="utf-8")
    r = cli("import", "patrols", source, "--responder", WORKER)
    assert r.exit_code == 2
    assert "bad.gpx: nothing imported." in r.output and r.output.count("\n  - ") == 1  # the one problem
    for part in expected:
        assert part in r.output
    assert patrols(engine) == []
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(PatrolFix)) == 0


def test_wrong_use_is_told_plainly(cli, engine, world, tmp_path):
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(_gpx(_track("a", [(*CORNER, yesterday_at(10))])), encoding="utf-8")
    geojson = tmp_path / "walk.geojson"
    geojson.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    cases = [
        (("import", "patrols", geojson, "--responder", WORKER), "walk.geojson: patrols are imported from GPX files"),
        (("import", "patrols", gpx), "--responder CODE"),
        (("import", "patrols", gpx, "--responder", "NOPE"), "No responder with code 'NOPE'"),
        (("import", "patrols", gpx, "--responder", WORKER, "--replace"), "patrols take only --responder, --crs"),
        (("import", "grids", geojson, "--responder", WORKER), "--responder is for patrols"),
        (("export", "patrols", tmp_path / "o.gpx", "--date", "2026-13-01"), "give a day as YYYY-MM-DD"),
        (("export", "patrols", tmp_path / "o.gpx", "--crs", "gcj02"), "GPX is WGS84"),
        (("export", "patrols", tmp_path / "o.gpx", "--responder", "NOPE"), "No responder with code 'NOPE'"),
        (("export", "grids", tmp_path / "o.geojson", "--date", "2026-03-01"), "choose the patrols written to a .gpx"),
    ]
    for args, message in cases:
        r = cli(*args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    assert patrols(engine) == [] and not (tmp_path / "o.gpx").exists()


def test_purge_deletes_old_raw_data_and_keeps_the_daily_figures(cli, engine, world, tmp_path):
    then = utcnow() - timedelta(days=40)  # a patrol walked 40 days ago, when it was recent
    with session_scope(engine) as s:
        old = service.import_track(
            s, SYSTEM, world.responder["workerA"], phone_walk(then, 3), then + timedelta(hours=2)
        )
        old_id, old_day = old.id, old.started_at.astimezone(CHINA_TIME).date()
    recent = tmp_path / "recent.gpx"
    recent.write_text(gpx_text([("recent", phone_walk(yesterday_at(9), 4))]), encoding="utf-8")
    assert cli("import", "patrols", recent, "--responder", WORKER).exit_code == 0
    recent_id = patrols(engine)[-1].id
    with session_scope(engine) as s:
        before = grid_coverage(s, CODE_A, old_day, old_day)
        assert len(before.visited) == len(NEAR)
        before_figures = (before.summary(), before.by_worker)

    r = cli("patrols", "purge")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 patrol(s) begun before ") and "the daily coverage figures are kept" in r.output
    with session_scope(engine) as s:
        assert service.count_fixes(s, old_id) == 0 and service.visited_ids(s, s.get(Patrol, old_id)) == {}
        gone = s.get(Patrol, old_id)
        assert gone.geom is None and gone.purged_at is not None and gone.distance_m > 0
        after = grid_coverage(s, CODE_A, old_day, old_day)
        assert (after.summary(), after.by_worker) == before_figures
        assert s.scalar(select(func.count()).select_from(CoverageDay).where(CoverageDay.day == old_day)) == 1
        assert s.scalar(select(func.count()).select_from(BuildingVisitDay).where(BuildingVisitDay.day == old_day)) == 3
        kept = s.get(Patrol, recent_id)  # within the retention period: untouched
        assert kept.purged_at is None and kept.geom is not None and service.count_fixes(s, recent_id) > 0
    assert cli("patrols", "purge").output.startswith("0 patrol(s)")

    out = tmp_path / "all.gpx"
    r = cli("export", "patrols", out, "--responder", WORKER)
    assert r.exit_code == 0 and "1 patrol(s)" in r.output and "1 more were purged and have no fixes left" in r.output
    assert [t.name for t in read_gpx(out)] == [patrols(engine)[-1].code]


def test_imports_at_once_each_make_their_patrol_and_the_same_file_counts_once(engine, world, tmp_path):
    """Imports at once for one worker, each in its own transaction as `wangge import` runs it:
    two files make their two patrols; the same file sent twice at once counts once."""
    files = []
    for i in range(2):
        path = tmp_path / f"w{i}.gpx"
        path.write_text(gpx_text([(f"w{i}", phone_walk(yesterday_at(8 + 2 * i), 10 + i))]), encoding="utf-8")
        files.append(path)
    runs = [files[0], files[1], files[0]]
    barrier = threading.Barrier(len(runs))

    def run(path: Path) -> str:
        barrier.wait(timeout=30)
        try:
            with session_scope(engine, write=True) as s:
                return import_patrols(s, path, WORKER, utcnow()).patrols[0][1].code or ""
        except InputError as exc:
            return str(exc)

    with ThreadPoolExecutor(len(runs)) as pool:
        answers = list(pool.map(run, runs, timeout=120))
    made = patrols(engine)
    assert len(made) == 2 and {p.code for p in made} <= set(answers)
    (refused,) = [a for a in answers if a not in {p.code for p in made}]
    assert "track 1 ('w0'): walked " in refused and "was this file imported already?" in refused
    assert all(p.status == "ended" and p.fixes_received > 0 for p in made)
