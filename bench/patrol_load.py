"""Load the patrol benchmark's district (``bench/patrol_data.py``) into a fresh PostGIS database.

The schema is wangge's own (``geo.db.schema.upgrade``, its migrations); places, people and patrols
go in through wangge's bulk writer (``geo.db.bulk.insert``: COPY, indexes rebuilt after a large
load), the 5.76 million raw fixes through one binary COPY. Each patrol of the day is stored as
wangge stores an ended one: its fixes cleaned and simplified by ``geo.patrols.tracks``, with its
figures.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text

from bench.patrol_data import COMMUNITY_COLS, DISTRICT, GRID_COLS, STREET, Data
from geo.db import bulk, schema
from geo.db.engine import make_engine
from geo.db.session import session_scope
from geo.timezones import CHINA_TIME

TOKEN_PREFIX = "wg_bench_"


def day_start(day: date) -> datetime:
    """Midnight of a China date, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME).astimezone(UTC)


def _places(session, data: Data, now: datetime) -> None:
    from geo.models import Building, Community, Grid, Street

    bulk.insert(
        session,
        Street.__table__,
        {
            "id": [1],
            "code": [STREET],
            "name": ["基准街道"],
            "district_code": [DISTRICT],
            "district_name": ["清城区"],
            "city_name": ["清远市"],
        },
    )
    boxes = data.grid_boxes
    n_grids = len(boxes)
    grid_community = (np.arange(n_grids) % GRID_COLS) // COMMUNITY_COLS  # 0..9
    communities = GRID_COLS // COMMUNITY_COLS
    community_polys = [
        shapely.MultiPolygon(
            [shapely.box(*np.r_[boxes[grid_community == c][:, :2].min(0), boxes[grid_community == c][:, 2:].max(0)])]
        )
        for c in range(communities)
    ]
    bulk.insert(
        session,
        Community.__table__,
        {
            "id": list(range(1, communities + 1)),
            "street_id": [1] * communities,
            "code": [f"{STREET}{c + 1:03d}" for c in range(communities)],
            "name": [f"基准社区{c + 1:02d}" for c in range(communities)],
            "geom": community_polys,
        },
    )
    # Grid codes: community code + sequence within the community, west to east, north to south.
    seq = np.zeros(n_grids, dtype=int)
    for c in range(communities):
        members = np.flatnonzero(grid_community == c)
        order = np.lexsort((boxes[members, 0], -boxes[members, 1]))
        seq[members[order]] = np.arange(1, len(members) + 1)
    grid_codes = [f"{STREET}{c + 1:03d}{s:03d}" for c, s in zip(grid_community.tolist(), seq.tolist(), strict=True)]
    bulk.insert(
        session,
        Grid.__table__,
        {
            "id": list(range(1, n_grids + 1)),
            "community_id": (grid_community + 1).tolist(),
            "code": grid_codes,
            "name": [f"第{s:03d}网格" for s in seq.tolist()],
            "party_branch": [None] * n_grids,
            "properties": [{}] * n_grids,
            "geom": shapely.multipolygons(shapely.box(*boxes.T).reshape(-1, 1)),
            "updated_at": [now] * n_grids,
        },
    )
    n = len(data.b_lon)
    has = ~np.isnan(data.b_footprint[:, 0, 0])
    footprints = np.full(n, None, dtype=object)
    footprints[has] = shapely.polygons(data.b_footprint[has])
    bulk.insert(
        session,
        Building.__table__,
        {
            "id": np.arange(1, n + 1),
            "code": [f"{grid_codes[g]}{k:05d}" for g, k in zip(data.b_grid.tolist(), range(n), strict=True)],
            "name": [f"{k + 1}号楼" for k in range(n)],
            "kind": ["old_building"] * n,
            "address": [None] * n,
            "households": [0] * n,
            "residents": [0] * n,
            "estate_id": [None] * n,
            "grid_id": (data.b_grid + 1).tolist(),
            "properties": [{}] * n,
            "geom": shapely.points(data.b_lon, data.b_lat),
            "footprint": footprints,
        },
    )


