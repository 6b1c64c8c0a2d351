"""``/dashboard`` (see ``maps.dashboard``): signed-in community staff, administrators and grid
leaders get the page; a visitor who is not signed in is sent to sign in and back; anybody else
gets a page saying whom it is for (403)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import actor_from_header
from api.concurrency import turns_for
from geo.access.policy import PUBLIC, indicator_scope
from geo.access.users import get_user
from geo.db.session import session_scope
from geo.errors import NotAuthenticated, PermissionDenied
from maps import assets
from maps.dashboard import dashboard_page
from maps.i18n import lang_of
from maps.pages import error_page

router = APIRouter(include_in_schema=False)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # the page names who is signed in
    return response


async def _display_name(request: Request, username: str) -> str | None:
    def read() -> str | None:
        with session_scope(request.app.state.engine) as session:
            return get_user(session, username).display_name

    async with turns_for(request.app).turn():
        return await run_in_threadpool(read)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, lang: str | None = None) -> Response:
    lang = lang_of(lang)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        actor = await actor_from_header(request)
    except NotAuthenticated:
        actor = PUBLIC
    except PermissionDenied:  # a temporary password: a new one first
        return RedirectResponse("/login/password?" + urlencode({"next": here}), status_code=303)
    if actor is PUBLIC:
        return RedirectResponse("/login?" + urlencode({"next": here, "lang": lang}), status_code=303)
    try:
        indicator_scope(actor)  # refuses whoever may see no indicators
    except PermissionDenied as exc:
        return _no_store(HTMLResponse(error_page(lang, "forbidden_title", str(exc)), status_code=403))
    problems = assets.missing()
    if problems:
        message = f"The map and chart assets are not installed ({', '.join(problems[:4])}): npm ci --prefix maps/assets"
        return _no_store(HTMLResponse(error_page(lang, "unavailable_title", message), status_code=503))
    name = await _display_name(request, actor.name)
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    return _no_store(HTMLResponse(dashboard_page(lang, actor, name, query)))


def install(app: FastAPI) -> None:
    app.include_router(router)
