"""Writing single features: create, update, delete, each validated before anything is stored.

Callers hand in plain values (already parsed) and a shapely geometry in WGS84. Every check that
depends on the data (service area, references, uniqueness, categories) is made here, so the API
and any other caller get the same answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ScalarResult, func, select
from sqlalchemy.orm import Session

from geo import components
from geo.access.policy import SYSTEM, Actor, check_may_delete, check_may_write
from geo.catalogue import check_category, entry_for
from geo.db.revisions import cached
from geo.errors import Conflict, InputError
from geo.grids.index import grid_index, locate_point
from geo.incidents import workflow
from geo.incidents.history import record
from geo.incidents.workflow import recompute_deadline
from geo.io.read import clean_value
from geo.layers import GeometryKind
from geo.layers import layer as layer_entry
from geo.media.photos import remove_photos
from geo.models import (
    Building,
    Community,
    Component,
    Estate,
    Grid,
    Incident,
    Patrol,
    utcnow,
)
from geo.models.patrols import RUNNING
from geo.query.features import get_object
from geo.settings import get_settings
from geo.spatial.coords import check_lonlat
from geo.spatial.geometry import GEOD, as_multipolygon, from_db, to_db

# The geometry types each kind of layer takes.
GEOMETRY_TYPES = {
    GeometryKind.POINT: (Point,),
    GeometryKind.POINT_OR_FOOTPRINT: (Point, Polygon),
    GeometryKind.POLYGON: (Polygon, MultiPolygon),
}


def check_geometry(layer: str, geom: BaseGeometry | None, required: bool = True) -> None:
    """Type, coordinate range and validity, with the reason GEOS gives for invalid shapes."""
    entry = layer_entry(layer)
    if geom is None or geom.is_empty:
        if required:
            raise InputError(f"A {entry.singular} needs a geometry")
        return
    wanted = GEOMETRY_TYPES[entry.geometry]
    if not isinstance(geom, wanted):
        names = " or ".join(t.__name__ for t in wanted)
        raise InputError(f"A {entry.singular} takes a {names} geometry, got {geom.geom_type}")
    coords = shapely.get_coordinates(geom)
    for x, y in coords:
        check_lonlat(float(x), float(y), "geometry")
    if not geom.is_valid:
        raise InputError(f"Invalid {geom.geom_type}: {shapely.is_valid_reason(geom)}")
    if isinstance(geom, (Polygon, MultiPolygon)) and geom.area < 1e-12:
        raise InputError(f"The {geom.geom_type} has no area (its points lie on a line)")


def _build_service_area(session: Session):
    stored: ScalarResult[Any] = session.scalars(select(Community.geom).where(Community.geom.is_not(None)))
    communities = [from_db(g) for g in stored]
    parts = communities + list(grid_index(session, fresh=True).geoms)
    if not parts:
        return None
    area = shapely.union_all(np.array(parts, dtype=object))
    shapely.prepare(area)  # asked once per write
    return area


def service_area(session: Session):
    """The union of communities and grids; None while there are none (then anywhere goes).
    Writes are checked against it, so it sees every committed change."""
    return cached(session, "service_area", ("grids", "communities"), _build_service_area, fresh=True)


def check_in_service_area(session: Session, geom: BaseGeometry) -> None:
    area = service_area(session)
    if area is None or area.covers(geom):
        return
    probe = geom if isinstance(geom, Point) else geom.representative_point()
    where = locate_point(session, probe.x, probe.y)
    hint = (
        f"; the nearest grid, {where.nearest_code}, is {where.nearest_distance_m:.0f} m away"
        if where.nearest_code
        else ""
    )
    raise InputError(f"The location is outside the area wangge serves{hint}")


def _one(session: Session, model, column, value, what: str):
    obj = session.scalar(select(model).where(column == value))
    if obj is None:
        raise InputError(f"No {what} {value!r}")
    return obj


def _check_unique(session: Session, layer: str, values: dict[str, Any], exclude_id: int | None = None) -> None:
    entry = layer_entry(layer)
    model: Any = entry.model  # any layer's model
    key = entry.code_field
    if values.get(key) is None:
        return
    column = getattr(model, key)
    stmt = select(model.id).where(column == values[key])
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    if session.scalar(stmt) is not None:
        raise Conflict(f"A {entry.singular} with {key} {values[key]!r} already exists")


def _apply(session: Session, layer: str, obj, values: dict[str, Any], geom: BaseGeometry | None) -> None:
    """Set validated values on ``obj`` (new or existing)."""
    entry = layer_entry(layer)
    if geom is not None:
        if entry.in_service_area:
            check_in_service_area(session, geom)
        if entry.geometry is GeometryKind.POLYGON:
            obj.geom = to_db(as_multipolygon(geom))
        elif entry.geometry is GeometryKind.POINT_OR_FOOTPRINT and isinstance(geom, Polygon):
            obj.footprint = to_db(geom)
            obj.geom = to_db(geom.point_on_surface())
        else:
            obj.geom = to_db(geom)
    values = dict(values)
    if "community_code" in values:
        code = values.pop("community_code")
        obj.community = _one(session, Community, Community.code, code, "community") if code else None
    if "estate" in values:
        name = values.pop("estate")
        obj.estate = _one(session, Estate, Estate.name, name, "estate") if name else None
    if "building" in values:
        code = values.pop("building")
        obj.building = _one(session, Building, Building.code, code, "building") if code else None
    if "grids" in values:
        codes = values.pop("grids") or []
        found = {g.code: g for g in session.scalars(select(Grid).where(Grid.code.in_(codes)))}
        missing = [c for c in codes if c not in found]
        if missing:
            raise InputError(f"No grid {', '.join(map(repr, missing))}")
        obj.grids = [found[c] for c in codes]
    if layer == "components":
        values = components.checked_values(session, values, current=obj if obj.id is not None else None)
    if layer == "incidents":
        kind = values.get("kind", obj.kind)
        category = values.get("category", obj.category)
        # The 立案条件 a new report meets (Open311's attribute[condition]); the first by default.
        condition = values.pop("condition_no", None)
        unchanged = obj.catalogue_entry_id is not None and (kind, category) == (obj.kind, obj.category)
        if unchanged and condition is None:  # registered under a version: its entry and time limit are kept after
            check_category(session, kind, category)
        else:  # new, or re-categorised: the current catalogue's entry and its time limit
            registered = entry_for(session, kind, category, condition or 1)
            obj.catalogue_entry_id = registered.id
            obj.time_limit, obj.time_unit = registered.time_limit, registered.time_unit
    for name, value in values.items():
        setattr(obj, name, value)


def _component_named(session: Session, obj: Incident, values: dict[str, Any], geom: BaseGeometry | None):
    """An incident's ``component_id`` or ``component_code`` as ``component``, the component it
    names (None: given empty, which clears it; left out when neither is given), checked to be near
    where the incident is (``geom``, or where it stays)."""
    if "component_id" in values or "component_code" in values:
        values = _component_of(session, values)
    if "component" in values or geom is not None:
        _check_component_near(values.get("component", obj.component), geom if geom is not None else from_db(obj.geom))
    return values


def _component_of(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    ident, code = values.pop("component_id", None), values.pop("component_code", None)
    if ident is not None and code is not None:
        raise InputError("Name the component by component_id or by component_code, not both")
    if ident is not None:
        found = session.get(Component, ident)
        if found is None:
            raise InputError(f"No component with id {ident}")
        values["component"] = found
    elif code is not None:
        values["component"] = _one(session, Component, Component.code, code, "component with code")
    else:
        values["component"] = None
    return values


def _check_component_near(component: Component | None, point: BaseGeometry | None) -> None:
    """An incident names only a component near it (``component_max_distance_m``)."""
    if component is None or point is None:
        return
    at = from_db(component.geom)
    assert at is not None  # a component always has its point (geom is NOT NULL)
    _, _, metres = GEOD.inv(point.x, point.y, at.x, at.y)
    limit = get_settings().component_max_distance_m
    if metres > limit:
        raise InputError(
            f"Component {component.code} is {metres:.0f} m from the incident; an incident may name only "
            f"a component within {limit:g} m of where it is"
        )


def create_feature(
    session: Session,
    layer: str,
    values: dict[str, Any],
    geom: BaseGeometry | None,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
):
    check_may_write(actor, layer, kind=values.get("kind"))
    model: Any = layer_entry(layer).model  # any layer's model
    check_geometry(layer, geom, required=layer_entry(layer).geometry_required)
    _check_unique(session, layer, values)
    obj = model()
    if layer == "incidents":
        values = _component_named(session, obj, values, geom)
    _apply(session, layer, obj, values, geom)
    session.add(obj)
    if layer == "incidents":
        workflow.start(session, obj, actor, now or utcnow())
        obj.patrol_id = _running_patrol_of(session, actor)
    session.flush()
    return obj


def _running_patrol_of(session: Session, actor: Actor) -> int | None:
    """The patrol the reporting worker is on, if any: their report belongs to it."""
    if actor.responder_id is None:
        return None
    return session.scalar(select(Patrol.id).where(Patrol.responder_id == actor.responder_id, Patrol.status == RUNNING))


def update_feature(
    session: Session,
    layer: str,
    feature_id: int,
    values: dict[str, Any],
    geom: BaseGeometry | None,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
):
    obj = get_object(session, layer, feature_id)
    changed = set(values) | ({"geometry"} if geom is not None else set())
    own = layer == "responders" and actor.responder_id == obj.id
    check_may_write(actor, layer, incident=obj if layer == "incidents" else None, changed=changed if own else None)
    # A change may leave the geometry out, but not empty one a layer cannot do without.
    check_geometry(layer, geom, required=geom is not None and layer_entry(layer).geometry_required)
    if layer == "incidents" and values.get("kind", obj.kind) != obj.kind:
        raise InputError(
            f"An incident's kind cannot change (it decides the workflow it is in): report a new {values['kind']} and merge or reject this {obj.kind}"
        )
    _check_unique(session, layer, values, exclude_id=obj.id)
    if layer == "incidents":
        values = _component_named(session, obj, values, geom)
    before = {name: getattr(obj, name, None) for name in values}
    _apply(session, layer, obj, values, geom)
    if layer == "incidents":
        obj.updated_at = now or utcnow()
        changes = {k: [_plain(before[k]), _plain(v)] for k, v in values.items() if _plain(before[k]) != _plain(v)}
        if geom is not None:
            changes["geometry"] = shapely.geometry.mapping(geom)["coordinates"]
        recategorised = "category" in changes
        if recategorised:  # the open deadline follows the new category's time limit
            recompute_deadline(session, obj, obj.updated_at)
        session.flush()
        record(
            session,
            obj,
            actor,
            "update",
            obj.updated_at,
            step="recategorise" if recategorised else None,
            from_status=obj.status,
            changes=_jsonable(changes),
        )
    session.flush()
    return obj


def delete_feature(
    session: Session, layer: str, feature_id: int, actor: Actor = SYSTEM, now: datetime | None = None
) -> None:
    obj = get_object(session, layer, feature_id)
    check_may_delete(actor, layer)
    if isinstance(obj, Incident):
        # The incident and its history stay; it disappears from lists and lookups. Its photos
        # go, and their files once no other photo uses them (geo/media/photos.py).
        obj.deleted_at = now or utcnow()
        remove_photos(session, obj.id)
        record(session, obj, actor, "delete", obj.deleted_at, from_status=obj.status)
    else:
        if isinstance(obj, Component):
            _check_not_named(session, obj)
        session.delete(obj)
    session.flush()


def _check_not_named(session: Session, component: Component) -> None:
    named = session.scalar(select(func.count()).select_from(Incident).where(Incident.component_id == component.id))
    if named:
        raise Conflict(
            f"Component {component.code} is named by {named} incident(s): it stays, to keep their record; "
            "set its state to removed (废弃) instead"
        )


def _plain(value: Any) -> Any:
    if hasattr(value, "code"):
        return value.code
    if hasattr(value, "name") and not isinstance(value, str):
        return value.name
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (clean_value(v) if not isinstance(v, (list, dict)) else v) for k, v in values.items()}
