"""One router per layer: list (filters, paging), and read, create, update, delete one feature."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError
from shapely.geometry import shape
from sqlalchemy.orm import Session

from api.deps import ActorDep, CRSDep, FeatureId, FiltersDep, NowDep, PageDep, SessionDep
from api.geojson import feature, feature_collection, row_collection
from api.idempotency import IdempotencyDep
from api.privacy import Reader, redact_collection, redact_feature
from api.readlog import ReaderDep
from api.schemas import CREATE_PROPS, PATCH_PROPS, FeatureIn
from api.v1.photos import with_photo_counts, with_photos
from geo.access.policy import check_may_write
from geo.components import with_category_names
from geo.edit.features import create_feature, delete_feature, update_feature
from geo.errors import InputError, StaleVersion
from geo.layers import Layer
from geo.media.photos import new_report_token
from geo.models import Component, Incident
from geo.query.features import ROW_LAYERS, FeaturePage, FeatureRows, feature_rows, get_object, query_features
from geo.spatial.crs import CoordinateSystem


def to_wgs84_geometry(body: FeatureIn, crs: CoordinateSystem):
    if body.geometry is None:
        return None
    try:
        # A position may carry an altitude (RFC 7946); wangge stores lon/lat only.
        geom = shapely.force_2d(shape(body.geometry.model_dump()))
    except (ValueError, TypeError, IndexError, KeyError, shapely.errors.GEOSException) as exc:
        # KeyError: a position given as an object where a list of numbers belongs
        raise InputError(f"geometry: not a valid GeoJSON {body.geometry.type} ({exc})") from None
    coords = shapely.get_coordinates(geom)
    if coords.size and not np.isfinite(coords).all():
        raise InputError("geometry: coordinates must be finite numbers (no NaN or infinity)")
    return crs.geometries_to_wgs84(np.array([geom], dtype=object))[0]


def parse_props(layer: str, body: FeatureIn, partial: bool) -> dict[str, Any]:
    model = (PATCH_PROPS if partial else CREATE_PROPS)[layer]
    try:
        parsed = model.model_validate(body.properties)
    except ValidationError as exc:
        raise InputError(
            "; ".join(f"properties.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    values = parsed.model_dump(exclude_unset=partial)
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}


def report_incident(session, values: dict[str, Any], geom, actor, now) -> tuple[Any, str]:
    """A new incident from parsed values and a WGS84 geometry, and its report token (the
    reporter's one-time key to add the report's photos): every way of reporting comes here."""
    token, values["report_token_sha256"] = new_report_token()
    return create_feature(session, "incidents", values, geom, actor, now), token


def etag(obj) -> str:
    return f'"{obj.id}-{obj.version}"'


def check_if_match(obj, if_match: str | None) -> None:
    """Incidents change only on the version the client last saw (If-Match: its ETag)."""
    if if_match is None:
        raise StaleVersion.required(etag(obj))
    given = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" not in given and etag(obj) not in given:
        raise StaleVersion(
            f"The incident changed since you read it (now {etag(obj)}, you sent {if_match}); read it again and retry"
        )


def collection_answer(
    session: Session,
    layer: str,
    rows: FeaturePage | FeatureRows,
    crs: CoordinateSystem,
    reader: Reader,
    now: datetime,
) -> dict[str, Any]:
    """A page of a layer as the caller may see it: incidents with their photo counts, components
    with their category's names, personal data only to whom it is for (``rows``: objects, or a
    page of ``feature_rows``)."""
    if isinstance(rows, FeatureRows):
        collection = row_collection(rows, crs)
    else:
        collection = feature_collection(rows, crs, now)
    if layer == "incidents":
        with_photo_counts(collection, session)
    if layer == "components":
        with_category_names(session, [f["properties"] for f in collection["features"]])
    return redact_collection(collection, reader)


def feature_answer(
    session: Session, obj, crs: CoordinateSystem, reader: Reader, now: datetime, photos: bool = False
) -> dict[str, Any]:
    """One stored feature as the caller may see it (``photos``: an incident's photos too)."""
    answer = redact_feature(feature(obj, crs, now), reader)
    if photos and isinstance(obj, Incident):
        with_photos(answer, session, obj, reader.actor)
    if isinstance(obj, Component):
        with_category_names(session, [answer["properties"]])
    return answer


def _links(request: Request, page, total: int) -> list[dict[str, str]]:
    links = [{"rel": "self", "href": str(request.url)}]
    if page.offset + page.limit < total:
        links.append(
            {
                "rel": "next",
                "href": str(request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)),
            }
        )
    if page.offset > 0:
        links.append(
            {
                "rel": "prev",
                "href": str(
                    request.url.include_query_params(offset=max(page.offset - page.limit, 0), limit=page.limit)
                ),
            }
        )
    return links


