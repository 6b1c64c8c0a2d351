"""Codes for imported rows that come without one.

Footprints from OpenStreetMap and surveyors' shapefiles often carry no code, or leave it empty on
some rows. When the file has no code column (and no ``--code-field`` names one), or a row's code is
empty, the importer makes one here:

- a building: the code of the grid it stands in (15 digits) and a 4-digit sequence, e.g.
  ``4418020010010030007``; outside every grid but inside a community: the community's 12-digit
  code, ``000`` and a 4-digit sequence (``4418020010010000001``). Grid sequences start at 001, so
  the two never collide.
- a responder: ``R``, the code of its first grid (the ``grids`` column, else the grid its location
  lies in) and a 3-digit sequence, e.g. ``R441802001001003012``; with no grid but a location inside
  a community: ``R``, the community code, ``000`` and 3 digits.

A sequence continues after the largest one already used under the same prefix, in the database
and in the file. A row that lies in no grid and no community gets no code: the import is refused,
naming the rows.

Codes stay stable on re-import: before making a code, a row without one is matched to what is
stored. A building matches a stored building at the same place (its representative point within
:data:`TOLERANCE`, and the same footprint when both have one); a responder matches a stored
responder of the same name and phone (without a phone: the same name and location). A matched row
takes the stored code, and so updates that row under ``--replace``; without ``--replace`` it is
refused as a code already stored would be.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from geo.db.engine import backend_for
from geo.grids.index import locate_grid_ids
from geo.io.read import Frame
from geo.models import Building, Community, Grid, Responder
from geo.spatial.geometry import from_db

TOLERANCE = 1e-7  # degrees, about a centimetre: the same place after a round trip through a file
COMMUNITY_FILLER = "000"  # a grid's own sequence is never 000, so community-based codes stand apart
BUILDING_DIGITS = 4
RESPONDER_DIGITS = 3
RESPONDER_PREFIX = "R"


@dataclass
class Numbering:
    """What :func:`building_codes` and :func:`responder_codes` did, for the report."""

    generated: int = 0
    kept: int = 0  # rows without a code that took the code of the stored row they match
    problems: list[str] = field(default_factory=list)


def missing_rows(codes: list[str | None]) -> list[int]:
    return [i for i, c in enumerate(codes) if c is None]


# --------------------------------------------------------------------------- buildings


def building_codes(
    session: Session,
    frame: Frame,
    codes: list[str | None],
    points: np.ndarray,
    footprints: np.ndarray,
    grid_ids: list[int | None],
    replace: bool,
) -> Numbering:
    """Fill ``codes`` in place for the rows that have none (see the module's docstring)."""
    result = Numbering()
    missing = missing_rows(codes)
    if not missing:
        return result
    matches = _match_buildings(session, points, footprints, missing, set(filter(None, codes)))
    for i, code in matches.items():
        if replace:
            codes[i] = code
            result.kept += 1
        else:
            result.problems.append(
                f"row {i + 1}: has no code, and building {code!r} in the database is at the same place with the same "
                "footprint (use --replace to update it)"
            )
    unmatched = [i for i in missing if i not in matches]
    grid_codes = _grid_codes(session, {grid_ids[i] for i in unmatched})
    prefixes: dict[int, str] = {}
    outside = []
    in_community = _community_codes(session, {i: points[i] for i in unmatched if grid_ids[i] is None})
    for i in unmatched:
        grid_id = grid_ids[i]
        if grid_id is not None:
            prefixes[i] = grid_codes[grid_id]
        elif i in in_community:
            prefixes[i] = in_community[i] + COMMUNITY_FILLER
        else:
            outside.append(i)
    result.problems += [
        f"{frame.label(i)}: has no code and lies outside every grid and community, so no code can be made for it "
        "(give it a code, or import the grids and community it lies in first)"
        for i in outside
    ]
    if result.problems:
        return result
    result.generated = _number(session, Building.code, codes, prefixes, BUILDING_DIGITS, result.problems)
    return result


def _match_buildings(
    session: Session, points: np.ndarray, footprints: np.ndarray, rows: list[int], given: set[str]
) -> dict[int, str]:
    """Stored buildings at the same place as ``rows`` (each stored building matched once)."""
    wanted = np.array([points[i] for i in rows], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(wanted)
    t = TOLERANCE
    table = Building.__table__
    found = session.execute(
        select(Building.code, Building.geom, Building.footprint)
        .where(backend_for(session).bbox_filter(table.c.geom, "buildings", (x0 - t, y0 - t, x1 + t, y1 + t)))
        .order_by(Building.code)
    ).all()
    stored = [(code, from_db(g), from_db(f) if f is not None else None) for code, g, f in found if code not in given]
    if not stored:
        return {}
    tree = shapely.STRtree([g for _, g, _ in stored])
    used: set[int] = set()
    matches: dict[int, str] = {}
    for i in rows:
        for j in sorted(tree.query(points[i], predicate="dwithin", distance=t).tolist()):
            code, _, footprint = stored[j]
            if j not in used and _same_footprint(footprints[i], footprint):
                used.add(j)
                matches[i] = code
                break
    return matches


def _same_footprint(a, b) -> bool:
    if a is None or b is None:
        return True  # a point matches by place alone
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=TOLERANCE))


