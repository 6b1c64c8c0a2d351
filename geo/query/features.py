"""Layers as GeoJSON features: reading with filters and paging, for the API and the maps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import shapely
from sqlalchemy import LargeBinary, and_, bindparam, func, inspect, select
from sqlalchemy.orm import Session, load_only, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from geo.db.engine import backend_for
from geo.errors import InputError, NotFound
from geo.layers import LAYERS, Layer, with_free_properties
from geo.layers import layer as layer_entry
from geo.models import Grid, Incident, Responder
from geo.query.filters import Filters, check_filters
from geo.query.queryables import queryables


def load_named(incident: Incident) -> None:
    """An incident's grid, building and assignee as its answer names them (RELATED's columns):
    one small query for those not loaded yet, rather than one lazy load each of whole rows (the
    grid's with its polygon)."""
    state = inspect(incident)
    session = state.session
    if session is None or state.key is None:
        return
    wanted = [
        (name, columns)
        for name, columns in LAYERS["incidents"].related
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


def get_object(session: Session, layer: str, feature_id: int, for_update: bool = False):
    """The stored feature (``for_update``: its row locked until the transaction ends, where the
    database locks rows; SQLite's one writer is serialised already)."""
    entry = layer_entry(layer)
    obj = session.get(entry.model, feature_id, with_for_update=for_update or None)
    if obj is None or (isinstance(obj, Incident) and obj.deleted_at is not None):
        raise NotFound(f"No {entry.singular} with id {feature_id}")
    return obj


def _box_shape(bbox: tuple[float, float, float, float]):
    """The box as a geometry; a box of no width or height is a line or a point."""
    x0, y0, x1, y1 = bbox
    if x0 == x1 and y0 == y1:
        return shapely.Point(x0, y0)
    if x0 == x1 or y0 == y1:
        return shapely.LineString([(x0, y0), (x1, y1)])
    return shapely.box(x0, y0, x1, y1)


def _related_loads(entry: Layer) -> list:
    options = []
    for name, columns in entry.related:
        relation = getattr(entry.model, name)
        load = selectinload(relation)
        if columns:
            target = relation.property.mapper.class_
            load = load.load_only(*(getattr(target, c) for c in columns))
        options.append(load)
    return options


def bbox_condition(session: Session, layer: str, bbox: tuple[float, float, float, float]) -> Any:
    """The layer's features whose geometry meets the WGS84 box, found through the spatial index."""
    model: Any = layer_entry(layer).model
    column = model.__table__.c.geom
    # The index compares bounding boxes: keep only the features whose geometry meets the box.
    return and_(
        backend_for(session).bbox_filter(column, model.__tablename__, bbox),
        func.ST_Intersects(column, func.ST_GeomFromText(_box_shape(bbox).wkt, 4326)).is_(True),
    )


def filter_conditions(session: Session, layer: str, filters: Filters | None) -> list[Any]:
    """The SQL conditions of the list filters (``bbox``, ``grid``, ``kind`` ...) on a layer."""
    entry = layer_entry(layer)
    model: Any = entry.model  # any layer's model: the filters below name the columns it has
    filters = filters or Filters()
    check_filters(entry, filters, session=session)
    out: list[Any] = []
    if filters.bbox is not None:
        out.append(bbox_condition(session, layer, filters.bbox))
    if filters.grid is not None:
        if session.scalar(select(Grid.id).where(Grid.code == filters.grid)) is None:
            raise InputError(f"No grid {filters.grid!r}")
        if model is Grid:
            out.append(Grid.code == filters.grid)
        elif model is Responder:
            out.append(Responder.grids.any(Grid.code == filters.grid))
        else:
            out.append(model.grid.has(Grid.code == filters.grid))
    if filters.kind is not None:
        out.append(model.kind == filters.kind)
    if filters.status is not None:
        out.append(model.status == filters.status)
    if filters.category is not None:
        out.append(model.category == filters.category)
    if filters.state is not None:
        out.append(model.state == filters.state)
    stamp = Incident.created_at if model is Incident else Responder.located_at if model is Responder else None
    if filters.since is not None:
        assert stamp is not None  # check_filters allows since and until only on incidents and responders
        out.append(stamp >= filters.since)
    if filters.until is not None:
        assert stamp is not None
        out.append(stamp < filters.until)
    if model is Incident:
        out.append(Incident.deleted_at.is_(None))
    return out


class FeaturePage(NamedTuple):
    rows: list[Any]
    total: int


def query_features(
    session: Session,
    layer: str,
    filters: Filters | None = None,
    limit: int = 100,
    offset: int = 0,
    where: Sequence[Any] = (),
) -> FeaturePage:
    """One page of a layer's rows, and how many match the filters in all. ``where``: more
    conditions, already SQL (the OGC API's property filters and CQL2, geo/query/queryables.py)."""
    entry = layer_entry(layer)
    model: Any = entry.model
    stmt = select(model).where(*filter_conditions(session, layer, filters), *where)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    page = stmt.order_by(model.id).limit(limit).offset(offset)
    # The related rows a feature names (grid, building, assignee ...): one query each per page,
    # not one per feature.
    rows: Sequence[Any] = session.scalars(page.options(*_related_loads(entry))).all()
    return FeaturePage(list(rows), total)


# The layers whose features are their columns and related codes alone (no personal data, no
# workflow fields): a page of them is read with one Core statement, without loading rows as objects.
ROW_LAYERS = frozenset({"communities", "grids", "estates", "buildings", "components"})


class FeatureRows(NamedTuple):
    """A page read by ``feature_rows``: ids, properties as ``field_values`` gives them, and the
    WGS84 geometries (a shapely array, None where a feature has none)."""

    ids: list[int]
    properties: list[dict[str, Any]]
    geometries: np.ndarray
    total: int


@lru_cache
def _row_columns(layer: str) -> tuple[list[Any], list[str], bool]:
    """The layer's property columns (related codes as correlated subqueries, as filters read
    them), the names of those that are times, and whether it keeps free ``properties``."""
    entry = layer_entry(layer)
    table: Any = entry.model.__table__
    found = queryables(layer)
    columns = [found[name].expression.label(name) for name, _ in entry.properties]
    times = [name for name, _ in entry.properties if found[name].is_time]
    return columns, times, "properties" in table.c


def feature_rows(
    session: Session,
    layer: str,
    filters: Filters | None = None,
    limit: int = 100,
    offset: int = 0,
    where: Sequence[Any] = (),
) -> FeatureRows:
    """What ``query_features`` reads and ``field_values`` answers, of a layer of ``ROW_LAYERS``
    (ordered by id), in one statement without the ORM: the page and the count of matches."""
    table: Any = layer_entry(layer).model.__table__
    columns, times, free = _row_columns(layer)
    stmt = select(
        table.c.id,
        *columns,
        *([table.c.properties] if free else []),
        func.ST_AsBinary(table.c.geom, type_=LargeBinary).label("wkb"),
        func.count().over().label("total"),
    ).where(*filter_conditions(session, layer, filters), *where)
    rows = session.execute(stmt.order_by(table.c.id).limit(limit).offset(offset)).all()
    if rows:
        total = rows[0].total
    elif offset > 0:  # past the last match: the window counted nothing
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    else:
        total = 0
    names = [c.name for c in columns]
    props = []
    for row in rows:
        values = dict(zip(names, row[1 : 1 + len(names)]))
        for name in times:
            if values[name] is not None:
                values[name] = values[name].isoformat()
        props.append(with_free_properties(values, row.properties) if free else values)
    geoms = shapely.from_wkb(np.array([bytes(r.wkb) if r.wkb is not None else None for r in rows], dtype=object))
    return FeatureRows([r.id for r in rows], props, geoms, total)
