"""Photos of incidents over HTTP: upload (multipart), list, the picture and its thumbnail.

The logic is in geo/media/; this module reads the form, and shapes the answers and the cache
headers. Whoever may see the incident's personal data gets the original with its EXIF (where
and when it was taken); everyone else gets a copy re-encoded without any metadata.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from api.deps import ActorDep, IncidentId, NowDep, SessionDep
from api.forms import Form, read_photo_form
from api.idempotency import IdempotencyDep
from api.schemas import MAX_ID
from api.v1 import API_PREFIX
from geo.access.policy import Actor, sees_incident_personal_data
from geo.errors import InputError
from geo.media import photos as media
from geo.models import PHOTO_STAGES, Incident, Photo
from geo.query.features import get_object
from geo.settings import get_settings

router = APIRouter(prefix="/incidents", tags=["Photos"])

PhotoId = Annotated[int, Path(ge=1, le=MAX_ID, description="The photo's id")]
FormDep = Annotated[Form, Depends(read_photo_form)]
YEAR_S = 365 * 24 * 3600

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "stage"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The photo: JPEG, PNG, WebP or HEIC/HEIF, recognised by its content",
                    },
                    "stage": {"type": "string", "enum": list(PHOTO_STAGES)},
                    "exif_crs": {
                        "type": "string",
                        "enum": list(media.EXIF_CRS),
                        "description": "The coordinate system of the photo's EXIF GPS, if the app knows it "
                        "(many Chinese phone cameras write GCJ-02). Without it the camera's GPSMapDatum "
                        "decides, else WGS84 is assumed and the answer says so (position_crs_assumed).",
                    },
                },
            }
        }
    },
}


def photo_url(incident_id: int, photo_id: int) -> str:
    return f"{API_PREFIX}/incidents/{incident_id}/photos/{photo_id}"


def photo_answer(photo: Photo, actor: Actor, grid_id: int | None) -> dict[str, Any]:
    """One photo in answers; where and when it was taken only for those who see personal data."""
    url = photo_url(photo.incident_id, photo.id)
    out: dict[str, Any] = {
        "id": photo.id,
        "stage": photo.stage,
        "media_type": photo.media_type,
        "width": photo.width,
        "height": photo.height,
        "bytes": photo.bytes,
        "url": url,
        "thumbnail_url": f"{url}/thumbnail",
        "far": photo.far,
        "distance_m": None if photo.distance_m is None else round(photo.distance_m, 1),
        "uploaded_by": photo.uploaded_by,
        "uploaded_at": photo.uploaded_at.isoformat(),
    }
    if sees_incident_personal_data(actor, grid_id):
        out.update(
            taken_at=photo.taken_at.isoformat() if photo.taken_at else None,
            position=None if photo.lon is None else {"lon": photo.lon, "lat": photo.lat},  # WGS84
            position_crs=photo.position_crs,
            position_crs_assumed=photo.position_crs_assumed,
        )
    return out


def photos_answer(session, incident: Incident, actor: Actor) -> list[dict[str, Any]]:
    return [photo_answer(p, actor, incident.grid_id) for p in media.photos_of(session, incident.id)]


def with_photos(answer: dict[str, Any], session, incident: Incident, actor: Actor) -> dict[str, Any]:
    """An incident's Feature with its photos (the single incident and the workflow's answers)."""
    answer["properties"]["photos"] = photos_answer(session, incident, actor)
    return answer


def with_photo_counts(collection: dict[str, Any], session) -> dict[str, Any]:
    """A page of incidents with each one's number of photos: one grouped query for the page."""
    counts = media.photo_counts(session, [f["id"] for f in collection["features"]])
    for f in collection["features"]:
        f["properties"]["photo_count"] = counts.get(f["id"], 0)
    return collection


