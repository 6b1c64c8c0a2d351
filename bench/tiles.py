"""Vector tiles on SpatiaLite and PostGIS: the same 200 tiles of a city of 100,000 grids and
1,000,000 buildings.

    python -m bench.tiles                       both databases, full size
    python -m bench.tiles --grids 10000 --buildings 100000 --tiles 50   a quick look
    python -m bench.tiles --write-md            also write this benchmark's section of BENCHMARKS.md

The grids are bench/api_data.py's (Voronoi cells of 100,000 seeds over 0.4 x 0.4 degrees around
Qingyuan); the buildings are points drawn uniformly inside the grids, ten per grid. Both are made
once from a fixed seed and kept under bench/results/cache/; each database is loaded once with
wangge's bulk writer (geo/db/bulk.py) and kept (bench/results/tiles/tiles-KEY.db, and the
PostGIS database wangge_bench_tiles at WANGGE_BENCH_POSTGRES_URL's server).

The tiles: every zoom-10 tile of the grids layer that meets the city (a few, each holding tens of
thousands of grids), and zoom-14 tiles of the buildings layer picked at random among those that
meet it, 200 in all. Each tile is built in-process as a request builds it (a fresh session,
``geo.tiles.service.tile_bytes``), one after the other; SpatiaLite's come from the Python
encoder, PostGIS's from ST_AsMVT. Both databases' tiles are decoded and their feature counts
compared. With ``--cached``, SpatiaLite is also measured serving from the pre-built tile cache
(``wangge tiles build``), which is what it does when the cache is on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely

from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "tiles"
CACHE = ROOT / "bench" / "results" / "cache"
SECTION_START = "<!-- bench:tiles start (written by python -m bench.tiles --write-md) -->"
SECTION_END = "<!-- bench:tiles end -->"
POSTGRES_URL = os.environ.get("WANGGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/wangge_bench")
PG_DATABASE = "wangge_bench_tiles"
TARGET_RATIO = 3.0
TILE_CACHE = RESULTS / "tile-cache"
SEED = 20261130


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] tiles: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the city


def buildings_in(grid_wkb: np.ndarray, per_grid: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_grid`` points drawn uniformly inside each grid (rejection sampling in its box):
    lon, lat and the grid's index."""
    rng = np.random.default_rng(seed)
    grids = shapely.from_wkb(grid_wkb)
    owner = np.repeat(np.arange(len(grids)), per_grid)
    bounds = shapely.bounds(grids)[owner]
    lon = np.empty(len(owner))
    lat = np.empty(len(owner))
    todo = np.arange(len(owner))
    while todo.size:
        b = bounds[todo]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(grids[owner[todo]], x, y)
        lon[todo[ok]], lat[todo[ok]] = x[ok], y[ok]
        todo = todo[~ok]
    return np.round(lon, 7), np.round(lat, 7), owner