def _grid_codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    ids = sorted(i for i in ids if i is not None)
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        found.update(session.execute(select(Grid.id, Grid.code).where(Grid.id.in_(ids[start : start + 500]))).all())
    return found


def _community_codes(session: Session, points: dict[int, object]) -> dict[int, str]:
    """The code of the community each row's point lies in (rows in none are left out)."""
    points = {i: p for i, p in points.items() if p is not None}
    if not points:
        return {}
    rows = session.execute(select(Community.code, Community.geom).order_by(Community.code)).all()
    stored = [(code, from_db(g)) for code, g in rows if g is not None]
    if not stored:
        return {}
    tree = shapely.STRtree([g for _, g in stored])
    found: dict[int, str] = {}
    for i, p in points.items():
        hits = sorted(tree.query(p, predicate="intersects").tolist())
        if hits:
            found[i] = stored[hits[0]][0]
    return found


# --------------------------------------------------------------------------- sequences


def _number(
    session: Session, column, codes: list[str | None], prefixes: dict[int, str], digits: int, problems: list[str]
) -> int:
    """Give each row in ``prefixes`` its prefix and the next free sequence under it."""
    last = _last_sequences(session, column, set(prefixes.values()), digits, codes)
    limit = 10**digits - 1
    by_prefix: dict[str, list[int]] = defaultdict(list)
    for i, prefix in prefixes.items():
        by_prefix[prefix].append(i)
    for prefix, rows in by_prefix.items():
        if last[prefix] + len(rows) > limit:
            problems.append(
                f"{len(rows)} rows without a code under {prefix!r}: only {limit - last[prefix]} of its "
                f"{digits}-digit sequences are free; give them codes"
            )
            continue
        for n, i in enumerate(sorted(rows), start=last[prefix] + 1):
            codes[i] = f"{prefix}{n:0{digits}d}"
    return 0 if problems else len(prefixes)


def _last_sequences(
    session: Session, column, prefixes: set[str], digits: int, codes: list[str | None]
) -> dict[str, int]:
    """The largest sequence used under each prefix, in the database and in the file (0: none)."""
    last = dict.fromkeys(prefixes, 0)
    for prefix in prefixes:
        pattern = re.compile(re.escape(prefix) + rf"(\d{{{digits}}})")
        stored: Sequence[str] = session.scalars(select(column).where(column.startswith(prefix, autoescape=True))).all()
        for code in [*stored, *(c for c in codes if c is not None and c.startswith(prefix))]:
            m = pattern.fullmatch(code)
            if m:
                last[prefix] = max(last[prefix], int(m.group(1)))
    return last


