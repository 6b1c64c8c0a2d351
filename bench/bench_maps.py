"""Benchmark: the incident map at 100,000 incidents against a plain folium map of the same incidents.

    python -m bench.bench_maps                      # SpatiaLite, 100,000 incidents, 3 rounds
    python -m bench.bench_maps --write-md           # ... and put the results into BENCHMARKS.md
    python -m bench.bench_maps --quick              # 20,000 incidents, one round: a smoke test
    bench/run.sh                                    # the API benchmark, then this one
    python -m bench.bench_maps --database-url postgresql://postgres@127.0.0.1:5432/wangge_bench_maps

What it does, all in one run and one headless Chromium (Debian's, driven by Playwright):

1. A database with the demo community (翠湖社区) and 100,000 incidents spread over its grids, every
   kind, category and status, geotagged to their grids (made once, then reused from
   ``bench/results/maps``; PostGIS databases are made afresh).
2. ``wangge serve`` on a free port.
3. The baseline: the same 100,000 incidents inlined as GeoJSON into a plain folium map (folium's
   own ``GeoJson`` layer, markers for points), with its assets pointed at the service's copies, so
   both pages load the same Leaflet; it is served as a static file by a second local server.
4. For each page, in alternating rounds: the HTML's size, and the time from navigation until the
   first marker (anything in Leaflet's marker pane) is visible. The baseline may never finish: then it is
   reported as "did not finish within" the timeout, which the criterion allows.

The criterion (issue 5): the incident map's HTML is at most 1/20 of the baseline's, and its first
markers show in at most 1/5 of the baseline's time (or the baseline never finishes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from api.served import WanggeServer, free_port, wait_http
from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "maps"
SECTION_START = "<!-- bench_maps: start (written by python -m bench.bench_maps --write-md) -->"
SECTION_END = "<!-- bench_maps: end -->"
SEED = 20261125
CHROMIUM = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def log(*args) -> None:
    print("bench_maps:", *args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the data


def _incident_rows(session, n: int, seed: int) -> list[dict]:
    """``n`` incidents at random places inside the grids, geotagged, every kind and status."""
    import shapely

    from geo.catalogue import categories
    from geo.grids.index import grid_index, locate_grid_ids
    from geo.incidents.definitions import workflows

    rng = np.random.default_rng(seed)
    index = grid_index(session)
    x0, y0, x1, y1 = shapely.total_bounds(index.geoms)
    lon = np.empty(0)
    lat = np.empty(0)
    grid_ids: list = []
    while lon.size < n:
        cx = rng.uniform(x0, x1, n)
        cy = rng.uniform(y0, y1, n)
        ids = np.array(locate_grid_ids(session, cx, cy), dtype=object)
        inside = np.array([g is not None for g in ids])
        lon, lat = np.concatenate([lon, cx[inside]]), np.concatenate([lat, cy[inside]])
        grid_ids += list(ids[inside])
    lon, lat, grid_ids = lon[:n], lat[:n], grid_ids[:n]
    catalogue = categories(session)
    kinds = list(catalogue)
    flows = workflows()
    now = datetime.now(UTC)
    kind_idx = rng.integers(0, len(kinds), n)
    age_min = rng.integers(0, 365 * 24 * 60, n)
    due_in = rng.integers(-30 * 24 * 60, 30 * 24 * 60, n)
    pick = rng.random(n)
    rows = []
    for i in range(n):
        kind = kinds[kind_idx[i]]
        flow = flows[kind]
        cats = catalogue[kind]
        status = flow.statuses[int(pick[i] * len(flow.statuses))]
        created = now - timedelta(minutes=int(age_min[i]))
        closed = status in flow.closed
        rows.append(
            {
                "kind": kind,
                "category": cats[i % len(cats)],
                "status": status,
                "title": f"bench {kind} {i}",
                "grid_id": int(grid_ids[i]),
                "properties": {},
                "version": 1,
                "created_at": created,
                "updated_at": created,
                "status_since": created,
                "closed_at": created if closed else None,
                "due_at": None if closed else now + timedelta(minutes=int(due_in[i])),
                "escalation": 0,
                "possible_duplicates": [],
                "geom": f"SRID=4326;POINT({lon[i]:.7f} {lat[i]:.7f})",
            }
        )
    return rows


def make_database(url: str, n: int, seed: int) -> None:
    """The demo community plus ``n`` incidents, bulk-inserted (the ORM's hooks are not needed:
    the rows come geotagged)."""
    from sqlalchemy import func, insert, select

    from geo.db import schema
    from geo.db.engine import make_engine
    from geo.db.revisions import bump
    from geo.db.session import session_scope
    from geo.io.demo import load_demo
    from geo.models import Incident

    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_demo(session, progress=False)
    with session_scope(engine) as session:
        have = session.scalar(select(func.count(Incident.id)))
        missing = n - have
        if missing > 0:
            t = time.perf_counter()
            rows = _incident_rows(session, missing, seed)
            for i in range(0, len(rows), 5000):
                session.execute(insert(Incident.__table__), rows[i : i + 5000])
            bump(session, ("incidents",))
            log(f"inserted {missing} incidents in {time.perf_counter() - t:.1f} s")
    engine.dispose()


# --------------------------------------------------------------------------- the pages


def plain_map_html(url: str) -> str:
    """The baseline: every incident inlined as GeoJSON in a plain folium map, local assets."""
    import folium
    from sqlalchemy import func, select

    from geo.db.engine import make_engine
    from geo.db.session import session_scope
    from geo.grids.index import grid_bounds
    from geo.models import Incident
    from maps.assets import render

    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Incident.id,
                Incident.kind,
                Incident.category,
                Incident.status,
                Incident.title,
                func.ST_X(Incident.geom),
                func.ST_Y(Incident.geom),
            )
            .where(Incident.deleted_at.is_(None))
            .order_by(Incident.id)
        ).all()
        x0, y0, x1, y1 = grid_bounds(session)
    engine.dispose()
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]},
            "properties": {"id": i, "kind": k, "category": c, "status": s, "title": t},
        }
        for i, k, c, s, t, x, y in rows
    ]
    m = folium.Map(tiles=None)
    m.fit_bounds([[y0, x0], [y1, x1]])
    folium.GeoJson({"type": "FeatureCollection", "features": features}, name="incidents").add_to(m)
    return render(m)


def absolutise(html: str, base: str) -> str:
    """The baseline is served by another local server: point its assets at the service."""
    return html.replace('src="/static/', f'src="{base}/static/').replace('href="/static/', f'href="{base}/static/')


def first_marker_s(browser, url: str, timeout_s: float) -> tuple[float | None, dict]:
    """Seconds from navigation until the first marker is visible (None: not within the timeout)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    info: dict = {}
    try:
        t0 = time.perf_counter()
        try:
            page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
            page.wait_for_selector(
                ".leaflet-marker-pane > *",
                state="visible",
                timeout=max(1.0, timeout_s - (time.perf_counter() - t0)) * 1000,
            )
            elapsed = time.perf_counter() - t0
        except Exception as exc:  # a timeout, or the page crashed under its own weight
            info["gave_up"] = type(exc).__name__
            return None, info
        info["markers_in_dom"] = page.evaluate("document.querySelectorAll('.leaflet-marker-pane > *').length")
        info["errors"] = errors
        return elapsed, info
    finally:
        page.close()


