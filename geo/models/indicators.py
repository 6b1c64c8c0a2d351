"""The indicators' daily rollup of the timeline (geo/indicators/rollup.py).

``indicator_days`` holds, for a whole China day (``span`` "d") or a whole month (``span`` "m",
``day`` its first day), the timeline's counters per (dimension, key, kind): the same sums
:mod:`geo.indicators.counting` makes from ``incident_history`` directly. ``indicator_days_built``
says which days and months are complete; a row appended to the timeline for a day (an import
writing the past) removes that day's and its month's marks (a trigger, see the migration), and
the next question builds them again.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base, UTCDateTime, utcnow

# The counters kept per row, in the order of the table's columns (geo/indicators/counting.py
# says what each counts).
COUNTER_COLUMNS = (
    "reports",
    "registered",
    "rejected",
    "merged",
    "handled",
    "handle_timed",
    "handled_on_time",
    "reworks",
    "closed",
    "closed_on_time",
    "verify_timed",
    "verified_on_time",
    "check_timed",
    "checked_on_time",
    "supervised",
    "overdue",
    "work_hours_n",
)


class IndicatorDay(Base):
    __tablename__ = "indicator_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    span: Mapped[str] = mapped_column(String(1))  # "d": the day; "m": the month beginning on day
    dim: Mapped[str] = mapped_column(String(16))  # grid | worker | department | category
    key: Mapped[str] = mapped_column(String(100))  # "" for none
    kind: Mapped[str] = mapped_column(String(32))
    reports: Mapped[int] = mapped_column(Integer, default=0)
    registered: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    handle_timed: Mapped[int] = mapped_column(Integer, default=0)
    handled_on_time: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    verify_timed: Mapped[int] = mapped_column(Integer, default=0)
    verified_on_time: Mapped[int] = mapped_column(Integer, default=0)
    check_timed: Mapped[int] = mapped_column(Integer, default=0)
    checked_on_time: Mapped[int] = mapped_column(Integer, default=0)
    supervised: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    work_hours_n: Mapped[int] = mapped_column(Integer, default=0)
    work_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ix_indicator_days_span_dim_day", "span", "dim", "day"),)


class IndicatorDayBuilt(Base):
    __tablename__ = "indicator_days_built"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
