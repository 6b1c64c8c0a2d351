"""Engines and the one seam where SpatiaLite and PostGIS differ.

Everything dialect-specific lives in :class:`SpatialBackend` subclasses; callers ask
``backend_for(session)`` and never branch on the dialect themselves.
"""

from __future__ import annotations

import os
from functools import lru_cache

# GDAL (inside pyogrio and rasterio, each with its own copy) must be loaded before the first
# SpatiaLite connection loads mod_spatialite: loaded the other way round, its SQLite driver
# binds to the system libsqlite3 that mod_spatialite pulls in, and reading a GeoPackage or
# rasterising the grids then crashes the process.
import pyogrio  # noqa: F401  (imported for its side effect on symbol binding)
import rasterio  # noqa: F401  (likewise)
from sqlalchemy import Engine, Integer, create_engine, event, func, literal_column, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from geo.settings import get_settings

# Debian's mod_spatialite is found by the dynamic loader under this name.
os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")


def _sqlite_dbapi():
    """The sqlite3 module to use: one that can load extensions.

    Some CPython builds (pyenv's among them) ship sqlite3 without
    ``enable_load_extension``; pysqlite3 always has it.
    """
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import pysqlite3.dbapi2 as pysqlite3
    except ImportError as exc:  # pragma: no cover - depends on the platform
        raise RuntimeError("This Python's sqlite3 cannot load extensions; install pysqlite3-binary") from exc
    return pysqlite3


def normalise_url(url: str) -> str:
    """Map the user-facing URL to the driver wangge uses."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _on_sqlite_connect(dbapi_conn, _record) -> None:
    from geoalchemy2.admin.dialects.sqlite import init_spatialite, load_spatialite_driver

    load_spatialite_driver(dbapi_conn)
    dbapi_conn.execute("PRAGMA foreign_keys = ON")
    dbapi_conn.execute("PRAGMA journal_mode = WAL")
    # Other processes' writers are waited for this long (this process's queue in the API first).
    dbapi_conn.execute(f"PRAGMA busy_timeout = {int(get_settings().db_wait_timeout_s * 1000)}")
    # WGS84 mode loads only the WGS84-related SRIDs: a new file is ready in well under a second.
    init_spatialite(dbapi_conn, transaction=True, init_mode="WGS84")


def _pool_options() -> dict:
    """Pool sized from the number of requests the API lets at the database at once, plus
    headroom for brief reads outside that queue (index revision checks), so a request that
    has its turn never waits for a connection."""
    settings = get_settings()
    # Kept open: the turns, SQLite's writer, and a few brief reads outside the queue (index
    # revision checks, readiness, background jobs). A connection opened past the pool is closed
    # again on return, and opening one (SpatiaLite's start-up) costs more than most requests.
    return {
        "pool_size": settings.db_pool_size + 4,
        "max_overflow": settings.db_pool_size + 4,
        "pool_timeout": settings.db_wait_timeout_s,
    }


def make_engine(url: str | None = None) -> Engine:
    url = normalise_url(url or get_settings().database_url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            directory = os.path.dirname(os.path.abspath(parsed.database))
            os.makedirs(directory, exist_ok=True)
        memory = not parsed.database or parsed.database == ":memory:"
        engine = create_engine(url, module=_sqlite_dbapi(), **({} if memory else _pool_options()))
        event.listen(engine, "connect", _on_sqlite_connect)
        # Let SQLAlchemy own transactions (pysqlite's implicit BEGIN breaks SAVEPOINTs).
        event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # pre-ping: after the database restarts, stale connections are replaced, not handed out.
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5}, **_pool_options())
    raise ValueError(f"Unsupported database URL {url!r}: use sqlite:///PATH (SpatiaLite) or postgresql://... (PostGIS)")


def _sqlite_begin(conn) -> None:
    # A unit of work that will write takes SQLite's write lock when it begins (it waits its turn,
    # up to busy_timeout). Begun as a reader, it would read a snapshot, and when another writer
    # committed first, its own write would fail with "database is locked" instead of seeing the
    # other change (a stale ETag, a version check) the way PostGIS does.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("wangge_write") else "BEGIN")


@lru_cache
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(url: str | None = None) -> Engine:
    return _engine_for(normalise_url(url or get_settings().database_url))


def error_line(exc: BaseException) -> str:
    """The first line of what the database driver said (for logs and one-line messages)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def database_problem(engine: Engine) -> str | None:
    """None when the database answers a trivial query; else why it does not, in one line."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except (SQLAlchemyError, OSError) as exc:
        return error_line(exc)
    return None


# --------------------------------------------------------------------------- the seam


class SpatialBackend:
    """What differs between SpatiaLite and PostGIS, and nothing else."""

    name: str

    def bbox_filter(self, column, table_name: str, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
        """A WHERE clause selecting rows whose geometry's envelope meets ``bbox``, via the spatial index."""
        raise NotImplementedError

    def spatial_index_exists(self, session: Session, table: str, column: str) -> bool:
        raise NotImplementedError

    def extent(self, column) -> tuple[ColumnElement[float], ...]:
        """Aggregates giving the min x, min y, max x, max y of ``column``'s geometries."""
        raise NotImplementedError

    def bounds(self, column) -> tuple[ColumnElement[float], ...]:
        """A geometry's west, south, east and north (to aggregate into a layer's extent)."""
        raise NotImplementedError