# --------------------------------------------------------------------------- responders


def responder_codes(
    session: Session,
    frame: Frame,
    codes: list[str | None],
    names: list[str | None],
    phones: list[str | None],
    points: list,
    grid_lists: list[list[str]],
    known_grids: set[str],
    replace: bool,
) -> Numbering:
    """Fill ``codes`` in place for the responders that have none (see the module's docstring)."""
    result = Numbering()
    missing = missing_rows(codes)
    if not missing:
        return result
    nameless = [i for i in missing if not names[i]]
    result.problems += [f"row {i + 1}: has neither a code nor a name" for i in nameless]
    missing = [i for i in missing if names[i]]
    matches = _match_responders(session, missing, names, phones, points, set(filter(None, codes)))
    for i, code in matches.items():
        if replace:
            codes[i] = code
            result.kept += 1
        else:
            result.problems.append(
                f"row {i + 1}: has no code, and responder {code!r} in the database has the same name and "
                f"{'phone' if phones[i] else 'location'} (use --replace to update it)"
            )
    unmatched = [i for i in missing if i not in matches]
    prefixes = _responder_prefixes(session, frame, unmatched, points, grid_lists, known_grids, result.problems)
    if result.problems:
        return result
    result.generated = _number(session, Responder.code, codes, prefixes, RESPONDER_DIGITS, result.problems)
    return result


def _responder_prefixes(
    session: Session,
    frame: Frame,
    rows: list[int],
    points: list,
    grid_lists,
    known_grids: set[str],
    problems: list[str],
) -> dict[int, str]:
    prefixes: dict[int, str] = {}
    listed = {i: next((g for g in grid_lists[i] if g in known_grids), None) for i in rows}
    located = [i for i in rows if listed[i] is None and points[i] is not None]
    if located:
        xy = shapely.get_coordinates(np.array([points[i] for i in located], dtype=object))
        grid_ids = locate_grid_ids(session, xy[:, 0], xy[:, 1])
        grid_codes = _grid_codes(session, grid_ids)
        listed.update({i: grid_codes[g] for i, g in zip(located, grid_ids, strict=True) if g is not None})
    in_community = _community_codes(session, {i: points[i] for i in rows if listed[i] is None})
    for i in rows:
        grid_code = listed[i]
        if grid_code is not None:
            prefixes[i] = RESPONDER_PREFIX + grid_code
        elif i in in_community:
            prefixes[i] = RESPONDER_PREFIX + in_community[i] + COMMUNITY_FILLER
        else:
            problems.append(
                f"{frame.label(i)}: has no code, no grid and no location inside a community, so no code can be made "
                "for it (give it a code or a grids value)"
            )
    return prefixes


def _match_responders(session: Session, rows: list[int], names, phones, points, given: set[str]) -> dict[int, str]:
    """Stored responders that are the person of ``rows``: same name and phone (or, without a
    phone, same name and location); each stored responder matched once."""
    wanted = sorted({names[i] for i in rows})
    stored: list[Row[str, str, str | None, Any]] = []
    for start in range(0, len(wanted), 500):
        stored += session.execute(
            select(Responder.code, Responder.name, Responder.phone, Responder.geom)
            .where(Responder.name.in_(wanted[start : start + 500]))
            .order_by(Responder.code)
        ).all()
    by_name: dict[str, list[tuple[str, str | None, object]]] = defaultdict(list)
    for code, name, phone, geom in stored:
        if code not in given:
            by_name[name].append((code, phone, from_db(geom) if geom is not None else None))
    used: set[str] = set()
    matches: dict[int, str] = {}
    for i in rows:
        for code, phone, geom in by_name.get(names[i], []):
            if code in used:
                continue
            if phones[i] or phone:
                same = phones[i] == phone
            elif points[i] is None or geom is None:
                same = points[i] is None and geom is None
            else:
                same = points[i].distance(geom) <= TOLERANCE
            if same:
                used.add(code)
                matches[i] = code
                break
    return matches
