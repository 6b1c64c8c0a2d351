"""Every indicator equals the test's own count of the timeline rows it wrote (tests/support/
timeline.py, plain Python over the rows), for past periods, by every grouping, on both databases,
read through the rollup and straight from the timeline alike; before and after more changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geo.db.session import session_scope
from geo.errors import BadQuery
from geo.indicators import rollup
from geo.indicators.report import indicators
from geo.models import IndicatorDayBuilt
from tests.geo.indicators.conftest import AFTER, CST, PERIOD, key_functions
from tests.support.timeline import Row, expected, step_row


def answer_of(engine, start, end, by, now, use_rollup=True, kind=None) -> dict:
    with session_scope(engine) as s:
        return indicators(s, start, end, now, by, kind=kind, use_rollup=use_rollup)


def check_answer(answer: dict, want: dict) -> None:
    got = {row["key"]: row for row in answer["rows"]}
    for key, figures in want.items():
        assert key in got, (key, sorted(got))
        for name, value in figures.items():
            assert got[key][name] == pytest.approx(value), (answer["by"], key, name)
    for key, row in got.items():
        if key not in want:  # listed with zeros (a grid with nothing in the period)
            assert row["reports"] == row["closed"] == row["due_to_close"] == row["overdue"] == 0, key
    total = expected_total(want)
    for name in ("reports", "registered", "closed", "due_to_close", "handled", "supervised", "overdue"):
        assert answer["total"][name] == total[name], name


def expected_total(want: dict) -> dict:
    return {
        n: sum(v[n] for v in want.values())
        for n in ("reports", "registered", "closed", "due_to_close", "handled", "supervised", "overdue")
    }


def check_all(engine, world, rows: list[Row], start, end, now) -> None:
    keys = key_functions(world)
    for by, key_of in keys.items():
        want = expected(rows, start, end, key_of)
        for use_rollup in (True, False):
            check_answer(answer_of(engine, start, end, by, now, use_rollup), want)
    # One kind only.
    cases = [r for r in rows if r.kind == "case"]
    check_answer(answer_of(engine, start, end, "grid", now, kind="case"), expected(cases, start, end, keys["grid"]))


PERIODS = [
    PERIOD,
    # partial days at both ends, whole days, a whole month, and days after "today"
    (datetime(2027, 2, 20, 13, 37, tzinfo=CST), datetime(2027, 5, 10, 15, 5, tzinfo=CST)),
    (datetime(2027, 4, 8, 12, tzinfo=CST), datetime(2027, 4, 8, 12, 30, tzinfo=CST)),
]


def test_every_indicator_matches_the_tests_own_count(engine, world, timeline):
    rows, _rest, _rng = timeline
    # The scenario exercises every figure in the period.
    want = expected(rows, *PERIOD, lambda r, c: "all")["all"]
    for name in ("reports", "registered", "closed", "due_to_close", "handled", "supervised", "overdue"):
        assert want[name] >= 2, name
    assert want["due_to_close"] > want["closed"]  # some overdue and not closed by the end
    for name in (
        "valid_report_rate",
        "handle_on_time_rate",
        "rework_rate",
        "verify_on_time_rate",
        "check_on_time_rate",
    ):
        assert 0 < want[name] < 1, name
    for start, end in PERIODS:
        check_all(engine, world, rows, start, end, AFTER)
    # "Today" inside the period: the days up to yesterday from the rollup, the rest directly.
    check_all(engine, world, rows, *PERIODS[1], datetime(2027, 5, 5, 9, tzinfo=CST))
    with session_scope(engine) as s:
        built = {(b.span, b.day) for b in s.query(IndicatorDayBuilt)}
    assert ("m", datetime(2027, 4, 1).date()) in built and ("d", datetime(2027, 2, 21).date()) in built


def test_a_past_periods_figures_do_not_change_when_incidents_move_on(engine, world, timeline):
    rows, rest, rng = timeline
    before = {by: answer_of(engine, *PERIOD, by, AFTER) for by in key_functions(world)}
    # Every incident goes on along its path after the period: closes, rejections, rework...
    responders = sorted(world.responder.values())
    with session_scope(engine) as s:
        for incident_id, (at, path, state) in rest.items():
            at = max(at, PERIOD[1] + timedelta(hours=1))
            for action in [*path, "overdue", "check"]:
                rows.append(step_row(s, rng, incident_id, at, action, state, responders))
                at += timedelta(hours=5)
    for by in key_functions(world):
        assert answer_of(engine, *PERIOD, by, AFTER + timedelta(days=60)) == before[by], by
    check_all(engine, world, rows, *PERIOD, AFTER + timedelta(days=60))
    check_all(engine, world, rows, PERIOD[0], AFTER + timedelta(days=30), AFTER + timedelta(days=60))


def test_rows_written_into_a_past_day_are_counted(engine, world, timeline):
    """An import writes the past: the rollup of the days it touches is built again."""
    rows, _rest, rng = timeline
    check_all(engine, world, rows, *PERIOD, AFTER)
    responders = sorted(world.responder.values())
    state = {"kind": "case", "category": "dispute", "grid_id": world.grid["441802001001002"], "department": "市政"}
    with session_scope(engine) as s:
        incident_id = rows[0].incident_id
        for n, action in enumerate(["report", "register", "handle", "overdue", "check"]):
            at = datetime(2027, 4, 3 + n * 5, 9, tzinfo=CST)
            rows.append(step_row(s, rng, incident_id, at, action, state, responders))
    with session_scope(engine) as s:
        built = {(b.span, b.day) for b in s.query(IndicatorDayBuilt)}
    assert ("d", datetime(2027, 4, 3).date()) not in built and ("m", datetime(2027, 4, 1).date()) not in built
    check_all(engine, world, rows, *PERIOD, AFTER)


def test_a_period_must_end_after_it_starts(engine):
    with session_scope(engine) as s, pytest.raises(BadQuery, match="must end after it starts"):
        indicators(s, PERIOD[1], PERIOD[0], AFTER)
    with session_scope(engine) as s, pytest.raises(BadQuery, match="Unknown grouping"):
        indicators(s, *PERIOD, AFTER, by="street")


def test_the_plan_of_a_period():
    p = rollup.plan(*PERIODS[1], datetime(2027, 5, 5).date())
    assert p.months == [datetime(2027, 3, 1).date(), datetime(2027, 4, 1).date()]
    assert p.days[0] == datetime(2027, 2, 21).date() and p.days[-1] == datetime(2027, 5, 4).date()
    assert p.direct == [
        (PERIODS[1][0], datetime(2027, 2, 21, tzinfo=CST)),
        (datetime(2027, 5, 5, tzinfo=CST), PERIODS[1][1]),
    ]


def test_categories_are_named_as_the_current_catalogue_names_them(engine, world, timeline):
    from geo.models import CatalogueEntry, CatalogueVersion

    with session_scope(engine) as s:
        for version in s.query(CatalogueVersion):
            version.is_current = False  # the default catalogue's names give way to a city's own
        s.flush()
        last = max([v.number for v in s.query(CatalogueVersion)], default=0)
        for number, name, current in ((last + 1, "纠纷", False), (last + 2, "邻里纠纷", True)):
            version = CatalogueVersion(number=number, name=f"v{number}", imported_by="test", is_current=current)
            s.add(version)
            s.flush()
            s.add(
                CatalogueEntry(
                    version_id=version.id,
                    domain="event",
                    major_code="01",
                    major_name="社会治安",
                    minor_code="02",
                    minor_name=name,
                    category="dispute",
                    kind="case",
                    time_limit=3,
                    time_unit="working_days",
                )
            )
    rows = {row["key"]: row["name"] for row in answer_of(engine, *PERIOD, "category", AFTER)["rows"]}
    assert rows["dispute"] == "邻里纠纷"  # the current version's name, not an older one's
    assert rows["fire_safety"] == "消防安全"  # named by an older version (the default catalogue) alone


def test_the_rollup_is_prepared_ahead_and_gives_the_same_figures(engine, world, timeline, cli):
    rows = timeline[0]
    with session_scope(engine) as s:
        built = rollup.prepare(s, AFTER, months=3)
    assert built.months == [datetime(2027, m, 1).date() for m in (3, 4, 5)]
    assert built.days[0] == datetime(2027, 6, 1).date() and built.days[-1] == datetime(2027, 6, 14).date()
    check_all(engine, world, rows, *PERIOD, AFTER)
    r = cli("indicators", "rollup", "--months", "2")  # the real clock: months with nothing in them
    assert r.exit_code == 0 and "rolled up: 2 month(s)" in r.output, r.output
