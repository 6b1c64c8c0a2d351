"""CQL2 filters (geo/query/cql2.py) on the demo, on SpatiaLite and PostGIS.

Every filter runs through ``query_features(..., where=[filter_condition(...)])``; the ids it
must give are worked out here from the layer's rows in plain Python (shapely predicates for
space, datetimes for time), and the same filter in CQL2 JSON must give the same ids. The
thresholds, times and shapes in the filters are read from the data, so each filter selects
some rows and leaves others.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import inspect

from geo.errors import InputError
from geo.layers import LAYERS, field_values
from geo.query.cql2 import CONFORMANCE, filter_condition, parse_filter
from geo.query.features import query_features
from geo.query.queryables import queryables
from geo.spatial.crs import ogc_crs
from geo.spatial.geometry import from_db


@dataclass
class Row:
    id: int
    props: dict[str, Any]
    geom: Any


def _rows(session, layer: str) -> list[Row]:
    times = {name for name, q in queryables(layer).items() if q.is_time}
    out = []
    for obj in query_features(session, layer, limit=100_000).rows:
        props = field_values(obj, LAYERS[layer].properties)
        for name in times:
            if props.get(name) is not None:
                props[name] = datetime.fromisoformat(props[name])
        props["id"] = obj.id
        out.append(Row(obj.id, props, from_db(obj.geom)))
    return out


class Checker:
    """Runs filters on one layer and compares their ids with the rows the test picks."""

    def __init__(self, session, layer: str):
        self.session, self.layer = session, layer
        self.rows = _rows(session, layer)
        assert len(self.rows) > 5, f"the demo has too few {layer} to test on"

    def ids(self, text: str, lang: str = "cql2-text", crs: str | None = None) -> set[int]:
        condition = filter_condition(self.layer, parse_filter(text, lang), ogc_crs(crs) if crs else None)
        page = query_features(self.session, self.layer, limit=100_000, where=[condition])
        assert page.total == len(page.rows)
        return {row.id for row in page.rows}

    def check(
        self,
        text: str,
        expect: Callable[[Row], bool],
        json_form: dict | None = None,
        crs: str | None = None,
        selective: bool = True,
    ) -> set[int]:
        expected = {r.id for r in self.rows if expect(r)}
        if selective:  # the filter must tell rows apart, or the test proves little
            assert 0 < len(expected) < len(self.rows), f"{text}: selects {len(expected)} of {len(self.rows)}"
        assert self.ids(text, crs=crs) == expected, text
        if json_form is not None:
            assert self.ids(json.dumps(json_form), "cql2-json", crs=crs) == expected, json_form
        return expected


def prop(name: str) -> dict:
    return {"property": name}


def op(name: str, *args: Any) -> dict:
    return {"op": name, "args": list(args)}


def like(pattern: str, value: str | None) -> bool:
    """CQL2 LIKE, worked out with a regular expression."""
    if value is None:
        return False
    regex = ""
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            regex += re.escape(next(chars))
        else:
            regex += {"%": ".*", "_": "."}.get(char, re.escape(char))
    return re.fullmatch(regex, value, re.DOTALL) is not None


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_conformance_lists_the_classes():
    assert "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2" in CONFORMANCE
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in CONFORMANCE
    assert len(set(CONFORMANCE)) == len(CONFORMANCE)


def test_comparisons_like_between_in(session, demo):
    b = Checker(session, "buildings")
    m = statistics.median(r.props["residents"] for r in b.rows)
    h = statistics.median(r.props["households"] for r in b.rows)
    res = lambda r: r.props["residents"]  # noqa: E731
    kind = lambda r: r.props["kind"]  # noqa: E731
    b.check(f"residents > {m}", lambda r: res(r) > m, op(">", prop("residents"), m))
    b.check(
        f"residents >= {m} AND households < {h}",
        lambda r: res(r) >= m and r.props["households"] < h,
        op("and", op(">=", prop("residents"), m), op("<", prop("households"), h)),
    )
    b.check(f"residents <= {m} or kind = 'estate_building'", lambda r: res(r) <= m or kind(r) == "estate_building")
    b.check(
        "kind <> 'estate_building'", lambda r: kind(r) != "estate_building", op("<>", prop("kind"), "estate_building")
    )
    # AND binds tighter than OR.
    b.check(
        f"kind = 'old_building' OR kind = 'estate_building' AND residents > {m}",
        lambda r: kind(r) == "old_building" or (kind(r) == "estate_building" and res(r) > m),
        op(
            "or",
            op("=", prop("kind"), "old_building"),
            op("and", op("=", prop("kind"), "estate_building"), op(">", prop("residents"), m)),
        ),
    )
    b.check(
        f"NOT (kind = 'estate_building' OR residents > {m})",
        lambda r: not (kind(r) == "estate_building" or res(r) > m),
        op("not", op("or", op("=", prop("kind"), "estate_building"), op(">", prop("residents"), m))),
    )
    b.check("estate IS NULL", lambda r: r.props["estate"] is None, op("isNull", prop("estate")))
    b.check("estate IS NOT NULL", lambda r: r.props["estate"] is not None, op("not", op("isNull", prop("estate"))))
    b.check(f"residents > {m + 0.5}", lambda r: res(r) > m + 0.5)  # a number beside an integer property
    b.check("residents < 99999999999", lambda r: True, selective=False)  # past 32 bits
    b.check("'a' IS NULL OR residents IS NULL", lambda r: res(r) is None, selective=False)
    first = min(b.rows, key=lambda r: r.id)
    b.check(f"id IN ({first.id}, {first.id + 2})", lambda r: r.id in (first.id, first.id + 2))

    # LIKE: case-sensitive on both databases, _ is one character, \ escapes.
    prefix = first.props["name"][:4]
    b.check(
        f"name LIKE '{prefix}%'", lambda r: like(f"{prefix}%", r.props["name"]), op("like", prop("name"), f"{prefix}%")
    )
    code = first.props["code"]
    pattern = code[:-1] + "_"
    b.check(f"code LIKE '{pattern}'", lambda r: like(pattern, r.props["code"]))
    assert (
        b.check(f"code LIKE '{pattern.lower()}'", lambda r: like(pattern.lower(), r.props["code"]), selective=False)
        == set()
    )
    b.check(f"code NOT LIKE '{pattern}'", lambda r: not like(pattern, r.props["code"]))
    escaped = code[:2] + "\\_" + code[3:]  # CH\_B001: an underscore, which no code has
    assert b.check(f"code LIKE '{escaped}'", lambda r: like(escaped, r.props["code"]), selective=False) == set()
    assert b.check(f"code LIKE '{code[:2]}_{code[3:]}'", lambda r: r.props["code"] == code, selective=False) == {
        first.id
    }

    lo, hi = sorted({res(r) for r in b.rows})[len(b.rows) // 10], m
    b.check(
        f"residents BETWEEN {lo} AND {hi}",
        lambda r: lo <= res(r) <= hi,
        op("between", prop("residents"), lo, hi),
    )
    b.check(f"residents NOT BETWEEN {lo} AND {hi}", lambda r: not lo <= res(r) <= hi)
    b.check(
        "kind IN ('estate_building', 'public_facility')",
        lambda r: kind(r) in ("estate_building", "public_facility"),
        op("in", prop("kind"), ["estate_building", "public_facility"]),
    )
    grids = sorted({r.props["grid"] for r in b.rows if r.props["grid"]})[:2]
    b.check(f"grid IN ('{grids[0]}', '{grids[1]}')", lambda r: r.props["grid"] in grids)
    b.check(f"grid NOT IN ('{grids[0]}')", lambda r: r.props["grid"] is not None and r.props["grid"] != grids[0])
    # Quotes double inside strings; what a string holds stays a value.
    assert b.check("name = 'O''Brien'", lambda r: r.props["name"] == "O'Brien", selective=False) == set()
    injected = "x' OR '1'='1"
    assert b.ids(f"name = '{injected.replace(chr(39), chr(39) * 2)}'") == set()
    assert b.ids(json.dumps(op("=", prop("name"), injected)), "cql2-json") == set()

    i = Checker(session, "incidents")
    closed = lambda r: r.props["closed_at"]  # noqa: E731
    i.check("closed_at IS NULL", lambda r: closed(r) is None, op("isNull", prop("closed_at")))
    # Property against property.
    i.check(
        "closed_at > created_at",
        lambda r: closed(r) is not None and closed(r) > r.props["created_at"],
        op(">", prop("closed_at"), prop("created_at")),
        selective=False,
    )
    status = i.rows[0].props["status"]
    i.check(
        f"status = '{status}' AND closed_at IS NOT NULL",
        lambda r: r.props["status"] == status and closed(r) is not None,
        selective=False,
    )

    responders = Checker(session, "responders")
    for value in (True, False):
        responders.check(
            f"on_duty = {str(value).upper()}",
            lambda r, v=value: r.props["on_duty"] is v,
            op("=", prop("on_duty"), value),
            selective=False,
        )
    responders.check(
        "on_duty <> true AND kind = 'person'",
        lambda r: r.props["on_duty"] is False and r.props["kind"] == "person",
        selective=False,
    )


def test_temporal(session, demo):
    i = Checker(session, "incidents")
    created = lambda r: r.props["created_at"]  # noqa: E731
    closed = lambda r: r.props["closed_at"]  # noqa: E731
    times = sorted(created(r) for r in i.rows)
    t, t1, t2 = times[len(times) // 2], times[len(times) // 4], times[3 * len(times) // 4]
    t0 = times[len(times) // 3]

    i.check(
        f"created_at > TIMESTAMP('{z(t)}')", lambda r: created(r) > t, op(">", prop("created_at"), {"timestamp": z(t)})
    )
    naive = z(t).removesuffix("Z")  # a timestamp without an offset is UTC
    assert i.ids(f"created_at > TIMESTAMP('{naive}')") == i.ids(f"created_at > TIMESTAMP('{z(t)}')")
    beijing = t.astimezone(UTC) + timedelta(hours=8)
    offset = beijing.replace(tzinfo=None).isoformat() + "+08:00"
    assert i.ids(f"created_at <= TIMESTAMP('{offset}')") == {r.id for r in i.rows if created(r) <= t}
    day = t.date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    i.check(
        f"created_at >= DATE('{day}')",
        lambda r: created(r) >= midnight,
        op(">=", prop("created_at"), {"date": str(day)}),
    )

    i.check(
        f"T_AFTER(created_at, TIMESTAMP('{z(t)}'))",
        lambda r: created(r) > t,
        op("t_after", prop("created_at"), {"timestamp": z(t)}),
    )
    i.check(
        f"T_BEFORE(created_at, TIMESTAMP('{z(t)}'))",
        lambda r: created(r) < t,
        op("t_before", prop("created_at"), {"timestamp": z(t)}),
    )
    i.check(
        f"T_EQUALS(created_at, TIMESTAMP('{z(t0)}'))",
        lambda r: created(r) == t0,
        op("t_equals", prop("created_at"), {"timestamp": z(t0)}),
    )
    i.check(
        f"T_DURING(created_at, INTERVAL('{z(t1)}', '{z(t2)}'))",
        lambda r: t1 < created(r) < t2,
        op("t_during", prop("created_at"), {"interval": [z(t1), z(t2)]}),
    )
    i.check(
        f"T_INTERSECTS(created_at, INTERVAL('{z(t1)}', '..'))",
        lambda r: created(r) >= t1,
        op("t_intersects", prop("created_at"), {"interval": [z(t1), ".."]}),
    )
    i.check(
        "T_INTERSECTS(closed_at, INTERVAL('..', '..'))",
        lambda r: closed(r) is not None,
        op("t_intersects", prop("closed_at"), {"interval": ["..", ".."]}),
    )
    i.check(
        f"T_DISJOINT(created_at, INTERVAL('{z(t1)}', '{z(t2)}'))",
        lambda r: created(r) < t1 or created(r) > t2,
        op("t_disjoint", prop("created_at"), {"interval": [z(t1), z(t2)]}),
    )
    # An interval of dates runs from the first day's start to the last day's end.
    d1, d2 = t1.date(), t2.date()
    start, end = (
        datetime.combine(d1, datetime.min.time(), UTC),
        datetime.combine(d2 + timedelta(days=1), datetime.min.time(), UTC),
    )
    i.check(
        f"T_DURING(created_at, INTERVAL('{d1}', '{d2}'))",
        lambda r: start < created(r) < end,
        op("t_during", prop("created_at"), {"interval": [str(d1), str(d2)]}),
    )
    i.check(f"T_MEETS(created_at, INTERVAL('{z(t0)}', '..'))", lambda r: created(r) == t0)
    i.check(
        "T_AFTER(closed_at, created_at)", lambda r: closed(r) is not None and closed(r) > created(r), selective=False
    )
    # An incident's life as an interval, from its properties.
    i.check(
        f"T_INTERSECTS(INTERVAL(created_at, closed_at), TIMESTAMP('{z(t)}'))",
        lambda r: closed(r) is not None and created(r) <= t <= closed(r),
        op("t_intersects", {"interval": [prop("created_at"), prop("closed_at")]}, {"timestamp": z(t)}),
        selective=False,
    )
    i.check(
        f"T_CONTAINS(INTERVAL(created_at, closed_at), TIMESTAMP('{z(t)}'))",
        lambda r: closed(r) is not None and created(r) < t < closed(r),
        selective=False,
    )
    i.check(
        f"T_OVERLAPS(INTERVAL(created_at, closed_at), INTERVAL('{z(t1)}', '{z(t2)}'))",
        lambda r: closed(r) is not None and created(r) < t1 < closed(r) < t2,
        selective=False,
    )
    i.check(
        f"T_STARTS(INTERVAL(created_at, closed_at), INTERVAL('{z(t0)}', '..'))",
        lambda r: closed(r) is not None and created(r) == t0,
        selective=False,
    )


def _wkt_latlon(shape) -> str:
    return shapely.transform(shape, lambda xy: xy[:, ::-1]).wkt


def test_spatial(session, demo):
    b = Checker(session, "buildings")
    g = Checker(session, "grids")
    minx, miny, maxx, maxy = map(float, shapely.total_bounds([r.geom for r in b.rows]))
    box = (minx, miny, (minx + maxx) / 2, (miny + maxy) / 2)
    quarter = shapely.box(*box)
    bbox_text = ", ".join(map(repr, box))
    s_intersects_box = lambda r: r.geom.intersects(quarter)  # noqa: E731
    b.check(
        f"S_INTERSECTS(geometry, BBOX({bbox_text}))",
        s_intersects_box,
        op("s_intersects", prop("geometry"), {"bbox": list(box)}),
    )
    b.check(
        f"S_DISJOINT(geometry, BBOX({bbox_text}))",
        lambda r: r.geom.disjoint(quarter),
        op("s_disjoint", prop("geometry"), {"bbox": list(box)}),
    )
    # The same box in other coordinate systems: latitude first, and Web Mercator.
    lat_first = f"S_INTERSECTS(geometry, BBOX({box[1]!r}, {box[0]!r}, {box[3]!r}, {box[2]!r}))"
    for uri in ("http://www.opengis.net/def/crs/EPSG/0/4326", "http://www.opengis.net/def/crs/EPSG/0/4490"):
        b.check(
            lat_first,
            s_intersects_box,
            op("s_intersects", prop("geometry"), {"bbox": [box[1], box[0], box[3], box[2]]}),
            crs=uri,
        )
    x0, y0 = map(float, Transformer.from_crs(4326, 3857, always_xy=True).transform(box[0], box[1]))
    x1, y1 = map(float, Transformer.from_crs(4326, 3857, always_xy=True).transform(box[2], box[3]))
    b.check(
        f"S_INTERSECTS(geometry, BBOX({x0!r}, {y0!r}, {x1!r}, {y1!r}))",
        s_intersects_box,
        crs="http://www.opengis.net/def/crs/EPSG/0/3857",
    )

    grid = sorted(g.rows, key=lambda r: r.id)[2]
    inside = grid.geom.representative_point()
    point = f"POINT({inside.x!r} {inside.y!r})"
    g.check(
        f"S_INTERSECTS(geometry, {point})",
        lambda r: r.geom.intersects(inside),
        op("s_intersects", prop("geometry"), shapely.geometry.mapping(inside)),
    )
    g.check(
        f"S_CONTAINS(geometry, {point})",
        lambda r: r.geom.contains(inside),
        op("s_contains", prop("geometry"), shapely.geometry.mapping(inside)),
    )
    g.check(
        f"S_INTERSECTS(geometry, POINT({inside.y!r} {inside.x!r}))",
        lambda r: r.geom.intersects(inside),
        crs="http://www.opengis.net/def/crs/EPSG/0/4326",
    )
    b.check(
        f"S_WITHIN(geometry, {grid.geom.wkt})",
        lambda r: r.geom.within(grid.geom),
        op("s_within", prop("geometry"), shapely.geometry.mapping(grid.geom)),
    )
    g.check(
        f"S_EQUALS(geometry, {grid.geom.wkt})",
        lambda r: r.geom.equals(grid.geom),
        op("s_equals", prop("geometry"), shapely.geometry.mapping(grid.geom)),
    )
    g.check(f"S_TOUCHES(geometry, {grid.geom.wkt})", lambda r: r.geom.touches(grid.geom), selective=False)
    g.check(
        f"S_WITHIN(geometry, {_wkt_latlon(grid.geom)})",
        lambda r: r.geom.within(grid.geom),
        crs="EPSG:4326",
        selective=False,
    )
    centre = shapely.box(*shapely.total_bounds([r.geom for r in g.rows])).centroid.buffer(0.002, quad_segs=4)
    g.check(
        f"S_OVERLAPS(geometry, {centre.wkt})",
        lambda r: r.geom.overlaps(centre),
        op("s_overlaps", prop("geometry"), shapely.geometry.mapping(centre)),
    )
    across = shapely.LineString([(minx, inside.y), (maxx, inside.y)])  # through the grid, across others
    g.check(
        f"S_CROSSES(geometry, {across.wkt})",
        lambda r: r.geom.crosses(across),
        op("s_crosses", prop("geometry"), shapely.geometry.mapping(across)),
    )
    b.check(f"S_INTERSECTS(geometry, {across.buffer(0.0005).wkt})", lambda r: r.geom.intersects(across.buffer(0.0005)))
    # Mixed with other conditions, and a literal-only predicate.
    b.check(
        f"S_INTERSECTS(geometry, BBOX({bbox_text})) AND kind = 'estate_building'",
        lambda r: s_intersects_box(r) and r.props["kind"] == "estate_building",
        selective=False,
    )
    assert b.ids("S_INTERSECTS(POINT(1 1), BBOX(0, 0, 2, 2))") == {r.id for r in b.rows}
    assert b.ids("S_INTERSECTS(POINT(5 5), BBOX(0, 0, 2, 2))") == set()


# The CQL2 standard's own examples (cql2/standard/schema/examples/text): they parse, and on a
# layer without their properties each is refused naming the property.
SPEC_EXAMPLES = [
    "(floors>5 AND material='brick') OR swimming_pool=true",
    "floors>5 AND swimming_pool=true",
    "taxes <= 500",
    "owner LIKE 'Mike%'",
    "T_BEFORE(built, DATE('2015-01-01'))",
    "T_DURING(INTERVAL(starts_at, ends_at), INTERVAL('2017-06-10T07:30:00Z', '2017-06-11T10:30:00Z'))",
    "T_CONTAINS(INTERVAL('2000-01-01T00:00:00.000000Z', '2005-01-10T01:01:01.393216Z'), INTERVAL(starts_at, ends_at))",
    "    eo:cloud_cover >= 0.1\nAND eo:cloud_cover <= 0.2\nAND landsat:wrs_row=28\nAND landsat:wrs_path=203\n",
    "eo_instruments LIKE 'OLI%'\n  AND S_INTERSECTS(footprint,POLYGON((43.5845 -79.5442,\n 43.6079 -79.4893,\n 43.5677 -79.4632,\n 43.5845 -79.5442)))",
]


@pytest.mark.parametrize("text", SPEC_EXAMPLES)
def test_spec_examples_parse(text):
    tree = parse_filter(text)
    with pytest.raises(InputError, match=r"have no queryable property .*use one of id, code, name"):
        filter_condition("buildings", tree)


def test_spec_examples_on_our_properties_parse_and_translate():
    # Example 24 with a geometry our layers have, and example 22 in JSON on incidents.
    filter_condition(
        "buildings", parse_filter("S_INTERSECTS(geometry,POLYGON((-10.0 -10.0,10.0 -10.0,10.0 10.0,-10.0 -10.0)))")
    )
    document = {
        "op": "t_during",
        "args": [{"property": "created_at"}, {"interval": ["2017-06-10T07:30:00Z", "2017-06-11T10:30:00Z"]}],
    }
    filter_condition("incidents", parse_filter(json.dumps(document), "cql2-json"))


BAD = [
    # (layer, filter, lang, words the message must hold)
    ("buildings", "residents > ", "cql2-text", ["at the end", "expected", "a number"]),
    ("buildings", "residents >> 5", "cql2-text", ["character 12", "expected"]),
    ("buildings", "name = 'x", "cql2-text", ["character 8"]),
    ("buildings", "(((name = 'x')", "cql2-text", ["expected", ")"]),
    ("buildings", "floors > 5", "cql2-text", ["'floors'", "residents", "queryables"]),
    ("buildings", "phone = '1'", "cql2-text", ["'phone'"]),
    ("buildings", "residents = 'five'", "cql2-text", ["'residents' (an integer)", "(a string)"]),
    ("buildings", "name > 5", "cql2-text", ["'name' (a string)", "(an integer)"]),
    ("incidents", "created_at > '2026-01-01'", "cql2-text", ["TIMESTAMP("]),
    (
        "incidents",
        "created_at > TIMESTAMP('2026-13-01T00:00:00Z')",
        "cql2-text",
        ["'2026-13-01T00:00:00Z' is not a timestamp"],
    ),
    (
        "incidents",
        "T_DURING(created_at, INTERVAL('2026-02-01', '2026-01-01'))",
        "cql2-text",
        ["ends", "before it starts"],
    ),
    (
        "incidents",
        "T_AFTER(kind, TIMESTAMP('2026-01-01T00:00:00Z'))",
        "cql2-text",
        ["T_AFTER compares times", "'kind'"],
    ),
    (
        "buildings",
        "S_INTERSECTS(geometry, residents)",
        "cql2-text",
        ["S_INTERSECTS compares geometries", "'residents'"],
    ),
    ("buildings", "S_INTERSECTS(geometry, BBOX(1, 2, 3))", "cql2-text", ["BBOX has 4 numbers"]),
    (
        "buildings",
        "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
        "cql2-text",
        ["not valid", "Self-intersection"],
    ),
    ("buildings", "S_INTERSECTS(geometry, SRID=3857;POINT(1 2))", "cql2-text", ["filter-crs"]),
    ("buildings", "CASEI(name) = 'x'", "cql2-text", ["CASEI", "not supported"]),
    ("buildings", "ACCENTI(name) = 'x'", "cql2-text", ["ACCENTI", "not supported"]),
    ("buildings", "residents + 1 > 5", "cql2-text", ["Arithmetic"]),
    ("buildings", "geometry = 5", "cql2-text", ["(a geometry)"]),
    ("buildings", "residents LIKE '5%'", "cql2-text", ["LIKE matches strings"]),
    ("buildings", "name BETWEEN 'a' AND 'b'", "cql2-text", ["BETWEEN takes numbers or times"]),
    ("responders", "on_duty > true", "cql2-text", ["compared with = and <> only"]),
    ("buildings", "name = 'x'", "cql-text", ["filter-lang 'cql-text'", "cql2-text or cql2-json"]),
    ("buildings", "   ", "cql2-text", ["empty"]),
    ("buildings", '{"op": "=", "args": [{"property": "name"}]}', "cql2-json", ["filter", "takes 2 argument(s), not 1"]),
    ("buildings", '{"op": "=", "args": [', "cql2-json", ["not JSON", "line 1"]),
    (
        "buildings",
        '{"op": "and", "args": [{"op": "=", "args": [{"property": "name"}, {"x": 1}]}, true]}',
        "cql2-json",
        ["filter.args[0].args[1]", "not a CQL2 value"],
    ),
    ("buildings", '{"op": "casei", "args": [{"property": "name"}]}', "cql2-json", ["CASEI", "not supported"]),
    (
        "buildings",
        '{"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [1, 2]}]}',
        "cql2-json",
        ["BBOX has 4 numbers"],
    ),
    ("buildings", '{"property": "name"}', "cql2-json", ["not a condition"]),
    ("buildings", '{"op": "=", "args": [{"property": "name"}, "a\\u0000b"]}', "cql2-json", ["NUL"]),
    ("buildings", "residents > 99999999999999999999", "cql2-text", ["too large"]),
    ("buildings", '{"op": ">", "args": [{"property": "residents"}, NaN]}', "cql2-json", ["not a number"]),
    ("incidents", "created_at > TIMESTAMP('0001-01-01T00:00:00+08:00')", "cql2-text", ["is not a timestamp"]),
    ("incidents", "T_DURING(created_at, INTERVAL('2026-01-01', '9999-12-31'))", "cql2-text", ["last date"]),
    ("buildings", "name = 'x' AND " * 5000 + "name = 'y'", "cql2-text", ["longer than 64 KB"]),
    ("buildings", "(" * 100 + "name = 'x'" + ")" * 100, "cql2-text", ["nests brackets more than 64 deep"]),
    ("buildings", "[" * 100 + "]" * 100, "cql2-json", ["nests brackets"]),
    ("buildings", " OR ".join(f"id = {n}" for n in range(1200)), "cql2-text", ["more than 1000 conditions"]),
    ("buildings", f"id IN ({', '.join(str(n) for n in range(1200))})", "cql2-text", ["more than 1000 conditions"]),
]


@pytest.mark.parametrize("layer,text,lang,words", BAD, ids=[f"{n}-{b[2]}" for n, b in enumerate(BAD)])
def test_bad_filters_say_what_is_wrong(layer, text, lang, words):
    with pytest.raises(InputError) as caught:
        filter_condition(layer, parse_filter(text, lang))
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert len(message) < 600, message


def test_naive_and_dated_values_become_aware():
    tree = parse_filter("created_at > TIMESTAMP('2026-01-01T00:00:00')")
    assert tree.rhs == datetime(2026, 1, 1, tzinfo=UTC)
    tree = parse_filter('{"op": ">", "args": [{"property": "created_at"}, {"date": "2026-01-01"}]}', "cql2-json")
    assert tree.rhs == date(2026, 1, 1)


def test_ogc_crs_reads_axis_order():
    assert ogc_crs(None).point_to_wgs84(113.0, 23.7) == (113.0, 23.7)
    assert ogc_crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84").point_to_wgs84(113.0, 23.7) == (113.0, 23.7)
    assert ogc_crs("http://www.opengis.net/def/crs/EPSG/0/4326").point_to_wgs84(23.7, 113.0) == (113.0, 23.7)
    x, y = ogc_crs("http://www.opengis.net/def/crs/EPSG/0/4490").point_to_wgs84(23.7, 113.0)
    assert abs(x - 113.0) < 1e-6 and abs(y - 23.7) < 1e-6
    x, y = ogc_crs("http://www.opengis.net/def/crs/EPSG/0/3857").point_to_wgs84(12579102.46, 2716894.18)
    assert abs(x - 113.0) < 1e-6 and abs(y - 23.7) < 1e-6
    lat_first = ogc_crs("EPSG:4326")
    assert tuple(float(v[0]) for v in lat_first.from_wgs84([113.0], [23.7])) == (23.7, 113.0)
    with pytest.raises(InputError, match="CRS84"):
        ogc_crs("urn:nothing")


def test_values_are_bound_never_written_into_sql(session, demo):
    # The filter's SQL is bound parameters only: the text of a value never reaches the SQL.
    condition = filter_condition("buildings", parse_filter("name = 'x''; DROP TABLE buildings; --'"))
    sql = str(condition.compile())
    assert "DROP" not in sql
    assert query_features(session, "buildings", where=[condition]).total == 0
    assert "buildings" in inspect(session.get_bind()).get_table_names()


def test_spatial_predicates_use_spatialites_index():
    from sqlalchemy.dialects import postgresql, sqlite

    for text in ("S_INTERSECTS(geometry, BBOX(1, 2, 3, 4))", "S_WITHIN(geometry, POINT(1 2))"):
        condition = filter_condition("buildings", parse_filter(text))
        assert "SpatialIndex" in str(condition.compile(dialect=sqlite.dialect()))
        assert "SpatialIndex" not in str(condition.compile(dialect=postgresql.dialect()))
    # S_DISJOINT holds where the boxes do not meet: the index cannot narrow it.
    condition = filter_condition("buildings", parse_filter("S_DISJOINT(geometry, BBOX(1, 2, 3, 4))"))
    assert "SpatialIndex" not in str(condition.compile(dialect=sqlite.dialect()))


def test_mangled_filters_raise_input_errors_only(session):
    """Filters with characters dropped, doubled or swapped: each is read and run, or refused
    with an InputError; nothing else escapes (that would be a 500)."""
    import random

    seeds = [
        ("buildings", "residents BETWEEN 10 AND 50 AND (name LIKE 'a\\_%' OR kind IN ('x', 'y'))"),
        ("buildings", "S_INTERSECTS(geometry, BBOX(113.0, 23.6, 113.1, 23.7)) AND NOT estate IS NULL"),
        ("buildings", "S_WITHIN(geometry, POLYGON((0 0, 1 0, 1 1, 0 0))) OR households <> -3.5e2"),
        ("incidents", "T_DURING(INTERVAL(created_at, closed_at), INTERVAL('2026-01-01T00:00:00Z', '..'))"),
        (
            "incidents",
            "created_at >= DATE('2026-01-01') AND T_AFTER(closed_at, TIMESTAMP('2026-02-01T08:00:00+08:00'))",
        ),
    ]
    rng = random.Random(14)
    alphabet = "()',.%_-\\ 0aZ:"
    for layer, text in seeds:
        for _ in range(150):
            chars = list(text)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(chars))
                change = rng.choice(("drop", "double", "swap", "insert"))
                if change == "drop":
                    del chars[at]
                elif change == "double":
                    chars.insert(at, chars[at])
                elif change == "swap" and at + 1 < len(chars):
                    chars[at], chars[at + 1] = chars[at + 1], chars[at]
                else:
                    chars.insert(at, rng.choice(alphabet))
            mangled = "".join(chars)
            try:
                condition = filter_condition(layer, parse_filter(mangled))
            except InputError:
                continue
            query_features(session, layer, limit=1, where=[condition])


def test_json_filters_with_odd_members_raise_input_errors_only(session):
    """A CQL2 JSON filter with one member replaced by a value of another shape: read and run,
    or refused with an InputError."""
    import random

    document = op(
        "and",
        op("between", prop("residents"), 10, 50),
        op("in", prop("kind"), ["x", "y"]),
        op("s_intersects", prop("geometry"), {"bbox": [113.0, 23.6, 113.1, 23.7]}),
        op("not", op("isNull", prop("estate"))),
        op("s_within", prop("geometry"), {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
    )
    odd = [
        None,
        True,
        0,
        -1.5,
        2**70,
        "",
        "..",
        "x",
        [],
        [1],
        {},
        {"op": "x"},
        {"property": 3},
        {"timestamp": "2026"},
        {"date": None},
        {"interval": ["..", 5]},
        {"bbox": [1, 2, 3, "a"]},
        {"type": "Point"},
        prop("name"),
    ]

    def paths(node, path=()):
        yield path
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, child in children:
            yield from paths(child, (*path, key))

    rng = random.Random(14)
    every = list(paths(document))[1:]
    for _ in range(400):
        changed = json.loads(json.dumps(document))
        *parents, last = rng.choice(every)
        holder = changed
        for key in parents:
            holder = holder[key]
        holder[last] = rng.choice(odd)
        try:
            condition = filter_condition("buildings", parse_filter(json.dumps(changed), "cql2-json"))
        except InputError:
            continue
        query_features(session, "buildings", limit=1, where=[condition])
