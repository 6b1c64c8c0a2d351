"""Who is calling: a bearer token names a user; no token is the public (the endpoints' dependency
is ``api.deps.ActorDep``)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from api.concurrency import turns_for
from geo.access.policy import PUBLIC, Actor
from geo.access.users import authenticate
from geo.db.session import session_scope
from geo.errors import NotAuthenticated
from geo.settings import get_settings

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `wangge user add` or `wangge user token`. Without one you are the public: you may read (without personal data) and report.",
)


async def actor_from_header(request: Request) -> Actor:
    """The caller from the Authorization header, without the dependency machinery."""
    header = request.headers.get("authorization")
    if not header:
        return PUBLIC
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("Use an Authorization: Bearer TOKEN header")
    return await authenticate_request(request, secret.strip(), request.app.state.clock())


async def authenticate_request(request: Request, secret: str, now: datetime) -> Actor:
    """The user a token names, looked up in a turn at the database of its own, taken and given
    back before the request's own unit of work starts (see ``api.concurrency``).

    A client address with many failed checks is slowed, then refused (see :class:`AuthThrottle`)."""
    throttle = _throttle_for(request.app)
    address = request.client.host if request.client else "unknown"
    delay = throttle.before(address)
    if delay:
        await asyncio.sleep(delay)  # holding no turn, connection or thread
    try:
        async with turns_for(request.app).turn():
            return await run_in_threadpool(_authenticate, request.app.state.engine, secret, now)
    except NotAuthenticated:
        throttle.failed(address)
        raise


def _authenticate(engine, secret: str, now: datetime) -> Actor:
    with session_scope(engine) as session:
        return authenticate(session, secret, now)


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
