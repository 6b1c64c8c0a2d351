"""CQL2 filters (OGC API Features part 3), text and JSON, translated to SQLAlchemy conditions
on a layer's queryables (geo/query/queryables.py): never to SQL strings; both databases.

Parsing uses pygeofilter 0.4.0's CQL2 text grammar and its syntax tree, with what that release
gets wrong for CQL2 1.0 put right here: AND binds tighter than OR, ``BBOX(...)`` is a literal,
intervals may be open (``'..'``), quotes double inside strings (``'O''Brien'``), the temporal
functions are CQL2's fifteen (T_INTERSECTS is not T_OVERLAPS) and LIKE's one-character
wildcard is ``_``. CQL2 JSON is read here into the same tree: pygeofilter's reader follows an
older draft (BETWEEN's arguments, the bbox's order) and its errors name nothing a person could
fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, partial
from pathlib import Path
from typing import Any, ClassVar

import shapely
import shapely.geometry
from lark import Lark, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from pygeofilter import ast, values
from pygeofilter.parsers import cql2_text
from pygeofilter.parsers.cql2_text.parser import CQLTransformer
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    and_,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from geo.errors import InputError
from geo.models.base import UTCDateTime
from geo.query.queryables import Queryable, queryables
from geo.spatial.crs import WGS84, CoordinateSystem

FILTER_LANGS = ("cql2-text", "cql2-json")

_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
_PART3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
# What tests/geo/query/test_cql2.py shows working on SpatiaLite and PostGIS; nothing more.
CONFORMANCE: tuple[str, ...] = (
    _PART3 + "filter",
    _PART3 + "features-filter",
    _CQL2 + "cql2-text",
    _CQL2 + "cql2-json",
    _CQL2 + "basic-cql2",
    _CQL2 + "advanced-comparison-operators",
    _CQL2 + "basic-spatial-functions",
    _CQL2 + "basic-spatial-functions-plus",
    _CQL2 + "spatial-functions",
    _CQL2 + "temporal-functions",
    _CQL2 + "property-property",
)

MAX_FILTER_BYTES = 64 * 1024
MAX_NESTING = 64  # brackets inside brackets
MAX_PREDICATES = 1000  # comparisons, IN-list values and functions in one filter


# --------------------------------------------------------------------------- the syntax tree


@dataclass
class TimeIntersects(ast.TemporalPredicate):
    """CQL2's T_INTERSECTS (pygeofilter reads it as T_OVERLAPS, which is narrower)."""

    op: ClassVar[ast.TemporalComparisonOp] = ast.TemporalComparisonOp.TOVERLAPS


# CQL2's temporal functions by name; STARTS/FINISHES are pygeofilter's BEGINS/ENDS.
TEMPORAL_FUNCTIONS: dict[str, type[ast.TemporalPredicate]] = {
    "t_after": ast.TimeAfter,
    "t_before": ast.TimeBefore,
    "t_contains": ast.TimeContains,
    "t_disjoint": ast.TimeDisjoint,
    "t_during": ast.TimeDuring,
    "t_equals": ast.TimeEquals,
    "t_finishedby": ast.TimeEndedBy,
    "t_finishes": ast.TimeEnds,
    "t_intersects": TimeIntersects,
    "t_meets": ast.TimeMeets,
    "t_metby": ast.TimeMetBy,
    "t_overlappedby": ast.TimeOverlappedBy,
    "t_overlaps": ast.TimeOverlaps,
    "t_startedby": ast.TimeBegunBy,
    "t_starts": ast.TimeBegins,
}
SPATIAL_FUNCTIONS: dict[str, type[ast.SpatialComparisonPredicate]] = {
    "s_intersects": ast.GeometryIntersects,
    "s_equals": ast.GeometryEquals,
    "s_disjoint": ast.GeometryDisjoint,
    "s_touches": ast.GeometryTouches,
    "s_within": ast.GeometryWithin,
    "s_overlaps": ast.GeometryOverlaps,
    "s_crosses": ast.GeometryCrosses,
    "s_contains": ast.GeometryContains,
}
_FUNCTION_NAME = {cls: name.upper() for name, cls in {**TEMPORAL_FUNCTIONS, **SPATIAL_FUNCTIONS}.items()}

OPEN = ".."  # an interval's open end


def _bbox(numbers: list[Any]) -> values.Geometry:
    """A CQL2 BBOX (4 or 6 numbers: minx, miny[, minz], maxx, maxy[, maxz]) as a polygon; one
    across the antimeridian (minx > maxx) as two."""
    if len(numbers) not in (4, 6) or not all(_is_number(n) for n in numbers):
        raise InputError(f"A BBOX has 4 numbers (minx, miny, maxx, maxy) or 6 with heights, not {numbers!r}")
    minx, miny, maxx, maxy = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    if miny > maxy:
        raise InputError(f"BBOX({', '.join(map(str, numbers))}): its lower y ({miny}) is above its upper y ({maxy})")
    if minx > maxx:
        shape: Any = shapely.MultiPolygon([shapely.box(minx, miny, 180, maxy), shapely.box(-180, miny, maxx, maxy)])
    else:
        shape = shapely.box(minx, miny, maxx, maxy)
    return values.Geometry(shapely.geometry.mapping(shape))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- CQL2 text


