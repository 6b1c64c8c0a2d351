"""Benchmark: patrols (issue 12, "Speed") on PostGIS: a district's day of coverage, and fix ingestion.

    python -m bench.patrol_coverage                  # everything (about 15 minutes)
    python -m bench.patrol_coverage --quick          # 10,000 buildings, 100 patrols, short runs (a smoke test)
    WANGGE_BENCH_ONLY=patrols bench/run.sh           # the same from the benchmarks' one command
    python -m bench.patrol_coverage --write-md       # and write this benchmark's section of BENCHMARKS.md

In one run, on one PostGIS database (``WANGGE_BENCH_POSTGRES_URL``, dropped and made anew, and
dropped again at the end unless ``--keep-db``):

1. The data (``bench/patrol_data.py``, one seed): a district of about 10 km x 10 km near
   113.05 E, 23.70 N with 1,000 grids, 100,000 buildings (30 % with a footprint) and a day of
   1,000 patrols of 8 hours at one fix every 5 s (5.76 million fixes), walks along a street
   lattice with GPS noise. Loaded into wangge's own schema (its migrations) by wangge's bulk
   writer, the fixes by binary COPY; each patrol stored as wangge stores an ended one, with the
   track cleaned and simplified by ``geo.patrols.tracks`` (``bench/patrol_load.py``).
2. Coverage of that day, each side in a fresh process, alternating, ``--repeats`` times, each
   process asking ``--calls`` times:
   - wangge: the day's tracks read from the database and
     ``geo.patrols.coverage.visited_buildings(session, tracks, 30.0)``;
   - PostGIS: one SQL statement, buildings ``ST_DWithin(coalesce(footprint, geom)::geography,
     track::geography, 30)`` of the day's tracks, with GiST indexes on both geography expressions.
   The answers are compared pair by pair; time is the best call; memory is each process's
   resident high-water mark during a call (VmHWM; see ``run_side`` for why not ``ru_maxrss``)
   and the private memory (RssAnon) of its database backend and any parallel workers, sampled
   every 20 ms.
3. Fix ingestion over HTTP: ``wangge serve`` (one worker process) on that database, a running
   patrol for every worker, and wrk (``bench/patrol_wrk.lua``) posting batches of 500 fixes to
   ``POST /api/v1/patrols/{id}/fixes`` from ``--lanes`` connections at once (each a thread with
   one connection, so a patrol's batches arrive in order, each with its own Idempotency-Key),
   interleaved with ``GET /api/v1/health`` measured the same way. Afterwards the database must
   hold every fix answered 200.

Targets (issue 12): wangge's coverage at least as fast as PostGIS's; at least 50,000 fixes/s.
Load goes only to 127.0.0.1; every loop is bounded; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.report import write_section

ROOT = Path(__file__).absolute().parent.parent
RESULTS = ROOT / "bench" / "results" / "patrols"
WRK_SCRIPT = ROOT / "bench" / "patrol_wrk.lua"
SECTION_START = "<!-- bench:patrols start (written by python -m bench.patrol_coverage --write-md) -->"
SECTION_END = "<!-- bench:patrols end -->"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/wangge_bench"
VISIT_M = 30.0
BATCH = 500
TARGET_FIXES_PER_S = 50_000

# The baseline: one statement, the index on each geography expression (the planner picks).
# The baseline: one statement, GiST indexes on both geography expressions (the planner picks).
# Each track is made a geography once (the MATERIALIZED CTE): written as a plain join, PostgreSQL
# casts the track anew for every candidate building, and the same query took 24 minutes.
BASELINE_INDEXES = (
    "CREATE INDEX bench_buildings_shape_geog ON buildings USING gist ((coalesce(footprint, geom)::geography))",
    "CREATE INDEX bench_patrols_track_geog ON patrols USING gist ((geom::geography))",
)
BASELINE_SQL = (
    "WITH t AS MATERIALIZED (SELECT id, geom::geography AS track FROM patrols "
    "WHERE started_at >= %(start)s AND started_at < %(end)s AND geom IS NOT NULL) "
    "SELECT t.id, b.id FROM t JOIN buildings AS b "
    "ON ST_DWithin(coalesce(b.footprint, b.geom)::geography, t.track, %(d)s)"
)
# The same question as a plain join (informative, --plain-join).
PLAIN_JOIN_SQL = (
    "SELECT p.id, b.id FROM patrols AS p JOIN buildings AS b "
    "ON ST_DWithin(coalesce(b.footprint, b.geom)::geography, p.geom::geography, %(d)s) "
    "WHERE p.started_at >= %(start)s AND p.started_at < %(end)s AND p.geom IS NOT NULL"
)


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def psycopg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ----------------------------------------------------------------------------- one side, in its own process


def _status_kb(pid: int | str, fields: tuple[str, ...]) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in fields:
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


class BackendSampler:
    """The private memory (RssAnon) of a PostgreSQL backend and its parallel workers, sampled
    every 20 ms while a call runs; the database runs on this machine."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kb = 0
        self.workers_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _workers(self) -> list[int]:
        mark = f"parallel worker for PID {self.pid}".encode()
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                        if mark in f.read():
                            found.append(int(entry.name))
                except OSError:
                    pass
        return found

    def _run(self) -> None:
        workers: list[int] = []
        k = 0
        while not self._stop.is_set():
            if k % 5 == 0:  # look for parallel workers every 100 ms
                workers = self._workers()
                self.workers_seen = max(self.workers_seen, len(workers))
            total = sum(_status_kb(p, ("RssAnon",)).get("RssAnon", 0) for p in [self.pid, *workers])
            self.peak_kb = max(self.peak_kb, total)
            k += 1
            self._stop.wait(0.02)

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    from bench.patrol_load import day_start

    start = day_start(day)
    return start, start + timedelta(days=1)


