"""The photos of incidents: adding one (checked, read, stored, on the timeline), listing them,
the copies shown, and keeping the files in step with the rows.

Files and rows: a file is written before its row, inside the unit of work, which holds the
file's name (a shared lock, see geo/media/store.py) until it ends. When it ends, every file it
wrote and did not commit a row for, and every file it let go of, is deleted unless a committed row
still names it: asked after taking the name exclusively, so after every other unit of work using
the same file has committed or rolled back (see :data:`SESSION_HOOKS`). A failed transaction
leaves no file behind, deleting an incident leaves no orphan, and one upload's rollback never
deletes the file another upload of the same photo is committing.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, SessionTransaction

from geo.access.policy import Actor, check_may_add_photo
from geo.access.users import hash_token
from geo.errors import Conflict, InputError, NotFound, TooLarge
from geo.incidents.history import record
from geo.media import images
from geo.media.store import media_store, sha256_of
from geo.models import PHOTO_STAGES, Incident, Photo
from geo.settings import get_settings
from geo.spatial.crs import gcj02_to_wgs84
from geo.spatial.geometry import from_db, geodesic_distance_m

EXIF_CRS = ("wgs84", "gcj02")
REPORT_TOKEN_TTL = timedelta(hours=24)

# session.info keys: files written in the unit of work, the holds on their names, files it let go
# of, and whether it committed.
_WRITTEN = "wangge_media_written"
_HOLDS = "wangge_media_holds"
_RELEASED = "wangge_media_released"
_COMMITTED = "wangge_media_committed"


# --------------------------------------------------------------------------- report tokens


def new_report_token() -> tuple[str, str]:
    """A one-time capability for whoever reports an incident: (the token, its SHA-256 to store,
    hashed as bearer tokens are)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def holds_report_token(incident: Incident, token: str | None, now: datetime) -> bool:
    """Whether ``token`` is the incident's report token, within a day of the report."""
    if not token or incident.report_token_sha256 is None:
        return False
    if now > incident.created_at + REPORT_TOKEN_TTL:
        return False
    return hmac.compare_digest(hash_token(token), incident.report_token_sha256)


# --------------------------------------------------------------------------- adding


@dataclass(frozen=True)
class Position:
    lon: float
    lat: float
    crs: str
    assumed: bool


def exif_crs_of(declared: str | None, datum: str | None) -> tuple[str, bool]:
    """The coordinate system of the EXIF GPS and whether it was assumed: the client's word
    first, then the camera's GPSMapDatum, else WGS84 (assumed, and the answer says so)."""
    if declared is not None:
        return declared, False
    plain = (datum or "").upper().replace("-", "").replace(" ", "")
    if plain.startswith("GCJ"):
        return "gcj02", False
    if plain.startswith("WGS84"):
        return "wgs84", False
    return "wgs84", True


def photo_position(info: images.ImageInfo, declared: str | None) -> Position | None:
    if info.gps is None:
        return None
    crs, assumed = exif_crs_of(declared, info.gps_datum)
    lon, lat = info.gps
    if crs == "gcj02":
        wlon, wlat = gcj02_to_wgs84(lon, lat)
        lon, lat = float(wlon), float(wlat)
    return Position(lon, lat, crs, assumed)


def _check_stage(stage: str) -> None:
    if stage not in PHOTO_STAGES:
        raise InputError(f"Unknown photo stage {stage!r}: use one of {', '.join(PHOTO_STAGES)}")


def _lock_and_count(session: Session, incident_id: int) -> int:
    # PostGIS: concurrent uploads to one incident take turns here, so the limit holds.
    # SQLite has one writer at a time and ignores FOR UPDATE.
    session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())
    return session.scalar(select(func.count(Photo.id)).where(Photo.incident_id == incident_id)) or 0


def add_photo(
    session: Session,
    incident: Incident,
    data: bytes,
    stage: str,
    actor: Actor,
    now: datetime,
    exif_crs: str | None = None,
    report_token: str | None = None,
    sha256: str | None = None,
) -> Photo:
    """Check, read and store one photo of ``incident``; raise, storing nothing, if it may not.
    ``sha256``: the SHA-256 of ``data`` if the caller took it as the bytes came in."""
    check_may_add_photo(actor, incident, stage, holds_report_token(incident, report_token, now))
    _check_stage(stage)
    if exif_crs is not None and exif_crs not in EXIF_CRS:
        raise InputError(f"exif_crs must be {' or '.join(EXIF_CRS)} (the coordinate system of the photo's GPS)")
    settings = get_settings()
    if len(data) > settings.photo_max_bytes:
        raise photo_too_large()
    info = images.inspect_image(data)
    if _lock_and_count(session, incident.id) >= settings.photo_max_count:
        raise Conflict(
            f"This incident already has {settings.photo_max_count} photos, the most it may have: "
            "send no more, or ask community staff to remove one"
        )
    position = photo_position(info, exif_crs)
    distance = None
    if position is not None:
        site = from_db(incident.geom)
        assert site is not None  # an incident always has its point
        distance = float(geodesic_distance_m(site.x, site.y, position.lon, position.lat))
    sha256 = _put(session, data, sha256)
    photo = Photo(
        incident_id=incident.id,
        sha256=sha256,
        stage=stage,
        media_type=info.media_type,
        bytes=len(data),
        width=info.width,
        height=info.height,
        taken_at=info.taken_at,
        lon=position.lon if position else None,
        lat=position.lat if position else None,
        position_crs=position.crs if position else None,
        position_crs_assumed=position.assumed if position else False,
        distance_m=distance,
        far=distance is not None and distance > settings.photo_far_m,
        uploaded_by=actor.name,
        uploaded_at=now,
    )
    session.add(photo)
    session.flush()
    record(
        session,
        incident,
        actor,
        "photo",
        now,
        from_status=incident.status,
        changes={"photo": photo.id, "stage": stage},
    )
    session.flush()
    return photo