def _patched(grammar: str, old: str, new: str) -> str:
    # Pinned pygeofilter: a release that changed these lines must be looked at again.
    if old not in grammar:
        raise RuntimeError(f"pygeofilter's CQL2 grammar changed; cannot find {old!r}")
    return grammar.replace(old, new)


def _text_grammar() -> str:
    grammar = (Path(cql2_text.__file__).parent / "grammar.lark").read_text()
    grammar = _patched(
        grammar,
        """?condition: condition_1
          | condition "AND"i condition_1                                 -> and_
          | condition "OR"i condition_1                                   -> or_""",
        """?condition: conjunction
          | condition "OR"i conjunction                                   -> or_
?conjunction: condition_1
          | conjunction "AND"i condition_1                                -> and_""",
    )
    grammar = _patched(
        grammar,
        "?temporal_predicate: expression _binary_temporal_predicate_func expression -> binary_temporal_predicate",
        '?temporal_predicate: _binary_temporal_predicate_func "(" expression "," expression ")" -> binary_temporal_predicate',
    )
    # CQL2's fifteen temporal functions in place of the draft's list.
    grammar, found = re.subn(
        r"!_binary_temporal_predicate_func:[^?]*",
        "!_binary_temporal_predicate_func: " + "\n    | ".join(f'"{n.upper()}"i' for n in TEMPORAL_FUNCTIONS) + "\n\n",
        grammar,
        count=1,
    )
    if found != 1:
        raise RuntimeError("pygeofilter's CQL2 grammar changed; cannot find its temporal functions")
    grammar = _patched(
        grammar,
        """                  | "BBOX" "(" expression "," full_number "," full_number "," full_number "," full_number [ ","  SINGLE_QUOTED] ")" -> bbox_spatial_predicate""",
        "",
    )
    grammar = _patched(
        grammar,
        "        | envelope\n",
        '        | "BBOX"i "(" full_number ("," full_number)+ ")"                   -> bbox_literal\n',
    )
    # Filters span lines (the CQL2 examples do).
    grammar = _patched(grammar, "%import common.WS_INLINE\n%ignore WS_INLINE", "%import common.WS\n%ignore WS")
    # NOT negates any condition, NOT (a OR b) too.
    grammar = _patched(
        grammar,
        """            | "NOT"i predicate                                               -> not_
            | "NOT"i "(" predicate ")"                                       -> not_""",
        """            | "NOT"i condition_1                                             -> not_""",
    )
    grammar = _patched(grammar, 'envelope: "ENVELOPE"i "(" number number number number ")"', "")
    # A property's name may be one letter long.
    grammar = _patched(grammar, "attribute: /[a-zA-Z][a-zA-Z_:0-9.]+/", "attribute: /[a-zA-Z][a-zA-Z_:0-9.]*/")
    grammar = _patched(grammar, """SINGLE_QUOTED: "'" /.*?/ "'\"""", """SINGLE_QUOTED: /'([^']|'')*'/""")
    grammar = _patched(
        grammar,
        """?interval: "INTERVAL" "("  "'" DATETIME "'" "," "'" DATETIME "'" ")\"""",
        """interval: "INTERVAL"i "(" interval_end "," interval_end ")"
interval_end: "'" DATETIME "'"
            | "'" DATE "'"
            | OPEN_END
            | attribute
OPEN_END: "'..'\"""",
    )
    return grammar


@v_args(meta=False, inline=True)
class _TextTransformer(CQLTransformer):
    def binary_temporal_predicate(self, op, lhs, rhs):
        return TEMPORAL_FUNCTIONS[op.lower()](lhs, rhs)

    def DATETIME(self, token):
        return _timestamp(str(token))

    def DATE(self, token):
        return _date(str(token))

    def like(self, node, pattern):
        return ast.Like(node, pattern, False, "%", "_", "\\", False)

    def not_like(self, node, pattern):
        return ast.Like(node, pattern, False, "%", "_", "\\", True)

    def SINGLE_QUOTED(self, token):
        return token[1:-1].replace("''", "'")

    def bbox_literal(self, *numbers):
        return _bbox(list(numbers))

    def interval_end(self, value):
        return value

    def OPEN_END(self, token):
        return OPEN

    def interval(self, start, end):
        return values.Interval(start, end)

    def function(self, func_name, *expressions):
        return ast.Function(func_name.name.lower(), list(expressions))

    def wkt__geometry_with_srid(self, srid, geometry):
        raise InputError(f"SRID={srid} in a geometry: give its coordinate system with filter-crs instead")


@cache
def _text_parser() -> Lark:
    # Built on first use (it takes most of a second), not when the service starts.
    return Lark(
        _text_grammar(),
        parser="lalr",
        maybe_placeholders=False,
        transformer=_TextTransformer(),
        import_paths=[Path(cql2_text.__file__).parent.parent],
    )


