"""Export of layers: every row of a layer written to a file the importer reads back."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.models import LAYERS, Building, Community, Estate, Grid, Responder
from geo.spatial.crs import parse_crs
from geo.spatial.geometry import from_db

WRITE_DRIVERS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
}


def export_row(obj) -> dict[str, Any]:
    """The exported fields of one row: the same names the importer reads back."""
    props = dict(getattr(obj, "properties", None) or {})
    if isinstance(obj, Community):
        base = dict(
            district_code=obj.street.district_code,
            district_name=obj.street.district_name,
            city_name=obj.street.city_name,
            street_code=obj.street.code,
            street_name=obj.street.name,
            community_code=obj.code,
            community_name=obj.name,
        )
    elif isinstance(obj, Grid):
        base = dict(
            code=obj.code,
            name=obj.name,
            community_code=obj.community.code if obj.community else None,
            party_branch=obj.party_branch,
        )
    elif isinstance(obj, Estate):
        base = dict(name=obj.name, property_company=obj.property_company)
    elif isinstance(obj, Building):
        base = dict(
            code=obj.code,
            name=obj.name,
            kind=obj.kind,
            address=obj.address,
            households=obj.households,
            residents=obj.residents,
            estate=obj.estate.name if obj.estate else None,
            grid=obj.grid.code if obj.grid else None,
        )
    elif isinstance(obj, Responder):
        base = dict(
            code=obj.code,
            name=obj.name,
            kind=obj.kind,
            role=obj.role,
            phone=obj.phone,
            organisation=obj.organisation,
            grids=",".join(sorted(g.code for g in obj.grids)),
            building=obj.building.code if obj.building else None,
            on_duty=obj.on_duty,
            located_at=obj.located_at.isoformat() if obj.located_at else None,
        )
    else:
        base = dict(
            code=obj.code,
            kind=obj.kind,
            category=obj.category,
            status=obj.status,
            title=obj.title,
            description=obj.description,
            reporter_name=obj.reporter_name,
            reporter_phone=obj.reporter_phone,
            grid=obj.grid.code if obj.grid else None,
            building=obj.building.code if obj.building else None,
            created_at=obj.created_at.isoformat() if obj.created_at else None,
            closed_at=obj.closed_at.isoformat() if obj.closed_at else None,
        )
    for k, v in props.items():
        base.setdefault(k, v if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False))
    return base


def export_layer(session: Session, layer: str, path: str | Path, crs: str | None = None) -> int:
    """Write every row of ``layer`` to ``path``; the format follows the file's suffix."""
    if layer not in LAYERS:
        raise InputError(f"Unknown layer {layer!r}: use one of {', '.join(LAYERS)}")
    path = Path(path)
    driver = WRITE_DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError(f"{path.name}: unknown format; use one of {', '.join(sorted(WRITE_DRIVERS))}")
    target = parse_crs(crs)
    model = LAYERS[layer]
    rows = session.scalars(select(model).order_by(model.id)).all()
    records = [export_row(obj) for obj in rows]
    if layer == "buildings":
        # A building's footprint is the richer geometry; the importer derives the point from it.
        geoms = [from_db(o.footprint) if o.footprint is not None else from_db(o.geom) for o in rows]
    else:
        geoms = [from_db(o.geom) for o in rows]
    geoms = np.array(geoms, dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    if present.any():
        geoms[present] = target.geometries_from_wgs84(geoms[present])
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({"code": []})
    gdf = gpd.GeoDataFrame(
        frame, geometry=list(geoms), crs="EPSG:4326" if target.name in ("wgs84", "gcj02", "bd09") else target.name
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    if driver == "CSV":
        out = pd.DataFrame(gdf.drop(columns="geometry"))
        if len(gdf) and (gdf.geom_type == "Point").all():
            out["lon"], out["lat"] = gdf.geometry.x, gdf.geometry.y
        else:
            out["wkt"] = gdf.geometry.to_wkt()
        out.to_csv(path, index=False)
    else:
        with warnings.catch_warnings():
            # Shapefile field names are cut to 10 characters; the importer reads them back.
            warnings.simplefilter("ignore")
            gdf.to_file(path, driver=driver, engine="pyogrio")
    return len(rows)
