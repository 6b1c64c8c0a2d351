"""Incidents (hazards, cases, illegal structures, renovation points) and their append-only history."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models.base import Base, UTCDateTime, utcnow
from geo.models.catalogue import Component
from geo.models.places import Building, Grid, Responder
from geo.spatial.geometry import SRID


class Incident(Base):
    """One geotagged record for hazards, cases, illegal structures and renovation points."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(String(100))  # personal data
    reporter_phone: Mapped[str | None] = mapped_column(String(32))  # personal data
    # Derived from geom on every write; never taken from the client.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id", ondelete="SET NULL"), index=True)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Incidents are never removed (their history must stay readable); DELETE marks them.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Workflow bookkeeping: when the current status began, when the next step is due, and how
    # far an overdue incident has been escalated (0 none, 1 grid leader, 2 community).
    status_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    escalation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicate_of_id: Mapped[int | None] = mapped_column(Integer)  # the incident this one was merged into
    possible_duplicates: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    rating: Mapped[int | None] = mapped_column(Integer)
    people_served: Mapped[int | None] = mapped_column(Integer)
    # The SHA-256 of the one-time capability given to whoever reported it, so that a resident
    # (the public, no account) may add the report's photos for a day (geo/media/photos.py).
    report_token_sha256: Mapped[str | None] = mapped_column(String(64))
    # Reported while the reporter's responder was on patrol (geo/patrols/service.py).
    patrol_id: Mapped[int | None] = mapped_column(ForeignKey("patrols.id", ondelete="SET NULL"), index=True)
    # The catalogue entry it was registered under and its time limit (处置时限), kept when the
    # catalogue changes; the handling deadline counts in that unit, moved by suspensions.
    catalogue_entry_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_entries.id"), index=True)
    time_limit: Mapped[float | None] = mapped_column(Float)
    time_unit: Mapped[str | None] = mapped_column(String(32))
    handling_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # while suspended (挂账)
    rework_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 返工
    # Who is to do the pending on-site check (核实 before registering, 核查 before closing).
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id", ondelete="SET NULL"), index=True)
    supervision_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 督办
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="SET NULL"), index=True)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)

    # SQLAlchemy checks the version in every UPDATE: a concurrent writer cannot be overwritten.
    __mapper_args__ = {"version_id_col": version}

    grid: Mapped[Grid | None] = relationship()
    building: Mapped[Building | None] = relationship()
    assignee: Mapped[Responder | None] = relationship(foreign_keys=[assignee_id])
    checker: Mapped[Responder | None] = relationship(foreign_keys=[checker_id])
    component: Mapped[Component | None] = relationship()  # the component (部件) it concerns
    history: Mapped[list[IncidentHistory]] = relationship(
        back_populates="incident", order_by="IncidentHistory.id", passive_deletes=True
    )


class IncidentHistory(Base):
    """Append-only: the database refuses UPDATE and DELETE on this table (see the migration)."""

    __tablename__ = "incident_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(Text)
    # What the row means for the indicators (GB/T 30428.4), whatever the kind: report, verify,
    # register, reject, merge, dispatch, handle, rework, check, close, evaluate, suspend, resume,
    # extend, supervise, overdue, recategorise; None for the rest. With the incident's state at
    # that moment, so that the figures of a past period never change when incidents move on.
    step: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    grid_id: Mapped[int | None] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    responder_id: Mapped[int | None] = mapped_column(Integer)  # the acting user's responder
    department: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the deadline this step answered to
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    work_hours: Mapped[float | None] = mapped_column(Float)  # handle rows: working hours it took

    incident: Mapped[Incident] = relationship(back_populates="history")
