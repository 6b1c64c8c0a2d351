"""The properties a layer can be filtered on, each with the SQL expression that reads it.

One table for every reader that filters by property: the OGC API's ``property=value`` filters,
its ``/queryables`` and its OpenAPI parameters, and the CQL2 translator (geo/query/cql2.py).
A queryable is a column of the layer's own table or, for a property that names a related row
(``grid`` is the grid's code), a correlated subquery on that row: filters stay SQL, on both
databases. Personal data (phones, reporters) is never queryable: a filter on it would tell
who is behind a feature to a caller who may not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Float, Integer, Numeric, String, Text, select
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql.elements import ColumnElement

from geo.layers import LAYERS, GeometryKind, Layer
from geo.models.base import UTCDateTime

PERSONAL_PROPERTIES = frozenset({"phone", "reporter_name", "reporter_phone"})

# The property each layer's ``datetime`` filter reads (OGC API Features' temporal extent).
TEMPORAL_PROPERTY: dict[str, str] = {
    "incidents": "created_at",
    "responders": "located_at",
    "components": "updated_at",
    "patrols": "started_at",
}

GEOMETRY_PROPERTY = "geometry"


@dataclass(frozen=True)
class Queryable:
    name: str
    type: str  # JSON Schema type: string, integer, number, boolean; "geometry" for the geometry
    expression: ColumnElement[Any]  # what a filter compares: a column or a scalar subquery
    format: str | None = None  # "date-time" for times
    enum: Callable[[], list[str]] | None = None  # the values there are, when the layer lists them

    @property
    def is_time(self) -> bool:
        return self.format == "date-time"

    def schema(self) -> dict[str, Any]:
        """The property's JSON Schema, as ``/queryables`` and the OpenAPI document show it."""
        if self.type == GEOMETRY_PROPERTY:
            return {"$ref": "https://geojson.org/schema/Geometry.json", "x-ogc-role": "primary-geometry"}
        out: dict[str, Any] = {"title": self.name, "type": self.type}
        if self.format:
            out["format"] = self.format
        if self.enum is not None:
            out["enum"] = self.enum()
        return out


def _json_type(column_type: Any) -> tuple[str, str | None]:
    if isinstance(column_type, UTCDateTime):
        return "string", "date-time"
    if isinstance(column_type, Boolean):
        return "boolean", None
    if isinstance(column_type, Integer):
        return "integer", None
    if isinstance(column_type, (Float, Numeric)):
        return "number", None
    if isinstance(column_type, (String, Text)):
        return "string", None
    raise TypeError(f"no JSON type for {column_type!r}")


def _related(model: Any, path: str) -> tuple[ColumnElement[Any], Any] | None:
    """``rel.column`` of a many-to-one relation as a correlated scalar subquery, with its
    column's type; None for lists and longer paths (not queryable)."""
    relation_name, _, column_name = path.partition(".")
    if "." in column_name:
        return None
    prop = getattr(model, relation_name).property
    if not isinstance(prop, RelationshipProperty) or prop.uselist:
        return None
    target = prop.mapper.class_
    column = getattr(target, column_name)
    (local, remote), *_ = prop.local_remote_pairs
    subquery = select(column).where(remote == local).correlate(model).scalar_subquery()
    return subquery, column.type


@cache
def queryables(layer_name: str) -> dict[str, Queryable]:
    """The layer's queryable properties by name, in the order its features list them, then
    ``id`` and the geometry."""
    entry: Layer = LAYERS[layer_name]
    model: Any = entry.model
    table = model.__table__
    out: dict[str, Queryable] = {"id": Queryable("id", "integer", table.c.id)}
    for name, path in entry.properties:
        if name in PERSONAL_PROPERTIES:
            continue
        if "." in path:
            found = _related(model, path)
            if found is None:
                continue
            expression, column_type = found
        elif path in table.c:
            expression, column_type = table.c[path], table.c[path].type
        else:
            continue
        kind, fmt = _json_type(column_type)
        enum = entry.kinds if name == "kind" else None
        out[name] = Queryable(name, kind, expression, fmt, enum)
    out[GEOMETRY_PROPERTY] = Queryable(GEOMETRY_PROPERTY, GEOMETRY_PROPERTY, table.c.geom)
    return out


def temporal(layer_name: str) -> Queryable | None:
    """The queryable the layer's ``datetime`` filter reads, if it has one."""
    name = TEMPORAL_PROPERTY.get(layer_name)
    return queryables(layer_name)[name] if name else None


def geometry_type(layer_name: str) -> str:
    """The layer's geometry as OGC names it (for ``/queryables`` and collection metadata)."""
    kind = LAYERS[layer_name].geometry
    return {
        GeometryKind.POINT: "point",
        GeometryKind.POINT_OR_FOOTPRINT: "point",
        GeometryKind.POLYGON: "multipolygon",
        GeometryKind.LINE: "linestring",
    }[kind]
