"""The one registry of layers: what each layer is called, what it stores and how it is read.

The API's routers and their OpenAPI text, the importers' choices, export, the CLI, the demo and
the maps all read this table. Adding a layer is one entry here and its model in geo/models
(plus its importer in geo/io/importers.py if it can be loaded from files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from geo.errors import InputError
from geo.models import (
    CATEGORIES,
    Base,
    Building,
    BuildingKind,
    Community,
    Estate,
    Grid,
    Incident,
    Responder,
    ResponderKind,
)


class GeometryKind(Enum):
    POINT = "Point"
    POLYGON = "Polygon or MultiPolygon"
    POINT_OR_FOOTPRINT = "Point, or a footprint Polygon"  # the point is derived from the footprint


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
    kinds: Callable[[], list[str]] | None = None  # what ``kind=`` accepts, when it filters
    # The related rows a feature names, and the only columns of theirs it reads (not their geometry).
    related: tuple[tuple[str, tuple[str, ...]], ...] = ()
    writable: bool = True  # through the API (communities come from files only)
    geometry_required: bool = True  # a new feature without one is refused
    in_service_area: bool = False  # its features must lie inside the governed area
    file_stem: str = field(default="")  # its file in data/demo, when not named after the layer

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
            related=(("street", ()),),
            writable=False,
            file_stem="community",
        ),
        Layer(
            name="grids",
            model=Grid,
            singular="grid",
            plural="Grids",
            zh="网格",
            title="Grids (网格)",
            geometry=GeometryKind.POLYGON,
            code_field="code",
            filters=frozenset({"bbox", "grid"}),
            related=(("community", ("code",)),),
        ),
        Layer(
            name="estates",
            model=Estate,
            singular="estate",
            plural="Estates",
            zh="小区",
            title="Estates (小区)",
            geometry=GeometryKind.POLYGON,
            code_field="name",
            filters=frozenset({"bbox"}),
            in_service_area=True,
        ),
        Layer(
            name="buildings",
            model=Building,
            singular="building",
            plural="Buildings",
            zh="楼栋",
            title="Buildings (楼栋)",
            geometry=GeometryKind.POINT_OR_FOOTPRINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "kind"}),
            kinds=lambda: [k.value for k in BuildingKind],
            related=(("estate", ("name",)), ("grid", ("code",))),
            in_service_area=True,
        ),
        Layer(
            name="responders",
            model=Responder,
            singular="responder",
            plural="Responders",
            zh="网格力量",
            title="Responders (网格员, 楼栋长, 微消防站)",
            geometry=GeometryKind.POINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "kind", "since", "until"}),
            kinds=lambda: [k.value for k in ResponderKind],
            related=(("grids", ("code",)), ("building", ("code",))),
            geometry_required=False,  # a responder may not have reported a position yet
        ),
        Layer(
            name="incidents",
            model=Incident,
            singular="incident",
            plural="Incidents",
            zh="事件",
            title="Incidents: hazards, cases, illegal structures, renovation points",
            geometry=GeometryKind.POINT,
            code_field="code",
            filters=frozenset({"bbox", "grid", "kind", "status", "category", "since", "until"}),
            kinds=lambda: list(CATEGORIES),
            related=(("grid", ("code",)), ("building", ("code",)), ("assignee", ("code", "name", "role"))),
            in_service_area=True,
        ),
    )
}


def layer(name: str) -> Layer:
    """The layer called ``name``, or a message naming the layers there are."""
    try:
        return LAYERS[name]
    except KeyError:
        raise InputError(f"Unknown layer {name!r}: use one of {', '.join(LAYERS)}") from None


def layer_of(obj: object) -> Layer:
    """The layer a stored row belongs to."""
    for entry in LAYERS.values():
        if isinstance(obj, entry.model):
            return entry
    raise InputError(f"{type(obj).__name__} is not a layer")
