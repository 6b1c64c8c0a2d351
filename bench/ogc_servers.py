"""Benchmark: wangge's OGC API beside tipg and pygeoapi, on the same PostGIS tables, in one run.

    python -m bench.ogc_servers                      # 100,000 grids, 1,000,000 buildings, 15 s per run
    python -m bench.ogc_servers --write-md           # and replace this benchmark's section of BENCHMARKS.md
    python -m bench.ogc_servers --grids 10000 --buildings 100000 --duration 5   # a smoke test

1. The city (``data.city.make_city``) in the PostGIS database ``--database`` (default
   ``wangge_obench_city``), migrated with wangge's schema; made once and kept: a later run with
   the same sizes and seed finds it by the database's comment and only brings the schema up to
   date. VACUUM ANALYZE after loading. tipg and pygeoapi read wangge's ``grids`` and
   ``buildings`` tables directly.
2. The competitors, each installed from PyPI into its own virtual environment under
   ``~/.cache/wangge-bench/venvs`` (``WANGGE_BENCH_VENVS``) on first use: tipg 1.6.1 (Python
   3.11) and pygeoapi 0.24.0 (Python 3.12, its PostgreSQL provider, the Starlette app; its
   configuration and OpenAPI document are written to a temporary directory at run time).
3. The same requests for every server, from one seed: 200 bounding boxes inside the city, each
   the square around a random point that holds its 100 nearest features, so ``limit=100`` fills
   a page (about 127 features match); and the WebMercatorQuad tiles that intersect the city
   (200 of them at z14 for buildings; at z10 there are only a few, for grids).
4. The three servers side by side (uvicorn, ``--workers`` processes each), loaded one at a time
   by wrk at 32 connections with ``bench/ogc_wrk.lua`` cycling through the paths, in turn for
   each scenario (the order reversed every other ``--rounds``): a short warm-up, then
   ``--duration`` seconds per scenario and server. Before that, a few requests per scenario are
   checked (status, features per answer) so every server is seen to answer the same question.
5. The floor for tiles: the bare ``ST_AsMVT`` query for the same tiles through psycopg, one
   connection, one tile after another (time per tile), and through pgbench with as many clients
   as wrk has connections (tiles per second: what the database alone can do on this machine).
6. Results: ``bench/results/ogc/`` (JSON), a table on standard output, and with ``--write-md``
   this benchmark's section of ``BENCHMARKS.md``.

Load goes only to 127.0.0.1; every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from api.served import ServerError, free_port, wait_http
from bench.bench_api import loadavg, machine, sample_during, summarise_folded, wrk_json
from bench.report import write_section

ROOT = Path(__file__).absolute().parent.parent
RESULTS = ROOT / "bench" / "results" / "ogc"
WRK_SCRIPT = ROOT / "bench" / "ogc_wrk.lua"
SECTION_START = "<!-- bench:ogc-servers start (written by python -m bench.ogc_servers --write-md) -->"
SECTION_END = "<!-- bench:ogc-servers end -->"
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/wangge_obench_city"
VENVS = Path(os.environ.get("WANGGE_BENCH_VENVS", "~/.cache/wangge-bench/venvs")).expanduser()
SEED = 20261130
PAGE = 100  # features per items request
BBOXES = 200
TILES = 200
COLLECTIONS = ("grids", "buildings")
# Scenario -> (collection, kind, zoom); zoom only for tiles.
SCENARIOS: dict[str, tuple[str, str, int | None]] = {
    "items grids": ("grids", "items", None),
    "items buildings": ("buildings", "items", None),
    "tiles buildings z14": ("buildings", "tiles", 14),
    "tiles grids z10": ("grids", "tiles", 10),
}
# Feature properties in each tile, for the floor query and for tipg (which otherwise sends
# every column): the table's own columns for what wangge's tiles carry (wangge looks up the
# community's code and the grid's code where these give ids).
TILE_PROPERTIES = {"grids": ("code", "name", "community_id"), "buildings": ("code", "name", "kind", "grid_id")}
TILE_EXTENT, TILE_BUFFER = 4096, 64  # as wangge's tiles (geo/tiles/matrix.py)

TARGETS = {  # wangge's requests/s over the competitor's, at least
    ("items", "tipg"): 1.0,
    ("items", "pygeoapi"): 3.0,
    ("tiles", "tipg"): 1.0,
}


@dataclass(frozen=True)
class Competitor:
    name: str
    version: str
    python: str  # the interpreter its virtual environment is made with
    packages: tuple[str, ...]


COMPETITORS = {
    "tipg": Competitor("tipg", "1.6.1", "/root/.pyenv/versions/3.11.7/bin/python", ("tipg==1.6.1", "uvicorn")),
    "pygeoapi": Competitor(
        "pygeoapi",
        "0.24.0",
        "/root/.pyenv/versions/3.12.1/bin/python",
        # Its PostgreSQL provider needs SQLAlchemy, GeoAlchemy2 and a psycopg2 driver; its
        # Starlette app, Starlette.
        ("pygeoapi==0.24.0", "psycopg2-binary", "sqlalchemy", "geoalchemy2", "starlette", "uvicorn"),
    ),
}


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (no driver name)."""
    return url.replace("postgresql+psycopg://", "postgresql://").replace("postgresql+psycopg2://", "postgresql://")


