"""The worker app at /app/ (its files are in ``maps/app``; see ``maps.worker_app``): the same
HTML shell for every client route, its modules, the manifest and the service worker."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from api.deps import ReadSessionDep
from maps import worker_app
from maps.i18n import LANGS, Catalogue

router = APIRouter(include_in_schema=False)

# The shell and the worker are checked on every visit (the service worker serves them offline);
# the modules are revalidated too, since their addresses carry no hash.
REVALIDATE = {"Cache-Control": "no-cache"}


@router.get("/app")
def app_root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=308)


@router.get("/app/manifest.webmanifest")
def manifest() -> Response:
    return Response(worker_app.manifest(), media_type="application/manifest+json", headers=REVALIDATE)


@router.get("/app/sw.js")
def service_worker(session: ReadSessionDep) -> Response:
    # Its version follows the catalogue too: the categories are among the words it keeps.
    return Response(worker_app.service_worker(Catalogue.of(session)), media_type="text/javascript", headers=REVALIDATE)


@router.get("/app/locales/{lang}.json")
def words(lang: str, session: ReadSessionDep) -> JSONResponse:
    if lang not in LANGS:
        raise HTTPException(404, f"No words for {lang!r}: use one of {', '.join(LANGS)}")
    return JSONResponse(worker_app.words(lang, Catalogue.of(session)), headers=REVALIDATE)


@router.get(worker_app.ASSET_URL + "/{name}")
def app_file(name: str) -> FileResponse:
    path = worker_app.file_path(name)
    if path is None:
        raise HTTPException(404, f"No app file {name!r}")
    return FileResponse(path, media_type=worker_app.TYPES[path.suffix], headers=REVALIDATE)


@router.get("/app/{route:path}", response_class=HTMLResponse)
def shell(route: str, session: ReadSessionDep) -> HTMLResponse:
    # Every client route gets the shell; the app's router shows the screen.
    return HTMLResponse(worker_app.shell(Catalogue.of(session)), headers=REVALIDATE)


def install(app: FastAPI) -> None:
    app.include_router(router)
