"""Moments and working hours for the working-time tests."""

from __future__ import annotations

from datetime import datetime

from geo.timezones import CHINA_TIME

# The periods every hand calculation uses: 3.5 h in the morning, 3 h in the afternoon, 6.5 h a day.
HOURS = "08:30-12:00,14:30-17:30"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in China time."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA_TIME)
