"""The start page and the maps (HTML), the compact incident points the maps load, and the maps'
JavaScript and CSS, served by wangge itself (see ``maps.assets``)."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any, Callable

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.auth import NowDep
from api.deps import CRSDep, FiltersDep, SessionDep
from geo.layers import LAYERS
from geo.query import mappoints
from geo.query.filters import Filters
from geo.errors import InputError, NotFound
from maps import assets
from maps.basemaps import UnknownBasemap
from maps.i18n import lang_of

for _type, _suffix in (("font/woff2", ".woff2"), ("font/ttf", ".ttf"), ("image/svg+xml", ".svg"), ("text/javascript", ".js")):
    mimetypes.add_type(_type, _suffix)

pages = APIRouter(include_in_schema=False)
points = APIRouter(prefix="/incidents", tags=["Maps"])

Lang = Annotated[str | None, Query(description="zh (default) or en")]
Basemap = Annotated[str | None, Query(description="osm, tianditu, amap, local or none")]


@points.get("/points", summary="Incidents in a box as compact points, or counts per cell when there are more than limit")
def incident_points(
    session: SessionDep, filters: FiltersDep, crs: CRSDep, now: NowDep,
    limit: Annotated[int, Query(ge=1, le=mappoints.MAX_LIMIT, description="Most points to send one by one")] = 5000,
    cell: Annotated[float | None, Query(gt=0, description="Cell size in degrees when counting per cell")] = None,
) -> dict[str, Any]:
    """``points``: ``[id, lon, lat, kind, state]`` (indexes into ``kinds`` and ``states``), or, when
    more than ``limit`` match, ``cells``: ``[lon, lat, kind, count, overdue, closed]``. ``status``
    also takes ``open`` (not closed), ``overdue`` and ``closed``."""
    query = Filters(
        bbox=filters.bbox, grid=filters.grid, kind=filters.kind, status=filters.status, category=filters.category,
        since=filters.since, until=filters.until,
    )
    return mappoints.incident_points(session, query, limit=limit, cell=cell, crs=crs, now=now)


def _html(lang: str, build: Callable[[], Any]) -> HTMLResponse:
    """A map page, or an HTML page saying why there is none."""
    from maps.pages import error_page

    problems = assets.missing()
    if problems:
        message = (
            f"The map assets are not installed ({', '.join(problems[:4])}{' …' if len(problems) > 4 else ''}). "
            f"Run the set-up command, {assets.SETUP_COMMAND}, or: npm ci --prefix maps/assets"
        )
        return HTMLResponse(error_page(lang, "unavailable_title", message), status_code=503)
    try:
        return HTMLResponse(assets.render(build()))
    except NotFound as exc:
        return HTMLResponse(error_page(lang, "not_found_title", str(exc)), status_code=404)
    except (InputError, UnknownBasemap) as exc:
        return HTMLResponse(error_page(lang, "bad_request_title", str(exc)), status_code=422)


def _query(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "lang"}


@pages.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep, lang: Lang = None) -> HTMLResponse:
    from maps.pages import landing_page

    prefix = request.app.state.api_prefix
    return HTMLResponse(landing_page(session, lang_of(lang), {f"{prefix}/{entry.name}": entry.title for entry in LAYERS.values()}))


@pages.get("/maps/incidents", response_class=HTMLResponse)
def incidents_map(
    request: Request, session: SessionDep, lang: Lang = None, basemap: Basemap = None,
    grid: str | None = None, kind: str | None = None, status: str | None = None, since: str | None = None,
) -> HTMLResponse:
    from maps.incidents import build_incident_map

    lang = lang_of(lang)
    return _html(lang, lambda: build_incident_map(session, lang, basemap, grid or None, kind or None, status or None, since or None, _query(request)))


@pages.get("/maps/grids/{code}", response_class=HTMLResponse)
def grid_map(code: str, request: Request, session: SessionDep, lang: Lang = None, basemap: Basemap = None) -> HTMLResponse:
    from maps.grid import build_grid_map

    lang = lang_of(lang)
    return _html(lang, lambda: build_grid_map(session, code, lang, basemap, _query(request)))


@pages.get("/maps/planner", response_class=HTMLResponse)
def planner_map(request: Request, session: SessionDep, lang: Lang = None, basemap: Basemap = None) -> HTMLResponse:
    from maps.planner import build_planner_map

    lang = lang_of(lang)
    return _html(lang, lambda: build_planner_map(session, lang, basemap, _query(request)))


@pages.get(assets.VENDOR_URL + "/{rest:path}")
def vendor_file(rest: str) -> FileResponse:
    path = assets.resolve(rest)
    if path is None:
        raise HTTPException(404, f"No map asset {rest!r}: see maps/assets/package.json")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})


def install(app: FastAPI, api_prefix: str) -> None:
    """Mount the maps on ``app``. Call it before the layer routers: ``/incidents/points`` must
    come before ``/incidents/{id}``."""
    app.state.api_prefix = api_prefix
    app.include_router(points, prefix=api_prefix)
    app.include_router(pages)
    app.mount(assets.GLUE_URL, StaticFiles(directory=assets.GLUE_DIR), name="map-glue")
