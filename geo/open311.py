"""Open311 GeoReport v2 in wangge's terms: the catalogue's sub-categories are the services, the
incidents the service requests.

What is not HTTP lives here: which services there are and what they ask (their attributes), how a
report's form fields become an incident's values, which requests a query selects, and what an
answer says about an incident. Personal data never leaves through here: a request's answer holds
no reporter's name or phone, for any caller.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from shapely.geometry import Point
from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session, selectinload

from geo.access.policy import Actor, check_may_write
from geo.catalogue import COMPONENT, version_rows
from geo.catalogue.files import KIND_NAMES, Row
from geo.errors import InputError, NotAuthenticated, NotFound, PermissionDenied
from geo.incidents.definitions import workflow, workflows
from geo.models import Building, CatalogueEntry, Incident
from geo.settings import get_settings
from geo.spatial.crs import CoordinateSystem
from geo.spatial.geometry import from_db

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-30T00:00:00Z"  # when this mapping of wangge to GeoReport v2 last changed
MAX_REQUESTS = 1000  # the spec's default limit of GET requests
MAX_SPAN = timedelta(days=90)  # ... and its longest span of requested_datetime
MAX_IDS = 1000
STATUSES = ("open", "closed")
MAX_MEDIA_URL = 1000

# Attributes a service may ask for (GeoReport's service definition), wangge's meaning of each.
CONDITION = "condition"  # which 立案条件 the report meets: it decides the time limit
COMPONENT_CODE = "component_code"  # the component (部件) concerned, by its 16-digit code
BUILDING_CODE = "building_code"  # the building concerned (违建): also where the report is
BUILDING_KINDS = frozenset({"illegal_structure"})


class RequestErrors(InputError):
    """Several problems with one request: the message holds one per line (Open311 answers a
    list of errors)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """A jurisdiction_id, when given, must be the one this server serves (WANGGE_OPEN311_JURISDICTION)."""
    served = get_settings().open311_jurisdiction
    if jurisdiction_id is not None and jurisdiction_id.strip() != served:
        raise NotFound(f"jurisdiction_id {jurisdiction_id!r} not found: this server serves {served!r}")


# --------------------------------------------------------------------------- services


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str  # string | singlevaluelist (GeoReport's datatypes)
    required: bool
    description: str
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # (key, name) of a list

    def as_dict(self, order: int) -> dict[str, Any]:
        return {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": self.datatype_description,
            "order": order,
            "description": self.description,
            "values": [{"key": k, "name": n} for k, n in self.values],
        }


@dataclass(frozen=True)
class Service:
    """One sub-category (小类) of the current catalogue, as a GeoReport service."""

    code: str  # the category key incidents carry
    name: str  # 小类名称
    kind: str
    domain: str
    group: str  # 大类名称
    department: str | None  # 责任部门 of its first 立案条件
    conditions: tuple[tuple[int, str], ...]  # (条件序号, 立案条件)
    attributes: tuple[Attribute, ...] = field(default=())

    def as_dict(self, names: Mapping[str, str]) -> dict[str, Any]:
        """The service as GET services lists it; ``names``: names in the caller's language."""
        return {
            "service_code": self.code,
            "service_name": names.get(self.code) or self.name,
            "description": "；".join(text for _, text in self.conditions),
            "metadata": bool(self.attributes),
            "type": "realtime",  # wangge answers each report with its id at once
            "keywords": ",".join(dict.fromkeys((self.kind, KIND_NAMES.get(self.kind, self.kind), self.group))),
            "group": self.group,
        }

    def definition(self) -> dict[str, Any]:
        return {
            "service_code": self.code,
            "attributes": [a.as_dict(order) for order, a in enumerate(self.attributes, 1)],
        }


def _attributes(rows: list[Row]) -> tuple[Attribute, ...]:
    first = rows[0]
    out = []
    if len(rows) > 1:
        out.append(
            Attribute(
                CONDITION,
                "singlevaluelist",
                False,
                "立案条件: which condition the report meets (it decides the time limit); default 1",
                values=tuple((str(r.condition_no), r.register_condition) for r in rows),
            )
        )
    if first.domain == COMPONENT:
        out.append(
            Attribute(
                COMPONENT_CODE,
                "string",
                False,
                "部件编码: the 16-digit code on the component (e.g. the manhole cover), if it can be read",
                "16 digits: district (6), 大类 (2), 小类 (2), serial (6)",
            )
        )
    if first.kind in BUILDING_KINDS:
        out.append(
            Attribute(
                BUILDING_CODE,
                "string",
                False,
                "楼栋编码: the building concerned; without lat/long the report is placed at it",
            )
        )
    return tuple(out)


