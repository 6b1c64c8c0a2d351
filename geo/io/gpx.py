"""GPX in and out (gpxpy): tracks of fixes, the rows ``[lon, lat, unix time s, accuracy m]`` that
patrols record.

Reading takes the ``<trk>`` of any app or device: its segments are one track in file order (the
patrol service sorts and cleans the fixes), elevation is ignored, and a point without accuracy gets
NaN. GPX times are UTC by the standard, so a time without a zone is read as UTC. Writing puts one
``<trk>`` per track, each point with its time and, where known, its accuracy in metres in wangge's
own extension, so that a file written here reads back fix for fix.
"""

from __future__ import annotations

import codecs
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gpxpy
import gpxpy.gpx
import numpy as np

from geo.errors import InputError
from geo.io.read import ImportFailed

NAMESPACE = "urn:wangge:gpx:1"
PREFIX = "wangge"
ACCURACY_TAG = f"{{{NAMESPACE}}}accuracy"
SUFFIXES = (".gpx",)

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_GPX_ROOT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?gpx[\s>/]")


@dataclass(frozen=True)
class GpxTrack:
    """One ``<trk>`` of a file: its place in the file (from 1), its name and its fixes, an (n, 4)
    float array of lon, lat, unix time in seconds and accuracy in metres (NaN when not given)."""

    number: int
    name: str | None
    fixes: np.ndarray

    @property
    def label(self) -> str:
        return _track_label(self.number, self.name)


def _track_label(number: int, name: str | None) -> str:
    return f"track {number}" + (f" ({name!r})" if name else "")


def is_gpx_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def read_gpx(path: str | Path) -> list[GpxTrack]:
    """The tracks of a GPX file. Raises InputError naming the track and point of every problem:
    no track at all, a track without points, a point without a time, coordinates that are not
    longitude/latitude, an accuracy that is not a distance."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return parse_gpx(path.read_bytes(), path.name)


def parse_gpx(data: bytes, source: str = "GPX") -> list[GpxTrack]:
    """``read_gpx`` for bytes already in memory; ``source`` names them in messages."""
    text = _decode(data, source)
    if not _GPX_ROOT.search(text[:4096]):
        raise InputError(f"{source}: not a GPX file (no <gpx> element at its start)")
    try:
        doc = gpxpy.parse(text)
    except gpxpy.gpx.GPXXMLSyntaxException as exc:
        raise InputError(f"{source}: the XML cannot be read as GPX ({exc.__cause__})") from None
    except gpxpy.gpx.GPXException as exc:
        raise ImportFailed(source, [_unreadable_point(text) or f"the GPX cannot be read ({exc})"]) from None
    if not doc.tracks:
        others = []
        if doc.routes:
            others.append(f"{len(doc.routes)} route(s) <rte>")
        if doc.waypoints:
            others.append(f"{len(doc.waypoints)} waypoint(s) <wpt>")
        found = f"; it holds only {' and '.join(others)}, and a patrol is a track" if others else ""
        raise ImportFailed(source, [f"the file has no track (<trk>): nothing to import{found}"])
    problems: list[str] = []
    tracks = [_read_track(i, trk, problems) for i, trk in enumerate(doc.tracks, start=1)]
    if problems:
        raise ImportFailed(source, problems)
    return tracks


def _decode(data: bytes, source: str) -> str:
    """The file's text by its byte order mark or XML declaration (Chinese apps may write GBK),
    else UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode_as(data[len(codecs.BOM_UTF8) :], "utf-8", source)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_as(data, "utf-16", source)
    declared = _DECLARED_ENCODING.match(data[:200])
    return _decode_as(data, declared.group(1).decode("ascii") if declared else "utf-8", source)


def _decode_as(data: bytes, encoding: str, source: str) -> str:
    try:
        text = data.decode(encoding)
    except LookupError:
        raise InputError(f"{source}: unknown text encoding {encoding!r} in its XML declaration") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: not a GPX file: the bytes at position {exc.start} are not {encoding} text"
        ) from None
    # The text is decoded now: a declaration naming another encoding would mislead the XML parser.
    return re.sub(r"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""", r"\1", text, count=1)