# ----------------------------------------------------------------------------- the city


def city_marker(grids: int, buildings: int, seed: int) -> str:
    return f"wangge-bench city grids={grids} buildings={buildings} seed={seed}"


def ensure_city(url: str, grids: int, buildings: int, seed: int) -> dict:
    """The city in the database at ``url``: made (and VACUUM ANALYZEd) unless a run with the same
    sizes and seed made it before; the schema is brought up to date either way."""
    import psycopg
    from sqlalchemy.engine import make_url

    from bench.api_load import fresh_postgres
    from geo.db import schema
    from geo.db.engine import make_engine

    name = make_url(url).database
    marker = city_marker(grids, buildings, seed)
    comment = None
    try:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            comment = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
            ).fetchone()[0]
    except psycopg.OperationalError:
        pass
    t = time.perf_counter()
    made = comment != marker
    engine = make_engine(url)
    try:
        if made:
            from data.city import make_city

            log(f"city: making {grids:,} grids and {buildings:,} buildings in {name}")
            engine.dispose()
            fresh_postgres(url, log=log)
            engine = make_engine(url)
            schema.upgrade(engine)
            make_city(url, grids=grids, buildings=buildings, seed=seed, log=log)
        else:
            schema.upgrade(engine)  # the branch may have brought migrations since the city was made
    finally:
        engine.dispose()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        if made:
            conn.execute("VACUUM ANALYZE")
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COLLECTIONS}
        box = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM grids) s"
        ).fetchone()
    log(f"city: {'made' if made else 'cached'} in {name}: {counts} ({time.perf_counter() - t:.1f} s)")
    return {
        "database": name,
        "made": made,
        "seconds": round(time.perf_counter() - t, 1),
        "counts": counts,
        "box": list(box),
    }


# ----------------------------------------------------------------------------- the requests


def item_bboxes(url: str, table: str, n: int, seed: int) -> list[tuple[float, float, float, float]]:
    """``n`` squares inside the city, each around a random point and just large enough to hold its
    ``PAGE`` nearest features (by the GiST index's nearest-neighbour order)."""
    import psycopg

    rng = np.random.default_rng([seed, len(table)])
    out = []
    with psycopg.connect(libpq(url)) as conn:
        x0, y0, x1, y1 = conn.execute(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM {table}) s"
        ).fetchone()
        for lon, lat in rng.uniform([x0, y0], [x1, y1], size=(n, 2)):
            d = conn.execute(
                f"SELECT geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) FROM {table} "
                f"ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) OFFSET {PAGE - 1} LIMIT 1",
                (lon, lat, lon, lat),
            ).fetchone()[0]
            d = max(d * 1.0001, 1e-6)
            out.append(tuple(round(v, 6) for v in (lon - d, lat - d, lon + d, lat + d)))
    return out


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def city_tiles(box: list[float], z: int, n: int, seed: int) -> list[tuple[int, int, int]]:
    """Up to ``n`` of the tiles at zoom ``z`` that intersect the city's box, in a random order."""
    xa, ya = tile_xy(box[0], box[3], z)  # north-west
    xb, yb = tile_xy(box[2], box[1], z)  # south-east
    tiles = [(z, x, y) for x in range(xa, xb + 1) for y in range(ya, yb + 1)]
    rng = np.random.default_rng([seed, z])
    pick = rng.permutation(len(tiles))[:n]
    return [tiles[i] for i in pick]


@dataclass
class Workload:
    bboxes: dict[str, list[tuple[float, float, float, float]]]
    tiles: dict[int, list[tuple[int, int, int]]]


def make_workload(url: str, box: list[float], seed: int) -> Workload:
    t = time.perf_counter()
    bboxes = {c: item_bboxes(url, c, BBOXES, seed) for c in COLLECTIONS}
    zooms = sorted({z for _, kind, z in SCENARIOS.values() if kind == "tiles" and z is not None})
    tiles = {z: city_tiles(box, z, TILES, seed) for z in zooms}
    log(
        f"requests: {BBOXES} bboxes per collection, tiles {', '.join(f'z{z}: {len(v)}' for z, v in tiles.items())} "
        f"({time.perf_counter() - t:.1f} s)"
    )
    return Workload(bboxes, tiles)


def bbox_text(b: tuple[float, float, float, float]) -> str:
    return ",".join(f"{v:.6f}" for v in b)


