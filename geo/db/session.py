"""wangge's sessions: the only sessions that geotag and count revisions before they commit.

The hooks are installed on wangge's own ``sessionmaker`` (one per engine), not on SQLAlchemy's
global ``Session`` class, so that Alembic's and any script's sessions stay plain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from geo.db import revisions
from geo.db.engine import get_engine
from geo.incidents import geotag
from geo.media import photos

# Geotagging first: the revision counters must see the grids it writes. Photo files are settled
# once the transaction has ended.
_HOOKS = geotag.SESSION_HOOKS + revisions.SESSION_HOOKS + photos.SESSION_HOOKS


@lru_cache
def session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    for name, hook in _HOOKS:
        event.listen(factory, name, hook)
    return factory


class ReadSession:
    """A read-only session that opens only when the code asks the database something.

    The in-memory lookups (which grid, who is nearest) usually need no database at all: their
    indexes are cached, and a real Session costs more to make and close than the lookup. Caches
    only ask for the bind and the session's ``info``; anything else opens the real session.
    """

    def __init__(self, engine: Engine):
        self._engine = engine
        self._session: Session | None = None
        self.info: dict = {}  # nothing is ever written through it, so nothing is pending

    def get_bind(self, *args, **kwargs) -> Engine:
        return self._engine

    def __getattr__(self, name: str):
        if self._session is None:
            self._session = session_factory(self._engine)()
        return getattr(self._session, name)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


@contextmanager
def session_scope(engine: Engine | None = None, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error.

    ``write``: the unit of work will write; on SQLite it then holds the write lock from its
    first read, so concurrent writers take turns instead of failing.
    """
    session = session_factory(engine or get_engine())()
    try:
        if write:
            session.connection(execution_options={"wangge_write": True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
