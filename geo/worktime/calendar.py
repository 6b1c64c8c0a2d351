"""Deadlines and durations in working time, as digital city management counts them.

Three clocks, one per :class:`~geo.worktime.units.TimeUnit`:

- 紧急工时 (emergency hours) run around the clock, nights, weekends and holidays included.
- 工作时 (working hours) run only within the working periods (``WANGGE_WORK_HOURS``, by default
  08:30–12:00 and 14:30–17:30) of working days: Monday to Friday and 调休 make-up days, less
  public holidays (see :mod:`geo.worktime.days`).
- 工作日 (working days) run on the same clock as 工作时: one working day is one full working day's
  working hours (6.5 with the default periods), so N 工作日 from 10:00 end at 10:00 on the Nth
  working day after. This is how the 立结案标准 tables convert the unit (a working day counts as
  a working day's hours, 8 工作时 where the day is eight hours long): a case registered late in
  the day gets as much working time as one registered in the morning, and every unit converts to
  working minutes, so one measure of handling time (处置用时) serves every case and 按期 means
  "used no more working time than allowed". The other reading, "by the end of the Nth working
  day", would give a case registered at 08:30 nearly a working day more than one registered at
  17:00, and durations could not be measured in it.

A start outside working time starts the working clocks at the next working period. A deadline is
the earliest moment the amount has elapsed, so a limit that runs out exactly at 17:30 is due at
17:30 that day, not at 08:30 the next working day. Suspensions (挂账, 延期: ``(start, end)``
intervals) stop every clock; overlapping ones count once.

All times are in the service's zone, China time (``geo.timezones.CHINA_TIME``); a datetime without
a zone is taken to be China time, and results carry it. Arithmetic is in whole microseconds, so
``elapsed(start, deadline(start, a, unit), unit) == a`` to the microsecond.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from geo.errors import InputError
from geo.settings import get_settings
from geo.timezones import CHINA_TIME, assume_china_time
from geo.worktime.days import DayCalendar
from geo.worktime.hours import US_PER_HOUR, WorkHours, parse_work_hours
from geo.worktime.units import TimeUnit

Suspension = tuple[datetime, datetime]
_US = timedelta(microseconds=1)


class WorkCalendar:
    """Working hours on working days, in China time: deadlines and durations in any :class:`TimeUnit`."""

    def __init__(self, hours: WorkHours, days: DayCalendar | None = None):
        self.hours = hours
        self.days = days or DayCalendar()
        self._per_day = hours.per_day

    # -- the two questions ------------------------------------------------------------------------

    def deadline(
        self, start: datetime, amount: float, unit: TimeUnit | str, suspensions: Iterable[Suspension] = ()
    ) -> datetime:
        """The earliest moment at which ``amount`` of ``unit`` has elapsed since ``start``, the clock stopped
        during ``suspensions``."""
        unit = TimeUnit.parse(unit)
        start = _china(start)
        need = self._to_us(amount, unit)
        if need == 0:
            return start
        cursor = start
        for s, e in _merged(suspensions):
            if e <= cursor:
                continue
            if s > cursor:
                available = self._between(cursor, s, unit)
                if need <= available:
                    return self._advance(cursor, need, unit)
                need -= available
            cursor = e
        return self._advance(cursor, need, unit)

    def elapsed(
        self, start: datetime, end: datetime, unit: TimeUnit | str, suspensions: Iterable[Suspension] = ()
    ) -> float:
        """How much of ``unit`` passes from ``start`` to ``end``, less the time within ``suspensions``."""
        unit = TimeUnit.parse(unit)
        start, end = _china(start), _china(end)
        if end < start:
            raise InputError(f"The period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        total = self._between(start, end, unit)
        for s, e in _merged(suspensions):
            s, e = max(s, start), min(e, end)
            if s < e:
                total -= self._between(s, e, unit)
        return total / (self._per_day if unit is TimeUnit.working_days else US_PER_HOUR)

    # -- the clocks -------------------------------------------------------------------------------

    def _to_us(self, amount: float, unit: TimeUnit) -> int:
        if not math.isfinite(amount) or amount < 0:
            raise InputError(f"A time limit is a number of {unit.zh} ({unit.en}) from 0 up, not {amount!r}")
        return round(amount * (self._per_day if unit is TimeUnit.working_days else US_PER_HOUR))

    def _between(self, a: datetime, b: datetime, unit: TimeUnit) -> int:
        """Microseconds on ``unit``'s clock from ``a`` to ``b`` (a <= b)."""
        if unit is TimeUnit.emergency_hours:
            return (b - a) // _US
        year_a, work_a = self._position(a)
        year_b, work_b = self._position(b)
        for year in range(year_a, year_b):  # a year's end is its working total
            work_b += self.days.year(year).before[-1] * self._per_day
        return work_b - work_a

    def _position(self, moment: datetime) -> tuple[int, int]:
        """The year of ``moment`` (in China time) and the working microseconds of that year before it."""
        time_of_day = (moment.hour * 3600 + moment.minute * 60 + moment.second) * 1_000_000 + moment.microsecond
        if not time_of_day and moment.month == 1 and moment.day == 1:
            return moment.year, 0  # a period that ends as a year ends needs nothing of the next year
        year = self.days.year(moment.year)
        i = moment.toordinal() - year.first
        work = year.before[i] * self._per_day
        if year.working[i]:
            work += self.hours.before(time_of_day)
        return moment.year, work

    def _advance(self, start: datetime, need: int, unit: TimeUnit) -> datetime:
        """The earliest moment at which ``need`` (> 0) microseconds on ``unit``'s clock have passed since ``start``."""
        if unit is TimeUnit.emergency_hours:
            return start + need * _US
        local = start.astimezone(CHINA_TIME)
        day = local.date()
        if self.days.is_working_day(day):
            done = self.hours.before((local - datetime.combine(day, time(), CHINA_TIME)) // _US)
            if need <= self._per_day - done:
                return _at(day, self.hours.at(done + need))
            need -= self._per_day - done
        while True:
            day += timedelta(days=1)
            if self.days.is_working_day(day):
                if need <= self._per_day:
                    return _at(day, self.hours.at(need))
                need -= self._per_day


def _china(moment: datetime) -> datetime:
    if moment.tzinfo is CHINA_TIME:  # the usual case, and elapsed() runs a million times for indicators
        return moment
    return assume_china_time(moment).astimezone(CHINA_TIME)


def _at(day: date, time_of_day: int) -> datetime:
    return datetime.combine(day, time(), CHINA_TIME) + time_of_day * _US


def _merged(suspensions: Iterable[Suspension]) -> list[Suspension]:
    """The suspensions in order, overlapping ones joined; one that ends before it starts is refused."""
    spans = []
    for s, e in suspensions:
        s, e = _china(s), _china(e)
        if e < s:
            raise InputError(f"A suspension ends ({e.isoformat()}) before it starts ({s.isoformat()})")
        spans.append((s, e))
    spans.sort()
    merged: list[Suspension] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


@lru_cache
def _calendar(work_hours: str, calendar_file: str | None, unknown_years: str) -> WorkCalendar:
    return WorkCalendar(parse_work_hours(work_hours), DayCalendar.load(calendar_file, unknown_years))


def work_calendar() -> WorkCalendar:
    """The service's calendar, from the settings (the calendar file is read once per process)."""
    settings = get_settings()
    return _calendar(settings.work_hours, settings.work_calendar_file, settings.work_calendar_unknown_years)


def deadline(start: datetime, amount: float, unit: TimeUnit | str, suspensions: Iterable[Suspension] = ()) -> datetime:
    """:meth:`WorkCalendar.deadline` on the service's calendar."""
    return work_calendar().deadline(start, amount, unit, suspensions)


def elapsed(start: datetime, end: datetime, unit: TimeUnit | str, suspensions: Iterable[Suspension] = ()) -> float:
    """:meth:`WorkCalendar.elapsed` on the service's calendar."""
    return work_calendar().elapsed(start, end, unit, suspensions)
