"""Patrols on both databases: a noisy walk cleaned into the right track, distance, check-in and
visited buildings; bad batches refused whole; who sees which tracks; retention."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
import uuid
from datetime import timedelta

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from api.readlog import read_log
from api.v1 import API_PREFIX as API
from geo.access import audit
from geo.db.session import session_scope
from geo.models import BuildingVisitDay, CoverageDay, Patrol, PatrolFix, PatrolVisit
from geo.patrols.service import purge_expired
from geo.timezones import CHINA_TIME
from tests.support.permissions import CENTRE_A, CODE_A, CODE_B, GEOD, WORLD, Api, make_api, move
from tests.support.world import BuildingSpec, UserSpec

# A walk in grid A: east along a street 450 m, then north along a lane 400 m.
CORNER = (113.0405, 23.6906)
TURN = move(CORNER, 90, 450)
END = move(TURN, 0, 400)
NEAR = [move(CORNER, 90, d) for d in (40, 160, 300)] + [move(TURN, 0, d) for d in (100, 300)]
NEAR = [move(p, 0 if i < 3 else 270, 18) for i, p in enumerate(NEAR)]  # 18 m off the path
FAR = [move(move(CORNER, 90, 200), 0, 150), move(move(TURN, 0, 200), 270, 120)]  # 150 m and 120 m away

PATROL_WORLD = dataclasses.replace(
    WORLD,
    buildings=WORLD.buildings
    + tuple(BuildingSpec(f"near{i}", f"P-BN{i}", f"近楼{i}", p, residents=10, households=4) for i, p in enumerate(NEAR))
    + tuple(BuildingSpec(f"far{i}", f"P-BF{i}", f"远楼{i}", p, residents=10, households=4) for i, p in enumerate(FAR)),
    users=WORLD.users + (UserSpec("leaderB", "grid_leader", "leaderB"), UserSpec("workerB", "grid_worker", "workerB")),
)
NEAR_CODES = {f"P-BN{i}" for i in range(len(NEAR))}


@pytest.fixture
def world_spec():
    return PATROL_WORLD


@pytest.fixture
def api(db_url, world, clock) -> Api:
    return make_api(db_url, world, clock)


def true_path(step_m: float = 6.5) -> np.ndarray:
    """The path walked, a point every 5 s at 1.3 m/s."""
    leg1 = [move(CORNER, 90, d) for d in np.arange(0, 450, step_m)]
    leg2 = [move(TURN, 0, d) for d in np.arange(0, 400 + 1e-9, step_m)]
    return np.array(leg1 + leg2)


def noisy_fixes(t0: float, seed: int = 12) -> tuple[np.ndarray, dict[str, int]]:
    """The path as a phone reports it: metre-level noise, some inaccurate fixes, one stray jump
    of 600 m, and repeated fixes. Returns the rows and how many of each fault were put in."""
    rng = np.random.default_rng(seed)
    path = true_path()
    lon, lat, _ = GEOD.fwd(
        path[:, 0], path[:, 1], rng.uniform(0, 360, len(path)), np.abs(rng.normal(0, 1.5, len(path)))
    )
    rows = np.column_stack((lon, lat, t0 + 5.0 * np.arange(len(path)), rng.uniform(4, 12, len(path))))
    inaccurate = rng.choice(np.arange(5, len(rows) - 5), 6, replace=False)
    rows[inaccurate, 3] = 80.0
    stray = 40 if 40 not in inaccurate else 41
    rows[stray, 0], rows[stray, 1], _ = GEOD.fwd(rows[stray, 0], rows[stray, 1], 45, 600)
    repeats = rows[[10, 20, 30]]
    return np.vstack((rows, repeats)), {"accuracy": 6, "speed": 1, "duplicate": 3}


def start(api: Api, who: str, where=None, **headers):
    body = {"lon": where[0], "lat": where[1]} if where else None
    return api.client.post(f"{API}/patrols", json=body, headers={**api.headers(who), **headers})


def send(api: Api, who: str, patrol: int, rows, key: str | None = None, **params):
    headers = api.headers(who) | ({"Idempotency-Key": key} if key else {})
    payload = rows.tolist() if isinstance(rows, np.ndarray) else rows
    return api.client.post(f"{API}/patrols/{patrol}/fixes", json=payload, headers=headers, params=params)


def end(api: Api, who: str, patrol: int):
    return api.client.post(f"{API}/patrols/{patrol}/end", headers=api.headers(who))


def walk(api: Api, clock, who: str = "workerA", seed: int = 12) -> dict:
    """A whole patrol through the API: start, three batches (the last two swapped, one retried), end."""
    started = start(api, who, CORNER)
    assert started.status_code == 201, started.text
    patrol = started.json()["id"]
    rows, _ = noisy_fixes(clock().timestamp(), seed)
    clock.advance(seconds=5 * len(rows) + 60)
    a, b, c = np.array_split(rows, 3)
    for batch in (a, c, b):  # the second batch waited for signal
        key = str(uuid.uuid4())
        first = send(api, who, patrol, batch, key)
        assert first.status_code == 200, first.text
        again = send(api, who, patrol, batch, key)  # the app retried: nothing changes twice
        assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    ended = end(api, who, patrol)
    assert ended.status_code == 200, ended.text
    return ended.json()


def test_a_noisy_patrol_gives_its_visited_buildings_its_distance_and_its_check_in(api, clock):
    rows, faults = noisy_fixes(clock().timestamp())
    answer = walk(api, clock)
    props = answer["properties"]
    assert props["status"] == "ended" and props["checked_in"] is True and props["check_in_distance_m"] == 0
    assert set(props["visited"]) == NEAR_CODES  # not the buildings 120 m and more away
    path = true_path()
    walked = GEOD.line_length(path[:, 0], path[:, 1])
    assert props["distance_m"] == pytest.approx(walked, rel=0.01)
    assert props["dropped"] == faults and props["fixes_received"] == len(rows)
    assert props["fixes_kept"] == len(rows) - sum(faults.values())
    assert props["reordered"] > 0  # the batch sent late
    # The whole walk was inside grid A: the time in own grids is the time between first and last fix.
    assert props["in_own_grids_s"] == pytest.approx(5 * (len(path) - 1), abs=15)
    assert answer["geometry"]["type"] == "LineString"
    assert 2 <= len(answer["geometry"]["coordinates"]) < props["fixes_kept"] / 4  # simplified
    # The grid's coverage for the day counts them.
    day = (clock() - timedelta(seconds=1)).astimezone(CHINA_TIME).date()
    cov = api.client.get(
        f"{API}/grids/{CODE_A}/coverage", params={"date": day.isoformat()}, headers=api.headers("leaderA")
    ).json()
    assert cov["visited"] == len(NEAR) and cov["buildings"] == len(NEAR) + len(FAR) + 1
    assert cov["share"] == pytest.approx(len(NEAR) / cov["buildings"], abs=1e-4)
    assert set(cov["visited_buildings"]) == NEAR_CODES
    assert {b["code"] for b in cov["stale_buildings"]} == {"P-B01", "P-BF0", "P-BF1"}
    assert cov["by_worker"] == [
        {
            "responder": "P-R02",
            "name": "甲网格员",
            "patrols": 1,
            "visited": len(NEAR),
            "distance_m": props["distance_m"],
        }
    ]
    assert [f["id"] for f in cov["tracks"]["features"]] == [answer["id"]]


def test_a_patrol_started_far_from_ones_grids_is_flagged(api, clock):
    outside = move(CENTRE_A, 180, 600)  # 330 m south of grid A
    answer = start(api, "workerA", outside).json()["properties"]
    assert answer["checked_in"] is False and answer["check_in_distance_m"] == pytest.approx(330, abs=15)
    # A patrol without a start position checks in with its first fix.
    assert end(api, "workerA", answer["id"]).status_code == 200
    patrol = start(api, "workerA").json()["id"]
    assert send(api, "workerA", patrol, [[*CENTRE_A, clock().timestamp(), 5.0]]).status_code == 200
    props = api.client.get(f"{API}/patrols/{patrol}", headers=api.headers("workerA")).json()["properties"]
    assert props["checked_in"] is True


def _fix_count(db_url) -> int:
    from geo.db.engine import get_engine

    with session_scope(get_engine(db_url)) as s:
        return s.scalar(select(func.count()).select_from(PatrolFix)) or 0


@pytest.mark.parametrize(
    "bad,message",
    [
        ([[200.0, 23.69, 0, 5]], "out of range"),
        ([[113.04, 95.0, 0, 5]], "out of range"),
        ([[120.0, 30.0, 0, 5]], "outside the area wangge serves"),
        ([[113.04, 23.69, 3600, 5]], "in the future"),
        ([[113.04, 23.69, -3 * 365 * 86400, 5]], "before"),
        ([[113.04, 23.69, 0, -1]], "accuracy_m"),
        ([[113.04, "23.69", 0, 5]], "must be a number"),
        ([[113.04, 23.69]], "expected [lon, lat"),
        ({"fixes": []}, "JSON array"),
        ([[113.04, 23.69, 0, 5]] * 10_001, "at most 10000"),
    ],
)
def test_a_bad_batch_is_refused_whole_naming_the_fix(api, clock, db_url, bad, message):
    patrol = start(api, "workerA", CENTRE_A).json()["id"]
    now = clock().timestamp()
    good = [[*move(CENTRE_A, 90, 5 * i), now - 60 + i, 5.0] for i in range(5)]
    if isinstance(bad, list):
        bad = good + [
            [
                v + now if j == 2 and isinstance(v, (int, float)) and not isinstance(v, bool) else v
                for j, v in enumerate(row)
            ]
            for row in bad
        ]
    r = send(api, "workerA", patrol, bad)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
    if isinstance(bad, list) and len(bad) < 100:
        assert "fix 5" in r.json()["detail"]
    assert _fix_count(db_url) == 0


def test_nan_is_refused(api, clock, db_url):
    patrol = start(api, "workerA", CENTRE_A).json()["id"]
    body = f"[[113.04, NaN, {clock().timestamp()}, 5]]"
    r = api.client.post(
        f"{API}/patrols/{patrol}/fixes",
        content=body,
        headers=api.headers("workerA") | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "not JSON" in r.json()["detail"]
    assert _fix_count(db_url) == 0


def test_fixes_for_an_ended_patrol_or_another_workers_are_refused(api, clock, db_url):
    fix = [[*CENTRE_A, clock().timestamp(), 5.0]]
    mine = start(api, "workerA", CENTRE_A).json()["id"]
    r = send(api, "workerB", mine, fix)
    assert r.status_code == 403 and "another worker's" in r.json()["detail"]
    assert start(api, "workerA").status_code == 409  # one running patrol at a time
    assert end(api, "workerA", mine).status_code == 200
    r = send(api, "workerA", mine, fix)
    assert r.status_code == 409 and "has ended" in r.json()["detail"]
    assert end(api, "workerA", mine).status_code == 409
    assert _fix_count(db_url) == 0
    assert start(api, "viewer").status_code == 403 and start(api, None).status_code == 401


def _flush(api: Api) -> None:
    app = api.client.app
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, read_log(app).flush(app)).result()


def test_each_role_sees_exactly_the_tracks_point_5_says(api, clock, engine):
    a = walk(api, clock, "workerA")["id"]
    b = walk(api, clock, "workerB", seed=13)["id"]
    visible = {
        "workerA": {a},
        "workerB": {b},
        "leaderA": {a},
        "leaderB": {b},
        "community": {a, b},
        "admin": {a, b},
    }
    for who, expected in visible.items():
        r = api.client.get(f"{API}/patrols", headers=api.headers(who))
        assert r.status_code == 200, (who, r.text)
        assert {f["id"] for f in r.json()["features"]} == expected, who
        for patrol in (a, b):
            one = api.client.get(f"{API}/patrols/{patrol}", headers=api.headers(who))
            assert one.status_code == (200 if patrol in expected else 403), (who, patrol)
    for who, status in (("viewer", 403), ("planner", 403), (None, 401)):
        assert api.client.get(f"{API}/patrols", headers=api.headers(who)).status_code == status
        assert api.client.get(f"{API}/patrols/{a}", headers=api.headers(who)).status_code == status
        # They see the coverage shares, and nothing of who walked where.
        cov = api.client.get(f"{API}/grids/{CODE_A}/coverage", headers=api.headers(who)).json()
        assert cov["buildings"] > 0 and "share" in cov
        assert not {"visited_buildings", "by_worker", "tracks", "stale_buildings"} & set(cov)
    # A leader sees the details of their grid, not of the other.
    assert "tracks" in api.client.get(f"{API}/grids/{CODE_A}/coverage", headers=api.headers("leaderA")).json()
    assert "tracks" not in api.client.get(f"{API}/grids/{CODE_B}/coverage", headers=api.headers("leaderA")).json()
    # Reading someone else's track is in the audit log; one's own is not.
    _flush(api)
    with session_scope(engine) as s:
        reads = [
            (r.username, r.detail["layers"].get("patrols")) for r in audit.events(s, event=audit.PERSONAL_DATA_READ)
        ]
    assert ("leaderA", [a]) in reads and ("community", [b]) in reads
    assert not any(user == "workerA" and ids for user, ids in reads)


def test_retention_deletes_raw_data_and_keeps_the_daily_figures(api, clock, engine):
    answer = walk(api, clock)
    patrol = answer["id"]
    day = answer["properties"]["started_at"][:10]
    before = api.client.get(
        f"{API}/grids/{CODE_A}/coverage", params={"date": day}, headers=api.headers("community")
    ).json()
    with session_scope(engine) as s:
        assert purge_expired(s, clock() + timedelta(days=29)) == 0  # within the retention period
    forgotten = start(api, "workerA", CENTRE_A).json()["id"]  # left running
    with session_scope(engine) as s:
        assert purge_expired(s, clock() + timedelta(days=31)) == 2
        assert s.get(Patrol, forgotten).status == "ended"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(PatrolFix)) == 0
        assert s.scalar(select(func.count()).select_from(PatrolVisit)) == 0
        row = s.get(Patrol, patrol)
        assert row.geom is None and row.start_geom is None and row.purged_at is not None
        assert s.scalar(select(func.count()).select_from(BuildingVisitDay)) == len(NEAR)
        assert s.scalar(select(func.count()).select_from(CoverageDay)) == 1
    after = api.client.get(
        f"{API}/grids/{CODE_A}/coverage", params={"date": day}, headers=api.headers("community")
    ).json()
    assert (after["visited"], after["share"], after["by_worker"]) == (
        before["visited"],
        before["share"],
        before["by_worker"],
    )
    assert after["tracks"]["features"][0]["geometry"] is None
    one = api.client.get(f"{API}/patrols/{patrol}", headers=api.headers("workerA")).json()
    assert one["geometry"] is None and one["properties"]["purged"] is True and one["properties"]["distance_m"] > 0


def test_coverage_of_every_grid_as_json_and_csv(api, clock):
    walk(api, clock)
    day = (clock()).astimezone(CHINA_TIME).date().isoformat()
    rows = api.client.get(f"{API}/coverage", params={"start": day, "end": day}).json()["rows"]
    by_grid = {r["grid"]: r for r in rows}
    assert by_grid[CODE_A]["visited"] == len(NEAR) and by_grid[CODE_B]["visited"] == 0
    text = api.client.get(f"{API}/coverage", params={"start": day, "end": day}, headers={"Accept": "text/csv"}).text
    assert text.splitlines()[0] == "grid,name,buildings,visited,share,stale"
    assert f"{CODE_A},第一网格,{by_grid[CODE_A]['buildings']},{len(NEAR)}," in text
    bad = api.client.get(f"{API}/coverage", params={"start": day, "end": "2020-01-01"})
    assert bad.status_code == 422 and "before it starts" in bad.json()["detail"]


def test_an_incident_reported_on_patrol_is_linked_to_it(api, clock):
    patrol = start(api, "workerA", CENTRE_A).json()["id"]
    r = api.report("workerA", "hazard", "fire_safety", move(CENTRE_A, 0, 30))
    assert r.status_code == 201, r.text
    props = end(api, "workerA", patrol).json()["properties"]
    assert props["incidents"] == [r.json()["id"]]


def test_concurrent_starts_batches_and_ends_on_a_real_server(db_url, world, engine, serve_wangge):
    """Two starts at once make one patrol; batches sent at once, each retried with its key, are
    stored once each; two ends at once end it once."""
    base = serve_wangge(db_url)
    headers = {"Authorization": f"Bearer {world.token['workerA']}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        starts = _at_once(
            lambda i: http.post(f"{API}/patrols", json={"lon": CENTRE_A[0], "lat": CENTRE_A[1]}, headers=headers), 2
        )
        assert sorted(r.status_code for r in starts) == [201, 409], [r.text for r in starts]
        patrol = next(r for r in starts if r.status_code == 201).json()["id"]
        now = time.time()
        batches = [[[*move(CENTRE_A, 90, 40 * i + j), now - 400 + 50 * i + j, 5.0] for j in range(5)] for i in range(8)]
        keys = [str(uuid.uuid4()) for _ in batches]
        for _ in range(2):  # the second round retries every batch with its key
            sent = _at_once(
                lambda i: http.post(
                    f"{API}/patrols/{patrol}/fixes", json=batches[i], headers={**headers, "Idempotency-Key": keys[i]}
                ),
                len(batches),
            )
            assert [r.status_code for r in sent] == [200] * len(batches), [r.text for r in sent]
        ends = _at_once(lambda i: http.post(f"{API}/patrols/{patrol}/end", headers=headers), 2)
        assert sorted(r.status_code for r in ends) == [200, 409]
        props = next(r for r in ends if r.status_code == 200).json()["properties"]
    assert props["fixes_received"] == 40 and props["fixes_kept"] == 40
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(PatrolFix)) == 40
        assert s.scalar(select(func.count()).select_from(Patrol)) == 1


def _at_once(request, n: int) -> list[httpx.Response]:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = request(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results
