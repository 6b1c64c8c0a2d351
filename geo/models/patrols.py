"""Patrols: a grid worker's walk through their grids, its raw GPS fixes, the buildings it passed,
and the daily figures that outlive the track.

A track is personal data (行踪轨迹, PIPL Art. 28): raw fixes, tracks and visits are deleted after
the retention period (geo/patrols/service.py ``purge_expired``); what remains is which buildings
were visited on a day (not by whom) and each worker's daily counts.
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models.base import Base, UTCDateTime, utcnow
from geo.models.places import Building, Grid, Responder
from geo.spatial.geometry import SRID

RUNNING = "running"
ENDED = "ended"


class Patrol(Base):
    __tablename__ = "patrols"
    __table_args__ = (Index("ix_patrols_responder_id_started_at", "responder_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(32), unique=True)  # XL20261129-000012, set once the id is known
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id", ondelete="CASCADE"))
    started_by: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)  # RUNNING or ENDED
    source: Mapped[str] = mapped_column(String(16), default="app")  # app | gpx
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Check-in: where the patrol began, and whether that was in (or near) the worker's grids.
    start_geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)
    checked_in: Mapped[bool | None] = mapped_column(Boolean)
    check_in_distance_m: Mapped[float | None] = mapped_column(Float)
    # The cleaned track, simplified; None until two fixes are kept, and again once purged.
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=True)
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    in_own_grids_s: Mapped[float] = mapped_column(Float, default=0.0)
    fixes_received: Mapped[int] = mapped_column(Integer, default=0)
    fixes_kept: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[dict] = mapped_column(JSON, default=dict)  # reason -> count
    reordered: Mapped[int] = mapped_column(Integer, default=0)
    # The last kept fix: each batch is cleaned against it (speed from there).
    last_t: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    last_lat: Mapped[float | None] = mapped_column(Float)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    responder: Mapped[Responder] = relationship()


class PatrolFix(Base):
    """One raw GPS fix as the phone sent it (WGS84), kept for the retention period."""

    __tablename__ = "patrol_fixes"
    __table_args__ = (Index("ix_patrol_fixes_patrol_id_t", "patrol_id", "t"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"))
    t: Mapped[float] = mapped_column(Float)  # Unix time, seconds
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)


class PatrolVisit(Base):
    """A building the patrol's track passed within the visit distance, and when."""

    __tablename__ = "patrol_visits"

    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    building: Mapped[Building] = relationship()


class BuildingVisitDay(Base):
    """That a building was visited on a (China) day, by whoever: kept after the tracks are gone."""

    __tablename__ = "building_visit_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CoverageDay(Base):
    """A worker's figures for one grid and day, written when that day's tracks are purged."""

    __tablename__ = "coverage_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id", ondelete="CASCADE"), primary_key=True)
    patrols: Mapped[int] = mapped_column(Integer, default=0)
    visited: Mapped[int] = mapped_column(Integer, default=0)
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)

    grid: Mapped[Grid] = relationship()
    responder: Mapped[Responder] = relationship()
