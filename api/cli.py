"""The ``wangge`` command line: init, demo, serve, import, export, users, escalation, patrols, tiles, catalogue.

The database is named by ``WANGGE_DATABASE_URL`` (default: a SpatiaLite file ``wangge.db``).
"""

from __future__ import annotations

import getpass
import sys
import unicodedata
from collections.abc import Sequence
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from geo.access.audit import last_sign_ins
from geo.access.passwords import check_password_policy
from geo.access.users import (
    add_user,
    disable_user,
    get_user,
    issue_token,
    list_users,
    set_password,
    temporary_password,
)
from geo.catalogue import export_catalogue, import_catalogue, list_versions
from geo.db import schema
from geo.db.engine import database_problem, get_engine
from geo.db.session import session_scope
from geo.errors import InputError, WanggeError
from geo.incidents.escalation import escalate_overdue
from geo.indicators.rollup import prepare
from geo.io.demo import DEMO_ACCOUNTS, load_demo
from geo.io.export import export_layer
from geo.io.gpx import is_gpx_path
from geo.io.importers import import_layer
from geo.io.patrols import export_patrols, import_patrols
from geo.io.read import ImportOptions
from geo.layers import LAYERS
from geo.models import User, utcnow
from geo.patrols.service import purge_expired
from geo.settings import get_settings
from geo.timezones import CHINA_TIME