def _wangge_call(engine, day: date):
    """The day's tracks from the database, then the buildings each passed (what is timed)."""
    from sqlalchemy import func, select

    from geo.db.session import session_scope
    from geo.models import Patrol
    from geo.patrols.coverage import visited_buildings
    from geo.spatial.geometry import from_db

    start, end = day_bounds(day)
    with session_scope(engine) as session:
        backend = session.execute(select(func.pg_backend_pid())).scalar_one()
        with BackendSampler(backend) as sampler:
            t = time.perf_counter()
            rows = session.execute(
                select(Patrol.id, Patrol.geom).where(
                    Patrol.started_at >= start, Patrol.started_at < end, Patrol.geom.is_not(None)
                )
            ).all()
            tracks = [(pid, from_db(track)) for pid, track in rows]
            loaded = time.perf_counter() - t
            pairs = visited_buildings(session, tracks, VISIT_M)
            seconds = time.perf_counter() - t
    return pairs, {"seconds": seconds, "load_tracks_s": loaded, "tracks": len(tracks)}, sampler


def _postgis_call(conn, day: date, sql: str):
    start, end = day_bounds(day)
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with BackendSampler(backend) as sampler:
        t = time.perf_counter()
        pairs = conn.execute(sql, {"d": VISIT_M, "start": start, "end": end}).fetchall()
        seconds = time.perf_counter() - t
    return pairs, {"seconds": seconds}, sampler


def run_side(side: str, url: str, day: date, calls: int, out: str | None) -> dict:
    """Ask the question ``calls`` times in this process; the pairs of the first call to ``out``.

    Memory is the kernel's resident high-water mark of this process (VmHWM), not
    ``ru_maxrss``: a child inherits its parent's mark at exec in ``ru_maxrss``, and the parent
    holds the whole day's fixes. The mark is reset before each call, so each call's own peak is
    known, and read again at the end for the process's."""
    import gc

    from bench.api_inproc import _reset_hwm

    if side == "wangge":
        from geo.db.engine import make_engine

        engine = make_engine(url)

        def call():
            return _wangge_call(engine, day)

    else:
        import psycopg

        conn = psycopg.connect(psycopg_dsn(url), autocommit=True)
        sql = PLAIN_JOIN_SQL if side == "postgis-plain" else BASELINE_SQL

        def call():
            return _postgis_call(conn, day, sql)

    results = []
    process_peak = 0
    for k in range(calls):
        gc.collect()
        before = _status_kb("self", ("VmRSS",)).get("VmRSS", 0)
        process_peak = max(process_peak, _status_kb("self", ("VmHWM",)).get("VmHWM", 0))
        reset = _reset_hwm()
        pairs, figures, sampler = call()
        peak = _status_kb("self", ("VmHWM",)).get("VmHWM", 0)
        process_peak = max(process_peak, peak)
        figures |= {
            "rss_before_mb": before / 1024,
            "peak_rss_mb": peak / 1024,
            "peak_delta_mb": (peak - before) / 1024,
            "hwm_reset": reset,
            "backend_private_peak_mb": sampler.peak_kb / 1024,
            "parallel_workers": sampler.workers_seen,
            "pairs": len(pairs),
        }
        results.append(figures)
        if k == 0 and out:
            np.save(out, np.array(pairs, dtype=np.int64).reshape(-1, 2))
        del pairs
    return {
        "side": side,
        "calls": results,
        "best_s": min(r["seconds"] for r in results),
        "first_s": results[0]["seconds"],
        "process_peak_rss_mb": process_peak / 1024,
        "call_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "call_peak_delta_mb": max(r["peak_delta_mb"] for r in results),
        "rss_before_first_call_mb": results[0]["rss_before_mb"],
        "backend_private_peak_mb": max(r["backend_private_peak_mb"] for r in results),
        "parallel_workers": max(r["parallel_workers"] for r in results),
    }


def run_profile(url: str, day: date, out: str) -> dict:
    """One wangge call under cProfile (after a first call): the functions with the most time."""
    import cProfile
    import pstats

    from geo.db.engine import make_engine

    engine = make_engine(url)
    _wangge_call(engine, day)
    profiler = cProfile.Profile()
    profiler.enable()
    _, figures, _ = _wangge_call(engine, day)
    profiler.disable()
    profiler.dump_stats(out)
    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, fn), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{fn} ({_short(file)}:{line})", "calls": calls, "self_s": tottime, "cum_s": cumtime})
    return {
        "seconds_profiled": figures["seconds"],
        "by_self": sorted(rows, key=lambda r: -r["self_s"])[:20],
        "by_cumulative": sorted(rows, key=lambda r: -r["cum_s"])[:30],
    }


def _short(path: str) -> str:
    return path.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]


