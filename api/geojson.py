"""Stored rows as GeoJSON features: the shape of the API's answers about layers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import shapely

from geo.incidents.definitions import is_overdue, workflow
from geo.layers import field_values, layer_of
from geo.models import Incident, utcnow
from geo.query.features import FeaturePage, FeatureRows, load_named
from geo.spatial.crs import WGS84, CoordinateSystem
from geo.spatial.geometry import from_db


def _workflow_fields(incident: Incident, now: datetime | None) -> dict[str, Any]:
    flow = workflow(incident.kind)
    assignee = incident.assignee
    checker = incident.checker
    return {
        "status_label": flow.labels.get(incident.status, incident.status),
        "open": flow.is_open(incident.status),
        "status_since": incident.status_since.isoformat() if incident.status_since else None,
        "due_at": incident.due_at.isoformat() if incident.due_at else None,
        "overdue": is_overdue(incident, now or utcnow()),
        "escalation": incident.escalation,
        "assignee": {"id": assignee.id, "code": assignee.code, "name": assignee.name, "role": assignee.role}
        if assignee
        else None,
        "component": _component(incident),
        "possible_duplicates": list(incident.possible_duplicates or []),
        "duplicate_of": incident.duplicate_of_id,
        "rating": incident.rating,
        "people_served": incident.people_served,
        "actions": [a.name for a in flow.actions_from(incident.status)],
        "version": incident.version,
        "handling_due_at": incident.handling_due_at.isoformat() if incident.handling_due_at else None,
        "suspended": incident.suspended_at is not None,
        "suspended_at": incident.suspended_at.isoformat() if incident.suspended_at else None,
        "rework_count": incident.rework_count or 0,
        "supervision_count": incident.supervision_count or 0,
        "pending_check": flow.check_from(incident.status),  # verify (核实) or inspect (核查)
        "checker": {"id": checker.id, "code": checker.code, "name": checker.name, "role": checker.role}
        if checker
        else None,
    }


def _component(incident: Incident) -> dict[str, Any] | None:
    """The component (部件) the incident concerns, as its answer names it."""
    c = incident.component if incident.component_id is not None else None
    if c is None:
        return None
    return {"id": c.id, "code": c.code, "category": c.category, "name": c.name}


def feature(obj, crs: CoordinateSystem = WGS84, now: datetime | None = None) -> dict[str, Any]:
    geom = from_db(obj.geom)
    if geom is not None and crs is not WGS84:
        geom = crs.geometries_from_wgs84(np.array([geom], dtype=object))[0]
    if isinstance(obj, Incident):
        load_named(obj)
    props = {"id": obj.id, **field_values(obj, layer_of(obj).properties)}
    if isinstance(obj, Incident):
        props.update(_workflow_fields(obj, now))
    return {
        "type": "Feature",
        "id": obj.id,
        "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
        "properties": props,
    }


def feature_collection(page: FeaturePage, crs: CoordinateSystem = WGS84, now: datetime | None = None) -> dict[str, Any]:
    """One page as a FeatureCollection with ``numberMatched`` (the total)."""
    return {
        "type": "FeatureCollection",
        "numberMatched": page.total,
        "numberReturned": len(page.rows),
        "features": [feature(r, crs, now) for r in page.rows],
    }


def row_collection(page: FeatureRows, crs: CoordinateSystem = WGS84) -> dict[str, Any]:
    """A page read by ``feature_rows`` as ``feature_collection`` answers it."""
    geoms = page.geometries if crs is WGS84 else crs.geometries_from_wgs84(page.geometries)
    return {
        "type": "FeatureCollection",
        "numberMatched": page.total,
        "numberReturned": len(page.ids),
        "features": [
            {
                "type": "Feature",
                "id": i,
                "geometry": shapely.geometry.mapping(g) if g is not None else None,
                "properties": {"id": i, **props},
            }
            for i, props, g in zip(page.ids, page.properties, geoms)
        ],
    }
