"""Benchmark of the dashboard (issue 13): the first full render of ``/dashboard`` in headless
Chromium at a district's size against the same page at the demo's size, in one run.

Two fresh PostGIS databases on the same server, each served by its own ``wangge serve``:

- **demo**: the demo community (12 grids, 88 responders, 69 incidents);
- **district**: the indicators benchmark's data (``bench/indicators.py``: 1,000 grids in 10
  communities, 2,000 responders, ``--incidents`` incidents over a year with 6 timeline rows each),
  made by its own generator. Where that benchmark is not there, this module makes its own: the
  patrol benchmark's district (``bench/patrol_data.py``: 1,000 grids, one grid worker each) with
  a year of incidents from :func:`incidents`, each with its timeline as the workflow writes it
  (report, verify or reject, register, dispatch, handle, re-work, supervision, the first overdue
  escalation, check and close, evaluation; about 6 rows each), by wangge's bulk writer (COPY).

A render is timed in a browser context of its own (an empty cache) by the page itself: from the
start of the navigation to ``/dashboard`` (signed in as community staff, the year of the
district's incidents) to the first painted frame after every figure, chart, list and the map's
polygons are drawn (``WanggeDashboard.firstRender``, ``performance.now()``). One render of each
size warms the server first (and builds the indicators' rollup); then the sizes alternate,
``--runs`` of each, and the medians are compared. The target: the district within 2x of the demo.

    python -m bench.dashboard_render --write-md            # 1,000,000 incidents (~20 minutes)
    python -m bench.dashboard_render --incidents 100000    # a tenth of it
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.api_load import fresh_postgres
from geo.db import bulk, schema
from geo.db.engine import make_engine
from geo.db.session import session_scope
from geo.timezones import CHINA_TIME

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"  # the server; the databases are made on it
USERNAME, PASSWORD = "community", "Shequ@2026"  # the demo's community staff account
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "bench"
SECTION_START = "<!-- dashboard-render:start -->"
SECTION_END = "<!-- dashboard-render:end -->"
READY = "WanggeDashboard.firstRender > 0"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- the data


def _community_user(session) -> None:
    from geo.access.users import add_user

    add_user(session, USERNAME, "community", display_name="社区工作人员", password=PASSWORD)


def load_demo_db(url: str) -> dict[str, Any]:
    from geo.io.demo import add_demo_accounts, load_demo

    fresh_postgres(url, log)
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine, write=True) as session:
        load_demo(session)
        add_demo_accounts(session)
    with session_scope(engine) as session:
        counts = _counts(session)
    engine.dispose()
    return counts


def _counts(session) -> dict[str, int]:
    return {
        t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
        for t in ("grids", "incidents", "incident_history")
    }


class _Timeline:
    """One incident's timeline as the workflow writes it, its turns drawn from ``u`` (10 numbers
    in [0, 1)): reported by the public or the grid's worker; rejected on verification (12 %), or
    verified, registered and dispatched with 3 days to handle it; the first overdue escalation (8 %)
    and a supervision order (60 % of those); handled (but half of those of the last 10 days), sent
    back for re-work (7 %) and handled again; checked and closed by the next grid's worker;
    evaluated (half)."""

    def __init__(self, t: datetime, u: np.ndarray, worker: int, n_grids: int, recent: bool):
        self.rows: list[tuple] = []
        self.status = "reported"
        self.due: datetime | None = None
        self.closed: datetime | None = None
        self.add(t, "report", "report", "reported", responder=worker if u[1] < 0.6 else None)
        if u[2] < 0.12:
            self.add(t + timedelta(hours=2), "reject", "reject", "rejected", responder=worker)
            self.closed = t + timedelta(hours=2)
            return
        verify_due = t + timedelta(hours=4)
        at = t + timedelta(hours=float(1 + 5 * u[3]))
        self.add(at, "verify", "verify", "verified", responder=worker, due_at=verify_due, on_time=at <= verify_due)
        self.add(at + timedelta(minutes=30), "register", "register", "registered")
        start = at + timedelta(hours=1)
        due = self.due = start + timedelta(days=3)
        self.add(start, "dispatch", "dispatch", "dispatched", assignee=worker, due_at=due)
        if u[4] < 0.08:
            self.add(due, "escalate", "overdue", "dispatched", assignee=worker)
            if u[5] < 0.6:
                self.add(due + timedelta(hours=4), "supervise", "supervise", "dispatched", assignee=worker)
        if recent and u[7] >= 0.5:
            return
        handled = start + timedelta(hours=float(4 + 90 * u[6]))
        hours = round((handled - start).total_seconds() / 3600 * 0.35, 2)
        self.add(handled, "handle", "handle", "handled", worker, worker, due, handled <= due, hours)
        if u[8] < 0.07:
            self.add(handled + timedelta(hours=6), "return", "rework", "dispatched", assignee=worker)
            handled += timedelta(days=1)
            self.add(handled, "handle", "handle", "handled", worker, worker, due, handled <= due, hours + 8)
        check = handled + timedelta(hours=float(2 + 30 * u[9]))
        self.add(check, "check", "close", "closed", worker, worker % n_grids + 1, due, check <= due)
        self.closed = check
        if u[1] < 0.5:
            self.add(check + timedelta(days=1), "evaluate", "evaluate", "evaluated", assignee=worker)

    def add(self, at, action, step, to, assignee=None, responder=None, due_at=None, on_time=None, hours=None):
        self.rows.append((at, action, step, self.status, to, assignee, responder, due_at, on_time, hours))
        self.status = to


def incidents(n: int, grid_boxes: np.ndarray, seed: int = 20261130) -> tuple[dict[str, list], dict[str, list]]:
    """``n`` incidents reported over 2026 in the district's grids, and their timelines: the
    incidents' columns and the timeline's columns, for the bulk writer."""
    from geo.models import CATEGORIES

    rng = np.random.default_rng(seed)
    year0 = datetime(2026, 1, 1, tzinfo=CHINA_TIME).astimezone(UTC)
    span_s = (datetime(2026, 11, 30, tzinfo=CHINA_TIME).astimezone(UTC) - year0).total_seconds()
    grids = rng.integers(0, len(grid_boxes), n)
    reported = np.sort(rng.uniform(0, span_s, n))
    box = grid_boxes[grids]
    lon = box[:, 0] + rng.uniform(0.1, 0.9, n) * (box[:, 2] - box[:, 0])
    lat = box[:, 1] + rng.uniform(0.1, 0.9, n) * (box[:, 3] - box[:, 1])
    hazard = rng.random(n) < 0.3
    u = rng.random((n, 10))
    inc: dict[str, list] = {
        k: [] for k in ("id", "code", "kind", "category", "status", "title", "grid_id", "assignee_id")
    }
    inc.update({k: [] for k in ("properties", "version", "created_at", "updated_at", "closed_at", "status_since")})
    inc.update({k: [] for k in ("due_at", "escalation", "possible_duplicates", "rework_count", "supervision_count")})
    hist: dict[str, list] = {
        k: []
        for k in (
            "incident_id", "at", "actor", "action", "from_status", "to_status", "changes", "step", "kind",
            "category", "grid_id", "assignee_id", "responder_id", "due_at", "on_time", "work_hours",
        )
    }  # fmt: skip
    for i in range(n):
        iid, g = i + 1, int(grids[i]) + 1
        worker = g  # grid g is served by worker g (bench/patrol_load.py)
        kind = "hazard" if hazard[i] else "case"
        categories = CATEGORIES[kind]
        category = categories[int(u[i, 0] * len(categories))]
        t = year0 + timedelta(seconds=float(reported[i]))
        line = _Timeline(t, u[i], worker, len(grid_boxes), recent=reported[i] > span_s - 10 * 86400)
        rows, status, due, closed = line.rows, line.status, line.due, line.closed
        last = rows[-1][0]
        inc["id"].append(iid)
        inc["code"].append(f"BI{iid:08d}")
        inc["kind"].append(kind)
        inc["category"].append(category)
        inc["status"].append(status)
        inc["title"].append(f"基准事件{iid}")
        inc["grid_id"].append(g)
        inc["assignee_id"].append(worker if len(rows) > 3 else None)
        inc["properties"].append({})
        inc["version"].append(len(rows))
        inc["created_at"].append(t)
        inc["updated_at"].append(last)
        inc["closed_at"].append(closed)
        inc["status_since"].append(last)
        inc["due_at"].append(None if closed else due)
        inc["escalation"].append(sum(1 for r in rows if r[2] == "overdue"))
        inc["possible_duplicates"].append([])
        inc["rework_count"].append(sum(1 for r in rows if r[2] == "rework"))
        inc["supervision_count"].append(sum(1 for r in rows if r[2] == "supervise"))
        for at, action, step, frm, to, assignee, responder, due_at, on_time, hours in rows:
            hist["incident_id"].append(iid)
            hist["at"].append(at)
            hist["actor"].append(f"worker{responder:04d}" if responder else "public")
            hist["action"].append(action)
            hist["from_status"].append(None if action == "report" else frm)
            hist["to_status"].append(to)
            hist["changes"].append({})
            hist["step"].append(step)
            hist["kind"].append(kind)
            hist["category"].append(category)
            hist["grid_id"].append(g)
            hist["assignee_id"].append(assignee)
            hist["responder_id"].append(responder)
            hist["due_at"].append(due_at)
            hist["on_time"].append(None if on_time is None else bool(on_time))
            hist["work_hours"].append(hours)
    inc["geom"] = list(shapely.points(np.round(lon, 7), np.round(lat, 7)))
    return inc, hist


def _own_district(engine, n_incidents: int) -> int:
    """The patrol benchmark's district with :func:`incidents` over 2026; the year."""
    from bench.patrol_data import Params, make
    from bench.patrol_load import _people, _places
    from geo.models import Incident, IncidentHistory

    data = make(Params(hours=0.05), log)  # the district's places and workers; patrols are not needed
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    inc, hist = incidents(n_incidents, data.grid_boxes)
    log(
        f"district: made {n_incidents:,} incidents and {len(hist['at']):,} timeline rows in {time.perf_counter() - t0:.1f} s"
    )
    with session_scope(engine, write=True) as session:
        _places(session, data, now)
        _people(session, data, now)
        bulk.insert(session, Incident.__table__, inc)
        bulk.insert(session, IncidentHistory.__table__, hist)
        for table in ("streets", "communities", "grids", "buildings", "responders", "users", "api_tokens", "incidents"):
            session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    return 2026