def city(grids: int, buildings: int, log=log):
    from bench.api_data import Params, load_or_make

    data = load_or_make(Params(grids=grids, responders=1000, points=1000, http_points=100), CACHE, log)
    per_grid = max(1, buildings // grids)
    path = CACHE / f"tiles-buildings-{data.params.key()}-{per_grid}.npz"
    if path.exists():
        z = np.load(path)
        return data, z["lon"], z["lat"], z["grid"]
    t = time.perf_counter()
    lon, lat, grid = buildings_in(data.grid_wkb, per_grid, SEED)
    np.savez(path, lon=lon, lat=lat, grid=grid)
    log(f"made {len(lon):,} buildings in {time.perf_counter() - t:.1f} s")
    return data, lon, lat, grid


def load(url: str, data, lon, lat, grid) -> None:
    """The city into a fresh wangge database (its migrations, then the bulk writer)."""
    from geo.db import bulk, schema
    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.models import Building, Community, Grid, Street

    engine = make_engine(url)
    schema.upgrade(engine)
    now = datetime.now(UTC)
    t = time.perf_counter()
    with session_scope(engine) as s:
        n_streets = len(data.street_codes)
        bulk.insert(
            s,
            Street.__table__,
            {
                "id": list(range(1, n_streets + 1)),
                "code": data.street_codes.tolist(),
                "name": [f"街道{i + 1}" for i in range(n_streets)],
                "district_code": ["441802"] * n_streets,
                "district_name": ["清城区"] * n_streets,
                "city_name": ["清远市"] * n_streets,
            },
        )
        n_comm = len(data.community_codes)
        bulk.insert(
            s,
            Community.__table__,
            {
                "id": list(range(1, n_comm + 1)),
                "street_id": data.community_street.tolist(),
                "code": data.community_codes.tolist(),
                "name": [f"社区{i + 1}" for i in range(n_comm)],
                "geom": shapely.multipolygons(shapely.box(*data.community_boxes.T).reshape(-1, 1)),
            },
        )
        n_grids = len(data.grid_codes)
        bulk.insert(
            s,
            Grid.__table__,
            {
                "id": list(range(1, n_grids + 1)),
                "community_id": data.grid_community.tolist(),
                "code": data.grid_codes.tolist(),
                "name": [f"网格{i + 1}" for i in range(n_grids)],
                "party_branch": [None] * n_grids,
                "properties": [{}] * n_grids,
                "geom": shapely.from_wkb(data.grid_wkb),
                "updated_at": [now] * n_grids,
            },
        )
        n = len(lon)
        bulk.insert(
            s,
            Building.__table__,
            {
                "id": np.arange(1, n + 1),
                "code": [f"B{i:07d}" for i in range(1, n + 1)],
                "name": [f"{i % 40 + 1}号楼" for i in range(n)],
                "kind": ["old_building"] * n,
                "address": [None] * n,
                "households": [0] * n,
                "residents": [0] * n,
                "estate_id": [None] * n,
                "grid_id": (grid + 1).tolist(),
                "properties": [{}] * n,
                "geom": shapely.points(lon, lat),
            },
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    log(f"loaded {url.split('@')[-1]} in {time.perf_counter() - t:.0f} s")


def ensure_database(kind: str, key: str, data, lon, lat, grid) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from geo.db.engine import normalise_url

    n = len(lon)
    if kind == "spatialite":
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"tiles-{key}.db"
        url = f"sqlite:///{path}"
        if not path.exists() or _buildings(url) != n:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            load(url, data, lon, lat, grid)
        return url
    parsed = make_url(normalise_url(POSTGRES_URL))
    url = parsed.set(database=PG_DATABASE).render_as_string(hide_password=False)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": PG_DATABASE}).scalar()
        if exists and _buildings(url) != n:
            conn.exec_driver_sql(f'DROP DATABASE "{PG_DATABASE}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{PG_DATABASE}"')
            admin.dispose()
            load(url, data, lon, lat, grid)
    admin.dispose()
    return url


def _buildings(url: str) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from geo.db.engine import make_engine
    from geo.models import Building

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count(Building.id))).scalar_one())
    except SQLAlchemyError:
        return -1
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the tiles


def pick_tiles(
    area: tuple[float, float, float, float], count: int, seed: int
) -> list[tuple[str, tuple[int, int, int]]]:
    from geo.tiles.matrix import tiles_covering

    grids = [("grids", (t.z, t.x, t.y)) for t in tiles_covering(area, 10)]
    buildings = tiles_covering(area, 14)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(buildings), size=min(count - len(grids), len(buildings)), replace=False)
    return grids + [("buildings", (buildings[i].z, buildings[i].x, buildings[i].y)) for i in sorted(chosen)]


