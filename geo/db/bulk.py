"""Bulk writes for imports of many rows: ``COPY`` on PostGIS, one executemany on SpatiaLite.

The rows bypass the ORM, so its flush hooks (geotagging, revision bumps) do not run for them:
callers geotag the whole batch themselves, and the revisions the rows change are bumped here. The
writes go through the session's own connection, inside its transaction, so an import stays
all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from geoalchemy2 import Geometry
from sqlalchemy import JSON, Table, inspect
from sqlalchemy.orm import Session

from geo.spatial.geometry import SRID

BATCH = 20_000  # rows per executemany call (SpatiaLite), and per progress-bar step there
# Rows per COPY chunk: the server starts on the first chunk while the next is prepared, and
# after the last one only that chunk is left for it to parse; small chunks keep both ends short.
COPY_BATCH = 5_000

# Values column by column: lists, or numpy arrays.
Columns = dict[str, Sequence[Any] | np.ndarray]


def _is_geometry(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, Geometry)


def _json_text(values: Sequence[Any] | np.ndarray) -> list[str | None]:
    return [None if v is None else "{}" if v == {} else json.dumps(v, ensure_ascii=False, default=str) for v in values]


_EWKB_POINT = bytes.fromhex("0101000020") + SRID.to_bytes(4, "little")  # little-endian point with SRID
_EWKB_POLYGON = (
    bytes.fromhex("0103000020") + SRID.to_bytes(4, "little") + (1).to_bytes(4, "little")
)  # ... polygon of one ring


class _CopyText(list):
    """A column already in COPY's text format (hex EWKB, ``\\N``): no escaping scan needed."""


def _ewkb_hex(geoms: np.ndarray) -> list[str | None]:
    """Geometries as hex EWKB, what PostGIS reads from COPY's text; points and polygons without
    holes (footprints) encoded in one numpy pass, straight from their coordinates."""
    n = len(geoms)
    if not n:
        return []
    types = shapely.get_type_id(geoms)
    flat = not (shapely.has_z(geoms).any() or shapely.has_m(geoms).any())
    if flat and (types == shapely.GeometryType.POINT).all():
        xy = shapely.get_coordinates(geoms)
        if len(xy) == n:
            buf: np.ndarray = np.empty((n, 25), dtype=np.uint8)
            buf[:, :9] = np.frombuffer(_EWKB_POINT, dtype=np.uint8)
            buf[:, 9:] = xy.astype("<f8").view(np.uint8).reshape(n, 16)
            text = buf.tobytes().hex()
            return [text[i : i + 50] for i in range(0, 50 * n, 50)]
    elif (
        flat
        and (types == shapely.GeometryType.POLYGON).all()
        and not shapely.get_num_interior_rings(geoms).any()
        and (counts := shapely.get_num_coordinates(geoms)).all()  # an empty polygon has no ring
    ):
        # Each: the 17-byte header (order, type with SRID flag, SRID, one ring, its point count),
        # then the ring's coordinates; the headers are scattered in, the coordinates fill the rest.
        ends = np.cumsum(17 + 16 * counts)
        starts = ends - (17 + 16 * counts)
        head = np.empty((n, 17), dtype=np.uint8)
        head[:, :13] = np.frombuffer(_EWKB_POLYGON, dtype=np.uint8)
        head[:, 13:] = counts.astype("<u4").view(np.uint8).reshape(n, 4)
        where = starts[:, None] + np.arange(17)
        buf = np.empty(int(ends[-1]), dtype=np.uint8)
        is_head = np.zeros(len(buf), dtype=bool)
        is_head[where] = True
        buf[where] = head
        buf[~is_head] = shapely.get_coordinates(geoms).astype("<f8").view(np.uint8).ravel()
        text = buf.tobytes().hex()
        return [text[i:j] for i, j in zip((2 * starts).tolist(), (2 * ends).tolist())]
    # Plain little-endian WKB with the SRID spliced in after the type (flag 0x20000000): much
    # cheaper than shapely's EWKB, which copies every geometry to give it an SRID first.
    srid = SRID.to_bytes(4, "little")
    return [
        None if w is None else (w[:4] + bytes((w[4] | 0x20,)) + srid + w[5:]).hex()
        for w in shapely.to_wkb(geoms, byte_order=1).tolist()
    ]


