"""Export of layers: every row of a layer written to a file the importer reads back."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.layers import field_values
from geo.layers import layer as layer_entry
from geo.spatial.crs import parse_crs
from geo.spatial.geometry import from_db

WRITE_DRIVERS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
    ".xlsx": "XLSX",  # a spreadsheet laid out as the CSV is
}


def export_layer(session: Session, layer: str, path: str | Path, crs: str | None = None) -> int:
    """Write every row of ``layer`` to ``path``; the format follows the file's suffix."""
    entry = layer_entry(layer)
    path = Path(path)
    driver = WRITE_DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError(f"{path.name}: unknown format; use one of {', '.join(sorted(WRITE_DRIVERS))}")
    target = parse_crs(crs)
    model: Any = entry.model  # any layer's model
    rows: Sequence[Any] = session.scalars(select(model).order_by(model.id)).all()
    records = [field_values(obj, entry.exported) for obj in rows]
    if layer == "buildings":
        # A building's footprint is the richer geometry; the importer derives the point from it.
        shapes = [from_db(o.footprint) if o.footprint is not None else from_db(o.geom) for o in rows]
    else:
        shapes = [from_db(o.geom) for o in rows]
    geoms = np.array(shapes, dtype=object)
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
    if driver in ("CSV", "XLSX"):
        out = pd.DataFrame(gdf.drop(columns="geometry"))
        if len(gdf) and (gdf.geom_type == "Point").all():
            out["lon"], out["lat"] = gdf.geometry.x, gdf.geometry.y
        else:
            out["wkt"] = gdf.geometry.to_wkt()
        if driver == "CSV":
            out.to_csv(path, index=False)
        else:
            out.to_excel(path, index=False, engine="openpyxl")
    else:
        with warnings.catch_warnings():
            # Shapefile field names are cut to 10 characters; the importer reads them back.
            warnings.simplefilter("ignore")
            gdf.to_file(path, driver=driver, engine="pyogrio")
    return len(rows)