# How the grammar's terminals read to a person.
_TERMINAL_WORDS = {
    "SINGLE_QUOTED": "a 'quoted string'",
    "DOUBLE_QUOTED": 'a "quoted property name"',
    "INT": "a number",
    "FLOAT": "a number",
    "SIGNED_NUMBER": "a number",
    "NUMBER": "a number",
    "DATETIME": "a time such as 2026-01-01T00:00:00Z",
    "DATE": "a date such as 2026-01-01",
    "BOOLEAN": "TRUE or FALSE",
    "OPEN_END": "'..'",
    "$END": "the end of the filter",
}


_WKT = {"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"}


def _expected(names: set[str]) -> str:
    words: set[str] = set()
    for name in names:
        if name in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = _text_parser().get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            word = pattern.value.upper() if pattern.value.isalpha() else pattern.value
            if word == "SRID":  # EWKT's, refused: filter-crs says the coordinate system
                continue
            words.add("a WKT geometry such as POINT(113.05 23.7)" if word in _WKT else word)
        elif "a-zA-Z" in pattern.value:
            words.add("a property name")
    # Values first (they start with a lower-case article), then keywords and operators.
    shown = sorted(words, key=lambda w: (not w[:1].islower(), w))
    if len(shown) > 14:
        shown = [*shown[:14], "..."]
    return ", ".join(shown)


def _text_error(text: str, exc: UnexpectedInput) -> InputError:
    column = getattr(exc, "column", None)
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    where = "at the end" if at_end else f"at character {column}"
    near = ""
    if not at_end and isinstance(exc, (UnexpectedCharacters, UnexpectedToken)) and exc.pos_in_stream is not None:
        start = exc.pos_in_stream
        near = f" (near {text[start : start + 20]!r})"
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.accepts or exc.expected)
    elif isinstance(exc, (UnexpectedCharacters, UnexpectedEOF)):
        expected = set(exc.allowed if isinstance(exc, UnexpectedCharacters) else exc.expected) or set()
    hint = f": expected {_expected(expected)}" if expected else ""
    return InputError(f"Cannot read the CQL2 text filter {where}{near}{hint}")


def _parse_text(text: str) -> Any:
    try:
        return _text_parser().parse(text)
    except UnexpectedInput as exc:
        raise _text_error(text, exc) from None
    except VisitError as exc:  # a transformer's complaint: a date that is no date, a bad BBOX ...
        if isinstance(exc.orig_exc, InputError):
            raise exc.orig_exc from None
        raise InputError(f"Cannot read the CQL2 text filter: {exc.orig_exc}") from None
    except (LarkError, ValueError, TypeError) as exc:
        raise InputError(f"Cannot read the CQL2 text filter: {exc}") from None


# --------------------------------------------------------------------------- CQL2 JSON


_COMPARISONS: dict[str, type[ast.Node]] = {
    "=": ast.Equal,
    "<>": ast.NotEqual,
    "<": ast.LessThan,
    "<=": ast.LessEqual,
    ">": ast.GreaterThan,
    ">=": ast.GreaterEqual,
}
_GEOJSON_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}


def _json_instant(value: Any, where: str) -> Any:
    if value == OPEN:
        return OPEN
    if isinstance(value, dict) and isinstance(value.get("property"), str):
        return ast.Attribute(value["property"])
    if isinstance(value, str):
        return _date(value) if len(value) == 10 else _timestamp(value)
    raise InputError(f"{where}: an interval's ends are dates, timestamps or '..', not {value!r}")


def _json_node(node: Any, where: str) -> Any:
    """One JSON value as pygeofilter's tree; ``where`` says where it is (``filter.args[1]``)."""
    if isinstance(node, (str, bool, int, float)):
        return node
    if isinstance(node, list):
        return [_json_node(item, f"{where}[{i}]") for i, item in enumerate(node)]
    if not isinstance(node, dict):
        raise InputError(f"{where}: {node!r} is not a CQL2 value")
    if "op" in node:
        return _json_operation(node, where)
    if "property" in node:
        if not isinstance(node["property"], str):
            raise InputError(f"{where}: a property's name is a string")
        return ast.Attribute(node["property"])
    if "timestamp" in node:
        return _timestamp(str(node["timestamp"]))
    if "date" in node:
        return _date(str(node["date"]))
    if "interval" in node:
        ends = node["interval"]
        if not isinstance(ends, list) or len(ends) != 2:
            raise InputError(f"{where}: an interval is a list of two ends")
        return values.Interval(_json_instant(ends[0], where), _json_instant(ends[1], where))
    if "bbox" in node:
        if not isinstance(node["bbox"], list):
            raise InputError(f"{where}: a bbox is a list of 4 or 6 numbers")
        return _bbox(node["bbox"])
    if isinstance(node.get("type"), str) and node["type"] in _GEOJSON_TYPES:
        return values.Geometry(node)
    raise InputError(f"{where}: {json.dumps(node)[:80]} is not a CQL2 value (a property, literal or operation)")