def measure(url: str, tiles, cached: bool = False) -> dict:
    """Each tile built as a request builds it (a session of its own); with ``cached``, read from
    the tile cache (``cache_build`` filled it). Seconds, feature counts and sizes per tile."""
    import mapbox_vector_tile

    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.tiles.cache import cached_tile
    from geo.tiles.encode import render
    from geo.tiles.layers import tile_layers
    from geo.tiles.matrix import tile
    from geo.tiles.service import stamp

    engine = make_engine(url)
    now = datetime.now(UTC)
    with session_scope(engine) as s:  # connect and warm the catalogue once, as a running server has
        render(s, tile_layers("buildings"), tile(*tiles[-1][1]), now)
    seconds, features, sizes = [], [], []
    for name, zxy in tiles:
        t = time.perf_counter()
        with session_scope(engine) as s:
            layers = tile_layers(name)
            if cached:
                body = cached_tile(s, layers, tile(*zxy), now, stamp(s, layers, now), root=TILE_CACHE)
            else:
                body = render(s, layers, tile(*zxy), now)
        seconds.append(time.perf_counter() - t)
        sizes.append(len(body))
        decoded = mapbox_vector_tile.decode(body) if body else {}
        features.append(len(decoded.get(name, {"features": []})["features"]))
    engine.dispose()
    return {"seconds": seconds, "features": features, "bytes": sizes}


def summary(tiles, run: dict, kind: str | None = None) -> dict:
    idx = [i for i, (name, _) in enumerate(tiles) if kind is None or name == kind]
    s = [run["seconds"][i] for i in idx]
    return {
        "tiles": len(idx),
        "total_s": sum(s),
        "median_ms": statistics.median(s) * 1000,
        "p95_ms": float(np.percentile(s, 95)) * 1000,
        "features_mean": statistics.mean(run["features"][i] for i in idx),
        "kb_mean": statistics.mean(run["bytes"][i] for i in idx) / 1024,
    }


def notes(result: dict) -> list[str]:
    rows, runs, n = result["rows"], result["runs"], result["params"]["tiles"]
    postgis = rows["PostGIS"]["all"]["total_s"]
    out = [f"SpatiaLite / PostGIS over the {n} tiles: **{result['ratio']:.1f}x** (target at most {TARGET_RATIO:.0f}x)."]
    differ = [(a, b) for a, b in zip(runs["postgis"]["features"], runs["spatialite"]["features"]) if a != b]
    out.append(
        "Feature counts per tile: "
        + (
            f"differ in {len(differ)} of {n} tiles, by at most {max(abs(a - b) for a, b in differ)} features "
            f"of {max(max(a, b) for a, b in differ):,}: polygons of about one tile unit at the buffer's edge, which "
            "PostGIS's simplification drops and the Python encoder keeps (or the other way round)."
            if differ
            else "the same on both databases."
        )
    )
    cached = rows.get("SpatiaLite, tile cache")
    if cached:
        build = result.get("cache_build_s")
        built = f", {build:.0f} s to build these tiles" if build is not None else ""
        out.append(
            f"SpatiaLite with the tile cache (`wangge tiles build`{built}): **{cached['all']['total_s'] / postgis:.2f}x** "
            "PostGIS, which is what a SpatiaLite server does by default (WANGGE_VECTOR_TILE_CACHE=auto) once a tile "
            "was built: built on first request, or in advance."
        )
    return out


