"""Which days are working days: weekends, China's public holidays and 调休 working days.

The national days come from the chinese-calendar package, which follows the State Council's yearly
notice (国务院办公厅关于部分节假日安排的通知) and covers the years up to the last notice it has.
A file (``WANGGE_WORK_CALENDAR_FILE``) adds a city's own holidays and working days, and the years
the package does not know yet. A year neither covers raises :class:`YearNotCovered`: counting its
holidays as working days would put every deadline over them in the wrong place without a word.
The service itself (``WANGGE_WORK_CALENDAR_UNKNOWN_YEARS=weekdays``, the default) counts such a
year Monday to Friday and logs a warning once, so that a deadline running into a year whose
notice is not out yet does not stop the work; ``refuse`` answers 503 instead.
"""

from __future__ import annotations

import csv
import io
import logging
import tomllib
from array import array
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import chinese_calendar

from geo.errors import RowProblems, WanggeError

log = logging.getLogger(__name__)

WEEKEND = frozenset({5, 6})  # Saturday and Sunday (国务院关于职工工作时间的规定, 第七条)
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)

# A row's kind, as the file may write it.
HOLIDAY, WORKDAY, YEAR = "holiday", "workday", "year"
KINDS = {
    HOLIDAY: HOLIDAY,
    "放假": HOLIDAY,
    "休息": HOLIDAY,
    WORKDAY: WORKDAY,
    "上班": WORKDAY,
    "工作日": WORKDAY,
    YEAR: YEAR,
    "全年": YEAR,
}
COLUMNS = {"date": "date", "日期": "date", "kind": "kind", "类型": "kind", "name": "name", "名称": "name"}


class YearNotCovered(WanggeError):
    """No one has said which days of this year are public holidays and which are make-up working days."""


class CalendarFileError(RowProblems):
    """The calendar file cannot be used; the message lists each bad row."""

    def __init__(self, source: str, problems: list[str]):
        super().__init__(f"{source}: the working-day calendar cannot be read.", problems)


@dataclass(frozen=True)
class Day:
    working: bool
    name: str | None = None  # the holiday's or make-up day's name; None for an ordinary day


@dataclass(frozen=True)
class YearDays:
    """One year's working days, laid out for counting: index ``i`` is the year's day ``i`` (0 = 1 January)."""

    year: int
    first: int  # the proleptic ordinal of 1 January
    working: bytes  # 1 for a working day
    before: array  # before[i]: working days in days 0 .. i-1; before[-1]: the year's total


class DayCalendar:
    """The kind of every day: the file's rows first, then the package's, then Monday to Friday work."""

    def __init__(
        self,
        overrides: dict[date, Day] | None = None,
        full_years: frozenset[int] = frozenset(),
        weekend: frozenset[int] = WEEKEND,
        source: str | None = None,
        unknown_years: str = "refuse",
    ):
        if unknown_years not in ("refuse", "weekdays"):
            raise ValueError(f"unknown_years is refuse or weekdays, not {unknown_years!r}")
        self.overrides = dict(overrides or {})
        self.full_years = frozenset(full_years)
        self.weekend = frozenset(weekend)
        self.source = source
        self.unknown_years = unknown_years
        self._years: dict[int, YearDays] = {}

    @classmethod
    def load(cls, path: str | Path | None, unknown_years: str = "refuse") -> DayCalendar:
        """The package's calendar, with the rows of the file at ``path`` (CSV or TOML) over it."""
        if not path:
            return cls(unknown_years=unknown_years)
        overrides, full_years = read_calendar_file(Path(path))
        return cls(overrides, full_years, source=str(path), unknown_years=unknown_years)

    def covers(self, year: int) -> bool:
        return year in PACKAGE_YEARS or year in self.full_years

    def day(self, when: date) -> Day:
        if not self.covers(when.year):
            if self.unknown_years == "refuse":
                raise YearNotCovered(self._not_covered(when.year))
            return Day(when.weekday() not in self.weekend)
        if when in self.overrides:
            return self.overrides[when]
        if when in chinese_calendar.workdays:
            return Day(True, _holiday_name(chinese_calendar.workdays[when]))
        if when in chinese_calendar.holidays:
            return Day(False, _holiday_name(chinese_calendar.holidays[when]))
        return Day(when.weekday() not in self.weekend)

    def is_working_day(self, when: date) -> bool:
        days = self.year(when.year)
        return bool(days.working[when.toordinal() - days.first])

    def year(self, year: int) -> YearDays:
        """The year laid out for counting, built on first use and kept."""
        days = self._years.get(year)
        if days is None:
            days = self._years[year] = self._lay_out(year)
        return days

    def _lay_out(self, year: int) -> YearDays:
        if not self.covers(year) and self.unknown_years == "weekdays":
            log.warning("%s Counting it Monday to Friday until then.", self._not_covered(year))
        first = date(year, 1, 1).toordinal()
        working = bytes(self.day(date.fromordinal(o)).working for o in range(first, date(year, 12, 31).toordinal() + 1))
        before = array("l", [0])
        for flag in working:
            before.append(before[-1] + flag)
        return YearDays(year, first, working, before)

    def _not_covered(self, year: int) -> str:
        known = f"chinese-calendar {chinese_calendar.__version__} knows {PACKAGE_YEARS.start}–{PACKAGE_YEARS.stop - 1}"
        where = f"the calendar file {self.source}" if self.source else "a calendar file (WANGGE_WORK_CALENDAR_FILE)"
        return (
            f"The public holidays and make-up working days of {year} are not known: {known}. "
            f"Upgrade chinese-calendar, or list {year}'s holidays and make-up working days in {where} "
            f"with a row '{year},year,…' saying the file lists the whole year."
        )