def _both_sides(cls: type[ast.Node], args: list) -> Any:
    return cls(*args)


# The operations of a fixed number of arguments, by JSON name.
_JSON_OPERATIONS: dict[str, tuple[int, Callable[[list], Any]]] = {
    "not": (1, lambda a: ast.Not(a[0])),
    "isnull": (1, lambda a: ast.IsNull(a[0], False)),
    "like": (2, lambda a: ast.Like(a[0], a[1], False, "%", "_", "\\", False)),
}
_TWO_SIDED: dict[str, type[ast.Node]] = {**_COMPARISONS, **SPATIAL_FUNCTIONS, **TEMPORAL_FUNCTIONS}
_JSON_OPERATIONS.update({name: (2, partial(_both_sides, cls)) for name, cls in _TWO_SIDED.items()})


def _json_operation(node: dict, where: str) -> Any:
    op, args = node["op"], node.get("args")
    if not isinstance(op, str) or not isinstance(args, list):
        raise InputError(f'{where}: an operation is {{"op": name, "args": [...]}}')
    name = op.lower()
    parsed = [_json_node(arg, f"{where}.args[{i}]") for i, arg in enumerate(args)]

    def arity(n: int) -> None:
        if len(parsed) != n:
            raise InputError(f"{where}: {op!r} takes {n} argument(s), not {len(parsed)}")

    if name in ("and", "or"):
        if len(parsed) < 2:
            raise InputError(f"{where}: {op!r} takes two or more conditions")
        return (ast.And if name == "and" else ast.Or).from_items(*parsed)
    if name == "between":
        if len(parsed) == 2 and isinstance(parsed[1], list) and len(parsed[1]) == 2:  # an older draft's form
            parsed = [parsed[0], *parsed[1]]
        arity(3)
        return ast.Between(parsed[0], parsed[1], parsed[2], False)
    if name == "in":
        arity(2)
        if not isinstance(parsed[1], list):
            raise InputError(f"{where}: 'in' takes a value and a list of values")
        return ast.In(parsed[0], parsed[1], False)
    if name in _JSON_OPERATIONS:
        n, make = _JSON_OPERATIONS[name]
        arity(n)
        return make(parsed)
    return ast.Function(name, parsed)  # arithmetic and functions: refused with a message later


def _parse_json(text: str) -> Any:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"The CQL2 JSON filter is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if isinstance(document, dict) and "filter" in document and "op" not in document:
        document = document["filter"]  # a request body's {"filter": ..., "filter-lang": ...}
    return _json_node(document, "filter")


# --------------------------------------------------------------------------- parse_filter


def _nesting(text: str) -> int:
    """How deep brackets go, outside quoted strings."""
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _function_message(name: str) -> str:
    if name in ("+", "-", "*", "/", "%", "^", "div"):
        return "Arithmetic (+, -, *, /) is not supported in filters here"
    shown = "CASEI" if name == "lower" else name.upper()
    return (
        f"The function {shown} is not supported here: filters take comparisons, LIKE, BETWEEN, IN, "
        "IS NULL, S_* spatial and T_* temporal functions"
    )


def parse_filter(text: str, lang: str = "cql2-text") -> Any:
    """The filter's syntax tree; InputError naming what is wrong with it."""
    lang = (lang or "cql2-text").strip().lower()
    if lang not in FILTER_LANGS:
        raise InputError(f"filter-lang {lang!r} is not supported: use {' or '.join(FILTER_LANGS)}")
    if not isinstance(text, str) or not text.strip():
        raise InputError("The filter is empty: give a CQL2 condition, e.g. kind = 'hazard'")
    if len(text.encode()) > MAX_FILTER_BYTES:
        raise InputError(f"The filter is longer than {MAX_FILTER_BYTES // 1024} KB: filter by fewer conditions")
    if _nesting(text) > MAX_NESTING:
        raise InputError(f"The filter nests brackets more than {MAX_NESTING} deep")
    try:
        tree = _parse_text(text) if lang == "cql2-text" else _parse_json(text)
    except RecursionError:
        raise InputError("The filter is nested too deeply") from None
    if isinstance(tree, ast.Function):
        raise InputError(_function_message(tree.name))
    if not isinstance(tree, ast.Node) or isinstance(tree, (ast.Attribute, ast.Arithmetic)):
        raise InputError(f"The filter is a value, not a condition: compare it, e.g. {text.strip()[:40]} = ...")
    return tree


# --------------------------------------------------------------------------- SQL


class _PerDatabase(ColumnElement[bool]):
    """A condition on ``expr`` written differently for each database (``@compiles``)."""

    inherit_cache = True
    type = Boolean()
    expr: ColumnElement[Any]

    @property
    def _from_objects(self) -> list[Any]:
        return self.expr._from_objects


