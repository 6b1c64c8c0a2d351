"""Importing layers: a file read into a frame (:mod:`geo.io.read`), checked row by row, written.

An import is all-or-nothing: every row is read, reprojected, repaired and checked before the
first one is written, and the writes share the caller's transaction. A problem is reported as an
:class:`ImportFailed` naming the rows and what is wrong with each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo import components
from geo.catalogue.store import snapshot
from geo.db import bulk
from geo.errors import InputError
from geo.grids.index import locate_grid_ids
from geo.incidents.definitions import workflows
from geo.incidents.geotag import nearest_building_ids
from geo.incidents.history import snapshot_columns
from geo.incidents.workflow import default_assignee
from geo.io.codes import building_codes, responder_codes
from geo.io.read import (
    Frame,
    ImportFailed,
    ImportOptions,
    clean_value,
    code_text,
    missing_field_message,
    read_frame,
    to_number,
)
from geo.layers import layer as layer_entry
from geo.models import (
    Building,
    BuildingKind,
    Community,
    Component,
    Estate,
    Grid,
    Incident,
    IncidentHistory,
    Responder,
    ResponderKind,
    Street,
)
from geo.spatial.codes import unit_grid_codes
from geo.spatial.geometry import as_multipolygon, from_db, polygonal_part, to_db
from geo.spatial.topology import TopologyReport, check_grids
from geo.timezones import assume_china_time


@dataclass
class ImportReport:
    layer: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    crs: str = "wgs84"
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    topology: TopologyReport | None = None
    codes_generated: int = 0  # rows without a code that wangge gave one (see geo.io.codes)
    codes_kept: int = 0  # rows without a code that took the code of the stored row they match

    def lines(self) -> list[str]:
        out = [f"{self.layer}: {self.rows} rows read ({self.crs}), {self.created} created, {self.updated} updated"]
        if self.codes_generated or self.codes_kept:
            out.append(
                f"codes: {self.codes_generated} generated for rows without one"
                + (f", {self.codes_kept} kept from the stored rows they match" if self.codes_kept else "")
            )
        out += [f"repaired: {r}" for r in self.repaired]
        out += [f"warning: {w}" for w in self.warnings]
        if self.topology is not None:
            out += (
                ["topology: no overlaps, no gaps"]
                if self.topology.ok
                else [f"topology: {t}" for t in self.topology.lines()]
            )
        return out


# --------------------------------------------------------------------------- field access


class Fields:
    """Resolves wangge field names to the file's columns (defaults: the same name)."""

    def __init__(self, frame: Frame, options: ImportOptions):
        self.frame = frame
        self.mapping = dict(options.fields)
        self._cleaned: dict[Any, list[Any]] = {}
        self._extra_columns: list[Any] | None = None
        missing = [(target, col) for target, col in self.mapping.items() if col not in frame.table.columns]
        if missing:
            target, col = missing[0]
            option = f"--{target.replace('_', '-')}-field" if target in ("code", "name") else f"--field {target}={col}"
            raise InputError(missing_field_message(frame.source, col, frame.table.columns, option))

    def column(self, target: str) -> str | None:
        col = self.mapping.get(target, target)
        if col in self.frame.table.columns:
            return col
        # Shapefiles cut field names to 10 characters (community_code -> community_).
        if target not in self.mapping and target[:10] in self.frame.table.columns:
            return target[:10]
        return None

    def require(self, target: str, how: str) -> str:
        col = self.column(target)
        if col is None:
            raise InputError(
                f"{self.frame.source}: the {target} field is required; {how}. "
                f"Fields in the file: {', '.join(map(str, self.frame.table.columns)) or 'none'}"
            )
        return col

    def _values(self, col) -> list[Any]:
        # A whole column cleaned once: reading row by row through pandas costs far more.
        values = self._cleaned.get(col)
        if values is None:
            series = self.frame.table[col]
            if series.dtype.kind in "iub":  # plain numbers: nothing to clean
                values = series.tolist()
            elif series.dtype.kind == "f":
                values = series.tolist()
                for i in np.flatnonzero(~np.isfinite(series.to_numpy())):
                    values[i] = None
            else:
                values = [v if type(v) is str else clean_value(v) for v in series.tolist()]
            self._cleaned[col] = values
        return values

    def numbers(self, target: str) -> np.ndarray | None:
        """The column as integers when the file stores it so (None otherwise)."""
        col = self.column(target)
        if col is None or self.frame.table[col].dtype.kind not in "iu":
            return None
        return self.frame.table[col].to_numpy()

    def get(self, i: int, target: str, default: Any = None) -> Any:
        col = self.column(target)
        if col is None:
            return default
        value = self._values(col)[i]
        return default if value is None or (isinstance(value, str) and value == "") else value

    def all(self, target: str, default: Any = None) -> list[Any]:
        """:meth:`get` for every row."""
        col = self.column(target)
        if col is None:
            return [default] * len(self.frame.table)
        values = self._values(col)
        if None not in values and "" not in values:
            return list(values)
        return [default if v is None or (isinstance(v, str) and v == "") else v for v in values]

    def _extras(self) -> list[Any]:
        if self._extra_columns is None:
            used = {self.column(t) for t in KNOWN_FIELDS} | set(self.mapping.values())
            self._extra_columns = [c for c in self.frame.table.columns if c not in used]
        return self._extra_columns

    def extras(self, i: int) -> dict[str, Any]:
        """Columns wangge has no field for, kept in ``properties``."""
        return {str(c): self._values(c)[i] for c in self._extras()}

    def all_extras(self) -> list[dict[str, Any]]:
        """:meth:`extras` for every row, to be read only (rows without extras share one dict)."""
        columns = self._extras()
        names = [str(c) for c in columns]
        return (
            [dict(zip(names, row, strict=True)) for row in zip(*(self._values(c) for c in columns), strict=True)]
            if columns
            else [{}] * len(self.frame.table)
        )