# ----------------------------------------------------------------------------- servers


@dataclass
class ServerSpec:
    name: str
    version: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    workers: int
    paths: dict[str, list[str]] = field(default_factory=dict)  # scenario -> request paths


class Running:
    """A server in a child process on 127.0.0.1, its output in a log file."""

    def __init__(self, spec: ServerSpec, port: int, log_path: Path):
        self.spec, self.port, self.log_path = spec, port, log_path
        self.base = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            spec.command,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,  # its workers go with it on stop()
        )

    def wait_ready(self, timeout_s: float = 180) -> float:
        try:
            return wait_http(
                self.base + self.spec.ready_path, self.proc, timeout_s=timeout_s, interval_s=0.25, request_timeout_s=5
            )
        except ServerError as e:
            self.stop()
            raise RuntimeError(f"{self.spec.name}: {e}; see {self.log_path}: {self.tail()}") from None

    def tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def get(self, path: str, timeout: float = 60) -> tuple[int, bytes, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheader("content-type") or ""
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)  # uvicorn's graceful shutdown, all workers
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


def ensure_venv(c: Competitor) -> Path:
    """The competitor's virtual environment, made and installed from PyPI on first use."""
    venv = VENVS / c.name
    stamp = venv / "wangge-bench-packages.txt"
    wanted = "\n".join(c.packages)
    if stamp.exists() and stamp.read_text() == wanted and (venv / "bin" / "python").exists():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    VENVS.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    log(f"{c.name}: installing {' '.join(c.packages)} into {venv}")
    subprocess.run([c.python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *c.packages], capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"{c.name}: pip install failed: {pip.stderr[-2000:]}")
    stamp.write_text(wanted)
    log(f"{c.name}: installed in {time.perf_counter() - t:.0f} s")
    return venv


def venv_versions(venv: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, *names], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def items_paths(prefix: str, collection_id: str, bboxes, extra: dict[str, str] | None = None) -> list[str]:
    return [
        f"{prefix}/collections/{collection_id}/items?"
        + urlencode({"limit": PAGE, "bbox": bbox_text(b), **(extra or {})})
        for b in bboxes
    ]


def tiles_paths(prefix: str, collection_id: str, tiles, query: str = "") -> list[str]:
    return [f"{prefix}/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{x}/{y}{query}" for z, x, y in tiles]


def wangge_spec(url: str, workers: int, w: Workload) -> ServerSpec:
    from importlib.metadata import version

    spec = ServerSpec(
        name="wangge",
        version=f"wangge {version('wangge')} ({machine_commit()}), uvicorn {version('uvicorn')}",
        command=[sys.executable, "-m", "api.cli", "serve", "--workers", str(workers), "--port", "{port}"],
        # Tiles rendered by PostGIS on every request, as tipg's: no tile cache on disk (its
        # default on PostGIS, said here so that a changed default cannot turn it on unnoticed).
        env={"WANGGE_DATABASE_URL": url, "WANGGE_VECTOR_TILE_CACHE": "off"},
        # Ready: its lookup indexes are built (a background thread that would otherwise take
        # the CPU during the first runs).
        ready_path="/api/v1/health/ready",
        workers=workers,
    )
    for scenario, (coll, kind, z) in SCENARIOS.items():
        if kind == "items":
            spec.paths[scenario] = items_paths("/ogc", coll, w.bboxes[coll])
        else:
            spec.paths[scenario] = tiles_paths("/ogc", coll, w.tiles[z])
    return spec


def machine_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def tipg_spec(url: str, workers: int, w: Workload) -> ServerSpec:
    venv = ensure_venv(COMPETITORS["tipg"])
    v = venv_versions(venv, ("tipg", "uvicorn"))
    spec = ServerSpec(
        name="tipg",
        version=f"tipg {v['tipg']}, uvicorn {v['uvicorn']}",
        command=[
            str(venv / "bin" / "uvicorn"),
            "tipg.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
        ],
        env={
            "DATABASE_URL": libpq(url),
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": json.dumps([f"public.{c}" for c in COLLECTIONS]),
            "TIPG_DB_FUNCTIONS": "[]",
            # Buildings have a point and an optional footprint; serve the point, as wangge does.
            "TIPG_TABLE_CONFIG__public_buildings__GEOMCOL": "geom",
            "TIPG_DEFAULT_FEATURES_LIMIT": "10",
            "TIPG_MAX_FEATURES_PER_QUERY": "10000",
            # Its default cap of 10,000 features would cut the z10 grid tiles short.
            "TIPG_MAX_FEATURES_PER_TILE": "1000000",
            "TIPG_TILE_BUFFER": str(TILE_BUFFER),
            "TIPG_TILE_RESOLUTION": str(TILE_EXTENT),
        },
        ready_path="/collections",
        workers=workers,
    )
    for scenario, (coll, kind, z) in SCENARIOS.items():
        if kind == "items":
            spec.paths[scenario] = items_paths("", f"public.{coll}", w.bboxes[coll])
        else:
            props = urlencode({"properties": ",".join(TILE_PROPERTIES[coll])})
            spec.paths[scenario] = tiles_paths("", f"public.{coll}", w.tiles[z], "?" + props)
    return spec