def markdown(result: dict) -> str:
    p = result["params"]
    lines = [
        SECTION_START,
        "## Vector tiles: SpatiaLite against PostGIS (issue 14)",
        "",
        f"{p['grids']:,} grids and {p['buildings']:,} buildings (points); {p['tiles']} tiles built one after the other "
        f"in-process as a request builds them: every zoom-10 tile of the grids ({result['grid_tiles']}) and "
        f"{p['tiles'] - result['grid_tiles']} zoom-14 tiles of the buildings. PostGIS: one `ST_AsMVT` statement per tile; "
        "SpatiaLite: the spatial index, WKB, numpy/shapely and mapbox-vector-tile. "
        f"Measured {result['when']} on {result['machine']} (load average {result['loadavg']} at the start: a shared machine).",
        "",
        f"Command: `{result['command']}`",
        "",
        "| database | tiles | total s | median ms | p95 ms | features per tile | KiB per tile |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, rows in result["rows"].items():
        for kind, r in rows.items():
            lines.append(
                f"| {label}, {kind} | {r['tiles']} | {r['total_s']:.1f} | {r['median_ms']:.0f} | {r['p95_ms']:.0f} | "
                f"{r['features_mean']:,.0f} | {r['kb_mean']:.0f} |"
            )
    lines += [""]
    for note in notes(result):
        lines.append(f"- {note}")
    lines += ["", SECTION_END]
    return "\n".join(lines)


def write_md(section: str) -> None:
    write_section(SECTION_START, SECTION_END, section, log, "tiles")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tiles", description=__doc__.split("\n\n")[0])
    ap.add_argument("--grids", type=int, default=100_000)
    ap.add_argument("--buildings", type=int, default=1_000_000)
    ap.add_argument("--tiles", type=int, default=200)
    ap.add_argument("--cached", action="store_true", help="also time SpatiaLite from the pre-built tile cache")
    ap.add_argument("--write-md", action="store_true", help="write this benchmark's section of BENCHMARKS.md")
    ap.add_argument("--from", dest="saved", type=Path, help="measure nothing: the section for a saved results file")
    args = ap.parse_args(argv)
    if args.saved:
        section = markdown(json.loads(args.saved.read_text()))
        print(section)
        if args.write_md:
            write_md(section)
        return 0
    started = datetime.now(UTC)
    load_at_start = os.getloadavg()
    data, lon, lat, grid = city(args.grids, args.buildings)
    key = f"{data.params.key()}-{len(lon)}"
    tiles = pick_tiles(data.area, args.tiles, SEED)
    urls = {kind: ensure_database(kind, key, data, lon, lat, grid) for kind in ("spatialite", "postgis")}
    runs = {}
    for kind in ("postgis", "spatialite"):
        log(f"{kind}: {len(tiles)} tiles")
        runs[kind] = measure(urls[kind], tiles)
        log(f"{kind}: {sum(runs[kind]['seconds']):.1f} s")
    differ = [(a, b) for a, b in zip(runs["postgis"]["features"], runs["spatialite"]["features"]) if a != b]
    if differ:
        log(f"feature counts differ in {len(differ)} of {len(tiles)} tiles")
    rows = {
        label: {kind: summary(tiles, runs[db], kind) for kind in ("grids", "buildings")}
        | {"all": summary(tiles, runs[db])}
        for label, db in (("PostGIS", "postgis"), ("SpatiaLite", "spatialite"))
    }
    ratio = rows["SpatiaLite"]["all"]["total_s"] / rows["PostGIS"]["all"]["total_s"]
    build = None
    if args.cached:
        build = cache_build(urls["spatialite"], tiles)
        runs["spatialite-cached"] = measure(urls["spatialite"], tiles, cached=True)
        rows["SpatiaLite, tile cache"] = {
            k: summary(tiles, runs["spatialite-cached"], k) for k in ("grids", "buildings")
        }
        rows["SpatiaLite, tile cache"]["all"] = summary(tiles, runs["spatialite-cached"])
    result = {
        "params": {"grids": args.grids, "buildings": len(lon), "tiles": len(tiles)},
        "grid_tiles": sum(1 for name, _ in tiles if name == "grids"),
        "when": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores",
        "loadavg": f"{load_at_start[0]:.1f}",
        "command": "python -m bench.tiles" + (" --cached" if args.cached else "") + " --write-md",
        "rows": rows,
        "ratio": ratio,
        "cache_build_s": build,
        "runs": runs,
        "tiles": tiles,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{started.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(result, indent=1))
    section = markdown(result)
    print(section)
    if args.write_md:
        write_md(section)
    return 0


def cache_build(url: str, tiles) -> float:
    """Fill the tile cache with ``tiles``, as ``wangge tiles build`` does; seconds taken."""
    from geo.db.engine import make_engine
    from geo.tiles.cache import build_tiles
    from geo.tiles.layers import tile_layers
    from geo.tiles.matrix import tile

    shutil.rmtree(TILE_CACHE, ignore_errors=True)  # built anew: the timing counts every tile
    engine = make_engine(url)
    now = datetime.now(UTC)
    t = time.perf_counter()
    for name in ("grids", "buildings"):
        build_tiles(engine, tile_layers(name), [tile(*zxy) for n, zxy in tiles if n == name], now, root=TILE_CACHE)
    engine.dispose()
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