KNOWN_FIELDS = (
    "code",
    "name",
    "community_code",
    "party_branch",
    "property_company",
    "kind",
    "address",
    "households",
    "residents",
    "estate",
    "role",
    "phone",
    "organisation",
    "grids",
    "building",
    "on_duty",
    "located_at",
    "category",
    "status",
    "title",
    "description",
    "reporter_name",
    "reporter_phone",
    "created_at",
    "closed_at",
    "geometry",
    "amenities",
    "state",
    "accuracy",
    "department",
    "grid",  # grid is derived from the geometry, never read
)


# --------------------------------------------------------------------------- geometry checks


def _polygons(frame: Frame, key: str | None, report: ImportReport, problems: list[str]) -> list[MultiPolygon | None]:
    out: list[MultiPolygon | None] = []
    for i, geom in enumerate(frame.geoms):
        label = frame.label(i, key)
        if geom is None:
            problems.append(f"{label}: has no geometry")
            out.append(None)
            continue
        if not isinstance(geom, (Polygon, MultiPolygon)) and not shapely.get_parts(geom).size:
            problems.append(f"{label}: expected a polygon, got {geom.geom_type}")
            out.append(None)
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            geom = polygonal_part(shapely.make_valid(geom))
            if geom.is_empty:
                problems.append(f"{label}: invalid polygon ({reason}) that cannot be repaired")
                out.append(None)
                continue
            report.repaired.append(f"{label}: {reason}")
        if not isinstance(geom, (Polygon, MultiPolygon)):
            problems.append(f"{label}: expected a polygon, got {geom.geom_type}")
            out.append(None)
            continue
        if geom.area < 1e-12:  # square degrees: about 0.01 m²
            # GEOS calls a ring of collinear points valid; it still covers nothing.
            problems.append(f"{label}: invalid polygon (it has no area: its points lie on a line)")
            out.append(None)
            continue
        out.append(as_multipolygon(geom))
    return out


def _points(
    frame: Frame, key: str | None, problems: list[str], required: bool = True
) -> list[tuple[Point | None, Polygon | None]]:
    """Each row's point, and its footprint when the file gives polygons (buildings)."""
    points, footprints = _point_arrays(frame, key, problems, required)
    return list(zip(points.tolist(), footprints.tolist(), strict=True))