def photo_too_large() -> TooLarge:
    mb = get_settings().photo_max_bytes / (1024 * 1024)
    return TooLarge(f"The photo is larger than {mb:g} MB: send a smaller one (a phone can reduce the photo size)")


def _put(session: Session, data: bytes, sha256: str | None) -> str:
    store = media_store()
    sha256 = sha256 or sha256_of(data)
    # Held before the file is written and until the unit of work ends: no one deletes it meanwhile.
    session.info.setdefault(_HOLDS, []).append(store.hold(sha256))
    store.put(data, sha256)
    session.info.setdefault(_WRITTEN, set()).add(sha256)
    return sha256


# --------------------------------------------------------------------------- reading


def photos_of(session: Session, incident_id: int) -> list[Photo]:
    return list(session.scalars(select(Photo).where(Photo.incident_id == incident_id).order_by(Photo.id)))


def photo_counts(session: Session, incident_ids: Collection[int]) -> dict[int, int]:
    """Photos per incident, for a page of incidents: one grouped query."""
    if not incident_ids:
        return {}
    rows = session.execute(
        select(Photo.incident_id, func.count(Photo.id))
        .where(Photo.incident_id.in_(list(incident_ids)))
        .group_by(Photo.incident_id)
    )
    return {incident_id: count for incident_id, count in rows}


def get_photo(session: Session, incident_id: int, photo_id: int) -> Photo:
    photo = session.get(Photo, photo_id)
    if photo is None or photo.incident_id != incident_id:
        raise NotFound(f"Incident {incident_id} has no photo {photo_id}")
    return photo


def has_photo_since(session: Session, incident_id: int, stage: str, since: datetime | None) -> bool:
    stmt = select(Photo.id).where(Photo.incident_id == incident_id, Photo.stage == stage)
    if since is not None:
        stmt = stmt.where(Photo.uploaded_at >= since)
    return session.scalar(stmt.limit(1)) is not None


# The copies: what is served, its media type, and whether it carries the EXIF.
ORIGINAL, PUBLIC, THUMBNAIL = "original", "public", "thumb"
_MAKERS = {PUBLIC: images.stripped_copy, THUMBNAIL: images.thumbnail}


def photo_bytes(photo: Photo, copy: str) -> tuple[bytes, str]:
    """The bytes of ``copy`` and their media type. The stripped copies are made once, on first
    use, and kept beside the original (uploads do not wait for them)."""
    store = media_store()
    if copy == ORIGINAL:
        with store.open(photo.sha256) as f:
            return f.read(), photo.media_type
    if not store.exists(photo.sha256, copy):
        with store.hold(photo.sha256), store.open(photo.sha256) as f:  # not deleted while copied
            store.put_variant(photo.sha256, copy, _MAKERS[copy](f.read()))
    with store.open(photo.sha256, copy) as f:
        return f.read(), "image/jpeg"


# --------------------------------------------------------------------------- removing


def remove_photos(session: Session, incident_id: int) -> int:
    """Delete the incident's photos; their files go once the unit of work commits, unless
    another photo still uses them."""
    photos = photos_of(session, incident_id)
    released = session.info.setdefault(_RELEASED, set())
    for photo in photos:
        released.add(photo.sha256)
        session.delete(photo)
    session.flush()
    return len(photos)


def _referenced(engine: Engine, sha256: str) -> bool:
    with engine.connect() as conn:
        return conn.scalar(select(Photo.id).where(Photo.sha256 == sha256).limit(1)) is not None


def _committed(session: Session) -> None:
    session.info[_COMMITTED] = True


def _settle_files(session: Session, transaction: SessionTransaction) -> None:
    """After the unit of work: delete each file it let go of, or wrote without committing a row
    for, that no committed row names."""
    if transaction.parent is not None:
        return
    for hold in session.info.pop(_HOLDS, []):
        hold.release()
    written: set[str] = session.info.pop(_WRITTEN, set())
    released: set[str] = session.info.pop(_RELEASED, set())
    # Committed, the files it wrote have their rows; rolled back, any file it touched may have none.
    doubtful = released if session.info.pop(_COMMITTED, False) else written | released
    if not doubtful:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    store = media_store()
    for sha256 in sorted(doubtful):
        with store.hold(sha256, exclusive=True):  # after every unit of work using it has ended
            if not _referenced(engine, sha256):
                store.delete(sha256)


SESSION_HOOKS: tuple[tuple[str, Any], ...] = (
    ("after_commit", _committed),
    ("after_transaction_end", _settle_files),
)


def first_photo_ids(session: Session, incident_ids: Collection[int]) -> dict[int, int]:
    """Each incident's first photo (the oldest), for a page of incidents: one grouped query."""
    if not incident_ids:
        return {}
    rows = session.execute(
        select(Photo.incident_id, func.min(Photo.id))
        .where(Photo.incident_id.in_(list(incident_ids)))
        .group_by(Photo.incident_id)
    )
    return {incident_id: photo_id for incident_id, photo_id in rows}
