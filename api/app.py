"""The FastAPI application factory: routers, error handling, request size limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routes import incidents, layers, locate, responders, stats
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
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        limit_mb = self.max_bytes / (1024 * 1024)
        response = JSONResponse(
            {"detail": f"The request body is larger than {limit_mb:.0f} MB; send fewer points per request"}, status_code=413
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


STATUS = [(NotFound, 404), (Conflict, 409), (InputError, 422), (PermissionDenied, 403), (NotAuthenticated, 401)]


async def _escalate_every(app: FastAPI, seconds: float) -> None:
    """Flag and escalate overdue incidents in the background while the server runs."""
    from fastapi.concurrency import run_in_threadpool

    from geo.workflow import escalate_overdue

    def once() -> int:
        with session_scope(app.state.engine) as session:
            return len(escalate_overdue(session, app.state.clock()))

    while True:
        await asyncio.sleep(seconds)
        try:
            count = await run_in_threadpool(once)
            if count:
                log.info("escalated %d overdue incident(s)", count)
        except Exception:  # keep escalating on the next round; the error is in the log
            log.exception("escalation round failed")


def create_app(database_url: str | None = None, escalate_every_s: float | None = None) -> FastAPI:
    interval = get_settings().escalation_interval_s if escalate_every_s is None else escalate_every_s

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(_escalate_every(app, interval)) if interval > 0 else None
        yield
        if task is not None:
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
    async def _wangge_error(_request: Request, exc: WanggeError):
        if isinstance(exc, StaleVersion):
            return JSONResponse({"detail": str(exc)}, status_code=428 if exc.precondition_required else 412)
        status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        links = "".join(f'<li><a href="{API_PREFIX}/{name}">{name}</a></li>' for name in layers.TITLES)
        return (
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>wangge 网格</title></head>"
            "<body><h1>wangge 网格化管理</h1><p><a href='/docs'>API docs</a></p>"
            f"<h2>Layers (GeoJSON)</h2><ul>{links}</ul></body></html>"
        )

    @app.get(f"{API_PREFIX}/health", tags=["Service"], summary="Liveness: answers without touching the database")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(locate.router, prefix=API_PREFIX)
    app.include_router(responders.router, prefix=API_PREFIX)
    app.include_router(incidents.router, prefix=API_PREFIX)
    app.include_router(incidents.escalations, prefix=API_PREFIX)
    app.include_router(stats.router, prefix=API_PREFIX)
    for name in layers.TITLES:
        app.include_router(layers.layer_router(name, writable=name != "communities"), prefix=API_PREFIX)
    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    return app
