"""Deadlines and durations on the real 2026 calendar, each checked against a hand calculation.

Working periods 08:30-12:00 (3.5 h) and 14:30-17:30 (3 h): 6.5 working hours a working day.
2026, by the State Council's notice (and chinese-calendar 1.11.0): 元旦 1-3 Jan, work Sun 4 Jan;
春节 15-23 Feb, work Sat 14 and Sat 28 Feb; 清明 4-6 Apr; 劳动节 1-5 May, work Sat 9 May;
端午 19-21 Jun; 中秋 25-27 Sep; 国庆 1-7 Oct, work Sun 20 Sep and Sat 10 Oct.
"""

from __future__ import annotations

from datetime import UTC, date

import pytest

from geo.errors import InputError
from geo.worktime.days import DayCalendar
from geo.worktime.units import TimeUnit
from tests.support.worktime import at

WH, WD, EH = TimeUnit.working_hours, TimeUnit.working_days, TimeUnit.emergency_hours


def test_the_package_knows_2026():
    days = DayCalendar()
    made_up = [
        date.fromisoformat(d)
        for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
    ]
    assert all(d.weekday() >= 5 and days.is_working_day(d) for d in made_up)
    holidays = [
        date.fromisoformat(d)
        for d in ("2026-02-16", "2026-02-23", "2026-04-06", "2026-09-25", "2026-10-01", "2026-10-07")
    ]
    assert all(d.weekday() < 5 and not days.is_working_day(d) for d in holidays)
    assert days.day(at(2026, 10, 10).date()).name == "国庆节"
    assert days.day(at(2026, 2, 17).date()).name == "春节"


def test_across_a_weekend(calendar):
    start = at(2026, 3, 13, 16)  # a Friday
    assert start.weekday() == 4
    # Fri 16:00-17:30 = 1.5 h, 2.5 h left; Sat and Sun rest; Mon 08:30 + 2.5 h = 11:00.
    assert calendar.deadline(start, 4, WH) == at(2026, 3, 16, 11)
    # Ending exactly at 17:30 is due at 17:30, not at the next morning's 08:30.
    assert calendar.deadline(start, 1.5, WH) == at(2026, 3, 13, 17, 30)


def test_across_a_public_holiday(calendar):
    # 清明: Sat 4 - Mon 6 Apr. Fri 3 Apr 16:00-17:30 = 1.5 h, 2.5 h left; Tue 7 Apr 08:30 + 2.5 h = 11:00.
    assert calendar.deadline(at(2026, 4, 3, 16), 4, WH) == at(2026, 4, 7, 11)
    # 劳动节: Fri 1 - Tue 5 May. Thu 30 Apr 16:00-17:30 = 1.5 h, 8.5 h left; Wed 6 May a full 6.5 h,
    # 2 h left; Thu 7 May 08:30 + 2 h = 10:30.
    assert at(2026, 4, 30).weekday() == 3
    assert calendar.deadline(at(2026, 4, 30, 16), 10, WH) == at(2026, 5, 7, 10, 30)
    # 中秋: Fri 25 - Sun 27 Sep. Thu 24 Sep 16:00 + 1.5 h; Mon 28 Sep 08:30 + 2.5 h = 11:00.
    assert calendar.deadline(at(2026, 9, 24, 16), 4, WH) == at(2026, 9, 28, 11)


def test_on_a_make_up_saturday(calendar):
    # Sat 10 Oct 2026 is a working day (调休 for 国庆): Fri 9 Oct 16:00 + 1.5 h; Sat 08:30 + 2.5 h = 11:00.
    assert at(2026, 10, 10).weekday() == 5
    assert calendar.deadline(at(2026, 10, 9, 16), 4, WH) == at(2026, 10, 10, 11)
    # The Friday after, the Saturday rests: Fri 16 Oct 16:00 + 1.5 h; Mon 19 Oct 08:30 + 2.5 h = 11:00.
    assert calendar.deadline(at(2026, 10, 16, 16), 4, WH) == at(2026, 10, 19, 11)
    # Sun 20 Sep works too: from Sat 19 Sep (resting), Sun 08:30-12:00 = 3.5 h, then 14:30 + 0.5 h = 15:00.
    assert calendar.deadline(at(2026, 9, 19, 10), 4, WH) == at(2026, 9, 20, 15)


