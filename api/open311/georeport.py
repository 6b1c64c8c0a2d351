"""GeoReport v2 endpoints: discovery, services, service requests and tokens, in JSON and XML.

The mapping of wangge to GeoReport is in geo/open311.py; reports are made by the same function
as POST /api/v1/incidents (``report_incident``), under the one access policy. Answers about
requests carry no personal data, whoever asks.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi import Response as FastAPIResponse
from sqlalchemy.orm import Session

from api.auth import actor_of_request
from api.deps import ActorDep, NowDep, SessionDep
from api.forms import is_multipart, read_form
from api.idempotency import Idempotency, idempotency_for
from api.open311.formats import JSON_TYPE, XML_TYPE, Format, render
from api.schemas import FeatureIn, Moment
from api.v1.layers import parse_props, report_incident
from api.v1.photos import photo_url
from geo import open311
from geo.access.policy import Actor, catalogue_domains, check_may_write
from geo.catalogue import category_labels
from geo.errors import InputError, NotFound, UnsupportedMedia
from geo.media.photos import first_photo_ids, photo_too_large
from geo.models import Incident
from geo.settings import get_settings
from geo.spatial.crs import parse_crs
from geo.timezones import assume_china_time
from maps.i18n import CATEGORY_LABELS, lang_of

router = APIRouter()

MAX_FORM_PARTS = 64
MAX_FORM_FIELD_BYTES = 32 * 1024  # a description of 5,000 Chinese characters, and more

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input: a list of {code, description}, one per problem"},
    403: {"description": "A wrong api_key, or a caller the access policy refuses"},
    404: {"description": "No such service, request, token or jurisdiction_id"},
}
_BOTH: dict[str, Any] = {"content": {JSON_TYPE: {}, XML_TYPE.split(";")[0]: {}}}
_READ: dict[int | str, dict[str, Any]] = {200: _BOTH, **_ERRORS}

FormatPath = Annotated[Format, Path(description="json or xml")]
Jurisdiction = Annotated[
    str | None, Query(description="Optional; if given, the jurisdiction this server serves (discovery tells)")
]
Lang = Annotated[
    str | None, Query(description="zh (default) or en: service names in English where there are (else Accept-Language)")
]
CRSName = Annotated[
    str | None,
    Query(description="Extension: the coordinate system of lat/long sent and returned: wgs84 (default), gcj02, bd09"),
]


def _english(request: Request, lang: str | None) -> bool:
    return lang_of(lang or request.headers.get("accept-language")) == "en"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# --------------------------------------------------------------------------- discovery


@router.get("/discovery.{fmt}", summary="Service discovery: the GeoReport v2 endpoint and its formats", responses=_READ)
def discovery(fmt: FormatPath, request: Request) -> FastAPIResponse:
    settings = get_settings()
    answer = {
        "changeset": open311.CHANGESET,
        "contact": settings.open311_contact,
        "key_service": settings.open311_key_service,
        "endpoints": [
            {
                "specification": open311.SPECIFICATION,
                "url": f"{_base(request)}/open311/v2",
                "changeset": open311.CHANGESET,
                "type": "production",
                "formats": [XML_TYPE.split(";")[0], JSON_TYPE],
            }
        ],
    }
    return render(answer, fmt, "discovery")


# --------------------------------------------------------------------------- services


def _names(session: Session, english: bool) -> dict[str, str]:
    names = category_labels(session)
    return {**names, **CATEGORY_LABELS["en"]} if english else names


@router.get(
    "/v2/services.{fmt}",
    summary="Services: the catalogue's sub-categories the caller may report",
    description="Service codes are the catalogue's category keys (E0101 …, fire_safety …); group is the 大类. "
    "The public is offered the events it may report; staff also the components (部件).",
    responses=_READ,
)
def list_services(
    fmt: FormatPath,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    jurisdiction_id: Jurisdiction = None,
    lang: Lang = None,
) -> FastAPIResponse:
    open311.check_jurisdiction(jurisdiction_id)
    english = _english(request, lang)
    names = CATEGORY_LABELS["en"] if english else {}
    found = open311.services(session, catalogue_domains(actor), actor)
    return render([s.as_dict(names) for s in found], fmt, "services")


@router.get(
    "/v2/services/{service_code}.{fmt}",
    summary="A service's definition: the attributes a report of it may carry",
    responses=_READ,
)
def service_definition(
    service_code: str, fmt: FormatPath, session: SessionDep, actor: ActorDep, jurisdiction_id: Jurisdiction = None
) -> FastAPIResponse:
    open311.check_jurisdiction(jurisdiction_id)
    found = open311.service(session, service_code, catalogue_domains(actor))
    return render(found.definition(), fmt, "service_definition")


# --------------------------------------------------------------------------- requests


def _answers(request: Request, session: Session, incidents: list[Incident], crs: str | None, english: bool) -> list:
    photos = first_photo_ids(session, [i.id for i in incidents])
    base = _base(request)
    ctx = open311.AnswerContext(
        crs=parse_crs(crs),
        names=_names(session, english),
        english=english,
        entries=open311.entries(session, incidents),
        media={iid: base + photo_url(iid, pid) for iid, pid in photos.items()},
    )
    return [open311.request_dict(i, ctx) for i in incidents]


@router.get(
    "/v2/requests.{fmt}",
    summary="Service requests: by id, or by service code, status and requested time (last 90 days, at most 1,000)",
    responses=_READ,
)
def list_requests(
    fmt: FormatPath,
    request: Request,
    session: SessionDep,
    now: NowDep,
    service_request_id: Annotated[str | None, Query(description="Ids, comma separated: overrides the rest")] = None,
    service_code: Annotated[str | None, Query(description="Service codes, comma separated")] = None,
    start_date: Annotated[Moment | None, Query(description="Requested at or after (ISO 8601)")] = None,
    end_date: Annotated[Moment | None, Query(description="Requested at or before (ISO 8601); at most 90 days")] = None,
    status: Annotated[str | None, Query(description="open, closed, or both comma separated")] = None,
    jurisdiction_id: Jurisdiction = None,
    lang: Lang = None,
    crs: CRSName = None,
) -> FastAPIResponse:
    open311.check_jurisdiction(jurisdiction_id)
    parse_crs(crs)  # an unknown one is refused before any work
    ids = open311.parse_ids(service_request_id) if service_request_id else []
    codes = [c.strip() for c in (service_code or "").split(",") if c.strip()]
    statuses = open311.parse_statuses(status)
    start, end = open311.period(
        assume_china_time(start_date) if start_date else None, assume_china_time(end_date) if end_date else None, now
    )
    found = open311.find_requests(session, ids, codes, statuses, start, end)
    return render(_answers(request, session, found, crs, _english(request, lang)), fmt, "service_requests")


@router.get(
    "/v2/requests/{service_request_id}.{fmt}",
    summary="One service request",
    name="open311_request",
    responses=_READ,
)
def get_request(
    service_request_id: str,
    fmt: FormatPath,
    request: Request,
    session: SessionDep,
    jurisdiction_id: Jurisdiction = None,
    lang: Lang = None,
    crs: CRSName = None,
) -> FastAPIResponse:
    open311.check_jurisdiction(jurisdiction_id)
    parse_crs(crs)
    found = open311.one_request(session, service_request_id)
    return render(_answers(request, session, [found], crs, _english(request, lang)), fmt, "service_requests")


@router.get(
    "/v2/tokens/{token}.{fmt}",
    summary="The service request a token names",
    description="wangge answers every report with its service_request_id at once; a token is another public "
    "name of a request (its code, e.g. CH-I0001, or its id). It is never the report token of /api/v1.",
    responses=_READ,
)
def get_token(
    token: str, fmt: FormatPath, session: SessionDep, jurisdiction_id: Jurisdiction = None
) -> FastAPIResponse:
    open311.check_jurisdiction(jurisdiction_id)
    found = open311.token_request(session, token)
    return render([{"service_request_id": str(found.id), "token": token}], fmt, "service_requests")


# --------------------------------------------------------------------------- POST requests


async def read_report_form(request: Request) -> dict[str, str]:
    """The report's fields: application/x-www-form-urlencoded or multipart/form-data."""
    cached = getattr(request.state, "open311_form", None)
    if cached is not None:
        return cached
    if is_multipart(request):
        form = await read_form(
            request, get_settings().photo_max_bytes, photo_too_large(), MAX_FORM_PARTS, MAX_FORM_FIELD_BYTES
        )
        if form.files:
            raise InputError("Send a photo's address as media_url: files are not taken here")
        fields = dict(form.fields)
    elif request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
        try:
            text = (await request.body()).decode("utf-8")
            fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_PARTS, strict_parsing=False))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"The form cannot be read ({exc}): send it UTF-8 and form-encoded") from None
    else:
        raise UnsupportedMedia(
            "Send the request as application/x-www-form-urlencoded or multipart/form-data (GeoReport v2)"
        )
    request.state.open311_form = fields
    return fields


