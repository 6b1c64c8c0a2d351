"""OGC API Features' query parameters as SQL conditions on a layer, and what a collection
states about itself (its extent), and the version tag of a stored feature.

The HTTP side is api/ogc/features.py; the properties and their SQL are geo/query/queryables.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from geo.db.engine import backend_for
from geo.errors import InputError
from geo.layers import LAYERS
from geo.query.queryables import GEOMETRY_PROPERTY, Queryable, queryables, temporal
from geo.spatial.coords import check_lonlat
from geo.spatial.crs import CoordinateSystem, box_to_wgs84
from geo.timezones import assume_china_time

OPEN = ".."  # an open end of a datetime interval


def parse_bbox(text: str, crs: CoordinateSystem) -> tuple[float, float, float, float]:
    """``bbox``: four numbers in ``crs``'s axis order (lower corner, upper corner), as a lon/lat box."""
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        raise InputError(f"bbox {text!r} must be four numbers separated by commas") from None
    if len(values) != 4:
        raise InputError(f"bbox {text!r} must be four numbers (lower left corner, upper right corner)")
    if values[0] > values[2] or values[1] > values[3]:
        raise InputError(f"bbox {text!r}: each minimum must not exceed its maximum")
    box = box_to_wgs84((values[0], values[1], values[2], values[3]), crs)
    check_lonlat(box[0], box[1], "bbox")
    check_lonlat(box[2], box[3], "bbox")
    return box


def _moment(text: str, end: bool) -> datetime:
    """An RFC 3339 time (China time if it names no zone); a date alone is its whole day (its
    start, or with ``end`` the start of the next day)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"datetime: {text!r} is not an RFC 3339 date or time (e.g. 2024-05-01 or 2024-05-01T08:00:00Z)"
        ) from None
    if end and len(text) == 10:
        value += timedelta(days=1)
    return assume_china_time(value)


def time_range(text: str) -> tuple[datetime | None, datetime | None, bool]:
    """``datetime``: an instant, or an interval ``start/end`` with ``..`` (or nothing) for an open
    end. Returns (start, end, end_inclusive)."""
    if "/" not in text:
        if len(text) == 10:  # a day: all of it
            return _moment(text, False), _moment(text, True), False
        moment = _moment(text, False)
        return moment, moment, True
    first, _, last = text.partition("/")
    start = None if first in ("", OPEN) else _moment(first, False)
    end = None if last in ("", OPEN) else _moment(last, len(last) == 10)
    if start is None and end is None:
        raise InputError("datetime: an interval needs at least one end (../.. is not one)")
    inclusive = len(last) != 10  # a day as the end: up to the start of the next
    if start is not None and end is not None and (start > end or (start == end and not inclusive)):
        raise InputError(f"datetime {text!r}: the interval ends before it starts")
    return start, end, inclusive


def datetime_condition(layer: str, text: str) -> ColumnElement[bool]:
    """Features whose temporal property (see :func:`geo.query.queryables.temporal`) lies in ``text``."""
    prop = temporal(layer)
    if prop is None:
        raise InputError(f"datetime: {layer} have no time to filter on")
    start, end, inclusive = time_range(text)
    conditions = []
    if start is not None:
        conditions.append(prop.expression >= start)
    if end is not None:
        conditions.append(prop.expression <= end if inclusive else prop.expression < end)
    return and_(*conditions)


def _value(prop: Queryable, text: str) -> Any:
    try:
        if prop.type == "integer":
            return int(text)
        if prop.type == "number":
            return float(text)
    except ValueError:
        raise InputError(
            f"{prop.name}: {text!r} is not a{'n integer' if prop.type == 'integer' else ' number'}"
        ) from None
    if prop.type == "boolean":
        if text.lower() not in ("true", "false"):
            raise InputError(f"{prop.name}: {text!r} is not true or false")
        return text.lower() == "true"
    if prop.is_time:
        return _moment(text, False)
    return text


def property_names(layer: str) -> list[str]:
    """The properties ``name=value`` filters on (every queryable but the geometry)."""
    return [name for name in queryables(layer) if name != GEOMETRY_PROPERTY]


def property_conditions(layer: str, given: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """``name=value`` for each queryable named in ``given`` (other keys are ignored)."""
    found = queryables(layer)
    return [
        found[name].expression == _value(found[name], text)
        for name, text in given.items()
        if name in found and name != GEOMETRY_PROPERTY
    ]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def extent(session: Session, layer: str, where: Sequence[Any] = ()) -> dict[str, Any]:
    """The layer's spatial extent (a lon/lat box, None while it is empty) and temporal extent
    (first and last time of its temporal property; absent when it has none)."""
    model: Any = LAYERS[layer].model
    box = session.execute(select(*backend_for(session).extent(model.__table__.c.geom)).where(*where)).one()
    out: dict[str, Any] = {"spatial": None if box[0] is None else [float(v) for v in box]}
    prop = temporal(layer)
    if prop is not None:
        first, last = session.execute(select(func.min(prop.expression), func.max(prop.expression)).where(*where)).one()
        out["temporal"] = [_iso(first), _iso(last)]
    return out


def feature_etag(feature: Mapping[str, Any]) -> str:
    """A strong tag of a feature as stored (its properties and WGS84 geometry): any change to
    it changes the tag, so a write sent with an older one is refused."""
    digest = hashlib.sha256(orjson.dumps(feature, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()
    return f'"{digest}"'
