"""The timeline rolled up per whole China day and per whole month, so that a long period is read
from a few thousand rows instead of millions.

The timeline is append-only and its rows' ``at`` is the server's clock, so a day that has ended
does not change: its counters (geo/indicators/counting.py, per dimension, key and kind) are
summed once into ``indicator_days``: a whole month's into one row per key (span "m", ``day``
its first day), and the other whole days' one row per day and key (span "d").
``indicator_days_built`` marks what is complete. Only days before today
(China time, by the service's clock) and months that have ended are built, when a question first
needs them, each in a transaction of its own.

A row written into a past day (an import of old incidents, or a clock set back) is caught by a
trigger on ``incident_history`` that removes the mark of its day and month; the next question
builds them again. On PostgreSQL the trigger takes a shared advisory lock per day and month and
a build takes it exclusively, without waiting (a day being written is counted directly this
time), so a build never misses a row committed while it ran. On SQLite one writer at a time does
the same.

A period is then: its months that are complete, its other whole past days, and the rest (today,
and the partial days at its ends when it does not begin or end at midnight) counted directly.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, Engine, cast, delete, func, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from geo.db.session import session_scope
from geo.indicators.counting import DIMENSIONS, SUMS, H, add, grouped_selects
from geo.indicators.definitions import Counts
from geo.models import IndicatorDay, IndicatorDayBuilt, utcnow
from geo.timezones import CHINA_TIME

D = IndicatorDay
DAY_LOCK, MONTH_LOCK = 30428, 30429  # as in migration 0011
EPOCH = date(2000, 1, 1)


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TIME).date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME)


def month_end(first: date) -> date:
    """The first day of the next month."""
    return first + timedelta(days=calendar.monthrange(first.year, first.month)[1])


@dataclass
class Plan:
    """How a period is read: ranges counted directly, whole days and months from the rollup."""

    direct: list[tuple[datetime, datetime]] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    months: list[date] = field(default_factory=list)


def plan(start: datetime, end: datetime, today: date) -> Plan:
    """Split [start, end) into whole months and days before ``today`` and the rest."""
    out = Plan()
    first = china_day(start) if midnight(china_day(start)) == start else china_day(start) + timedelta(days=1)
    last = china_day(end)  # the whole days are [first, last)
    stop = min(last, today)
    if first >= stop:
        out.direct.append((start, end))
        return out
    if start < midnight(first):
        out.direct.append((start, midnight(first)))
    day = first
    while day < stop:
        if day.day == 1 and month_end(day) <= stop:
            out.months.append(day)
            day = month_end(day)
        else:
            out.days.append(day)
            day += timedelta(days=1)
    if midnight(stop) < end:
        out.direct.append((midnight(stop), end))
    return out


def _day_of(session: Session) -> ColumnElement[date]:
    """The China day of a timeline row, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", H.at) + timedelta(hours=8), Date)
    return func.date(H.at, "+8 hours")


def _try_lock(session: Session, lock: int, day: date) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: this transaction is the one writer
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(lock, (day - EPOCH).days))))


def _marked(session: Session, span: str, days: Iterable[date]) -> set[date]:
    days = sorted(set(days))
    if not days:
        return set()
    rows = session.scalars(
        select(IndicatorDayBuilt.day).where(
            IndicatorDayBuilt.span == span, IndicatorDayBuilt.day >= days[0], IndicatorDayBuilt.day <= days[-1]
        )
    )
    return set(rows) & set(days)


