"""The FastAPI application factory: routers, error handling, request size limit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routes import incidents, layers, locate, maps, responders, stats
from geo.db import get_engine, session_scope
from geo.errors import Conflict, InputError, NotAuthenticated, NotFound, PermissionDenied, StaleVersion, WanggeError
from geo.models import utcnow
from geo.settings import get_settings

log = logging.getLogger("wangge")

API_PREFIX = "/api/v1"


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"] if p not in ("query", "body", "path"))
    if error["type"] == "missing":
        return f"{where} is required"
    if error["type"] == "json_invalid":
        return f"The body is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')} at character {error['loc'][-1]})"
    given = error.get("input")
    shown = f" (got {given!r})" if isinstance(given, (str, int, float)) and not isinstance(given, bool) else ""
    return f"{where}: {error['msg']}{shown}"


class BodyLimit:
    """Refuse request bodies over the limit with 413, before reading them into memory."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"detail": _too_large(self.max_bytes)}, status_code=413)
        await response(scope, receive, send)


def _too_large(max_bytes: int) -> str:
    limit = f"{max_bytes / (1024 * 1024):.0f} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes:,} bytes"
    return f"The request body is larger than {limit}; send fewer points per request"


class _TooLarge(StarletteHTTPException):
    """A body found too large while it is read (no Content-Length). An HTTPException, so that
    FastAPI passes it on as this 413 rather than as "There was an error parsing the body"."""

    def __init__(self, max_bytes: int):
        super().__init__(413, _too_large(max_bytes))


STATUS = [(NotFound, 404), (Conflict, 409), (InputError, 422), (PermissionDenied, 403), (NotAuthenticated, 401)]


async def _escalate_every(app: FastAPI, seconds: float) -> None:
    """Flag and escalate overdue incidents in the background while the server runs."""
    from fastapi.concurrency import run_in_threadpool

    from geo.workflow import escalate_overdue

    def once() -> int:
        with session_scope(app.state.engine, write=True) as session:
            return len(escalate_overdue(session, app.state.clock()))

    while True:
        await asyncio.sleep(seconds)
        try:
            count = await run_in_threadpool(once)
            if count:
                log.info("escalated %d overdue incident(s)", count)
        except Exception:  # keep escalating on the next round; the error is in the log
            log.exception("escalation round failed")


def _warm_indexes(engine) -> None:
    """Build the in-memory indexes and grid cards the lookups use, so that the first requests
    do not wait for them."""
    from geo.cards import make_all_grid_cards
    from geo.locate import grid_index
    from geo.responders import responder_index

    try:
        with session_scope(engine) as session:
            grid_index(session)
            responder_index(session)
            make_all_grid_cards(session)
    except Exception:  # a database without tables yet: the first lookup builds them instead
        log.exception("could not build the lookup indexes at start-up")
        return
    # They are hundreds of thousands of long-lived objects: keep the cyclic collector from
    # walking them again on every full collection for as long as the server runs.
    gc.collect()
    gc.freeze()


def create_app(database_url: str | None = None, escalate_every_s: float | None = None, warm_indexes: bool = False) -> FastAPI:
    interval = get_settings().escalation_interval_s if escalate_every_s is None else escalate_every_s

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from fastapi.concurrency import run_in_threadpool

        tasks = []
        if interval > 0:
            tasks.append(asyncio.create_task(_escalate_every(app, interval)))
        if warm_indexes:  # in the background: the server answers (health, docs) meanwhile
            tasks.append(asyncio.create_task(run_in_threadpool(_warm_indexes, app.state.engine)))
        yield
        for task in tasks:
            task.cancel()

    app = FastAPI(
        lifespan=lifespan,
        title="wangge",
        summary="Community grid governance GIS: which grid covers a coordinate, who is nearest, geotagged incidents.",
        version="0.1.0",
        description=(
            "Coordinates are WGS84 longitude/latitude unless `crs` says otherwise: `cgcs2000`, "
            "`gcj02` (Amap, Tencent) or `bd09` (Baidu). Errors come as JSON `{\"detail\": message}`."
        ),
    )
    app.state.engine = get_engine(database_url)
    app.state.clock = utcnow

    @app.exception_handler(WanggeError)
    async def _wangge_error(request: Request, exc: WanggeError):
        if isinstance(exc, StaleVersion):
            return JSONResponse({"detail": str(exc)}, status_code=428 if exc.precondition_required else 412)
        status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
        if status == 403 and not request.headers.get("authorization", "").lower().startswith("bearer "):
            status = 401  # refused to the public (no token): signing in is what would help
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(StaleDataError)
    async def _stale(_request: Request, _exc: StaleDataError):
        # Another writer committed between our read and our write: nothing of ours was saved.
        return JSONResponse({"detail": "The incident was changed by someone else at the same moment; read it again and retry"}, status_code=412)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return JSONResponse(
            {"detail": "; ".join(dict.fromkeys(_describe(e) for e in errors)), "errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]},
            status_code=422,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, exc: IntegrityError):
        # A race the checks could not see (two writers at once), or a row still referenced.
        return JSONResponse({"detail": "The change conflicts with other data (a duplicate code, or a feature still in use)"}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "No such resource: see /docs for the API"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.get(f"{API_PREFIX}/health", tags=["Service"], summary="Liveness: answers without touching the database")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # The hot lookups first: routes are matched in order, and every route passed costs time.
    app.include_router(responders.router, prefix=API_PREFIX)
    app.include_router(locate.router, prefix=API_PREFIX)
    maps.install(app, API_PREFIX)  # the start page, the maps and their assets; before /incidents/{id}
    app.include_router(incidents.router, prefix=API_PREFIX)
    app.include_router(incidents.escalations, prefix=API_PREFIX)
    app.include_router(stats.router, prefix=API_PREFIX)
    for name in layers.TITLES:
        app.include_router(layers.layer_router(name, writable=name != "communities"), prefix=API_PREFIX)
    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    return app


def create_served_app() -> FastAPI:
    """The application ``wangge serve`` runs: it builds its lookup indexes as it starts."""
    return create_app(warm_indexes=True)