@router.post(
    "/{incident_id}/photos",
    status_code=201,
    summary="Add a photo (multipart: file, stage, optional exif_crs)",
    description=(
        "Up to `WANGGE_PHOTO_MAX_COUNT` (9) photos per incident, `WANGGE_PHOTO_MAX_BYTES` (10 MB) each. "
        "Who may: whoever may change the incident; and whoever just reported it (the public included) may add "
        "`report` photos for 24 hours by sending header `Report-Token` with the `report_token` of the "
        "answer to `POST /api/v1/incidents`. Refusals: 413 too large (refused while it streams in), "
        "415 not a JPEG, PNG, WebP or HEIC image, 422 an unknown stage or a truncated or decompression-bomb "
        "image, 409 a photo past the limit or an Idempotency-Key reused for another file. "
        "Nothing is stored on any refusal."
    ),
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
def upload_photo(
    incident_id: IncidentId,
    # The token is checked while the rest of the body is still arriving; then the form is read,
    # and only then does the request take its turn at the database (its session).
    actor: ActorDep,
    form: FormDep,
    request: Request,
    response: Response,
    session: SessionDep,
    now: NowDep,
    idem: IdempotencyDep,
    report_token: Annotated[
        str | None, Header(description="The report_token of the incident's creation: the reporter's report photos")
    ] = None,
) -> dict[str, Any]:
    incident = get_object(session, "incidents", incident_id)
    data = form.files.get("file")
    if data is None:
        raise InputError("Send the photo as a file in the form field 'file'")
    stage = form.fields.get("stage")
    if not stage:
        raise InputError(f"Say what the photo shows in the form field 'stage': one of {', '.join(PHOTO_STAGES)}")
    exif_crs = form.fields.get("exif_crs") or None
    photo = media.add_photo(
        session, incident, data, stage, actor, now, exif_crs, report_token, form.digests.get("file")
    )
    response.headers["Location"] = photo_url(incident_id, photo.id)
    return idem.answer(response, photo_answer(photo, actor, incident.grid_id), 201)


@router.get("/{incident_id}/photos", summary="The incident's photos, oldest first")
def list_photos(incident_id: IncidentId, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    incident = get_object(session, "incidents", incident_id)
    return {
        "incident": incident_id,
        "max_count": get_settings().photo_max_count,
        "photos": photos_answer(session, incident, actor),
    }


def _image(request: Request, photo: Photo, copy: str, private: bool) -> Response:
    tag = f'"{photo.sha256}"' if copy == media.ORIGINAL else f'"{photo.sha256}-{copy}"'
    headers = {
        "ETag": tag,
        # The bytes behind a name never change; only those allowed may keep the one with EXIF.
        "Cache-Control": f"{'private' if private else 'public'}, max-age={YEAR_S}, immutable",
        "Vary": "Authorization",
    }
    if tag in [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    data, media_type = media.photo_bytes(photo, copy)
    return Response(data, media_type=media_type, headers=headers)


@router.get(
    "/{incident_id}/photos/{photo_id}",
    summary="The photo: the original with its EXIF for those who see the incident's personal data, else a copy without any",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "image/heic": {}}}},
)
def get_photo(
    incident_id: IncidentId, photo_id: PhotoId, request: Request, session: SessionDep, actor: ActorDep
) -> Response:
    incident = get_object(session, "incidents", incident_id)
    photo = media.get_photo(session, incident_id, photo_id)
    if sees_incident_personal_data(actor, incident.grid_id):
        return _image(request, photo, media.ORIGINAL, private=True)
    return _image(request, photo, media.PUBLIC, private=False)


@router.get(
    "/{incident_id}/photos/{photo_id}/thumbnail",
    summary="A small JPEG of the photo (320 px), without any metadata",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def get_thumbnail(incident_id: IncidentId, photo_id: PhotoId, request: Request, session: SessionDep) -> Response:
    get_object(session, "incidents", incident_id)
    photo = media.get_photo(session, incident_id, photo_id)
    return _image(request, photo, media.THUMBNAIL, private=False)
