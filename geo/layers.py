"""The one registry of layers: what each layer is called, what it stores and how it is read.

The API's routers and their OpenAPI text, the importers' choices, export, the CLI, the demo and
the maps all read this table. Adding a layer is one entry here and its model in geo/models
(plus its importer in geo/io/importers.py if it can be loaded from files).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from geo.errors import InputError
from geo.models import (
    Base,
    Building,
    BuildingKind,
    Community,
    Component,
    Estate,
    Grid,
    Incident,
    IncidentKind,
    Patrol,
    Responder,
    ResponderKind,
)


class GeometryKind(Enum):
    POINT = "Point"
    POLYGON = "Polygon or MultiPolygon"
    POINT_OR_FOOTPRINT = "Point, or a footprint Polygon"  # the point is derived from the footprint
    LINE = "LineString"


# The fields of a row, as (name, attribute path): "grid.code" follows a relation (None when it
# is empty), "grids.code" on a list joins the codes with commas in order, times are ISO 8601.
Fields = tuple[tuple[str, str], ...]

_COMMUNITY_FIELDS: Fields = (
    ("district_code", "street.district_code"),
    ("district_name", "street.district_name"),
    ("city_name", "street.city_name"),
    ("street_code", "street.code"),
    ("street_name", "street.name"),
    ("community_code", "code"),
    ("community_name", "name"),
)
_GRID_FIELDS: Fields = (
    ("code", "code"),
    ("name", "name"),
    ("community_code", "community.code"),
    ("party_branch", "party_branch"),
)
_ESTATE_FIELDS: Fields = (("name", "name"), ("property_company", "property_company"))
_BUILDING_FIELDS: Fields = (
    ("code", "code"),
    ("name", "name"),
    ("kind", "kind"),
    ("address", "address"),
    ("households", "households"),
    ("residents", "residents"),
    ("estate", "estate.name"),
    ("grid", "grid.code"),
)
_RESPONDER_FIELDS: Fields = (
    ("code", "code"),
    ("name", "name"),
    ("kind", "kind"),
    ("role", "role"),
    ("phone", "phone"),
    ("organisation", "organisation"),
    ("grids", "grids.code"),
    ("building", "building.code"),
    ("on_duty", "on_duty"),
    ("located_at", "located_at"),
)
_INCIDENT_FIELDS: Fields = (
    ("code", "code"),
    ("kind", "kind"),
    ("category", "category"),
    ("status", "status"),
    ("title", "title"),
    ("description", "description"),
    ("reporter_name", "reporter_name"),
    ("reporter_phone", "reporter_phone"),
    ("grid", "grid.code"),
    ("building", "building.code"),
    ("created_at", "created_at"),
    ("closed_at", "closed_at"),
)
_COMPONENT_FIELDS: Fields = (
    ("code", "code"),
    ("category", "category"),
    ("name", "name"),
    ("state", "state"),
    ("accuracy", "accuracy"),
    ("department", "department"),
    ("grid", "grid.code"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
)
_PATROL_FIELDS: Fields = (
    ("code", "code"),
    ("responder", "responder.code"),
    ("status", "status"),
    ("source", "source"),
    ("started_at", "started_at"),
    ("ended_at", "ended_at"),
    ("checked_in", "checked_in"),
    ("distance_m", "distance_m"),
    ("duration_s", "duration_s"),
    ("in_own_grids_s", "in_own_grids_s"),
    ("fixes_kept", "fixes_kept"),
)


@dataclass(frozen=True)
class Layer:
    name: str  # in URLs, files and the CLI: plural, lower case
    model: type[Base]
    singular: str  # "No {singular} with id …", "One {singular}"
    plural: str  # for headings
    zh: str  # the Chinese name (one form: Chinese has no plural)
    title: str  # the API docs' heading for its operations
    geometry: GeometryKind
    code_field: str  # the unique key imports match on and writes refuse to repeat
    filters: frozenset[str]  # the list filters that apply to it
    properties: Fields  # a feature's properties in the API's answers
    exported: Fields  # the columns of an exported file, the names the importer reads back
    kinds: Callable[[], list[str]] | None = None  # what ``kind=`` accepts, when it filters
    # The related rows a feature names, and the only columns of theirs it reads (not their geometry).
    related: tuple[tuple[str, tuple[str, ...]], ...] = ()
    writable: bool = False  # through the API: needs its request body in api/schemas.py CREATE_PROPS
    geometry_required: bool = True  # a new feature without one is refused
    in_service_area: bool = False  # its features must lie inside the governed area
    file_stem: str = field(default="")  # its file in data/demo, when not named after the layer
    # Served by the generic layer router (api/v1/layers.py); else by a router of its own.
    generic_api: bool = True
    in_demo: bool = True  # loaded from data/demo by `wangge demo`

    @property
    def demo_file(self) -> str:
        return f"{self.file_stem or self.name}.geojson"


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            name="communities",
            model=Community,
            singular="community",
            plural="Communities",
            zh="社区",
            title="Communities (社区)",
            geometry=GeometryKind.POLYGON,
            code_field="code",
            filters=frozenset({"bbox"}),
            properties=_COMMUNITY_FIELDS,
            exported=_COMMUNITY_FIELDS,
            related=(("street", ()),),
            file_stem="community",
        ),
        Layer(
            name="grids",
            writable=True,
            model=Grid,
            singular="grid",
            plural="Grids",
            zh="网格",
            title="Grids (网格)",
            geometry=GeometryKind.POLYGON,
            code_field="code",
            filters=frozenset({"bbox", "grid"}),
            properties=_GRID_FIELDS,
            exported=_GRID_FIELDS,
            related=(("community", ("code",)),),
        ),
        Layer(
            name="estates",
            writable=True,
            model=Estate,
            singular="estate",
            plural="Estates",
            zh="小区",
            title="Estates (小区)",
            geometry=GeometryKind.POLYGON,
            code_field="name",
            filters=frozenset({"bbox"}),
            properties=_ESTATE_FIELDS,
            exported=_ESTATE_FIELDS,
            in_service_area=True,
        ),
        Layer(
            name="buildings",
            writable=True,
            model=Building,
            singular="building",
            plural="Buildings",
            zh="楼栋",
            title="Buildings (楼栋)",
            geometry=GeometryKind.POINT_OR_FOOTPRINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "kind"}),
            properties=_BUILDING_FIELDS,
            exported=_BUILDING_FIELDS,
            kinds=lambda: [k.value for k in BuildingKind],
            related=(("estate", ("name",)), ("grid", ("code",))),
            in_service_area=True,
        ),
        Layer(
            name="components",
            writable=True,
            model=Component,
            singular="component",
            plural="Components",
            zh="部件",
            title="Components (部件): manhole covers, hydrants, street lights … with their 16-digit codes",
            geometry=GeometryKind.POINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "category", "state"}),
            properties=_COMPONENT_FIELDS,
            exported=_COMPONENT_FIELDS[:-2],  # the times are the database's own
            related=(("grid", ("code",)),),
            in_service_area=True,
        ),
        Layer(
            name="responders",
            writable=True,
            model=Responder,
            singular="responder",
            plural="Responders",
            zh="网格力量",
            title="Responders (网格员, 楼栋长, 微消防站)",
            geometry=GeometryKind.POINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "kind", "since", "until"}),
            properties=_RESPONDER_FIELDS,
            exported=_RESPONDER_FIELDS,
            kinds=lambda: [k.value for k in ResponderKind],
            related=(("grids", ("code",)), ("building", ("code",))),
            geometry_required=False,  # a responder may not have reported a position yet
        ),
        Layer(
            name="incidents",
            writable=True,
            model=Incident,
            singular="incident",
            plural="Incidents",
            zh="事件",
            title="Incidents: hazards, cases, illegal structures, renovation points",
            geometry=GeometryKind.POINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "kind", "status", "category", "since", "until"}),
            properties=_INCIDENT_FIELDS,
            exported=_INCIDENT_FIELDS,
            kinds=lambda: [k.value for k in IncidentKind],
            related=(
                ("grid", ("code",)),
                ("building", ("code",)),
                ("assignee", ("code", "name", "role")),
                ("component", ("code", "category", "name")),
            ),
            in_service_area=True,
        ),
        Layer(
            name="patrols",
            writable=True,  # started, fed and ended through api/v1/patrols.py, never edited
            model=Patrol,
            singular="patrol",
            plural="Patrols",
            zh="巡查",
            title="Patrols (巡查): tracks and coverage",
            geometry=GeometryKind.LINE,
            code_field="code",
            filters=frozenset({"grid"}),
            properties=_PATROL_FIELDS,
            exported=_PATROL_FIELDS,
            related=(("responder", ("code", "name")),),
            geometry_required=False,  # none until two fixes are kept, none after the track is purged
            generic_api=False,  # a track is personal data: its own router applies the track policy
            in_demo=False,
        ),
    )
}


def field_values(obj: object, fields: Fields) -> dict[str, Any]:
    """The values of ``fields`` on a stored row, followed by its free ``properties`` (which never
    replace a field; nested values as JSON text)."""
    return with_free_properties({name: _follow(obj, path) for name, path in fields}, getattr(obj, "properties", None))


def with_free_properties(values: dict[str, Any], free: dict[str, Any] | None) -> dict[str, Any]:
    """``values`` followed by a row's free ``properties`` (never replacing a field; nested values
    as JSON text)."""
    for key, value in (free or {}).items():
        values.setdefault(key, json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value)
    return values


def _follow(obj: Any, path: str) -> Any:
    value = obj
    for step in path.split("."):
        if isinstance(value, list):
            return ",".join(sorted(getattr(item, step) for item in value))
        value = getattr(value, step) if value is not None else None
    return value.isoformat() if isinstance(value, datetime) else value


def layer(name: str) -> Layer:
    """The layer called ``name``, or a message naming the layers there are."""
    try:
        return LAYERS[name]
    except KeyError:
        raise InputError(f"Unknown layer {name!r}: use one of {', '.join(LAYERS)}") from None


_BY_MODEL: dict[type, Layer] = {entry.model: entry for entry in LAYERS.values()}


def layer_of(obj: object) -> Layer:
    """The layer a stored row belongs to (asked once per feature of every answer)."""
    try:
        return _BY_MODEL[type(obj)]
    except KeyError:
        raise InputError(f"{type(obj).__name__} is not a layer") from None
