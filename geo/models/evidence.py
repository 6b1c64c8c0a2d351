"""Evidence: the photos of an incident. The files live in the media store (geo/media/), named by
their SHA-256; the rows hold what was read from them and who sent them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base, UTCDateTime, utcnow

# The moments of an incident a photo may show, as digital city management asks for them.
PHOTO_STAGES = ("report", "close_up", "wide", "before", "after", "verify")


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # the file's name in the media store
    stage: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # EXIF DateTimeOriginal
    # Where the camera said it was, converted to WGS84 (personal data: a location track).
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    position_crs: Mapped[str | None] = mapped_column(String(8))  # what the EXIF coordinates were in
    position_crs_assumed: Mapped[bool] = mapped_column(Boolean, default=False)
    distance_m: Mapped[float | None] = mapped_column(Float)  # from the incident
    far: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
