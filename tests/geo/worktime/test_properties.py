"""elapsed() and deadline() are each other's inverse, on every clock, with and without suspensions."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from geo.timezones import CHINA_TIME
from geo.worktime.hours import US_PER_HOUR
from geo.worktime.units import TimeUnit

# Starts across 2025-2026 (the package's last years, holidays and make-up days included), early
# enough that the largest amount (60 工作日, and up to 25 days suspended) ends within 2026.
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 8, 31)).map(
    lambda m: m.replace(tzinfo=CHINA_TIME)
)
units = st.sampled_from(list(TimeUnit))
amounts = st.floats(min_value=0, max_value=60, allow_nan=False)  # up to 60 工作日, 60 h on the other clocks
spans = st.tuples(st.integers(min_value=-3000, max_value=30000), st.integers(min_value=0, max_value=6000))
suspension_lists = st.lists(spans, max_size=3)

# Every clock counts whole microseconds: an amount comes back to within a microsecond's rounding.
TOLERANCE = 1e-9


def suspended(start: datetime, offsets: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    """Suspensions given as (minutes after start, minutes long)."""
    return [(start + timedelta(minutes=at), start + timedelta(minutes=at + length)) for at, length in offsets]


@settings(max_examples=300, deadline=None, database=None)
@given(start=moments, amount=amounts, unit=units, offsets=suspension_lists)
def test_elapsed_measures_back_what_deadline_added(calendar, start, amount, unit, offsets):
    pauses = suspended(start, offsets)
    due = calendar.deadline(start, amount, unit, pauses)
    assert due >= start
    assert abs(calendar.elapsed(start, due, unit, pauses) - amount) <= TOLERANCE
    # The earliest such moment: a minute before, less has elapsed (unless nothing was asked).
    if round(amount * US_PER_HOUR) and due - timedelta(minutes=1) >= start:
        assert calendar.elapsed(start, due - timedelta(minutes=1), unit, pauses) < amount


@settings(max_examples=300, deadline=None, database=None)
@given(start=moments, minutes=st.integers(min_value=0, max_value=60 * 24 * 30), unit=units, offsets=suspension_lists)
def test_deadline_of_the_elapsed_time_is_no_later_than_the_end(calendar, start, minutes, unit, offsets):
    end, pauses = start + timedelta(minutes=minutes), suspended(start, offsets)
    amount = calendar.elapsed(start, end, unit, pauses)
    due = calendar.deadline(start, amount, unit, pauses)
    # The clock stood still between the two if they differ (a night, a weekend, a suspension).
    assert start <= due <= end + timedelta(microseconds=1)
    assert abs(calendar.elapsed(due, end, unit, [(max(s, due), e) for s, e in pauses if e > due])) <= TOLERANCE


@settings(max_examples=200, deadline=None, database=None)
@given(start=moments, a=amounts, b=amounts)
def test_working_deadlines_fall_in_working_time_and_grow_with_the_amount(calendar, start, a, b):
    small, large = sorted((a, b))
    due_small = calendar.deadline(start, small, TimeUnit.working_hours)
    due_large = calendar.deadline(start, large, TimeUnit.working_hours)
    assert due_small <= due_large
    if round(large * US_PER_HOUR):  # less than a microsecond asked is due at once, wherever the start is
        midnight = due_large.replace(hour=0, minute=0, second=0, microsecond=0)
        time_of_day = (due_large - midnight) // timedelta(microseconds=1)
        assert calendar.days.is_working_day(due_large.date())
        assert any(begin < time_of_day <= end for begin, end in calendar.hours.periods)