def _kept(url: str, n_incidents: int) -> tuple[dict[str, Any], int, str] | None:
    """The district a run before left, if it has ``n_incidents``."""
    try:
        engine = make_engine(url)
        with session_scope(engine) as session:
            counts = _counts(session)
            year, made_by = session.execute(text("SELECT year, made_by FROM bench_dashboard_meta")).one()
        engine.dispose()
    except Exception:  # no such database, or not made by this benchmark
        return None
    return (counts, year, made_by) if counts["incidents"] == n_incidents else None


def load_district_db(url: str, n_incidents: int, reuse: bool = False) -> tuple[dict[str, Any], int, str]:
    """The district: the indicators benchmark's (``bench/indicators.py``: 1,000 grids, 2,000
    responders, a year of incidents with 6 timeline rows each) where it is there, else this
    module's own; its counts, the year its incidents are in, and which it is. ``reuse``: the one
    a run before made, if it is the same size."""
    kept = _kept(url, n_incidents) if reuse else None
    if kept is not None:
        log(f"district: reusing the {n_incidents:,} incidents made before")
        return kept
    fresh_postgres(url, log)
    engine = make_engine(url)
    schema.upgrade(engine)
    t0 = time.perf_counter()
    try:
        from bench import indicators as source
    except ImportError:
        year, made_by = _own_district(engine, n_incidents), "bench/dashboard_render.py"
    else:
        source.generate(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), n_incidents)
        year, made_by = source.YEAR, "bench/indicators.py"
    with session_scope(engine, write=True) as session:
        _community_user(session)
        session.execute(text("CREATE TABLE bench_dashboard_meta (year integer, made_by text)"))
        session.execute(text("INSERT INTO bench_dashboard_meta VALUES (:y, :m)"), {"y": year, "m": made_by})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    log(f"district: made by {made_by} and loaded in {time.perf_counter() - t0:.1f} s")
    with session_scope(engine) as session:
        counts = _counts(session)
    engine.dispose()
    return counts, year, made_by


