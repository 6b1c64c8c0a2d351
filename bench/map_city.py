"""Benchmark: the incident map of a city of 100,000 grids and 1,000,000 buildings against the demo's.

    python -m bench.map_city                       # SpatiaLite, 5 rounds
    python -m bench.map_city --write-md            # ... and put the results into BENCHMARKS.md
    python -m bench.map_city --backend both        # SpatiaLite and PostGIS (wangge_vmaps_bench)
    python -m bench.map_city --quick               # 20,000 grids, 100,000 buildings, 2 rounds

What it does, in one headless Chromium (Debian's, driven by Playwright):

1. Two databases: the demo community (``load_demo``) and a synthetic city (``data.city.make_city``:
   Voronoi grids over 0.4 x 0.4 degrees around Qingyuan, buildings in them, a few estates). The
   SpatiaLite files are made once and kept in ``bench/results/map_city``; PostGIS databases are
   made afresh.
2. ``wangge serve`` on each; one page load first warms the server (its grid index, which the
   page's first view is fitted to) and the browser's cache of the map's assets.
3. Alternating rounds: the time from navigation until the first grid is visible, i.e. the first
   SVG path of the grid tile layer inside the viewport (the grids come as vector tiles from
   ``/ogc/tiles``; the city's map opens at the zoom where its grids are drawn).

The target: the city's median at most 1.5 times the demo's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from api.served import WanggeServer
from bench.bench_maps import CHROMIUM, CHROMIUM_ARGS
from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "map_city"
SECTION_START = "<!-- map_city: start (written by python -m bench.map_city --write-md) -->"
SECTION_END = "<!-- map_city: end -->"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/wangge_vmaps_bench"
SEED = 20261130
TARGET = 1.5

# True once a path of the grid tile layer is inside the viewport.
FIRST_GRID = """() => {
    const maps = window.WanggeMaps && WanggeMaps.instances[0];
    if (!maps || !maps.gridTiles || !maps.gridTiles.getContainer()) return false;
    for (const p of maps.gridTiles.getContainer().querySelectorAll('path')) {
        const r = p.getBoundingClientRect();
        if (r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight) return true;
    }
    return false;
}"""


# Where a page that showed no grid got to (for the report).
STATE = """() => {
    const maps = window.WanggeMaps && WanggeMaps.instances[0];
    if (!maps) return "no map";
    return {zoom: maps.map.getZoom(), gridTiles: !!maps.gridTiles, onMap: !!(maps.gridTiles && maps.gridTiles._map),
            paths: maps.gridTiles && maps.gridTiles.getContainer() ? maps.gridTiles.getContainer().querySelectorAll('path').length : null,
            ready: document.documentElement.getAttribute('data-wangge-ready')};
}"""


def log(*args) -> None:
    print("map_city:", *args, file=sys.stderr, flush=True)


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def make_databases(backend: str, grids: int, buildings: int, seed: int, pg_url: str) -> dict[str, str]:
    """The demo's database and the city's, made (or found made): name -> URL."""
    from sqlalchemy.engine import make_url

    from bench.api_load import fresh_postgres
    from data.city import make_city
    from geo.db import schema
    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.io.demo import load_demo

    if backend == "postgis":
        city_url = pg_url
        demo_url = make_url(pg_url).set(database=make_url(pg_url).database + "_demo").render_as_string(False)
        fresh = [demo_url, city_url]
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        demo_path = RESULTS / "demo.db"
        city_path = RESULTS / f"city-{grids}-{buildings}-{seed}.db"
        demo_url, city_url = _sqlite(demo_path), _sqlite(city_path)
        fresh = [u for u, p in ((demo_url, demo_path), (city_url, city_path)) if not p.exists()]
    for url in fresh:
        t = time.perf_counter()
        if url.startswith("postgresql"):
            fresh_postgres(url, log=log)
        engine = make_engine(url)
        schema.upgrade(engine)
        if url == demo_url:
            with session_scope(engine) as session:
                load_demo(session, progress=False)
        engine.dispose()
        if url == city_url:
            make_city(url, grids=grids, buildings=buildings, seed=seed, log=log)
        log(f"database ready ({url}) in {time.perf_counter() - t:.1f} s")
    return {"demo": demo_url, "city": city_url}


def first_grid_s(browser, url: str, timeout_s: float) -> tuple[float | None, dict]:
    """Seconds from navigation until the first grid is visible (None: not within the timeout)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    errors: list[str] = []
    asked: list[str] = []
    answered: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: "/ogc/tiles/" in r.url and asked.append(r.url))
    page.on("requestfinished", lambda r: "/ogc/tiles/" in r.url and answered.append(r.url))
    page.on("requestfailed", lambda r: errors.append(f"{r.url} {r.failure}"))
    info: dict = {}
    try:
        t0 = time.perf_counter()
        try:
            page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
            page.wait_for_function(FIRST_GRID, polling="raf", timeout=timeout_s * 1000)
            elapsed = time.perf_counter() - t0
        except Exception as exc:  # a timeout, or the page crashed
            info["gave_up"] = type(exc).__name__
            info["errors"] = errors
            info["tiles"] = {"asked": len(asked), "answered": len(answered)}
            try:
                info["state"] = page.evaluate(STATE)
            except Exception as inner:  # noqa: BLE001 - only for the report
                info["state"] = type(inner).__name__
            return None, info
        info["zoom"] = page.evaluate("WanggeMaps.instances[0].map.getZoom()")
        if errors:
            info["errors"] = errors
        return elapsed, info
    finally:
        page.close()