def _point_arrays(
    frame: Frame, key: str | None, problems: list[str], required: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_points` as two arrays, in vectorised passes: a million points take a moment."""
    geoms = frame.geoms
    n = len(geoms)
    types = shapely.get_type_id(geoms)
    points = np.full(n, None, dtype=object)
    footprints = np.full(n, None, dtype=object)
    is_point = types == shapely.GeometryType.POINT
    points[is_point] = geoms[is_point]
    found: list[tuple[int, str]] = []
    polys = np.flatnonzero((types == shapely.GeometryType.POLYGON) | (types == shapely.GeometryType.MULTIPOLYGON))
    if polys.size:
        shapes = geoms[polys].copy()
        for j in np.flatnonzero(~shapely.is_valid(shapes)):
            shapes[j] = polygonal_part(shapely.make_valid(shapes[j]))
        # A footprint is one polygon: the largest part of a multipolygon.
        for j in np.flatnonzero(shapely.get_type_id(shapes) != shapely.GeometryType.POLYGON):
            parts = shapely.get_parts(shapes[j]) if not shapes[j].is_empty else []
            shapes[j] = max(parts, key=lambda p: p.area) if len(parts) else None
        empty = shapely.is_missing(shapes) | shapely.is_empty(shapes)
        found += [(int(polys[j]), "footprint polygon is empty after repair") for j in np.flatnonzero(empty)]
        shapes[empty] = None
        footprints[polys] = shapes
        points[polys[~empty]] = shapely.point_on_surface(shapes[~empty])
    if required:
        found += [(int(i), "has no geometry") for i in np.flatnonzero(types < 0)]
    other = np.flatnonzero(
        (types >= 0)
        & ~is_point
        & (types != shapely.GeometryType.POLYGON)
        & (types != shapely.GeometryType.MULTIPOLYGON)
    )
    found += [(int(i), f"expected a point, got {geoms[i].geom_type}") for i in other]
    problems += [f"{frame.label(i, key)}: {what}" for i, what in sorted(found, key=lambda f: f[0])]
    return points, footprints


def _duplicates(values: list[str | None], frame: Frame, what: str) -> list[str]:
    present = len(values) - values.count(None)
    if len(set(values)) - (None in values) == present:  # the usual case, at C speed
        return []
    seen: dict[str, int] = {}
    problems = []
    for i, value in enumerate(values):
        if value is None:
            continue
        if value in seen:
            problems.append(f"row {i + 1}: duplicate {what} {value!r} (first on row {seen[value] + 1})")
        else:
            seen[value] = i
    return problems


def _unique_keys(
    session: Session, frame: Frame, model, column, keys, what: str, options: ImportOptions, problems: list[str]
) -> dict[str, Any]:
    """Refuse duplicate keys in the file, and keys already stored unless replacing; then raise
    every problem found so far. Returns the stored rows for the keys (to update on --replace)."""
    problems += _duplicates(keys, frame, what)
    existing = _existing(session, model, column, keys)
    problems += _conflicts(existing, keys, what, options)
    if problems:
        raise ImportFailed(frame.source, problems)
    return existing


def _existing(session: Session, model, column, values) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    found: dict[str, Any] = {}
    obj: Any  # a row of any model
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        for obj in session.scalars(select(model).where(column.in_(chunk))):
            found[getattr(obj, column.key)] = obj
    return found


# --------------------------------------------------------------------------- layers


def import_layer(session: Session, layer: str, path: str | Path, options: ImportOptions | None = None) -> ImportReport:
    """Import one file into ``layer`` inside the caller's transaction; raise before writing anything."""
    options = options or ImportOptions()
    layer_entry(layer)  # an unknown layer is named as such
    if layer not in IMPORTERS:
        raise InputError(f"{layer} cannot be imported from files; these can: {', '.join(IMPORTERS)}")
    frame = read_frame(path, options)
    fields = Fields(frame, options)
    report = ImportReport(layer=layer, rows=len(frame.table), crs=frame.crs.name, warnings=list(frame.warnings))
    IMPORTERS[layer](session, frame, fields, options, report)
    return report


def _write(session: Session, objects: list[Any], options: ImportOptions, layer: str) -> None:
    with tqdm(total=len(objects), desc=f"importing {layer}", unit="row", disable=not options.progress) as bar:
        for start in range(0, len(objects), 200):
            chunk = objects[start : start + 200]
            session.add_all(chunk)
            session.flush()
            bar.update(len(chunk))


def _upsert(
    existing: dict[str, Any], key: str, model, values: dict[str, Any], options: ImportOptions, report: ImportReport
):
    obj = existing.get(key)
    if obj is None:
        report.created += 1
        return model(**values)
    report.updated += 1
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


def _conflicts(existing: dict[str, Any], keys: list[str | None], what: str, options: ImportOptions) -> list[str]:
    if options.replace:
        return []
    return [
        f"row {i + 1}: {what} {k!r} already exists in the database (use --replace to update it)"
        for i, k in enumerate(keys)
        if k in existing
    ]


def _communities(session: Session, codes) -> dict[str, Community]:
    return _existing(session, Community, Community.code, sorted({c for c in codes if c}))


COMMUNITY_FIELDS = (
    "district_code",
    "district_name",
    "city_name",
    "street_code",
    "street_name",
    "community_code",
    "community_name",
)


def _import_communities(
    session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport
) -> None:
    """Communities with their street: one row per community, its boundary as the geometry."""
    problems: list[str] = []
    n = len(frame.table)
    for name in COMMUNITY_FIELDS:
        fields.require(name, f"map it with --field {name}=COLUMN")
    # Text, or None where empty: such rows are refused before anything is written.
    rows: list[dict[str, Any]] = [{name: code_text(fields.get(i, name)) for name in COMMUNITY_FIELDS} for i in range(n)]
    for i, row in enumerate(rows):
        label = frame.label(i, fields.column("community_code"))
        empty = [name for name, value in row.items() if not value]
        if empty:
            problems.append(f"{label}: {', '.join(empty)} empty")
            continue
        if not (row["district_code"].isdigit() and len(row["district_code"]) == 6):
            problems.append(f"{label}: district_code {row['district_code']!r} must be 6 digits (GB/T 2260)")
        if not (
            row["street_code"].startswith(row["district_code"])
            and len(row["street_code"]) == 9
            and row["street_code"].isdigit()
        ):
            problems.append(f"{label}: street_code {row['street_code']!r} must be the district code and 3 digits")
        if not (
            row["community_code"].startswith(row["street_code"])
            and len(row["community_code"]) == 12
            and row["community_code"].isdigit()
        ):
            problems.append(f"{label}: community_code {row['community_code']!r} must be the street code and 3 digits")
    geoms = _polygons(frame, fields.column("community_code"), report, problems)
    codes = [r["community_code"] for r in rows]
    existing = _unique_keys(session, frame, Community, Community.code, codes, "community code", options, problems)
    streets = _existing(session, Street, Street.code, sorted({r["street_code"] for r in rows}))
    objects = []
    for i, row in enumerate(rows):
        street = streets.get(row["street_code"])
        if street is None:
            street = streets[row["street_code"]] = Street(
                code=row["street_code"],
                name=row["street_name"],
                district_code=row["district_code"],
                district_name=row["district_name"],
                city_name=row["city_name"],
            )
            session.add(street)
        values = dict(street=street, code=row["community_code"], name=row["community_name"], geom=to_db(geoms[i]))
        objects.append(_upsert(existing, row["community_code"], Community, values, options, report))
    _write(session, objects, options, "communities")


def _import_grids(session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport) -> None:
    problems: list[str] = []
    n = len(frame.table)
    code_col = fields.column("code")
    if code_col is None and not options.community:
        fields.require("code", "name it with --code-field, or give --community CODE to have wangge number the grids")
    geoms = _polygons(frame, code_col, report, problems)
    community_codes = [code_text(fields.get(i, "community_code")) or options.community for i in range(n)]
    communities = _communities(session, community_codes)
    for i, c in enumerate(community_codes):
        if c and c not in communities:
            problems.append(f"row {i + 1}: community {c!r} does not exist (load the community first)")
    if problems:
        raise ImportFailed(frame.source, problems)
    codes: Sequence[str | None]
    if code_col is None:
        assert options.community  # else fields.require above refused the file
        codes = unit_grid_codes(options.community, np.array(geoms, dtype=object))
    else:
        codes = [code_text(fields.get(i, "code")) for i in range(n)]
        problems += [f"{frame.label(i)}: has no code" for i, c in enumerate(codes) if c is None]
    existing = _unique_keys(session, frame, Grid, Grid.code, codes, "grid code", options, problems)

    boundary = None
    community_set = {c for c in community_codes if c}
    if len(community_set) == 1 and communities[next(iter(community_set))].geom is not None:
        boundary = from_db(communities[next(iter(community_set))].geom)
    report.topology = check_grids(codes, np.array(geoms, dtype=object), boundary=boundary)

    objects = []
    for i in range(n):
        code, community = codes[i], community_codes[i]
        assert code is not None  # rows without a code were refused by _unique_keys
        values = dict(
            code=code,
            name=str(fields.get(i, "name", code)),
            party_branch=fields.get(i, "party_branch"),
            community_id=communities[community].id if community else None,
            properties=fields.extras(i),
            geom=to_db(geoms[i]),
        )
        objects.append(_upsert(existing, code, Grid, values, options, report))
    _write(session, objects, options, "grids")


def _import_estates(
    session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport
) -> None:
    problems: list[str] = []
    n = len(frame.table)
    fields.require("name", "name it with --name-field")
    names = [code_text(fields.get(i, "name")) for i in range(n)]
    problems += [f"row {i + 1}: has no name" for i, v in enumerate(names) if v is None]
    geoms = _polygons(frame, fields.column("name"), report, problems)
    community_codes = [code_text(fields.get(i, "community_code")) or options.community for i in range(n)]
    communities = _communities(session, community_codes)
    problems += [
        f"row {i + 1}: community {c!r} does not exist"
        for i, c in enumerate(community_codes)
        if c and c not in communities
    ]
    existing = _unique_keys(session, frame, Estate, Estate.name, names, "estate name", options, problems)
    objects = []
    for i in range(n):
        name, community = names[i], community_codes[i]
        assert name is not None  # rows without a name were refused by _unique_keys
        props = fields.extras(i)
        if fields.get(i, "amenities"):
            props["amenities"] = fields.get(i, "amenities")
        values = dict(
            name=name,
            property_company=fields.get(i, "property_company"),
            community_id=communities[community].id if community else None,
            properties=props,
            geom=to_db(geoms[i]),
        )
        objects.append(_upsert(existing, name, Estate, values, options, report))
    _write(session, objects, options, "estates")


def _whole_numbers(fields: Fields, name: str) -> tuple[list[int], list[tuple[int, str]]]:
    """A column of counts (0 where empty), and the rows whose value is not a whole number."""
    stored = fields.numbers(name)
    if stored is not None and (stored >= 0).all():
        return stored.tolist(), []
    out: list[int] = []
    bad: list[tuple[int, str]] = []
    for i, value in enumerate(fields.all(name, 0)):
        if type(value) is int and value >= 0:
            out.append(value)
            continue
        number = to_number(value)
        if number is None or number < 0 or not float(number).is_integer():
            bad.append((i, f"{name} {value!r} is not a whole number"))
            out.append(0)
        else:
            out.append(int(number))
    return out, bad


def _existing_ids(session: Session, column, keys) -> dict[str, int]:
    """Primary keys of the stored rows whose ``column`` is one of ``keys`` (no ORM objects)."""
    keys = [k for k in keys if k is not None]
    table = column.table
    if not keys:
        return {}
    stored = session.scalar(select(func.count()).select_from(table)) or 0
    if stored <= 4 * len(keys):  # cheaper to read them all than to ask in chunks
        wanted = set(keys)
        everything: Select[str, int] = select(column, table.c.id)
        return {k: i for k, i in session.execute(everything) if k in wanted}
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        found.update(session.execute(select(column, table.c.id).where(column.in_(keys[start : start + 500]))).all())
    return found


def _import_buildings(
    session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport
) -> None:
    """Buildings go in bulk (COPY / executemany), geotagged as one batch: files can hold a city's."""
    problems: list[str] = []
    n = len(frame.table)
    key = fields.column("code")
    codes = [code_text(v) for v in fields.all("code")]  # None where wangge is to make one
    points, footprints = _point_arrays(frame, key, problems)
    kinds = [str(k) for k in fields.all("kind", BuildingKind.old_building.value)]
    allowed = {k.value for k in BuildingKind}
    problems += [
        f"{frame.label(i, key)}: kind {k!r} is not one of {', '.join(sorted(allowed))}"
        for i, k in enumerate(kinds)
        if k not in allowed
    ]
    estate_names = [code_text(v) for v in fields.all("estate")] if fields.column("estate") else [None] * n
    estates = _existing(session, Estate, Estate.name, sorted({e for e in estate_names if e}))
    problems += [
        f"row {i + 1}: estate {e!r} does not exist (import estates first)"
        for i, e in enumerate(estate_names)
        if e and e not in estates
    ]
    households, bad_households = _whole_numbers(fields, "households")
    residents, bad_residents = _whole_numbers(fields, "residents")
    problems += [
        f"{frame.label(i, key)}: {what}" for i, what in sorted(bad_households + bad_residents, key=lambda b: b[0])
    ]
    problems += _duplicates(codes, frame, "building code")
    existing = _existing_ids(session, Building.code, codes)
    problems += _conflicts(existing, codes, "building code", options)
    if problems:
        raise ImportFailed(frame.source, problems)

    xy = shapely.get_coordinates(points)
    grid_ids = locate_grid_ids(session, xy[:, 0], xy[:, 1])
    existing = _number_buildings(session, frame, codes, points, footprints, grid_ids, existing, options, report)
    numbered = cast(list[str], codes)  # every row has its code now (or _number_buildings raised)
    estate_ids = {name: obj.id for name, obj in estates.items()}
    names = fields.all("name")
    values: bulk.Columns = dict(
        code=codes,
        name=[str(c if v is None else v) for v, c in zip(names, codes, strict=True)],
        kind=kinds,
        address=fields.all("address"),
        households=households,
        residents=residents,
        estate_id=[estate_ids[e] if e else None for e in estate_names],
        grid_id=grid_ids,
        properties=fields.all_extras(),
        geom=points,
        footprint=footprints,
    )
    old = np.array([c in existing for c in codes], dtype=bool) if existing else np.zeros(n, dtype=bool)
    report.created += int(n - old.sum())
    report.updated += int(old.sum())
    table = Building.__table__
    with tqdm(total=n, desc="importing buildings", unit="row", disable=not options.progress) as bar:
        if old.all():
            bulk.update(session, table, [existing[c] for c in numbered], values, bar)
        elif old.any():
            new_rows = np.flatnonzero(~old)
            old_rows = np.flatnonzero(old)
            bulk.insert(session, table, {k: _take(v, new_rows) for k, v in values.items()}, bar)
            bulk.update(
                session,
                table,
                [existing[numbered[i]] for i in old_rows],
                {k: _take(v, old_rows) for k, v in values.items()},
                bar,
            )
        else:
            bulk.insert(session, table, values, bar)
    # Buildings feed no in-memory index, so no layer revision changes (the ORM path bumps none
    # either); the grids they are tagged with are read fresh at every write.


def _number_buildings(session, frame, codes, points, footprints, grid_ids, existing, options, report) -> dict[str, int]:
    """Codes for the rows without one (:mod:`geo.io.codes`); the stored ids, with the matched rows'."""
    numbering = building_codes(session, frame, codes, points, footprints, grid_ids, options.replace)
    if numbering.problems:
        raise ImportFailed(frame.source, numbering.problems)
    report.codes_generated += numbering.generated
    report.codes_kept += numbering.kept
    return _existing_ids(session, Building.code, codes) if numbering.kept else existing


def _take(values, rows: np.ndarray):
    return values[rows] if isinstance(values, np.ndarray) else [values[i] for i in rows]


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "t", "是", "在岗"):
        return True
    if text in ("0", "false", "no", "n", "f", "否", "不在岗"):
        return False
    return None


def _datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    return assume_china_time(stamp.to_pydatetime()).astimezone(UTC)


def _import_responders(
    session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport
) -> None:
    problems: list[str] = []
    n = len(frame.table)
    key = fields.column("code")
    codes = [code_text(fields.get(i, "code")) for i in range(n)]  # None where wangge is to make one
    points = _points(frame, key, problems, required=False)
    problems += [
        f"{frame.label(i, key)}: a responder's location must be a point"
        for i, (_, fp) in enumerate(points)
        if fp is not None
    ]
    roles = [code_text(fields.get(i, "role")) or options.role for i in range(n)]
    problems += [
        f"{frame.label(i, key)}: has no role (give a role column or --role)" for i, r in enumerate(roles) if not r
    ]
    kinds = [str(fields.get(i, "kind", ResponderKind.person.value)) for i in range(n)]
    allowed_kinds = {k.value for k in ResponderKind}
    problems += [
        f"{frame.label(i, key)}: kind {k!r} is not one of {', '.join(sorted(allowed_kinds))}"
        for i, k in enumerate(kinds)
        if k not in allowed_kinds
    ]
    grid_lists = [[g.strip() for g in str(fields.get(i, "grids", "")).split(",") if g.strip()] for i in range(n)]
    grids = _existing(session, Grid, Grid.code, sorted({g for gl in grid_lists for g in gl}))
    for i, gl in enumerate(grid_lists):
        unknown = [g for g in gl if g not in grids]
        if unknown:
            problems.append(f"{frame.label(i, key)}: grid {', '.join(map(repr, unknown))} does not exist")
    building_codes = [code_text(fields.get(i, "building")) for i in range(n)]
    buildings = _existing(session, Building, Building.code, sorted({b for b in building_codes if b}))
    problems += [
        f"{frame.label(i, key)}: building {b!r} does not exist"
        for i, b in enumerate(building_codes)
        if b and b not in buildings
    ]
    on_duty = []
    located = []
    for i in range(n):
        raw = fields.get(i, "on_duty", True)
        flag = _bool(raw)
        if flag is None:
            problems.append(f"{frame.label(i, key)}: on_duty {raw!r} is not true or false")
        on_duty.append(bool(flag))
        raw_time = fields.get(i, "located_at")
        when = _datetime(raw_time)
        if raw_time not in (None, "") and when is None:
            problems.append(f"{frame.label(i, key)}: located_at {raw_time!r} is not a date and time")
        located.append(when)
    numbering = responder_codes(
        session,
        frame,
        codes,
        [code_text(fields.get(i, "name")) for i in range(n)],
        [code_text(fields.get(i, "phone")) for i in range(n)],
        [p for p, _ in points],
        grid_lists,
        set(grids),
        options.replace,
    )
    problems += numbering.problems
    report.codes_generated += numbering.generated
    report.codes_kept += numbering.kept
    existing = _unique_keys(session, frame, Responder, Responder.code, codes, "responder code", options, problems)
    objects = []
    for i in range(n):
        code, building = codes[i], building_codes[i]
        assert code is not None  # numbered above, or _unique_keys refused the file
        values = dict(
            code=code,
            name=str(fields.get(i, "name", code)),
            kind=kinds[i],
            role=roles[i],
            phone=code_text(fields.get(i, "phone")),
            organisation=fields.get(i, "organisation"),
            building_id=buildings[building].id if building else None,
            on_duty=on_duty[i],
            located_at=located[i],
            properties=fields.extras(i),
            geom=to_db(points[i][0]),
            grids=[grids[g] for g in grid_lists[i]],
        )
        objects.append(_upsert(existing, code, Responder, values, options, report))
    _write(session, objects, options, "responders")


def _incident_times(frame: Frame, fields: Fields, key: str | None, problems: list[str]) -> list[list[datetime | None]]:
    """Each row's (created_at, closed_at), None where the file gives none."""
    times = []
    for i in range(len(frame.table)):
        pair = []
        for name in ("created_at", "closed_at"):
            raw = fields.get(i, name)
            when = _datetime(raw)
            if raw not in (None, "") and when is None:
                problems.append(f"{frame.label(i, key)}: {name} {raw!r} is not a date and time")
            pair.append(when)
        times.append(pair)
    return times


def _import_incidents(
    session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport
) -> None:
    problems: list[str] = []
    n = len(frame.table)
    key = fields.column("code")
    catalogue = snapshot(session)
    for target, how in (
        ("kind", "one of " + ", ".join(catalogue.by_kind)),
        ("category", "see the categories of each kind"),
        ("title", "name it with --field title=COLUMN"),
    ):
        fields.require(target, how)
    codes = [code_text(fields.get(i, "code")) for i in range(n)]
    points = _points(frame, key, problems)
    problems += [
        f"{frame.label(i, key)}: an incident's location must be a point"
        for i, (_, fp) in enumerate(points)
        if fp is not None
    ]
    kinds = [str(fields.get(i, "kind", "")) for i in range(n)]
    categories = [str(fields.get(i, "category", "")) for i in range(n)]
    for i, (k, c) in enumerate(zip(kinds, categories, strict=True)):
        if k not in catalogue.by_kind:
            problems.append(f"{frame.label(i, key)}: kind {k!r} is not one of {', '.join(catalogue.by_kind)}")
        elif catalogue.kind_of.get(c) != k:
            problems.append(
                f"{frame.label(i, key)}: category {c!r} is not one of {', '.join(catalogue.by_kind[k])} for {k}"
            )
    titles = [fields.get(i, "title") for i in range(n)]
    problems += [f"{frame.label(i, key)}: has no title" for i, t in enumerate(titles) if not t]
    flows = workflows()
    statuses = [str(fields.get(i, "status", flows[k].initial if k in flows else "")) for i, k in enumerate(kinds)]
    for i, (k, st) in enumerate(zip(kinds, statuses, strict=True)):
        if k in flows and st not in flows[k].statuses:
            problems.append(
                f"{frame.label(i, key)}: status {st!r} is not one of {', '.join(flows[k].statuses)} for {k}"
            )
    times = _incident_times(frame, fields, key, problems)
    problems += _duplicates(codes, frame, "incident code")
    stored = _existing_ids(session, Incident.code, codes)
    problems += _conflicts(stored, codes, "incident code", options)
    if problems:
        raise ImportFailed(frame.source, problems)
    now = datetime.now(UTC)
    if not stored:
        _insert_incidents(
            session, frame, fields, options, report, codes, points, kinds, categories, statuses, titles, times, now
        )
        return
    # Replacing stored incidents: the ORM path, which bumps their versions (ETags) as edits do.
    existing = _existing(session, Incident, Incident.code, list(stored))
    objects = []
    for i in range(n):
        created = times[i][0] or now
        values = dict(
            code=codes[i],
            kind=kinds[i],
            category=categories[i],
            status=statuses[i],
            title=str(titles[i]),
            description=fields.get(i, "description"),
            reporter_name=fields.get(i, "reporter_name"),
            reporter_phone=code_text(fields.get(i, "reporter_phone")),
            created_at=created,
            updated_at=times[i][1] or created,
            closed_at=times[i][1],
            properties=fields.extras(i),
            geom=to_db(points[i][0]),
        )
        values.update(zip(_REGISTRATION, catalogue.registration(categories[i]), strict=True))
        code = codes[i]
        obj = _upsert(existing, code, Incident, values, options, report) if code else Incident(**values)
        if code is None:
            report.created += 1
        objects.append(obj)
    _write(session, objects, options, "incidents")
    for obj in objects:
        # Imported incidents join the workflow where the file says they are.
        flow = flows[obj.kind]
        obj.status_since = obj.updated_at
        allowance = flow.allowance(obj.status, obj.category)
        obj.due_at = obj.status_since + allowance if allowance is not None else None
        if obj.status == flow.handling:  # in the work: its deadline is the handling deadline
            obj.handling_due_at = obj.due_at
        if obj.assignee_id is None and flow.is_open(obj.status):
            obj.assignee_id = default_assignee(session, obj.grid_id)
    session.add_all(
        IncidentHistory(
            incident_id=obj.id,
            actor="import",
            action="import",
            to_status=obj.status,
            at=obj.created_at,
            comment=frame.source,
            **snapshot_columns(obj, "report"),
        )
        for obj in objects
    )
    session.flush()


# What an incident takes from the catalogue entry it is registered under.
_REGISTRATION = ("catalogue_entry_id", "time_limit", "time_unit")


def _insert_incidents(
    session, frame, fields, options, report, codes, points, kinds, categories, statuses, titles, times, now
) -> None:
    """New incidents in bulk: geotagged (grid, nearest building) and put into their workflow as
    one batch, then written with their first history entry."""
    n = len(codes)
    flows = workflows()
    geoms = np.array([p for p, _ in points], dtype=object)
    xy = shapely.get_coordinates(geoms)
    grid_ids = locate_grid_ids(session, xy[:, 0], xy[:, 1])
    building_ids = nearest_building_ids(session, xy[:, 0], xy[:, 1])
    created = [t[0] or now for t in times]
    updated = [t[1] or c for t, c in zip(times, created, strict=True)]
    assignees: dict[int | None, int | None] = {}
    due, handling_due, assignee = [], [], []
    for i in range(n):
        # Imported incidents join the workflow where the file says they are.
        flow = flows[kinds[i]]
        allowance = flow.allowance(statuses[i], categories[i])
        due.append(updated[i] + allowance if allowance is not None else None)
        handling_due.append(due[-1] if statuses[i] == flow.handling else None)
        if flow.is_open(statuses[i]):
            if grid_ids[i] not in assignees:
                assignees[grid_ids[i]] = default_assignee(session, grid_ids[i])
            assignee.append(assignees[grid_ids[i]])
        else:
            assignee.append(None)
    ids = bulk.next_ids(session, Incident.__table__, n)
    values = dict(
        id=ids,
        code=codes,
        kind=kinds,
        category=categories,
        status=statuses,
        title=[str(t) for t in titles],
        description=fields.all("description"),
        reporter_name=fields.all("reporter_name"),
        reporter_phone=[code_text(v) for v in fields.all("reporter_phone")],
        grid_id=grid_ids,
        building_id=building_ids,
        assignee_id=assignee,
        properties=fields.all_extras(),
        version=[1] * n,
        created_at=created,
        updated_at=updated,
        closed_at=[t[1] for t in times],
        status_since=updated,
        due_at=due,
        handling_due_at=handling_due,
        escalation=[0] * n,
        possible_duplicates=[[]] * n,
        geom=geoms,
    )
    catalogue = snapshot(session)
    registered = [catalogue.registration(c) for c in categories]
    values.update({name: [r[j] for r in registered] for j, name in enumerate(_REGISTRATION)})
    report.created += n
    with tqdm(total=n, desc="importing incidents", unit="row", disable=not options.progress) as bar:
        bulk.insert(session, Incident.__table__, values, bar)
    bulk.insert(
        session,
        IncidentHistory.__table__,
        dict(
            incident_id=ids,
            at=created,
            actor=["import"] * n,
            action=["import"] * n,
            to_status=statuses,
            changes=[{}] * n,
            comment=[frame.source] * n,
            step=["report"] * n,
            kind=kinds,
            category=categories,
            grid_id=grid_ids,
            assignee_id=assignee,
        ),
    )
    # bulk.insert bumped the incidents' revision (their vector tiles' ETags follow it).


def _import_components(
    session: Session, frame: Frame, fields: Fields, options: ImportOptions, report: ImportReport
) -> None:
    """Components (部件): each row's 16-digit code checked against the current catalogue, its
    category derived from the code, state and accuracy class by key or Chinese name."""
    problems: list[str] = []
    n = len(frame.table)
    key = fields.require("code", "name it with --code-field (the 16-digit component code)")
    labels = [frame.label(i, key) for i in range(n)]
    checked = components.check_codes(session, [fields.get(i, "code") for i in range(n)], labels, problems)
    points = _points(frame, key, problems)
    problems += [f"{labels[i]}: a component's location must be a point" for i, (_, fp) in enumerate(points) if fp]
    rows = []
    for i, entry in enumerate(checked.entries):
        row: dict[str, Any] = {}
        for name, parse, default in (
            ("state", components.state_key, components.DEFAULT_STATE),
            ("accuracy", components.accuracy_class, None),
        ):
            try:
                row[name] = parse(fields.get(i, name, default))
            except InputError as exc:
                problems.append(f"{labels[i]}: {exc}")
        mismatch = components.category_mismatch(code_text(fields.get(i, "category")), entry)
        if mismatch:
            problems.append(f"{labels[i]}: {mismatch}")
        rows.append(row)
    existing = _unique_keys(
        session, frame, Component, Component.code, checked.codes, "component code", options, problems
    )
    objects = []
    for i, (code, entry) in enumerate(zip(checked.codes, checked.entries, strict=True)):
        assert code is not None and entry is not None  # else _unique_keys raised the problems
        values = dict(
            code=code,
            category=entry.category,
            name=str(fields.get(i, "name", entry.minor_name)),
            department=fields.get(i, "department", entry.department),
            properties=fields.extras(i),
            geom=to_db(points[i][0]),
            **rows[i],
        )
        objects.append(_upsert(existing, code, Component, values, options, report))
    _write(session, objects, options, "components")


IMPORTERS: dict[str, Callable[..., None]] = {
    "communities": _import_communities,
    "grids": _import_grids,
    "estates": _import_estates,
    "buildings": _import_buildings,
    "responders": _import_responders,
    "components": _import_components,
    "incidents": _import_incidents,
}
