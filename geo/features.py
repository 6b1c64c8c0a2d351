"""Layers as GeoJSON-like dicts, for the API and the maps."""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.db import backend_for
from geo.errors import InputError
from geo.geometry import from_db
from geo.io import _row
from geo.models import LAYERS


def feature(obj) -> dict[str, Any]:
    geom = from_db(obj.geom)
    props = {"id": obj.id, **_row(obj)}
    return {
        "type": "Feature",
        "id": obj.id,
        "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
        "properties": props,
    }


def feature_collection(
    session: Session,
    layer: str,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    if layer not in LAYERS:
        raise InputError(f"Unknown layer {layer!r}: use one of {', '.join(LAYERS)}")
    model = LAYERS[layer]
    stmt = select(model)
    if bbox is not None:
        column = model.__table__.c.geom
        stmt = stmt.where(backend_for(session).bbox_filter(column, model.__tablename__, bbox))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(model.id).limit(limit).offset(offset)).all()
    return {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(rows),
        "features": [feature(r) for r in rows],
    }