app = typer.Typer(
    help="wangge: a GIS service for community grid governance (网格化管理).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# The CLI's layer choices are the registry's layers.
Layer = StrEnum("Layer", {name: name for name in LAYERS})  # type: ignore[misc]  # members known only at run time
PATROLS = "patrols"  # imported from and exported to GPX, through the patrol service


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
        typer.echo("the demo community is already loaded (its accounts are listed in README.md)")
        return
    for report in reports:
        for line in report.lines():
            typer.echo(line)
    _echo_demo_accounts()


def _echo_demo_accounts() -> None:
    typer.echo("")
    typer.echo("demo accounts (sign in at /login; change or disable them before real use):")
    _echo_table(
        ("username", "role", "password", "grid"),
        [(a.username, a.role, a.password, a.grid or "all") for a in DEMO_ACCOUNTS],
    )


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
    uvicorn.run(
        "api.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # Longer than clients keep an idle connection (httpx and many phone stacks: 5 s), so the
        # server never closes one just as a client sends on it (the client would see it dropped).
        timeout_keep_alive=get_settings().keep_alive_s,
    )


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
    file: Annotated[
        Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile, FlatGeobuf, CSV or XLSX; GPX for patrols.")
    ],
    code_field: Annotated[
        str | None, typer.Option(help="Column holding the code (grids, buildings, responders, components, incidents).")
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
    responder: Annotated[
        str | None, typer.Option(help="Patrols: code of the worker who walked the GPX file's tracks.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import a file into a layer. All or nothing: on any problem nothing is written.

    Patrols come from a GPX file: each track becomes one ended patrol of the --responder."""
    if layer.value == PATROLS:
        if field or code_field or name_field or lon_field or lat_field or role or community or replace:
            _fail("patrols take only --responder, --crs and the GPX file; the other options are for other layers")
        _import_patrols(file, responder, crs)
        return
    if responder is not None:
        _fail("--responder is for patrols (the worker who walked the tracks)")
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
        Path,
        typer.Argument(help="Output file; the format follows its suffix (.geojson, .gpkg, .shp, .fgb, .csv, .xlsx)."),
    ],
    crs: Annotated[
        str | None,
        typer.Option(help="Coordinate system to write: wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn."),
    ] = None,
    responder: Annotated[
        str | None, typer.Option(help="Patrols to GPX: only this worker's patrols (their code).")
    ] = None,
    day: Annotated[
        str | None,
        typer.Option("--date", help="Patrols to GPX: only the patrols begun on this day (YYYY-MM-DD, China date)."),
    ] = None,
) -> None:
    """Write a layer to a file.

    Patrols written to a .gpx file are their raw fixes, one track per patrol named by its code."""
    if layer.value == PATROLS and is_gpx_path(file):
        if crs is not None:
            _fail("GPX is WGS84 by its standard: --crs does not apply")
        _export_patrols(file, responder, _parse_day(day))
        return
    if responder is not None or day is not None:
        _fail("--responder and --date choose the patrols written to a .gpx file")
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            count = export_layer(session, layer.value, file, crs=crs)
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"{layer.value}: {count} rows written to {file}")


def _import_patrols(file: Path, responder: str | None, crs: str | None) -> None:
    if responder is None:
        _fail("patrols: name the worker who walked the tracks with --responder CODE")
    engine = _ready_engine()
    try:
        with session_scope(engine, write=True) as session:
            report = import_patrols(session, file, responder, utcnow(), crs=crs)
            lines = report.lines(session)
    except WanggeError as exc:
        _fail(str(exc))
    for line in lines:
        typer.echo(line)


def _export_patrols(file: Path, responder: str | None, day: date | None) -> None:
    engine = _ready_engine()
    try:
        with session_scope(engine, write=True) as session:
            done = export_patrols(session, file, _operator(), utcnow(), responder_code=responder, day=day)
    except WanggeError as exc:
        _fail(str(exc))
    gone = f"; {done.purged} more were purged and have no fixes left" if done.purged else ""
    if done.patrols:
        typer.echo(f"patrols: {done.patrols} patrol(s), {done.fixes} fixes written to {file}{gone}")
    else:
        typer.echo(f"patrols: no patrol with fixes matched, {file} not written{gone}")


def _operator() -> str:
    """Who runs the command, for the audit log: the login of the shell."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (a container without USER)
        return "cli"


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--date {value!r}: give a day as YYYY-MM-DD")


patrols_app = typer.Typer(help="Patrols: their raw fixes and tracks.", no_args_is_help=True)
app.add_typer(patrols_app, name="patrols")


@patrols_app.command("purge")
def patrols_purge() -> None:
    """Delete the raw fixes, tracks and visits of patrols past the retention period
    (WANGGE_PATROL_RETENTION_DAYS), keeping the daily coverage figures (the server also does this)."""
    engine = _ready_engine()
    now = utcnow()
    with session_scope(engine, write=True) as session:
        purged = purge_expired(session, now)
    days = get_settings().patrol_retention_days
    before = now.astimezone(CHINA_TIME).date() - timedelta(days=days)
    typer.echo(
        f"{purged} patrol(s) begun before {before.isoformat()} (retention {days} days) purged: their raw fixes, "
        "tracks and visits are deleted; the daily coverage figures are kept"
    )


tiles_app = typer.Typer(
    help="Vector tiles: the tile cache (SpatiaLite keeps built tiles on disk).", no_args_is_help=True
)
app.add_typer(tiles_app, name="tiles")


@tiles_app.command("build")
def tiles_build(
    collections: Annotated[
        str, typer.Option(help="Comma-separated layers of one tile, as the maps ask for them")
    ] = "grids,estates,buildings",
    minzoom: Annotated[
        int | None, typer.Option(help="From this zoom (default: the lowest the layers are drawn at)")
    ] = None,
    maxzoom: Annotated[int, typer.Option(help="Up to this zoom")] = 16,
    crs: Annotated[str, typer.Option(help="wgs84, or gcj02 for maps over Amap's basemaps")] = "wgs84",
) -> None:
    """Build the vector tiles of the layers' extent into the tile cache
    (WANGGE_VECTOR_TILE_CACHE_DIR), and remove tiles of older revisions of the same layers."""
    from geo.spatial.crs import parse_crs
    from geo.tiles.cache import build_tiles, keepable, tiles_to_build
    from geo.tiles.layers import tile_layers
    from geo.tiles.matrix import MAX_ZOOM
    from geo.tiles.service import tile_crs

    engine = _ready_engine()
    try:
        layers = tile_layers(collections)
        coords = tile_crs(parse_crs(crs))
    except WanggeError as exc:
        _fail(str(exc))
    if not keepable(layers):
        _fail("incidents' tiles change with the clock (they turn overdue) and are never kept: leave them out")
    if not 0 <= (minzoom or 0) <= maxzoom <= MAX_ZOOM:
        _fail(f"--minzoom and --maxzoom: 0 <= minzoom <= maxzoom <= {MAX_ZOOM}")
    with session_scope(engine) as session:
        tiles = list(tiles_to_build(session, layers, minzoom, maxzoom))
    built, empty = build_tiles(engine, layers, tiles, utcnow(), coords)
    names = ",".join(layer.name for layer in layers)
    typer.echo(
        f"{built} tiles of {names} ({coords.name}) in {get_settings().vector_tile_cache_dir}, {empty} of them empty"
    )


catalogue_app = typer.Typer(
    help="The catalogue (立结案标准, GB/T 30428): sub-categories, time limits, versions.", no_args_is_help=True
)
app.add_typer(catalogue_app, name="catalogue")


def _parse_replace_options(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip():
            _fail(f"--replace takes OLD_CATEGORY=NEW_CATEGORY, got {value!r}")
        if old.strip() in mapping:
            _fail(f"--replace {old.strip()} is given twice")
        mapping[old.strip()] = new.strip()
    return mapping


@catalogue_app.command("import")
def catalogue_import(
    file: Annotated[Path, typer.Argument(help="The table as CSV or XLSX, one row per 立案条件.")],
    replace: Annotated[
        list[str],
        typer.Option(
            "--replace",
            help="OLD=NEW: incidents of sub-category OLD, which the file drops, take NEW (repeatable).",
        ),
    ] = [],  # noqa: B006  typer reads this default and never changes it
    field: Annotated[
        list[str], typer.Option("--field", help="Map a field to a column: FIELD=FILE_COLUMN (repeatable).")
    ] = [],  # noqa: B006
    name: Annotated[str | None, typer.Option(help="The version's name (default: the file's name).")] = None,
) -> None:
    """Import a catalogue as a new version, which becomes the current one. All or nothing."""
    mapping = _parse_field_options(field)
    replacing = _parse_replace_options(replace)
    engine = _ready_engine()
    try:
        with session_scope(engine, write=True) as session:
            report = import_catalogue(
                session, file, fields=mapping, replace=replacing, imported_by=_operator(), name=name
            )
    except WanggeError as exc:
        _fail(str(exc))
    for line in report.lines():
        typer.echo(line)


@catalogue_app.command("export")
def catalogue_export(
    file: Annotated[Path, typer.Argument(help="Output file, .csv or .xlsx.")],
    version: Annotated[int | None, typer.Option(help="The version's number (default: the current one).")] = None,
) -> None:
    """Write a catalogue version in the format it is imported in."""
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            number, count = export_catalogue(session, file, version)
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"catalogue version {number}: {count} 立案条件 written to {file}")


@catalogue_app.command("list")
def catalogue_list() -> None:
    """The catalogue's versions, the current one marked with *."""
    engine = _ready_engine()
    with session_scope(engine) as session:
        for v in list_versions(session):
            when = v.imported_at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")
            mark = "*" if v.is_current else " "
            replaced = f"  replaced {v.replaced}" if v.replaced else ""
            typer.echo(f"{mark} {v.number:>3}  {when}  {v.name}  ({v.source}, by {v.imported_by}){replaced}")


user_app = typer.Typer(help="Users: accounts, passwords and API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (else a temporary one is made and printed).",
    ),
]


def _password_from_stdin() -> str:
    # One line, as `echo "$PW" | wangge user ...` sends it; the newline is not part of it.
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        _fail("--password-stdin: standard input had no password (send it as one line)")
    return line


def _choose_password(username: str, from_stdin: bool) -> tuple[str, bool]:
    """(password, temporary): from stdin and checked now, or a random temporary one."""
    if not from_stdin:
        return temporary_password(username), True
    password = _password_from_stdin()
    try:
        check_password_policy(username, password)
    except InputError as exc:
        _fail(f"the password is refused: {exc}")
    return password, False


def _echo_temporary(username: str, password: str) -> None:
    typer.echo(f"temporary password for {username} (shown once; it must be changed at the first sign-in):")
    typer.echo(password)


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
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user with a password (from stdin, or a temporary one printed once) and print a
    bearer token for machine clients (shown once; only its hash is stored)."""
    password, temporary = _choose_password(username, password_stdin)
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            user = add_user(
                session,
                username,
                role,
                responder_code=responder,
                display_name=name,
                password=password,
                temporary=temporary,
            )
            token = issue_token(session, user, label="created by wangge user add")
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"user {username} ({role}) added.")
    if temporary:
        _echo_temporary(username, password)
    typer.echo("API token for machine clients (keep it secret, it is not shown again):")
    typer.echo(token)


@user_app.command("password")
def user_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's password (from stdin, or a temporary one printed once); ends their web
    sessions and signed-in tokens (their API tokens keep working)."""
    password, temporary = _choose_password(username, password_stdin)
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            set_password(session, get_user(session, username), password, temporary=temporary)
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"password of {username} changed; their web sessions have ended.")
    if temporary:
        _echo_temporary(username, password)


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable a user: no more sign-ins, and every token of theirs stops working."""
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            disable_user(session, username)
    except WanggeError as exc:
        _fail(str(exc))
    typer.echo(f"user {username} disabled; every token of theirs is revoked.")


@user_app.command("list")
def user_list() -> None:
    """Every user: role, responder, whether active, password state and last sign-in."""
    engine = _ready_engine()
    with session_scope(engine) as session:
        users = list_users(session)
        last = last_sign_ins(session)
        rows = [
            (
                u.username,
                u.role,
                u.responder.code if u.responder else "-",
                "yes" if u.active else "no",
                _password_state(u),
                last[u.username].astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if u.username in last else "never",
            )
            for u in users
        ]
    _echo_table(("username", "role", "responder", "active", "password", "last sign-in"), rows)


def _echo_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(_width(v) for v in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        typer.echo("  ".join(v + " " * (w - _width(v)) for v, w in zip(row, widths, strict=True)).rstrip())


def _password_state(user: User) -> str:
    if user.password_hash is None:
        return "none (tokens only)"
    return "must change" if user.must_change_password else "set"


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@user_app.command("token")
def user_token(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Issue another API token for an existing user."""
    engine = _ready_engine()
    try:
        with session_scope(engine) as session:
            typer.echo(issue_token(session, get_user(session, username), label="created by wangge user token"))
    except WanggeError as exc:
        _fail(str(exc))


@app.command()
def escalate() -> None:
    """Flag overdue incidents and escalate them (the server also does this every minute)."""
    engine = _ready_engine()
    with session_scope(engine, write=True) as session:
        entries = escalate_overdue(session, utcnow())
    typer.echo(f"{len(entries)} incident(s) escalated")


indicators_app = typer.Typer(help="Indicators (GB/T 30428.4): their rollup of the timeline.", no_args_is_help=True)
app.add_typer(indicators_app, name="indicators")


@indicators_app.command("rollup")
def indicators_rollup(
    months: Annotated[int, typer.Option(min=0, max=120, help="Whole months before this one to roll up.")] = 13,
) -> None:
    """Roll up the timeline of the last whole months and of this month's past days now, so that
    the first question about them (a dashboard's) does not wait for it."""
    engine = _ready_engine()
    with session_scope(engine) as session:
        built = prepare(session, utcnow(), months)
    typer.echo(f"rolled up: {len(built.months)} month(s), {len(built.days)} day(s)")


def main() -> None:
    app(prog_name="wangge")


if __name__ == "__main__":  # pragma: no cover
    main()
