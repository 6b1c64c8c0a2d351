"""Benchmark: the spatial API (issue 3, "Speed") on SpatiaLite and on PostGIS.

    bench/run.sh                                   # everything, both databases (about 10 minutes, then the maps)
    bench/run.sh --databases spatialite            # one database
    bench/run.sh --quick                           # small data and short runs: a smoke test

For each database, in one run:

1. The data, generated here from one seed (``bench/api_data.py``): 100,000 irregular grid
   polygons (Voronoi cells over 0.4 x 0.4 degrees around 113.05 E, 23.70 N) with unique 15-digit
   codes in 1,024 communities, 100,000 responders (every known role, 15 % off duty, each serving
   1-3 grids) and 1,000,000 query points. It is bulk-loaded with SQLAlchemy Core into a freshly
   migrated database (``bench/api_load.py``): a SpatiaLite file in a temporary directory, and the
   PostGIS database ``WANGGE_BENCH_POSTGRES_URL`` (dropped and created anew).
2. A real server: ``wangge serve --host 127.0.0.1 --port P`` (one worker process), started with
   ``python -m api.cli`` from this checkout.
3. HTTP with wrk (``bench/api_wrk.lua``, 32 connections, 10,000 different points): the baseline
   ``GET /api/v1/health``, then ``GET /api/v1/grids/locate`` and ``GET
   /api/v1/responders/nearest?k=5``, interleaved (health, locate, nearest, health, ...) for
   ``--rounds`` rounds; each ratio is the median over the rounds of (endpoint / the health run
   just before it). Before that, a cold pass asks for each of the 10,000 points once on the
   freshly started server (the first request for a grid builds its card from the database).
4. Batch: ``POST /api/v1/grids/locate`` with the 1,000,000 points, the same lookup in process
   (``geo.grids.index.grid_index(...).locate``) and ``geopandas.sjoin(points, grids,
   predicate="within")`` of the same points and polygons, each in a fresh process
   (``bench/api_inproc.py``), with peak memory; the answers are compared point by point.
5. Results: ``bench/results/api/`` (JSON and Markdown), and with ``--write-md`` this benchmark's
   section of ``BENCHMARKS.md``.

Load goes only to 127.0.0.1, every loop is bounded, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from api.served import ServerError, WanggeServer
from bench.report import write_section

ROOT = Path(__file__).absolute().parent.parent  # not resolve(): a checkout may link bench/
RESULTS = ROOT / "bench" / "results" / "api"
CACHE = ROOT / "bench" / "results" / "cache"
WRK_SCRIPT = ROOT / "bench" / "api_wrk.lua"
SECTION_START = "<!-- bench:api start (written by bench/run.sh; edit bench/bench_api.py instead) -->"
SECTION_END = "<!-- bench:api end -->"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/wangge_bench"

TARGETS = {
    "locate_vs_health": 0.70,  # single locate throughput / health throughput, at least
    "nearest_vs_health": 0.50,  # nearest-5 throughput / health throughput, at least
    "batch_http_vs_sjoin": 1.0,  # sjoin seconds / HTTP batch seconds, at least (as fast or faster)
    "batch_inproc_vs_sjoin": 1.0,  # sjoin seconds / in-process locate seconds, at least
}


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- machine


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    versions = {}
    for name in (
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "geoalchemy2",
        "shapely",
        "geopandas",
        "numpy",
        "pyproj",
    ):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is just not reported
            pass
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "wrk": wrk_version[0].strip() if wrk_version else "",
        "git_commit": git("rev-parse", "--short", "HEAD"),
        # Changes to the service itself (bench/ and BENCHMARKS.md do not count).
        "git_dirty": bool(
            git(
                "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench", ":(exclude)BENCHMARKS.md"
            )
        ),
    }


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


# ----------------------------------------------------------------------------- server


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def reset_hwm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Server(WanggeServer):
    """``wangge serve`` on 127.0.0.1 in a child process, with its output in a log file."""

    def __init__(self, database_url: str, log_path: Path, python: str, args: tuple[str, ...] = ()):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        # `python -m api.cli` is the `wangge` command, run from this checkout.
        super().__init__(
            database_url,
            env={"PYTHONUNBUFFERED": "1"},
            command=[python, "-m", "api.cli"],
            args=args,  # more options of `wangge serve`
            host="127.0.0.1",
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float = 600
    ) -> tuple[int, bytes, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            t = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, data, time.perf_counter() - t
        finally:
            conn.close()

    def wait_ready(self, timeout_s: float = 180) -> float:
        try:
            return super().wait_ready(timeout_s=timeout_s, interval_s=0.25, request_timeout_s=5)
        except ServerError:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log_path}") from None
            raise RuntimeError(
                f"the server did not answer /api/v1/health within {timeout_s:.0f} s; see {self.log_path}"
            ) from None

    def stop(self) -> None:
        super().stop(timeout_s=20, sig=signal.SIGINT)  # uvicorn's graceful shutdown
        self._log.close()


# ----------------------------------------------------------------------------- wrk


def run_wrk(server: Server, mode: str, points_file: Path, duration_s: int, threads: int, connections: int) -> dict:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        server.base,
        "--",
        mode,
        str(points_file),
    ]
    r = wrk_json(cmd, duration_s + 120)
    seconds = r["duration_us"] / 1e6
    return {
        "mode": mode,
        "requests": r["requests"],
        "seconds": round(seconds, 3),
        "rps": r["requests"] / seconds if seconds else 0.0,
        "p50_ms": r["latency_us"]["p50"] / 1000,
        "p90_ms": r["latency_us"]["p90"] / 1000,
        "p99_ms": r["latency_us"]["p99"] / 1000,
        "max_ms": r["latency_us"]["max"] / 1000,
        "non_2xx": r["errors"]["status"],
        "socket_errors": r["errors"]["connect"] + r["errors"]["read"] + r["errors"]["write"] + r["errors"]["timeout"],
        "loadavg": loadavg(),
    }


def wrk_json(cmd: list[str], timeout_s: float) -> dict:
    """Run wrk with a script whose done() prints one line "WRKJSON {...}"; that object."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    return json.loads(line[len("WRKJSON ") :])