def test_working_days(calendar):
    # 1 工作日 = one working day's working hours (6.5 h): from Mon 10:00 to Tue 10:00.
    assert calendar.deadline(at(2026, 3, 16, 10), 1, WD) == at(2026, 3, 17, 10)
    assert calendar.deadline(at(2026, 3, 16, 10), 5, WD) == at(2026, 3, 23, 10)
    # Over 国庆: 3 工作日 = 19.5 h from Tue 29 Sep 16:00: Tue 1.5 h (18 left), Wed 30 Sep 6.5 h
    # (11.5 left), 1-7 Oct rest, Thu 8 Oct 6.5 h (5 left), Fri 9 Oct 08:30-12:00 3.5 h (1.5 left),
    # 14:30 + 1.5 h = 16:00: the same time of day, three working days on.
    assert calendar.deadline(at(2026, 9, 29, 16), 3, WD) == at(2026, 10, 9, 16)
    # Over 春节: 2 工作日 = 13 h from Fri 13 Feb 10:00: Fri 2 + 3 = 5 h (8 left), Sat 14 Feb works
    # 6.5 h (1.5 left), 15-23 Feb rest, Tue 24 Feb 08:30 + 1.5 h = 10:00.
    assert calendar.deadline(at(2026, 2, 13, 10), 2, WD) == at(2026, 2, 24, 10)
    # Half a working day from 08:30 is 3.25 h: 11:45.
    assert calendar.deadline(at(2026, 3, 16, 8, 30), 0.5, WD) == at(2026, 3, 16, 11, 45)


def test_emergency_hours_ignore_the_calendar(calendar):
    # 2 h from 23:00 on a holiday Saturday: 01:00 on the holiday Sunday.
    assert calendar.deadline(at(2026, 10, 3, 23), 2, EH) == at(2026, 10, 4, 1)
    # 30 h from 20:00 on 15 Feb (春节): 20:00 + 24 h + 6 h = 17 Feb 02:00.
    assert calendar.deadline(at(2026, 2, 15, 20), 30, EH) == at(2026, 2, 17, 2)
    assert calendar.elapsed(at(2026, 3, 13, 16), at(2026, 3, 16, 11), EH) == 67


def test_a_start_outside_working_hours_waits_for_the_next_period(calendar):
    # Lunch: 12:30 counts from 14:30; 1 h -> 15:30.
    assert calendar.deadline(at(2026, 3, 16, 12, 30), 1, WH) == at(2026, 3, 16, 15, 30)
    # Early: 07:00 counts from 08:30; 3.5 h -> 12:00.
    assert calendar.deadline(at(2026, 3, 16, 7), 3.5, WH) == at(2026, 3, 16, 12)
    # Evening: Mon 18:00 counts from Tue 08:30; 1 h -> 09:30.
    assert calendar.deadline(at(2026, 3, 16, 18), 1, WH) == at(2026, 3, 17, 9, 30)
    # Sunday night: 1 工作日 from Mon 08:30 -> Mon 17:30.
    assert calendar.deadline(at(2026, 3, 15, 22), 1, WD) == at(2026, 3, 16, 17, 30)
    # Nothing of working time passes over a weekend or a lunch break.
    assert calendar.elapsed(at(2026, 3, 13, 18), at(2026, 3, 16, 8, 30), WH) == 0
    assert calendar.elapsed(at(2026, 3, 16, 12), at(2026, 3, 16, 14, 30), WH) == 0