def all_services(session: Session) -> list[Service]:
    """Every sub-category of the current catalogue version, in the file's order."""
    _, rows = version_rows(session)
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.category, []).append(row)
    return [
        Service(
            code=category,
            name=own[0].minor_name,
            kind=own[0].kind,
            domain=own[0].domain,
            group=own[0].major_name,
            department=own[0].department,
            conditions=tuple((r.condition_no, r.register_condition) for r in own),
            attributes=_attributes(own),
        )
        for category, own in grouped.items()
    ]


def may_report(actor: Actor, kind: str) -> bool:
    """The access policy's answer: may ``actor`` report a ``kind``."""
    try:
        check_may_write(actor, "incidents", kind=kind)
    except (PermissionDenied, NotAuthenticated):
        return False
    return True


def services(session: Session, domains: Collection[str], actor: Actor) -> list[Service]:
    """The services ``actor`` may request: of the catalogue's parts it reads (``domains``), the
    kinds the access policy lets it report."""
    return [s for s in all_services(session) if s.domain in domains and may_report(actor, s.kind)]


def service(session: Session, code: str, domains: Collection[str]) -> Service:
    found = next((s for s in all_services(session) if s.code == code and s.domain in domains), None)
    if found is None:
        raise NotFound(f"service_code {code!r} not found: GET services lists the codes")
    return found


# --------------------------------------------------------------------------- reports (POST requests)


@dataclass
class Report:
    """A report's form, checked: the incident's values (without geometry) and where it is."""

    values: dict[str, Any]  # an incident's properties, as POST /api/v1/incidents takes them
    point: tuple[float, float] | None  # lon/lat in the caller's coordinate system
    building: str | None  # else: the building it is at (address_string or building_code)
    condition: int  # the 立案条件 it is registered under
    building_code: str | None = None  # attribute[building_code]: a building that must exist


def _number(text: str, name: str, low: float, high: float, problems: list[str]) -> float | None:
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{name} must be a number (got {text!r})")
        return None
    if not math.isfinite(value) or not low <= value <= high:
        problems.append(f"{name} must be between {low:g} and {high:g} (got {text!r})")
        return None
    return value


def _location(form: Mapping[str, str], problems: list[str]) -> tuple[float, float] | None:
    lat, lon = form.get("lat", "").strip(), form.get("long", "").strip()
    if not lat and not lon:
        return None
    if not lat or not lon:
        problems.append("Send both lat and long (or address_string instead)")
        return None
    y = _number(lat, "lat", -90, 90, problems)
    x = _number(lon, "long", -180, 180, problems)
    return None if x is None or y is None else (x, y)


