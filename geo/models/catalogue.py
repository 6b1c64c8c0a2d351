"""The GB/T 30428 catalogue (立结案标准) as data, in versions, and the components (部件) it classifies."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models.base import Base, UTCDateTime, utcnow
from geo.models.places import Grid
from geo.spatial.geometry import SRID

# Domains of the catalogue (GB/T 30428.2): events (事件) and components (部件).
EVENT = "event"
COMPONENT = "component"

# States of a component.
COMPONENT_STATES = ("intact", "damaged", "missing", "occupied", "removed")  # 完好 破损 丢失 占用 废弃


class CatalogueVersion(Base):
    """One import of a city's table. Incidents keep the entry they were registered under, so a
    version is never changed or removed once written; a new import makes a new version current."""

    __tablename__ = "catalogue_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(300))  # the file it came from
    sha256: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(100))
    # Sub-categories in use that this version drops, and the ones that carry them on.
    replaced: Mapped[dict] = mapped_column(JSON, default=dict)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    entries: Mapped[list[CatalogueEntry]] = relationship(back_populates="version", order_by="CatalogueEntry.id")


class CatalogueEntry(Base):
    """One 立案条件 of a sub-category (小类): when to register, the time limit, when to close."""

    __tablename__ = "catalogue_entries"
    __table_args__ = (UniqueConstraint("version_id", "category", "condition_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_versions.id"), index=True)
    domain: Mapped[str] = mapped_column(String(16))  # EVENT or COMPONENT
    major_code: Mapped[str] = mapped_column(String(2))
    major_name: Mapped[str] = mapped_column(String(100))
    minor_code: Mapped[str] = mapped_column(String(2))
    minor_name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(64), index=True)  # the key incidents carry
    kind: Mapped[str] = mapped_column(String(32))  # the incident kind of its incidents
    condition_no: Mapped[int] = mapped_column(Integer, default=1)
    register_condition: Mapped[str | None] = mapped_column(Text)  # 立案条件
    time_limit: Mapped[float] = mapped_column(Float)  # 处置时限
    time_unit: Mapped[str] = mapped_column(String(32))  # a geo.worktime.units.TimeUnit value
    close_condition: Mapped[str | None] = mapped_column(Text)  # 结案条件
    department: Mapped[str | None] = mapped_column(String(100))  # 责任部门

    version: Mapped[CatalogueVersion] = relationship(back_populates="entries")


class Component(Base):
    """A fixed asset (井盖, 消防栓, 路灯, 微型消防站 …) with its 16-digit code: district (6) +
    大类 (2) + 小类 (2) + serial (6)."""

    __tablename__ = "components"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    category: Mapped[str] = mapped_column(String(64), index=True)  # a component sub-category key
    name: Mapped[str | None] = mapped_column(String(200))
    accuracy: Mapped[str | None] = mapped_column(String(8))  # position accuracy class
    department: Mapped[str | None] = mapped_column(String(100))  # owner department
    state: Mapped[str] = mapped_column(String(32), default="intact", index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)

    grid: Mapped[Grid | None] = relationship()