def pygeoapi_spec(url: str, workers: int, w: Workload, box: list[float], tmp: Path) -> ServerSpec:
    from sqlalchemy.engine import make_url

    venv = ensure_venv(COMPETITORS["pygeoapi"])
    v = venv_versions(venv, ("pygeoapi", "uvicorn"))
    u = make_url(url)
    config, openapi = tmp / "pygeoapi.config.yml", tmp / "pygeoapi.openapi.yml"
    resources = {
        coll: {
            "type": "collection",
            "title": coll,
            "description": f"wangge {coll}",
            "keywords": [coll],
            "extents": {"spatial": {"bbox": box, "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [
                {
                    "type": "feature",
                    "name": "PostgreSQL",
                    "data": {
                        "host": u.host or "127.0.0.1",
                        "port": u.port or 5432,
                        "dbname": u.database,
                        "user": u.username or "postgres",
                        "password": u.password or "",
                        "search_path": ["public"],
                    },
                    "id_field": "id",
                    "table": coll,
                    "geom_field": "geom",
                }
            ],
        }
        for coll in COLLECTIONS
    }
    doc = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 0},
            "url": "http://127.0.0.1",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "http://127.0.0.1/{z}/{x}/{y}.png", "attribution": "none"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "wangge benchmark",
                "description": "wangge's tables",
                "keywords": ["bench"],
                "keywords_type": "theme",
                "terms_of_service": "none",
                "url": "http://127.0.0.1",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "wangge", "url": "http://127.0.0.1"},
            "contact": {"name": "wangge"},
        },
        "resources": resources,
    }
    # JSON is YAML: no YAML writer needed on this side.
    config.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(venv / "bin" / "pygeoapi"), "openapi", "generate", str(config), "--output-file", str(openapi)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    spec = ServerSpec(
        name="pygeoapi",
        version=f"pygeoapi {v['pygeoapi']} (Starlette app), uvicorn {v['uvicorn']}",
        command=[
            str(venv / "bin" / "uvicorn"),
            "pygeoapi.starlette_app:APP",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
        ],
        env=env,
        ready_path="/conformance?f=json",
        workers=workers,
    )
    for scenario, (coll, kind, _z) in SCENARIOS.items():
        if kind == "items":  # its PostgreSQL provider serves features only (no tiles)
            spec.paths[scenario] = items_paths("", coll, w.bboxes[coll], {"f": "json"})
    return spec


# ----------------------------------------------------------------------------- measuring


def check_answers(server: Running, paths: list[str], kind: str, n: int = 5) -> dict:
    """Ask ``n`` of the paths once: every answer 200, and what it holds (features, bytes)."""
    import mapbox_vector_tile

    features, sizes = [], []
    for path in paths[:n]:
        status, body, ctype = server.get(path)
        if status != 200:
            raise RuntimeError(f"{server.spec.name}: GET {path} answered {status}: {body[:300]!r}")
        sizes.append(len(body))
        if kind == "items":
            features.append(len(json.loads(body)["features"]))
        else:
            layers = mapbox_vector_tile.decode(body) if body else {}
            features.append(sum(len(layer["features"]) for layer in layers.values()))
    return {"features": features, "mean_bytes": int(np.mean(sizes))}


def run_wrk(base: str, paths_file: Path, duration_s: int, threads: int, connections: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s", "--latency"]
    r = wrk_json([*cmd, "-s", str(WRK_SCRIPT), base, "--", str(paths_file)], duration_s + 120)
    seconds = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "rps": r["requests"] / seconds if seconds else 0.0,
        "p50_ms": r["latency_us"]["p50"] / 1000,
        "p99_ms": r["latency_us"]["p99"] / 1000,
        "non_2xx": r["errors"]["status"],
        "socket_errors": r["errors"]["connect"] + r["errors"]["read"] + r["errors"]["write"] + r["errors"]["timeout"],
        "loadavg": loadavg(),
    }


def start(spec: ServerSpec, tmp: Path) -> Running:
    port = free_port()
    spec.command = [part.replace("{port}", str(port)) for part in spec.command]
    server = Running(spec, port, tmp / f"{spec.name}.log")
    startup = server.wait_ready()
    for _ in range(2 * spec.workers):  # each worker (as far as asking again and again reaches them)
        startup += server.wait_ready()
    log(f"{spec.name}: ready on {server.base} in {startup:.1f} s")
    return server