def _read_track(number: int, trk: gpxpy.gpx.GPXTrack, problems: list[str]) -> GpxTrack:
    label = _track_label(number, trk.name)
    several = len(trk.segments) > 1
    rows = []
    k = 0
    for s, segment in enumerate(trk.segments, start=1):
        for point in segment.points:
            k += 1
            where = f"{label}, point {k}" + (f" (segment {s})" if several else "")
            row = _read_point(point, where, problems)
            if row is not None:
                rows.append(row)
    if k == 0:
        problems.append(f"{label} has no points (<trkpt>)")
    fixes = np.array(rows, dtype=float).reshape(-1, 4)
    return GpxTrack(number, trk.name, fixes)


def _read_point(point: gpxpy.gpx.GPXTrackPoint, where: str, problems: list[str]) -> list[float] | None:
    lon, lat = point.longitude, point.latitude
    bad = []
    if not (math.isfinite(lon) and math.isfinite(lat)):
        bad.append(f"coordinates ({lon}, {lat}) are not finite numbers")
    elif not (-180 <= lon <= 180 and -90 <= lat <= 90):
        bad.append(f"coordinates lon={lon}, lat={lat} are outside longitude/latitude range")
    if point.time is None:
        # gpxpy reads a time it cannot parse as none at all.
        bad.append("no time (<time>), or one that is not an ISO 8601 date and time")
    accuracy = _accuracy(point)
    if isinstance(accuracy, str):
        bad.append(accuracy)
    if bad:
        problems.append(f"{where}: " + "; ".join(bad))
        return None
    assert point.time is not None and isinstance(accuracy, float)
    moment = point.time if point.time.tzinfo is not None else point.time.replace(tzinfo=UTC)
    return [lon, lat, moment.timestamp(), accuracy]


def _accuracy(point: gpxpy.gpx.GPXTrackPoint) -> float | str:
    """The accuracy in metres from wangge's extension (NaN without one), or what is wrong with it."""
    for element in point.extensions:
        if element.tag != ACCURACY_TAG:
            continue
        text = (element.text or "").strip()
        try:
            value = float(text)
        except ValueError:
            return f"accuracy {text!r} is not a number of metres"
        if not (math.isfinite(value) and value >= 0):
            return f"accuracy {text!r} is not a distance in metres (0 or more)"
        return value
    return math.nan


def _unreadable_point(text: str) -> str | None:
    """Where gpxpy stopped: the first track point whose lat or lon is missing or not a number."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    for number, trk in enumerate(_children(root, "trk"), start=1):
        name = next((e.text for e in _children(trk, "name")), None)
        k = 0
        for segment in _children(trk, "trkseg"):
            for point in _children(segment, "trkpt"):
                k += 1
                for attribute in ("lat", "lon"):
                    value = point.get(attribute)
                    where = f"{_track_label(number, name)}, point {k}"
                    if value is None:
                        return f"{where}: no {attribute} attribute"
                    try:
                        float(value)
                    except ValueError:
                        return f"{where}: {attribute}={value!r} is not a number"
    return None


def _children(element: ET.Element, local: str) -> Iterator[ET.Element]:
    # GPX 1.0 and 1.1 have different namespaces; match the element's local name.
    return (child for child in element if child.tag.rpartition("}")[2] == local)


def gpx_text(tracks: Iterable[tuple[str, np.ndarray]]) -> str:
    """A GPX 1.1 document with one ``<trk>`` per (name, fixes): every fix with its time, and its
    accuracy (when not NaN) in wangge's extension. Coordinates are written in full, so they read
    back as the same floats; times to the microsecond."""
    doc = gpxpy.gpx.GPX()
    doc.creator = "wangge"
    doc.nsmap[PREFIX] = NAMESPACE
    for name, fixes in tracks:
        segment = gpxpy.gpx.GPXTrackSegment()
        track = gpxpy.gpx.GPXTrack(name=name)
        track.segments.append(segment)
        doc.tracks.append(track)
        for lon, lat, t, accuracy in np.asarray(fixes, dtype=float).reshape(-1, 4).tolist():
            point = gpxpy.gpx.GPXTrackPoint(lat, lon, time=datetime.fromtimestamp(t, UTC))
            if not math.isnan(accuracy):
                element = ET.Element(ACCURACY_TAG)
                element.text = repr(accuracy)
                point.extensions.append(element)
            segment.points.append(point)
    return doc.to_xml(version="1.1")


def write_gpx(path: str | Path, tracks: Iterable[tuple[str, np.ndarray]]) -> None:
    """Write ``gpx_text(tracks)`` to ``path`` (UTF-8), through a temporary file so that a failed
    export leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = gpx_text(tracks)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