def layer_router(entry: Layer) -> APIRouter:
    router = APIRouter(prefix=f"/{entry.name}", tags=[entry.title])
    _add_read_routes(router, entry)
    if entry.writable:
        if entry.name not in CREATE_PROPS:  # a mistake in the code, found when the app is built
            raise RuntimeError(f"Layer {entry.name} is writable but api/schemas.py has no CREATE_PROPS for it")
        _add_write_routes(router, entry)
    return router


def _add_read_routes(router: APIRouter, entry: Layer) -> None:
    layer, singular = entry.name, entry.singular
    versioned = layer == "incidents"

    @router.get("", summary=f"List {layer} as a GeoJSON FeatureCollection")
    def list_features(
        request: Request,
        session: SessionDep,
        filters: FiltersDep,
        page: PageDep,
        crs: CRSDep,
        reader: ReaderDep,
        now: NowDep,
    ) -> dict:
        read = feature_rows if layer in ROW_LAYERS else query_features
        rows = read(session, layer, filters, limit=page.limit, offset=page.offset)
        collection = collection_answer(session, layer, rows, crs, reader, now)
        collection["links"] = _links(request, page, collection["numberMatched"])
        return collection

    @router.get("/{feature_id}", summary=f"One {singular}", name=f"get_{layer}")
    def get_feature(
        feature_id: FeatureId, response: Response, session: SessionDep, crs: CRSDep, reader: ReaderDep, now: NowDep
    ) -> dict:
        obj = get_object(session, layer, feature_id)
        if versioned:
            response.headers["ETag"] = etag(obj)
        return feature_answer(session, obj, crs, reader, now, photos=True)


def _add_write_routes(router: APIRouter, entry: Layer) -> None:
    layer, singular = entry.name, entry.singular
    versioned = layer == "incidents"

    @router.post(
        "",
        status_code=201,
        summary=f"Create a {singular}",
        description=(
            "The answer carries `report_token`, a one-time capability (valid 24 hours, only its SHA-256 is "
            "stored): send it as header `Report-Token` to `POST /api/v1/incidents/{id}/photos` to add the "
            "report's `report` photos, even without signing in."
        )
        if versioned
        else None,
    )
    def post_feature(
        body: FeatureIn,
        request: Request,
        response: Response,
        session: SessionDep,
        crs: CRSDep,
        actor: ActorDep,
        reader: ReaderDep,
        now: NowDep,
        idem: IdempotencyDep,
    ) -> dict:
        check_may_write(actor, layer, kind=body.properties.get("kind"))  # before saying what is wrong with the body
        values = parse_props(layer, body, partial=False)
        token = None
        if versioned:
            obj, token = report_incident(session, values, to_wgs84_geometry(body, crs), actor, now)
        else:
            obj = create_feature(session, layer, values, to_wgs84_geometry(body, crs), actor, now)
        response.headers["Location"] = str(request.url_for(f"get_{layer}", feature_id=obj.id))
        answer = feature_answer(session, obj, crs, reader, now)
        if versioned:
            response.headers["ETag"] = etag(obj)
            answer["report_token"] = token  # a foreign member: the reporter's key to add report photos
        return idem.answer(response, answer, 201)

    @router.patch(
        "/{feature_id}",
        summary=f"Change a {singular}: send only what changes" + (" (If-Match: its ETag)" if versioned else ""),
    )
    def patch_feature(
        feature_id: FeatureId,
        body: FeatureIn,
        response: Response,
        session: SessionDep,
        crs: CRSDep,
        actor: ActorDep,
        reader: ReaderDep,
        now: NowDep,
        if_match: str | None = Header(None, description="Incidents: the ETag you read"),
    ) -> dict:
        if versioned:
            # Keep the very object whose version was checked: the session holds it only weakly, and
            # read again (after another writer's commit) it would carry the newer version, so the
            # UPDATE's version check would pass and that writer's change would be overwritten.
            checked = get_object(session, layer, feature_id)
            check_may_write(actor, layer, incident=checked)  # who may, before whether their version is current
            check_if_match(checked, if_match)
        obj = update_feature(
            session, layer, feature_id, parse_props(layer, body, partial=True), to_wgs84_geometry(body, crs), actor, now
        )
        if versioned:
            response.headers["ETag"] = etag(obj)
        return feature_answer(session, obj, crs, reader, now)

    @router.delete("/{feature_id}", status_code=204, summary=f"Delete a {singular}")
    def remove_feature(feature_id: FeatureId, session: SessionDep, actor: ActorDep, now: NowDep) -> Response:
        delete_feature(session, layer, feature_id, actor, now)
        return Response(status_code=204)