def measure(servers: list[Running], args, tmp: Path, notes: list[str]) -> dict[str, dict]:
    """Every scenario, each server in turn (the order reversed every other round), so that the
    servers compared in a scenario are measured minutes apart at most; the median of the rounds."""
    out: dict[str, dict] = {
        s.spec.name: {"version": s.spec.version, "workers": s.spec.workers, "scenarios": {}} for s in servers
    }
    runs: dict[tuple[str, str], list[dict]] = {}
    for server in servers:
        for scenario, paths in list(server.spec.paths.items()):
            try:
                checked = check_answers(server, paths, SCENARIOS[scenario][1])
            except RuntimeError as e:  # not measured; the others still are
                log(f"{server.spec.name} {scenario}: not measured: {e}")
                notes.append(f"{server.spec.name} {scenario}: not measured: {str(e)[:300]}")
                del server.spec.paths[scenario]
                continue
            out[server.spec.name]["scenarios"][scenario] = {"checked": checked}
    for round_no in range(args.rounds):
        for scenario in SCENARIOS:
            order = servers if round_no % 2 == 0 else servers[::-1]
            for server in order:
                paths = server.spec.paths.get(scenario)
                if not paths:
                    continue
                paths_file = tmp / f"{server.spec.name}-{scenario.replace(' ', '-')}.txt"
                paths_file.write_text("\n".join(paths) + "\n")
                run_wrk(server.base, paths_file, args.warmup, args.threads, args.connections)
                row = run_wrk(server.base, paths_file, args.duration, args.threads, args.connections)
                runs.setdefault((server.spec.name, scenario), []).append(row)
                log(
                    f"{server.spec.name} {scenario}: {row['rps']:.1f} req/s, p50 {row['p50_ms']:.1f} ms, "
                    f"p99 {row['p99_ms']:.1f} ms ({row['non_2xx']} non-2xx, {row['socket_errors']} socket errors)"
                )
    for (name, scenario), rows in runs.items():
        row = out[name]["scenarios"][scenario]
        for key in ("rps", "p50_ms", "p99_ms"):
            row[key] = float(np.median([r[key] for r in rows]))
        row["requests"] = sum(r["requests"] for r in rows)
        row["non_2xx"] = sum(r["non_2xx"] for r in rows)
        row["socket_errors"] = sum(r["socket_errors"] for r in rows)
        row["rounds"] = rows
    return out


def mvt_sql(table: str, props: tuple[str, ...], z: int, x: int, y: int) -> str:
    """The bare tile query: the features whose geometry meets the tile (with its buffer), in
    tile coordinates, as one MVT layer named after the table."""
    cols = ", ".join(f"t.{p}" for p in ("id", *props))
    margin = TILE_BUFFER / TILE_EXTENT
    return (
        f"WITH b AS (SELECT ST_TileEnvelope({z}, {x}, {y}) AS e, ST_TileEnvelope({z}, {x}, {y}, margin => {margin}) AS m), "
        f"f AS (SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), b.e, {TILE_EXTENT}, {TILE_BUFFER}, true) AS geom, {cols} "
        f"FROM {table} t, b WHERE t.geom && ST_Transform(b.m, 4326)) "
        f"SELECT ST_AsMVT(f, '{table}', {TILE_EXTENT}, 'geom') FROM f"
    )


PY_SPY = Competitor("py-spy", "", sys.executable, ("py-spy",))


def profile_wangge(server: Running, args, tmp: Path) -> dict[str, dict]:
    """Each scenario of wangge's again under the same load while py-spy samples the server (only
    the thread holding the GIL): where its Python time goes, and how much of the run the GIL was
    held at all (the rest: waiting on PostgreSQL or for requests)."""
    py_spy = str(ensure_venv(PY_SPY) / "bin" / "py-spy")
    out = {}
    for scenario, paths in server.spec.paths.items():
        paths_file = tmp / f"profile-{scenario.replace(' ', '-')}.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        folded = tmp / f"profile-{scenario.replace(' ', '-')}.folded"
        load = functools.partial(run_wrk, server.base, paths_file, args.duration + 4, args.threads, args.connections)
        row = sample_during(py_spy, server.proc.pid, args.duration, folded, load, subprocesses=server.spec.workers > 1)
        if not folded.exists():
            out[scenario] = {"error": "py-spy wrote nothing (is ptrace allowed?)"}
            continue
        summary = summarise_folded(folded)
        summary["gil_held_share"] = round(summary["samples"] / (250 * args.duration), 3)  # py-spy -r 250
        summary["rps_while_profiled"] = (row or {}).get("rps")
        out[scenario] = summary
        top = ", ".join(f"{name} {share:.0%}" for name, share in summary["top_inclusive"][:6])
        log(f"profile wangge {scenario}: GIL held {summary['gil_held_share']:.0%} of the time; {top}")
    return out


