"""Fixtures: every database test runs on SpatiaLite and on real PostGIS.

PostGIS is reached at ``WANGGE_TEST_POSTGRES_URL`` (``scripts/test.sh`` sets it up, starting a
throwaway server where none runs). It is never skipped: an unreachable PostGIS fails the run.

The tests live in folders that mirror the source (``tests/geo/spatial`` for ``geo/spatial``,
``tests/api``, ``tests/maps``); every folder is a package, so two modules may share a name.
The fixtures every folder shares are here: the databases (``db_url``, ``postgis_url``,
``spatialite_url``, ``engine``, ``session``), the command line (``cli``), the demo (``demo``),
users (``add_token``), the in-process service (``client``), a module's small world
(``world``, ``tokens`` and the simulated ``clock``, from the module's ``world_spec``; see
``tests/support/world.py``) and real servers (``serve_wangge``, with ``api/served.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.served import ServerError, WanggeServer
from geo.access.users import add_user, issue_token
from geo.catalogue.default import load_default
from geo.db import schema
from geo.db.engine import make_engine, normalise_url
from geo.db.session import session_scope
from geo.io.demo import load_demo
from geo.models import Base
from geo.settings import get_settings
from tests.support.world import SimClock, World, WorldSpec, build_world

# The browser tests drive Debian's Chromium (no browser download); one Chromium for the session.
CHROMIUM = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")

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
        # The default catalogue, as the migrations left it (the SpatiaLite template keeps theirs).
        load_default(conn)
        # Bump every revision, as a writer would, so in-memory indexes drop the old rows.
        conn.exec_driver_sql("UPDATE layer_revisions SET revision = revision + 1")


def _fresh_url(request, backend: str, tmp_path) -> str:
    if backend == "spatialite":
        path = tmp_path / "wangge.db"
        shutil.copy(request.getfixturevalue("spatialite_template"), path)
        return f"sqlite:///{path}"
    _truncate_postgis(request.getfixturevalue("postgis_engine"))
    return POSTGRES_URL


def _use_url(url: str, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("WANGGE_DATABASE_URL", url)
    monkeypatch.setenv("WANGGE_MEDIA_DIR", str(tmp_path / "media"))  # each test's photos apart
    monkeypatch.setenv("WANGGE_VECTOR_TILE_CACHE_DIR", str(tmp_path / "tiles"))  # and its kept tiles
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, monkeypatch) -> str:
    """A fresh, migrated database of each kind; WANGGE_DATABASE_URL points at it."""
    yield from _use_url(_fresh_url(request, request.param, tmp_path), monkeypatch, tmp_path)


@pytest.fixture
def postgis_url(request, tmp_path, monkeypatch) -> str:
    """For tests of what only a database server does: a fresh PostGIS database."""
    yield from _use_url(_fresh_url(request, "postgis", tmp_path), monkeypatch, tmp_path)


@pytest.fixture
def spatialite_url(request, tmp_path, monkeypatch) -> str:
    """For tests of what only SQLite does: a fresh SpatiaLite file."""
    yield from _use_url(_fresh_url(request, "spatialite", tmp_path), monkeypatch, tmp_path)


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


# --------------------------------------------------------------------------- worlds, users, the clock


@pytest.fixture
def world_spec() -> WorldSpec:
    """What ``world`` holds: a test module that uses ``world`` overrides this fixture."""
    pytest.fail("a test asks for `world`, but its module has no `world_spec` fixture saying what it holds")


@pytest.fixture
def world(engine, world_spec) -> World:
    """The module's small world (``tests/support/world.py``) in the test database."""
    return build_world(engine, world_spec)


@pytest.fixture
def tokens(world) -> dict[str, str]:
    """The world's users' tokens, by username."""
    return world.token


@pytest.fixture
def clock(world_spec) -> SimClock:
    """The service's simulated clock, at the world's start."""
    return SimClock(world_spec.start)


@pytest.fixture
def demo(engine):
    """The demo community in the test database (its engine)."""
    with session_scope(engine) as s:
        load_demo(s)
    return engine


@pytest.fixture
def add_token(engine):
    """``add_token(username, role, responder_code=None)``: a new user in the test database, and
    a token for it."""

    def add(username: str, role: str, responder_code: str | None = None) -> str:
        with session_scope(engine) as s:
            return issue_token(s, add_user(s, username, role, responder_code=responder_code))

    return add


@pytest.fixture
def client(db_url):
    """The service in-process, on the test database."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    return TestClient(create_app(db_url))


# --------------------------------------------------------------------------- served processes


@pytest.fixture
def serve_wangge():
    """Start real ``wangge serve`` processes: ``serve_wangge(database_url, **env)`` returns the
    base URL once the server answers; every server is stopped after the test. Escalation is off
    (``WANGGE_ESCALATION_INTERVAL_S=0``) unless ``env`` says otherwise; an env value of None
    leaves the variable as it is in this process. ``log=path``: the server's output (its access
    log among it) goes to that file, to be read while it runs."""
    servers: list[WanggeServer] = []
    logs: list = []

    def start(database_url: str, log: Path | None = None, **env: str | None) -> str:
        merged = {"WANGGE_ESCALATION_INTERVAL_S": "0", **env}
        popen = {}
        if log is not None:
            logs.append(open(log, "ab"))  # noqa: SIM115 (closed after the test)
            popen["stdout"] = logs[-1]
        server = WanggeServer(database_url, env={k: v for k, v in merged.items() if v is not None}, **popen)
        servers.append(server)
        try:
            server.wait_ready(timeout_s=60)
        except ServerError as exc:
            pytest.fail(str(exc))
        return server.base

    yield start
    for server in servers:
        server.terminate()
    for server in servers:
        server.stop(timeout_s=15)
    for file in logs:
        file.close()


@pytest.fixture(scope="session")
def browser():
    """Chromium through Playwright, shared by every browser test of the session (a second
    Playwright in the same thread cannot start while the first runs)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (scripts/test.sh installs Debian's chromium as root; or set WANGGE_CHROMIUM)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (Playwright)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()
