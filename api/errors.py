"""Every error answer is JSON ``{"detail": message}``: one handler per kind of failure.

Input the service cannot use is a 4xx whose message says what to change; a database that is
away or too busy is a 503 with ``Retry-After``; nothing else reaches the client as a 500 without
being logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.concurrency import ServiceBusy
from api.idempotency import Replay
from api.openapi import document_errors
from geo.db.engine import error_line
from geo.errors import (
    BadQuery,
    Conflict,
    InputError,
    Locked,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    StaleVersion,
    TooLarge,
    UnsupportedMedia,
    WanggeError,
)
from geo.worktime.days import YearNotCovered

log = logging.getLogger("wangge")

# Subclasses before their base: the first match decides.
STATUS = [
    (TooLarge, 413),
    (UnsupportedMedia, 415),
    (NotFound, 404),
    (Conflict, 409),
    (InputError, 422),
    (BadQuery, 400),
    (PermissionDenied, 403),
    (NotAuthenticated, 401),
    (Locked, 429),
    (YearNotCovered, 503),  # the service's working-day calendar lacks a year: the operator adds it
]


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"] if p not in ("query", "body", "path"))
    if error["type"] == "missing":
        return f"{where} is required"
    if error["type"] == "json_invalid":
        return f"The body is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')} at character {error['loc'][-1]})"
    given = error.get("input")
    shown = f" (got {given!r})" if isinstance(given, (str, int, float)) and not isinstance(given, bool) else ""
    return f"{where}: {error['msg'].removeprefix('Value error, ')}{shown}"


def unavailable(message: str, retry_after_s: int = 5) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": str(retry_after_s)})


async def _wangge_error(request: Request, exc: WanggeError):
    if isinstance(exc, StaleVersion):
        return JSONResponse({"detail": str(exc)}, status_code=428 if exc.precondition_required else 412)
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
    if status == 403 and getattr(request.state, "auth", None) is None:
        status = 401  # refused to the public (not signed in): signing in is what would help
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, Locked):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _stale(_request: Request, _exc: StaleDataError):
    # Another writer committed between our read and our write: nothing of ours was saved.
    return JSONResponse(
        {"detail": "The incident was changed by someone else at the same moment; read it again and retry"},
        status_code=412,
    )


async def _validation_error(_request: Request, exc: RequestValidationError):
    errors = exc.errors()
    return JSONResponse(
        {
            "detail": "; ".join(dict.fromkeys(_describe(e) for e in errors)),
            "errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors],
        },
        status_code=422,
    )


async def _integrity_error(_request: Request, exc: IntegrityError):
    # A race the checks could not see (two writers at once), or a row still referenced.
    return JSONResponse(
        {"detail": "The change conflicts with other data (a duplicate code, or a feature still in use)"},
        status_code=409,
    )


async def _http_error(_request: Request, exc: StarletteHTTPException):
    detail = (
        exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "No such resource: see /docs for the API"
    )
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _replay(_request: Request, exc: Replay):
    return exc.response()  # a retried write: the first answer again, nothing changed


async def _busy(_request: Request, exc: ServiceBusy):
    return unavailable(str(exc), exc.retry_after_s)


async def _pool_timeout(_request: Request, _exc: PoolTimeout):
    return unavailable(
        "The service is busy: no database connection was free in time; nothing was changed, try again shortly", 2
    )


async def _database_away(_request: Request, exc: DBAPIError):
    # The database went away, refused the connection, or (SQLite) another process held
    # the write lock for too long. The transaction was rolled back: nothing was stored.
    log.warning("database unavailable: %s", error_line(exc))
    return unavailable("The database is not available at the moment; nothing was changed, try again shortly")


async def _data_error(_request: Request, exc: DataError):
    # A value the checks let through but the database cannot take (too long, out of range):
    # the input's fault, and the transaction was rolled back.
    log.warning("value refused by the database: %s", error_line(exc))
    return JSONResponse(
        {
            "detail": "A value in the request is too long, out of range or not allowed by the database; nothing was changed"
        },
        status_code=422,
    )


# Each kind of failure and the handler that answers it.
HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Any], Awaitable[Response]]], ...] = (
    (WanggeError, _wangge_error),
    (StaleDataError, _stale),
    (RequestValidationError, _validation_error),
    (IntegrityError, _integrity_error),
    (StarletteHTTPException, _http_error),
    (Replay, _replay),
    (ServiceBusy, _busy),
    (PoolTimeout, _pool_timeout),
    (DataError, _data_error),
    (OperationalError, _database_away),
    (InterfaceError, _database_away),
)


# The standard APIs answer errors in their standard's shape (OGC: {code, description}; Open311:
# a list of {code, description}, in XML too): a path prefix and the function that turns
# wangge's answer (its status, message and headers) into theirs.
ErrorFormat = Callable[[Request, int, str, dict[str, str]], Response]
_ERROR_FORMATS: list[tuple[str, ErrorFormat]] = []


def register_error_format(prefix: str, reformat: ErrorFormat) -> None:
    """Errors of requests under ``prefix`` are answered by ``reformat`` (status, message, headers)."""
    _ERROR_FORMATS.append((prefix, reformat))


def reformatted(request: Request, response: Response) -> Response:
    """wangge's error answer ``response``, in the shape of the standard API the request's path
    is under (if any). Also for the answers middleware gives before any handler runs."""
    path = request.url.path
    for prefix, reformat in _ERROR_FORMATS:
        if (path == prefix or path.startswith(prefix + "/")) and isinstance(response, JSONResponse):
            detail = orjson.loads(bytes(response.body)).get("detail", "")
            headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
            return reformat(request, response.status_code, str(detail), headers)
    return response


def _formatted(handler: Callable[[Request, Any], Awaitable[Response]]) -> Callable[[Request, Any], Awaitable[Response]]:
    async def answer(request: Request, exc: Any) -> Response:
        return reformatted(request, await handler(request, exc))

    return answer


def install_error_handlers(app: FastAPI) -> None:
    """Answer every kind of failure as JSON ``{"detail": message}`` (see :data:`HANDLERS`), or
    in the shape of the standard API the request was for (:func:`register_error_format`)."""
    for kind, handler in HANDLERS:
        app.add_exception_handler(kind, _formatted(handler))
    document_errors(app)  # the OpenAPI document describes these answers
