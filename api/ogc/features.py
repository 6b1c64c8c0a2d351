"""OGC API Features, parts 1 to 4: landing page, conformance, collections, items, queryables.

The collections are the layers of geo/layers.py the caller may read, answered through the same
calls, access policy and personal-data rules as /api/v1 (api/v1/layers.py): patrols (tracks are
personal data) only to those whose track scope covers some, and only those. Writes go through the
same checks as /api/v1; every feature read carries an ETag, and a write sent with an If-Match that
no longer matches changes nothing (412). Incidents need If-Match to be changed (428 without).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import ActorDep, NowDep, SessionDep
from api.errors import register_error_format
from api.geojson import feature
from api.idempotency import IdempotencyDep
from api.ogc import OGC_PREFIX, html, tiles
from api.ogc.document import DEFAULT_LIMIT, GEOJSON, ITEMS_PARAMS, JSON, MAX_LIMIT, document
from api.openapi import DESCRIPTIONS, HEADERS, register_error_document
from api.params import MAX_OFFSET
from api.privacy import Reader
from api.readlog import ReaderDep
from api.schemas import MAX_ID, FeatureIn
from api.v1.layers import (
    check_if_match,
    collection_answer,
    etag,
    feature_answer,
    parse_props,
    report_incident,
    to_wgs84_geometry,
)
from api.v1.patrols import note_track_read, patrol_feature
from geo.access.policy import Actor, check_may_write, track_scope
from geo.edit.features import create_feature, delete_feature, update_feature
from geo.errors import BadQuery, InputError, NotAuthenticated, NotFound, PermissionDenied, StaleVersion
from geo.layers import LAYERS, Layer
from geo.models import Incident, Patrol
from geo.patrols.service import responders_in_scope
from geo.query import cql2
from geo.query.features import (
    ROW_LAYERS,
    FeaturePage,
    FeatureRows,
    bbox_condition,
    feature_rows,
    get_object,
    query_features,
)
from geo.query.ogc import datetime_condition, extent, feature_etag, parse_bbox, property_conditions, property_names
from geo.query.queryables import geometry_type, queryables
from geo.spatial.crs import CRS84_URI, OGC_CRS, WGS84, CoordinateSystem, ogc_crs, served_crs

router = APIRouter(tags=["OGC API Features"])

_SPEC = "http://www.opengis.net/spec/"
CONFORMANCE: tuple[str, ...] = (
    _SPEC + "ogcapi-features-1/1.0/conf/core",
    _SPEC + "ogcapi-features-1/1.0/conf/geojson",
    _SPEC + "ogcapi-features-1/1.0/conf/html",
    _SPEC + "ogcapi-features-1/1.0/conf/oas30",
    _SPEC + "ogcapi-features-2/1.0/conf/crs",
    _SPEC + "ogcapi-features-3/1.0/conf/queryables",
    _SPEC + "ogcapi-features-3/1.0/conf/queryables-query-parameters",
    _SPEC + "ogcapi-features-4/1.0/conf/create-replace-delete",
    _SPEC + "ogcapi-features-4/1.0/conf/update",
    _SPEC + "ogcapi-features-4/1.0/conf/features",
)

OPENAPI_MEDIA = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_MEDIA = "application/schema+json"

_CODES = {400: "InvalidParameterValue", 401: "NotAuthenticated", 403: "Forbidden", 404: "NotFound"}


def _ogc_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    # A query parameter the service cannot use is a 400 in OGC API Features (wangge says 422);
    # a write's unusable body stays 422.
    if status == 422 and request.method in ("GET", "HEAD"):
        status = 400
    code = _CODES.get(status, {412: "PreconditionFailed", 422: "InvalidBody", 428: "PreconditionRequired"}.get(status))
    body = {"code": code or f"HTTP{status}", "description": message}
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=JSON)


register_error_format(OGC_PREFIX, _ogc_error)

# The OGC exception: what every error answer under /ogc is (its schema in the app's document too).
EXCEPTION = {
    "type": "object",
    "required": ["code", "description"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}


def _error_answers(codes: set[int]) -> dict[int, dict[str, Any]]:
    """The app document's error answers of an /ogc operation (``codes``: wangge's statuses; a
    query parameter's 422 is answered 400, a body's stays 422)."""
    out = {}
    for code in sorted(codes | {400}):
        answer: dict[str, Any] = {"description": DESCRIPTIONS[code], "content": {JSON: {"schema": EXCEPTION}}}
        if code in HEADERS:
            answer["headers"] = HEADERS[code]
        out[code] = answer
    return out


register_error_document(OGC_PREFIX, _error_answers)

Responses = dict[int | str, dict[str, Any]]


def _answers(ok: int, *media: str, **refusals: str) -> Responses:
    """An operation's documented answers: ``ok`` in each of ``media``, and its refusals (``e400=...``)."""
    out: Responses = {ok: {"content": {m: {} for m in media}}} if media else {}
    for key, description in refusals.items():
        out[int(key[1:])] = {"description": description, "content": {JSON: {"schema": EXCEPTION}}}
    return out