# ----------------------------------------------------------------------------- the renders


def _sign_in(browser, base: str):
    """A browser context of its own (an empty cache), signed in as community staff."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("form.signin button[type=submit]")
    page.wait_for_load_state()
    return context, page


def render_once(browser, base: str, year: int, shot: Path | None = None) -> dict[str, Any]:
    context, page = _sign_in(browser, base)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/dashboard?start={year}-01-01&end={year + 1}-01-01")
    page.wait_for_function(READY, timeout=600_000)
    ms = page.evaluate("WanggeDashboard.firstRender")
    drawn = page.evaluate(
        "({grids: WanggeDashboard.map.layers.size, rows: document.querySelectorAll('#ranking-table tbody tr').length,"
        " message: document.getElementById('message').textContent})"
    )
    # Each API request the render made: from its start to its last byte (ms).
    requests = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/'))"
        ".map((e) => [new URL(e.name).pathname.replace('/api/v1', '') + ' ' + (new URL(e.name).searchParams.get('by') || '') +"
        " ' ' + (new URL(e.name).searchParams.get('indicator') || ''), e.responseEnd - e.startTime]))"
    )
    # When the last API answer was in: what follows is the page's own drawing.
    answered = page.evaluate(
        "Math.max(...performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/')).map((e) => e.responseEnd))"
    )
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    context.close()
    if errors or drawn["message"]:
        raise RuntimeError(f"the dashboard did not render cleanly: {errors or drawn['message']}")
    return {"ms": ms, "requests": requests, "after_answers_ms": ms - answered, **drawn}


def measure(bases: dict[str, str], year: int, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
    out: dict[str, Any] = {name: [] for name in bases}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for name, base in bases.items():  # warm the server (its caches, the first connection)
            first = render_once(browser, base, year, ARTIFACTS / f"dashboard-{name}.png")
            log(f"{name}: warm-up render {first['ms']:.0f} ms ({first['grids']} grids drawn)")
            out[f"{name}_drawn"] = first
        for i in range(runs):
            for name, base in bases.items():
                r = render_once(browser, base, year)
                out[name].append(r["ms"])
                out.setdefault(f"{name}_requests", []).append(r["requests"])
                out.setdefault(f"{name}_after", []).append(r["after_answers_ms"])
                log(f"{name}: run {i + 1}: {r['ms']:.0f} ms")
        browser.close()
    return out


# ----------------------------------------------------------------------------- main


def _request_rows(requests: dict[str, list[dict[str, float]]]) -> list[str]:
    names = sorted({k for runs in requests.values() for r in runs for k in r})

    def median(side: str, name: str) -> str:
        values = [r[name] for r in requests[side] if name in r]
        return f"{statistics.median(values):.0f} ms" if values else "—"

    return [f"| `{name.strip()}` | {median('demo', name)} | {median('district', name)} |" for name in names]


def markdown(result: dict[str, Any]) -> str:
    demo, district = result["demo_ms"], result["district_ms"]
    ratio = statistics.median(district) / statistics.median(demo)
    c = result["counts"]
    fmt = ", ".join
    return "\n".join(
        [
            SECTION_START,
            "## Dashboard: first full render, a district against the demo (issue 13)",
            "",
            f"Run {result['when']} on this machine ({os.cpu_count()} cores), PostGIS on the same host, headless "
            "Debian Chromium (Playwright), each render in a browser context of its own (empty cache), timed by the "
            f"page from the start of the navigation to `/dashboard` (community staff, the year {result['year']}) to the first "
            "frame painted after every figure, chart, list and the map's polygons are drawn. One warm-up render of "
            f"each size, then {result['runs']} of each, alternating.",
            "",
            "| size | grids | incidents | timeline rows | renders (ms) | median |",
            "|---|---:|---:|---:|---|---:|",
            f"| demo | {c['demo']['grids']:,} | {c['demo']['incidents']:,} | {c['demo']['incident_history']:,} | "
            f"{fmt(f'{v:.0f}' for v in demo)} | {statistics.median(demo):.0f} ms |",
            f"| district | {c['district']['grids']:,} | {c['district']['incidents']:,} | {c['district']['incident_history']:,} | "
            f"{fmt(f'{v:.0f}' for v in district)} | {statistics.median(district):.0f} ms |",
            "",
            f"**The district's first full render takes {ratio:.2f}x the demo's** (target: within 2x).",
            "",
            "Where the time goes: the API requests of a render, from their start to their last byte (the medians of "
            "the timed renders; the page asks them at once, and the server has the machine's cores):",
            "",
            "| request | demo | district |",
            "|---|---:|---:|",
            *_request_rows(result["requests"]),
            "",
            "The page draws each part as its answer comes (the map's 1,000 polygons on one canvas); after the last "
            f"answer it is done in {result['after']['demo']:.0f} ms at the demo and {result['after']['district']:.0f} ms "
            "at the district (medians): the time is the indicators API's.",
            "",
            f"The district's data was made by `{result['made_by']}` ({c['district']['incidents']:,} incidents, "
            f"{c['district']['incident_history']:,} timeline rows; the issue's district year is 1,000,000 and "
            "6,000,000).",
            "",
            "```sh",
            f"python -m bench.dashboard_render --incidents {result['incidents']} --runs {result['runs']} --write-md",
            "```",
            SECTION_END,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    from api.served import WanggeServer

    p = argparse.ArgumentParser(prog="python -m bench.dashboard_render", description=__doc__.split("\n\n")[0])
    p.add_argument("--postgres-url", default=os.environ.get("WANGGE_BENCH_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--incidents", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--write-md", action="store_true", help="write the result into BENCHMARKS.md")
    p.add_argument("--reuse-data", action="store_true", help="keep the district a run before made, if the same size")
    args = p.parse_args(argv)
    server = make_url(args.postgres_url)
    urls = {
        name: server.set(database=f"wangge_bench_dash_{name}").render_as_string(hide_password=False)
        for name in ("demo", "district")
    }
    district, year, made_by = load_district_db(urls["district"], args.incidents, args.reuse_data)
    counts = {"demo": load_demo_db(urls["demo"]), "district": district}
    log(f"loaded: {json.dumps(counts)}")
    servers = {name: WanggeServer(url, env={"WANGGE_ESCALATION_INTERVAL_S": "0"}) for name, url in urls.items()}
    try:
        for s in servers.values():
            s.wait_ready(timeout_s=120)
        measured = measure({name: s.base for name, s in servers.items()}, year, args.runs)
    finally:
        for s in servers.values():
            s.terminate()
        for s in servers.values():
            s.stop(timeout_s=15)
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": args.runs,
        "incidents": args.incidents,
        "counts": counts,
        "year": year,
        "made_by": made_by,
        "demo_ms": measured["demo"],
        "district_ms": measured["district"],
        "requests": {name: measured[f"{name}_requests"] for name in ("demo", "district")},
        "after": {name: statistics.median(measured[f"{name}_after"]) for name in ("demo", "district")},
    }
    section = markdown(result)
    print(section)
    if args.write_md:
        from bench.report import write_section

        write_section(SECTION_START, SECTION_END, section, log, "dashboard render")
    return 0


if __name__ == "__main__":
    sys.exit(main())
