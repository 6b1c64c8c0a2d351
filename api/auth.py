"""Who is calling: a bearer token names a user, or a web page's session cookie does; neither is
the public (the endpoints' dependency is ``api.deps.ActorDep``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer, OAuth2PasswordBearer

from api.concurrency import turns_for
from api.v1 import API_PREFIX
from geo.access.policy import PUBLIC, Actor
from geo.access.users import TokenCheck, check_token, touch_token
from geo.db.session import session_scope
from geo.errors import NotAuthenticated, PermissionDenied
from geo.models import TokenKind
from geo.settings import get_settings

# A web page's session: an HttpOnly cookie holding the session token, and a CSRF token the
# page's script sends back in a header on every write (a form on another site cannot).
SESSION_COOKIE = "wangge_session"
CSRF_COOKIE = "wangge_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a sign-in with a temporary password may do before choosing a new one.
BEFORE_PASSWORD_CHANGE = frozenset(
    {f"{API_PREFIX}/auth/me", f"{API_PREFIX}/auth/password", f"{API_PREFIX}/auth/logout"}
)

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `wangge user add` or `wangge user token`, or from POST /api/v1/auth/token. Without one you are the public: you may read (without personal data) and report.",
)
oauth2 = OAuth2PasswordBearer(
    tokenUrl=f"{API_PREFIX}/auth/token",
    auto_error=False,
    description="Sign in with a username and password (OAuth2 password flow); the token expires.",
)


def csrf_token_for(session_secret: str) -> str:
    """The CSRF token of a web session: derived from its secret, so nothing more is stored, and
    only a page that was given it (not a form on another site) can send it."""
    digest = hashlib.sha256(b"wangge-csrf\0" + session_secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("Use an Authorization: Bearer TOKEN header")
    return secret.strip()


async def actor_from_header(request: Request) -> Actor:
    """The caller from the Authorization header or the session cookie, without the dependency
    machinery."""
    return await actor_of_request(request, _bearer_secret(request), request.app.state.clock())


async def actor_of_request(request: Request, secret: str | None, now: datetime) -> Actor:
    """The caller: the bearer token's user, else the session cookie's, else the public.

    A stale cookie on a read is the public (the page still shows what the public may see); on a
    write it is refused, so that a signed-out page's change is never made as the public. Writes
    made with the cookie must carry the CSRF token. The check is kept on ``request.state.auth``
    for the sign-in endpoints."""
    via_cookie = False
    if secret is None:
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:
            return PUBLIC
        via_cookie = True
    try:
        check = await (web_session(request, secret, now) if via_cookie else authenticate_request(request, secret, now))
    except NotAuthenticated:
        if via_cookie and request.method in SAFE_METHODS and request.url.path != f"{API_PREFIX}/auth/me":
            return PUBLIC
        raise
    request.state.auth = SignedIn(check, secret, via_cookie)
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token_for(secret).encode()):
            raise PermissionDenied(
                f"This change came without the page's {CSRF_HEADER} (or with a wrong one): reload the page and try again"
            )
    if check.must_change_password and request.url.path not in BEFORE_PASSWORD_CHANGE:
        raise PermissionDenied("You signed in with a temporary password: choose a new one first at /login/password")
    if check.needs_touch:
        async with turns_for(request.app).turn(write=True):
            await run_in_threadpool(_touch, request.app.state.engine, check.token_id, now)
    return check.actor


async def web_session(request: Request, secret: str, now: datetime) -> TokenCheck:
    """The check of the session cookie's token, which must be a web session (not a bearer token
    put in a cookie)."""
    check = await authenticate_request(request, secret, now)
    if check.kind != TokenKind.session.value:
        raise NotAuthenticated("The session cookie is not a web session: sign in again")
    return check


class SignedIn:
    """How the request's caller signed in (``request.state.auth``)."""

    def __init__(self, check: TokenCheck, secret: str, via_cookie: bool):
        self.check = check
        self.secret = secret
        self.via_cookie = via_cookie


async def authenticate_request(request: Request, secret: str, now: datetime) -> TokenCheck:
    """The token's check, looked up in a turn at the database of its own, taken and given
    back before the request's own unit of work starts (see ``api.concurrency``).

    A client address with many failed checks is slowed, then refused (see :class:`AuthThrottle`)."""
    throttle = _throttle_for(request.app)
    address = client_address(request)
    delay = throttle.before(address)
    if delay:
        await asyncio.sleep(delay)  # holding no turn, connection or thread
    try:
        async with turns_for(request.app).turn():
            return await run_in_threadpool(_check_token, request.app.state.engine, secret, now)
    except NotAuthenticated:
        throttle.failed(address)
        raise


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _check_token(engine, secret: str, now: datetime) -> TokenCheck:
    with session_scope(engine) as session:
        return check_token(session, secret, now)


def _touch(engine, token_id: int, now: datetime) -> None:
    with session_scope(engine, write=True) as session:
        touch_token(session, token_id, now)


class AuthThrottle:
    """Failed token checks per client address, in this process's memory.

    Within ``auth_failure_window_s``, the first ``auth_failures_allowed`` failures cost nothing;
    after them each attempt waits, longer each time (at most :data:`MAX_DELAY_S`); from twice
    as many on, attempts are refused with 429 and ``Retry-After`` without looking at the token
    (refusals are not counted, so the window does free). Other addresses are not affected, and a
    success clears nothing. Memory is bounded: expired entries are dropped, and past
    :data:`MAX_ADDRESSES` the addresses that failed longest ago are forgotten.
    """

    MAX_ADDRESSES = 10_000
    FIRST_DELAY_S = 0.1
    MAX_DELAY_S = 2.0

    def __init__(self):
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # least recently failed first

    def before(self, address: str) -> float:
        """Seconds to wait before checking a token from ``address``; raises 429 when refused."""
        settings = get_settings()
        allowed, window = settings.auth_failures_allowed, settings.auth_failure_window_s
        now = time.monotonic()
        with self._lock:
            times = self._recent(address, now, window)
            count = len(times)
            if count >= 2 * allowed:
                # Refused until the oldest failure that still counts leaves the window.
                wait = times[count - 2 * allowed] + window - now
                raise HTTPException(
                    429,
                    f"Too many failed sign-ins from this address; try again in {math.ceil(wait)} s",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        if count < allowed:
            return 0.0
        return min(self.MAX_DELAY_S, self.FIRST_DELAY_S * 2 ** (count - allowed))

    def failed(self, address: str) -> None:
        settings = get_settings()
        now = time.monotonic()
        with self._lock:
            times = self._failures.pop(address, None) or deque()
            times.append(now)
            while len(times) > 2 * settings.auth_failures_allowed:
                times.popleft()  # more are never needed to decide
            self._failures[address] = times
            # Kept in the order of their last failure: the expired, then the surplus, come first.
            while self._failures:
                oldest = next(iter(self._failures.values()))
                if oldest[-1] > now - settings.auth_failure_window_s and len(self._failures) <= self.MAX_ADDRESSES:
                    break
                self._failures.popitem(last=False)

    def _recent(self, address: str, now: float, window: float) -> deque[float]:
        """The failures of ``address`` still in the window (the lock held)."""
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._failures[address]
        return times


def _throttle_for(app) -> AuthThrottle:
    throttle = getattr(app.state, "auth_throttle", None)
    if throttle is None:
        throttle = app.state.auth_throttle = AuthThrottle()
    return throttle
