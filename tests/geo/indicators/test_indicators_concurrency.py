"""Many people asking for the indicators of past months at once, against a real server, while
rows are written into those months (an import): every answer is whole (200, never a 5xx), and
once the writes are done the answer is the test's own count of every row, on both databases.

Each first question builds the rollup of months and days; concurrent builders of the same month
must not count it twice, and a build must not miss a row committed while it ran."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta

import httpx

from api.v1 import API_PREFIX as API
from geo.db.session import session_scope
from tests.geo.indicators.conftest import CST, key_functions, write_timeline
from tests.support.timeline import expected, step_row
from tests.support.world import bearer

# Months the real clock has left behind.
START, END = datetime(2026, 7, 1, tzinfo=CST), datetime(2026, 10, 1, tzinfo=CST)


def test_concurrent_first_questions_and_writes_into_the_past(db_url, engine, world, tokens, serve_wangge):
    rng = random.Random(20260701)
    rows, _rest = write_timeline(engine, world, rng, 60, START - timedelta(days=10), timedelta(days=100))
    base = serve_wangge(db_url)
    params = {"start": START.isoformat(), "end": END.isoformat(), "by": "grid"}
    answers: list[tuple[int, str]] = []
    failures: list[BaseException] = []
    written: list = []
    responders = sorted(world.responder.values())
    state = {"kind": "case", "category": "dispute", "grid_id": world.grid["441802001001001"], "department": "市政"}

    def ask() -> None:
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                for _ in range(3):
                    r = client.get(f"{API}/stats/indicators", params=params, headers=bearer(tokens["community"]))
                    answers.append((r.status_code, r.text[:300]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def write() -> None:
        try:
            for n in range(6):
                with session_scope(engine) as s:
                    at = datetime(2026, 7, 3, 10, tzinfo=CST) + timedelta(days=n * 15)
                    for action in ("report", "register", "handle", "overdue", "check"):
                        written.append(step_row(s, rng, rows[n].incident_id, at, action, state, responders))
                        at += timedelta(hours=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)] + [threading.Thread(target=write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    assert answers and all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    assert len(written) == 30
    with httpx.Client(base_url=base, timeout=60) as client:
        for by in ("grid", "worker", "none"):
            body = client.get(
                f"{API}/stats/indicators", params={**params, "by": by}, headers=bearer(tokens["community"])
            ).json()
            want = expected(rows + written, START, END, key_functions(world)[by])
            got = {row["key"]: row for row in body["rows"]}
            for key, figures in want.items():
                for name, value in figures.items():
                    assert got[key][name] == value or abs(got[key][name] - value) < 1e-9, (by, key, name)