def run(args) -> dict:
    import httpx
    from playwright.sync_api import sync_playwright

    RESULTS.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{RESULTS / f'incidents-{args.incidents}.db'}"
    if url.startswith("postgresql"):
        from bench.load import fresh_postgres

        fresh_postgres(url, log=log)
    t = time.perf_counter()
    make_database(url, args.incidents, args.seed)
    log(f"database ready ({url}) in {time.perf_counter() - t:.1f} s")

    server = WanggeServer(
        url, env={"WANGGE_ESCALATION_INTERVAL_S": "0"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    tmp = tempfile.TemporaryDirectory(prefix="wangge-bench-maps-")
    static = None
    try:
        base = server.base
        server.wait_ready(interval_s=0.2, request_timeout_s=2, status=None)
        ours_url = f"{base}/maps/incidents?basemap=none"
        ours_html = httpx.get(ours_url, timeout=120)
        ours_html.raise_for_status()

        t = time.perf_counter()
        plain = absolutise(plain_map_html(url), base)
        plain_build_s = time.perf_counter() - t
        (Path(tmp.name) / "plain.html").write_text(plain, encoding="utf-8")
        static_port = free_port()
        static = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1", "--directory", tmp.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        plain_url = f"http://127.0.0.1:{static_port}/plain.html"
        wait_http(plain_url, static, interval_s=0.2, request_timeout_s=2, status=None)

        ours_bytes = len(ours_html.content)
        plain_bytes = len(plain.encode("utf-8"))
        log(f"HTML: incident map {ours_bytes:,} B, plain folium map {plain_bytes:,} B (built in {plain_build_s:.1f} s)")

        times: dict[str, list] = {"ours": [], "plain": []}
        infos: dict[str, list] = {"ours": [], "plain": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # Warm the asset cache once for both (the same files), so neither pays it alone.
                first_marker_s(browser, ours_url, 60)
                for r in range(args.rounds):
                    for name, target, limit in (("ours", ours_url, 60), ("plain", plain_url, args.timeout)):
                        elapsed, info = first_marker_s(browser, target, limit)
                        times[name].append(elapsed)
                        infos[name].append(info)
                        shown = "did not finish" if elapsed is None else f"{elapsed:.2f} s"
                        log(f"round {r + 1}: {name}: first marker {shown} {info}")
            finally:
                browser.close()
    finally:
        if static is not None:
            static.terminate()
            static.wait(timeout=10)
        server.stop(timeout_s=10)
        tmp.cleanup()

    def median(values):
        done = [v for v in values if v is not None]
        return statistics.median(done) if done and len(done) == len(values) else None

    ours_s, plain_s = median(times["ours"]), median(times["plain"])
    size_ratio = ours_bytes / plain_bytes
    time_ratio = None if ours_s is None or plain_s is None else ours_s / plain_s
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": os.environ.get("WANGGE_BENCH_COMMAND")
        or "python -m bench.bench_maps"
        + (" --write-md" if args.write_md else "")
        + (f" --incidents {args.incidents}" if args.incidents != 100_000 else ""),
        "database": "PostGIS" if url.startswith("postgresql") else "SpatiaLite",
        "incidents": args.incidents,
        "rounds": args.rounds,
        "timeout_s": args.timeout,
        "html_bytes": {"ours": ours_bytes, "plain": plain_bytes},
        "first_marker_s": times,
        "median_s": {"ours": ours_s, "plain": plain_s},
        "plain_finished": all(v is not None for v in times["plain"]),
        "size_ratio": size_ratio,
        "time_ratio": time_ratio,
        "size_ok": size_ratio <= 1 / 20,
        "time_ok": ours_s is not None and (plain_s is None or time_ratio <= 1 / 5),
        "chromium": CHROMIUM,
        "details": infos,
    }
    out = RESULTS / f"bench-maps-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    log(f"results in {out.relative_to(ROOT)}")
    return result


# --------------------------------------------------------------------------- the report


def markdown(r: dict) -> str:
    def secs(v):
        return "did not finish" if v is None else f"{v:.2f} s"

    plain_runs = ", ".join(secs(v) for v in r["first_marker_s"]["plain"])
    ours_runs = ", ".join(secs(v) for v in r["first_marker_s"]["ours"])
    plain_median = r["median_s"]["plain"]
    if plain_median is None:
        ratio = f"baseline did not finish within {r['timeout_s']:.0f} s"
    else:
        ratio = f"{r['time_ratio']:.3f} (1/{1 / r['time_ratio']:.0f})"
    verdict = "met" if r["size_ok"] and r["time_ok"] else "NOT met"
    return "\n".join(
        [
            SECTION_START,
            f"## Maps: the incident map at {r['incidents']:,} incidents",
            "",
            f"Command: `{r['command']}` (run {r['when']}, {r['database']}, {r['incidents']:,} incidents, "
            f"{r['rounds']} alternating rounds in one headless Chromium; the baseline's timeout {r['timeout_s']:.0f} s).",
            "",
            "The baseline is a plain folium map that inlines the same incidents as GeoJSON (folium's `GeoJson` layer), "
            "loading the same locally served Leaflet. The incident map (`/maps/incidents?basemap=none`) inlines none: it "
            "asks `/api/v1/incidents/points` for the visible box and gets counts per cell at this zoom.",
            "",
            "| | incident map | plain folium map | ratio | criterion |",
            "|---|---:|---:|---:|---|",
            f"| HTML size | {r['html_bytes']['ours']:,} B | {r['html_bytes']['plain']:,} B | "
            f"{r['size_ratio']:.5f} (1/{1 / r['size_ratio']:.0f}) | at most 1/20 |",
            f"| first marker visible (median) | {secs(r['median_s']['ours'])} | {secs(plain_median)} | {ratio} | at most 1/5 |",
            "",
            f"Each round, first marker visible: incident map {ours_runs}; plain map {plain_runs}.",
            f"Criterion {verdict}. The machine is shared and noisy (2 cores): compare the ratio, not the seconds.",
            SECTION_END,
        ]
    )


def write_md(r: dict) -> None:
    """Replace this benchmark's section of BENCHMARKS.md (or append it); other sections stay."""
    write_section(SECTION_START, SECTION_END, markdown(r), log, "maps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds the baseline may take to show a marker")
    parser.add_argument("--database-url", help="default: a SpatiaLite file in bench/results/maps")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-md", action="store_true", help="put the results into BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20,000 incidents, one round, 60 s timeout")
    args = parser.parse_args(argv)
    if args.quick:
        args.incidents, args.rounds, args.timeout = 20_000, 1, 60.0
    result = run(args)
    print(markdown(result))
    if args.write_md:
        write_md(result)
    return 0 if result["size_ok"] and result["time_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