_BAD = "A parameter not understood, or a value that cannot be used"
_MISSING = "No such collection or feature"
_WRITES = {
    "e400": _BAD,
    "e404": _MISSING,
    "e405": "The collection is read-only",
    "e412": "If-Match does not match the feature's ETag: it changed since it was read",
    "e428": "Incidents: send If-Match (the ETag read)",
}
_PAGES = (JSON, "text/html")
_FEATURES = (GEOJSON, "text/html")


F = Annotated[str | None, Query(description="json (geojson) or html; else by Accept")]
Lang = Annotated[str | None, Query(description="zh-CN (default) or en, for HTML")]
CollectionId = Annotated[str, Path(alias="collectionId", description="A collection (layer) name")]
ItemId = Annotated[str, Path(alias="featureId", description="The feature's id")]


def _json(payload: Any, media: str = JSON, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=media,
        headers=headers,
    )


def _check_params(request: Request, accepted: set[str] | tuple[str, ...]) -> None:
    """OGC API Features: a query parameter the resource does not know is an error, not ignored."""
    unknown = sorted(set(request.query_params) - set(accepted))
    if unknown:
        raise BadQuery(
            f"Unknown query parameter(s) {', '.join(unknown)}: this resource accepts {', '.join(sorted(accepted))}"
        )


# --------------------------------------------------------------------------- who sees which collection


def _track_scope_or_none(actor: Actor):
    try:
        return track_scope(actor)
    except (PermissionDenied, NotAuthenticated):
        return None


def visible(actor: Actor) -> list[Layer]:
    """The collections ``actor`` may read: every layer, patrols only to whom some tracks are for."""
    return [e for e in LAYERS.values() if e.name != "patrols" or _track_scope_or_none(actor) is not None]


def _entry(collection_id: str, actor: Actor) -> Layer:
    entry = LAYERS.get(collection_id)
    if entry is None or entry not in visible(actor):
        names = ", ".join(e.name for e in visible(actor))
        raise NotFound(f"No collection {collection_id!r}: there are {names}")
    return entry


def _scope(session: Session, entry: Layer, actor: Actor) -> list[Any]:
    """The conditions that keep a caller to the features of a collection they may read."""
    if entry.name != "patrols":
        return []
    scope = track_scope(actor)
    allowed = responders_in_scope(session, scope.everyone, scope.grid_ids, scope.responder_id)
    return [] if allowed is None else [Patrol.responder_id.in_(allowed)]


def _feature_id(text: str, entry: Layer) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise NotFound(f"No {entry.singular} with id {text!r}")
    return int(text)


def _stored(session: Session, entry: Layer, text: str, actor: Actor, for_update: bool = False):
    feature_id = _feature_id(text, entry)
    obj = get_object(session, entry.name, feature_id, for_update=for_update)
    scope = _scope(session, entry, actor)
    model: Any = entry.model
    if scope and session.scalar(select(model.id).where(model.id == feature_id, *scope)) is None:
        raise NotFound(f"No {entry.singular} with id {feature_id}")
    return obj


# --------------------------------------------------------------------------- links and answers


def _base(request: Request) -> str:
    return str(request.url_for("ogc_landing")).rstrip("/")