class CaseSensitiveLike(_PerDatabase):
    """``expr LIKE pattern`` as CQL2 means it, case-sensitive on both databases: SQLite's LIKE
    ignores case (of ASCII letters), its GLOB does not."""

    __visit_name__ = "case_sensitive_like"
    _traverse_internals = [
        ("expr", InternalTraversal.dp_clauseelement),
        ("like_pattern", InternalTraversal.dp_clauseelement),
        ("glob_pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, expr: ColumnElement[Any], like_pattern: str, glob_pattern: str):
        self.expr = expr
        self.like_pattern: BindParameter[str] = literal(like_pattern)
        self.glob_pattern: BindParameter[str] = literal(glob_pattern)


@compiles(CaseSensitiveLike)
def _like_sql(element: CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.expr.like(element.like_pattern, escape="\\"), **kw)


@compiles(CaseSensitiveLike, "sqlite")
def _glob_sql(element: CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    glob = compiler.process(element.expr.op("GLOB", is_comparison=True)(element.glob_pattern), **kw)
    return f"({glob})"  # SQLite may append "= 1" to a condition it does not know as one


class SpatialIndexHint(_PerDatabase):
    """The rows whose geometry's box meets ``bounds``, by the spatial index: SpatiaLite's own
    SQL functions never use its R*Tree (geo/db/engine.py's bbox_filter does the same for
    ``bbox=``); on PostGIS nothing, as its planner takes the GiST index for ST_Intersects and
    the other predicates by itself."""

    __visit_name__ = "spatial_index_hint"
    _traverse_internals = [
        ("expr", InternalTraversal.dp_clauseelement),
        ("lookup", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Column[Any], bounds: tuple[float, float, float, float]):
        self.expr = column
        index = sql_table(
            "SpatialIndex", sql_column("f_table_name"), sql_column("f_geometry_column"), sql_column("search_frame")
        )
        rows = (
            select(literal_column("rowid", Integer))
            .select_from(index)
            .where(
                index.c.f_table_name == column.table.name,
                index.c.f_geometry_column == column.name,
                index.c.search_frame == func.BuildMbr(*bounds, 4326),
            )
        )
        self.lookup = column.table.c.id.in_(rows)


@compiles(SpatialIndexHint)
def _no_hint_sql(element: SpatialIndexHint, compiler: Any, **kw: Any) -> str:
    return compiler.process(true(), **kw)


@compiles(SpatialIndexHint, "sqlite")
def _spatialite_index_sql(element: SpatialIndexHint, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.lookup, **kw)})"


def _like_patterns(pattern: str) -> tuple[str, str]:
    """A CQL2 LIKE pattern (``%`` any characters, ``_`` one, ``\\`` escapes) as SQL LIKE
    with escape ``\\`` and as SQLite GLOB."""
    like, glob = [], []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            like.append("\\" + char if char in "%_\\" else char)
            glob.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            like.append("%")
            glob.append("*")
        elif char == "_":
            like.append("_")
            glob.append("?")
        else:
            like.append(char)
            glob.append(f"[{char}]" if char in "*?[" else char)
    return "".join(like), "".join(glob)


def _aware(value: datetime) -> datetime:
    # CQL2 timestamps are UTC: one without an offset is read as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _timestamp(text: str) -> datetime:
    try:
        value = _aware(datetime.fromisoformat(text))
        value.astimezone(UTC)  # as stored: year 1 at +08:00 has no UTC time
        return value
    except (ValueError, OverflowError):
        raise InputError(f"{text!r} is not a timestamp such as 2026-01-01T00:00:00Z") from None


def _date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not a date such as 2026-01-01") from None


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time(), tzinfo=UTC)


class _Infinity:
    def __init__(self, sign: int):
        self.sign = sign


_PAST, _FUTURE = _Infinity(-1), _Infinity(1)


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (datetime, date)):
        return "timestamp"
    if isinstance(value, values.Interval):
        return "interval"
    if isinstance(value, (values.Geometry, values.Envelope)):
        return "geometry"
    return type(value).__name__


_TYPE_WORDS = {
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "timestamp": "a time",
    "interval": "an interval",
    "geometry": "a geometry",
}


@dataclass
class _Operand:
    kind: str  # string, integer, number, boolean, timestamp, interval, geometry
    sql: Any  # a SQL expression, or None for a literal
    value: Any = None  # the literal
    text: str = ""  # how the filter wrote it, for messages

    @property
    def is_property(self) -> bool:
        return self.sql is not None


def _check_scalar(value: Any) -> None:
    """Values the databases can hold: PostgreSQL refuses NUL in text, SQLite integers past 64 bits."""
    if isinstance(value, str) and "\x00" in value:
        raise InputError("A string in the filter holds a NUL character (\\u0000)")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
        raise InputError(f"{value} is too large a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{value} is not a number a filter can compare")


def _compatible(a: str, b: str) -> bool:
    numeric = {"integer", "number"}
    return a == b or (a in numeric and b in numeric)