def _people(session, data: Data, now: datetime) -> list[str]:
    """One grid worker per patrol serving its grid, a user for each and an API token; the tokens."""
    from geo.access.users import hash_token
    from geo.models import ApiToken, Responder, User, responder_grids

    n = data.params.patrols
    ids = list(range(1, n + 1))
    bulk.insert(
        session,
        Responder.__table__,
        {
            "id": ids,
            "code": [f"R{i:06d}" for i in ids],
            "name": [f"网格员{i:04d}" for i in ids],
            "kind": ["person"] * n,
            "role": ["grid_worker"] * n,
            "phone": [f"139{i:08d}" for i in ids],
            "organisation": [None] * n,
            "building_id": [None] * n,
            "on_duty": [True] * n,
            "located_at": [now] * n,
            "properties": [{}] * n,
            "geom": shapely.points(data.home_lon, data.home_lat),
            "updated_at": [now] * n,
        },
    )
    grids = len(data.grid_boxes)
    bulk.insert(session, responder_grids, {"responder_id": ids, "grid_id": [(i - 1) % grids + 1 for i in ids]})
    bulk.insert(
        session,
        User.__table__,
        {
            "id": ids,
            "username": [f"worker{i:04d}" for i in ids],
            "display_name": [f"网格员{i:04d}" for i in ids],
            "role": ["grid_worker"] * n,
            "responder_id": ids,
            "active": [True] * n,
            "created_at": [now] * n,
            "must_change_password": [False] * n,
        },
    )
    tokens = [TOKEN_PREFIX + secrets.token_urlsafe(24) for _ in ids]
    bulk.insert(
        session,
        ApiToken.__table__,
        {
            "user_id": ids,
            "token_hash": [hash_token(t) for t in tokens],
            "label": ["bench"] * n,
            "created_at": [now] * n,
            "kind": ["api"] * n,
        },
    )
    return tokens


def fixes_of(data: Data, patrol: int, start_ts: float, count: int | None = None) -> np.ndarray:
    """The raw fixes of patrol ``patrol`` (0-based) as wangge takes them: (n, 4) lon, lat, t, accuracy."""
    n = data.params.fixes_per_patrol
    part = slice(patrol * n, patrol * n + (count or n))
    return np.column_stack((data.fix_lon[part], data.fix_lat[part], start_ts + data.fix_dt[part], data.fix_acc[part]))


def _day_patrols(session, data: Data, day: date, log) -> dict[str, Any]:
    """The day's patrols, ended, as wangge stores them; their raw fixes by binary COPY."""
    from geo.models import Patrol
    from geo.patrols.tracks import clean, line_length_m, simplified_line, time_inside_s
    from geo.settings import get_settings

    settings = get_settings()
    n = data.params.patrols
    rng = np.random.default_rng(data.params.seed + 1)
    starts = day_start(day) + timedelta(hours=8)
    start_ts = starts.timestamp() + rng.uniform(0, 3600, n)
    grids = shapely.box(*data.grid_boxes.T)
    shapely.prepare(grids)
    rows: dict[str, list] = {
        k: []
        for k in (
            "id",
            "code",
            "responder_id",
            "started_by",
            "status",
            "source",
            "started_at",
            "ended_at",
            "start_geom",
            "checked_in",
            "check_in_distance_m",
            "geom",
            "distance_m",
            "duration_s",
            "in_own_grids_s",
            "fixes_received",
            "fixes_kept",
            "dropped",
            "reordered",
            "last_t",
            "last_lon",
            "last_lat",
        )
    }
    t = time.perf_counter()
    vertices = 0
    for i in range(n):
        fixes = fixes_of(data, i, float(start_ts[i]))
        cleaned = clean(fixes, settings.patrol_max_accuracy_m, settings.patrol_max_speed_mps)
        kept = cleaned.kept
        line = simplified_line(kept, settings.patrol_simplify_m)
        vertices += 0 if line is None else len(line.coords)
        began = datetime.fromtimestamp(float(start_ts[i]), UTC)
        pid = i + 1
        for key, value in (
            ("id", pid),
            ("code", f"XL{day:%Y%m%d}-{pid:06d}"),
            ("responder_id", pid),
            ("started_by", f"worker{pid:04d}"),
            ("status", "ended"),
            ("source", "app"),
            ("started_at", began),
            ("ended_at", datetime.fromtimestamp(float(kept[-1, 2]), UTC)),
            ("start_geom", shapely.Point(fixes[0, 0], fixes[0, 1])),
            ("checked_in", True),
            ("check_in_distance_m", 0.0),
            ("geom", line),  # the track
            ("distance_m", round(line_length_m(line), 1)),  # as wangge measures an ended patrol
            ("duration_s", float(kept[-1, 2] - kept[0, 2])),
            ("in_own_grids_s", time_inside_s(kept, grids[i % len(grids)])),
            ("fixes_received", len(kept) + sum(cleaned.dropped.values())),
            ("fixes_kept", len(kept)),
            ("dropped", dict(cleaned.dropped)),
            ("reordered", cleaned.reordered),
            ("last_t", float(kept[-1, 2])),
            ("last_lon", float(kept[-1, 0])),
            ("last_lat", float(kept[-1, 1])),
        ):
            rows[key].append(value)
    clean_s = time.perf_counter() - t
    bulk.insert(session, Patrol.__table__, rows)
    t = time.perf_counter()
    copy_fixes(session, data, start_ts)
    copy_s = time.perf_counter() - t
    kept_total = sum(rows["fixes_kept"])
    log(
        f"  {n:,} patrols cleaned and simplified in {clean_s:.1f} s ({kept_total:,} fixes kept, "
        f"{vertices:,} track vertices); {len(data.fix_lon):,} raw fixes copied in {copy_s:.1f} s"
    )
    return {
        "patrols": n,
        "fixes": int(len(data.fix_lon)),
        "fixes_kept": kept_total,
        "track_vertices": vertices,
        "clean_simplify_s": clean_s,
        "copy_fixes_s": copy_s,
    }


