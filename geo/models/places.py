"""Street → community → grid → building, estates, and the responders who serve grids."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models.base import Base, UTCDateTime, utcnow
from geo.models.kinds import BuildingKind, ResponderKind
from geo.spatial.geometry import SRID


class Street(Base):
    __tablename__ = "streets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(9), unique=True)  # district (6) + street (3)
    name: Mapped[str] = mapped_column(String(100))
    district_code: Mapped[str] = mapped_column(String(6))
    district_name: Mapped[str] = mapped_column(String(100))
    city_name: Mapped[str] = mapped_column(String(100))

    communities: Mapped[list[Community]] = relationship(back_populates="street")


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id"), index=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # street (9) + community (3)
    name: Mapped[str] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=True)

    street: Mapped[Street] = relationship(back_populates="communities")
    grids: Mapped[list[Grid]] = relationship(back_populates="community")


responder_grids = Table(
    "responder_grids",
    Base.metadata,
    Column("responder_id", ForeignKey("responders.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True),
)


class Grid(Base):
    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    party_branch: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict] = mapped_column(JSON, default=dict)  # other fields kept from an import
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    community: Mapped[Community | None] = relationship(back_populates="grids")
    responders: Mapped[list[Responder]] = relationship(
        secondary=responder_grids, back_populates="grids", order_by="Responder.id"
    )

    @property
    def leader(self) -> Responder | None:
        """The grid leader (网格长): the responder with role grid_leader serving this grid (the
        first by id, should there be several)."""
        return next((r for r in self.responders if r.role == "grid_leader"), None)


class Estate(Base):
    __tablename__ = "estates"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    property_company: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)

    buildings: Mapped[list[Building]] = relationship(back_populates="estate")


class Building(Base):
    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default=BuildingKind.old_building.value)
    address: Mapped[str | None] = mapped_column(String(300))
    households: Mapped[int] = mapped_column(Integer, default=0)
    residents: Mapped[int] = mapped_column(Integer, default=0)
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estates.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    footprint = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=True), nullable=True)

    estate: Mapped[Estate | None] = relationship(back_populates="buildings")
    grid: Mapped[Grid | None] = relationship()
    heads: Mapped[list[Responder]] = relationship(back_populates="building")


class Responder(Base):
    __tablename__ = "responders"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default=ResponderKind.person.value)
    role: Mapped[str] = mapped_column(String(32), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))  # personal data: masked by the API
    organisation: Mapped[str | None] = mapped_column(String(200))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"), index=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    located_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    grids: Mapped[list[Grid]] = relationship(secondary=responder_grids, back_populates="responders")
    building: Mapped[Building | None] = relationship(back_populates="heads")
