"""The GeoJSON files: one FeatureCollection per layer, one feature per line, coordinates to 1e-7°."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, mapping

from geo.spatial.geometry import as_multipolygon

from .buildings import Building, Estate
from .community import Grid
from .components import Component
from .demo import Demo
from .facts import CITY_NAME, COMMUNITY_NAME, DECIMALS, DISTRICT_CODE, DISTRICT_NAME, STREET_NAME
from .incidents import Incident
from .people import Responder


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def rounded(coords):
    if isinstance(coords[0], (int, float)):
        return [round(float(v), DECIMALS) for v in coords]
    return [rounded(c) for c in coords]


def geometry_json(geom) -> dict | None:
    if geom is None:
        return None
    # Polygons are written with the exterior counter-clockwise, as RFC 7946 asks.
    g = mapping(shapely.orient_polygons(geom) if geom.geom_type.endswith("Polygon") else geom)
    return {"type": g["type"], "coordinates": rounded(g["coordinates"])}


def feature(properties: dict, geom) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry_json(geom)}


def write_collection(out_dir: Path, name: str, features: list[dict]) -> Path:
    """One feature per line: valid GeoJSON that still diffs well."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    body = ",\n".join(lines)
    path = out_dir / f"{name}.geojson"
    path.write_text(f'{{"type":"FeatureCollection","features":[\n{body}\n]}}\n', encoding="utf-8")
    return path


def community_feature(demo: Demo) -> dict:
    admin = {
        "district_code": DISTRICT_CODE,
        "district_name": DISTRICT_NAME,
        "city_name": CITY_NAME,
        "street_code": demo.code[:9],
        "street_name": STREET_NAME,
        "community_code": demo.code,
        "community_name": COMMUNITY_NAME,
    }
    return feature(admin, as_multipolygon(demo.community))


def grid_feature(g: Grid, community_code: str) -> dict:
    properties = {"code": g.code, "name": g.name, "community_code": community_code, "party_branch": g.party_branch}
    return feature(properties, MultiPolygon([g.geom]))


def estate_feature(e: Estate, community_code: str) -> dict:
    properties = {
        "name": e.name,
        "property_company": e.property_company,
        "community_code": community_code,
        "amenities": e.amenities,
    }
    return feature(properties, MultiPolygon([e.geom]))


def building_feature(b: Building) -> dict:
    properties = {
        "code": b.code,
        "name": b.name,
        "kind": b.kind,
        "address": b.address,
        "households": b.households,
        "residents": b.residents,
        "estate": b.estate.name if b.estate else None,
    }
    return feature(properties, b.footprint)


def responder_feature(r: Responder) -> dict:
    properties = {
        "code": r.code,
        "name": r.name,
        "kind": r.kind,
        "role": r.role,
        "phone": r.phone,
        "organisation": r.organisation,
        "grids": ",".join(g.code for g in r.grids),
        "building": r.building.code if r.building else None,
        "on_duty": r.on_duty,
        "located_at": iso(r.located_at),
    }
    return feature(properties, r.point)


def incident_feature(i: Incident) -> dict:
    properties = {
        "code": i.code,
        "kind": i.kind,
        "category": i.category,
        "status": i.status,
        "title": i.title,
        "description": i.description,
        "reporter_name": i.reporter_name,
        "reporter_phone": i.reporter_phone,
        "created_at": iso(i.created_at),
        "closed_at": iso(i.closed_at),
    }
    return feature(properties, i.point)


def component_feature(c: Component) -> dict:
    # The category, name of the sub-category and department follow the code (the catalogue).
    properties = {"code": c.code, "name": c.name, "state": c.state, "accuracy": c.accuracy}
    return feature(properties, c.point)


def write_all(out_dir: Path, demo: Demo) -> list[Path]:
    """Every layer as <layer>.geojson in out_dir; returns the paths in the order written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = {
        "community": [community_feature(demo)],
        "grids": [grid_feature(g, demo.code) for g in demo.grids],
        "estates": [estate_feature(e, demo.code) for e in demo.estates],
        "buildings": [building_feature(b) for b in demo.buildings],
        "responders": [responder_feature(r) for r in demo.responders],
        "incidents": [incident_feature(i) for i in demo.incidents],
        "components": [component_feature(c) for c in demo.components],
    }
    return [write_collection(out_dir, name, feats) for name, feats in layers.items()]