ReportForm = Annotated[dict[str, str], Depends(read_report_form)]


async def reporter(request: Request, form: ReportForm, actor: ActorDep, now: NowDep) -> Actor:
    """Who reports: the user whose wangge token is the form's api_key (checked as a bearer token
    is), else the Authorization header's user, else the public."""
    key = form.get("api_key", "").strip()
    return await actor_of_request(request, key, now) if key else actor


Reporter = Annotated[Actor, Depends(reporter)]


async def report_idempotency(
    request: Request,
    session: SessionDep,
    actor: Reporter,
    now: NowDep,
    idempotency_key: Annotated[
        str | None, Header(description="Any unique string: a retry with it and the same form reports once")
    ] = None,
) -> Idempotency:
    return await idempotency_for(request, session, actor, now, idempotency_key)


_FIELD_NAMES = {"properties.reporter_phone": "phone", "properties.reporter_name": "first_name and last_name"}


def _checked(report: open311.Report) -> dict[str, Any]:
    """The report's values through the same checks as POST /api/v1/incidents' properties."""
    try:
        values = parse_props("incidents", FeatureIn(properties=report.values), partial=False)
    except InputError as exc:
        message = str(exc)
        for prop, name in _FIELD_NAMES.items():
            message = message.replace(prop, name)
        raise open311.RequestErrors(message.replace("properties.", "").split("; ")) from None
    values["condition_no"] = report.condition
    return values


