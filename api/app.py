"""The FastAPI application factory: the app, its routers, error handlers and middleware, the
background jobs it runs while it serves, and the warm-up that makes it ready."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api import ogc, open311, readlog
from api.errors import install_error_handlers
from api.middleware import install_middleware
from api.pages import app as worker_app
from api.pages import dashboard, docs, login, maps
from api.v1 import (
    API_PREFIX,
    auth,
    catalogue,
    health,
    incidents,
    layers,
    locate,
    patrols,
    photos,
    points,
    responders,
    stats,
    tasks,
)
from geo.access import audit
from geo.db.engine import get_engine
from geo.db.idempotency import purge_expired
from geo.db.session import session_scope
from geo.grids.cards import make_all_grid_cards
from geo.grids.index import grid_index
from geo.incidents.escalation import escalate_overdue
from geo.layers import LAYERS
from geo.models import utcnow
from geo.patrols.service import purge_expired as purge_expired_patrols
from geo.responders.nearest import responder_index
from geo.settings import get_settings

log = logging.getLogger("wangge")


async def _every(app: FastAPI, seconds: float, what: str, job) -> None:
    """Run ``job(session, now)`` in a write unit of work every ``seconds`` while the server runs;
    it logs a count of what it did."""

    def once() -> int:
        with session_scope(app.state.engine, write=True) as session:
            return job(session, app.state.clock())

    while True:
        await asyncio.sleep(seconds)
        try:
            count = await run_in_threadpool(once)
            if count:
                log.info("%s: %d", what, count)
        except Exception:  # try again on the next round; the error is in the log
            log.exception("%s failed", what)


def _escalate(session, now) -> int:
    return len(escalate_overdue(session, now))


def _purge_keys(session, now) -> int:
    return purge_expired(session, now, get_settings().idempotency_ttl_s)


def _purge_audit(session, now) -> int:
    return audit.purge_expired(session, now)


def _purge_patrols(session, now) -> int:
    return purge_expired_patrols(session, now)


def _warm_indexes(engine, done: threading.Event) -> None:
    """Build the in-memory indexes and grid cards the lookups use, so that the first requests
    do not wait for them; ``done`` is set when they are (or when they cannot be built yet)."""
    try:
        with session_scope(engine) as session:
            grid_index(session)
            responder_index(session)
            make_all_grid_cards(session)
    except Exception:  # a database without tables yet: the first lookup builds them instead
        log.exception("could not build the lookup indexes at start-up")
        done.set()
        return
    done.set()
    # They are hundreds of thousands of long-lived objects: keep the cyclic collector from
    # walking them again on every full collection for as long as the server runs.
    gc.collect()
    gc.freeze()


def create_app(
    database_url: str | None = None, escalate_every_s: float | None = None, warm_indexes: bool = False
) -> FastAPI:
    interval = get_settings().escalation_interval_s if escalate_every_s is None else escalate_every_s

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks = []
        if interval > 0:
            tasks.append(asyncio.create_task(_every(app, interval, "escalated overdue incidents", _escalate)))
        # Answers to retried writes are kept for their time to live, then dropped.
        purge_s = min(3600.0, get_settings().idempotency_ttl_s / 4)
        tasks.append(asyncio.create_task(_every(app, purge_s, "expired idempotency keys removed", _purge_keys)))
        # The audit log is kept for its retention period (at least 180 days), then dropped.
        tasks.append(asyncio.create_task(_every(app, 3600.0, "audit events past retention removed", _purge_audit)))
        # Patrol tracks are personal data: their raw fixes go after the retention period.
        if get_settings().patrol_purge_interval_s > 0:
            every = get_settings().patrol_purge_interval_s
            tasks.append(asyncio.create_task(_every(app, every, "patrol tracks past retention purged", _purge_patrols)))
        if warm_indexes:  # in the background: the server answers (health, docs) meanwhile
            tasks.append(
                asyncio.create_task(run_in_threadpool(_warm_indexes, app.state.engine, app.state.indexes_ready))
            )
        # Who read full phone numbers: written in batches, and what is left as the server stops.
        tasks.append(asyncio.create_task(readlog.keep_writing(app)))
        yield
        for task in tasks:
            task.cancel()
        try:
            await readlog.read_log(app).flush(app)
        except Exception:
            log.exception("writing the last personal data reads to the audit log failed")

    app = FastAPI(
        lifespan=lifespan,
        title="wangge",
        summary="Community grid governance GIS: which grid covers a coordinate, who is nearest, geotagged incidents.",
        version="0.1.0",
        docs_url=None,  # /docs is served from the self-hosted Swagger UI (api/pages/docs.py)
        redoc_url=None,
        description=(
            "Coordinates are WGS84 longitude/latitude unless `crs` says otherwise: `cgcs2000`, "
            '`gcj02` (Amap, Tencent) or `bd09` (Baidu). Errors come as JSON `{"detail": message}`.'
        ),
    )
    app.state.engine = get_engine(database_url)
    # Without a warm-up, lookups build their indexes on first use: ready from the start.
    app.state.indexes_ready = threading.Event()
    if not warm_indexes:
        app.state.indexes_ready.set()
    app.state.clock = utcnow

    install_error_handlers(app)
    app.include_router(health.router, prefix=API_PREFIX)
    # The hot lookups first: routes are matched in order, and every route passed costs time.
    app.include_router(responders.router, prefix=API_PREFIX)
    app.include_router(locate.router, prefix=API_PREFIX)
    app.include_router(points.router, prefix=API_PREFIX)  # before /incidents/{id}
    app.include_router(tasks.router, prefix=API_PREFIX)  # /incidents/nearby: before /incidents/{id}
    maps.install(app)  # the start page, the maps and their assets
    worker_app.install(app)  # the worker app at /app/
    dashboard.install(app)  # the indicators' dashboard at /dashboard
    app.include_router(incidents.router, prefix=API_PREFIX)
    app.include_router(incidents.escalations, prefix=API_PREFIX)
    app.include_router(photos.router, prefix=API_PREFIX)
    app.include_router(patrols.router, prefix=API_PREFIX)
    app.include_router(patrols.coverage_router, prefix=API_PREFIX)
    app.include_router(stats.router, prefix=API_PREFIX)
    app.include_router(catalogue.router, prefix=API_PREFIX)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(auth.audit_router, prefix=API_PREFIX)
    app.include_router(login.router)
    ogc.install(app)  # OGC API Features and Tiles at /ogc
    app.include_router(open311.router)  # Open311 GeoReport v2 at /open311
    app.include_router(docs.router)
    for entry in LAYERS.values():
        if entry.generic_api:
            app.include_router(layers.layer_router(entry), prefix=API_PREFIX)
    install_middleware(app)
    return app


def create_served_app() -> FastAPI:
    """The application ``wangge serve`` runs: it builds its lookup indexes as it starts."""
    return create_app(warm_indexes=True)