def test_a_suspension_stops_the_clock(calendar):
    fri = at(2026, 3, 13, 16)
    # Suspended Fri 17:00 - Mon 10:00: Fri 16:00-17:00 = 1 h (3 left); Mon 10:00-12:00 = 2 h (1 left);
    # 14:30 + 1 h = 15:30 (instead of 11:00 unsuspended).
    suspended = [(at(2026, 3, 13, 17), at(2026, 3, 16, 10))]
    assert calendar.deadline(fri, 4, WH, suspended) == at(2026, 3, 16, 15, 30)
    assert calendar.elapsed(fri, at(2026, 3, 16, 15, 30), WH, suspended) == 4
    # Suspended Mon 09:00-10:00 only: Fri 1.5 h; Mon 08:30-09:00 0.5 h (2 left); 10:00 + 2 h = 12:00.
    assert calendar.deadline(fri, 4, WH, [(at(2026, 3, 16, 9), at(2026, 3, 16, 10))]) == at(2026, 3, 16, 12)
    # Overlapping suspensions count once.
    twice = [(at(2026, 3, 16, 9), at(2026, 3, 16, 10)), (at(2026, 3, 16, 9, 30), at(2026, 3, 16, 10))]
    assert calendar.deadline(fri, 4, WH, twice) == at(2026, 3, 16, 12)
    assert calendar.elapsed(fri, at(2026, 3, 16, 12), WH, twice) == 4
    # Suspended since before the start (15:00-17:00): the clock starts at 17:00; 0.5 h Friday, Mon
    # 08:30 + 3.5 h = 12:00.
    assert calendar.deadline(fri, 4, WH, [(at(2026, 3, 13, 15), at(2026, 3, 13, 17))]) == at(2026, 3, 16, 12)
    # Around the clock: 24 h from Fri 16:00 with 2 h suspended -> Sat 18:00.
    assert calendar.deadline(fri, 24, EH, [(at(2026, 3, 13, 20), at(2026, 3, 13, 22))]) == at(2026, 3, 14, 18)
    # A suspension of working days: 1 工作日 from Mon 10:00, suspended Mon 14:30 - Tue 14:30: Mon
    # 10:00-12:00 = 2 h (4.5 left); Tue 14:30-17:30 = 3 h (1.5 left); Wed 08:30 + 1.5 h = 10:00.
    mon = at(2026, 3, 16, 10)
    assert calendar.deadline(mon, 1, WD, [(at(2026, 3, 16, 14, 30), at(2026, 3, 17, 14, 30))]) == at(2026, 3, 18, 10)


def test_elapsed_inverts_the_hand_calculations(calendar):
    assert calendar.elapsed(at(2026, 3, 13, 16), at(2026, 3, 16, 11), WH) == 4
    assert calendar.elapsed(at(2026, 3, 13, 16), at(2026, 3, 16, 11), WD) == pytest.approx(4 / 6.5)
    assert calendar.elapsed(at(2026, 10, 9, 16), at(2026, 10, 10, 11), "工作时") == 4
    assert calendar.elapsed(at(2026, 9, 29, 16), at(2026, 10, 9, 16), "工作日") == 3
    # 2026 has 248 working days: 365 - 104 weekend days = 261 weekdays, less the 19 weekdays of
    # holidays (元旦 2, 春节 6, 清明 1, 劳动节 3, 端午 1, 中秋 1, 国庆 5), plus the 6 make-up days.
    # (The period ends as 2027 begins, which needs nothing of 2027's calendar, not known yet.)
    assert calendar.elapsed(at(2026, 1, 1), at(2027, 1, 1), WD) == 248
    # Naive datetimes are China time; other zones are converted.
    assert calendar.elapsed(at(2026, 3, 13, 16).replace(tzinfo=None), at(2026, 3, 16, 11).astimezone(UTC), WH) == 4


def test_bad_periods_and_amounts_are_refused(calendar):
    with pytest.raises(InputError, match="before it starts"):
        calendar.elapsed(at(2026, 3, 16, 11), at(2026, 3, 16, 10), WH)
    with pytest.raises(InputError, match="suspension ends"):
        calendar.deadline(at(2026, 3, 16, 9), 1, WH, [(at(2026, 3, 16, 11), at(2026, 3, 16, 10))])
    with pytest.raises(InputError, match="from 0 up"):
        calendar.deadline(at(2026, 3, 16, 9), -1, WH)
    with pytest.raises(InputError, match="from 0 up"):
        calendar.deadline(at(2026, 3, 16, 9), float("nan"), WD)
    with pytest.raises(ValueError, match="Unknown time unit 'minutes'"):
        calendar.deadline(at(2026, 3, 16, 9), 1, "minutes")
    assert calendar.deadline(at(2026, 3, 16, 19), 0, WH) == at(2026, 3, 16, 19)
