"""The audit log of who read whose full phone number: one row per answer, written in batches.

An answer that carried full phone numbers (see :mod:`api.privacy`) adds one row here; the rows
are written every :data:`FLUSH_EVERY_S` seconds in one short unit of work of their own (and when
the server stops), so a read stays a read: on SQLite it never waits for the one writer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from api.concurrency import turns_for
from api.deps import ActorDep
from api.privacy import Reader, reader_for
from geo.access import audit
from geo.db.session import session_scope

log = logging.getLogger("wangge")

FLUSH_EVERY_S = 1.0
MAX_PENDING = 100_000  # if the database stays away, the oldest unwritten rows go first


class ReadLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []

    def add(self, reader: Reader, at: datetime) -> None:
        """Note ``reader``'s full reads, if any: cheap, called on the request's path."""
        if not reader.read:
            return
        row = {
            "username": reader.actor.name,
            "address": reader.address,
            "at": at,
            "detail": {"path": reader.path, "layers": {k: sorted(v) for k, v in sorted(reader.read.items())}},
        }
        with self._lock:
            self._pending.append(row)
            del self._pending[:-MAX_PENDING]

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._pending = self._pending, []
        return rows

    def _put_back(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending[:0] = rows
            del self._pending[:-MAX_PENDING]

    async def flush(self, app: FastAPI) -> int:
        """Write the rows noted so far in one unit of work; returns how many."""
        rows = self._take()
        if not rows:
            return 0
        try:
            async with turns_for(app).turn(write=True):
                await run_in_threadpool(_write, app.state.engine, rows)
        except BaseException:
            self._put_back(rows)  # tried again at the next flush
            raise
        return len(rows)


def _write(engine, rows: list[dict[str, Any]]) -> None:
    with session_scope(engine, write=True) as session:
        for row in rows:
            audit.record(session, audit.PERSONAL_DATA_READ, audit.OK, **row)


def read_log(app: FastAPI) -> ReadLog:
    made = getattr(app.state, "read_log", None)
    if made is None:
        made = app.state.read_log = ReadLog()
    return made


def note_reads(app: FastAPI, reader: Reader) -> None:
    read_log(app).add(reader, app.state.clock())


async def keep_writing(app: FastAPI) -> None:
    """The server's background task: flush every :data:`FLUSH_EVERY_S` (the lifespan flushes
    once more as the server stops)."""
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        try:
            await read_log(app).flush(app)
        except Exception:  # the database is away: the rows wait for the next round
            log.exception("writing the personal data reads to the audit log failed")


async def get_reader(request: Request, actor: ActorDep) -> AsyncIterator[Reader]:
    """The answer's reader; once the endpoint has answered, its full reads are noted (an answer
    that failed carried none)."""
    reader = reader_for(request, actor)
    yield reader
    note_reads(request.app, reader)


ReaderDep = Annotated[Reader, Depends(get_reader)]
