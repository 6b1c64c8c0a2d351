"""Fixtures: every database test runs on SpatiaLite and on real PostGIS.

PostGIS is reached at ``WANGGE_TEST_POSTGRES_URL`` (``scripts/test.sh`` sets it up, starting a
throwaway server where none runs). It is never skipped: an unreachable PostGIS fails the run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo import schema
from geo.db import make_engine, normalise_url, session_scope
from geo.models import Base
from geo.settings import get_settings

POSTGRES_URL = os.environ.get("WANGGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/wangge_test")
BACKENDS = ["spatialite", "postgis"]


def _ensure_postgres_database(url: str) -> None:
    parsed = make_url(normalise_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": parsed.database}).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    except Exception as exc:  # make the cause plain: this is a set-up problem, not a test failure
        pytest.exit(f"PostGIS tests need PostgreSQL at {url}: {exc}. Run scripts/test.sh.", returncode=3)
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def spatialite_template(tmp_path_factory) -> Path:
    """A migrated, empty SpatiaLite file that each test copies (migrating takes a while)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgis_engine():
    _ensure_postgres_database(POSTGRES_URL)
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    schema.upgrade(engine)
    yield engine
    engine.dispose()


def _truncate_postgis(engine) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "layer_revisions")
    with engine.begin() as conn:
        # TRUNCATE skips the row triggers that keep incident_history append-only.
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # Bump every revision, as a writer would, so in-memory indexes drop the old rows.
        conn.exec_driver_sql("UPDATE layer_revisions SET revision = revision + 1")


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, monkeypatch) -> str:
    """A fresh, migrated database of each kind; WANGGE_DATABASE_URL points at it."""
    if request.param == "spatialite":
        path = tmp_path / "wangge.db"
        shutil.copy(request.getfixturevalue("spatialite_template"), path)
        url = f"sqlite:///{path}"
    else:
        engine = request.getfixturevalue("postgis_engine")
        _truncate_postgis(engine)
        url = POSTGRES_URL
    monkeypatch.setenv("WANGGE_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def engine(db_url):
    from geo.db import get_engine

    return get_engine(db_url)


@pytest.fixture
def session(engine):
    with session_scope(engine) as s:
        yield s


@pytest.fixture(scope="session")
def naturalearth_path() -> Path:
    """177 published country polygons with islands and holes, shipped inside pyogrio's wheel."""
    import pyogrio

    path = Path(pyogrio.__file__).parent / "tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp"
    assert path.exists(), f"pyogrio no longer ships {path}"
    return path


@pytest.fixture
def cli(db_url):
    """Run the wangge command line in-process against the test database."""
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run
