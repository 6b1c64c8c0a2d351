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

from geo.db import schema
from geo.db.engine import make_engine, normalise_url
from geo.db.session import session_scope
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
        # incident_history refuses TRUNCATE (a statement trigger): the test user, a superuser,
        # turns triggers off for this one transaction.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # Bump every revision, as a writer would, so in-memory indexes drop the old rows.
        conn.exec_driver_sql("UPDATE layer_revisions SET revision = revision + 1")


def _fresh_url(request, backend: str, tmp_path) -> str:
    if backend == "spatialite":
        path = tmp_path / "wangge.db"
        shutil.copy(request.getfixturevalue("spatialite_template"), path)
        return f"sqlite:///{path}"
    _truncate_postgis(request.getfixturevalue("postgis_engine"))
    return POSTGRES_URL


def _use_url(url: str, monkeypatch):
    monkeypatch.setenv("WANGGE_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, monkeypatch) -> str:
    """A fresh, migrated database of each kind; WANGGE_DATABASE_URL points at it."""
    yield from _use_url(_fresh_url(request, request.param, tmp_path), monkeypatch)


@pytest.fixture
def postgis_url(request, tmp_path, monkeypatch) -> str:
    """For tests of what only a database server does: a fresh PostGIS database."""
    yield from _use_url(_fresh_url(request, "postgis", tmp_path), monkeypatch)


@pytest.fixture
def spatialite_url(request, tmp_path, monkeypatch) -> str:
    """For tests of what only SQLite does: a fresh SpatiaLite file."""
    yield from _use_url(_fresh_url(request, "spatialite", tmp_path), monkeypatch)


@pytest.fixture
def engine(db_url):
    from geo.db.engine import get_engine

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


# --------------------------------------------------------------------------- served processes


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve_wangge():
    """Start real ``wangge serve`` processes: ``serve_wangge(database_url, **env)`` returns the
    base URL once the server answers; every server is stopped after the test."""
    import subprocess
    import sys
    import time

    import httpx

    wangge = Path(sys.executable).with_name("wangge")
    servers = []

    def start(database_url: str, **env: str) -> str:
        port = free_port()
        full_env = {**os.environ, "WANGGE_DATABASE_URL": database_url, "WANGGE_ESCALATION_INTERVAL_S": "0", **env}
        server = subprocess.Popen([str(wangge), "serve", "--port", str(port)], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        servers.append(server)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail("the server stopped: " + server.stdout.read().decode(errors="replace")[-2000:])
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("the server did not start within 60 s")

    yield start
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
