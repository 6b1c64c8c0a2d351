"""The catalogue in the database: versions imported from files, the current one looked up.

An import is all-or-nothing and makes a new :class:`CatalogueVersion` (number = the largest + 1),
which becomes the current one. Incidents keep the entry they were registered under; only those
whose sub-category the new version drops move to the sub-category it is mapped to
(``replace``), and the mapping is kept in ``CatalogueVersion.replaced``.

Lookups (:func:`entry_for`, :func:`categories` ...) read a snapshot of the current version made
once per version: each asks the database only which version is current.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from geo.catalogue.files import COMPONENT, EVENT, CatalogueFile, Row, file_bytes, read_catalogue
from geo.db.revisions import bump
from geo.errors import InputError, NotFound
from geo.io.read import ImportFailed
from geo.models import CatalogueEntry, CatalogueVersion, Incident, IncidentHistory, IncidentKind, utcnow

KINDS = tuple(k.value for k in IncidentKind)
_ROW_FIELDS = tuple(Row.__dataclass_fields__)


# --------------------------------------------------------------------------- the current version


@dataclass
class Snapshot:
    """What the lookups need of one version, in plain values (no session's objects)."""

    version_id: int
    number: int
    entry_ids: dict[tuple[str, int], int] = field(default_factory=dict)  # (category, condition_no) -> id
    by_kind: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    kind_of: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # category -> 小类名称
    domain_of: dict[str, str] = field(default_factory=dict)
    components: dict[tuple[str, str], int] = field(default_factory=dict)  # (大类, 小类) -> condition 1's id
    limits: dict[int, tuple[float, str]] = field(default_factory=dict)  # entry id -> (处置时限, unit)

    def registration(self, category: str) -> tuple[int | None, float | None, str | None]:
        """(entry id, time limit, unit) an incident of ``category`` is registered under (its first
        立案条件), Nones for a category the version lacks."""
        entry_id = self.entry_ids.get((category, 1))
        if entry_id is None:
            return None, None, None
        return (entry_id, *self.limits[entry_id])


_SNAPSHOTS: dict[tuple, Snapshot] = {}
_LOCK = threading.Lock()
_KEEP = 32  # snapshots kept (tests open many databases in one process)
_INFO = "wangge_catalogue"  # the session's snapshot, in its info


def _current_row(session: Session):
    row = session.execute(
        select(CatalogueVersion.id, CatalogueVersion.number, CatalogueVersion.imported_at, CatalogueVersion.sha256)
        .where(CatalogueVersion.is_current.is_(True))
        .limit(1)
    ).first()
    if row is None:
        raise InputError("No catalogue is loaded: import one with `wangge catalogue import FILE`")
    return row


def snapshot(session: Session) -> Snapshot:
    """The current version's lookups, built once per version (and database); a session asks
    which version is current once."""
    held = session.info.get(_INFO)
    if held is not None:
        return held
    row = _current_row(session)
    key = (str(session.get_bind().engine.url), row.id, row.imported_at, row.sha256)
    found = _SNAPSHOTS.get(key)
    if found is not None:
        session.info[_INFO] = found
        return found
    snap = Snapshot(row.id, row.number)
    entries = session.execute(
        select(
            CatalogueEntry.id,
            CatalogueEntry.domain,
            CatalogueEntry.major_code,
            CatalogueEntry.minor_code,
            CatalogueEntry.minor_name,
            CatalogueEntry.category,
            CatalogueEntry.kind,
            CatalogueEntry.condition_no,
            CatalogueEntry.time_limit,
            CatalogueEntry.time_unit,
        )
        .where(CatalogueEntry.version_id == row.id)
        .order_by(CatalogueEntry.id)
    ).all()
    for e in entries:
        snap.entry_ids[(e.category, e.condition_no)] = e.id
        snap.limits[e.id] = (e.time_limit, e.time_unit)
        if e.category not in snap.kind_of:
            snap.kind_of[e.category] = e.kind
            snap.by_kind.setdefault(e.kind, []).append(e.category)
            snap.labels[e.category] = e.minor_name
            snap.domain_of[e.category] = e.domain
        if e.domain == COMPONENT and e.condition_no == 1:
            snap.components[(e.major_code, e.minor_code)] = e.id
    with _LOCK:
        if len(_SNAPSHOTS) >= _KEEP:
            _SNAPSHOTS.clear()
        _SNAPSHOTS[key] = snap
    session.info[_INFO] = snap
    return snap


def current_version(session: Session) -> CatalogueVersion:
    version = session.get(CatalogueVersion, _current_row(session).id)
    assert version is not None
    return version


def categories(session: Session) -> dict[str, list[str]]:
    """The current version's sub-categories (events' and components') by incident kind, in file order."""
    return {kind: list(cats) for kind, cats in snapshot(session).by_kind.items()}


def category_labels(session: Session) -> dict[str, str]:
    """Each category's Chinese name (its 小类名称)."""
    return dict(snapshot(session).labels)


def check_category(session: Session, kind: str, category: str) -> None:
    """InputError naming what there is, unless ``category`` is one of ``kind``'s."""
    _check(snapshot(session), kind, category)


def _check(snap: Snapshot, kind: str, category: str) -> None:
    if kind not in snap.by_kind:
        raise InputError(f"Unknown kind {kind!r}: use one of {', '.join(snap.by_kind)}")
    if snap.kind_of.get(category) != kind:
        raise InputError(f"Unknown category {category!r} for {kind}: use one of {', '.join(snap.by_kind[kind])}")


def entry_for(session: Session, kind: str, category: str, condition_no: int = 1) -> CatalogueEntry:
    """The current version's entry for ``category``'s 立案条件 ``condition_no``."""
    snap = snapshot(session)
    _check(snap, kind, category)
    entry_id = snap.entry_ids.get((category, condition_no))
    if entry_id is None:
        numbers = sorted(n for c, n in snap.entry_ids if c == category)
        raise InputError(f"Category {category!r} has no 立案条件 {condition_no}: use {', '.join(map(str, numbers))}")
    entry = session.get(CatalogueEntry, entry_id)
    assert entry is not None
    return entry


def component_category(session: Session, major_code: str, minor_code: str) -> CatalogueEntry | None:
    """The current version's component sub-category 大类 ``major_code`` 小类 ``minor_code`` (its
    first 立案条件), or None."""
    entry_id = snapshot(session).components.get((major_code, minor_code))
    return session.get(CatalogueEntry, entry_id) if entry_id is not None else None


def event_categories(session: Session) -> set[str]:
    snap = snapshot(session)
    return {c for c, d in snap.domain_of.items() if d == EVENT}


# --------------------------------------------------------------------------- import, export


@dataclass
class CatalogueImport:
    version: int
    entries: int
    sub_categories: int
    replaced: dict[str, str]
    recategorised: int  # incidents moved to the sub-category their old one is mapped to

    def lines(self) -> list[str]:
        out = [
            f"catalogue version {self.version}: {self.sub_categories} sub-categories, "
            f"{self.entries} 立案条件, now the current version"
        ]
        out += [f"replaced: {old} -> {new}" for old, new in self.replaced.items()]
        if self.recategorised:
            out.append(f"{self.recategorised} incident(s) moved to the sub-category their old one is mapped to")
        return out


def import_catalogue(
    session: Session,
    path: str | Path | CatalogueFile,
    fields: Mapping[str, str] | None = None,
    replace: Mapping[str, str] | None = None,
    imported_by: str = "system",
    name: str | None = None,
    now: datetime | None = None,
) -> CatalogueImport:
    """A new current version from a catalogue file; nothing is written on any problem.

    On SQLite the session must have begun as a writer (``session_scope(write=True)``) so that
    concurrent imports take turns; on PostgreSQL the versions' table is locked here.
    """
    loaded = path if isinstance(path, CatalogueFile) else read_catalogue(path, dict(fields or {}))
    replace = dict(replace or {})
    now = now or utcnow()
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Two imports at once: the second waits, then numbers after the first.
        session.connection().exec_driver_sql("LOCK TABLE catalogue_versions IN SHARE ROW EXCLUSIVE MODE")
    session.info.pop(_INFO, None)  # the version this session saw is about to change
    _check_in_use(session, loaded, replace)
    number = (session.scalar(select(func.max(CatalogueVersion.number))) or 0) + 1
    session.execute(update(CatalogueVersion).where(CatalogueVersion.is_current.is_(True)).values(is_current=False))
    version = CatalogueVersion(
        number=number,
        name=name or Path(loaded.source).stem,
        source=loaded.source,
        sha256=loaded.sha256,
        imported_at=now,
        imported_by=imported_by,
        replaced=replace,
        is_current=True,
    )
    session.add(version)
    session.flush()
    session.execute(
        insert(CatalogueEntry),
        [dict(zip(_ROW_FIELDS, r.values(), strict=True), version_id=version.id) for r in loaded.rows],
    )
    moved = _recategorise(session, replace, imported_by, number, now)
    session.flush()
    return CatalogueImport(number, len(loaded.rows), len({r.category for r in loaded.rows}), replace, moved)


def _check_in_use(session: Session, loaded: CatalogueFile, replace: dict[str, str]) -> None:
    kinds = {r.category: r.kind for r in loaded.rows}
    problems = []
    for old, new in replace.items():
        if old in kinds:
            problems.append(f"--replace {old}={new}: {old!r} is still in the file, nothing to replace")
        elif new not in kinds:
            problems.append(f"--replace {old}={new}: {new!r} is not a sub-category of the file")
    in_use = session.execute(
        select(Incident.kind, Incident.category, func.count())
        .where(Incident.deleted_at.is_(None))
        .group_by(Incident.kind, Incident.category)
        .order_by(Incident.category, Incident.kind)
    ).all()
    for kind, category, count in in_use:
        if kinds.get(category) == kind:
            continue
        target = replace.get(category)
        if target is None:
            if category in kinds:
                what = f"is of kind {kinds[category]} in the file, but {count} {kind} incident(s) use it"
            else:
                what = f"is used by {count} {kind} incident(s) and is not in the file"
            problems.append(
                f"sub-category {category!r} {what}: keep it, or map it with --replace {category}=NEW_CATEGORY"
            )
        elif target in kinds and kinds[target] != kind:
            problems.append(
                f"--replace {category}={target}: {target!r} is for {kinds[target]}, "
                f"but the {count} incident(s) of {category!r} are {kind}"
            )
    if problems:
        raise ImportFailed(loaded.source, problems)


def _recategorise(session: Session, replace: dict[str, str], actor: str, number: int, now: datetime) -> int:
    """Incidents of a dropped sub-category take the one it is mapped to; the entry and time
    limit they were registered under stay theirs."""
    moved = 0
    for old, new in replace.items():
        incidents = session.execute(
            select(Incident.id, Incident.kind, Incident.grid_id, Incident.assignee_id).where(
                Incident.category == old, Incident.deleted_at.is_(None)
            )
        ).all()
        if not incidents:
            continue
        session.execute(
            update(Incident)
            .where(Incident.id.in_([i.id for i in incidents]))
            .values(category=new, version=Incident.version + 1, updated_at=now),
            execution_options={"synchronize_session": False},
        )
        bump(session, ("incidents",))  # a Core update: the ORM's hook never sees it
        session.execute(
            insert(IncidentHistory),
            [
                dict(
                    incident_id=i.id,
                    at=now,
                    actor=actor[:100],
                    action="recategorise",
                    changes={"category": [old, new]},
                    comment=f"catalogue version {number}",
                    step="recategorise",
                    kind=i.kind,
                    category=new,
                    grid_id=i.grid_id,
                    assignee_id=i.assignee_id,
                )
                for i in incidents
            ],
        )
        moved += len(incidents)
    return moved


def version_rows(session: Session, number: int | None = None) -> tuple[CatalogueVersion, list[Row]]:
    """A version (the current one unless ``number``) and its entries as file rows."""
    if number is None:
        version = current_version(session)
    else:
        found = session.scalar(select(CatalogueVersion).where(CatalogueVersion.number == number))
        if found is None:
            numbers = session.scalars(select(CatalogueVersion.number).order_by(CatalogueVersion.number)).all()
            raise NotFound(f"No catalogue version {number}: there are {', '.join(map(str, numbers)) or 'none'}")
        version = found
    entries = session.scalars(
        select(CatalogueEntry).where(CatalogueEntry.version_id == version.id).order_by(CatalogueEntry.id)
    ).all()
    return version, [Row(**{name: getattr(e, name) for name in _ROW_FIELDS}) for e in entries]


def export_catalogue(session: Session, path: str | Path, number: int | None = None) -> tuple[int, int]:
    """Write a version to ``path`` (.csv or .xlsx); its number and how many rows."""
    version, rows = version_rows(session, number)
    data = file_bytes(rows, str(path))
    Path(path).write_bytes(data)
    return version.number, len(rows)


def list_versions(session: Session) -> list[CatalogueVersion]:
    return list(session.scalars(select(CatalogueVersion).order_by(CatalogueVersion.number)).all())