# PostgreSQL's default plans a tile of a few thousand rows with a parallel worker, which on a
# loaded 2-core machine costs more than it saves; the floor is measured both ways.
NO_PARALLEL = "-c max_parallel_workers_per_gather=0"


def floor_sequential(url: str, table: str, tiles: list[tuple[int, int, int]], parallel: bool = True) -> dict:
    """Each tile's bare query once to warm the cache, then once more timed, on one connection."""
    import psycopg

    props = TILE_PROPERTIES[table]
    times, sizes = [], []
    with psycopg.connect(libpq(url), options="" if parallel else NO_PARALLEL) as conn:
        for z, x, y in tiles:
            conn.execute(mvt_sql(table, props, z, x, y)).fetchone()
        for z, x, y in tiles:
            t = time.perf_counter()
            body = conn.execute(mvt_sql(table, props, z, x, y)).fetchone()[0]
            times.append(time.perf_counter() - t)
            sizes.append(len(body or b""))
    ms = np.array(times) * 1000
    return {
        "tiles": len(tiles),
        "parallel": parallel,
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "one_connection_rps": 1000.0 / float(ms.mean()),
        "mean_bytes": int(np.mean(sizes)),
    }


def floor_pgbench(
    url: str, table: str, tiles: list[tuple[int, int, int]], duration_s: int, clients: int, tmp: Path
) -> dict:
    """pgbench running the bare query for a random one of the tiles, ``clients`` at once, no
    parallel workers (the clients keep the cores busy)."""
    from sqlalchemy.engine import make_url

    props = TILE_PROPERTIES[table]
    xs = ",".join(str(x) for _, x, _ in tiles)
    ys = ",".join(str(y) for _, _, y in tiles)
    z = tiles[0][0]
    sql = mvt_sql(table, props, z, 0, 0).replace(f"{z}, 0, 0", f"{z}, (ARRAY[{xs}])[:i], (ARRAY[{ys}])[:i]")
    script = tmp / f"pgbench-{table}-z{z}.sql"
    script.write_text(f"\\set i random(1, {len(tiles)})\nSELECT length(({sql}));\n")
    u = make_url(url)
    cmd = ["pgbench", "-n", "-f", str(script), "-c", str(clients), "-j", "2", "-T", str(duration_s)]
    cmd += ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres", u.database or ""]
    env = {**os.environ, "PGOPTIONS": NO_PARALLEL}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 120, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {proc.stderr[-1500:]}")
    tps = lat = None
    for line in proc.stdout.splitlines():
        if line.startswith("tps"):
            tps = float(line.split("=")[1].split()[0])
        elif line.startswith("latency average"):
            lat = float(line.split("=")[1].split()[0])
    return {"clients": clients, "tps": tps, "latency_avg_ms": lat}


# ----------------------------------------------------------------------------- report


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def verdicts(result: dict) -> list[dict]:
    out = []
    servers = result["servers"]
    wangge = servers.get("wangge", {}).get("scenarios", {})
    for scenario, (_coll, kind, _z) in SCENARIOS.items():
        for (k, other), target in TARGETS.items():
            if k != kind or scenario not in servers.get(other, {}).get("scenarios", {}):
                continue
            r = ratio(wangge.get(scenario, {}).get("rps"), servers[other]["scenarios"][scenario]["rps"])
            out.append(
                {
                    "scenario": scenario,
                    "versus": other,
                    "target": target,
                    "ratio": r,
                    "verdict": "—" if r is None else ("PASS" if r >= target else "MISS"),
                }
            )
    return out


def fmt(x, spec=".0f") -> str:
    return "—" if x is None else format(x, spec)