_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("len_id", ">i4"),
        ("patrol_id", ">i4"),
        ("len_t", ">i4"),
        ("t", ">f8"),
        ("len_lon", ">i4"),
        ("lon", ">f8"),
        ("len_lat", ">i4"),
        ("lat", ">f8"),
        ("len_acc", ">i4"),
        ("acc", ">f8"),
    ]
)


def copy_fixes(session, data: Data, start_ts: np.ndarray, chunk: int = 500_000) -> None:
    """Every raw fix into patrol_fixes with one binary COPY (its rows made by numpy)."""
    per = data.params.fixes_per_patrol
    total = len(data.fix_lon)
    raw = session.connection().connection.driver_connection
    with (
        raw.cursor() as cur,
        cur.copy("COPY patrol_fixes (patrol_id, t, lon, lat, accuracy_m) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        for a in range(0, total, chunk):
            b = min(a + chunk, total)
            patrol = np.arange(a, b) // per
            rows = np.empty(b - a, dtype=_COPY_ROW)
            rows["fields"] = 5
            rows["len_id"], rows["len_t"], rows["len_lon"], rows["len_lat"], rows["len_acc"] = 4, 8, 8, 8, 8
            rows["patrol_id"] = patrol + 1
            rows["t"] = start_ts[patrol] + data.fix_dt[a:b]
            rows["lon"], rows["lat"], rows["acc"] = data.fix_lon[a:b], data.fix_lat[a:b], data.fix_acc[a:b]
            copy.write(rows.tobytes())
        copy.write((-1).to_bytes(2, "big", signed=True))


def load(url: str, data: Data, day: date, log=print) -> dict[str, Any]:
    """Migrate the empty database at ``url`` and load the district and that day's patrols."""
    timings: dict[str, Any] = {}
    engine = make_engine(url)
    t0 = time.perf_counter()
    schema.upgrade(engine)
    timings["migrate_s"] = time.perf_counter() - t0
    now = datetime.now(UTC)
    with session_scope(engine, write=True) as session:
        t = time.perf_counter()
        _places(session, data, now)
        timings["places_s"] = time.perf_counter() - t
        t = time.perf_counter()
        tokens = _people(session, data, now)
        timings["people_s"] = time.perf_counter() - t
        log(
            f"  {len(data.b_lon):,} buildings, {len(data.grid_boxes):,} grids, {len(tokens):,} workers in {timings['places_s'] + timings['people_s']:.1f} s"
        )
        timings["day"] = _day_patrols(session, data, day, log)
        for table in (
            "streets",
            "communities",
            "grids",
            "buildings",
            "responders",
            "users",
            "api_tokens",
            "patrols",
            "patrol_fixes",
        ):
            session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    t = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    timings["analyze_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    timings["tokens"] = tokens
    engine.dispose()
    return timings