def cold_pass(server: Server, points_file: Path, connections: int, limit_s: float) -> dict:
    """GET /api/v1/grids/locate once for every point of the file, over ``connections`` keep-alive
    connections (a thread each), stopping early after ``limit_s`` seconds.

    wrk cannot send each request exactly once, so this pass has its own small client.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    pairs = [line.split() for line in points_file.read_text().splitlines() if line.strip()]
    lock = threading.Lock()
    position = iter(range(len(pairs)))
    deadline = time.monotonic() + limit_s
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        mine, codes = [], {}
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(position, None)
                if i is None:
                    break
                lon, lat = pairs[i]
                t = time.perf_counter()
                conn.request("GET", f"/api/v1/grids/locate?lon={lon}&lat={lat}")
                resp = conn.getresponse()
                resp.read()
                mine.append(time.perf_counter() - t)
                codes[resp.status] = codes.get(resp.status, 0) + 1
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                for k, v in codes.items():
                    statuses[k] = statuses.get(k, 0) + v

    t0 = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for f in [pool.submit(worker) for _ in range(connections)]:
            f.result()
    seconds = time.perf_counter() - t0
    lat_ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "of_points": len(pairs),
        "seconds": seconds,
        "rps": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p99_ms": float(np.percentile(lat_ms, 99)),
        "statuses": statuses,
        "connections": connections,
    }


CATEGORIES = [  # (label, prefixes of a frame's file as py-spy shows it), first match wins; by self time
    ("wangge geo/", ("geo/",)),
    ("wangge api/", ("api/",)),
    ("shapely, pyproj, numpy", ("shapely/", "pyproj/", "numpy/")),
    ("SQLAlchemy, DB drivers", ("sqlalchemy/", "geoalchemy2/", "psycopg/", "sqlite3/", "pysqlite3/")),
    (
        "FastAPI, Starlette, pydantic",
        ("fastapi/", "starlette/", "pydantic/", "pydantic_core/", "typing.py", "typing_extensions.py"),
    ),
    ("uvicorn, h11 (HTTP)", ("uvicorn/", "h11/", "httptools/")),
    ("anyio, threads (thread pool hops)", ("anyio/", "threading.py", "queue.py", "concurrent/")),
    ("asyncio event loop, sockets", ("asyncio/", "selectors.py", "socket.py")),
    ("logging (access log)", ("logging/",)),
    ("json, orjson", ("json/", "orjson")),
    (
        "contextlib, other stdlib",
        ("contextlib.py", "<frozen", "enum.py", "functools.py", "inspect.py", "copy.py", "weakref.py", "datetime.py"),
    ),
]


# Framework functions worth seeing next to wangge's own in the inclusive list.
PROFILE_KEY_FUNCTIONS = {
    "solve_dependencies",
    "request_params_to_args",
    "serialize_response",
    "run_in_threadpool",
    "JSONResponse.render",
    "RequestResponseCycle.send",
    "H11Protocol.data_received",
    "Logger.info",
}


def _frame_file(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "path/to/file.py", relative to site-packages or the checkout
    inside = frame.rsplit(" (", 1)[-1].rstrip(")")
    path = inside.rsplit(":", 1)[0]
    return (
        path.split("site-packages/")[-1].split(str(ROOT) + "/")[-1].split("lib/python3.")[-1].split("/", 1)[-1]
        if "lib/python3." in path
        else path.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
    )


def py_spy_binary(python: str) -> str | None:
    here = Path(python).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def profile_run(server: Server, mode: str, points_file: Path, args, py_spy: str, workdir: Path) -> dict:
    """wrk on one endpoint while py-spy samples the server (only the thread holding the GIL:
    where the server's Python time goes). Returns the share of samples per category and the
    functions with the most samples (inclusive)."""
    folded = workdir / f"profile-{mode}.txt"
    result = sample_during(
        py_spy,
        server.pid,
        args.duration,
        folded,
        lambda: run_wrk(server, mode, points_file, args.duration + 4, args.threads, args.connections),
    )
    if not folded.exists():
        return {"error": "py-spy wrote nothing (is ptrace allowed?)"}
    shutil.copy(folded, RESULTS / folded.name)
    return summarise_folded(folded) | {"rps_while_profiled": (result or {}).get("rps")}


def sample_during(py_spy: str, pid: int, duration_s: int, folded: Path, load, subprocesses: bool = False):
    """Run ``load()`` (which lasts a little longer than ``duration_s``) in a thread while py-spy
    samples the process ``pid`` (only the thread holding the GIL) into ``folded``; returns what
    ``load()`` returned (None if it failed)."""
    import threading

    result: list = []
    thread = threading.Thread(target=lambda: result.append(load()))
    thread.start()
    time.sleep(2)
    subprocess.run(
        [py_spy, "record", "-p", str(pid), "-d", str(duration_s), "-r", "250", "--gil", "--nonblocking"]
        + (["--subprocesses"] if subprocesses else [])
        + ["-f", "raw", "-o", str(folded)],
        capture_output=True,
        timeout=duration_s + 60,
    )
    thread.join()
    return result[0] if result else None


def summarise_folded(folded: Path) -> dict:
    """A py-spy raw (folded) profile: the share of samples per category (by self time) and the
    functions with the most samples (inclusive): wangge's own and a few of the framework's."""
    total, by_cat, inclusive = 0, {}, {}
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = _frame_file(frames[-1])
        cat = next((label for label, prefixes in CATEGORIES if leaf.startswith(prefixes)), "other")
        by_cat[cat] = by_cat.get(cat, 0) + n
        for name in {f"{f.rsplit(' (', 1)[0]} ({_frame_file(f)})" for f in frames}:
            fn, path = name.rsplit(" (", 1)
            if (
                path.startswith(("geo/", "api/")) and not path.startswith(("api/cli.py", "api/app.py"))
            ) or fn in PROFILE_KEY_FUNCTIONS:
                inclusive[name] = inclusive.get(name, 0) + n
    return {
        "samples": total,
        "self_share": {k: round(v / total, 3) for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])}
        if total
        else {},
        # Share of samples with the function on the stack.
        "top_inclusive": [[k, round(v / total, 3)] for k, v in sorted(inclusive.items(), key=lambda kv: -kv[1])[:25]]
        if total
        else [],
    }


# ----------------------------------------------------------------------------- batch


def batch_body(lon: np.ndarray, lat: np.ndarray) -> bytes:
    pairs = ",".join(map("[{:.7f},{:.7f}]".format, lon.tolist(), lat.tolist()))
    return ('{"crs":"wgs84","points":[' + pairs + "]}").encode()


def run_inproc(python: str, args: list[str], timeout_s: float = 900) -> dict:
    proc = subprocess.run(
        [python, "-m", "bench.api_inproc", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("INPROC ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"bench.api_inproc {args[0]} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(line[len("INPROC ") :])


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Point-by-point agreement of two code arrays ("" = no grid)."""
    differ = a != b
    return {
        "points": int(a.size),
        "disagree": int(differ.sum()),
        "only_first_has_grid": int((differ & (a != "") & (b == "")).sum()),
        "only_second_has_grid": int((differ & (a == "") & (b != "")).sum()),
        "different_grids": int((differ & (a != "") & (b != "")).sum()),
    }


def on_edge_count(data, idx: np.ndarray) -> int:
    """How many of the points at ``idx`` lie exactly on a grid boundary (covered by a grid, within none)."""
    import shapely

    if idx.size == 0:
        return 0
    grids = shapely.from_wkb(data.grid_wkb)
    tree = shapely.STRtree(grids)
    pts = shapely.points(data.q_lon[idx], data.q_lat[idx])
    covered = np.unique(tree.query(pts, predicate="covered_by")[0])
    within = np.unique(tree.query(pts, predicate="within")[0])
    return int(np.setdiff1d(covered, within).size)


# ----------------------------------------------------------------------------- one database


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def bench_database(
    name: str, url: str, data, data_npz: Path, points_file: Path, body: bytes, args, python: str, workdir: Path
) -> dict:
    from bench.api_load import fresh_postgres, load, verify

    out: dict = {"database": name, "url": url.split("@")[-1] if name == "postgis" else "sqlite (temporary file)"}
    log(f"[{name}] loading {len(data.grid_wkb):,} grids, {len(data.resp_lon):,} responders")
    if name == "postgis":
        fresh_postgres(url, log=lambda m: log(f"[{name}] {m}"))
    out["load"] = load(url, data, log=lambda m: log(f"[{name}] {m}"))
    out["load_check"] = verify(url, data)
    log(f"[{name}] loaded in {out['load']['total_s']:.1f} s: {out['load_check']}")

    server = Server(url, workdir / f"server-{name}.log", python)
    try:
        out["server_start_s"] = server.wait_ready()
        rss0 = proc_status(server.pid)
        # The server builds its in-memory indexes as it starts; the first lookups wait for them.
        x, y = (float(v) for v in points_file.read_text().split("\n", 1)[0].split())
        status, _, t_locate = server.request("GET", f"/api/v1/grids/locate?lon={x}&lat={y}")
        status2, _, t_nearest = server.request("GET", f"/api/v1/responders/nearest?lon={x}&lat={y}&k=5")
        if status != 200 or status2 != 200:
            raise RuntimeError(f"first requests answered {status}, {status2}; see {server.log_path}")
        out["first_requests"] = {"locate_builds_grid_index_s": t_locate, "nearest_builds_responder_index_s": t_nearest}
        log(
            f"[{name}] server up in {out['server_start_s']:.1f} s; first locate {t_locate:.2f} s, first nearest {t_nearest:.2f} s"
        )

        if not args.skip_http:
            # Cold pass: every point once (each grid's first request builds its card from the database).
            cold = cold_pass(server, points_file, args.connections, args.cold_limit)
            out["cold_locate"] = cold
            log(
                f"[{name}] cold pass: {cold['requests']:,} requests in {cold['seconds']:.0f} s, {cold['rps']:.0f}/s, "
                f"p50 {cold['p50_ms']:.1f} ms, p99 {cold['p99_ms']:.1f} ms"
            )
            rounds = []
            for r in range(args.rounds):
                row = {}
                for mode in ("health", "locate", "nearest"):
                    row[mode] = run_wrk(server, mode, points_file, args.duration, args.threads, args.connections)
                row["locate_vs_health"] = row["locate"]["rps"] / row["health"]["rps"]
                row["nearest_vs_health"] = row["nearest"]["rps"] / row["health"]["rps"]
                rounds.append(row)
                log(
                    f"[{name}] round {r + 1}/{args.rounds}: health {row['health']['rps']:.0f}/s, "
                    f"locate {row['locate']['rps']:.0f}/s ({row['locate_vs_health']:.2f}), "
                    f"nearest {row['nearest']['rps']:.0f}/s ({row['nearest_vs_health']:.2f}); load {loadavg()}"
                )
            out["rounds"] = rounds
            out["http"] = {
                mode: {k: median([r[mode][k] for r in rounds]) for k in ("rps", "p50_ms", "p90_ms", "p99_ms")}
                | {
                    "non_2xx": sum(r[mode]["non_2xx"] for r in rounds),
                    "socket_errors": sum(r[mode]["socket_errors"] for r in rounds),
                }
                for mode in ("health", "locate", "nearest")
            }
            out["http"]["locate_vs_health"] = median([r["locate_vs_health"] for r in rounds])
            out["http"]["nearest_vs_health"] = median([r["nearest_vs_health"] for r in rounds])
            out["http"]["locate_vs_health_range"] = [
                min(r["locate_vs_health"] for r in rounds),
                max(r["locate_vs_health"] for r in rounds),
            ]
            out["http"]["nearest_vs_health_range"] = [
                min(r["nearest_vs_health"] for r in rounds),
                max(r["nearest_vs_health"] for r in rounds),
            ]
            if args.profile:
                py_spy = py_spy_binary(python)
                if py_spy is None:
                    log(f"[{name}] --profile: py-spy not found (pip install py-spy); skipped")
                else:
                    out["profile"] = {
                        mode: profile_run(server, mode, points_file, args, py_spy, workdir)
                        for mode in ("health", "locate", "nearest")
                    }
                    for mode, prof in out["profile"].items():
                        log(
                            f"[{name}] profile {mode}: "
                            + ", ".join(f"{k} {v:.0%}" for k, v in list(prof.get("self_share", {}).items())[:6])
                        )

        if not args.skip_batch:
            reps = []
            agreement = {}
            for rep in range(args.batch_repeats):
                one: dict = {}
                # HTTP: the server's peak RSS during the request, above what it held before.
                before = proc_status(server.pid)
                reset_ok = reset_hwm(server.pid)
                status, payload, seconds = server.request("POST", "/api/v1/grids/locate", body=body)
                after = proc_status(server.pid)
                if status != 200:
                    raise RuntimeError(f"batch POST answered {status}: {payload[:500]!r}")
                one["http"] = {
                    "seconds": seconds,
                    "request_mb": len(body) / 1e6,
                    "response_mb": len(payload) / 1e6,
                    "server_rss_before_mb": before.get("VmRSS", 0) / 1024,
                    "server_peak_rss_mb": after.get("VmHWM", 0) / 1024,
                    "server_peak_delta_mb": (after.get("VmHWM", 0) - before.get("VmRSS", 0)) / 1024,
                    "hwm_reset": reset_ok,
                }
                answer = json.loads(payload)
                http_codes = np.array([c or "" for c in answer["grids"]], dtype="U")
                del answer, payload
                inproc_npy, sjoin_npy = workdir / f"{name}-inproc.npy", workdir / f"{name}-sjoin.npy"
                one["inproc"] = run_inproc(python, ["wangge", url, str(data_npz), str(inproc_npy)])
                one["sjoin"] = run_inproc(python, ["sjoin", str(data_npz), str(sjoin_npy)])
                one["http_vs_sjoin"] = one["sjoin"]["seconds"] / one["http"]["seconds"]
                one["inproc_vs_sjoin"] = one["sjoin"]["seconds"] / one["inproc"]["seconds"]
                log(
                    f"[{name}] batch {rep + 1}/{args.batch_repeats}: HTTP {one['http']['seconds']:.2f} s, "
                    f"in-process {one['inproc']['seconds']:.2f} s, sjoin {one['sjoin']['seconds']:.2f} s; "
                    f"server peak +{one['http']['server_peak_delta_mb']:.0f} MB"
                )
                reps.append(one)
                if rep == 0:
                    inproc_codes, sjoin_codes = np.load(inproc_npy), np.load(sjoin_npy)
                    agreement["http_vs_inproc"] = compare(http_codes, inproc_codes)
                    agreement["inproc_vs_sjoin"] = compare(inproc_codes, sjoin_codes)
                    differ = np.flatnonzero(inproc_codes != sjoin_codes)
                    agreement["inproc_vs_sjoin"]["of_which_on_a_boundary"] = on_edge_count(data, differ)
                    agreement["points_outside_every_grid"] = int((inproc_codes == "").sum())
            out["batch_runs"] = reps
            out["batch"] = {
                "http_s": median([r["http"]["seconds"] for r in reps]),
                "inproc_s": median([r["inproc"]["seconds"] for r in reps]),
                "sjoin_s": median([r["sjoin"]["seconds"] for r in reps]),
                "http_vs_sjoin": median([r["http_vs_sjoin"] for r in reps]),
                "inproc_vs_sjoin": median([r["inproc_vs_sjoin"] for r in reps]),
                "server_peak_delta_mb": max(r["http"]["server_peak_delta_mb"] for r in reps),
                "server_peak_rss_mb": max(r["http"]["server_peak_rss_mb"] for r in reps),
                "inproc_peak_delta_mb": max(r["inproc"]["peak_delta_mb"] for r in reps),
                "sjoin_peak_delta_mb": max(r["sjoin"]["peak_delta_mb"] for r in reps),
                "index_build_s": median([r["inproc"]["index_build_s"] for r in reps]),
                "sjoin_gdf_build_s": median([r["sjoin"]["gdf_build_s"] for r in reps]),
                "sjoin_with_build_s": median([r["sjoin"]["seconds"] + r["sjoin"]["gdf_build_s"] for r in reps]),
                "agreement": agreement,
            }
        out["server_rss_mb"] = {
            "at_start": rss0.get("VmRSS", 0) / 1024,
            "at_end": proc_status(server.pid).get("VmRSS", 0) / 1024,
        }
    finally:
        server.stop()
    return out


# ----------------------------------------------------------------------------- report


def verdict(value, target) -> str:
    if value is None:
        return "not run"
    return "PASS" if value >= target else "FAIL"


def fmt(x, spec=".0f", none="—"):
    return none if x is None else format(x, spec)


def markdown(result: dict) -> str:
    m = result["machine"]
    a = result["args"]
    lines = [
        SECTION_START,
        "## Spatial API: locate, nearest responders, batch locate (issue 3)",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, Linux {m['kernel']}, Python {m['python']}; "
        f"run {m['date']} on commit `{m['git_commit']}`{' with uncommitted changes' if m['git_dirty'] else ''}. "
        f"Load average at start {result['loadavg_start']}, at end {result['loadavg_end']} (the machine is shared: "
        "other work ran at the same time, so compare the ratios, which pair each run with a baseline taken "
        "just before it, not the absolute figures).",
        "",
        f"Data (seed {result['params']['seed']}): {result['params']['grids']:,} Voronoi grid polygons over 0.4° × 0.4° around "
        f"113.05 E, 23.70 N, {result['params']['responders']:,} responders, {result['params']['points']:,} query points "
        f"(about 2 % of them just outside the grids); HTTP runs cycle through {result['params']['http_points']:,} of the points, "
        f"all inside a grid. wrk `-t{a['threads']} -c{a['connections']} -d{a['duration']}s`, {a['rounds']} interleaved rounds "
        f"(health, locate, nearest); ratios are the median over the rounds of endpoint / the health run just before it. "
        f"One server process (`wangge serve`, 1 worker): on 2 cores that leaves the other to wrk. Batch: median of "
        f"{a['batch_repeats']} runs, each method in a fresh process.",
        "",
    ]
    for db in result["databases"]:
        name = {"spatialite": "SpatiaLite", "postgis": "PostGIS"}[db["database"]]
        lines += [f"### {name}", ""]
        if "error" in db:
            lines += [f"**Not measured**: {db['error']}", ""]
            continue
        h = db.get("http")
        b = db.get("batch")
        lines += [
            "| figure | wangge | baseline | ratio | target | result |",
            "|---|---|---|---|---|---|",
        ]
        if h:
            base = h["health"]
            lines.append(
                f"| single locate `GET /api/v1/grids/locate`, 32 connections | {fmt(h['locate']['rps'])} req/s, p50 {fmt(h['locate']['p50_ms'], '.1f')} ms, "
                f"p99 {fmt(h['locate']['p99_ms'], '.1f')} ms | health {fmt(base['rps'])} req/s, p50 {fmt(base['p50_ms'], '.1f')} ms, p99 {fmt(base['p99_ms'], '.1f')} ms "
                f"| {h['locate_vs_health']:.2f} (rounds {h['locate_vs_health_range'][0]:.2f}–{h['locate_vs_health_range'][1]:.2f}) | ≥ 0.70 | "
                f"**{verdict(h['locate_vs_health'], TARGETS['locate_vs_health'])}** |"
            )
            lines.append(
                f"| nearest 5 responders `GET /api/v1/responders/nearest?k=5` | {fmt(h['nearest']['rps'])} req/s, p50 {fmt(h['nearest']['p50_ms'], '.1f')} ms, "
                f"p99 {fmt(h['nearest']['p99_ms'], '.1f')} ms | health (same rounds) "
                f"| {h['nearest_vs_health']:.2f} (rounds {h['nearest_vs_health_range'][0]:.2f}–{h['nearest_vs_health_range'][1]:.2f}) | ≥ 0.50 | "
                f"**{verdict(h['nearest_vs_health'], TARGETS['nearest_vs_health'])}** |"
            )
        if b:
            runs = db.get("batch_runs", [])
            inproc_peak = max((r["inproc"]["peak_rss_mb"] for r in runs), default=0.0)
            sjoin_peak = max((r["sjoin"]["peak_rss_mb"] for r in runs), default=0.0)
            lines.append(
                f"| batch locate, 1,000,000 points, `POST /api/v1/grids/locate` | {b['http_s']:.2f} s; server peak +{b['server_peak_delta_mb']:.0f} MB RSS "
                f"(peak {b['server_peak_rss_mb']:.0f} MB) | `geopandas.sjoin` {b['sjoin_s']:.2f} s; peak +{b['sjoin_peak_delta_mb']:.0f} MB (peak {sjoin_peak:.0f} MB) "
                f"| {b['http_vs_sjoin']:.2f}× as fast | ≥ 1.0 | **{verdict(b['http_vs_sjoin'], TARGETS['batch_http_vs_sjoin'])}** |"
            )
            lines.append(
                f"| batch locate in process, `grid_index(...).locate` | {b['inproc_s']:.2f} s; peak +{b['inproc_peak_delta_mb']:.0f} MB (peak {inproc_peak:.0f} MB) "
                f"| `geopandas.sjoin` {b['sjoin_s']:.2f} s | {b['inproc_vs_sjoin']:.2f}× as fast | ≥ 1.0 | "
                f"**{verdict(b['inproc_vs_sjoin'], TARGETS['batch_inproc_vs_sjoin'])}** |"
            )
        lines.append("")
        notes = []
        if h:
            c = db["cold_locate"]
            notes.append(
                f"Cold: on the freshly started server, the first request for each of {c['requests']:,} of the {c['of_points']:,} points "
                f"({c['connections']} connections, a small Python client) ran at {c['rps']:.0f} req/s "
                f"(p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms). The server makes every grid's card as it starts, with its "
                f"indexes; a card is encoded as JSON on its first request. The warm figures above come after that pass."
            )
            bad = {k: h[k]["non_2xx"] + h[k]["socket_errors"] for k in ("health", "locate", "nearest")}
            notes.append(f"Non-2xx answers or socket errors during the measured rounds: {bad}.")
        fr = db.get("first_requests", {})
        if fr:
            notes.append(
                f"`wangge serve` builds its lookup indexes (the grid polygons with their cell raster, the responder positions) as it "
                f"starts, in the background; the first locate and nearest requests, sent as soon as health answered, took "
                f"{fr['locate_builds_grid_index_s']:.1f} s and {fr['nearest_builds_responder_index_s']:.1f} s (they wait for those builds). "
                f"Bulk load of the data: {db['load']['total_s']:.1f} s."
            )
        if b:
            ag = b["agreement"]
            notes.append(
                f"Answers: HTTP batch vs in-process disagree on {ag['http_vs_inproc']['disagree']:,} of {ag['http_vs_inproc']['points']:,} points; "
                f"wangge vs sjoin on {ag['inproc_vs_sjoin']['disagree']:,} ({ag['inproc_vs_sjoin']['of_which_on_a_boundary']:,} of them exactly on a "
                f"grid edge, where `within` finds no grid and wangge picks the smallest code); "
                f"{ag['points_outside_every_grid']:,} points are outside every grid (null in both). "
                f"Grid index build (not in the timing): {b['index_build_s']:.1f} s; GeoDataFrame build for sjoin (not in its timing): {b['sjoin_gdf_build_s']:.1f} s."
            )
            notes.append(
                "Peak memory is the process's resident high-water mark during the call, and + is how far it rose above what the "
                "process held just before. In process, the call's arrays fit in memory that building the index had freed, so "
                'the mark hardly moves; the index itself (polygons, STRtree, cell raster of at most 64 MiB) is in the "before".'
            )
            notes.append(
                "How wangge answers a batch: a raster of small cells (`geo/cells.py`) says which grid wholly covers each cell, so "
                "most points are answered with one array read; the rest (cells a boundary crosses, points near a cell's edge) "
                "go to the exact STRtree test. Over HTTP the body is read straight into numpy by simdjson."
            )
            notes.append(
                f"The sjoin baseline times the join alone, on GeoDataFrames built beforehand (points_from_xy, from_wkb); wangge's times "
                f"include making its point geometries from the raw coordinates. Counting the GeoDataFrame build too, sjoin takes "
                f"{b['sjoin_with_build_s']:.2f} s: HTTP {b['sjoin_with_build_s'] / b['http_s']:.2f}×, in process "
                f"{b['sjoin_with_build_s'] / b['inproc_s']:.2f}× (informative; the target uses the join alone)."
            )
        prof = db.get("profile")
        if prof:
            for mode, pr in prof.items():
                if "self_share" in pr:
                    shares = ", ".join(f"{k} {v:.0%}" for k, v in list(pr["self_share"].items())[:7])
                    top = ", ".join(f"`{k.split(' (')[0]}` {v:.0%}" for k, v in pr["top_inclusive"][:8])
                    notes.append(
                        f"Profile of the server during `{mode}` (py-spy, GIL-holding thread, {pr['samples']:,} samples), self time by "
                        f"package: {shares}. On the stack: {top}."
                    )
        lines += [f"- {n}" for n in notes] + [""]
    lines += [SECTION_END]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    from bench.api_data import Params, cache_path, load_or_make

    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--databases", default="spatialite,postgis", help="comma-separated: spatialite, postgis")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("WANGGE_BENCH_POSTGRES_URL", DEFAULT_PG),
        help="PostGIS database (dropped and made anew)",
    )
    p.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of health, locate, nearest")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--cold-limit", type=int, default=240, help="upper bound in seconds for the cold pass")
    p.add_argument("--batch-repeats", type=int, default=3)
    p.add_argument("--grids", type=int, default=100_000)
    p.add_argument("--responders", type=int, default=100_000)
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument(
        "--quick", action="store_true", help="10,000 grids and responders, 100,000 points, short runs (a smoke test)"
    )
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--skip-batch", action="store_true")
    p.add_argument(
        "--profile", action="store_true", help="also sample the server with py-spy during one extra run per endpoint"
    )
    p.add_argument("--write-md", action="store_true", help="write this benchmark's section of BENCHMARKS.md")
    p.add_argument("--python", default=sys.executable, help="interpreter for the server and the batch processes")
    p.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="measure nothing: print (and with --write-md, write) the section for a saved results file",
    )
    args = p.parse_args(argv)
    if args.render:
        md = markdown(json.loads(Path(args.render).read_text()))
        print(md)
        if args.write_md:
            write_section(SECTION_START, SECTION_END, md, log, "API")
        return 0
    if args.quick:
        args.grids, args.responders, args.points = 10_000, 10_000, 100_000
        args.duration, args.rounds, args.batch_repeats = 3, 1, 1
    if shutil.which("wrk") is None and not args.skip_http:
        log("wrk is not installed (Debian: apt-get install wrk)")
        return 2

    command = "bench/run.sh" + (
        "" if argv is None and len(sys.argv) == 1 else " " + " ".join(argv if argv is not None else sys.argv[1:])
    )
    command = os.environ.get("WANGGE_BENCH_COMMAND", command)
    started = time.monotonic()
    result: dict = {
        "command": command,
        "machine": machine(),
        "loadavg_start": loadavg(),
        "args": vars(args) | {"python": args.python},
    }
    params = Params(
        grids=args.grids, responders=args.responders, points=args.points, http_points=min(10_000, args.points // 10)
    )
    result["params"] = params.__dict__
    data = load_or_make(params, CACHE, log=lambda m: log(m))
    data_npz = cache_path(params, CACHE)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="wangge-bench-api-"))
    points_file = workdir / "points.txt"
    points_file.write_text("".join(f"{data.q_lon[i]:.7f} {data.q_lat[i]:.7f}\n" for i in data.http_idx))
    body = b"" if args.skip_batch else batch_body(data.q_lon, data.q_lat)
    log(f"work directory {workdir}; batch body {len(body) / 1e6:.1f} MB")

    result["databases"] = []
    try:
        for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
            if name == "spatialite":
                url = f"sqlite:///{workdir / 'bench.db'}"
            elif name == "postgis":
                url = args.postgres_url
            else:
                log(f"unknown database {name!r}: use spatialite or postgis")
                return 2
            try:
                result["databases"].append(
                    bench_database(name, url, data, data_npz, points_file, body, args, args.python, workdir)
                )
            except Exception as exc:  # report it, go on with the other database
                log(f"[{name}] FAILED: {exc}")
                result["databases"].append({"database": name, "error": str(exc)})
            finally:
                for suffix in ("", "-wal", "-shm"):
                    (workdir / f"bench.db{suffix}").unlink(missing_ok=True)
    finally:
        for log_file in workdir.glob("server-*.log"):
            shutil.copy(log_file, RESULTS / f"{stamp}-{log_file.name}")
        shutil.rmtree(workdir, ignore_errors=True)

    result["loadavg_end"] = loadavg()
    result["wall_s"] = time.monotonic() - started
    verdicts = {}
    for db in result["databases"]:
        if "error" in db:
            verdicts[db["database"]] = "ERROR"
            continue
        h, b = db.get("http"), db.get("batch")
        verdicts[db["database"]] = {
            "locate_vs_health": verdict(h and h["locate_vs_health"], TARGETS["locate_vs_health"]),
            "nearest_vs_health": verdict(h and h["nearest_vs_health"], TARGETS["nearest_vs_health"]),
            "batch_http_vs_sjoin": verdict(b and b["http_vs_sjoin"], TARGETS["batch_http_vs_sjoin"]),
            "batch_inproc_vs_sjoin": verdict(b and b["inproc_vs_sjoin"], TARGETS["batch_inproc_vs_sjoin"]),
        }
    result["verdicts"] = verdicts
    md = markdown(result)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / f"{stamp}.md").write_text(md + "\n")
    (RESULTS / "latest.md").write_text(md + "\n")
    print(md)
    log(f"results: {RESULTS / (stamp + '.json')} ({result['wall_s'] / 60:.1f} min)")
    if args.write_md and args.quick:
        log("--quick: BENCHMARKS.md left as it is (a smoke test is no result)")
    elif args.write_md:
        write_section(SECTION_START, SECTION_END, md, log, "API")
    return (
        0
        if all(
            isinstance(v, dict) and all(x == "PASS" for x in v.values() if x != "not run") for v in verdicts.values()
        )
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