def _holiday_name(english: str) -> str:
    try:
        return chinese_calendar.Holiday(english).chinese
    except ValueError:
        return english


def read_calendar_file(path: Path) -> tuple[dict[date, Day], frozenset[int]]:
    """The days a calendar file lists, and the years it lists whole; every bad row is reported at once."""
    source = path.name
    try:
        rows = _toml_rows(path) if path.suffix.lower() == ".toml" else _csv_rows(path)
    except OSError as exc:
        raise CalendarFileError(source, [f"cannot be read ({exc.strerror or exc})"]) from None
    except (tomllib.TOMLDecodeError, csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise CalendarFileError(source, [str(exc)]) from None
    problems: list[str] = []
    days: dict[date, Day] = {}
    first_row: dict[date, int] = {}
    full_years: dict[int, int] = {}
    for number, row in enumerate(rows, start=1):
        kind = KINDS.get(str(row.get("kind") or "").strip().lower())
        name = str(row.get("name") or "").strip() or None
        if kind is None:
            known = ", ".join(KINDS)
            problems.append(f"row {number}: kind {row.get('kind')!r} is not one of {known}")
        elif kind == YEAR:
            year = _year(row.get("date"))
            if year is None:
                problems.append(f"row {number}: a 'year' row names a year, e.g. 2027, not {row.get('date')!r}")
            else:
                full_years.setdefault(year, number)
        else:
            when = _date(row.get("date"))
            if when is None:
                problems.append(f"row {number}: {row.get('date')!r} is not a date (YYYY-MM-DD)")
            elif when in first_row:
                problems.append(f"row {number}: {when} is listed already (row {first_row[when]})")
            else:
                first_row[when] = number
                days[when] = Day(kind == WORKDAY, name)
    for year, number in sorted(full_years.items()):
        if not any(when.year == year and not day.working for when, day in days.items()):
            problems.append(f"row {number}: the file says it lists the whole of {year} but lists no holiday in it")
    if problems:
        raise CalendarFileError(source, problems)
    return days, frozenset(full_years)


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # saved by a Chinese Excel
        text = raw.decode("gb18030")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [COLUMNS.get(h.strip().lower()) for h in next(reader, [])]
    missing = [c for c in ("date", "kind") if c not in header]
    if missing:
        raise ValueError(
            f"the first line names the columns date, kind and name (or 日期, 类型, 名称); {', '.join(missing)} is missing"
        )
    return [
        {col: value for col, value in zip(header, line) if col} for line in reader if any(cell.strip() for cell in line)
    ]


def _toml_rows(path: Path) -> list[dict[str, Any]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    days = data.get("days", [])
    if not isinstance(days, list) or not all(isinstance(d, dict) for d in days):
        raise ValueError("list the days as [[days]] tables, each with date, kind and name")
    return days


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None  # a moment, not a day
    if isinstance(value, date):
        return value
    try:  # 2026-10-01, and 2026/10/1 as spreadsheets write it
        return datetime.strptime(str(value).strip().replace("/", "-"), "%Y-%m-%d").date()
    except ValueError:
        return None


def _year(value: Any) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() and len(text) == 4 else None