def _fill(session: Session, span: str, start: datetime, end: datetime, days: list[date]) -> None:
    """Insert the rollup rows of ``days`` (span "d", each day's own) or of the month beginning
    on ``days[0]`` (span "m") from the timeline rows in [start, end)."""
    by_day = _day_of(session) if span == "d" else None
    for dim in DIMENSIONS:
        for stmt in grouped_selects(dim, start, end, by_day=by_day):
            inner = stmt.subquery()
            day = inner.c.day if by_day is not None else literal(days[0], Date)
            rows = select(day, literal(span), literal(dim), inner.c.key, inner.c.kind, *[inner.c[n] for n in SUMS])
            if by_day is not None:
                rows = rows.where(inner.c.day.in_(days))
            session.execute(insert(D).from_select(["day", "span", "dim", "key", "kind", *SUMS], rows))
    now = utcnow()
    session.execute(insert(IndicatorDayBuilt), [{"day": d, "span": span, "built_at": now} for d in days])


def _build_days(engine: Engine, days: list[date]) -> None:
    """Roll up ``days`` (consecutive, not yet marked) in one transaction; days being written
    just now are left out."""
    with session_scope(engine, write=True) as session:
        days = [d for d in days if _try_lock(session, DAY_LOCK, d)]
        days = sorted(set(days) - _marked(session, "d", days))
        if not days:
            return
        session.execute(delete(D).where(D.span == "d", D.day.in_(days)))
        _fill(session, "d", midnight(days[0]), midnight(days[-1] + timedelta(days=1)), days)


def _build_month(engine: Engine, first: date) -> None:
    """Roll up a whole month straight from the timeline (unless its rows are being written)."""
    with session_scope(engine, write=True) as session:
        if not _try_lock(session, MONTH_LOCK, first) or _marked(session, "m", [first]):
            return
        session.execute(delete(D).where(D.span == "m", D.day == first))
        _fill(session, "m", midnight(first), midnight(month_end(first)), [first])


def _month_days(first: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((month_end(first) - first).days)}


def ensure(session: Session, p: Plan) -> Plan:
    """Build what ``p`` reads from the rollup and is not built yet; a plan of what is built
    now, the rest (what could not be built just now) moved to the days or the direct ranges."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    months = set(p.months)
    for first in sorted(months - _marked(session, "m", months)):
        _build_month(engine, first)
    session.commit()  # a fresh snapshot (PostgreSQL) that sees the builds
    built_months = _marked(session, "m", months)
    days = set(p.days).union(*[_month_days(first) for first in months - built_months])
    for run in _runs(sorted(days - _marked(session, "d", days))):
        _build_days(engine, run)
    session.commit()
    built_days = _marked(session, "d", days)
    out = Plan(direct=list(p.direct), days=sorted(built_days), months=sorted(built_months))
    for day in sorted(days - built_days):
        out.direct.append((midnight(day), midnight(day + timedelta(days=1))))
    return out


def _runs(days: list[date], longest: int = 31) -> list[list[date]]:
    """Consecutive days in runs of at most ``longest`` (one transaction each)."""
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][-1] + timedelta(days=1) == day and len(runs[-1]) < longest:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def read(
    session: Session,
    span: str,
    days: list[date],
    dim: str,
    kind: str | None = None,
    keys: Iterable[str] | None = None,
) -> dict[str, Counts]:
    """Key -> counters summed over the rollup rows of ``days`` (span "d") or months ("m")."""
    out: dict[str, Counts] = {}
    if not days:
        return out
    stmt = select(D.key, *[func.sum(getattr(D, n)).label(n) for n in SUMS]).where(
        D.span == span, D.dim == dim, D.day.in_(days)
    )
    if kind is not None:
        stmt = stmt.where(D.kind == kind)
    if keys is not None:
        stmt = stmt.where(D.key.in_(sorted(keys)))
    for row in session.execute(stmt.group_by(D.key)).mappings():
        add(out, row["key"], row)
    return out


def prepare(session: Session, now: datetime, months: int = 13) -> Plan:
    """Build the rollup of the last ``months`` whole months before ``now`` and of this month's
    days so far (what a dashboard asks first), so that no question pays for it."""
    today = china_day(now)
    first = date(today.year, today.month, 1)
    for _ in range(months):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return ensure(session, plan(midnight(first), midnight(today), today))
