"""Layers as GeoJSON features: reading with filters and paging, for the API and the maps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session, load_only, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from geo.spatial.crs import WGS84, CoordinateSystem
from geo.db.engine import backend_for
from geo.errors import InputError, NotFound
from geo.spatial.geometry import from_db
from geo.io.export import export_row
from geo.models import CATEGORIES, LAYERS, Grid, Incident, Responder

# Which filters make sense for which layer; anything else is refused with a message.
FILTERS: dict[str, set[str]] = {
    "communities": {"bbox"},
    "grids": {"bbox", "grid"},
    "estates": {"bbox"},
    "buildings": {"bbox", "grid", "kind"},
    "responders": {"bbox", "grid", "kind", "since", "until"},
    "incidents": {"bbox", "grid", "kind", "status", "category", "since", "until"},
}


@dataclass
class Filters:
    bbox: tuple[float, float, float, float] | None = None
    grid: str | None = None
    kind: str | None = None
    status: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def given(self) -> set[str]:
        return {name for name, value in self.__dict__.items() if value is not None}


def _workflow_fields(incident: Incident, now: datetime | None) -> dict[str, Any]:
    from geo.models import utcnow
    from geo.incidents.workflow import is_overdue, workflow

    flow = workflow(incident.kind)
    assignee = incident.assignee
    return {
        "status_label": flow.labels.get(incident.status, incident.status),
        "open": flow.is_open(incident.status),
        "status_since": incident.status_since.isoformat() if incident.status_since else None,
        "due_at": incident.due_at.isoformat() if incident.due_at else None,
        "overdue": is_overdue(incident, now or utcnow()),
        "escalation": incident.escalation,
        "assignee": {"id": assignee.id, "code": assignee.code, "name": assignee.name, "role": assignee.role} if assignee else None,
        "possible_duplicates": list(incident.possible_duplicates or []),
        "duplicate_of": incident.duplicate_of_id,
        "rating": incident.rating,
        "people_served": incident.people_served,
        "actions": [a.name for a in flow.actions_from(incident.status)],
        "version": incident.version,
    }


def feature(obj, crs: CoordinateSystem = WGS84, now: datetime | None = None) -> dict[str, Any]:
    geom = from_db(obj.geom)
    if geom is not None and crs is not WGS84:
        geom = crs.geometries_from_wgs84(np.array([geom], dtype=object))[0]
    if isinstance(obj, Incident):
        _load_named(obj)
    props = {"id": obj.id, **export_row(obj)}
    if isinstance(obj, Incident):
        props.update(_workflow_fields(obj, now))
    return {
        "type": "Feature",
        "id": obj.id,
        "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
        "properties": props,
    }


def _load_named(incident: Incident) -> None:
    """An incident's grid, building and assignee as its answer names them (RELATED's columns):
    one small query for those not loaded yet, rather than one lazy load each of whole rows (the
    grid's with its polygon)."""
    state = inspect(incident)
    session = state.session
    if session is None or state.key is None:
        return
    wanted = [
        (name, columns) for name, columns in RELATED["incidents"]
        if name in state.unloaded and getattr(incident, f"{name}_id") is not None
    ]
    if not wanted:
        return
    row = session.execute(_named_statement(tuple(wanted)), {"incident_id": incident.id}).first()
    if row is None:  # gone meanwhile: the lazy loads will say so
        return
    for (name, _), value in zip(wanted, row):
        set_committed_value(incident, name, value)


@lru_cache
def _named_statement(wanted: tuple) -> Any:
    # Made once per combination: building it costs about as much as running it.
    relations = [getattr(Incident, name) for name, _ in wanted]
    targets = [r.property.mapper.class_ for r in relations]
    stmt = select(*targets).select_from(Incident).where(Incident.id == bindparam("incident_id"))
    for relation, target, (_, columns) in zip(relations, targets, wanted):
        stmt = stmt.outerjoin(relation).options(load_only(*(getattr(target, c) for c in columns)))
    return stmt


def get_object(session: Session, layer: str, feature_id: int):
    model = _model(layer)
    obj = session.get(model, feature_id)
    if obj is None or (isinstance(obj, Incident) and obj.deleted_at is not None):
        raise NotFound(f"No {layer[:-1]} with id {feature_id}")
    return obj


def _model(layer: str):
    if layer not in LAYERS:
        raise InputError(f"Unknown layer {layer!r}: use one of {', '.join(LAYERS)}")
    return LAYERS[layer]


def _check_filters(layer: str, filters: Filters) -> None:
    unsupported = sorted(filters.given() - FILTERS[layer])
    if unsupported:
        raise InputError(
            f"The {', '.join(unsupported)} filter does not apply to {layer}; "
            f"{layer} can be filtered by {', '.join(sorted(FILTERS[layer]))}"
        )
    if filters.kind is not None:
        allowed = _kinds(layer)
        if filters.kind not in allowed:
            raise InputError(f"Unknown kind {filters.kind!r} for {layer}: use one of {', '.join(allowed)}")
    if filters.category is not None:
        allowed = sorted({c for kind, cats in CATEGORIES.items() if filters.kind in (None, kind) for c in cats})
        if filters.category not in allowed:
            raise InputError(f"Unknown category {filters.category!r}: use one of {', '.join(allowed)}")
    if filters.status is not None:
        from geo.incidents.workflow import workflows

        allowed = sorted({s for kind, flow in workflows().items() if filters.kind in (None, kind) for s in flow.statuses})
        if filters.status not in allowed:
            for_kind = f" for {filters.kind}" if filters.kind else ""
            raise InputError(f"Unknown status {filters.status!r}{for_kind}: use one of {', '.join(allowed)}")
    if filters.since and filters.until and filters.since > filters.until:
        raise InputError("since must not be later than until")


def _box_shape(bbox: tuple[float, float, float, float]):
    """The box as a geometry; a box of no width or height is a line or a point."""
    x0, y0, x1, y1 = bbox
    if x0 == x1 and y0 == y1:
        return shapely.Point(x0, y0)
    if x0 == x1 or y0 == y1:
        return shapely.LineString([(x0, y0), (x1, y1)])
    return shapely.box(x0, y0, x1, y1)


def _kinds(layer: str) -> list[str]:
    from geo.models import BuildingKind, ResponderKind

    return {
        "buildings": [k.value for k in BuildingKind],
        "responders": [k.value for k in ResponderKind],
        "incidents": list(CATEGORIES),
    }[layer]


# The related rows a feature names, and the only columns of theirs it reads (not their geometry).
RELATED: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "communities": (("street", ()),),
    "grids": (("community", ("code",)),),
    "buildings": (("estate", ("name",)), ("grid", ("code",))),
    "responders": (("grids", ("code",)), ("building", ("code",))),
    "incidents": (("grid", ("code",)), ("building", ("code",)), ("assignee", ("code", "name", "role"))),
}


