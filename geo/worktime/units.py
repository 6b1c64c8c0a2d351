"""The units a 立结案标准 table gives its time limits in (GB/T 30428, CJ/T 315)."""

from __future__ import annotations

import enum


class TimeUnit(str, enum.Enum):
    emergency_hours = "emergency_hours"  # 紧急工时: hours around the clock, holidays included
    working_hours = "working_hours"  # 工作时: hours within the working periods of working days
    working_days = "working_days"  # 工作日: whole working days of working hours (see geo/worktime/calendar.py)

    @property
    def zh(self) -> str:
        return _NAMES[self][0]

    @property
    def en(self) -> str:
        return _NAMES[self][1]

    @classmethod
    def parse(cls, text: str | TimeUnit) -> TimeUnit:
        """The unit named by ``text``: its Chinese or English name, in any case, with spaces, ``_`` or ``-``."""
        if isinstance(text, TimeUnit):
            return text
        unit = _BY_NAME.get(_folded(str(text)))
        if unit is None:
            known = ", ".join(f"{u.zh} ({u.en})" for u in cls)
            raise ValueError(f"Unknown time unit {text!r}: use {known}")
        return unit


_NAMES = {
    TimeUnit.emergency_hours: ("紧急工时", "emergency hours"),
    TimeUnit.working_hours: ("工作时", "working hours"),
    TimeUnit.working_days: ("工作日", "working days"),
}


def _folded(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


# Also the singular English names and the words tables write in place of the standard's.
_ALIASES = {
    TimeUnit.emergency_hours: ("emergency hour", "紧急小时"),
    TimeUnit.working_hours: ("working hour", "工作小时"),
    TimeUnit.working_days: ("working day",),
}
_BY_NAME = {_folded(name): unit for unit in TimeUnit for name in (unit.value, *_NAMES[unit], *_ALIASES.get(unit, ()))}
