"""Real photos made by the tests with Pillow (nothing binary is committed): JPEGs with optional
EXIF GPS and time, and the other formats wangge takes."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from PIL import Image

from api.v1 import API_PREFIX as API

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    return (float(d), float(m), round((value - d - m / 60) * 3600, 4))


def image(size=(64, 48), color=(200, 60, 40), fmt="JPEG", gps=None, datum=None, taken: datetime | None = None) -> bytes:
    """An image of ``fmt`` with, in its EXIF, ``gps`` (lon, lat), GPSMapDatum ``datum`` and
    DateTimeOriginal ``taken`` (its zone, if it has one, in OffsetTimeOriginal)."""
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    picture = Image.new("RGB", size, color)
    exif = Image.Exif()
    if gps is not None:
        lon, lat = gps
        g = exif.get_ifd(_GPS_IFD)
        g.update({1: "N" if lat >= 0 else "S", 2: _dms(lat), 3: "E" if lon >= 0 else "W", 4: _dms(lon)})
        if datum:
            g[18] = datum
    if taken is not None:
        e = exif.get_ifd(_EXIF_IFD)
        e[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if taken.tzinfo is not None:
            offset = taken.strftime("%z")
            e[0x9011] = f"{offset[:3]}:{offset[3:]}"
    out = io.BytesIO()
    picture.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def media_files(root: str | Path | None = None) -> list[Path]:
    """The files of the media store (its lock files in ``.locks`` are not media)."""
    from geo.settings import get_settings

    top = Path(root if root is not None else get_settings().media_dir)
    if not top.exists():
        return []
    return sorted(p for p in top.rglob("*") if p.is_file() and ".locks" not in p.relative_to(top).parts)


def jpeg(**kwargs) -> bytes:
    return image(fmt="JPEG", **kwargs)


def upload(client, incident_id: int, data: bytes, stage: str = "after", headers=None, filename="photo.jpg", **fields):
    """POST the photo as a browser's form would."""
    return client.post(
        f"{API}/incidents/{incident_id}/photos",
        files={"file": (filename, data, "application/octet-stream")},
        data={"stage": stage, **fields},
        headers=headers or {},
    )


def provide_evidence(client, incident_id: int, action: str, headers) -> None:
    """Upload the photos the workflow says ``action`` needs (tests that walk a workflow take them
    first, as a grid worker would), each a new JPEG."""
    from geo.incidents.definitions import workflow

    kind = client.get(f"{API}/incidents/{incident_id}", headers=headers).json()["properties"]["kind"]
    spec = workflow(kind).actions.get(action)
    for stage in spec.evidence if spec else ():
        r = upload(client, incident_id, jpeg(color=(len(stage), incident_id % 256, 7)), stage, headers)
        assert r.status_code == 201, r.text


def without_photos(timeline: list[dict]) -> list[dict]:
    """The workflow's own steps: the timeline without its photo entries."""
    return [e for e in timeline if e["action"] != "photo"]
