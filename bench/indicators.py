"""Benchmark: the indicators (issue 13, "Speed") for a year of a district, by grid, on PostGIS.

    python -m bench.indicators                       # 1,000 grids, 1,000,000 incidents, 6,000,000 timeline rows
    python -m bench.indicators --incidents 200000    # smaller
    python -m bench.indicators --write-md            # and write this benchmark's section of BENCHMARKS.md

In one run, on one PostGIS database (``WANGGE_BENCH_INDICATORS_URL``, default
postgresql://postgres@127.0.0.1:5432/wangge_bench_indicators; made and migrated if missing, and
the data kept for the next run when it is the same size and seed):

1. The data (seed 20261130): 1 street, 10 communities, 1,000 grids, 2,000 responders (a worker
   and a leader per grid), and ``--incidents`` incidents over the year 2025, each with 6 timeline
   rows with the indicator columns, along one of a few paths (report, verify, register, dispatch,
   handle, rework, check and close, evaluate, overdue, supervise, reject, merge, comments), with
   on-time flags, working hours, 30 categories, 4 kinds and 12 departments. Written by COPY with
   the triggers off (a bulk load; the rollup starts empty).
2. The question: every indicator for 2025 by grid.
   - PostGIS: the equivalent SQL written directly: one GROUP BY over the year's timeline rows with
     a FILTER clause per counter, and the 应结案 term (incidents overdue in the year and not
     ended by its end, each once: the first overdue row of each by a window) by NOT EXISTS,
     joined to the grids; the same statement for that term as wangge's.
   - wangge: ``geo.indicators.report.indicators(session, start, end, now, "grid")``, in process,
     the whole answer (names, rates, scores, grades) included. Its first call builds the daily
     and monthly rollup (timed apart, once); the timed calls read it.
   Both alternate, ``--repeats`` times each; the figure is the median. The answers are compared
   grid by grid, every counter.

Target (issue 13): wangge in at most 1/3 of the time of the SQL.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.report import write_section

ROOT = Path(__file__).absolute().parent.parent
SECTION_START = "<!-- bench:indicators start (written by python -m bench.indicators --write-md) -->"
SECTION_END = "<!-- bench:indicators end -->"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/wangge_bench_indicators"
SEED = 20261201
ROWS_PER_INCIDENT = 6
YEAR = 2025
KINDS = ["case", "hazard", "illegal_structure", "renovation"]
KIND_SHARE = [0.7, 0.2, 0.05, 0.05]
DEPARTMENTS = ["城管局", "市政", "环卫", "住建", "交警", "市场监管", "水务", "园林", "供电", "燃气", "街道办", "社区"]
# The paths, 6 rows each: (action, step) per row; "check" writes one row with step close.
PATHS: list[tuple[float, list[tuple[str, str | None]]]] = [
    (
        0.50,
        [
            ("report", "report"),
            ("register", "register"),
            ("dispatch", "dispatch"),
            ("handle", "handle"),
            ("check", "close"),
            ("evaluate", "evaluate"),
        ],
    ),
    (
        0.14,
        [
            ("report", "report"),
            ("verify", "verify"),
            ("register", "register"),
            ("dispatch", "dispatch"),
            ("handle", "handle"),
            ("check", "close"),
        ],
    ),
    (
        0.10,
        [
            ("report", "report"),
            ("register", "register"),
            ("dispatch", "dispatch"),
            ("escalate", "overdue"),
            ("supervise", "supervise"),
            ("handle", "handle"),
        ],
    ),
    (
        0.08,
        [
            ("report", "report"),
            ("register", "register"),
            ("dispatch", "dispatch"),
            ("handle", "handle"),
            ("return", "rework"),
            ("handle", "handle"),
        ],
    ),
    (
        0.06,
        [
            ("report", "report"),
            ("register", "register"),
            ("dispatch", "dispatch"),
            ("escalate", "overdue"),
            ("handle", "handle"),
            ("check", "close"),
        ],
    ),
    (
        0.07,
        [
            ("report", "report"),
            ("escalate", "overdue"),
            ("reject", "reject"),
            ("comment", None),
            ("comment", None),
            ("comment", None),
        ],
    ),
    (
        0.05,
        [
            ("report", "report"),
            ("merge", "merge"),
            ("comment", None),
            ("comment", None),
            ("comment", None),
            ("comment", None),
        ],
    ),
]
ON_TIME_STEPS = {"verify", "handle", "close"}
# On-site checks, marked in the row's changes as the workflow marks them.
MARKS = {"verify": "核实", "check": "核查", "return": "核查"}

BASELINE_SQL = """
WITH c AS (
    SELECT grid_id,
        count(*) FILTER (WHERE step = 'report') AS reports,
        count(*) FILTER (WHERE step = 'register') AS registered,
        count(*) FILTER (WHERE step = 'reject') AS rejected,
        count(*) FILTER (WHERE step = 'merge') AS merged,
        count(*) FILTER (WHERE step = 'handle') AS handled,
        count(*) FILTER (WHERE step = 'handle' AND on_time IS NOT NULL) AS handle_timed,
        count(*) FILTER (WHERE step = 'handle' AND on_time) AS handled_on_time,
        count(*) FILTER (WHERE step = 'rework') AS reworks,
        count(*) FILTER (WHERE step = 'close') AS closed,
        count(*) FILTER (WHERE step = 'close' AND on_time) AS closed_on_time,
        count(*) FILTER (WHERE (step = 'verify' OR changes->>'check' = '核实')
            AND coalesce((changes->>'check_on_time')::boolean, on_time) IS NOT NULL) AS verify_timed,
        count(*) FILTER (WHERE (step = 'verify' OR changes->>'check' = '核实')
            AND coalesce((changes->>'check_on_time')::boolean, on_time)) AS verified_on_time,
        count(*) FILTER (WHERE (step = 'check' OR changes->>'check' = '核查')
            AND coalesce((changes->>'check_on_time')::boolean, on_time) IS NOT NULL) AS check_timed,
        count(*) FILTER (WHERE (step = 'check' OR changes->>'check' = '核查')
            AND coalesce((changes->>'check_on_time')::boolean, on_time)) AS checked_on_time,
        count(*) FILTER (WHERE step = 'supervise') AS supervised,
        count(*) FILTER (WHERE step = 'overdue') AS overdue,
        count(*) FILTER (WHERE step = 'handle' AND work_hours IS NOT NULL) AS work_hours_n,
        coalesce(sum(work_hours) FILTER (WHERE step = 'handle'), 0) AS work_hours_sum
    FROM incident_history
    WHERE at >= %(start)s AND at < %(end)s
    GROUP BY grid_id
), owed AS (
    SELECT grid_id, count(*) AS owed FROM (
        SELECT o.grid_id, row_number() OVER (PARTITION BY o.incident_id ORDER BY o.id) AS n
        FROM incident_history o
        WHERE o.step = 'overdue' AND o.at >= %(start)s AND o.at < %(end)s
          AND NOT EXISTS (SELECT 1 FROM incident_history e WHERE e.incident_id = o.incident_id
                          AND e.step IN ('close', 'reject', 'merge') AND e.at < %(end)s)
    ) AS first_overdue
    WHERE n = 1
    GROUP BY grid_id
)
SELECT g.code, c.*, coalesce(owed.owed, 0) AS owed
FROM grids g LEFT JOIN c ON c.grid_id = g.id LEFT JOIN owed ON owed.grid_id = g.id
ORDER BY g.code
"""


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def psycopg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = make_url(psycopg_dsn(url)).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


# ----------------------------------------------------------------------------- data


def _copy(conn, table: str, columns: list[str], frame) -> None:
    buffer = io.StringIO()
    # COPY's text format: tab-separated, \N for null, no quoting (the values hold no tab, newline
    # or backslash; the quote character is one they never hold, so JSON's quotes stay as they are).
    frame.to_csv(buffer, header=False, index=False, na_rep="\\N", sep="\t", quotechar="\x07")
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def generate(url: str, incidents: int) -> dict:
    """The district and its year in the database (triggers off: a bulk load)."""
    import pandas as pd
    import psycopg

    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "TRUNCATE indicator_days, indicator_days_built, incident_history, incidents, responder_grids, "
            "responders, grids, communities, streets RESTART IDENTITY CASCADE"
        )
        conn.execute(
            "INSERT INTO streets (code, name, district_code, district_name, city_name) "
            "VALUES ('441802001', '凤城街道', '441802', '清城区', '清远市')"
        )
        conn.execute(
            "INSERT INTO communities (street_id, code, name) SELECT 1, '441802001' || lpad(n::text, 3, '0'), "
            "'社区' || n FROM generate_series(1, 10) n"
        )
        # 1,000 grids of about 300 m x 300 m on a 40 x 25 lattice; a community is 100 of them.
        conn.execute(
            "INSERT INTO grids (community_id, code, name, properties, geom, updated_at) "
            "SELECT (n - 1) / 100 + 1, '441802001' || lpad(((n - 1) / 100 + 1)::text, 3, '0') || lpad(n::text, 3, '0'), "
            "'网格' || n, '{}', ST_Multi(ST_MakeEnvelope(113.0 + ((n - 1) % 40) * 0.003, 23.6 + ((n - 1) / 40) * 0.003, "
            "113.003 + ((n - 1) % 40) * 0.003, 23.603 + ((n - 1) / 40) * 0.003, 4326)), now() "
            "FROM generate_series(1, 1000) n"
        )
        conn.execute(
            "INSERT INTO responders (code, name, kind, role, on_duty, properties) "
            "SELECT 'R' || lpad(n::text, 5, '0'), '网格员' || n, 'person', "
            "CASE WHEN n % 2 = 1 THEN 'grid_worker' ELSE 'grid_leader' END, true, '{}' FROM generate_series(1, 2000) n"
        )
        conn.execute(
            "INSERT INTO responder_grids (responder_id, grid_id) SELECT n, (n + 1) / 2 FROM generate_series(1, 2000) n"
        )
        # Incidents.
        n = incidents
        ids = np.arange(1, n + 1)
        grid = rng.integers(1, 1001, n)
        kind = rng.choice(len(KINDS), n, p=KIND_SHARE)
        category = rng.integers(0, 30, n)
        department = rng.integers(0, len(DEPARTMENTS), n)
        year_s = (datetime(YEAR + 1, 1, 1, tzinfo=UTC) - datetime(YEAR, 1, 1, tzinfo=UTC)).total_seconds()
        # Reported over the year in China time (naive UTC datetime64 here).
        start = np.datetime64(f"{YEAR - 1}-12-31T16:00:00", "ns") + (rng.uniform(0, year_s, n) * 1e9).astype(
            "timedelta64[ns]"
        )
        gx, gy = (grid - 1) % 40, (grid - 1) // 40
        frame = pd.DataFrame(
            {
                "id": ids,
                "kind": np.array(KINDS)[kind],
                "category": [f"E{c // 10 + 1:02d}{c % 10 + 1:02d}" for c in category],
                "status": "closed",
                "title": "基准事件",
                "grid_id": grid,
                "assignee_id": grid * 2 - 1,
                "properties": "{}",
                "version": 1,
                "created_at": pd.to_datetime(start, utc=True),
                "updated_at": pd.to_datetime(start, utc=True),
                "geom": [
                    f"SRID=4326;POINT({113.0015 + x * 0.003} {23.6015 + y * 0.003})"
                    for x, y in zip(gx, gy, strict=True)
                ],
                "escalation": 0,
                "possible_duplicates": "[]",
                "rework_count": 0,
                "supervision_count": 0,
            }
        )
        _copy(conn, "incidents", list(frame.columns), frame)
        log(f"{n:,} incidents in {time.perf_counter() - t0:.0f} s")
        # Their timelines, ROWS_PER_INCIDENT rows each, in chunks.
        shares = np.array([share for share, _steps in PATHS])
        path = rng.choice(len(PATHS), n, p=shares / shares.sum())
        actions = np.array([[a for a, _s in path_steps] for _share, path_steps in PATHS])
        steps = np.array([[s or "" for _a, s in path_steps] for _share, path_steps in PATHS])
        gaps = rng.choice([0.2, 1.0, 5.0, 30.0, 120.0], (n, ROWS_PER_INCIDENT), p=[0.3, 0.3, 0.2, 0.15, 0.05])
        gaps[:, 0] = 0
        offsets = np.cumsum(gaps, axis=1)  # hours after the report
        chunk = 200_000
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            m = hi - lo
            rows = m * ROWS_PER_INCIDENT
            step = steps[path[lo:hi]].reshape(rows)
            action = actions[path[lo:hi]].reshape(rows)
            at = np.repeat(start[lo:hi], ROWS_PER_INCIDENT) + (offsets[lo:hi].reshape(rows) * 3.6e12).astype(
                "timedelta64[ns]"
            )
            timed = np.isin(step, list(ON_TIME_STEPS))
            on_time = pd.Series(np.where(rng.random(rows) < 0.85, "t", "f")).where(timed)
            hours = np.where(step == "handle", np.round(rng.gamma(2.0, 6.0, rows), 2), np.nan)
            punctual = np.where(rng.random(rows) < 0.9, "true", "false")
            changes = np.full(rows, "{}", dtype=object)
            for name, mark in MARKS.items():
                marked = action == name
                changes[marked] = [f'{{"check": "{mark}", "check_on_time": {p}}}' for p in punctual[marked]]
            g = np.repeat(grid[lo:hi], ROWS_PER_INCIDENT)
            responder = np.where(rng.random(rows) < 0.5, g * 2 - 1, g * 2)
            history = pd.DataFrame(
                {
                    "incident_id": np.repeat(ids[lo:hi], ROWS_PER_INCIDENT),
                    "at": pd.to_datetime(at, utc=True),
                    "actor": "bench",
                    "action": action,
                    "changes": changes,
                    "step": pd.Series(step).where(step != ""),
                    "kind": np.repeat(np.array(KINDS)[kind[lo:hi]], ROWS_PER_INCIDENT),
                    "category": np.repeat(frame["category"].to_numpy()[lo:hi], ROWS_PER_INCIDENT),
                    "grid_id": g,
                    "assignee_id": g * 2 - 1,
                    "responder_id": responder,
                    "department": np.repeat(np.array(DEPARTMENTS)[department[lo:hi]], ROWS_PER_INCIDENT),
                    "on_time": on_time,
                    "work_hours": hours,
                }
            )
            _copy(conn, "incident_history", list(history.columns), history)
            log(f"timeline rows {hi * ROWS_PER_INCIDENT:,} in {time.perf_counter() - t0:.0f} s")
        conn.execute("SET session_replication_role = origin")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_indicators_meta (incidents integer, seed integer, generated_s float)"
        )
        conn.execute("TRUNCATE bench_indicators_meta")
        conn.execute("INSERT INTO bench_indicators_meta VALUES (%s, %s, %s)", (n, SEED, time.perf_counter() - t0))
        conn.commit()
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE incident_history")
        conn.execute("VACUUM ANALYZE incidents")
    return {"generated_s": time.perf_counter() - t0}


def _one(conn, sql: str):
    row = conn.execute(sql).fetchone()
    return None if row is None else row[0]


def existing(url: str) -> dict | None:
    import psycopg

    with psycopg.connect(psycopg_dsn(url)) as conn:
        try:
            row = conn.execute("SELECT incidents, seed, generated_s FROM bench_indicators_meta").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return {"incidents": row[0], "seed": row[1], "generated_s": row[2]} if row else None


# ----------------------------------------------------------------------------- the two sides


def period() -> tuple[datetime, datetime]:
    from geo.timezones import CHINA_TIME

    return datetime(YEAR, 1, 1, tzinfo=CHINA_TIME), datetime(YEAR + 1, 1, 1, tzinfo=CHINA_TIME)


def baseline(conn) -> tuple[float, dict]:
    start, end = period()
    t0 = time.perf_counter()
    cur = conn.execute(BASELINE_SQL, {"start": start, "end": end})
    rows = cur.fetchall()
    elapsed = time.perf_counter() - t0
    names = [d.name for d in cur.description]
    return elapsed, {r[0]: dict(zip(names, r, strict=True)) for r in rows}


def wangge(engine, now: datetime) -> tuple[float, dict]:
    from geo.db.session import session_scope
    from geo.indicators.report import indicators

    start, end = period()
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        answer = indicators(session, start, end, now, "grid")
    return time.perf_counter() - t0, {row["key"]: row for row in answer["rows"]}


def agree(base: dict, ours: dict) -> list[str]:
    """Every grid's figures from the SQL's counters (the same formulas) against wangge's."""
    from geo.indicators.definitions import DEFAULT_GRADES, DEFAULT_WEIGHTS, values

    problems = []
    for code, row in base.items():
        counts = {k: (row[k] or 0) for k in row if k not in ("code", "grid_id", "owed")}
        want = values(counts, row["owed"], DEFAULT_WEIGHTS, DEFAULT_GRADES)
        got = ours.get(code)
        if got is None:
            problems.append(f"{code}: missing")
            continue
        for key, value in want.items():
            other = got[key]
            same = other == value if not isinstance(value, float) else abs(other - value) <= 1e-9 * max(1, abs(value))
            if not same:
                problems.append(f"{code} {key}: SQL {value}, wangge {other}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--regenerate", action="store_true", help="generate the data even if it is there")
    parser.add_argument("--write-md", action="store_true")
    args = parser.parse_args(argv)
    url = os.environ.get("WANGGE_BENCH_INDICATORS_URL", DEFAULT_PG)
    os.environ["WANGGE_DATABASE_URL"] = url
    import psycopg

    from geo.db import schema
    from geo.db.engine import make_engine

    ensure_database(url)
    engine = make_engine(url)
    schema.upgrade(engine)
    have = existing(url)
    if args.regenerate or have is None or have["incidents"] != args.incidents or have["seed"] != SEED:
        log(f"generating {args.incidents:,} incidents and {args.incidents * ROWS_PER_INCIDENT:,} timeline rows")
        have = {"incidents": args.incidents, "seed": SEED, **generate(url, args.incidents)}
        reused = False
    else:
        log(f"reusing the data generated before ({have['incidents']:,} incidents)")
        reused = True
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("TRUNCATE indicator_days, indicator_days_built")  # the first call builds it anew
        rows = _one(conn, "SELECT count(*) FROM incident_history")
    now = datetime(YEAR + 1, 3, 1, tzinfo=UTC)
    first_s, ours = wangge(engine, now)
    log(f"wangge's first call (builds the rollup): {first_s:.2f} s")
    base_times, ours_times = [], []
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        base_s, base = baseline(conn)  # a warm-up of the table's pages
        log(f"SQL warm-up {base_s:.2f} s")
        for n in range(args.repeats):
            t, base = baseline(conn)
            base_times.append(t)
            t2, ours = wangge(engine, now)
            ours_times.append(t2)
            log(f"round {n + 1}: SQL {t:.3f} s, wangge {t2:.3f} s")
        days = conn.execute("SELECT span, count(*) FROM indicator_days GROUP BY span ORDER BY span").fetchall()
        pg = {
            "version": _one(conn, "SHOW server_version"),
            "postgis": _one(conn, "SELECT postgis_lib_version()"),
            "shared_buffers": _one(conn, "SHOW shared_buffers"),
            "work_mem": _one(conn, "SHOW work_mem"),
            "parallel": _one(conn, "SHOW max_parallel_workers_per_gather"),
        }
    problems = agree(base, ours)
    med_base, med_ours = statistics.median(base_times), statistics.median(ours_times)
    result = {
        "command": "python -m bench.indicators"
        + (f" --incidents {args.incidents}" if args.incidents != 1_000_000 else "")
        + (" --write-md" if args.write_md else ""),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "incidents": have["incidents"],
        "rows": rows,
        "generated_s": have["generated_s"],
        "reused": reused,
        "first_s": first_s,
        "rollup_rows": dict(days),
        "sql_s": base_times,
        "wangge_s": ours_times,
        "sql_median_s": med_base,
        "wangge_median_s": med_ours,
        "ratio": med_base / med_ours,
        "grids": len(base),
        "disagreements": problems[:20],
        "disagreement_count": len(problems),
        "pg": pg,
    }
    print(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    met = result["ratio"] >= 3.0 and not problems
    log(f"SQL {med_base:.3f} s, wangge {med_ours:.3f} s: {result['ratio']:.1f}x as fast; answers agree: {not problems}")
    if args.write_md:
        write_md(result, met)
    engine.dispose()
    return 0 if met else 1


def write_md(r: dict, met: bool) -> None:
    rows = r["rollup_rows"]
    lines = [
        SECTION_START,
        "## Indicators: a year of a district by grid (issue 13)",
        "",
        f"Command: `{r['command']}` (run {r['date']} on commit `{r['commit']}`, {r['cores']} cores, Python {r['python']}, "
        f"PostgreSQL {r['pg']['version']} with PostGIS {r['pg']['postgis']} on the same machine, shared_buffers "
        f"{r['pg']['shared_buffers']}, work_mem {r['pg']['work_mem']}, max_parallel_workers_per_gather "
        f"{r['pg']['parallel']}; load average at the end {', '.join(f'{x:.2f}' for x in r['loadavg'])}: the machine is shared, "
        "compare within the run).",
        "",
        f"Data (seed {SEED}, `bench/indicators.py`): 1,000 grids in 10 communities, 2,000 responders, "
        f"{r['incidents']:,} incidents over {YEAR} with {r['rows']:,} timeline rows carrying the indicator columns "
        f"(7 paths through report, verify, register, dispatch, handle, rework, check and close, evaluate, overdue, "
        f"supervise, reject and merge; 30 categories, 4 kinds, 12 departments), written by COPY in "
        f"{r['generated_s']:.0f} s{' (in an earlier run; reused)' if r['reused'] else ''}.",
        "",
        "| what is timed | wangge | PostGIS, the SQL written directly | ratio | target | result |",
        "|---|---|---|---|---|---|",
        f"| every indicator for {YEAR} by grid (1,000 rows) | {r['wangge_median_s'] * 1000:.0f} ms: "
        '`geo.indicators.report.indicators(..., by="grid")`, the whole answer, from the monthly rollup and the '
        f"应结案 term | {r['sql_median_s'] * 1000:.0f} ms: one `GROUP BY grid_id` with a `FILTER` per counter over the "
        f"year's rows, and the 应结案 term (the same statement as wangge's: `NOT EXISTS` and a window) | {r['ratio']:.1f}× as fast | ≥ 3× | "
        f"**{'PASS' if met else 'FAIL'}** |",
        "",
        f"- Medians of {len(r['sql_s'])} alternating rounds: SQL {', '.join(f'{t:.2f}' for t in r['sql_s'])} s; "
        f"wangge {', '.join(f'{t:.3f}' for t in r['wangge_s'])} s.",
        f"- Answers: {r['grids']:,} grids compared, every indicator from the SQL's counters by the same formulas; "
        f"{r['disagreement_count']} disagreements.",
        f"- The first call built the rollup (the 12 whole months, each straight from the timeline: "
        f"{rows.get('m', 0):,} month rows per grid, worker, department and category and kind; {rows.get('d', 0):,} day "
        f"rows) in {r['first_s']:.1f} s, once: a finished day never changes, and a row written into one (an import) "
        "removes its day's and month's marks so that they are built again. Asked again, the year is 12 month rows per "
        "grid and kind.",
        "- What is left each time is the 应结案 term (incidents overdue in the year and not ended by its end): the "
        "overdue rows of the period (a partial index on `step = 'overdue'` that covers them) without an ending row "
        "before the end (a partial index of the endings by incident), the first of each incident by a window.",
        SECTION_END,
    ]
    write_section(SECTION_START, SECTION_END, "\n".join(lines), log, "indicators")


if __name__ == "__main__":
    sys.exit(main())
