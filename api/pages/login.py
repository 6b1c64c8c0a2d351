"""The sign-in pages: /login (username and password; sets the session cookie), /login/password
(choose a new password: required after a temporary one), and /logout.

The forms are protected against cross-site posting: /login by a random value in a cookie that
the form repeats (so no other site can sign a browser in as someone else), the others by the
session's CSRF token in a hidden field.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import SESSION_COOKIE, SignedIn, csrf_token_for, web_session
from api.sessions import clear_session_cookies, safe_next, set_session_cookies, sign_in, sign_out
from api.v1.auth import change_own_password
from geo.access.passwords import MAX_LENGTH
from geo.errors import InputError, Locked, NotAuthenticated
from geo.models import TokenKind
from maps.i18n import lang_of
from maps.pages import login_page, password_page

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "wangge_login"  # the sign-in form's anti-forgery value

Field = Annotated[str, Form(max_length=MAX_LENGTH)]
Optional = Annotated[str | None, Form(max_length=2000)]


def _html(page: str, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    response = HTMLResponse(page, status_code=status_code, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_form(
    request: Request, lang: str, next_url: str, message: str | None = None, status_code: int = 200, headers=None
):
    value = secrets.token_urlsafe(16)
    response = _html(login_page(lang, next_url, value, message), status_code, headers)
    secure = request.url.scheme == "https"
    response.set_cookie(
        LOGIN_COOKIE, value, max_age=3600, path="/login", httponly=True, samesite="strict", secure=secure
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, lang: str | None = None) -> Response:  # noqa: A002
    return _login_form(request, lang_of(lang), safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Field,
    form_check: Annotated[str, Form(max_length=100)],
    next: Optional = None,  # noqa: A002
    lang: Optional = None,
) -> Response:
    lang, next_url = lang_of(lang), safe_next(next)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), form_check.encode()):
        return _login_form(request, lang, next_url, "form_expired", 403)
    try:
        grant = await sign_in(request, username.strip(), password, TokenKind.session)
    except Locked as exc:
        return _login_form(request, lang, next_url, str(exc), 429, {"Retry-After": str(exc.retry_after_s)})
    except NotAuthenticated:
        return _login_form(request, lang, next_url, "wrong_password", 401)
    target = next_url
    if grant.user.must_change_password:
        target = f"/login/password?next={next_url}"
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(request, response, grant.secret)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def _signed_in_session(request: Request) -> str | None:
    """The session's secret if the cookie names a live web session. The forms carry the CSRF
    token in a field, which the caller checks (the API's check wants the header)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    try:
        check = await web_session(request, secret, request.app.state.clock())
    except NotAuthenticated:
        return None
    request.state.auth = SignedIn(check, secret, via_cookie=True)
    return secret


@router.get("/login/password", response_class=HTMLResponse)
async def password_form(request: Request, next: str | None = None, lang: str | None = None) -> Response:  # noqa: A002
    lang = lang_of(lang)
    secret = await _signed_in_session(request)
    if secret is None:
        return RedirectResponse("/login?next=/login/password", status_code=303)
    return _html(password_page(lang, safe_next(next), csrf_token_for(secret)))


@router.post("/login/password", response_class=HTMLResponse)
async def password_change(
    request: Request,
    current_password: Field,
    new_password: Field,
    confirm_password: Field,
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Optional = None,  # noqa: A002
    lang: Optional = None,
) -> Response:
    lang, next_url = lang_of(lang), safe_next(next)
    secret = await _signed_in_session(request)
    if secret is None:
        return RedirectResponse("/login?next=/login/password", status_code=303)
    csrf = csrf_token_for(secret)
    if not hmac.compare_digest(csrf.encode(), csrf_token.encode()):
        return _html(password_page(lang, next_url, csrf, "form_expired"), 403)
    if new_password != confirm_password:
        return _html(password_page(lang, next_url, csrf, "passwords_differ"), 422)
    try:
        await change_own_password(
            request, request.state.auth.check.actor.name, current_password, new_password, request.app.state.clock()
        )
    except InputError as exc:
        return _html(password_page(lang, next_url, csrf, str(exc)), 422)
    return RedirectResponse(next_url, status_code=303)


@router.post("/logout")
async def logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)], lang: Optional = None) -> Response:
    secret = await _signed_in_session(request)
    if secret is not None and hmac.compare_digest(csrf_token_for(secret).encode(), csrf_token.encode()):
        await sign_out(request, request.app.state.clock())
    response = RedirectResponse("/login" + ("?lang=en" if lang_of(lang) == "en" else ""), status_code=303)
    clear_session_cookies(response)
    return response