def _related_loads(layer: str) -> list:
    model = _model(layer)
    options = []
    for name, columns in RELATED.get(layer, ()):
        relation = getattr(model, name)
        load = selectinload(relation)
        if columns:
            target = relation.property.mapper.class_
            load = load.load_only(*(getattr(target, c) for c in columns))
        options.append(load)
    return options


def query_features(
    session: Session,
    layer: str,
    filters: Filters | None = None,
    limit: int = 100,
    offset: int = 0,
    crs: CoordinateSystem = WGS84,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One page of a layer as a FeatureCollection with ``numberMatched`` (the total)."""
    model = _model(layer)
    filters = filters or Filters()
    _check_filters(layer, filters)
    stmt = select(model)
    if filters.bbox is not None:
        column = model.__table__.c.geom
        stmt = stmt.where(backend_for(session).bbox_filter(column, model.__tablename__, filters.bbox))
        # The index compares bounding boxes: keep only the features whose geometry meets the box.
        stmt = stmt.where(func.ST_Intersects(column, func.ST_GeomFromText(_box_shape(filters.bbox).wkt, 4326)).is_(True))
    if filters.grid is not None:
        if session.scalar(select(Grid.id).where(Grid.code == filters.grid)) is None:
            raise InputError(f"No grid {filters.grid!r}")
        if model is Grid:
            stmt = stmt.where(Grid.code == filters.grid)
        elif model is Responder:
            stmt = stmt.where(Responder.grids.any(Grid.code == filters.grid))
        else:
            stmt = stmt.where(model.grid.has(Grid.code == filters.grid))
    if filters.kind is not None:
        stmt = stmt.where(model.kind == filters.kind)
    if filters.status is not None:
        stmt = stmt.where(model.status == filters.status)
    if filters.category is not None:
        stmt = stmt.where(model.category == filters.category)
    stamp = Incident.created_at if model is Incident else Responder.located_at if model is Responder else None
    if filters.since is not None:
        stmt = stmt.where(stamp >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(stamp < filters.until)
    if model is Incident:
        stmt = stmt.where(Incident.deleted_at.is_(None))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page = stmt.order_by(model.id).limit(limit).offset(offset)
    # The related rows a feature names (grid, building, assignee ...): one query each per page,
    # not one per feature.
    rows = session.scalars(page.options(*_related_loads(layer))).all()
    return {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(rows),
        "features": [feature(r, crs, now) for r in rows],
    }

