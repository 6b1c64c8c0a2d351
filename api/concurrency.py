"""Turns at the database: how requests share the connection pool without stalling.

A request waits for its turn here, on the event loop, before it takes a pooled connection or
a worker thread, and gives the turn back once its unit of work has committed or rolled back.
No request ever holds a connection while it waits for another connection or for a thread: at
most ``db_pool_size`` requests are at the database at once, the pool has that many connections
plus headroom for the brief un-queued reads (index revision checks), and the thread pool has
more threads than turns. On SQLite, which has one writer at a time by design, writers queue
instead for the one write turn of this process (one more connection); other processes' writers
are waited for by SQLite's ``busy_timeout``. A request that waits longer than
``db_wait_timeout_s`` is answered 503 with ``Retry-After`` and has stored nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio.to_thread
from sqlalchemy import Engine

from geo.settings import get_settings


class ServiceBusy(Exception):
    """Every turn at the database stayed taken for too long: try again shortly (503)."""

    def __init__(self, message: str, retry_after_s: int = 2):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DatabaseTurns:
    """The queue in front of one engine's pool (one per application)."""

    def __init__(self, engine: Engine, size: int, timeout_s: float):
        self.timeout_s = timeout_s
        self._turns = asyncio.Semaphore(size)
        # SQLite: one writer at a time; waiting here costs nothing, waiting in SQLite's busy
        # handler costs a connection and a thread, and fails with "database is locked".
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def turn(self, write: bool = False) -> AsyncIterator[None]:
        # SQLite's one writer is a turn of its own: queued behind the readers for a shared
        # turn while holding the write lock, it would hold every other writer up as well.
        if write and self._writer is not None:
            await self._wait(self._writer.acquire(), "to write")
            try:
                yield
            finally:
                self._writer.release()
            return
        await self._wait(self._turns.acquire(), "for the database")
        try:
            yield
        finally:
            self._turns.release()

    async def _wait(self, acquire, what: str) -> None:
        try:
            await asyncio.wait_for(acquire, self.timeout_s)
        except TimeoutError:
            raise ServiceBusy(
                f"The service is busy: waited {self.timeout_s:.0f} s {what}; nothing was changed, try again shortly"
            ) from None


def turns_for(app) -> DatabaseTurns:
    """The application's queue, made on first use in the running event loop (asyncio's locks
    belong to one loop; a test client may run several one after another)."""
    loop = asyncio.get_running_loop()
    made = getattr(app.state, "turns", None)
    if made is None or made[0] is not loop:
        settings = get_settings()
        turns = DatabaseTurns(app.state.engine, settings.db_pool_size, settings.db_wait_timeout_s)
        # More threads than turns: a request holding a turn always finds a thread for its
        # work and its commit, whatever else (batch lookups) keeps threads busy.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, 2 * settings.db_pool_size + 8)
        made = app.state.turns = (loop, turns)
    return made[1]
