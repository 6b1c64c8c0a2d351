"""Vector tiles on SpatiaLite and PostGIS: the same 200 tiles of a city of 100,000 grids and
1,000,000 buildings.

    python -m bench.tiles                       both databases, full size
    python -m bench.tiles --grids 10000 --buildings 100000 --tiles 50   a quick look
    python -m bench.tiles --write-md            also write this benchmark's section of BENCHMARKS.md

The city is ``data.city.make_city``'s (Voronoi grids and buildings spread over the area, from a
fixed seed), made once and kept: bench/results/tiles/city-GRIDS-BUILDINGS-SEED.db, and the PostGIS
database ``--database`` (wangge_bench_tiles) at WANGGE_BENCH_POSTGRES_URL's server, found again by
its comment as bench/ogc_servers.py finds its city.

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

from bench.report import write_section
from data.city import SEED

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "tiles"
SECTION_START = "<!-- bench:tiles start (written by python -m bench.tiles --write-md) -->"
SECTION_END = "<!-- bench:tiles end -->"
POSTGRES_URL = os.environ.get("WANGGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/wangge_bench")
PG_DATABASE = "wangge_bench_tiles"
TARGET_RATIO = 3.0
TILE_CACHE = RESULTS / "tile-cache"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] tiles: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the city


def ensure_databases(grids: int, buildings: int, database: str) -> tuple[dict[str, str], tuple]:
    """The city (``data.city.make_city``) in both databases, made once and kept: the SpatiaLite file
    by its sizes and seed, the PostGIS database by its comment (``bench.ogc_servers.ensure_city``).
    The databases' URLs and the city's box."""
    from sqlalchemy.engine import make_url

    from bench.ogc_servers import ensure_city
    from geo.db.engine import normalise_url

    pg_url = make_url(normalise_url(POSTGRES_URL)).set(database=database).render_as_string(hide_password=False)
    box = tuple(ensure_city(pg_url, grids, buildings, SEED)["box"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"city-{grids}-{buildings}-{SEED}.db"
    url = f"sqlite:///{path}"
    if not path.exists() or _buildings(url) != buildings:  # never made, or cut short
        from data.city import make_city
        from geo.db import schema
        from geo.db.engine import make_engine

        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = make_engine(url)
        schema.upgrade(engine)
        engine.dispose()
        make_city(url, grids=grids, buildings=buildings, seed=SEED, log=log)
    return {"spatialite": url, "postgis": pg_url}, box


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
    ap.add_argument("--database", default=PG_DATABASE, help="the PostGIS database the city is kept in")
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
    urls, box = ensure_databases(args.grids, args.buildings, args.database)
    tiles = pick_tiles(box, args.tiles, SEED)
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
        "params": {"grids": args.grids, "buildings": args.buildings, "tiles": len(tiles)},
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
