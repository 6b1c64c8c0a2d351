"""What each layer carries in vector tiles: a few properties to draw and label by, never
personal data (no phones, no reporters, no names of people), and from which zoom on.

A layer's features are drawn from its zoom ``minzoom`` on: below it a tile leaves the layer out
(a tile of a whole city at zoom 8 would hold a million buildings). TileJSON and the tileset's
limits tell clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Label, Table, case

from geo.errors import NotFound
from geo.layers import LAYERS, GeometryKind
from geo.models import Incident
from geo.query.mappoints import STATES, state_expr
from geo.query.queryables import queryables

# The maps' default tileset: what they draw from tiles.
DEFAULT_LAYERS = ("grids", "estates", "buildings")


@dataclass(frozen=True)
class TileLayer:
    name: str
    fields: tuple[str, ...]  # queryables of the layer, in order ("id" first)
    minzoom: int
    deps: tuple[str, ...]  # the revision counters (geo/db/revisions.py) its tiles follow
    renamed: tuple[tuple[str, str], ...] = ()  # (name in tiles, queryable) where they differ
    # Its tiles also change with the clock (an incident becomes overdue): ETags name the minute.
    timely: bool = False
    max_age_s: int = 60

    @property
    def points(self) -> bool:
        """Whether its geometries are points (buildings are drawn by their point)."""
        return LAYERS[self.name].geometry in (GeometryKind.POINT, GeometryKind.POINT_OR_FOOTPRINT)

    @property
    def table(self) -> Table:
        return LAYERS[self.name].model.__table__

    def columns(self, now: datetime) -> list[Label[Any]]:
        """The properties as labelled SQL expressions, ``id`` first."""
        found = queryables(self.name)
        names = dict(self.renamed)
        out = [found[names.get(f, f)].expression.label(f) for f in self.fields]
        out += [expr.label(name) for name, expr in _extra(self.name, now)]
        return out

    def where(self) -> list[ColumnElement[bool]]:
        """What every tile of the layer leaves out."""
        geom = self.table.c.geom
        if self.name == "incidents":
            return [Incident.__table__.c.deleted_at.is_(None)]  # deleted ones never (as the map points)
        if self.name == "responders":
            return [geom.is_not(None)]  # none until a position is reported
        return []

    def field_types(self) -> dict[str, str]:
        """TileJSON's ``fields``: each property's type as MVT carries it."""
        found = queryables(self.name)
        names = dict(self.renamed)
        kinds = {"integer": "Number", "number": "Number", "boolean": "Boolean", "string": "String"}
        out = {f: kinds[found[names.get(f, f)].type] for f in self.fields}
        out.update({name: "String" for name, _ in _EXTRA.get(self.name, ())})
        return out


def _incident_state(now: datetime) -> ColumnElement[Any]:
    index = state_expr(now)
    return case(*((index == i, state) for i, state in enumerate(STATES)))


# Computed properties, by layer: (name, builder from the clock).
_EXTRA: dict[str, tuple[tuple[str, Callable[[datetime], ColumnElement[Any]]], ...]] = {
    "incidents": (("state", _incident_state),),  # open, overdue or closed, as the maps colour
}


def _extra(name: str, now: datetime) -> list[tuple[str, ColumnElement[Any]]]:
    return [(field, build(now)) for field, build in _EXTRA.get(name, ())]


TILE_LAYERS: dict[str, TileLayer] = {
    entry.name: entry
    for entry in (
        TileLayer(
            "communities",
            ("id", "code", "name"),
            minzoom=0,
            deps=("communities",),
            renamed=(("code", "community_code"), ("name", "community_name")),
        ),
        TileLayer("grids", ("id", "code", "name", "community_code"), minzoom=10, deps=("grids", "communities")),
        TileLayer("estates", ("id", "name"), minzoom=12, deps=("estates",)),
        TileLayer("buildings", ("id", "code", "name", "kind", "grid"), minzoom=14, deps=("buildings", "grids")),
        TileLayer(
            "incidents",
            ("id", "code", "kind", "category", "status"),
            minzoom=10,
            deps=("incidents",),
            timely=True,
            max_age_s=15,
        ),
        # Not the name (a person's) nor the phone.
        TileLayer(
            "responders",
            ("id", "code", "role", "kind", "on_duty"),
            minzoom=10,
            deps=("roster", "responder_locations"),
            max_age_s=15,
        ),
        TileLayer("components", ("id", "code", "category", "state"), minzoom=14, deps=("components",)),
    )
}


def tile_layer(name: str) -> TileLayer:
    """The layer ``name`` as tiles show it; patrols (tracks are personal) have none."""
    try:
        return TILE_LAYERS[name]
    except KeyError:
        raise NotFound(f"No collection {name!r} has vector tiles: use one of {', '.join(TILE_LAYERS)}") from None


def tile_layers(names: str | None) -> tuple[TileLayer, ...]:
    """The layers of a comma-separated list (the maps' default when none), each once, in order."""
    if names is None or not names.strip():
        return tuple(TILE_LAYERS[n] for n in DEFAULT_LAYERS)
    picked: list[TileLayer] = []
    for name in (n.strip() for n in names.split(",")):
        if name and all(layer.name != name for layer in picked):
            picked.append(tile_layer(name))
    return tuple(picked)