def markdown(result: dict) -> str:
    a, m = result["args"], result["machine"]
    names = list(result["servers"])
    lines = [
        SECTION_START,
        "## OGC API: wangge beside tipg and pygeoapi",
        "",
        f"`{result['command']}` on {m['date'][:10]}: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, Python "
        f"{m['python']}, PostgreSQL/PostGIS on the same machine, wrk `-t{a['threads']} -c{a['connections']} "
        f"-d{a['duration']}s` after a {a['warmup']} s warm-up; the three servers run side by side and are "
        f"loaded one at a time, in turn for each scenario (the order reversed every other round), median of "
        f"{a['rounds']} round(s), {result['seconds'] // 60} minutes in all. **The machine is shared and noisy: these "
        f"figures come from a run while other work shared its 2 cores** (load average "
        f"{(result['loadavg_start'] or [0.0])[0]:.1f} at the start, {(result['loadavg_end'] or [0.0])[0]:.1f} at the end), so compare "
        f"the ratios (measured minutes apart), not the absolute figures; a rerun moves them by tens of percent.",
        "",
        f"Data: {result['city']['counts']['grids']:,} grid polygons and {result['city']['counts']['buildings']:,} "
        f"building points (`data.city.make_city`, seed {a['seed']}), one PostGIS database "
        f"(`{result['city']['database']}`, wangge's schema, VACUUM ANALYZE); tipg and pygeoapi read wangge's "
        f"`grids` and `buildings` tables directly. Items: `limit={PAGE}` and one of {BBOXES} bboxes per "
        f"collection (each the square around a random point that holds its {PAGE} nearest features, so every "
        f"page is full), GeoJSON. Tiles: WebMercatorQuad, {len(result['tiles'].get('14', []))} tiles at z14 "
        f"(buildings) and the {len(result['tiles'].get('10', []))} tiles at z10 (grids) that intersect the city, "
        f"extent {TILE_EXTENT}, buffer {TILE_BUFFER}; properties: wangge's own (grids: id, code, name, "
        f"community_code; buildings: id, code, name, kind, grid, the codes looked up in the related tables), "
        f"tipg and the floor the table's columns for them "
        f"({'; '.join(c + ': id, ' + ', '.join(p) for c, p in TILE_PROPERTIES.items())}; tipg through "
        f"`properties=`, its cap of 10,000 features per tile lifted); wangge's tile cache off (as by default "
        f"on PostGIS): every tile is rendered by PostGIS on request, by all. pygeoapi's PostgreSQL provider "
        f"serves no tiles.",
        "",
        "| server | version | workers |",
        "|---|---|---|",
    ]
    for n in names:
        s = result["servers"][n]
        lines.append(f"| {n} | {s['version']} | {s['workers']} (uvicorn) |")
    lines += [
        "",
        "| scenario | server | req/s | p50 ms | p99 ms | features per answer (checked) | errors |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for scenario in SCENARIOS:
        for n in names:
            row = result["servers"][n]["scenarios"].get(scenario)
            if row is None:
                continue
            errs = row["non_2xx"] + row["socket_errors"]
            feats = row["checked"]["features"]
            lines.append(
                f"| {scenario} | {n} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                f"{min(feats)}–{max(feats)} | {errs} |"
            )
    lines += [
        "",
        "Floor for tiles: the bare `ST_AsMVT` query for the same tiles and properties, no HTTP, after "
        "the server runs. One connection, one tile after another (each tile once to warm, once timed), "
        "with PostgreSQL's default plan (a parallel worker for the bigger tiles) and with "
        "`max_parallel_workers_per_gather=0`; and pgbench with as many clients as wrk has connections, no "
        "parallel workers (tiles/s: what the database alone does for the same stream of tiles).",
        "",
        "| tiles | default plan: mean / p50 / p99 ms | no parallel worker: mean / p50 / p99 ms | pgbench tiles/s |",
        "|---|---:|---:|---:|",
    ]
    for scenario, fl in result["floor"].items():
        seq, nop, pgb = fl["sequential"], fl["sequential_no_parallel"], fl.get("pgbench") or {}
        lines.append(
            f"| {scenario} | {seq['mean_ms']:.1f} / {seq['p50_ms']:.1f} / {seq['p99_ms']:.1f} | "
            f"{nop['mean_ms']:.1f} / {nop['p50_ms']:.1f} / {nop['p99_ms']:.1f} | "
            f"{fmt(pgb.get('tps'))} ({pgb.get('clients', '—')} clients) |"
        )
    lines += ["", "| target | ratio (req/s) | verdict |", "|---|---:|---|"]
    for v in result["verdicts"]:
        lines.append(
            f"| {v['scenario']}: wangge ≥ {v['target']:g}× {v['versus']} | {fmt(v['ratio'], '.2f')}× | {v['verdict']} |"
        )
    if result.get("profile"):
        lines += [
            "",
            "Where wangge's time goes (`--profile`: py-spy on the server, only the thread holding the GIL, "
            "under the same load; share of samples with the function on the stack):",
            "",
            "| scenario | GIL held | functions |",
            "|---|---:|---|",
        ]
        for scenario, prof in result["profile"].items():
            if "error" in prof:
                lines.append(f"| {scenario} | — | {prof['error']} |")
                continue
            top = ", ".join(f"`{name}` {share:.0%}" for name, share in prof["top_inclusive"][:8])
            kinds = ", ".join(f"{k} {v:.0%}" for k, v in list(prof["self_share"].items())[:4])
            lines.append(f"| {scenario} | {prof['gil_held_share']:.0%} | {top}; by own time: {kinds} |")
    if result.get("notes"):
        lines += [""] + [f"- {note}" for note in result["notes"]]
    lines += ["", SECTION_END]
    return "\n".join(lines)


def table(result: dict) -> str:
    rows = [f"{'scenario':<22} {'server':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  features"]
    for scenario in SCENARIOS:
        for n, s in result["servers"].items():
            row = s["scenarios"].get(scenario)
            if row:
                rows.append(
                    f"{scenario:<22} {n:<9} {row['rps']:>8.0f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}  {row['checked']['features']}"
                )
    for scenario, fl in result["floor"].items():
        for key, label in (("sequential", "floor"), ("sequential_no_parallel", "floor-np")):
            seq = fl[key]
            rows.append(
                f"{scenario:<22} {label:<9} {seq['one_connection_rps']:>8.0f} {seq['p50_ms']:>8.1f} {seq['p99_ms']:>8.1f}"
                "  (one connection)"
            )
        rows.append(f"{scenario:<22} {'pgbench':<9} {fmt((fl.get('pgbench') or {}).get('tps')):>8}")
    for v in result["verdicts"]:
        rows.append(
            f"{v['scenario']}: wangge/{v['versus']} = {fmt(v['ratio'], '.2f')} (target {v['target']:g}) {v['verdict']}"
        )
    return "\n".join(rows)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", default=os.environ.get("WANGGE_BENCH_OGC_DATABASE", DEFAULT_DB))
    p.add_argument("--grids", type=int, default=100_000)
    p.add_argument("--buildings", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    p.add_argument("--warmup", type=int, default=3, help="seconds of wrk before each measured run")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per server")
    p.add_argument("--rounds", type=int, default=1, help="measure every scenario this many times (median)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--servers", default="tipg,pygeoapi,wangge", help="comma-separated: which servers to run")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    p.add_argument(
        "--profile",
        action="store_true",
        help="then sample wangge with py-spy under each scenario's load (installed into its own venv)",
    )
    p.add_argument("--write-md", action="store_true", help="replace this benchmark's section of BENCHMARKS.md")
    args = p.parse_args(argv)
    chosen = [x.strip() for x in args.scenarios.split(",")]
    if unknown := set(chosen) - set(SCENARIOS):
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for name in list(SCENARIOS):
        if name not in chosen:
            del SCENARIOS[name]
    if shutil.which("wrk") is None:
        log("wrk is not installed (Debian: apt-get install wrk)")
        return 2

    started = time.perf_counter()
    city = ensure_city(args.database, args.grids, args.buildings, args.seed)
    work = make_workload(args.database, city["box"], args.seed)
    result: dict = {
        "command": "python -m bench.ogc_servers"
        + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip(),
        "args": vars(args),
        "machine": machine(),
        "city": city,
        "tiles": {str(z): t for z, t in work.tiles.items()},
        "servers": {},
        "floor": {},
        "notes": [],
        "loadavg_start": loadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="wangge-ogc-bench-") as tmpdir:
        tmp = Path(tmpdir)
        makers = {
            "tipg": lambda: tipg_spec(args.database, args.workers, work),
            "pygeoapi": lambda: pygeoapi_spec(args.database, args.workers, work, city["box"], tmp),
            "wangge": lambda: wangge_spec(args.database, args.workers, work),
        }
        running: list[Running] = []
        try:
            for name in args.servers.split(","):
                try:
                    running.append(start(makers[name](), tmp))
                except Exception as e:  # noqa: BLE001 - one server failing still reports the others
                    log(f"{name}: FAILED: {e}")
                    result["notes"].append(f"{name} failed to start: {str(e)[:300]}")
            result["servers"] = measure(running, args, tmp, result["notes"])
            wangge = next((r for r in running if r.spec.name == "wangge"), None)
            if args.profile and wangge is not None:
                result["profile"] = profile_wangge(wangge, args, tmp)
        finally:
            for server in running:
                server.stop()
        # The floor last, with no server left running.
        for scenario, (coll, kind, z) in SCENARIOS.items():
            if kind != "tiles" or z is None:
                continue
            fl = {
                "sequential": floor_sequential(args.database, coll, work.tiles[z]),
                "sequential_no_parallel": floor_sequential(args.database, coll, work.tiles[z], parallel=False),
                "pgbench": floor_pgbench(args.database, coll, work.tiles[z], args.duration, args.connections, tmp),
            }
            result["floor"][scenario] = fl
            log(
                f"floor {scenario}: {fl['sequential']['mean_ms']:.1f} ms per tile on one connection "
                f"({fl['sequential_no_parallel']['mean_ms']:.1f} ms with no parallel worker), "
                f"pgbench {fl['pgbench']['tps']} tiles/s"
            )
    result["verdicts"] = verdicts(result)
    result["loadavg_end"] = loadavg()
    result["seconds"] = round(time.perf_counter() - started)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"ogc-servers-{stamp}.json").write_text(json.dumps(result, indent=1, default=str))
    print(table(result))
    if args.write_md:
        write_section(SECTION_START, SECTION_END, markdown(result), log, "OGC servers")
    return 0 if all(v["verdict"] == "PASS" for v in result["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
