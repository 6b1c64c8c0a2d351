"""The incident workflow over HTTP: actions, reassignment, comments, timeline, deadlines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, CRSDep, IncidentId, NowDep, SessionDep
from api.geojson import feature
from api.idempotency import IdempotencyDep
from api.privacy import Reader, redact_feature, redact_incident
from api.readlog import ReaderDep
from api.schemas import MAX_COUNT, MAX_ID, Str
from api.v1.layers import check_if_match, etag
from api.v1.photos import photo_url, with_photos
from geo.access.policy import check_may_assign, check_may_run_escalations
from geo.incidents import workflow as wf
from geo.incidents.definitions import is_overdue, workflow
from geo.incidents.escalation import escalate_overdue
from geo.query.features import get_object

router = APIRouter(prefix="/incidents", tags=["Incident workflow"])

IfMatch = Annotated[str | None, Header(description="The ETag you read: a stale one gets 412 and changes nothing")]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Str | None = Field(
        None, max_length=wf.MAX_COMMENT_CHARS, description=f"Why (at most {wf.MAX_COMMENT_CHARS} characters)"
    )
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID, description="dispatch: the responder who handles it")
    target_id: int | None = Field(None, ge=1, le=MAX_ID, description="merge: the incident this one duplicates")
    rating: int | None = Field(None, ge=1, le=5, description="evaluate: 1 to 5")
    people_served: int | None = Field(
        None, ge=0, le=MAX_COUNT, description="close/complete: residents served, for the statistics"
    )
    amount: float | None = Field(
        None, gt=0, le=10_000, description="extend (延期): the time granted, in the unit of the incident's time limit"
    )


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    responder_id: int = Field(ge=1, le=MAX_ID)
    comment: Str | None = Field(None, max_length=wf.MAX_COMMENT_CHARS)
    checker: bool = Field(False, description="Name the responder for the pending on-site check (核实/核查) instead")


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Str = Field(min_length=1, max_length=wf.MAX_COMMENT_CHARS)
    stance: Str | None = Field(None, max_length=16, description="Renovation points in consultation: support or oppose")


def _answer(session, obj, response: Response, crs, now, reader: Reader) -> dict:
    response.headers["ETag"] = etag(obj)
    return with_photos(redact_feature(feature(obj, crs, now), reader), session, obj, reader.actor)


@router.post("/{incident_id}/actions/{action}", summary="Move an incident along its workflow (If-Match required)")
def act(
    incident_id: IncidentId,
    action: str,
    body: ActionBody,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    idem: IdempotencyDep,
    if_match: IfMatch = None,
) -> dict:
    incident = get_object(session, "incidents", incident_id)
    wf.check_may_act(actor, incident, action)  # who may, before whether their version is current
    check_if_match(incident, if_match)
    wf.apply_action(session, incident, action, actor, now, wf.ActionInput(**body.model_dump()))
    return idem.answer(response, _answer(session, incident, response, crs, now, reader), 200)


@router.post("/{incident_id}/assign", summary="Reassign an open incident, or name its checker (If-Match required)")
def reassign(
    incident_id: IncidentId,
    body: AssignBody,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    idem: IdempotencyDep,
    if_match: IfMatch = None,
) -> dict:
    incident = get_object(session, "incidents", incident_id)
    check_may_assign(actor, incident.grid_id)
    check_if_match(incident, if_match)
    wf.assign(session, incident, body.responder_id, actor, now, body.comment, checker=body.checker)
    return idem.answer(response, _answer(session, incident, response, crs, now, reader), 200)


@router.post(
    "/{incident_id}/comments",
    status_code=201,
    summary="Comment; residents support or oppose renovation points in consultation",
)
def add_comment(
    incident_id: IncidentId,
    body: CommentBody,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    reader: ReaderDep,
    now: NowDep,
    crs: CRSDep,
    idem: IdempotencyDep,
) -> dict:
    incident = get_object(session, "incidents", incident_id)
    wf.comment(session, incident, actor, now, body.text, body.stance)
    return idem.answer(response, _answer(session, incident, response, crs, now, reader), 201)


@router.get("/{incident_id}/timeline", summary="Every change to the incident, oldest first (append-only)")
def timeline(incident_id: IncidentId, session: SessionDep, reader: ReaderDep) -> dict[str, Any]:
    incident = get_object(session, "incidents", incident_id)
    entries = [
        redact_incident(
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "comment": e.comment,
                "changes": e.changes or {},
                "step": e.step,
                "due_at": e.due_at.isoformat() if e.due_at else None,
                "on_time": e.on_time,
                "work_hours": e.work_hours,
                **({"photo_url": photo_url(incident_id, e.changes["photo"])} if e.action == "photo" else {}),
            },
            reader,
            incident.grid_id,
            incident_id,
        )
        for e in wf.timeline(session, incident_id)
    ]
    return {"incident": incident_id, "timeline": entries}


@router.get("/{incident_id}/workflow", summary="Where the incident is in its workflow and what can happen next")
def where(incident_id: IncidentId, session: SessionDep, now: NowDep) -> dict[str, Any]:
    incident = get_object(session, "incidents", incident_id)
    flow = workflow(incident.kind)
    return {
        "kind": incident.kind,
        "label": flow.label,
        "status": incident.status,
        "statuses": [{"status": s, "label": flow.labels.get(s, s), "closed": s in flow.closed} for s in flow.statuses],
        "actions": [
            {
                "action": a.name,
                "to": a.target,
                "roles": sorted(a.roles | {"admin"}),
                "needs": sorted(a.needs),
                "evidence": list(a.evidence),
            }
            for a in flow.actions_from(incident.status)
        ],
        "due_at": incident.due_at.isoformat() if incident.due_at else None,
        "handling_due_at": incident.handling_due_at.isoformat() if incident.handling_due_at else None,
        "overdue": is_overdue(incident, now),
        "escalation": incident.escalation,
        "suspended_at": incident.suspended_at.isoformat() if incident.suspended_at else None,
        "pending_check": flow.check_from(incident.status),
    }


escalations = APIRouter(tags=["Incident workflow"])


@escalations.post(
    "/escalations", summary="Flag and escalate overdue incidents now (the server also does it every minute)"
)
def run_escalations(session: SessionDep, actor: ActorDep, now: NowDep) -> dict[str, Any]:
    check_may_run_escalations(actor)
    entries = escalate_overdue(session, now)
    return {
        "escalated": [{"incident": e.incident_id, "level": e.changes["level"], "to": e.changes["to"]} for e in entries]
    }
