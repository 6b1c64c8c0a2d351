"""The working periods of a working day, e.g. ``08:30-12:00,14:30-17:30`` (``WANGGE_WORK_HOURS``).

Times of day are kept as whole microseconds since midnight, so that a deadline computed from a
duration and the duration measured back to it agree to the microsecond.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

US_PER_HOUR = 3_600_000_000
US_PER_MINUTE = 60_000_000
DEFAULT_WORK_HOURS = "08:30-12:00,14:30-17:30"

_PERIOD = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class WorkHours:
    """Working periods ``(start, end)`` in microseconds since midnight, in order, not touching."""

    periods: tuple[tuple[int, int], ...]
    # For before(): the periods' starts and ends in one sorted list, and the work done by each.
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _done: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        done = [0]
        for start, end in self.periods:
            done.append(done[-1] + end - start)
        object.__setattr__(self, "_bounds", tuple(t for period in self.periods for t in period))
        object.__setattr__(self, "_done", tuple(done))

    @property
    def per_day(self) -> int:
        """Working microseconds in one working day."""
        return self._done[-1]

    def before(self, time_of_day: int) -> int:
        """Working microseconds of a working day that have passed by ``time_of_day``."""
        i = bisect_right(self._bounds, time_of_day)
        if i % 2:  # within period i // 2
            return self._done[i // 2] + time_of_day - self._bounds[i - 1]
        return self._done[i // 2]

    def at(self, work: int) -> int:
        """The earliest time of day by which ``work`` working microseconds (0 < work <= per_day) have passed."""
        for start, end in self.periods:
            if work <= end - start:
                return start + work
            work -= end - start
        raise ValueError("more work than one working day holds")

    def __str__(self) -> str:
        return ",".join(f"{_clock(start)}-{_clock(end)}" for start, end in self.periods)


def _clock(us: int) -> str:
    minutes = us // US_PER_MINUTE
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_work_hours(text: str) -> WorkHours:
    """Periods ``HH:MM-HH:MM`` separated by commas, in order of the day, none overlapping another."""
    example = f"write the periods as HH:MM-HH:MM separated by commas, e.g. {DEFAULT_WORK_HOURS}"
    parts = [part.strip() for part in text.replace("，", ",").split(",")]
    if not any(parts):
        raise ValueError(f"WANGGE_WORK_HOURS is empty: {example}")
    periods: list[tuple[int, int]] = []
    for part in parts:
        match = _PERIOD.fullmatch(part)
        if match is None:
            raise ValueError(f"WANGGE_WORK_HOURS: {part!r} is not a period: {example}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if m1 > 59 or m2 > 59 or h1 > 23 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise ValueError(f"WANGGE_WORK_HOURS: {part!r} is not a time of day (00:00 to 24:00)")
        start, end = (h1 * 60 + m1) * US_PER_MINUTE, (h2 * 60 + m2) * US_PER_MINUTE
        if end <= start:
            raise ValueError(f"WANGGE_WORK_HOURS: {part!r} ends before it starts; a period cannot pass midnight")
        if periods and start <= periods[-1][1]:
            raise ValueError(
                f"WANGGE_WORK_HOURS: {part!r} starts before the period before it ends; "
                "give the periods in order of the day, with a break between them (or join them into one)"
            )
        periods.append((start, end))
    return WorkHours(tuple(periods))