def spawn_side(python: str, side: str, url: str, day: date, calls: int, out: Path | None, timeout_s: float) -> dict:
    args = [python, "-m", "bench.patrol_coverage", "--side", side, url, day.isoformat(), str(calls), str(out or "")]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("SIDE ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"{side} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(line[len("SIDE ") :])


# ----------------------------------------------------------------------------- coverage


def compare_pairs(url: str, wangge: np.ndarray, postgis: np.ndarray, distances: bool = True) -> dict:
    """Pair-by-pair agreement; the geodesic distance (PostGIS, spheroid) of each pair only one found."""
    import psycopg

    def as_set(a: np.ndarray) -> set[tuple[int, int]]:
        return set(map(tuple, a.tolist()))

    w, p = as_set(wangge), as_set(postgis)
    only_w, only_p = sorted(w - p), sorted(p - w)
    out: dict = {
        "wangge_pairs": len(w),
        "postgis_pairs": len(p),
        "wangge_rows": int(len(wangge)),
        "postgis_rows": int(len(postgis)),
        "only_wangge": len(only_w),
        "only_postgis": len(only_p),
        "buildings_visited_wangge": len({b for _, b in w}),
        "buildings_visited_postgis": len({b for _, b in p}),
    }
    sql = (
        "SELECT d.pid, d.bid, ST_Distance(coalesce(b.footprint, b.geom)::geography, p.geom::geography), "
        "ST_Distance(coalesce(b.footprint, b.geom)::geography, p.geom::geography, false), b.footprint IS NOT NULL "
        "FROM unnest(%s::int[], %s::int[]) AS d(pid, bid) JOIN patrols p ON p.id = d.pid JOIN buildings b ON b.id = d.bid"
    )
    with psycopg.connect(psycopg_dsn(url)) as conn:
        for name, pairs in (("only_wangge", only_w), ("only_postgis", only_p)):
            if not pairs or not distances:
                continue
            rows = conn.execute(sql, ([a for a, _ in pairs], [b for _, b in pairs])).fetchall()
            spheroid = [r[2] for r in rows]
            out[name + "_distance_m"] = {
                "min": min(spheroid),
                "max": max(spheroid),
                "sphere_min": min(r[3] for r in rows),
                "sphere_max": max(r[3] for r in rows),
                "footprints": sum(1 for r in rows if r[4]),
                "examples": [list(r[:3]) for r in rows[:5]],
            }
    return out


def explain(url: str, day: date) -> str:
    import psycopg

    start, end = day_bounds(day)
    with psycopg.connect(psycopg_dsn(url)) as conn:
        rows = conn.execute("EXPLAIN " + BASELINE_SQL, {"d": VISIT_M, "start": start, "end": end}).fetchall()
    return "\n".join(r[0] for r in rows)


def pg_settings(url: str) -> dict:
    import psycopg

    names = ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit", "effective_cache_size")
    with psycopg.connect(psycopg_dsn(url)) as conn:
        out = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}
        out["version"] = conn.execute("SHOW server_version").fetchone()[0]
        out["postgis"] = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        out["geos"] = conn.execute("SELECT postgis_geos_version()").fetchone()[0]
    return out


