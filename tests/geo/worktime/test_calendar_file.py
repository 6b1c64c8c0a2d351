"""The calendar file over the package: a city's own days, years the package does not know, bad rows;
and the settings that build the service's calendar."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from geo.settings import Settings, get_settings
from geo.worktime import calendar as worktime
from geo.worktime.calendar import WorkCalendar
from geo.worktime.days import CalendarFileError, DayCalendar, YearNotCovered
from geo.worktime.hours import parse_work_hours
from geo.worktime.units import TimeUnit
from tests.support.worktime import HOURS, at

WH = TimeUnit.working_hours
# 2027 as a city might list it before chinese-calendar knows it (only what these tests need).
YEAR_2027 = "2027,year,本市 2027 年节假日安排\n2027-01-01,holiday,元旦\n"


def calendar_with(tmp_path, name: str, text: str) -> WorkCalendar:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return WorkCalendar(parse_work_hours(HOURS), DayCalendar.load(path))


def test_a_city_holiday_from_csv(tmp_path):
    cal = calendar_with(tmp_path, "city.csv", "date,kind,name\n2026-03-16,holiday,本市放假\n")
    # Mon 16 Mar now rests: Fri 13 Mar 16:00 + 1.5 h; Tue 17 Mar 08:30 + 2.5 h = 11:00 (Mon 11:00 without the file).
    assert cal.deadline(at(2026, 3, 13, 16), 4, WH) == at(2026, 3, 17, 11)
    assert cal.days.day(at(2026, 3, 16).date()).name == "本市放假"
    # The package's days still count around it: 清明 (4-6 Apr) rests.
    assert cal.deadline(at(2026, 4, 3, 16), 4, WH) == at(2026, 4, 7, 11)


def test_a_city_working_day_from_toml_with_chinese_words(tmp_path):
    text = '[[days]]\ndate = 2026-03-15\nkind = "上班"\nname = "创文迎检"\n'
    cal = calendar_with(tmp_path, "city.toml", text)
    # Sun 15 Mar now works: Fri 16:00 + 1.5 h; Sun 08:30 + 2.5 h = 11:00.
    assert cal.deadline(at(2026, 3, 13, 16), 4, WH) == at(2026, 3, 15, 11)


def test_a_spreadsheet_csv_in_gb18030_with_chinese_headers(tmp_path):
    path = tmp_path / "city.csv"
    path.write_bytes("日期,类型,名称\n2026/3/16,放假,本市放假\n".encode("gb18030"))
    cal = WorkCalendar(parse_work_hours(HOURS), DayCalendar.load(path))
    assert not cal.days.is_working_day(at(2026, 3, 16).date())


def test_a_year_nobody_covers_raises(calendar):
    with pytest.raises(YearNotCovered, match=r"2027.*WANGGE_WORK_CALENDAR_FILE"):
        calendar.deadline(at(2027, 3, 1, 9), 1, WH)
    # Running into it from 2026 raises too: Thu 31 Dec 16:00 + 4 h needs January 2027.
    with pytest.raises(YearNotCovered, match="2027"):
        calendar.deadline(at(2026, 12, 31, 16), 4, WH)
    with pytest.raises(YearNotCovered, match="2027"):
        calendar.elapsed(at(2026, 12, 31, 16), at(2027, 1, 4, 11), WH)
    # Around the clock the calendar does not matter.
    assert calendar.deadline(at(2026, 12, 31, 16), 10, TimeUnit.emergency_hours) == at(2027, 1, 1, 2)


def test_a_city_day_alone_does_not_cover_a_year(tmp_path):
    cal = calendar_with(tmp_path, "city.csv", "date,kind,name\n2027-03-01,holiday,本市放假\n")
    with pytest.raises(YearNotCovered, match=r"city\.csv"):
        cal.deadline(at(2027, 3, 2, 9), 1, WH)


def test_a_year_the_file_lists_whole(tmp_path):
    cal = calendar_with(tmp_path, "city.csv", "date,kind,name\n" + YEAR_2027)
    # Thu 31 Dec 2026 16:00 + 1.5 h; Fri 1 Jan 2027 元旦, Sat 2 and Sun 3 rest; Mon 4 Jan 08:30 + 2.5 h = 11:00.
    assert at(2027, 1, 1).weekday() == 4
    assert cal.deadline(at(2026, 12, 31, 16), 4, WH) == at(2027, 1, 4, 11)
    assert cal.elapsed(at(2026, 12, 31, 16), at(2027, 1, 4, 11), WH) == 4


def test_bad_rows_are_each_reported(tmp_path):
    text = (
        "date,kind,name\n"
        "2026-10-01,holiday,国庆\n"
        "2026-10-01,workday,again\n"  # row 2
        "2026-13-01,holiday,no such month\n"  # row 3
        "2026-10-02,vacation,unknown kind\n"  # row 4
        "20x8,year,not a year\n"  # row 5
        "2028,year,no holidays listed\n"  # row 6
    )
    with pytest.raises(CalendarFileError) as caught:
        calendar_with(tmp_path, "bad.csv", text)
    assert caught.value.problems == [
        "row 2: 2026-10-01 is listed already (row 1)",
        "row 3: '2026-13-01' is not a date (YYYY-MM-DD)",
        "row 4: kind 'vacation' is not one of holiday, 放假, 休息, workday, 上班, 工作日, year, 全年",
        "row 5: a 'year' row names a year, e.g. 2027, not '20x8'",
        "row 6: the file says it lists the whole of 2028 but lists no holiday in it",
    ]
    assert "bad.csv" in str(caught.value)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(CalendarFileError, match="kind is missing"):
        calendar_with(tmp_path, "nohead.csv", "2026-10-01,holiday,国庆\n")
    with pytest.raises(CalendarFileError, match=r"\[\[days\]\]"):
        calendar_with(tmp_path, "flat.toml", 'days = "2026-10-01"\n')
    with pytest.raises(CalendarFileError, match="cannot be read"):
        DayCalendar.load(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("", "is empty"),
        ("8:30~12:00", "'8:30~12:00' is not a period"),
        ("08:30-12:00,11:00-17:30", "'11:00-17:30' starts before the period before it ends"),
        ("17:30-14:30", "'17:30-14:30' ends before it starts"),
        ("08:30-12:00,25:00-26:00", "'25:00-26:00' is not a time of day"),
    ],
)
def test_bad_work_hours_are_refused_with_the_reason(monkeypatch, hours, message):
    monkeypatch.setenv("WANGGE_WORK_HOURS", hours)
    with pytest.raises(ValidationError, match=message) as caught:
        Settings(_env_file=None)
    assert "WANGGE_WORK_HOURS" in str(caught.value)


def test_the_service_calendar_follows_the_settings(monkeypatch, tmp_path):
    path = tmp_path / "city.csv"
    path.write_text("date,kind,name\n2026-03-16,holiday,本市放假\n", encoding="utf-8")
    monkeypatch.setenv("WANGGE_WORK_HOURS", "09:00-12:00，13:00-18:00")  # a full-width comma, as typed in Chinese
    monkeypatch.setenv("WANGGE_WORK_CALENDAR_FILE", str(path))
    get_settings.cache_clear()
    try:
        # Fri 13 Mar 16:00-18:00 = 2 h; Mon 16 Mar is the city's holiday; Tue 09:00 + 2 h = 11:00.
        assert worktime.deadline(at(2026, 3, 13, 16), 4, "工作时") == at(2026, 3, 17, 11)
        # One working day is 8 h with these periods.
        assert worktime.elapsed(at(2026, 3, 17, 9), at(2026, 3, 17, 13), "working days") == 0.375
        assert str(worktime.work_calendar().hours) == "09:00-12:00,13:00-18:00"
    finally:
        get_settings.cache_clear()


def test_units_are_read_in_chinese_and_english():
    assert TimeUnit.parse("紧急工时") is TimeUnit.emergency_hours
    assert TimeUnit.parse(" Working-Hours ") is TimeUnit.working_hours
    assert TimeUnit.parse("working day") is TimeUnit.working_days
    assert TimeUnit.parse("工作日") is TimeUnit.working_days
    assert (TimeUnit.working_hours.zh, TimeUnit.working_hours.en) == ("工作时", "working hours")
    with pytest.raises(ValueError, match=r"use 紧急工时 \(emergency hours\), 工作时 \(working hours\), 工作日"):
        TimeUnit.parse("小时")
