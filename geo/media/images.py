"""Images as evidence: what a file is (by its content, never its name), what its EXIF says
(time, GPS and the GPS datum), and copies re-encoded without any metadata.

Refusals: not an image of a kind wangge takes → :class:`UnsupportedMedia` (415); more bytes than
allowed → :class:`TooLarge` (413, raised by the caller who counts them); a truncated file or a
decompression bomb (more pixels than ``photo_max_pixels``) → :class:`InputError` (422).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from PIL import Image, ImageOps, UnidentifiedImageError

from geo.errors import InputError, UnsupportedMedia
from geo.settings import get_settings
from geo.timezones import assume_china_time

# Pillow's format name → the media type wangge stores. pillow-heif names HEIC/HEIF "HEIF".
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
THUMBNAIL_PX = 320
COPY_QUALITY = 85

# EXIF tags (CIPA DC-008): the Exif and GPS sub-directories and the fields read from them.
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_MAP_DATUM = 1, 2, 3, 4, 18

NOT_AN_IMAGE = "The file is not a photo wangge can take: send a JPEG, PNG, WebP or HEIC image"


@lru_cache
def _formats() -> tuple[str, ...]:
    """The decoders wangge allows, HEIC/HEIF included (registered on first use, not on import)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return tuple(MEDIA_TYPES)


@dataclass(frozen=True)
class ImageInfo:
    media_type: str
    width: int
    height: int
    taken_at: datetime | None
    gps: tuple[float, float] | None  # lon, lat as the camera wrote them
    gps_datum: str | None  # EXIF GPSMapDatum, e.g. "WGS-84" or "GCJ-02"


def _open(data: bytes) -> Image.Image:
    limit = get_settings().photo_max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_formats())
    except UnidentifiedImageError:
        raise UnsupportedMedia(NOT_AN_IMAGE) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _bomb(limit) from None
    except (OSError, SyntaxError, ValueError) as exc:  # known by its header, broken after it (a cut WebP)
        raise _incomplete(str(exc)) from None
    if image.width * image.height > limit:
        raise _bomb(limit)
    return image


def _bomb(limit: int) -> InputError:
    return InputError(
        f"The image has more than {limit // 1_000_000} million pixels, more than any phone photo: send a smaller one"
    )


def _decode(image: Image.Image) -> Image.Image:
    """Decode every pixel (a truncated file fails here): for the copies, and for HEIC, which
    has no cheap structural check and is rare enough to pay for a decode."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _incomplete(str(exc)) from None
    return image


def _incomplete(why: str) -> InputError:
    return InputError(f"The photo is incomplete or damaged ({why}): take or send it again")


def _check_complete(image: Image.Image, data: bytes) -> None:
    """Whether the file is whole, read from its structure instead of decoding its pixels (a
    full decode costs several times the upload itself). A file cut short in transfer loses its
    end: a JPEG its EOI marker after the scans, a PNG its IEND chunk, a WebP the length its RIFF
    header declares."""
    if image.format == "JPEG":
        # Scan data escapes every 0xFF (FF00 or a restart marker), so FFD9 after the first scan
        # is the end of the image; bytes after it (phone makers' trailers) are allowed.
        tile = getattr(image, "tile", None)  # where the first scan starts (after APP1's thumbnail)
        if data.rfind(b"\xff\xd9", tile[0][2] if tile else 2) == -1:
            raise _incomplete("the JPEG has no end of image")
    elif image.format == "PNG":
        _check_png_chunks(data)
    elif image.format == "WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8
        if len(data) < declared:
            raise _incomplete(f"the WebP says {declared} bytes but has {len(data)}")
    else:
        _decode(image)


def _check_png_chunks(data: bytes) -> None:
    """Walk the chunks (length, type, data, CRC) from the signature to IEND."""
    at = 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        if data[at + 4 : at + 8] == b"IEND":
            return
        at += 12 + length
    raise _incomplete("the PNG has no IEND chunk")


def _ratio(value) -> float:
    return float(value[0]) / float(value[1]) if isinstance(value, tuple) else float(value)


def _degrees(dms, ref) -> float | None:
    try:
        d, m, s = (_ratio(v) for v in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    ref = ref.decode() if isinstance(ref, bytes) else str(ref or "")
    return -value if ref.strip().upper() in ("S", "W") else value


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ").strip() or None


def _taken_at(exif_ifd) -> datetime | None:
    stamp, offset = _text(exif_ifd.get(_DATETIME_ORIGINAL)), _text(exif_ifd.get(_OFFSET_TIME_ORIGINAL))
    if not stamp:
        return None
    try:
        moment = datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
        if offset:
            moment = datetime.strptime(f"{stamp[:19]}{offset}", "%Y:%m:%d %H:%M:%S%z")
    except ValueError:
        return None  # a camera's odd time is no reason to refuse the photo
    return assume_china_time(moment).astimezone(UTC)  # stored and answered in UTC, as every time


def _gps(gps_ifd) -> tuple[float, float] | None:
    if _GPS_LAT not in gps_ifd or _GPS_LON not in gps_ifd:
        return None
    lat = _degrees(gps_ifd[_GPS_LAT], gps_ifd.get(_GPS_LAT_REF))
    lon = _degrees(gps_ifd[_GPS_LON], gps_ifd.get(_GPS_LON_REF))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lon, lat


def inspect_image(data: bytes) -> ImageInfo:
    """What ``data`` is, from its headers: its kind, size (a decompression bomb is refused by
    its pixel count before any pixel is decoded), EXIF, and whether the file is whole."""
    image = _open(data)
    width, height = image.size
    _check_complete(image, data)
    exif = image.getexif()
    exif_ifd, gps_ifd = exif.get_ifd(_EXIF_IFD), exif.get_ifd(_GPS_IFD)
    assert image.format is not None  # opened from a file, by one of _formats()
    return ImageInfo(
        media_type=MEDIA_TYPES[image.format],
        width=width,
        height=height,
        taken_at=_taken_at(exif_ifd),
        gps=_gps(gps_ifd),
        gps_datum=_text(gps_ifd.get(_GPS_MAP_DATUM)),
    )


def _clean_copy(data: bytes, max_px: int | None) -> bytes:
    """A JPEG of the pixels alone: no EXIF, ICC, XMP or comment survives the re-encoding."""
    image = _open(data)
    if max_px is not None and image.format == "JPEG":
        image.draft("RGB", (max_px, max_px))  # decoded at the smallest scale that is big enough
    image = ImageOps.exif_transpose(_decode(image))  # upright, as the camera meant it
    if max_px is not None:
        image.thumbnail((max_px, max_px))
    pixels = Image.new("RGB", image.size, "white")
    pixels.paste(image.convert("RGBA"), mask=image.convert("RGBA"))  # transparency onto white
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=COPY_QUALITY, optimize=True)
    return out.getvalue()


def thumbnail(data: bytes) -> bytes:
    return _clean_copy(data, THUMBNAIL_PX)


def stripped_copy(data: bytes) -> bytes:
    """The full picture for those who may not see where and when it was taken."""
    return _clean_copy(data, None)
