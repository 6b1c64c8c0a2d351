"""The ``wangge`` command line: init, demo, serve, import, export.

The database is named by ``WANGGE_DATABASE_URL`` (default: a SpatiaLite file ``wangge.db``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy import select

from geo.access.users import add_user, issue_token
from geo.db import schema
from geo.db.engine import database_problem, get_engine
from geo.db.session import session_scope
from geo.errors import WanggeError
from geo.incidents.escalation import escalate_overdue
from geo.io.demo import load_demo
from geo.io.export import export_layer
from geo.io.importers import import_layer
from geo.io.read import ImportOptions
from geo.layers import LAYERS
from geo.models import User, utcnow
from geo.settings import get_settings

app = typer.Typer(
    help="wangge: a GIS service for community grid governance (网格化管理).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# The CLI's layer choices are the registry's layers.
Layer = StrEnum("Layer", {name: name for name in LAYERS})  # type: ignore[misc]  # members known only at run time


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _engine():
    return get_engine()


def _ready_engine():
    """The configured engine, with its schema brought up to date."""
    engine = _engine()
    schema.upgrade(engine)
    return engine


@app.command()
def init() -> None:
    """Create the database, or upgrade it to the newest schema."""
    engine = _ready_engine()
    typer.echo(f"database {get_settings().database_url} is at schema revision {schema.current_revision(engine)}")


@app.command()
def demo(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Load the demo community 翠湖社区 (synthetic data); does nothing if it is already loaded."""
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            reports = load_demo(session, progress=not quiet)
    except WanggeError as exc:
        _fail(str(exc))
    if not reports:
        typer.echo("the demo community is already loaded")
        return
    for report in reports:
        for line in report.lines():
            typer.echo(line)


def _check_database_reachable() -> None:
    """One clear line and a non-zero exit when the database cannot be reached, not a traceback."""
    engine = _engine()
    problem = database_problem(engine)
    if problem is not None:
        _fail(f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: {problem}", code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API (/api/v1, docs at /docs) and the maps."""
    # Here, not at the top: only this command needs the server, and the others start without it.
    import uvicorn

    _check_database_reachable()
    _ready_engine()
    typer.echo(f"serving on http://{host}:{port}/  (API docs at /docs)")
    uvicorn.run("api.app:create_served_app", factory=True, host=host, port=port, workers=workers, log_level="info")


def _parse_field_options(values: list[str]) -> dict[str, str]:
    mapping = {}
    for value in values:
        target, sep, source = value.partition("=")
        if not sep or not target.strip() or not source.strip():
            _fail(f"--field takes WANGGE_FIELD=FILE_COLUMN, got {value!r}")
        mapping[target.strip()] = source.strip()
    return mapping


@app.command("import")
def import_(
    layer: Annotated[Layer, typer.Argument(help="Which layer the file holds.")],
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile, FlatGeobuf or CSV.")],
    code_field: Annotated[
        str | None, typer.Option(help="Column holding the code (grids, buildings, responders, incidents).")
    ] = None,
    name_field: Annotated[str | None, typer.Option(help="Column holding the name.")] = None,
    lon_field: Annotated[str | None, typer.Option(help="CSV: column holding longitude.")] = None,
    lat_field: Annotated[str | None, typer.Option(help="CSV: column holding latitude.")] = None,
    field: Annotated[
        list[str], typer.Option("--field", help="Map any field: WANGGE_FIELD=FILE_COLUMN (repeatable).")
    ] = [],  # noqa: B006  typer reads this default and never changes it
    crs: Annotated[
        str | None,
        typer.Option(
            help="Coordinate system of the file when it does not say (or says wrong): wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn."
        ),
    ] = None,
    role: Annotated[
        str | None, typer.Option(help="Responders: role for rows without a role column (e.g. grid_worker, police).")
    ] = None,
    community: Annotated[
        str | None,
        typer.Option(
            help="Grids/estates: 12-digit code of the community they belong to; grids without a code field are numbered in it."
        ),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Update rows whose code already exists instead of refusing.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import a file into a layer. All or nothing: on any problem nothing is written."""
    mapping = _parse_field_options(field)
    if code_field:
        mapping["code"] = code_field
    if name_field:
        mapping["name"] = name_field
    options = ImportOptions(
        crs=crs,
        fields=mapping,
        lon_field=lon_field,
        lat_field=lat_field,
        role=role,
        community=community,
        replace=replace,
        progress=not quiet,
    )
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            report = import_layer(session, layer.value, file, options)
    except WanggeError as exc:
        _fail(str(exc))
    for line in report.lines():
        typer.echo(line)


@app.command()
def export(
    layer: Annotated[Layer, typer.Argument(help="Which layer to write.")],
    file: Annotated[
        Path, typer.Argument(help="Output file; the format follows its suffix (.geojson, .gpkg, .shp, .fgb, .csv).")
    ],
    crs: Annotated[
        str | None,
        typer.Option(help="Coordinate system to write: wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn."),
    ] = None,
) -> None:
    """Write a layer to a file."""
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            count = export_layer(session, layer.value, file, crs=crs)
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"{layer.value}: {count} rows written to {file}")


user_app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, community, grid_leader, grid_worker, planner or viewer.")],
    responder: Annotated[
        str | None,
        typer.Option(
            help="Code of the responder this user acts for (needed by grid leaders and workers: their grids are the responder's)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Add a user and print a bearer token for it (shown once; only its hash is stored)."""
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            user = add_user(session, username, role, responder_code=responder, display_name=name)
            token = issue_token(session, user, label="created by wangge user add")
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"user {username} ({role}) added. Token (keep it secret, it is not shown again):")
    typer.echo(token)


@user_app.command("token")
def user_token(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Issue another token for an existing user."""
    engine = _ready_engine()
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            _fail(f"no user {username!r}")
        typer.echo(issue_token(session, user, label="created by wangge user token"))


@app.command()
def escalate() -> None:
    """Flag overdue incidents and escalate them (the server also does this every minute)."""
    engine = _ready_engine()
    with session_scope(engine, write=True) as session:
        entries = escalate_overdue(session, utcnow())
    typer.echo(f"{len(entries)} incident(s) escalated")


def main() -> None:
    app(prog_name="wangge")


if __name__ == "__main__":  # pragma: no cover
    main()