class _Translator:
    """One filter on one layer, read into SQL."""

    def __init__(self, layer_name: str, crs: CoordinateSystem):
        self.layer_name = layer_name
        self.queryables = queryables(layer_name)
        self.crs = crs
        self.count = 0

    def _tick(self, n: int = 1) -> None:
        self.count += n
        if self.count > MAX_PREDICATES:
            raise InputError(f"The filter has more than {MAX_PREDICATES} conditions and values: simplify it")

    # ---- operands

    def queryable(self, name: str) -> Queryable:
        found = self.queryables.get(name)
        if found is None:
            raise InputError(
                f"{self.layer_name} have no queryable property {name!r}: "
                f"use one of {', '.join(self.queryables)} (see /queryables)"
            )
        return found

    def operand(self, node: Any) -> _Operand:
        if isinstance(node, ast.Attribute):
            q = self.queryable(node.name)
            kind = "timestamp" if q.is_time else q.type
            return _Operand(kind, q.expression, text=node.name)
        if isinstance(node, ast.Function):
            raise InputError(_function_message(node.name))
        if isinstance(node, ast.Arithmetic):
            raise InputError("Arithmetic (+, -, *, /) is not supported in filters here")
        if isinstance(node, ast.Node):
            raise InputError(f"A condition cannot stand where a value is expected: {node}")
        if isinstance(node, list):
            raise InputError("A list of values is only taken by IN")
        if isinstance(node, datetime):
            node = _aware(node)
        kind = _literal_type(node)
        if kind not in _TYPE_WORDS:
            raise InputError(f"{node!r} is not a CQL2 value")
        _check_scalar(node)
        return _Operand(kind, None, node, text=repr(node) if kind != "geometry" else "a geometry")

    def sql_value(self, operand: _Operand, other: _Operand | None = None) -> Any:
        """The operand as SQL: a literal is bound with the type of what it is compared to."""
        if operand.is_property:
            return operand.sql
        value = operand.value
        if isinstance(value, date) and not isinstance(value, datetime):
            value = _day_start(value)
        if operand.kind == "integer" and abs(value) >= 2**31:
            return literal(value, type_=BigInteger())  # beside a 32-bit column, not cast to one
        if other is not None and other.is_property and other.kind == operand.kind:
            return literal(value, type_=other.sql.type)  # 5.5 stays 5.5 beside an integer column
        if isinstance(value, datetime):
            return literal(value, type_=UTCDateTime())
        return literal(value)

    def describe(self, operand: _Operand) -> str:
        if operand.is_property:
            return f"{operand.text!r} ({_TYPE_WORDS[operand.kind]})"
        return f"{operand.text} ({_TYPE_WORDS.get(operand.kind, operand.kind)})"

    def check_same(self, what: str, a: _Operand, b: _Operand) -> None:
        if not _compatible(a.kind, b.kind):
            hint = ""
            if {a.kind, b.kind} == {"timestamp", "string"}:
                hint = ": write a time as TIMESTAMP('2026-01-01T00:00:00Z') or DATE('2026-01-01')"
            raise InputError(f"{what} compares {self.describe(a)} with {self.describe(b)}{hint}")

    # ---- conditions

    def condition(self, node: Any) -> ColumnElement[bool]:
        self._tick()
        handlers: list[tuple[type, Callable[[Any], ColumnElement[bool]]]] = [
            (ast.Combination, self.combination),
            (ast.Not, lambda n: not_(self.condition(n.sub_node))),
            (ast.Include, lambda n: false() if n.not_ else true()),
            (ast.Comparison, self.comparison),
            (ast.IsNull, self.is_null),
            (ast.Like, self.like),
            (ast.Between, self.between),
            (ast.In, self.in_),
            (ast.SpatialComparisonPredicate, self.spatial),
            (ast.TemporalPredicate, self.temporal),
        ]
        for kind, handle in handlers:
            if isinstance(node, kind):
                return handle(node)
        if isinstance(node, ast.Function):
            raise InputError(_function_message(node.name))
        if isinstance(node, ast.Node):
            raise InputError(f"{type(node).__name__} is not supported in filters here")
        raise InputError(f"{node!r} is a value, not a condition")

    def combination(self, node: ast.Combination) -> ColumnElement[bool]:
        items, stack = [], [node]
        combine = and_ if isinstance(node, ast.And) else or_
        while stack:  # a long AND (or OR) is one flat clause, not a deep tree
            item = stack.pop()
            if type(item) is type(node):
                stack.extend([item.rhs, item.lhs])
            else:
                items.append(self.condition(item))
        return combine(*items)

    def is_null(self, node: ast.IsNull) -> ColumnElement[bool]:
        operand = self.operand(node.lhs)
        if not operand.is_property:  # a literal is never missing
            return true() if node.not_ else false()
        return operand.sql.is_not(None) if node.not_ else operand.sql.is_(None)

    def comparison(self, node: ast.Comparison) -> ColumnElement[bool]:
        a, b = self.operand(node.lhs), self.operand(node.rhs)
        symbol = node.op.value
        self.check_same(f"{a.text} {symbol} {b.text}", a, b)
        if a.kind in ("geometry", "interval"):
            raise InputError(f"{symbol} does not compare {_TYPE_WORDS[a.kind]}s: use the S_* or T_* functions")
        if a.kind == "boolean" and symbol not in ("=", "<>"):
            raise InputError(f"Booleans are compared with = and <> only, not {symbol}")
        left, right = self.sql_value(a, b), self.sql_value(b, a)
        operators: dict[str, Callable[[Any, Any], Any]] = {
            "=": lambda x, y: x == y,
            "<>": lambda x, y: x != y,
            "<": lambda x, y: x < y,
            "<=": lambda x, y: x <= y,
            ">": lambda x, y: x > y,
            ">=": lambda x, y: x >= y,
        }
        return operators[symbol](left, right)

    def like(self, node: ast.Like) -> ColumnElement[bool]:
        a = self.operand(node.lhs)
        if a.kind != "string":
            raise InputError(f"LIKE matches strings; {self.describe(a)} is not one")
        if not isinstance(node.pattern, str):
            raise InputError("LIKE takes a 'quoted pattern' (% for any characters, _ for one)")
        _check_scalar(node.pattern)
        like, glob = _like_patterns(node.pattern)
        condition: ColumnElement[bool] = CaseSensitiveLike(self.sql_value(a), like, glob)
        return not_(condition) if node.not_ else condition

    def between(self, node: ast.Between) -> ColumnElement[bool]:
        a, low, high = self.operand(node.lhs), self.operand(node.low), self.operand(node.high)
        for bound in (low, high):
            self.check_same(f"{a.text} BETWEEN", a, bound)
        if a.kind not in ("integer", "number", "timestamp"):
            raise InputError(f"BETWEEN takes numbers or times; {self.describe(a)} is neither")
        condition = self.sql_value(a).between(self.sql_value(low, a), self.sql_value(high, a))
        return not_(condition) if node.not_ else condition

    def in_(self, node: ast.In) -> ColumnElement[bool]:
        a = self.operand(node.lhs)
        if not node.sub_nodes:
            raise InputError(f"{a.text} IN (): the list is empty")
        self._tick(len(node.sub_nodes))
        options = [self.operand(item) for item in node.sub_nodes]
        for option in options:
            self.check_same(f"{a.text} IN (...)", a, option)
            if option.is_property:
                raise InputError("IN takes a list of literal values, not properties")
        if a.kind in ("geometry", "interval"):
            raise InputError(f"IN does not compare {_TYPE_WORDS[a.kind]}s")
        expr = self.sql_value(a)
        bound = [self.sql_value(option, a) for option in options]
        return expr.not_in(bound) if node.not_ else expr.in_(bound)

    # ---- space

    def geometry(self, operand: _Operand, name: str) -> Any:
        if operand.kind != "geometry":
            raise InputError(f"{name} compares geometries; {self.describe(operand)} is not one")
        if operand.is_property:
            return operand.sql
        shape = self.shape(operand.value)
        return func.ST_GeomFromText(shape.wkt, 4326)

    def shape(self, value: Any) -> Any:
        try:
            shape = shapely.force_2d(shapely.geometry.shape(value.__geo_interface__))
        except KeyError as exc:
            raise InputError(f"Not a GeoJSON geometry: it has no {exc}") from None
        except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
            raise InputError(f"Not a geometry: {exc}") from None
        shape = self.crs.geometries_to_wgs84(shape)
        if not shapely.is_valid(shape):
            raise InputError(f"The filter's geometry is not valid: {shapely.is_valid_reason(shape)}")
        return shape

    def spatial(self, node: ast.SpatialComparisonPredicate) -> ColumnElement[bool]:
        name = _FUNCTION_NAME[type(node)]
        a, b = self.operand(node.lhs), self.operand(node.rhs)
        if not a.is_property and not b.is_property:
            self.geometry(a, name), self.geometry(b, name)  # the same checks
            predicate = getattr(shapely, name[2:].lower())
            return true() if bool(predicate(self.shape(a.value), self.shape(b.value))) else false()
        sql_function = getattr(func, "ST_" + name[2:].capitalize())
        # SpatiaLite's predicates answer 1, 0 or -1 (for an error): only 1 is true.
        condition = sql_function(self.geometry(a, name), self.geometry(b, name)).is_(True)
        column, other = (a, b) if a.is_property else (b, a)
        if name == "S_DISJOINT" or other.is_property or not isinstance(column.sql, Column):
            return condition
        # Every predicate but S_DISJOINT holds only where the boxes meet: let the index say where.
        return and_(SpatialIndexHint(column.sql, self.shape(other.value).bounds), condition)

    # ---- time

    def period(self, operand: _Operand, name: str) -> tuple[Any, Any]:
        """The operand as (start, end): SQL for a property, aware datetimes or an infinity for a
        literal (an open end)."""
        if operand.is_property:
            if operand.kind != "timestamp":
                raise InputError(f"{name} compares times; {self.describe(operand)} is not one")
            return operand.sql, operand.sql
        value = operand.value
        if isinstance(value, values.Interval):
            start = _PAST if value.start in (OPEN, None) else self.instant(value.start, end=False, name=name)
            end = _FUTURE if value.end in (OPEN, None) else self.instant(value.end, end=True, name=name)
            if any(isinstance(v, ColumnElement) for v in (start, end)):
                return start, end
            if isinstance(start, datetime) and isinstance(end, datetime) and start > end:
                raise InputError(
                    f"{name}: the interval ends ({end.isoformat()}) before it starts ({start.isoformat()})"
                )
            return start, end
        if isinstance(value, (datetime, date)):
            return self.instant(value, end=False, name=name), self.instant(value, end=False, name=name)
        raise InputError(f"{name} compares times; {self.describe(operand)} is not one")

    def instant(self, value: Any, end: bool, name: str) -> Any:
        if isinstance(value, ast.Attribute):  # INTERVAL(started_at, ended_at)
            return self.period(self.operand(value), name)[0]
        if isinstance(value, datetime):
            return _aware(value)
        if isinstance(value, date):
            # An interval that ends on a date ends when that day does.
            if end and value == date.max:
                raise InputError(f"{name}: {value} is the last date there is: leave the interval open ('..')")
            return _day_start(value) + (timedelta(days=1) if end else timedelta())
        raise InputError(f"{name}: {value!r} is not a time")

    def temporal(self, node: ast.TemporalPredicate) -> ColumnElement[bool]:
        name = _FUNCTION_NAME[type(node)]
        a1, a2 = self.period(self.operand(node.lhs), name)
        b1, b2 = self.period(self.operand(node.rhs), name)
        relations: dict[str, Callable[[], list[Any]]] = {
            "T_AFTER": lambda: [_cmp(a1, ">", b2)],
            "T_BEFORE": lambda: [_cmp(a2, "<", b1)],
            "T_CONTAINS": lambda: [_cmp(a1, "<", b1), _cmp(a2, ">", b2)],
            "T_DURING": lambda: [_cmp(a1, ">", b1), _cmp(a2, "<", b2)],
            "T_EQUALS": lambda: [_cmp(a1, "=", b1), _cmp(a2, "=", b2)],
            "T_FINISHEDBY": lambda: [_cmp(a1, "<", b1), _cmp(a2, "=", b2)],
            "T_FINISHES": lambda: [_cmp(a1, ">", b1), _cmp(a2, "=", b2)],
            "T_INTERSECTS": lambda: [_cmp(a1, "<=", b2), _cmp(a2, ">=", b1)],
            "T_MEETS": lambda: [_cmp(a2, "=", b1)],
            "T_METBY": lambda: [_cmp(a1, "=", b2)],
            "T_OVERLAPPEDBY": lambda: [_cmp(a1, ">", b1), _cmp(a1, "<", b2), _cmp(a2, ">", b2)],
            "T_OVERLAPS": lambda: [_cmp(a1, "<", b1), _cmp(a2, ">", b1), _cmp(a2, "<", b2)],
            "T_STARTEDBY": lambda: [_cmp(a1, "=", b1), _cmp(a2, ">", b2)],
            "T_STARTS": lambda: [_cmp(a1, "=", b1), _cmp(a2, "<", b2)],
        }
        if name == "T_DISJOINT":
            return or_(_cmp(a1, ">", b2), _cmp(a2, "<", b1))
        return and_(*relations[name]())


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda x, y: x == y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def _rank(value: Any) -> tuple[int, Any]:
    return (value.sign, 0) if isinstance(value, _Infinity) else (0, value)