def _prepare(session: Session, table: Table, values: Columns) -> list[Sequence[Any]]:
    """Column-wise values as the driver takes them: geometry as EWKB hex (PostGIS) or WKB
    bytes (SpatiaLite), JSON as text, other types through their SQLAlchemy bind processor."""
    dialect = session.get_bind().dialect
    postgres = dialect.name == "postgresql"
    out: list[Sequence[Any]] = []
    for name, column in values.items():
        kind = table.c[name].type
        if isinstance(kind, Geometry):
            geoms = np.asarray(column, dtype=object)
            if postgres:
                hexes = _ewkb_hex(geoms)
                out.append(_CopyText(hexes) if None not in hexes else hexes)
            else:
                out.append(shapely.to_wkb(geoms).tolist())
        elif isinstance(kind, JSON):
            out.append(_json_text(column))
        else:
            process = None if postgres else kind._cached_bind_processor(dialect)
            column = column.tolist() if isinstance(column, np.ndarray) else list(column)
            out.append([process(v) for v in column] if process is not None else column)
    return out


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_column(values: Sequence[Any]) -> list[str]:
    """A column in COPY's text format; whole-column checks (C loops) spare the per-value calls."""
    if isinstance(values, _CopyText):
        return values
    values = values if isinstance(values, list) else list(values)
    n = len(values)
    if values.count(None) == n:
        return ["\\N"] * n
    if None not in values:
        kinds = set(map(type, values))
        if kinds == {str}:
            joined = "".join(values)
            if not ("\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined):
                return values
        elif kinds == {int}:
            return list(map(str, values))
    return list(map(_copy_text, values))


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return (
            value.translate(_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value or "\r" in value) else value
        )
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def _raw(session: Session):
    return session.connection().connection.driver_connection


def insert(session: Session, table: Table, values: Columns, bar=None) -> None:
    """Insert rows given column by column (every sequence as long as the first)."""
    _write(session, table, values, None, bar)


def update(session: Session, table: Table, ids: Sequence[int], values: Columns, bar=None) -> None:
    """Set the given columns of the rows with primary keys ``ids``."""
    _write(session, table, values, list(ids), bar)


def _write(session: Session, table: Table, values: Columns, ids: list[int] | None, bar) -> None:
    n = len(next(iter(values.values()))) if values else 0
    if n == 0:
        return
    session.flush()  # pending ORM rows (an estate, a street) must be in the database first
    names = (["id"] if ids is not None else []) + list(values)
    postgres = session.get_bind().dialect.name == "postgresql"
    batches = _batches(session, table, values, ids, n, bar, COPY_BATCH if postgres else BATCH)
    if postgres:
        _postgres(session, table, names, batches, ids is not None, n)
    else:
        _spatialite(session, table, names, batches, ids is not None, n)
    _expire(session, table)
    layers = _WATCHED_BY_TABLE.get(table.name)
    if layers:
        # The ORM's after_flush hook never saw these rows: bump what they change, in this transaction.
        from geo.db.revisions import bump

        bump(session, layers)


# Tables whose rows feed an in-memory index or a vector tile's ETag (see geo.db.revisions).
_WATCHED_BY_TABLE = {
    "grids": ("grids",),
    "communities": ("communities",),
    "streets": ("communities",),
    "responders": ("roster", "responder_locations"),
    "estates": ("estates",),
    "buildings": ("buildings",),
    "incidents": ("incidents",),
    "components": ("components",),
}


def _batches(session: Session, table: Table, values: Columns, ids: list[int] | None, n: int, bar, size: int):
    """The rows in driver form, one batch at a time: only one batch's text is ever in memory."""
    for start in range(0, n, size):
        end = min(start + size, n)
        columns = _prepare(session, table, {k: v[start:end] for k, v in values.items()})
        yield ([ids[start:end]] if ids is not None else []) + columns
        if bar is not None:
            bar.update(end - start)


# A load at least this large, into a table no larger than itself, drops the table's plain
# indexes (GiST and b-tree), its unique constraints that no foreign key depends on, and its
# foreign keys, and puts them back once the rows are in: PostGIS then sorts and packs each index
# in one pass, and checks each key with one join, instead of row by row (which costs most of the
# time of a large COPY: the unique index on a code alone doubles it). Any row the restored
# constraints refuse (a duplicate, a dangling key) fails the import as a whole. The price: the
# table is locked against readers until the import commits, acceptable for a load that doubles it.
DEFER_INDEXES_FROM = 50_000


def _defer_postgres(cur, table: str, n: int) -> list[str]:
    """Drop what a large load had better rebuild; the statements that restore it."""
    if n < DEFER_INDEXES_FROM:
        return []
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS s", (n + 1,))
    if cur.fetchone()[0] > n:
        return []
    # Indexes of no constraint (the primary key's, a unique constraint's stay out of this list)
    # and that no foreign key refers to.
    cur.execute(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
        (table,),
    )
    indexes = cur.fetchall()
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint u WHERE conrelid = %s::regclass AND contype = 'u' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = u.conindid)",
        (table,),
    )
    uniques = cur.fetchall()
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    )
    keys = cur.fetchall()
    for name, _ in keys + uniques:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in uniques + keys
    ]


