"""CQL2 filters (OGC API Features part 3), text and JSON, translated to SQLAlchemy conditions
on a layer's queryables (geo/query/queryables.py): never to SQL strings; both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from geo.spatial.crs import CoordinateSystem

FILTER_LANGS = ("cql2-text", "cql2-json")


def parse_filter(text: str, lang: str = "cql2-text") -> Any:
    """The filter's syntax tree; InputError naming what is wrong with it."""
    raise NotImplementedError


def filter_condition(layer_name: str, tree: Any, filter_crs: CoordinateSystem | None = None) -> ColumnElement[bool]:
    """The SQL condition of a parsed filter on ``layer_name``; InputError for an unknown
    property, a function or operator not supported, or a value of the wrong type."""
    raise NotImplementedError
