"""The default catalogue wangge ships (data/catalogue/default.csv), loaded by a migration.

The migration works on a bare Connection: the tables are named here as they were when it was
written, not through the models, which may move on.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.catalogue.files import Row, parse_catalogue

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "data" / "catalogue" / "default.csv"
DEFAULT_NAME = "wangge 默认立结案标准"

_versions = sa.table(
    "catalogue_versions",
    sa.column("id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("name", sa.String),
    sa.column("source", sa.String),
    sa.column("sha256", sa.String),
    sa.column("imported_at", sa.DateTime(timezone=True)),
    sa.column("imported_by", sa.String),
    sa.column("replaced", sa.JSON),
    sa.column("is_current", sa.Boolean),
)
_entries = sa.table(
    "catalogue_entries",
    sa.column("id", sa.Integer),
    sa.column("version_id", sa.Integer),
    *(sa.column(name) for name in Row.__dataclass_fields__),
)
_incidents = sa.table(
    "incidents",
    sa.column("category", sa.String),
    sa.column("catalogue_entry_id", sa.Integer),
    sa.column("time_limit", sa.Float),
    sa.column("time_unit", sa.String),
)


@lru_cache
def default_rows() -> tuple[Row, ...]:
    return tuple(parse_catalogue(DEFAULT_FILE.read_bytes(), DEFAULT_FILE.name).rows)


def default_categories() -> dict[str, list[str]]:
    """The shipped catalogue's categories by kind, without a database (the demo's generator)."""
    out: dict[str, list[str]] = {}
    for row in default_rows():
        cats = out.setdefault(row.kind, [])
        if row.category not in cats:
            cats.append(row.category)
    return out


def load_default(connection: Connection, now: datetime | None = None) -> int:
    """The default catalogue as the current version (number 1 where there is none yet); existing
    incidents take the entry of their category's first 立案条件 and its time limit. Its version id."""
    data = DEFAULT_FILE.read_bytes()
    rows = default_rows()
    number = (connection.scalar(sa.select(sa.func.max(_versions.c.number))) or 0) + 1
    connection.execute(_versions.update().values(is_current=False))
    version_id: int = connection.execute(
        _versions.insert()
        .values(
            number=number,
            name=DEFAULT_NAME,
            source=DEFAULT_FILE.name,
            sha256=hashlib.sha256(data).hexdigest(),
            imported_at=now or datetime.now(UTC),
            imported_by="wangge",
            replaced={},
            is_current=True,
        )
        .returning(_versions.c.id)
    ).scalar_one()
    connection.execute(
        _entries.insert(),
        [dict(zip(Row.__dataclass_fields__, r.values(), strict=True), version_id=version_id) for r in rows],
    )

    def first(column: str):
        return (
            sa.select(getattr(_entries.c, column))
            .where(
                _entries.c.version_id == version_id,
                _entries.c.category == _incidents.c.category,
                _entries.c.condition_no == 1,
            )
            .scalar_subquery()
        )

    connection.execute(
        _incidents.update()
        .where(_incidents.c.catalogue_entry_id.is_(None))
        .values(catalogue_entry_id=first("id"), time_limit=first("time_limit"), time_unit=first("time_unit"))
    )
    return version_id
