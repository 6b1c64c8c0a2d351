"""Import benchmark: ``wangge import buildings`` against GDAL writing the same file.

Generates once a GeoPackage of building points (default 1,000,000) and one of footprint
polygons (default 100,000) inside a block of generated grids, then measures, on each database:

- wangge: the real importer (``geo.io.importers.import_layer`` and the commit, as ``wangge import`` runs
  them) into a freshly migrated database holding the grids, geotagging every row;
- GDAL: ``ogr2ogr`` writing the same file to a new table of the same server (PostGIS) or of the
  same kind of SpatiaLite file, with its defaults (COPY on PostgreSQL, a spatial index).

Each measurement runs in its own process; peak memory is that process's maximum RSS. The
machines are shared: compare the ratios, taken in the same run, not the seconds.

    python -m bench.bench_import [--rows N] [--footprints M] [--databases spatialite,postgis] [--write-md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "import"
POSTGRES_URL = os.environ.get(
    "WANGGE_BENCH_IMPORT_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/wangge_bench_import"
)
TARGET_RATIO = 2.0
SEED = 20261126
# The grids: GRID_COLS x GRID_ROWS rectangles over this box (lon0, lat0, lon1, lat1).
AREA = (113.0, 23.55, 113.3, 23.85)
GRID_COLS, GRID_ROWS = 40, 25


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def make_files(rows: int, footprints: int, directory: Path) -> dict[str, Path]:
    """The grids, points and footprints files (made once per size, then reused)."""
    import geopandas as gpd
    import numpy as np
    import shapely

    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "grids": directory / f"grids_{GRID_COLS}x{GRID_ROWS}.gpkg",
        "points": directory / f"buildings_{rows}.gpkg",
        "footprints": directory / f"footprints_{footprints}.gpkg",
    }
    x0, y0, x1, y1 = AREA
    if not paths["grids"].exists():
        xs = np.linspace(x0, x1, GRID_COLS + 1)
        ys = np.linspace(y1, y0, GRID_ROWS + 1)  # north to south
        cells = [shapely.box(xs[c], ys[r + 1], xs[c + 1], ys[r]) for r in range(GRID_ROWS) for c in range(GRID_COLS)]
        codes = [f"441802901{i + 1:06d}" for i in range(len(cells))]
        gpd.GeoDataFrame(
            {"code": codes, "name": [f"第{i + 1}网格" for i in range(len(cells))]}, geometry=cells, crs="EPSG:4326"
        ).to_file(paths["grids"], engine="pyogrio")
    rng = np.random.default_rng(SEED)
    if not paths["points"].exists():
        t = time.perf_counter()
        lon = rng.uniform(x0, x1, rows)
        lat = rng.uniform(y0, y1, rows)
        frame = {
            "code": [f"B{i:07d}" for i in range(rows)],
            "name": [f"{i % 97 + 1}号楼" for i in range(rows)],
            "kind": np.where(rng.random(rows) < 0.7, "estate_building", "old_building"),
            "address": [f"凤城街道{i % 500 + 1}号" for i in range(rows)],
            "households": rng.integers(4, 120, rows),
            "residents": rng.integers(10, 400, rows),
        }
        gpd.GeoDataFrame(frame, geometry=shapely.points(lon, lat), crs="EPSG:4326").to_file(
            paths["points"], engine="pyogrio"
        )
        log(f"made {paths['points'].name} ({rows:,} points) in {time.perf_counter() - t:.1f} s")
    if not paths["footprints"].exists():
        t = time.perf_counter()
        lon = rng.uniform(x0 + 0.001, x1 - 0.001, footprints)
        lat = rng.uniform(y0 + 0.001, y1 - 0.001, footprints)
        w = rng.uniform(0.0001, 0.0003, footprints)  # about 10 to 30 m
        frame = {
            "code": [f"F{i:07d}" for i in range(footprints)],
            "name": [f"{i % 97 + 1}号楼" for i in range(footprints)],
            "households": rng.integers(4, 120, footprints),
            "residents": rng.integers(10, 400, footprints),
        }
        polys = shapely.box(lon - w, lat - w * 0.6, lon + w, lat + w * 0.6)
        gpd.GeoDataFrame(frame, geometry=polys, crs="EPSG:4326").to_file(paths["footprints"], engine="pyogrio")
        log(f"made {paths['footprints'].name} ({footprints:,} footprints) in {time.perf_counter() - t:.1f} s")
    return paths


# --------------------------------------------------------------------------- databases


def prepare(database: str, grids: Path, work: Path) -> str:
    """A freshly migrated database holding the grids; returns its URL."""
    from bench.api_load import fresh_postgres
    from geo.db import schema
    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.io.importers import import_layer
    from geo.io.read import ImportOptions

    if database == "postgis":
        fresh_postgres(POSTGRES_URL, log=lambda *_: None)
        url = POSTGRES_URL
    else:
        path = work / "wangge.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        import_layer(session, "grids", grids, ImportOptions())
    engine.dispose()
    return url


def ogr_target(database: str, url: str) -> list[str]:
    if database == "postgis":
        from sqlalchemy.engine import make_url

        u = make_url(url)
        return ["-f", "PostgreSQL", f"PG:host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"]
    return ["-update", "-f", "SQLite", url.removeprefix("sqlite:///")]


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of one command, started by a small launcher:
    a process forked from this big one would count this one's memory as its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_import", "--measure", *cmd], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["seconds"], result["rss"], result["stdout"]


def launch(cmd: list[str]) -> None:
    """The launcher: run ``cmd``, then print its wall time, peak RSS and output as JSON."""
    import resource

    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        sys.exit(proc.returncode)
    # The launcher's only child: the largest RSS among its children is the command's own.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "rss": rss, "stdout": proc.stdout.decode()}))


def measure_wangge(database: str, path: Path, grids: Path, work: Path) -> dict:
    url = prepare(database, grids, work)
    seconds, rss, out = run_measured([sys.executable, "-m", "bench.bench_import", "--child", url, str(path)])
    child = json.loads(out.strip().splitlines()[-1])
    return {"seconds": child["seconds"], "process_s": seconds, "rss": rss, **child}


def measure_gdal(database: str, path: Path, grids: Path, work: Path) -> dict:
    url = prepare(database, grids, work)
    cmd = ["ogr2ogr", *ogr_target(database, url), str(path), "-nln", "gdal_buildings", "-lco", "GEOMETRY_NAME=geom"]
    seconds, rss, _ = run_measured(cmd)
    return {"seconds": seconds, "rss": rss}


def child(url: str, path: str) -> None:
    """One wangge import, timed from the first read to the commit (interpreter start excluded)."""
    from sqlalchemy import func, select

    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.io.importers import import_layer
    from geo.io.read import ImportOptions
    from geo.models import Building

    engine = make_engine(url)
    t = time.perf_counter()
    with session_scope(engine) as session:
        report = import_layer(session, "buildings", path, ImportOptions())
    seconds = time.perf_counter() - t
    with session_scope(engine) as session:
        stored = session.scalar(select(func.count(Building.id)))
        tagged = session.scalar(select(func.count(Building.id)).where(Building.grid_id.is_not(None)))
    print(json.dumps({"seconds": seconds, "rows": report.rows, "stored": stored, "tagged": tagged}))


# --------------------------------------------------------------------------- report


def table(results: list[dict]) -> str:
    head = "| database | file | rows | wangge | GDAL (ogr2ogr) | ratio | wangge rows/s | GDAL rows/s | peak RSS wangge | peak RSS GDAL | target |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    lines = []
    for r in results:
        ratio = r["wangge"]["seconds"] / r["gdal"]["seconds"]
        lines.append(
            f"| {r['database']} | {r['file']} | {r['rows']:,} | {r['wangge']['seconds']:.1f} s | {r['gdal']['seconds']:.1f} s | "
            f"{ratio:.2f} | {r['rows'] / r['wangge']['seconds']:,.0f} | {r['rows'] / r['gdal']['seconds']:,.0f} | "
            f"{r['wangge']['rss'] / 2**20:,.0f} MiB | {r['gdal']['rss'] / 2**20:,.0f} MiB | "
            f"{'met' if ratio <= TARGET_RATIO else 'missed'} (≤ {TARGET_RATIO:g}×) |"
        )
    return head + "\n".join(lines) + "\n"


def markdown(args, results: list[dict], started: str, load: tuple) -> str:
    cmd = (
        "python -m bench.bench_import --write-md"
        + (f" --rows {args.rows}" if args.rows != 1_000_000 else "")
        + (f" --footprints {args.footprints}" if args.footprints != 100_000 else "")
    )
    if args.databases != "spatialite,postgis":
        cmd += f" --databases {args.databases}"
    if args.rounds != 3:
        cmd += f" --rounds {args.rounds}"
    gdal = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        "## Import\n\n"
        f"Command: `{cmd}`\n\n"
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {gdal}; run {started}, load average at start {load[0]:.2f}.\n\n"
        f"Data (seed {SEED}): {GRID_COLS * GRID_ROWS:,} rectangular grids over {AREA[2] - AREA[0]:.1f}° × {AREA[3] - AREA[1]:.1f}° around 113.15 E, 23.70 N; "
        "a GeoPackage of building points (code, name, kind, address, households, residents) and one of footprint polygons, all inside the grids.\n\n"
        "wangge is the real import (`geo.io.importers.import_layer` and the commit, as `wangge import buildings FILE` runs them) into a freshly migrated "
        "database holding the grids: every row checked, geotagged with its grid, and written with the table's indexes and foreign keys "
        "(buildings has two spatial indexes, four b-tree ones and two foreign keys; on PostGIS a load this large rebuilds the indexes and "
        "checks the keys once at the end, on SpatiaLite it fills the R*Tree in one statement). GDAL is `ogr2ogr FILE` into a new table of "
        "the same server or the same kind of SpatiaLite file, with its defaults (COPY, one spatial index). Each measurement is its own "
        "process; the time of wangge excludes the start of the Python interpreter, GDAL's includes its process. Peak RSS is the process's "
        "maximum resident memory.\n\n"
        + f"Times are the median of {args.rounds} rounds, GDAL and wangge alternating; peak RSS is the largest of the rounds.\n\n"
        + table(results)
        + "\nEach round, wangge / GDAL seconds: "
        + "; ".join(
            f"{r['database']} {r['file'].split()[0]} "
            + ", ".join(f"{o:.1f}/{g:.1f}" for o, g in zip(r["wangge"]["each"], r["gdal"]["each"]))
            for r in results
        )
        + ".\n\nThe machine is shared and noisy (2 cores): compare the ratios, not the seconds.\n"
    )


def write_md(section: str) -> None:
    """Replace the "## Import" section of BENCHMARKS.md (or append it); other sections stay."""
    start_mark, end_mark = (
        "<!-- bench_import: start (written by python -m bench.bench_import --write-md) -->",
        "<!-- bench_import: end -->",
    )
    write_section(start_mark, end_mark, f"{start_mark}\n{section.rstrip()}\n{end_mark}", log, "Import")


def _median(runs) -> dict:
    """Median seconds and the largest peak RSS over the rounds."""
    runs = list(runs)
    seconds = sorted(r["seconds"] for r in runs)
    return {
        "seconds": seconds[len(seconds) // 2],
        "rss": max(r["rss"] for r in runs),
        "each": [r["seconds"] for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_import", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="building points in the file")
    p.add_argument("--footprints", type=int, default=100_000, help="footprint polygons in the second file (0: none)")
    p.add_argument("--databases", default="spatialite,postgis")
    p.add_argument("--rounds", type=int, default=3, help="measurements of each (the median is reported)")
    p.add_argument("--write-md", action="store_true", help='write the "## Import" section of BENCHMARKS.md')
    p.add_argument("--child", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:
        launch(argv[1:])
        return 0
    args = p.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if shutil.which("ogr2ogr") is None:
        log("ogr2ogr is missing: install gdal-bin (Debian/Ubuntu) or gdal (Fedora, Homebrew)")
        return 3
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load = os.getloadavg()
    files = make_files(args.rows, args.footprints, RESULTS / "data")
    work = RESULTS / "work"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    runs = [("points", files["points"], args.rows)] + (
        [("footprints", files["footprints"], args.footprints)] if args.footprints else []
    )
    for database in args.databases.split(","):
        for name, path, rows in runs:
            pairs = []
            for round_ in range(args.rounds):  # GDAL and wangge alternate, so both meet the same load
                gdal = measure_gdal(database, path, files["grids"], work)
                ours = measure_wangge(database, path, files["grids"], work)
                log(
                    f"{database} {name} round {round_ + 1}: GDAL {gdal['seconds']:.1f} s, {gdal['rss'] / 2**20:.0f} MiB; "
                    f"wangge {ours['seconds']:.1f} s, {ours['rss'] / 2**20:.0f} MiB, {ours['tagged']:,}/{ours['stored']:,} rows tagged"
                )
                if ours["stored"] != rows or ours["tagged"] != rows:
                    raise SystemExit(
                        f"{database} {name}: {ours['stored']} rows stored, {ours['tagged']} tagged, expected {rows}"
                    )
                pairs.append((gdal, ours))
            results.append(
                {
                    "database": database,
                    "file": f"{name} ({path.suffix[1:]})",
                    "rows": rows,
                    "gdal": _median(p[0] for p in pairs),
                    "wangge": _median(p[1] for p in pairs),
                    "rounds": pairs,
                }
            )
    (RESULTS / "last.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    section = markdown(args, results, started, load)
    print(section)
    if args.write_md:
        write_md(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
