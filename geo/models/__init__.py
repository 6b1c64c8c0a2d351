"""The data model: street → community → grid → building, estates, responders, incidents.

All geometries are stored in WGS84 (SRID 4326). Every geometry column carries a spatial
index on both databases (GiST on PostGIS, an R*Tree on SpatiaLite).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from geo.spatial.geometry import SRID  # noqa: E402

# Explicit constraint names keep migrations identical on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware timestamps on both databases: stored in UTC, read back as UTC.

    SpatiaLite has no time zone type and would hand back naive datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: wangge stores only timezone-aware times")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BuildingKind(str, enum.Enum):
    estate_building = "estate_building"  # 小区楼栋
    old_building = "old_building"  # 老旧单体楼
    public_facility = "public_facility"  # 党群活动中心 and the like


class ResponderKind(str, enum.Enum):
    person = "person"
    facility = "facility"


# Roles are open-ended strings; these are the ones wangge knows how to present.
KNOWN_ROLES = (
    "grid_leader",  # 网格长
    "grid_worker",  # 专职网格员
    "part_time",  # 兼职网格员
    "police",  # 专业网格员: 民警
    "urban_management",  # 专业网格员: 城管
    "building_head",  # 楼栋长
    "fire_station",  # 微消防站
)


class IncidentKind(str, enum.Enum):
    hazard = "hazard"  # 隐患
    case = "case"  # 事件
    illegal_structure = "illegal_structure"  # 违建
    renovation = "renovation"  # 民生改造点位


# Categories per kind; imports and writes are checked against these.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "hazard": ("safety_production", "fire_safety", "public_safety"),
    "case": ("dispute", "public_order", "aid"),
    "illegal_structure": ("rooftop", "enclosure", "extension", "shed"),
    "renovation": ("road", "lighting", "drainage", "elevator", "greening", "parking", "facade"),
}


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
    responders: Mapped[list[Responder]] = relationship(secondary=responder_grids, back_populates="grids", order_by="Responder.id")

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
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)

    # SQLAlchemy checks the version in every UPDATE: a concurrent writer cannot be overwritten.
    __mapper_args__ = {"version_id_col": version}

    grid: Mapped[Grid | None] = relationship()
    building: Mapped[Building | None] = relationship()
    assignee: Mapped[Responder | None] = relationship()
    history: Mapped[list[IncidentHistory]] = relationship(
        back_populates="incident", order_by="IncidentHistory.id", passive_deletes=True
    )


class IncidentHistory(Base):
    """Append-only: the database refuses UPDATE and DELETE on this table (see the migration)."""

    __tablename__ = "incident_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="history")


class UserRole(str, enum.Enum):
    admin = "admin"
    community = "community"  # 社区 staff: every grid of the community
    grid_leader = "grid_leader"
    grid_worker = "grid_worker"
    planner = "planner"
    viewer = "viewer"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    # Grid staff act for a responder; the grids it serves are the grids they may change.
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    responder: Mapped[Responder | None] = relationship()
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A bearer token; only a SHA-256 hash of its secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class LayerRevision(Base):
    """A counter per kind of change, bumped in the writing transaction.

    Processes holding in-memory indexes (grids, responders) compare these counters to know
    when to rebuild, whichever process made the change.
    """

    __tablename__ = "layer_revisions"

    layer: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    """The answer to a write sent with an ``Idempotency-Key`` header, kept so that a retry of
    the same request gets the same answer and changes nothing twice.

    Written in the same transaction as the change itself: either both are stored or neither.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keys are the caller's own: a user id, or "public" for requests without a token.
    caller: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of method, path and body: the same key with another request is refused (409).
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


LAYERS = {
    "communities": Community,
    "grids": Grid,
    "estates": Estate,
    "buildings": Building,
    "responders": Responder,
    "incidents": Incident,
}