def _attribute_values(svc: Service, form: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    given = {
        k[len("attribute[") : -1]: v.strip() for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")
    }
    known = {a.code: a for a in svc.attributes}
    out = {}
    for code, value in given.items():
        attr = known.get(code)
        if attr is None:
            offered = ", ".join(f"attribute[{c}]" for c in known) or "none"
            problems.append(f"attribute[{code}] is not an attribute of service {svc.code} (it takes: {offered})")
            continue
        if not value:
            continue
        if attr.values and value not in {k for k, _ in attr.values}:
            problems.append(f"attribute[{code}] must be one of {', '.join(k for k, _ in attr.values)} (got {value!r})")
            continue
        out[code] = value
    for attr in svc.attributes:
        if attr.required and attr.code not in out:
            problems.append(f"attribute[{attr.code}] is required for service {svc.code}")
    return out


def _media_url(text: str, problems: list[str]) -> str | None:
    text = text.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(text) > MAX_MEDIA_URL:
        problems.append(f"media_url must be an http(s) URL of at most {MAX_MEDIA_URL} characters")
        return None
    return text


def full_name(first: str, last: str) -> str:
    """A person's name as it is written: 张三丰 (family name first, no space) in Chinese, else
    "Ada Lovelace"."""
    first, last = first.strip(), last.strip()
    if any(ord(c) >= 0x2E80 for c in first + last):
        return last + first
    return " ".join(p for p in (first, last) if p)


def read_report(session: Session, form: Mapping[str, str], domains: Collection[str]) -> Report:
    """The incident a report's form describes, every problem with it at once (RequestErrors).

    The values go through the same checks as any other incident (the caller hands them to
    ``create_feature``); the reporter's name and phone become its reporter_name and
    reporter_phone, which only those the access policy allows ever see. Email, device_id and
    account_id are not kept: wangge has no place for them that the public cannot read.
    """
    problems: list[str] = []
    code = form.get("service_code", "").strip()
    svc = None
    if not code:
        problems.append("service_code is required: GET services lists the codes")
    else:
        try:
            svc = service(session, code, domains)
        except NotFound as exc:
            problems.append(str(exc))
    point = _location(form, problems)
    address = form.get("address_string", "").strip()
    attributes = _attribute_values(svc, form, problems) if svc is not None else {}
    building = attributes.get(BUILDING_CODE) or (address or None)
    located = bool(form.get("lat", "").strip() or form.get("long", "").strip())  # if wrongly, said above
    if point is None and building is None and not located:
        problems.append(
            "A location is required: send lat and long, or address_string (a building's address, code or name)"
        )
    media_url = _media_url(form.get("media_url", ""), problems)
    if problems or svc is None:
        raise RequestErrors(problems)
    name = full_name(form.get("first_name", ""), form.get("last_name", ""))
    description = form.get("description", "").strip()
    values: dict[str, Any] = {
        "kind": svc.kind,
        "category": svc.code,
        "title": svc.name,
        "description": description or None,
        "reporter_name": name or None,
        "reporter_phone": form.get("phone", "").strip() or None,
        "properties": {"source": "open311", **({"media_url": media_url} if media_url else {})},
    }
    if COMPONENT_CODE in attributes:
        values["component_code"] = attributes[COMPONENT_CODE]
    if address:
        values["properties"]["address_string"] = address
    condition = int(attributes.get(CONDITION, "1"))
    return Report(values, point, None if point is not None else building, condition, attributes.get(BUILDING_CODE))


def building_at(session: Session, text: str) -> Building:
    """The building ``text`` names: its code, its address or its name, exactly (a name two
    buildings share is not enough)."""
    for column in (Building.code, Building.address, Building.name):
        found = session.scalars(select(Building).where(column == text).limit(2)).all()
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InputError(
                f"{text!r} names more than one building: send the building's code or full address, or lat and long"
            )
    raise InputError(f"{text!r} is not the address, code or name of a building wangge knows: send lat and long instead")


def report_point(session: Session, report: Report, crs: CoordinateSystem) -> Point:
    """Where the report is, in WGS84: its lat/long, or the building it names (a building named
    by its attribute must exist even where lat/long say where the report is)."""
    if report.building_code is not None:
        building_at(session, report.building_code)
    if report.point is not None:
        return Point(crs.point_to_wgs84(*report.point))
    assert report.building is not None  # read_report asks for one or the other
    at = from_db(building_at(session, report.building).geom)
    assert at is not None  # a building always has its point (geom is NOT NULL)
    return Point(at.x, at.y)


# --------------------------------------------------------------------------- requests (GET)


def parse_ids(text: str) -> list[int]:
    ids = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 2**31 - 1:
            raise RequestErrors([f"service_request_id {part!r} is not a service request id (a positive integer)"])
        ids.append(int(part))
    if len(ids) > MAX_IDS:
        raise RequestErrors([f"At most {MAX_IDS} service_request_id at once"])
    return ids


def parse_statuses(text: str | None) -> set[str]:
    wanted = {p.strip().lower() for p in (text or "").split(",") if p.strip()}
    unknown = wanted - set(STATUSES)
    if unknown:
        raise RequestErrors([f"status must be open or closed, comma separated (got {', '.join(sorted(unknown))})"])
    return wanted


def period(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The span of requested_datetime asked for: the last 90 days unless said; at most 90 days."""
    if start is not None and end is None:
        end = min(start + MAX_SPAN, now) if start < now else start + MAX_SPAN
    end = end or now
    start = start or end - MAX_SPAN
    if end < start:
        raise RequestErrors(["end_date is before start_date"])
    if end - start > MAX_SPAN:
        raise RequestErrors(["start_date and end_date may not span more than 90 days"])
    return start, end


def _status_condition(statuses: set[str]):
    if not statuses or statuses == set(STATUSES):
        return None
    want_closed = "closed" in statuses
    parts = []
    for kind, flow in workflows().items():
        closed = sorted(flow.closed)
        cond = Incident.status.in_(closed) if want_closed else Incident.status.not_in(closed)
        parts.append(and_(Incident.kind == kind, cond))
    return or_(*parts) if parts else false()


def find_requests(
    session: Session,
    ids: list[int],
    codes: list[str],
    statuses: set[str],
    start: datetime | None,
    end: datetime | None,
    limit: int = MAX_REQUESTS,
) -> list[Incident]:
    """Incidents by id (which overrides the other arguments, as the spec says), else by
    service code, status and requested time; newest first, at most ``limit``."""
    stmt = (
        select(Incident)
        .where(Incident.deleted_at.is_(None))
        .options(selectinload(Incident.building), selectinload(Incident.grid))
    )
    if ids:
        stmt = stmt.where(Incident.id.in_(ids)).order_by(Incident.id)
    else:
        if start is not None:
            stmt = stmt.where(Incident.created_at >= start)
        if end is not None:
            stmt = stmt.where(Incident.created_at <= end)
        if codes:
            stmt = stmt.where(Incident.category.in_(codes))
        condition = _status_condition(statuses)
        if condition is not None:
            stmt = stmt.where(condition)
        stmt = stmt.order_by(Incident.created_at.desc(), Incident.id.desc())
    return list(session.scalars(stmt.limit(limit)))


def one_request(session: Session, ident: str) -> Incident:
    ids = parse_ids(ident)
    found = find_requests(session, ids, [], set(), None, None, limit=1) if len(ids) == 1 else []
    if not found:
        raise NotFound(f"service_request_id {ident!r} not found")
    return found[0]


def token_request(session: Session, token: str) -> Incident:
    """The request a token names. wangge answers every report with its service_request_id at
    once, so a token is only another public name of a request: its code (e.g. CH-I0001) or its
    id. It is never the report token (a secret capability) and reveals nothing more."""
    token = token.strip()
    stmt = select(Incident).where(Incident.deleted_at.is_(None), Incident.code == token)
    found = session.scalar(stmt)
    if found is None and token.isdigit() and int(token) <= 2**31 - 1:
        found = session.scalar(select(Incident).where(Incident.deleted_at.is_(None), Incident.id == int(token)))
    if found is None:
        raise NotFound(f"token {token!r} not found")
    return found


def entries(session: Session, incidents: Iterable[Incident]) -> dict[int, CatalogueEntry]:
    """The catalogue entries the incidents were registered under, by id: one query for a page."""
    ids = {i.catalogue_entry_id for i in incidents if i.catalogue_entry_id is not None}
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(select(CatalogueEntry).where(CatalogueEntry.id.in_(ids)))}


def service_notice(entry: CatalogueEntry | None) -> str | None:
    """What will settle the request: its entry's 结案条件."""
    return f"结案条件: {entry.close_condition}" if entry is not None and entry.close_condition else None


def _iso(moment: datetime | None) -> str | None:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z") if moment is not None else None


@dataclass(frozen=True)
class AnswerContext:
    """What answers about requests need besides the incidents: names in the caller's language,
    coordinates, the catalogue entries (责任部门, 结案条件) and the first photos' URLs."""

    crs: CoordinateSystem
    names: Mapping[str, str]  # category -> service name
    english: bool
    entries: Mapping[int, CatalogueEntry]
    media: Mapping[int, str]  # incident id -> URL of its first photo


def request_dict(incident: Incident, ctx: AnswerContext) -> dict[str, Any]:
    """A service request as GeoReport answers it; never a reporter's name or phone."""
    flow = workflow(incident.kind)
    is_open = flow.is_open(incident.status)
    point = from_db(incident.geom)
    assert point is not None  # an incident always has its point
    xs, ys = ctx.crs.from_wgs84([point.x], [point.y])
    building = incident.building
    entry = ctx.entries.get(incident.catalogue_entry_id) if incident.catalogue_entry_id else None
    expected = incident.handling_due_at or incident.due_at
    label = incident.status.replace("_", " ") if ctx.english else flow.labels.get(incident.status, incident.status)
    own = incident.properties or {}
    return {
        "service_request_id": str(incident.id),
        "status": "open" if is_open else "closed",
        "status_notes": label,
        "service_name": ctx.names.get(incident.category) or incident.category,
        "service_code": incident.category,
        "description": incident.description,
        "agency_responsible": (entry.department if entry else None) or (incident.grid.name if incident.grid else None),
        "service_notice": service_notice(entry),
        "requested_datetime": _iso(incident.created_at),
        "updated_datetime": _iso(incident.updated_at),
        "expected_datetime": _iso(expected) if is_open else None,
        "address": (building.address or building.name) if building else None,
        "address_id": building.code if building else None,
        "zipcode": None,
        "lat": round(float(ys[0]), 7),
        "long": round(float(xs[0]), 7),
        "media_url": ctx.media.get(incident.id) or own.get("media_url"),
    }
