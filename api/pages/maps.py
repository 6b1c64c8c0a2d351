"""The start page and the maps (HTML), and the maps' JavaScript and CSS, served by wangge itself
(see ``maps.assets``). The compact incident points the maps load are in ``api.v1.points``."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import SessionDep
from api.v1 import API_PREFIX
from geo.errors import InputError, NotFound
from geo.layers import LAYERS
from maps import assets
from maps.basemaps import UnknownBasemap
from maps.grid import build_grid_map
from maps.i18n import lang_of
from maps.incidents import build_incident_map
from maps.pages import error_page, landing_page
from maps.planner import build_planner_map

for _type, _suffix in (
    ("font/woff2", ".woff2"),
    ("font/ttf", ".ttf"),
    ("image/svg+xml", ".svg"),
    ("text/javascript", ".js"),
):
    mimetypes.add_type(_type, _suffix)

pages = APIRouter(include_in_schema=False)

Lang = Annotated[str | None, Query(description="zh (default) or en")]
Basemap = Annotated[str | None, Query(description="osm, tianditu, amap, local or none")]


def _html(lang: str, build: Callable[[], Any]) -> HTMLResponse:
    """A map page, or an HTML page saying why there is none."""
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
    return HTMLResponse(
        landing_page(session, lang_of(lang), {f"{API_PREFIX}/{entry.name}": entry.title for entry in LAYERS.values()})
    )


@pages.get("/maps/incidents", response_class=HTMLResponse)
def incidents_map(
    request: Request,
    session: SessionDep,
    lang: Lang = None,
    basemap: Basemap = None,
    grid: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    since: str | None = None,
) -> HTMLResponse:
    lang = lang_of(lang)
    return _html(
        lang,
        lambda: build_incident_map(
            session, lang, basemap, grid or None, kind or None, status or None, since or None, _query(request)
        ),
    )


@pages.get("/maps/grids/{code}", response_class=HTMLResponse)
def grid_map(
    code: str, request: Request, session: SessionDep, lang: Lang = None, basemap: Basemap = None
) -> HTMLResponse:
    lang = lang_of(lang)
    return _html(lang, lambda: build_grid_map(session, code, lang, basemap, _query(request)))


@pages.get("/maps/planner", response_class=HTMLResponse)
def planner_map(request: Request, session: SessionDep, lang: Lang = None, basemap: Basemap = None) -> HTMLResponse:
    lang = lang_of(lang)
    return _html(lang, lambda: build_planner_map(session, lang, basemap, _query(request)))


@pages.get(assets.VENDOR_URL + "/{rest:path}")
def vendor_file(rest: str) -> FileResponse:
    path = assets.resolve(rest)
    if path is None:
        raise HTTPException(404, f"No map asset {rest!r}: see maps/assets/package.json")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})


def install(app: FastAPI) -> None:
    """Mount the pages and the maps' own JavaScript and CSS on ``app``."""
    app.include_router(pages)
    app.mount(assets.GLUE_URL, StaticFiles(directory=assets.GLUE_DIR), name="map-glue")
