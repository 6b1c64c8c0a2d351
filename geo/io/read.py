"""Reading files into memory: anything geopandas/pyogrio reads, and CSV with coordinate or WKT
columns. Geometries come out in WGS84 and values JSON-safe; nothing here touches the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point

from geo.errors import InputError, RowProblems
from geo.spatial.crs import WGS84, CoordinateSystem, from_pyproj, parse_crs

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx"}  # a spreadsheet: read as a CSV is, its first sheet
_EPS = 1e-9  # published data often overshoots ±180 by a rounding error
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")


class ImportFailed(RowProblems):
    """The file cannot be imported; nothing was written."""

    def __init__(self, source: str, problems: list[str]):
        super().__init__(f"{source}: nothing imported.", problems)


@dataclass
class ImportOptions:
    crs: str | None = None  # overrides the file's own CRS (Amap exports often claim WGS84 but are GCJ-02)
    fields: dict[str, str] = field(default_factory=dict)  # wangge field -> column in the file
    lon_field: str | None = None
    lat_field: str | None = None
    role: str | None = None  # responders: role for every row without a role column
    community: str | None = None  # grids: community code to attach (and number) the grids in
    replace: bool = False  # update rows whose key already exists instead of refusing
    progress: bool = False


@dataclass
class Frame:
    """A file read into memory: one row per feature, geometries already in WGS84."""

    source: str
    table: pd.DataFrame
    geoms: np.ndarray  # shapely geometries (None where the row has none)
    crs: CoordinateSystem
    warnings: list[str] = field(default_factory=list)

    def label(self, i: int, key: str | None = None) -> str:
        # Row numbers count features from 1, as a person reading the file would.
        value = None
        if key and key in self.table.columns:
            value = clean_value(self.table.iloc[i][key])
        return f"row {i + 1}" + (f" ({key} {value!r})" if value not in (None, "") else "")


def read_frame(path: str | Path, options: ImportOptions) -> Frame:
    path = Path(path)
    source = path.name
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in CSV_SUFFIXES:
        frame = _read_csv(path, options)
    elif path.suffix.lower() in XLSX_SUFFIXES:
        frame = _read_xlsx(path, options)
    else:
        try:
            gdf = gpd.read_file(path, engine="pyogrio")
        except Exception as exc:  # pyogrio raises several types for unreadable files
            raise InputError(f"{source}: cannot be read as a spatial file ({exc})") from None
        declared = from_pyproj(gdf.crs) if gdf.crs is not None else None
        crs = parse_crs(options.crs) if options.crs else (declared or WGS84)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        geoms[shapely.is_empty(geoms)] = None
        table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        frame = Frame(source, table, geoms, crs)
        if declared is None and not options.crs:
            frame.warnings.append("the file declares no coordinate system: read as WGS84 (name it with --crs if not)")
    if len(frame.table) == 0:
        raise ImportFailed(source, ["the file has no features: nothing to import"])
    _to_wgs84(frame)
    return frame


def _read_csv(path: Path, options: ImportOptions) -> Frame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python")
    except Exception as exc:
        raise InputError(f"{path.name}: cannot be read as CSV ({exc})") from None
    return _read_table(path.name, table, options)


def _read_xlsx(path: Path, options: ImportOptions) -> Frame:
    try:
        table = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as exc:  # openpyxl raises several types for files it cannot read
        raise InputError(f"{path.name}: cannot be read as an XLSX workbook ({exc})") from None
    return _read_table(path.name, table.fillna(""), options)


def _read_table(source: str, table: pd.DataFrame, options: ImportOptions) -> Frame:
    """A table of text with coordinate or WKT columns (CSV, a spreadsheet)."""
    crs = parse_crs(options.crs) if options.crs else WGS84
    wkt_col = next((c for c in table.columns if str(c).lower() in ("wkt", "geometry")), None)
    if wkt_col is not None and not (options.lon_field or options.lat_field):
        return _read_wkt_csv(source, table, wkt_col, crs)
    lon_col = _find_column(table, options.lon_field, LON_NAMES, source, "longitude", "--lon-field")
    lat_col = _find_column(table, options.lat_field, LAT_NAMES, source, "latitude", "--lat-field")
    problems = []
    geoms = np.empty(len(table), dtype=object)
    for i, (lon_text, lat_text) in enumerate(zip(table[lon_col], table[lat_col], strict=True)):
        lon, lat = to_number(lon_text), to_number(lat_text)
        if lon is None or lat is None:
            bad = [(c, t) for c, t, v in ((lon_col, lon_text, lon), (lat_col, lat_text, lat)) if v is None]
            what = ", ".join(f"{c} = {t!r} is not a number" for c, t in bad)
            problems.append(f"row {i + 1}: {what}")
            continue
        geoms[i] = Point(lon, lat)
    if problems:
        raise ImportFailed(source, problems)
    return Frame(source, table.drop(columns=[lon_col, lat_col]), geoms, crs)


def _read_wkt_csv(source: str, table: pd.DataFrame, wkt_col: str, crs: CoordinateSystem) -> Frame:
    problems = []
    geoms = np.empty(len(table), dtype=object)
    for i, text in enumerate(table[wkt_col]):
        if not str(text).strip():
            continue
        try:
            geoms[i] = shapely.from_wkt(text)
        except shapely.errors.GEOSException:
            problems.append(f"row {i + 1}: {wkt_col} is not valid WKT ({str(text)[:40]!r})")
    if problems:
        raise ImportFailed(source, problems)
    return Frame(source, table.drop(columns=[wkt_col]), geoms, crs)


def to_number(text: Any) -> float | None:
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _find_column(table: pd.DataFrame, given: str | None, candidates, source: str, what: str, option: str) -> str:
    if given:
        if given not in table.columns:
            raise InputError(missing_field_message(source, given, table.columns, option))
        return given
    lower = {str(c).lower(): c for c in table.columns}
    for name in candidates:
        if name in lower:
            return lower[name]
    raise InputError(
        f"{source}: no {what} column found (looked for {', '.join(candidates)}); name it with {option}. "
        f"Columns in the file: {', '.join(map(str, table.columns))}"
    )


def missing_field_message(source: str, name: str, columns, option: str) -> str:
    return f"{source}: field {name!r} (from {option}) is not in the file. Fields in the file: {', '.join(map(str, columns)) or 'none'}"


def _to_wgs84(frame: Frame) -> None:
    """Reproject in place, then refuse coordinates that cannot be longitude/latitude."""
    present = ~shapely.is_missing(frame.geoms)
    if present.any() and frame.crs.name != "wgs84":
        frame.geoms[present] = frame.crs.geometries_to_wgs84(frame.geoms[present])
    problems = []
    # One vectorised pass finds the suspicious rows; only those are looked at one by one.
    bounds = shapely.bounds(frame.geoms)
    with np.errstate(invalid="ignore"):
        ok = (
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180 - _EPS)
            & (bounds[:, 2] <= 180 + _EPS)
            & (bounds[:, 1] >= -90 - _EPS)
            & (bounds[:, 3] <= 90 + _EPS)
        )
    for i in np.flatnonzero(present & ~ok):
        x0, y0, x1, y1 = frame.geoms[i].bounds
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            problems.append(f"{frame.label(int(i))}: coordinates are not finite numbers")
        elif x0 < -180 - _EPS or x1 > 180 + _EPS or y0 < -90 - _EPS or y1 > 90 + _EPS:
            if max(abs(x0), abs(x1), abs(y0), abs(y1)) > 1000:
                hint = " (they look like projected metres: name the file's coordinate system with --crs EPSG:nnnn)"
            elif -90 <= x0 and x1 <= 90 and -180 <= y0 and y1 <= 180:
                hint = " (longitude and latitude look swapped)"
            else:
                hint = ""
            problems.append(
                f"{frame.label(int(i))}: coordinates ({x0:.6g}, {y0:.6g}) are outside longitude/latitude range{hint}"
            )
    if problems:
        raise ImportFailed(frame.source, problems)


def clean_value(value: Any) -> Any:
    """A JSON-safe Python value from whatever pandas/pyogrio produced."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # the common cases, first
        return value
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def code_text(value: Any) -> str | None:
    """Codes are kept as given; numeric codes lose only a meaningless ``.0``."""
    if type(value) is str:
        return value.strip() or None
    value = clean_value(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None
