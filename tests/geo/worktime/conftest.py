from __future__ import annotations

import pytest

from geo.worktime.calendar import WorkCalendar
from geo.worktime.hours import parse_work_hours
from tests.support.worktime import HOURS


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    """The national calendar of the chinese-calendar package, with no file over it."""
    return WorkCalendar(parse_work_hours(HOURS))