def coverage(url: str, day: date, args, workdir: Path) -> dict:
    import psycopg

    out: dict = {}
    t = time.perf_counter()
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        for sql in BASELINE_INDEXES:
            conn.execute(sql)
        conn.execute("ANALYZE buildings")
        conn.execute("ANALYZE patrols")
    out["baseline_index_build_s"] = time.perf_counter() - t
    out["plan"] = explain(url, day)
    log(f"coverage: baseline indexes built in {out['baseline_index_build_s']:.1f} s; plan:\n{out['plan']}")
    runs: dict[str, list] = {"wangge": [], "postgis": []}
    npy = {side: workdir / f"pairs-{side}.npy" for side in runs}
    for r in range(args.repeats):
        order = ("wangge", "postgis") if r % 2 == 0 else ("postgis", "wangge")
        for side in order:
            res = spawn_side(args.python, side, url, day, args.calls, npy[side] if r == 0 else None, args.side_timeout)
            runs[side].append(res)
            log(
                f"coverage round {r + 1}/{args.repeats}: {side} "
                + ", ".join(f"{c['seconds']:.2f} s" for c in res["calls"])
                + f"; {res['calls'][0]['pairs']:,} pairs; peak RSS {res['call_peak_rss_mb']:.0f} MB "
                f"(+{res['call_peak_delta_mb']:.0f} MB in the call), "
                f"backend private peak {res['backend_private_peak_mb']:.0f} MB"
            )
    out["runs"] = runs
    for side in runs:
        rs = runs[side]
        out[side] = {
            "best_s": min(x["best_s"] for x in rs),
            "median_first_s": statistics.median(x["first_s"] for x in rs),
            "all_s": [c["seconds"] for x in rs for c in x["calls"]],
            "process_peak_rss_mb": max(x["process_peak_rss_mb"] for x in rs),
            "call_peak_rss_mb": max(x["call_peak_rss_mb"] for x in rs),
            "call_peak_delta_mb": max(x["call_peak_delta_mb"] for x in rs),
            "rss_before_first_call_mb": statistics.median(x["rss_before_first_call_mb"] for x in rs),
            "backend_private_peak_mb": max(x["backend_private_peak_mb"] for x in rs),
            "parallel_workers": max(x["parallel_workers"] for x in rs),
        }
        if side == "wangge":
            out[side]["best_load_tracks_s"] = min(c["load_tracks_s"] for x in rs for c in x["calls"])
    out["ratio"] = out["postgis"]["best_s"] / out["wangge"]["best_s"]
    out["agreement"] = compare_pairs(url, np.load(npy["wangge"]), np.load(npy["postgis"]))
    if args.plain_join:
        plain_npy = workdir / "pairs-plain.npy"
        res = spawn_side(args.python, "postgis-plain", url, day, 1, plain_npy, args.side_timeout)
        same = compare_pairs(url, np.load(plain_npy), np.load(npy["postgis"]), distances=False)
        out["plain_join"] = {"seconds": res["best_s"], "pairs": res["calls"][0]["pairs"], "same_as_baseline": same}
        log(f"coverage: the plain join took {res['best_s']:.1f} s; {same}")
    log(
        f"coverage: wangge {out['wangge']['best_s']:.2f} s, PostGIS {out['postgis']['best_s']:.2f} s; {out['agreement']}"
    )
    if args.profile:
        prof = workdir / "coverage.prof"
        out["profile"] = json.loads(
            subprocess.run(
                [args.python, "-m", "bench.patrol_coverage", "--side", "profile", url, day.isoformat(), "1", str(prof)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=args.side_timeout,
                check=True,
            ).stdout.split("SIDE ", 1)[1]
        )
        shutil.copy(prof, RESULTS / "coverage.prof")
    return out


# ----------------------------------------------------------------------------- ingestion over HTTP


def start_patrols(base: str, data, tokens: list[str], url: str, began: datetime) -> list[int]:
    """A running patrol for every worker, started over HTTP where the worker stands, then dated
    back to ``began`` (the fixes that follow cover the hours since)."""
    import httpx
    import psycopg

    def start(i: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as client:
            r = client.post(
                "/api/v1/patrols",
                json={"lon": float(data.home_lon[i]), "lat": float(data.home_lat[i])},
                headers={"Authorization": f"Bearer {tokens[i]}"},
            )
        if r.status_code != 201:
            raise RuntimeError(f"POST /api/v1/patrols for worker {i + 1}: {r.status_code} {r.text[:300]}")
        return int(r.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(start, range(len(tokens))))
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("UPDATE patrols SET started_at = %s WHERE id = ANY(%s)", (began, ids))
    return ids


def write_lanes(
    data, ids: list[int], tokens: list[str], workers: list[int], lanes: int, prefix: Path, start_ts: float, stamp: str
) -> int:
    """The lane files of one round: worker ``workers[k]`` goes to lane ``k % lanes``; each of its
    patrol's full batches of 500 fixes, in order. Returns the fixes written."""
    from bench.patrol_load import fixes_of

    per_batch = (data.params.fixes_per_patrol // BATCH) * BATCH
    files = [open(f"{prefix}{lane}.txt", "w") for lane in range(lanes)]
    total = 0
    try:
        for k, w in enumerate(workers):
            fixes = fixes_of(data, w, start_ts, per_batch)
            rows = list(map("[{:.7f},{:.7f},{:.1f},{:.1f}]".format, *fixes.T.tolist()))
            for b in range(0, per_batch, BATCH):
                body = "[" + ",".join(rows[b : b + BATCH]) + "]"
                files[k % lanes].write(f"{ids[w]}\t{tokens[w]}\tbench-{stamp}-{ids[w]}-{b // BATCH}\t{BATCH}\t{body}\n")
            total += per_batch
    finally:
        for f in files:
            f.close()
    return total


def run_wrk(base: str, mode: str, lanes: int, duration_s: int, prefix: Path) -> dict:
    from bench.bench_api import loadavg, wrk_json

    cmd = ["wrk", f"-t{lanes}", f"-c{lanes}", f"-d{duration_s}s", "--timeout", "30s", "--latency"]
    r = wrk_json(cmd + ["-s", str(WRK_SCRIPT), base, "--", mode, str(prefix)], duration_s + 180)
    seconds = r["duration_us"] / 1e6
    return {
        "mode": mode,
        "requests": r["requests"],
        "seconds": seconds,
        "rps": r["requests"] / seconds,
        "fixes_ok": r["fixes_ok"],
        "batches_ok": r["batches_ok"],
        "fixes_per_s": r["fixes_ok"] / seconds,
        "ran_out": r["ran_out"],
        "fix_statuses": r["fix_statuses"],
        "health_statuses": r["health_statuses"],
        "p50_ms": r["latency_us"]["p50"] / 1000,
        "p90_ms": r["latency_us"]["p90"] / 1000,
        "p99_ms": r["latency_us"]["p99"] / 1000,
        "socket_errors": sum(v for k, v in r["errors"].items() if k != "status"),
        "loadavg": loadavg(),
    }


def stored(url: str, ids: list[int]) -> dict:
    import psycopg

    with psycopg.connect(psycopg_dsn(url)) as conn:
        received, kept, with_track = conn.execute(
            "SELECT coalesce(sum(fixes_received), 0), coalesce(sum(fixes_kept), 0), count(geom) FROM patrols WHERE id = ANY(%s)",
            (ids,),
        ).fetchone()
        rows = conn.execute("SELECT count(*) FROM patrol_fixes WHERE patrol_id = ANY(%s)", (ids,)).fetchone()[0]
        dropped: dict[str, int] = {}
        for (d,) in conn.execute("SELECT dropped FROM patrols WHERE id = ANY(%s)", (ids,)):
            for k, v in (json.loads(d) if isinstance(d, str) else d or {}).items():
                dropped[k] = dropped.get(k, 0) + v
    return {
        "fixes_received": received,
        "fixes_kept": kept,
        "fix_rows": rows,
        "with_track": with_track,
        "dropped": dropped,
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


class CpuMeter:
    """CPU seconds spent by the server (with its worker processes), by the PostgreSQL backends
    serving this database, and by wrk, while a run lasts: where a request's cost goes."""

    def __init__(self, url: str, server_pid: int):
        self.url, self.server_pid = url, server_pid

    def _backends(self) -> list[int]:
        import psycopg

        with psycopg.connect(psycopg_dsn(self.url), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return [r[0] for r in rows]

    def snapshot(self) -> dict[str, dict[int, float]]:
        server = [self.server_pid, *_children(self.server_pid)]
        return {
            "server": {p: _cpu_s(p) for p in server},
            "postgres": {p: _cpu_s(p) for p in self._backends()},
        }

    def measure(self, run, *args):
        import resource

        before = self.snapshot()
        wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = run(*args)
        wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = self.snapshot()
        cpu = {
            k: sum(after[k].get(p, 0.0) - before[k].get(p, 0.0) for p in set(after[k]) | set(before[k])) for k in after
        }
        # The children waited for: wrk (the only child run meanwhile).
        cpu["wrk"] = (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)
        return result, cpu


def floor_copy(url: str, data, patrol_ids: list[int], threads: int, duration_s: float) -> dict:
    """The floor: batches of 500 fixes written straight into patrol_fixes by ``threads`` psycopg
    connections, one COPY and one commit each (to ended patrols of the day, whose tracks are
    already measured): what this machine's PostgreSQL takes without wangge in front of it."""
    import psycopg

    lines = [
        f"{data.fix_lon[i]:.7f}\t{data.fix_lat[i]:.7f}\t{data.fix_dt[i]:.1f}\t{data.fix_acc[i]:.1f}"
        for i in range(BATCH)
    ]
    counts = [0] * threads
    stop = time.monotonic() + duration_s

    def work(k: int) -> None:
        body = "".join(f"{patrol_ids[k % len(patrol_ids)]}\t{line}\n" for line in lines)
        with psycopg.connect(psycopg_dsn(url)) as conn:
            while time.monotonic() < stop:
                with (
                    conn.cursor() as cur,
                    cur.copy("COPY patrol_fixes (patrol_id, lon, lat, t, accuracy_m) FROM STDIN") as copy,
                ):
                    copy.write(body)
                conn.commit()
                counts[k] += BATCH

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    seconds = time.perf_counter() - t
    return {"threads": threads, "seconds": seconds, "fixes": sum(counts), "fixes_per_s": sum(counts) / seconds}


def ingestion(url: str, data, tokens: list[str], args, workdir: Path) -> dict:
    from bench.bench_api import Server, py_spy_binary

    out: dict = {"lanes": args.lanes, "duration_s": args.duration, "workers": args.workers, "rounds": []}
    server = Server(url, workdir / "server.log", args.python, ("--workers", str(args.workers)))
    try:
        out["server_start_s"] = server.wait_ready()
        now = datetime.now(UTC)
        hours = data.params.fixes_per_patrol * data.params.interval_s / 3600
        began = now - timedelta(hours=hours, minutes=10)
        t = time.perf_counter()
        ids = start_patrols(server.base, data, tokens, url, began)
        out["start_patrols_s"] = time.perf_counter() - t
        start_ts = began.timestamp() + 60
        workers = list(range(len(ids)))
        # Each round (and the profiled run) posts for patrols of its own.
        parts = args.rounds + (1 if args.profile else 0)
        groups = [workers[r::parts] for r in range(parts)]
        stamp = f"{int(now.timestamp())}"
        log(f"ingestion: server up, {len(ids):,} patrols running (started over HTTP in {out['start_patrols_s']:.1f} s)")
        for r, group in enumerate(groups[: args.rounds]):
            prefix = workdir / f"lane-{r}-"
            written = write_lanes(data, ids, tokens, group, args.lanes, prefix, start_ts, stamp)
            meter = CpuMeter(url, server.pid)
            health, health_cpu = meter.measure(run_wrk, server.base, "health", args.lanes, args.duration, prefix)
            fixes, fixes_cpu = meter.measure(run_wrk, server.base, "fixes", args.lanes, args.duration, prefix)
            time.sleep(2)  # answers wrk stopped waiting for may still be committing
            check = stored(url, [ids[w] for w in group])
            row = {"health": health, "fixes": fixes, "written": written, "stored": check}
            row["cpu_ms_per_request"] = {
                "health": {k: 1000 * v / max(health["requests"], 1) for k, v in health_cpu.items()},
                "fixes": {k: 1000 * v / max(fixes["requests"], 1) for k, v in fixes_cpu.items()},
            }
            row["cpu_s"] = {"health": health_cpu, "fixes": fixes_cpu}
            row["ratio_fixes_per_s_to_health_rps"] = fixes["fixes_per_s"] / health["rps"]
            out["rounds"].append(row)
            log(
                f"ingestion round {r + 1}/{args.rounds}: health {health['rps']:.0f} req/s; fixes {fixes['fixes_per_s']:.0f}/s "
                f"({fixes['batches_ok']:,} batches answered 200 of {fixes['requests']:,} requests, statuses {fixes['fix_statuses']}, "
                f"p50 {fixes['p50_ms']:.0f} ms, p99 {fixes['p99_ms']:.0f} ms, ran out {fixes['ran_out']}); stored {check}"
            )
            for f in workdir.glob(f"lane-{r}-*.txt"):
                f.unlink()
        # The floor, on the day's ended patrols (ids 1..n: loaded before any running one).
        out["floor"] = floor_copy(url, data, list(range(1, len(ids) + 1)), args.lanes, args.duration)
        log(
            f"ingestion floor: psycopg COPY of {BATCH}-fix batches, {args.lanes} connections: {out['floor']['fixes_per_s']:.0f} fixes/s"
        )
        if args.profile:
            py_spy = py_spy_binary(args.python)
            if py_spy is None:
                out["profile"] = {"error": "py-spy not found (pip install py-spy)"}
            else:
                prefix = workdir / "lane-profile-"
                write_lanes(data, ids, tokens, groups[-1], args.lanes, prefix, start_ts, stamp)
                out["profile"] = profile_ingestion(server, prefix, args, workdir, py_spy)
    finally:
        server.stop()
        shutil.copy(workdir / "server.log", RESULTS / "server.log")
    rs = out["rounds"]
    out["fixes_per_s"] = statistics.median(x["fixes"]["fixes_per_s"] for x in rs)
    out["health_rps"] = statistics.median(x["health"]["rps"] for x in rs)
    return out


def profile_ingestion(server, prefix: Path, args, workdir: Path, py_spy: str) -> dict:
    """One more fixes run, on patrols kept for it, while py-spy samples the server (the thread
    holding the GIL: where the server's Python time goes)."""
    from bench.bench_api import sample_during, summarise_folded

    folded = workdir / "profile-fixes.txt"
    load = lambda: run_wrk(server.base, "fixes", args.lanes, args.duration + 4, prefix)  # noqa: E731
    result = sample_during(py_spy, server.pid, args.duration, folded, load, subprocesses=args.workers > 1)
    if not folded.exists():
        return {"error": "py-spy wrote nothing (is ptrace allowed?)"}
    shutil.copy(folded, RESULTS / folded.name)
    return summarise_folded(folded) | {"fixes_per_s_while_profiled": (result or {}).get("fixes_per_s")}


# ----------------------------------------------------------------------------- report


def markdown(result: dict) -> str:
    m, c, h = result["machine"], result.get("coverage"), result.get("ingestion")
    p = result["params"]
    lines = [
        SECTION_START,
        "## Patrols: a district's day of coverage, and fix ingestion (issue 12)",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, Linux {m['kernel']}, Python {m['python']}; "
        f"PostgreSQL {result['pg']['version']}, PostGIS {result['pg']['postgis']}, GEOS {result['pg']['geos']} on the same machine "
        f"(shared_buffers {result['pg']['shared_buffers']}, work_mem {result['pg']['work_mem']}, "
        f"max_parallel_workers_per_gather {result['pg']['max_parallel_workers_per_gather']}); run {m['date']} on commit "
        f"`{m['git_commit']}`{' (with uncommitted changes)' if m['git_dirty'] else ''}. Load average at start "
        f"{result['loadavg_start']}, at end {result['loadavg_end']} (the machine is shared: compare within the run).",
        "",
        f"Data (seed {p['seed']}, `bench/patrol_data.py`): a district of 10 km × 10 km from 113.00 E, 23.65 N; "
        f"{p['buildings']:,} buildings on a jittered lattice ({p['footprint_share']:.0%} with a square footprint 8–20 m wide), "
        f"1,000 grids, {p['patrols']:,} patrols of {p['hours']:g} hours at one fix every {p['interval_s']:g} s "
        f"({p['patrols'] * p['fixes_per_patrol']:,} fixes): walks along streets 125 m apart around each worker's grid, "
        f"with GPS noise (σ 3 m), 0.3 % wild fixes of poor accuracy and 0.05 % impossible jumps. Loaded into wangge's "
        f"schema by its bulk writer and one binary COPY for the fixes in {result['load']['total_s']:.0f} s; each patrol "
        f"stored as an ended one, its track cleaned and simplified (5 m) by `geo.patrols.tracks`: "
        f"{result['load']['day']['fixes_kept']:,} fixes kept, {result['load']['day']['track_vertices']:,} track vertices.",
        "",
    ]
    if c:
        a = c["agreement"]
        w, b = c["wangge"], c["postgis"]
        verdict = "**met**" if c["ratio"] >= 1.0 else "**missed**"
        lines += [
            "### Coverage of the day (buildings within 30 m of each track)",
            "",
            "| | wangge | PostGIS directly |",
            "|---|---:|---:|",
            "| what is timed | the day's tracks read (`patrols.geom`, the simplified track) and "
            "`visited_buildings(session, tracks, 30.0)` | one SQL statement: each of the day's tracks made a geography once "
            "(a `MATERIALIZED` CTE), then buildings `ST_DWithin(coalesce(footprint, geom)::geography, track, 30)`, GiST "
            "indexes on both geography expressions |",
            f"| best of {len(w['all_s'])} calls ({c['repeats']} processes × {c['calls']}) | **{w['best_s']:.2f} s** | **{b['best_s']:.2f} s** |",
            f"| first call in a fresh process (median) | {w['median_first_s']:.2f} s | {b['median_first_s']:.2f} s |",
            f"| every call | {', '.join(f'{x:.2f}' for x in w['all_s'])} | {', '.join(f'{x:.2f}' for x in b['all_s'])} |",
            f"| peak resident memory during a call (VmHWM) | {w['call_peak_rss_mb']:.0f} MB (+{w['call_peak_delta_mb']:.0f} MB over the {w['rss_before_first_call_mb']:.0f} MB held before) | {b['call_peak_rss_mb']:.0f} MB (+{b['call_peak_delta_mb']:.0f} MB over {b['rss_before_first_call_mb']:.0f} MB) |",
            f"| peak private memory of its database backend (RssAnon, sampled every 20 ms) | {w['backend_private_peak_mb']:.0f} MB | {b['backend_private_peak_mb']:.0f} MB (parallel workers seen: {b['parallel_workers']}) |",
            f"| (track, building) pairs | {a['wangge_pairs']:,} | {a['postgis_pairs']:,} |",
            f"| buildings visited | {a['buildings_visited_wangge']:,} | {a['buildings_visited_postgis']:,} |",
            "",
            f"Ratio PostGIS / wangge (best calls): **{c['ratio']:.2f}** (target ≥ 1.0: {verdict}).",
            "",
        ]
        diff = []
        for name, label in (("only_wangge", "only wangge found"), ("only_postgis", "only PostGIS found")):
            d = a.get(name + "_distance_m")
            if d:
                diff.append(
                    f"{a[name]:,} pairs {label}, at {d['min']:.3f}–{d['max']:.3f} m from the track on the spheroid "
                    f"({d['sphere_min']:.3f}–{d['sphere_max']:.3f} m on the sphere; {d['footprints']} of them footprints)"
                )
            else:
                diff.append(f"0 pairs {label}")
        lines += [
            f"- Agreement: symmetric difference {a['only_wangge'] + a['only_postgis']:,} of {a['postgis_pairs']:,} pairs: "
            + "; ".join(diff)
            + ". PostGIS measures on the spheroid; wangge in a local azimuthal equidistant projection of the district.",
            *(
                [
                    f"- The same SQL written as a plain join (`... JOIN buildings ON ST_DWithin(coalesce(footprint, geom)::geography, "
                    f"p.geom::geography, 30)`, PostgreSQL's plan casting the track anew for every candidate building) took "
                    f"{c['plain_join']['seconds']:.0f} s once ({c['plain_join']['pairs']:,} pairs, "
                    f"{c['plain_join']['same_as_baseline']['only_wangge'] + c['plain_join']['same_as_baseline']['only_postgis']} "
                    "different from the baseline's): the baseline above is the faster form."
                ]
                if c.get("plain_join")
                else []
            ),
            f"- Building the baseline's two GiST indexes took {c['baseline_index_build_s']:.1f} s (not timed). "
            f"wangge's reading of the tracks took {w['best_load_tracks_s']:.2f} s of its best call.",
            "- Memory: each side runs in a process of its own. Its peak is the kernel's resident high-water mark "
            "(`VmHWM` in `/proc/self/status`, reset before each call through `/proc/self/clear_refs`), and + is how far it rose "
            "above what the process held just before the call (imports, the connection). `resource.getrusage().ru_maxrss` is "
            "not used: at exec a child inherits its parent's high-water mark in it, and the parent here holds the day's "
            "5.76 million fixes. The backend's private memory is the PostgreSQL process serving the call (with any "
            "parallel workers), its shared buffers left out.",
            "",
        ]
    if h:
        lines += ingestion_markdown(h, m["nproc"])
    if result.get("notes"):
        lines += [f"- {n}" for n in result["notes"]] + [""]
    lines.append(SECTION_END)
    return "\n".join(lines)


def ingestion_markdown(h: dict, nproc: int) -> list[str]:
    met = h["fixes_per_s"] >= TARGET_FIXES_PER_S
    server = "one worker process" if h["workers"] == 1 else f"`--workers {h['workers']}`"
    lines = [
        "### Fix ingestion over HTTP",
        "",
        f"`wangge serve` ({server}) on this database, with a running patrol for each worker (started over HTTP, "
        f"then dated back 8 hours); {h['lanes']} connections at once (wrk, one thread each, `bench/patrol_wrk.lua`), "
        f"each posting its patrols' batches of {BATCH} fixes in order, each with its own `Idempotency-Key`, to "
        f"`POST /api/v1/patrols/{{id}}/fixes`; {len(h['rounds'])} rounds of {h['duration_s']} s, each "
        "`GET /api/v1/health` from the same connections, then fixes, each round on patrols of its own.",
        "",
        "| round | health req/s | fixes/s | batches/s | batch p50 | batch p99 | non-200 or socket errors | fixes answered 200 | fixes stored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(h["rounds"]):
        f = r["fixes"]
        bad = sum(v for k, v in f["fix_statuses"].items() if k != "200") + f["socket_errors"]
        lines.append(
            f"| {i + 1} | {r['health']['rps']:,.0f} | {f['fixes_per_s']:,.0f} | {f['batches_ok'] / f['seconds']:.1f} | "
            f"{f['p50_ms']:.0f} ms | {f['p99_ms']:.0f} ms | {bad} | {f['fixes_ok']:,} | {r['stored']['fix_rows']:,} |"
        )
    last = h["rounds"][-1]["stored"]
    lines += [
        "",
        f"Median: **{h['fixes_per_s']:,.0f} fixes/s** beside health at {h['health_rps']:,.0f} req/s "
        f"(target ≥ {TARGET_FIXES_PER_S:,} fixes/s: {'**met**' if met else '**missed**'}).",
        "",
        f"- Stored is counted in the database 2 s after wrk stopped: it may exceed what was answered 200 by the batches "
        f"still in flight when wrk stopped (at most one per connection, {h['lanes'] * BATCH:,} fixes). Of the last round's "
        f"{last['fixes_received']:,} fixes received, {last['fixes_kept']:,} were kept for the track, dropped: {last['dropped']}.",
    ]
    cpu = {
        mode: {
            k: statistics.median(r["cpu_ms_per_request"][mode][k] for r in h["rounds"])
            for k in ("server", "postgres", "wrk")
        }
        for mode in ("health", "fixes")
    }
    f, q = cpu["fixes"], cpu["health"]
    lines.append(
        f"- CPU per request (median over the rounds; from `/proc`, the server's process{'es' if h['workers'] > 1 else ''}, "
        f"the PostgreSQL backends serving this database, and wrk): a batch of {BATCH} fixes {f['server']:.1f} ms in the server, "
        f"{f['postgres']:.1f} ms in PostgreSQL, {f['wrk']:.2f} ms in wrk; a health request {q['server']:.2f} ms in the server, "
        f"{q['postgres']:.2f} ms in PostgreSQL, {q['wrk']:.3f} ms in wrk. The machine has "
        f"{nproc} cores for all of them and whatever else runs on it."
    )
    fl = h.get("floor")
    if fl:
        lines.append(
            f"- The floor: the same batches of {BATCH} fixes written straight into `patrol_fixes` by {fl['threads']} psycopg "
            f"connections, one `COPY` and one commit each, with nothing in front: {fl['fixes_per_s']:,.0f} fixes/s."
        )
    prof = h.get("profile")
    if prof and "self_share" in prof:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in list(prof["self_share"].items())[:7])
        top = ", ".join(f"`{k.split(' (')[0]}` {v:.0%}" for k, v in prof["top_inclusive"][:10])
        lines.append(
            f"- Profile of the server during one more fixes run (py-spy, the thread holding the GIL, {prof['samples']:,} "
            f"samples; {prof['fixes_per_s_while_profiled'] or 0:,.0f} fixes/s while sampled): self time by package: {shares}. "
            f"On the stack: {top}."
        )
    lines.append("")
    return lines


def write_md(section: str) -> None:
    write_section(SECTION_START, SECTION_END, section, log, "patrols")


# ----------------------------------------------------------------------------- main


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(psycopg_dsn(str(u.set(database="postgres"))), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--side"]:
        side, url, day, calls, out = argv[1:6]
        if side == "profile":
            res = run_profile(url, date.fromisoformat(day), out)
        else:
            res = run_side(side, url, date.fromisoformat(day), int(calls), out or None)
        print("SIDE " + json.dumps(res), flush=True)
        return 0

    from bench.api_load import fresh_postgres
    from bench.bench_api import loadavg, machine
    from bench.patrol_data import Params, make
    from bench.patrol_load import load

    p = argparse.ArgumentParser(prog="python -m bench.patrol_coverage", description=__doc__.split("\n\n")[0])
    p.add_argument("--postgres-url", default=os.environ.get("WANGGE_BENCH_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--buildings", type=int, default=100_000)
    p.add_argument("--patrols", type=int, default=1_000)
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per coverage side")
    p.add_argument("--calls", type=int, default=2, help="calls per process")
    p.add_argument("--side-timeout", type=float, default=1800)
    p.add_argument("--lanes", type=int, default=64, help="concurrent connections posting fixes")
    p.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=2, help="rounds of health then fixes")
    p.add_argument("--workers", type=int, default=1, help="server processes (`wangge serve --workers`)")
    p.add_argument("--quick", action="store_true", help="10,000 buildings, 100 patrols, short runs (a smoke test)")
    p.add_argument(
        "--plain-join",
        action="store_true",
        help="also time the baseline written as a plain join, once (about 25 minutes)",
    )
    p.add_argument("--skip-coverage", action="store_true")
    p.add_argument("--skip-http", action="store_true")
    p.add_argument(
        "--profile", action="store_true", help="also profile wangge's coverage (cProfile) and the server (py-spy)"
    )
    p.add_argument("--keep-db", action="store_true", help="leave the database in place at the end")
    p.add_argument("--write-md", action="store_true")
    p.add_argument("--python", default=sys.executable)
    p.add_argument(
        "--render", metavar="RESULTS_JSON", help="measure nothing: print (and with --write-md write) a saved result"
    )
    args = p.parse_args(argv)
    if args.render:
        md = markdown(json.loads(Path(args.render).read_text()))
        print(md)
        if args.write_md:
            write_md(md)
        return 0
    if args.quick:
        args.buildings, args.patrols = 10_000, 100
        args.repeats, args.calls, args.duration, args.rounds, args.lanes = 1, 2, 5, 1, 16
    if shutil.which("wrk") is None and not args.skip_http:
        log("wrk is not installed (Debian: apt-get install wrk)")
        return 2
    url = args.postgres_url
    command = os.environ.get(
        "WANGGE_BENCH_COMMAND", "python -m bench.patrol_coverage" + (" " + " ".join(argv) if argv else "")
    )
    started = time.monotonic()
    params = Params(buildings=args.buildings, patrols=args.patrols)
    result: dict = {"command": command, "machine": machine(), "loadavg_start": loadavg(), "args": vars(args)}
    result["params"] = params.__dict__ | {"fixes_per_patrol": params.fixes_per_patrol}
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="wangge-bench-patrols-"))
    day = (datetime.now(UTC) + timedelta(hours=8)).date() - timedelta(days=1)  # yesterday in China
    try:
        data = make(params, log=log)
        fresh_postgres(url, log=log)
        result["pg"] = pg_settings(url)
        log("loading the district and its day")
        loaded = load(url, data, day, log=log)
        tokens = loaded.pop("tokens")
        result["load"] = loaded
        log(f"loaded in {loaded['total_s']:.0f} s")
        if not args.skip_coverage:
            result["coverage"] = coverage(url, day, args, workdir) | {"repeats": args.repeats, "calls": args.calls}
        if not args.skip_http:
            result["ingestion"] = ingestion(url, data, tokens, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep_db:
            drop_database(url)
            log(f"dropped the database {url.rsplit('/', 1)[-1]}")
    result["loadavg_end"] = loadavg()
    result["wall_s"] = time.monotonic() - started
    md = markdown(result)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in (f"{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=2, default=str))
    print(md)
    log(f"results: {RESULTS / (stamp + '.json')} ({result['wall_s'] / 60:.1f} min)")
    if args.write_md and args.quick:
        log("--quick: BENCHMARKS.md left as it is (a smoke test is no result)")
    elif args.write_md:
        write_md(md)
    c, h = result.get("coverage"), result.get("ingestion")
    ok = (c is None or c["ratio"] >= 1.0) and (h is None or h["fixes_per_s"] >= TARGET_FIXES_PER_S)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
