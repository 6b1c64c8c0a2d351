"""Benchmark: many writers at once (issue 9, "Speed and load") on SpatiaLite and PostGIS.

    python -m bench.bench_load                       # both databases, 60 s per level
    python -m bench.bench_load --quick               # 10 s per level: a smoke test
    python -m bench.bench_load --databases postgis --levels 64 --write-md

For each database, in one run:

1. A fresh database with the demo community (``wangge init`` and ``wangge demo``), served by a
   real ``wangge serve`` (``--workers``, default 1).
2. The mixed load with wrk (``bench/load_wrk.lua``): ``GET /grids/locate``, ``GET /incidents``
   and a public hazard report ``POST /incidents``, one third each, at 4, 16, 64 and 256
   connections for ``--duration`` seconds each, each level on a fresh copy of the same database
   and a freshly started server. Reports stop 30 % before the end (health checks
   take their place), so that when wrk stops no report is in flight: then every stored report
   must have been answered 201 and every 201 must be stored. The rate is counted over the
   writing window only.
3. Public reports alone at 64 connections (PostGIS), against the floor: the same rows inserted
   straight into the same database by 64 threads with psycopg, one transaction per row, for the
   same time.

Targets: zero 5xx, zero socket errors, zero lost and zero phantom reports at every level; the
rate at 64 and at 256 connections at least the rate at 4; reports at least 1/4 of the floor.
Load goes only to 127.0.0.1; every loop is bounded; servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import shapely
from shapely.geometry import shape

from api.served import ServerError, WanggeServer
from bench.report import write_section

ROOT = Path(__file__).absolute().parent.parent
WRK_SCRIPT = ROOT / "bench" / "load_wrk.lua"
SECTION_START = "<!-- bench:load start (written by python -m bench.bench_load --write-md) -->"
SECTION_END = "<!-- bench:load end -->"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/wangge_bench_load"
WRITE_SHARE = 0.7  # of each run's duration during which reports are sent (at most duration - 5 s)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def prepare(url: str) -> None:
    """A fresh database with the demo community."""
    if url.startswith("postgresql"):
        from bench.api_load import fresh_postgres

        fresh_postgres(url, log=log)
    env = {**os.environ, "WANGGE_DATABASE_URL": url}
    for command in (["init"], ["demo", "--quiet"]):
        subprocess.run(
            [sys.executable, "-m", "api.cli", *command], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL
        )


class Server(WanggeServer):
    def __init__(self, url: str, workers: int):
        super().__init__(
            url,
            env={"WANGGE_ESCALATION_INTERVAL_S": "0"},
            command=[sys.executable, "-m", "api.cli"],
            args=["--workers", str(workers)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self.wait_ready("/api/v1/health/ready", timeout_s=120, interval_s=0.2, request_timeout_s=2)
        except ServerError:
            if self.proc.poll() is not None:
                raise RuntimeError("the server stopped: " + self.output()) from None
            self.stop()
            raise RuntimeError("the server did not become ready within 120 s") from None

    def stop(self) -> None:
        super().stop(timeout_s=20)


def sample_points(base: str, count: int, path: Path) -> None:
    grids = httpx.get(f"{base}/api/v1/grids", params={"limit": 10000}, timeout=60).json()["features"]
    if not grids:
        raise RuntimeError("the served database has no grids")
    union = shapely.union_all([shape(g["geometry"]) for g in grids])
    x0, y0, x1, y1 = union.bounds
    rng = random.Random(42)
    lines = []
    while len(lines) < count:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if union.contains(shapely.Point(x, y)):
            lines.append(f"{x:.6f},{y:.6f}")
    path.write_text("\n".join(lines) + "\n")


def run_wrk(base: str, connections: int, duration: int, prefix: str, mode: str, points: Path) -> dict:
    write_until = int(time.time() + min(duration * WRITE_SHARE, duration - 5))
    threads = min(2, connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_SCRIPT),
        base,
        "--",
        prefix,
        str(write_until),
        mode,
        str(points),
    ]
    started = time.time()
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    write_until_s = write_until - started
    match = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    result = json.loads(match.group(1))
    result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
    result["write_window_s"] = write_until_s
    return result


def count_reports(url: str, prefix: str) -> int:
    from sqlalchemy import func, select

    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.models import Incident

    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return s.scalar(select(func.count()).select_from(Incident).where(Incident.title.like(f"{prefix}-%")))
    finally:
        engine.dispose()


def measure_level(url: str, base: str, connections: int, duration: int, mode: str, points: Path) -> dict:
    prefix = f"wrk{mode[0]}{connections}x{int(time.time())}"
    result = run_wrk(base, connections, duration, prefix, mode, points)
    time.sleep(1)  # nothing is in flight (reports stopped early), but let the last commits land
    stored = count_reports(url, prefix)
    statuses = result["statuses"]
    created = statuses.get(201, 0)
    errors = sum(result["errors"].values()) - result["errors"]["status"]
    # Requests answered before reports stopped, over that window: the rate under the full mix.
    in_window = result["in_window"]
    return {
        "connections": connections,
        "mode": mode,
        "requests": result["requests"],
        "rate": in_window / result["write_window_s"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "statuses": statuses,
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "socket_errors": errors,
        "created": created,
        "stored": stored,
        "lost": max(0, created - stored),
        "phantom": max(0, stored - created),
    }


def floor_inserts(url: str, threads: int, duration: float, points: Path) -> dict:
    """The same rows a public report stores, inserted by ``threads`` psycopg connections."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    coords = [tuple(map(float, line.split(","))) for line in points.read_text().split()]
    counts = [0] * threads
    stop = time.monotonic() + duration
    sql = (
        "INSERT INTO incidents (kind, category, status, title, properties, version, created_at, updated_at, "
        "status_since, escalation, possible_duplicates, geom) VALUES ('hazard', 'fire_safety', 'reported', %s, '{}', 1, "
        "now(), now(), now(), 0, '[]', ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
    )

    def work(i: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            n = 0
            while time.monotonic() < stop:
                lon, lat = coords[(i * 131 + n * 7) % len(coords)]
                conn.execute(sql, (f"floor-{i}-{n}", lon, lat))
                n += 1
            counts[i] = n

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    return {"threads": threads, "rows": sum(counts), "rate": sum(counts) / elapsed}


def fresh_copy(base_url: str, run: str) -> str:
    """A copy of the prepared database for one run, so that every level starts from the same
    data (the reports of earlier levels would make later lists slower)."""
    from sqlalchemy.engine import make_url

    if base_url.startswith("sqlite"):
        import shutil
        import sqlite3

        source = Path(make_url(base_url).database)
        with sqlite3.connect(source) as conn:  # everything into the main file before copying it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        target = source.with_name(f"{run}.db")
        shutil.copy(source, target)
        return f"sqlite:///{target}"
    import psycopg

    u = make_url(base_url)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = f"{u.database}_{run}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # FILE_COPY and a checkpoint now: otherwise the copy's writes are flushed to disk while
        # the next level runs, and later levels would be measured on a busier machine.
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{u.database}" STRATEGY = FILE_COPY')
        conn.execute("CHECKPOINT")
    return u.set(database=name).render_as_string(hide_password=False)


def measured_run(
    name: str, base_url: str, connections: int, mode: str, args, points: Path | None
) -> tuple[dict, str, Path]:
    url = fresh_copy(base_url, f"{mode}{connections}")
    server = Server(url, args.workers)
    try:
        if points is None:
            points = Path(tempfile.mkdtemp()) / "points.csv"
            sample_points(server.base, 5000, points)
        level = measure_level(url, server.base, connections, args.duration, mode, points)
    finally:
        server.stop()
    log(
        f"{name}: {mode} c={connections}: {level['rate']:.1f} req/s p50 {level['p50_ms']:.1f} ms p99 {level['p99_ms']:.1f} ms "
        f"5xx {level['server_errors']} socket {level['socket_errors']} lost {level['lost']} phantom {level['phantom']} statuses {level['statuses']}"
    )
    return level, url, points


def bench_database(name: str, url: str, args) -> dict:
    log(f"{name}: preparing {url}")
    prepare(url)
    points = None
    levels = []
    for connections in args.levels:
        level, _, points = measured_run(name, url, connections, "mixed", args, points)
        levels.append(level)
    out = {"database": name, "levels": levels}
    if name == "postgis" and 64 in args.levels:
        out["reports"], copy, _ = measured_run(name, url, 64, "reports", args, points)
        out["floor"] = floor_inserts(fresh_copy(url, "floor"), 64, args.duration * WRITE_SHARE, points)
        log(f"{name}: floor (64 psycopg threads): {out['floor']['rate']:.1f} rows/s")
    return out


def verdicts(result: dict) -> list[tuple[str, bool]]:
    checks = []
    levels = {lv["connections"]: lv for lv in result["levels"]}
    for lv in result["levels"]:
        clean = lv["server_errors"] == 0 and lv["socket_errors"] == 0 and lv["lost"] == 0 and lv["phantom"] == 0
        checks.append((f"c={lv['connections']}: no 5xx, socket error, lost or phantom report", clean))
    if 4 in levels:
        for c in (64, 256):
            if c in levels:
                checks.append((f"rate at c={c} >= rate at c=4", levels[c]["rate"] >= levels[4]["rate"]))
    if "floor" in result:
        checks.append(("reports >= 1/4 of the psycopg floor", result["reports"]["rate"] >= result["floor"]["rate"] / 4))
    return checks


def markdown(results: list[dict]) -> str:
    lines = [
        SECTION_START,
        "## Many writers at once (issue 9)",
        "",
        *(
            f"{r['database']}: `{r['command']}` ({r['when']}, {os.cpu_count()} cores; server, wrk and the database on the same machine)."
            for r in results
        ),
        "",
        "Mixed load: locate, list and public hazard report, one third each, against one `wangge serve`",
        "with the demo community, each level on a fresh copy of the database. Reports stop 30 % before the",
        "end of each run so that none is in flight",
        "when wrk stops; the rate is counted over the writing window. Lost: answered 201 but not stored;",
        "phantom: stored but not answered 201.",
        "",
        "| database | connections | req/s | p50 ms | p99 ms | 5xx | socket errors | 201 | stored | lost | phantom |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for lv in r["levels"] + ([r["reports"]] if "reports" in r else []):
            label = lv["connections"] if lv["mode"] == "mixed" else f"{lv['connections']} (reports only)"
            lines.append(
                f"| {r['database']} | {label} | {lv['rate']:.1f} | {lv['p50_ms']:.1f} | {lv['p99_ms']:.1f} | {lv['server_errors']} | "
                f"{lv['socket_errors']} | {lv['created']} | {lv['stored']} | {lv['lost']} | {lv['phantom']} |"
            )
    lines.append("")
    for r in results:
        if "floor" in r:
            ratio = r["reports"]["rate"] / r["floor"]["rate"] if r["floor"]["rate"] else 0
            lines.append(
                f"Public reports alone on {r['database']} at 64 connections: {r['reports']['rate']:.1f}/s; the floor, the same rows "
                f"inserted by 64 psycopg threads (one transaction each): {r['floor']['rate']:.1f}/s; ratio {ratio:.2f} (target >= 0.25)."
            )
            lines.append("")
    lines.append("| target | met |")
    lines.append("|---|---|")
    for r in results:
        for name, ok in verdicts(r):
            lines.append(f"| {r['database']}: {name} | {'yes' if ok else '**no**'} |")
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


RESULTS = ROOT / "bench" / "results" / "load"


def remember(result: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (RESULTS / f"{result['database']}.json").write_text(json.dumps({**result, "command": command, "when": stamp}))


def remembered(databases: list[str]) -> list[dict]:
    """This run's results, and for the other databases the last stored ones."""
    out = []
    for name in ("spatialite", "postgis"):
        path = RESULTS / f"{name}.json"
        if path.exists():
            out.append(json.loads(path.read_text()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="spatialite,postgis")
    parser.add_argument("--levels", default="4,16,64,256")
    parser.add_argument("--duration", type=int, default=60, help="seconds per level")
    parser.add_argument("--workers", type=int, default=1, help="wangge serve --workers")
    parser.add_argument("--quick", action="store_true", help="10 s per level")
    parser.add_argument("--postgres-url", default=os.environ.get("WANGGE_BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--write-md", action="store_true", help="write this benchmark's section of BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",")]
    if args.quick:
        args.duration = 10
    command = "python -m bench.bench_load " + " ".join(argv if argv is not None else sys.argv[1:])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.databases.split(","):
            url = f"sqlite:///{tmp}/load.db" if name == "spatialite" else args.postgres_url
            results.append(bench_database(name, url, args))
    for r in results:
        remember(r, command.strip())
    text = markdown(remembered([r["database"] for r in results]))
    print(text)
    if args.write_md:
        write_section(SECTION_START, SECTION_END, text, log, "load")
    return 0 if all(ok for r in results for _, ok in verdicts(r)) else 1


if __name__ == "__main__":
    sys.exit(main())