def _postgres(session: Session, table: Table, names: list[str], batches, is_update: bool, n: int) -> None:
    from psycopg.copy import QueuedLibpqWriter

    target = table.name
    with _raw(session).cursor() as cur:
        rebuild = [] if is_update else _defer_postgres(cur, table.name, n)
        if is_update:
            # COPY into a scratch copy of the table, then one UPDATE ... FROM it.
            target = f"wangge_stage_{table.name}"
            cur.execute(
                f"CREATE TEMP TABLE {target} ON COMMIT DROP AS SELECT {', '.join(names)} FROM {table.name} WITH NO DATA"
            )
        # A writer thread sends one batch while the next is prepared: the server works meanwhile.
        with cur.copy(f"COPY {target} ({', '.join(names)}) FROM STDIN", writer=QueuedLibpqWriter(cur)) as copy:
            for columns in batches:
                copy.write("\n".join(map("\t".join, zip(*map(_copy_column, columns)))) + "\n")
        for definition in rebuild:
            cur.execute(definition)
        if is_update:
            sets = ", ".join(f"{c} = s.{c}" for c in names if c != "id")
            cur.execute(f"UPDATE {table.name} AS t SET {sets} FROM {target} AS s WHERE t.id = s.id")
            cur.execute(f"DROP TABLE {target}")


def _spatialite(session: Session, table: Table, names: list[str], batches, is_update: bool, n: int) -> None:
    def slot(name: str) -> str:
        return f"GeomFromWKB(?, {SRID})" if _is_geometry(table, name) else "?"

    if is_update:
        sets = ", ".join(f"{c} = {slot(c)}" for c in names if c != "id")
        sql = f"UPDATE {table.name} SET {sets} WHERE id = ?"
    else:
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(slot(c) for c in names)})"
    cur = _raw(session).cursor()
    try:
        deferred = None if is_update or n < SPATIALITE_DEFER_FROM else _spatialite_defer(cur, table.name)
        for columns in batches:
            # An update takes the id last, in its WHERE clause.
            cur.executemany(sql, zip(*columns[1:], columns[0]) if is_update else zip(*columns))
        if deferred:
            _spatialite_restore(cur, table.name, *deferred)
    finally:
        cur.close()


# SpatiaLite runs six triggers per inserted row of a table with two geometry columns (type check,
# a timestamp UPDATE, the R*Tree); a larger load drops the insert triggers inside its transaction,
# does their work once per column, and puts them back before the commit. Other connections never
# see them missing (DDL is transactional) and the geometries written here have the column's type.
SPATIALITE_DEFER_FROM = 5_000
_INSERT_TRIGGERS = ("ggi_", "tmi_", "gii_")


def _spatialite_defer(cur, table: str) -> tuple[int, list[tuple[str, str]]]:
    before = cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    triggers = [
        (name, sql)
        for name, sql in cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
        ).fetchall()
        if name.startswith(_INSERT_TRIGGERS)
    ]
    for name, _ in triggers:
        cur.execute(f'DROP TRIGGER "{name}"')
    return before, triggers


def _spatialite_restore(cur, table: str, before: int, triggers: list[tuple[str, str]]) -> None:
    for name, _ in triggers:
        if name.startswith("gii_"):
            column = name[len(f"gii_{table}_") :]
            # SQLite's R*Tree rounds lower bounds down and upper bounds up: every box holds its row.
            cur.execute(
                f'INSERT INTO "idx_{table}_{column}" (pkid, xmin, xmax, ymin, ymax) SELECT id, MbrMinX("{column}"), MbrMaxX("{column}"), '
                f'MbrMinY("{column}"), MbrMaxY("{column}") FROM {table} WHERE id > ? AND "{column}" IS NOT NULL',
                (before,),
            )
    if any(name.startswith("tmi_") for name, _ in triggers):
        cur.execute(
            "UPDATE geometry_columns_time SET last_insert = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE Lower(f_table_name) = Lower(?)",
            (table,),
        )
    for _, sql in triggers:
        cur.execute(sql)


def _expire(session: Session, table: Table) -> None:
    """Objects of the table already loaded in the session no longer match their rows."""
    for obj in list(session.identity_map.values()):
        mapper = inspect(obj).mapper
        if table in mapper.tables:
            session.expire(obj)


def next_ids(session: Session, table: Table, n: int) -> list[int]:
    """``n`` fresh primary keys for rows written by :func:`insert` that others must refer to."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        with _raw(session).cursor() as cur:
            cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table.name, n))
            return [r[0] for r in cur.fetchall()]
    # SQLite: the transaction holds the write lock from its first write on, and a reader's stale
    # snapshot cannot write at all, so the keys after the largest one are this transaction's.
    cur = _raw(session).cursor()
    try:
        start = cur.execute(f"SELECT coalesce(max(id), 0) FROM {table.name}").fetchone()[0] + 1
    finally:
        cur.close()
    return list(range(start, start + n))
