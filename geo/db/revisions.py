"""Revision counters and the in-memory caches that follow them.

Writers bump a counter per kind of change inside their own transaction, right after the
flush that wrote it. Readers holding an in-memory structure (the grid index, the responder index) compare
counters at most once per ``index_check_interval_s`` — immediately after a change made in this
process — and rebuild when they differ. So every process sees every other process's writes
within the interval, and its own at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from geo.models import Building, Community, Component, Estate, Grid, Incident, LayerRevision, Responder, Street
from geo.settings import get_settings

# grids, communities, roster and responder_locations feed in-memory indexes; all of them key
# vector tiles' ETags and the tile cache (geo/tiles).
WATCHED = ("grids", "communities", "roster", "responder_locations", "estates", "buildings", "incidents", "components")
# Rows whose every change bumps one counter (responders' changes are told apart below).
_PLAIN: tuple[tuple[type, str], ...] = (
    (Grid, "grids"),
    (Community, "communities"),
    (Street, "communities"),
    (Estate, "estates"),
    (Building, "buildings"),
    (Incident, "incidents"),
    (Component, "components"),
)
_LOCATION_ATTRS = {"geom", "located_at", "updated_at"}


def _changed_layers(session: Session) -> set[str]:
    layers: set[str] = set()
    for obj in list(session.new) + list(session.deleted):
        if isinstance(obj, Responder):
            layers.update(("roster", "responder_locations"))
        else:
            layers.update(name for model, name in _PLAIN if isinstance(obj, model))
    for obj in session.dirty:
        if not session.is_modified(obj):
            continue
        if isinstance(obj, Responder):
            state = inspect(obj)
            changed = {a.key for a in state.attrs if a.history.has_changes()}
            if changed & _LOCATION_ATTRS:
                layers.add("responder_locations")
            if changed - _LOCATION_ATTRS:
                layers.add("roster")
        else:
            layers.update(name for model, name in _PLAIN if isinstance(obj, model))
    return layers


def bump(session: Session, layers) -> None:
    for layer in sorted(layers):
        session.execute(
            update(LayerRevision).where(LayerRevision.layer == layer).values(revision=LayerRevision.revision + 1)
        )
    session.info.setdefault("wangge_bumped", set()).update(layers)
    session.info.pop("wangge_revisions", None)


def _bump_after_flush(session: Session, _ctx) -> None:
    # After, not before: an index rebuilt on the new revision must find the new rows.
    layers = _changed_layers(session)
    if layers:
        with session.no_autoflush:
            bump(session, layers)


def _expire_after_change(session: Session, *_args) -> None:
    session.info.pop("wangge_revisions", None)
    if session.info.pop("wangge_bumped", None):
        _cache.expire()


# Installed on wangge's own sessions by geo.db.session.
SESSION_HOOKS = (
    ("after_flush", _bump_after_flush),
    ("after_commit", _expire_after_change),
    ("after_soft_rollback", _expire_after_change),
)


@dataclass
class _Entry:
    stamp: tuple
    checked: float
    value: Any


class RevisionCache:
    """Values built from the database, rebuilt when the revisions they depend on change."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.RLock()  # a builder may itself need another cached value

    def expire(self) -> None:
        for entry in list(self._entries.values()):
            entry.checked = float("-inf")

    def get(
        self, session: Session, name: str, deps: tuple[str, ...], build: Callable[[Session], Any], fresh: bool = False
    ) -> Any:
        key = (_database_key(session.get_bind()), name)
        entry = self._entries.get(key)
        now = time.monotonic()
        # Inside a transaction that changed the data, always look: the index must see it. So
        # must anything that stores what it computes from the value (``fresh``): one small query.
        pending = fresh or bool(session.info.get("wangge_bumped"))
        if entry is not None and not pending and now - entry.checked < get_settings().index_check_interval_s:
            return entry.value
        stamp = read_revisions(session, deps)
        if entry is not None and entry.stamp == stamp:
            entry.checked = now
            return entry.value
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.stamp == stamp:
                return entry.value
            value = build(session)
            self._entries[key] = _Entry(stamp, now, value)
            return value


_database_keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _database_key(engine) -> str:
    """The database an engine reaches (engines for the same URL share their caches); rendering
    the URL each time would cost more than a whole in-memory lookup."""
    key = _database_keys.get(engine)
    if key is None:
        key = _database_keys[engine] = str(engine.url)
    return key


def read_revisions(session: Session, deps: tuple[str, ...]) -> tuple:
    """The current revisions of ``deps``, read once per transaction (a write checks the grid
    index and the service area against the same revisions; its own bump reads them again)."""
    known = session.info.get("wangge_revisions")
    if known is None or not set(deps) <= known.keys():
        rows = dict(
            session.execute(
                select(LayerRevision.layer, LayerRevision.revision).where(LayerRevision.layer.in_(WATCHED))
            ).all()
        )
        known = session.info["wangge_revisions"] = {layer: rows.get(layer, 0) for layer in WATCHED}
    return tuple(known.get(d, 0) for d in deps)


_cache = RevisionCache()


def cached(
    session: Session, name: str, deps: tuple[str, ...], build: Callable[[Session], Any], fresh: bool = False
) -> Any:
    """The value ``build`` makes from the database, rebuilt when the revisions of ``deps`` change.

    Another process's change counts within ``index_check_interval_s``; with ``fresh``, at once
    (for writes, which store what they compute from the value).
    """
    return _cache.get(session, name, deps, build, fresh)