class PostGISBackend(SpatialBackend):
    name = "postgis"

    def bbox_filter(self, column, table_name, bbox):
        from geoalchemy2 import functions as gf

        return column.op("&&")(gf.ST_MakeEnvelope(*bbox, 4326))

    def extent(self, column):
        box = func.ST_Extent(column)
        return func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box)

    def spatial_index_exists(self, session, table, column):
        sql = text(
            "SELECT count(*) FROM pg_indexes WHERE tablename = :t AND indexdef ILIKE '%USING gist%' "
            "AND indexdef ILIKE :c"
        )
        return session.execute(sql, {"t": table, "c": f"%({column})%"}).scalar_one() > 0

    def bounds(self, column):
        return func.ST_XMin(column), func.ST_YMin(column), func.ST_XMax(column), func.ST_YMax(column)


class SpatiaLiteBackend(SpatialBackend):
    name = "spatialite"

    def bbox_filter(self, column, table_name, bbox):
        # SpatiaLite only uses its R*Tree through the SpatialIndex virtual table.
        minx, miny, maxx, maxy = bbox
        rowid_col = column.table.c.id
        sub = text(
            "SELECT rowid FROM SpatialIndex WHERE f_table_name = :_t AND f_geometry_column = :_c "
            "AND search_frame = BuildMbr(:_x0, :_y0, :_x1, :_y1, 4326)"
        ).bindparams(_t=table_name, _c=column.name, _x0=minx, _y0=miny, _x1=maxx, _y1=maxy)
        return rowid_col.in_(sub.columns(literal_column("rowid", Integer)))

    def extent(self, column):
        return (
            func.min(func.MbrMinX(column)),
            func.min(func.MbrMinY(column)),
            func.max(func.MbrMaxX(column)),
            func.max(func.MbrMaxY(column)),
        )

    def spatial_index_exists(self, session, table, column):
        sql = text(
            "SELECT spatial_index_enabled FROM geometry_columns WHERE f_table_name = :t AND f_geometry_column = :c"
        )
        return bool(session.execute(sql, {"t": table, "c": column}).scalar())

    def bounds(self, column):
        return func.ST_MinX(column), func.ST_MinY(column), func.ST_MaxX(column), func.ST_MaxY(column)


_BACKENDS = {"postgresql": PostGISBackend(), "sqlite": SpatiaLiteBackend()}


def backend_for(bind) -> SpatialBackend:
    """The backend for an engine, connection or session."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return _BACKENDS[bind.dialect.name]