def _cmp(x: Any, symbol: str, y: Any) -> ColumnElement[bool]:
    """``x symbol y`` where each is SQL, an aware datetime or an open end (an infinity)."""
    x_sql, y_sql = isinstance(x, ColumnElement), isinstance(y, ColumnElement)
    if x_sql and y_sql:
        return _OPERATORS[symbol](x, y)
    if x_sql or y_sql:
        column, value = (x, y) if x_sql else (y, x)
        if isinstance(value, _Infinity):
            # A time against an open end is settled, except that a missing time (NULL) matches
            # nothing, as in any other comparison: ``x = x`` is NULL then, and true otherwise.
            finite = (0, 0)
            holds = _OPERATORS[symbol](finite, _rank(y)) if x_sql else _OPERATORS[symbol](_rank(x), finite)
            return column == column if holds else column != column
        bound = literal(value, type_=column.type)
        return _OPERATORS[symbol](x, bound) if x_sql else _OPERATORS[symbol](bound, y)
    both = _OPERATORS[symbol](_rank(x), _rank(y))
    return true() if both else false()


def filter_condition(layer_name: str, tree: Any, filter_crs: CoordinateSystem | None = None) -> ColumnElement[bool]:
    """The SQL condition of a parsed filter on ``layer_name``; InputError for an unknown
    property, a function or operator not supported, or a value of the wrong type.
    ``filter_crs``: the coordinate system of the filter's geometries (geo.spatial.crs.ogc_crs
    reads OGC's CRS URIs); CRS84 when None."""
    try:
        return _Translator(layer_name, filter_crs or WGS84).condition(tree)
    except RecursionError:
        raise InputError("The filter is nested too deeply") from None


__all__ = ["CONFORMANCE", "FILTER_LANGS", "filter_condition", "parse_filter"]