_FORM_FIELDS = {
    name: {"type": "string", "description": text}
    for name, text in {
        "service_code": "Required: a code from GET services",
        "lat": "Latitude (WGS84, or the crs given)",
        "long": "Longitude; lat/long or address_string is required",
        "address_string": "A building's address, code or name",
        "attribute[CODE]": "A service attribute's value (GET services/{service_code})",
        "description": "What is wrong",
        "media_url": "An http(s) URL of a photo",
        "first_name": "Kept as the reporter's name, seen only by the staff who must call back",
        "last_name": "(the same)",
        "phone": "Kept as the reporter's phone, seen only by the staff who must call back",
        "email": "Accepted, not kept",
        "device_id": "Accepted, not kept",
        "account_id": "Accepted, not kept",
        "api_key": "A wangge token; without it, the public reports (where it may)",
        "jurisdiction_id": "Optional; if given, the one this server serves",
        "crs": "Extension: wgs84 (default), gcj02 or bd09",
    }.items()
}
_FORM_SCHEMA = {"type": "object", "required": ["service_code"], "properties": _FORM_FIELDS}


@router.post(
    "/v2/requests.{fmt}",
    status_code=201,
    summary="Report: a new service request (form-encoded), answered with its service_request_id",
    description="Made as POST /api/v1/incidents makes an incident (the same checks, geotagged to its grid and "
    "building); nothing is stored on any error. The answer also carries `report_token` (an extension): the "
    "reporter's one-time key for `POST /api/v1/incidents/{id}/photos` (header Report-Token), 24 hours. "
    "Idempotency-Key: a retry reports once.",
    responses={201: _BOTH, **_ERRORS, 415: {"description": "Not form-encoded"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
                "multipart/form-data": {"schema": _FORM_SCHEMA},
            },
        }
    },
)
def post_request(
    fmt: FormatPath,
    request: Request,
    form: ReportForm,
    actor: Reporter,
    session: SessionDep,
    now: NowDep,
    idem: Annotated[Idempotency, Depends(report_idempotency)],
    crs: CRSName = None,
) -> FastAPIResponse:
    open311.check_jurisdiction(form.get("jurisdiction_id") or None)
    coordinates = parse_crs(form.get("crs") or crs)
    domains = catalogue_domains(actor)
    code = form.get("service_code", "").strip()
    try:
        known = open311.service(session, code, domains) if code else None
    except NotFound:
        known = None
    if known is not None:  # whether the caller may report it, before what is wrong with the form
        check_may_write(actor, "incidents", kind=known.kind)
    report = open311.read_report(session, form, domains)
    values = _checked(report)
    incident, token = report_incident(session, values, open311.report_point(session, report, coordinates), actor, now)
    entry = open311.entries(session, [incident]).get(incident.catalogue_entry_id or 0)
    answer = [
        {
            "service_request_id": str(incident.id),
            "service_notice": open311.service_notice(entry),
            "account_id": None,
            "report_token": token,
        }
    ]
    location = str(request.url_for("open311_request", service_request_id=str(incident.id), fmt=fmt.value))
    return idem.answer_raw(render(answer, fmt, "service_requests", 201, {"Location": location}))