def measure(backend: str, urls: dict[str, str], rounds: int, timeout_s: float) -> dict:
    import httpx
    from playwright.sync_api import sync_playwright

    servers = {
        name: WanggeServer(
            url, env={"WANGGE_ESCALATION_INTERVAL_S": "0"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for name, url in urls.items()
    }
    times: dict[str, list] = {name: [] for name in urls}
    infos: dict[str, list] = {name: [] for name in urls}
    counts: dict[str, dict] = {}
    try:
        pages = {}
        for name, server in servers.items():
            server.wait_ready(timeout_s=120, interval_s=0.2, request_timeout_s=2, status=None)
            pages[name] = f"{server.base}/maps/incidents?basemap=none"
            t = time.perf_counter()
            httpx.get(pages[name], timeout=300).raise_for_status()  # the server's first page builds its grid index
            warm = time.perf_counter() - t
            grids = httpx.get(f"{server.base}/api/v1/grids", params={"limit": 1}, timeout=60).json()["numberMatched"]
            buildings = httpx.get(f"{server.base}/api/v1/buildings", params={"limit": 1}, timeout=60).json()
            counts[name] = {"grids": grids, "buildings": buildings["numberMatched"], "first_page_s": warm}
            log(f"{backend} {name}: {counts[name]}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for name in pages:  # the assets into the browser's cache, for both alike
                    first_grid_s(browser, pages[name], timeout_s)
                for r in range(rounds):
                    for name in pages:
                        elapsed, info = first_grid_s(browser, pages[name], timeout_s)
                        times[name].append(elapsed)
                        infos[name].append(info)
                        shown = "did not finish" if elapsed is None else f"{elapsed:.2f} s"
                        log(f"{backend} round {r + 1}: {name}: first grid {shown} {info}")
            finally:
                browser.close()
    finally:
        for server in servers.values():
            server.stop(timeout_s=10)

    def median(values):
        done = [v for v in values if v is not None]
        return statistics.median(done) if done and len(done) == len(values) else None

    demo_s, city_s = median(times["demo"]), median(times["city"])
    ratio = None if demo_s is None or city_s is None else city_s / demo_s
    return {
        "backend": backend,
        "counts": counts,
        "first_grid_s": times,
        "median_s": {"demo": demo_s, "city": city_s},
        "ratio": ratio,
        "ok": ratio is not None and ratio <= TARGET,
        "details": infos,
    }


def markdown(result: dict) -> str:
    def secs(v):
        return "did not finish" if v is None else f"{v:.2f} s"

    lines = [
        SECTION_START,
        f"## Maps: the incident map of a city of {result['grids']:,} grids and {result['buildings']:,} buildings",
        "",
        f"Command: `{result['command']}` (run {result['when']}, {result['rounds']} alternating rounds per database "
        "in one headless Chromium, 1280 x 800).",
        "",
        "Time from navigation until the first grid is visible (the first SVG path of the grid tile layer inside the "
        "viewport) on `/maps/incidents?basemap=none`: the demo community against a synthetic city (`data/city.py`). "
        "Grids, estates and buildings come as vector tiles (`/ogc/tiles/WebMercatorQuad/{z}/{x}/{y}`), only those of "
        "the view; the city's map opens at the zoom where its grids are drawn (a view of about 3,000 grids). Each "
        "server's first page (which builds its grid index) and the browser's asset cache are warmed first.",
        "",
        "| database | demo: grids / buildings | city: grids / buildings | demo (median) | city (median) | ratio | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["runs"]:
        c = r["counts"]
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['backend']} | {c['demo']['grids']:,} / {c['demo']['buildings']:,} | "
            f"{c['city']['grids']:,} / {c['city']['buildings']:,} | {secs(r['median_s']['demo'])} | "
            f"{secs(r['median_s']['city'])} | {ratio} | at most {TARGET} ({'met' if r['ok'] else 'NOT met'}) |"
        )
    lines.append("")
    for r in result["runs"]:
        demo = ", ".join(secs(v) for v in r["first_grid_s"]["demo"])
        city = ", ".join(secs(v) for v in r["first_grid_s"]["city"])
        first = r["counts"]["city"]["first_page_s"]
        lines.append(
            f"{r['backend']}, each round: demo {demo}; city {city}. The city server's first page took {first:.1f} s "
            "(its grid index, once per server start)."
        )
        lines.append("")
    lines += ["The machine is shared and noisy (2 cores): compare the ratio, not the seconds.", SECTION_END]
    return "\n".join(lines)


def write_md(result: dict) -> None:
    write_section(SECTION_START, SECTION_END, markdown(result), log, "map_city")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a page may take to show a grid")
    parser.add_argument("--backend", choices=("spatialite", "postgis", "both"), default="spatialite")
    parser.add_argument("--postgres-url", default=DEFAULT_PG, help="the city's PostGIS database (the demo's: +_demo)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-md", action="store_true", help="put the results into BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20,000 grids, 100,000 buildings, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.grids, args.buildings, args.rounds = 20_000, 100_000, 2
    backends = ("spatialite", "postgis") if args.backend == "both" else (args.backend,)
    runs = []
    for backend in backends:
        urls = make_databases(backend, args.grids, args.buildings, args.seed, args.postgres_url)
        runs.append(measure(backend, urls, args.rounds, args.timeout))
    command = "python -m bench.map_city" + "".join(
        f" {flag}"
        for flag, on in (
            ("--write-md", args.write_md),
            (f"--backend {args.backend}", args.backend != "spatialite"),
            (f"--grids {args.grids}", args.grids != 100_000),
            (f"--buildings {args.buildings}", args.buildings != 1_000_000),
        )
        if on
    )
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": os.environ.get("WANGGE_BENCH_COMMAND") or command,
        "grids": args.grids,
        "buildings": args.buildings,
        "rounds": args.rounds,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"map-city-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    log(f"results in {out.relative_to(ROOT)}")
    print(markdown(result))
    if args.write_md:
        write_md(result)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
