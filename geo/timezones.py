"""Times as people in the community give them: without a zone, a time is China time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# Asia/Shanghai, as a fixed UTC+08:00: China has kept that offset, without daylight saving, since
# 1991. A fixed offset gives every date the "+08:00 if no zone" the API documents, and never meets
# the skipped or repeated hours of the summers of 1986-1991 (no local time is ambiguous).
CHINA_TIME = timezone(timedelta(hours=8))


def assume_china_time(value: datetime) -> datetime:
    """``value`` itself if it names its zone, else the same wall-clock time in China time."""
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TIME)