def _link(href: str, rel: str, media: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": media}
    if title:
        out["title"] = title
    return out


def _self_links(request: Request, media: str) -> list[dict[str, str]]:
    here = request.url.remove_query_params("f")
    return [
        _link(str(here.include_query_params(f="json")), "self", media),
        _link(str(here.include_query_params(f="html")), "alternate", "text/html"),
    ]


def _title(entry: Layer, lang: str) -> str:
    return entry.zh if lang == "zh" else entry.plural


def _collection(request: Request, session: Session, entry: Layer, actor: Actor, lang: str) -> dict[str, Any]:
    base = _base(request)
    here = f"{base}/collections/{entry.name}"
    found = extent(session, entry.name, where=_scope(session, entry, actor))
    ext: dict[str, Any] = {"spatial": {"bbox": [found["spatial"] or [-180, -90, 180, 90]], "crs": CRS84_URI}}
    if "temporal" in found:
        ext["temporal"] = {
            "interval": [found["temporal"]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    links = [
        _link(here, "self", JSON),
        _link(here + "?f=html", "alternate", "text/html"),
        _link(here + "/items", "items", GEOJSON, _title(entry, lang)),
        _link(here + "/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_MEDIA),
    ]
    return {
        "id": entry.name,
        "title": _title(entry, lang),
        "description": entry.title,
        "itemType": "feature",
        "extent": ext,
        "crs": list(OGC_CRS),
        "storageCrs": CRS84_URI,
        "links": links,
    }


def _page_links(request: Request, offset: int, limit: int, matched: int) -> list[dict[str, str]]:
    links = _self_links(request, GEOJSON)
    url = request.url  # the next page in the format of this one
    if offset + limit < matched:
        links.append(_link(str(url.include_query_params(offset=offset + limit, limit=limit)), "next", GEOJSON))
    if offset > 0:
        links.append(_link(str(url.include_query_params(offset=max(offset - limit, 0), limit=limit)), "prev", GEOJSON))
    return links


def _filter_condition(layer: str, text: str, lang: str | None, crs_uri: str | None):
    lang = lang or cql2.FILTER_LANGS[0]
    if lang not in cql2.FILTER_LANGS:
        raise InputError(f"filter-lang {lang!r}: use {' or '.join(cql2.FILTER_LANGS)}")
    try:
        tree = cql2.parse_filter(text, lang)
        return cql2.filter_condition(layer, tree, ogc_crs(crs_uri) if crs_uri else None)
    except NotImplementedError:
        raise StarletteHTTPException(501, "CQL2 filters are not available in this version of wangge") from None


def _read_answer(session: Session, entry: Layer, obj, crs: CoordinateSystem, reader: Reader, now: datetime):
    if isinstance(obj, Patrol):
        note_track_read(reader, obj)
        return patrol_feature(session, obj, crs, now, details=False)
    return feature_answer(session, obj, crs, reader, now, photos=True)


def stored_etag(session: Session, obj, now: datetime) -> str:
    """The feature's ETag: an incident's version, else a hash of the feature as stored."""
    if isinstance(obj, Incident):
        return etag(obj)
    return feature_etag(feature(obj, WGS84, now))


def _headers(crs_uri: str, tag: str | None = None) -> dict[str, str]:
    headers = {"Content-Crs": f"<{crs_uri}>"}
    if tag is not None:
        headers["ETag"] = tag
    return headers


# --------------------------------------------------------------------------- part 1: reading


@router.get(
    "", name="ogc_landing", summary="OGC API Features: the landing page", responses=_answers(200, *_PAGES, e400=_BAD)
)
def landing(request: Request, f: F = None, lang: Lang = None) -> Response:
    _check_params(request, ("f", "lang"))
    words = html.WORDS[html.language(lang)]
    base = _base(request)
    links = [
        *_self_links(request, JSON),
        _link(base + "/api", "service-desc", OPENAPI_MEDIA, "OpenAPI 3.0"),
        _link(str(request.url_for("docs")), "service-doc", "text/html", "API docs"),
        _link(base + "/conformance", "conformance", JSON, words["conformance"]),
        _link(base + "/collections", "data", JSON, words["collections"]),
    ]
    title, description = words["landing"], "网格化社会治理 (community grid governance) data"
    if html.wants_html(request, f):
        return html.page(html.language(lang), title, description=description, links=links)
    return _json({"title": title, "description": description, "links": links})


@router.get("/", include_in_schema=False)
def landing_slash(request: Request, f: F = None, lang: Lang = None) -> Response:
    return landing(request, f, lang)


@router.get(
    "/api",
    summary="OGC API Features: the OpenAPI 3.0 document (for GDAL, OWSLib, QGIS)",
    responses=_answers(200, OPENAPI_MEDIA, e400=_BAD),
)
def api_document(request: Request, actor: ActorDep) -> Response:
    _check_params(request, ("f",))
    return _json(document(_base(request), visible(actor)), OPENAPI_MEDIA)


@router.get(
    "/conformance", summary="OGC API Features: the conformance classes", responses=_answers(200, *_PAGES, e400=_BAD)
)
def conformance(request: Request, f: F = None, lang: Lang = None) -> Response:
    _check_params(request, ("f", "lang"))
    classes = [*CONFORMANCE, *getattr(cql2, "CONFORMANCE", ()), *tiles.CONFORMANCE]
    if html.wants_html(request, f):
        words = html.WORDS[html.language(lang)]
        return html.page(html.language(lang), words["conformance"], rows=[[{"text": c}] for c in classes])
    return _json({"conformsTo": list(dict.fromkeys(classes))})


@router.get("/collections", summary="OGC API Features: the collections", responses=_answers(200, *_PAGES, e400=_BAD))
def collections(request: Request, session: SessionDep, actor: ActorDep, f: F = None, lang: Lang = None) -> Response:
    _check_params(request, ("f", "lang"))
    language = html.language(lang)
    found = [_collection(request, session, e, actor, language) for e in visible(actor)]
    links = _self_links(request, JSON)
    if html.wants_html(request, f):
        words = html.WORDS[language]
        rows = [[{"text": c["id"], "href": c["links"][0]["href"] + "?f=html"}, {"text": c["title"]}] for c in found]
        return html.page(language, words["collections"], columns=["id", words["title"]], rows=rows, links=links)
    return _json({"collections": found, "links": links, "crs": list(OGC_CRS)})


@router.get(
    "/collections/{collectionId}",
    summary="OGC API Features: one collection",
    responses=_answers(200, *_PAGES, e400=_BAD, e404=_MISSING),
)
def collection(
    request: Request, collection_id: CollectionId, session: SessionDep, actor: ActorDep, f: F = None, lang: Lang = None
) -> Response:
    _check_params(request, ("f", "lang"))
    entry = _entry(collection_id, actor)
    language = html.language(lang)
    answer = _collection(request, session, entry, actor, language)
    if html.wants_html(request, f):
        facts = [("id", entry.name), ("extent", answer["extent"]), ("storageCrs", answer["storageCrs"])]
        return html.page(
            language, answer["title"], description=answer["description"], facts=facts, links=answer["links"]
        )
    return _json(answer)


@router.get(
    "/collections/{collectionId}/queryables",
    summary="OGC API Features: the properties a collection can be filtered on (JSON Schema)",
    responses=_answers(200, SCHEMA_MEDIA, e400=_BAD, e404=_MISSING),
)
def collection_queryables(request: Request, collection_id: CollectionId, actor: ActorDep, f: F = None) -> Response:
    _check_params(request, ("f", "lang"))
    entry = _entry(collection_id, actor)
    here = f"{_base(request)}/collections/{entry.name}/queryables"
    found = queryables(entry.name)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": here,
        "type": "object",
        "title": entry.title,
        "properties": {name: q.schema() for name, q in found.items()},
        "additionalProperties": False,
        "x-ogc-geometry-type": geometry_type(entry.name),
    }
    return _json(schema, SCHEMA_MEDIA)


@router.get(
    "/collections/{collectionId}/items",
    name="ogc_items",
    summary="OGC API Features: features",
    responses=_answers(200, *_FEATURES, e400=_BAD, e404=_MISSING, e501="CQL2 filters are not available"),
)
def items(
    request: Request,
    collection_id: CollectionId,
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, description=f"Features per page (at most {MAX_LIMIT})")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", description="Instant or interval (.. open)")] = None,
    crs: Annotated[str | None, Query(description="CRS URI of the answer")] = None,
    filter_: Annotated[str | None, Query(alias="filter", description="CQL2 filter")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    f: F = None,
    lang: Lang = None,
) -> Response:
    entry = _entry(collection_id, reader.actor)
    layer = entry.name
    _check_params(request, (*ITEMS_PARAMS, *property_names(layer)))
    out_uri, out_crs = served_crs(crs)
    limit = min(limit, MAX_LIMIT)  # the standard: a larger limit is served as the largest
    where = [*_scope(session, entry, reader.actor), *property_conditions(layer, request.query_params)]
    if bbox is not None:
        where.append(bbox_condition(session, layer, parse_bbox(bbox, served_crs(bbox_crs)[1])))
    if datetime_ is not None:
        where.append(datetime_condition(layer, datetime_))
    if filter_ is not None:
        where.append(_filter_condition(layer, filter_, filter_lang, filter_crs))
    rows: FeaturePage | FeatureRows
    if layer in ROW_LAYERS:
        rows = feature_rows(session, layer, None, limit=limit, offset=offset, where=where)
    else:
        rows = query_features(session, layer, None, limit=limit, offset=offset, where=where)
    if isinstance(rows, FeaturePage) and layer == "patrols":
        answer = {
            "type": "FeatureCollection",
            "numberMatched": rows.total,
            "numberReturned": len(rows.rows),
            "features": [_read_answer(session, entry, p, out_crs, reader, now) for p in rows.rows],
        }
    else:
        answer = collection_answer(session, layer, rows, out_crs, reader, now)
    answer["timeStamp"] = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    answer["links"] = _page_links(request, offset, limit, rows.total)
    if html.wants_html(request, f):
        language = html.language(lang)
        base = _base(request)
        return html.features_page(
            language, _title(entry, language), answer, lambda i: f"{base}/collections/{layer}/items/{i}?f=html"
        )
    return _json(answer, GEOJSON, headers=_headers(out_uri))


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    name="ogc_item",
    summary="OGC API Features: one feature, with its ETag",
    responses=_answers(200, *_FEATURES, e400=_BAD, e404=_MISSING),
)
def item(
    request: Request,
    collection_id: CollectionId,
    feature_id: ItemId,
    session: SessionDep,
    reader: ReaderDep,
    now: NowDep,
    crs: Annotated[str | None, Query(description="CRS URI of the answer")] = None,
    f: F = None,
    lang: Lang = None,
) -> Response:
    _check_params(request, ("f", "lang", "crs"))
    entry = _entry(collection_id, reader.actor)
    out_uri, out_crs = served_crs(crs)
    obj = _stored(session, entry, feature_id, reader.actor)
    answer = _read_answer(session, entry, obj, out_crs, reader, now)
    base = _base(request)
    answer["links"] = [
        *_self_links(request, GEOJSON),
        _link(f"{base}/collections/{entry.name}", "collection", JSON),
    ]
    tag = stored_etag(session, obj, now)
    if html.wants_html(request, f):
        language = html.language(lang)
        facts = [("id", answer["id"]), ("geometry", answer["geometry"]), *answer["properties"].items()]
        response: Response = html.page(
            language, f"{_title(entry, language)} {answer['id']}", facts=facts, links=answer["links"]
        )
        response.headers["ETag"] = tag
        return response
    return _json(answer, GEOJSON, headers=_headers(out_uri, tag))


# --------------------------------------------------------------------------- part 4: writing


def _writable(entry: Layer) -> None:
    if not (entry.writable and entry.generic_api):
        raise StarletteHTTPException(405, f"{entry.name} is read-only here")


ContentCrs = Annotated[
    str | None, Header(alias="Content-Crs", description="The CRS of the body's coordinates (default CRS84)")
]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag read: the write happens only if it still matches")
]


def _check_etag(session: Session, obj, now: datetime, if_match: str | None, required: bool) -> None:
    """The write goes ahead only on the version the client read (its ETag in If-Match)."""
    if isinstance(obj, Incident):
        if required or if_match is not None:
            check_if_match(obj, if_match)
        return
    if if_match is None:
        return
    current = stored_etag(session, obj, now)
    given = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" not in given and current not in given:
        raise StaleVersion(
            f"The {obj.__class__.__name__.lower()} changed since you read it (now {current}); read it again and retry"
        )


def _written(request: Request, session: Session, entry: Layer, obj, reader: Reader, now: datetime, status: int):
    answer = feature_answer(session, obj, WGS84, reader, now)
    headers = {"ETag": stored_etag(session, obj, now), "Content-Crs": f"<{CRS84_URI}>"}
    if status == 201:
        headers["Location"] = str(request.url_for("ogc_item", collectionId=entry.name, featureId=str(obj.id)))
    return answer, headers


@router.post(
    "/collections/{collectionId}/items",
    status_code=201,
    summary="OGC API Features part 4: add a feature (Idempotency-Key: retry safely)",
    responses=_answers(201, GEOJSON, JSON, **_WRITES),
)
def create_item(
    request: Request,
    collection_id: CollectionId,
    body: FeatureIn,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    reader: ReaderDep,
    now: NowDep,
    idem: IdempotencyDep,
    content_crs: ContentCrs = None,
) -> Response:
    _check_params(request, ())
    entry = _entry(collection_id, actor)
    _writable(entry)
    check_may_write(actor, entry.name, kind=body.properties.get("kind"))  # before saying what is wrong with the body
    values = parse_props(entry.name, body, partial=False)
    geom = to_wgs84_geometry(body, served_crs(content_crs)[1])
    token = None
    if entry.name == "incidents":  # as every report: with the reporter's key to add its photos
        obj, token = report_incident(session, values, geom, actor, now)
    else:
        obj = create_feature(session, entry.name, values, geom, actor, now)
    answer, headers = _written(request, session, entry, obj, reader, now, 201)
    if token is not None:
        answer["report_token"] = token  # a foreign member, as /api/v1 answers it
    response.headers.update(headers)
    idem.answer(response, answer, 201)
    return _json(answer, GEOJSON, 201, headers)


def change_item(  # PUT replaces, PATCH changes what it is sent
    request: Request,
    collection_id: CollectionId,
    feature_id: ItemId,
    body: FeatureIn,
    session: SessionDep,
    actor: ActorDep,
    reader: ReaderDep,
    now: NowDep,
    content_crs: ContentCrs = None,
    if_match: IfMatch = None,
) -> Response:
    _check_params(request, ())
    entry = _entry(collection_id, actor)
    _writable(entry)
    partial = request.method == "PATCH"
    obj = _stored(session, entry, feature_id, actor, for_update=True)  # the row stays locked until the commit
    if isinstance(obj, Incident):
        check_may_write(actor, entry.name, incident=obj)  # who may, before whether their version is current
    _check_etag(session, obj, now, if_match, required=True)
    if not partial and body.geometry is None and entry.geometry_required:
        raise InputError(f"A replacement {entry.singular} needs its geometry (PATCH changes only what it is sent)")
    values = parse_props(entry.name, body, partial=partial)
    geom = to_wgs84_geometry(body, served_crs(content_crs)[1])
    obj = update_feature(session, entry.name, obj.id, values, geom, actor, now)
    answer, headers = _written(request, session, entry, obj, reader, now, 200)
    return _json(answer, GEOJSON, 200, headers)


_ITEM = "/collections/{collectionId}/items/{featureId}"
router.put(
    _ITEM,
    summary="OGC API Features part 4: replace a feature (If-Match: its ETag)",
    responses=_answers(200, GEOJSON, **_WRITES),
)(change_item)
router.patch(
    _ITEM,
    summary="OGC API Features part 4: change what is sent of a feature (If-Match: its ETag)",
    responses=_answers(200, GEOJSON, **_WRITES),
)(change_item)


@router.delete(
    "/collections/{collectionId}/items/{featureId}",
    status_code=204,
    summary="OGC API Features part 4: delete a feature (If-Match: its ETag, optional)",
    responses=_answers(204, **_WRITES),
)
def delete_item(
    request: Request,
    collection_id: CollectionId,
    feature_id: ItemId,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    if_match: IfMatch = None,
) -> Response:
    _check_params(request, ())
    entry = _entry(collection_id, actor)
    _writable(entry)
    obj = _stored(session, entry, feature_id, actor, for_update=True)
    _check_etag(session, obj, now, if_match, required=False)
    delete_feature(session, entry.name, obj.id, actor, now)
    return Response(status_code=204)
