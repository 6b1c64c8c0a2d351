"""The demo's incidents given a past: each one, imported as just reported, is taken to the status
the demo file gives it through the workflow engine itself, on a simulated clock running from its
report to its closing time (or to the demo's "now"), so that its timeline and the indicators
computed from it are those of real work.

How the walk satisfies the engine's rules, none of them bent:

- each kind follows its main path (a case: verify, register, dispatch, handle, check; a hazard:
  confirm, rectify, report_rectified, reinspect; ...), each action taken by someone allowed to:
  community staff register and dispatch, the planner moves renovation points, the incident's
  assignee (its grid's full-time worker) handles the work, and the on-site checks (核实, 核查)
  are done by the checker the engine suggests (never the reporter or the handler), else by
  community staff;
- an action that needs evidence gets it first: a small generated JPEG of the stage it needs,
  added through the photo store at the same moment (one file, stored once);
- each step takes a seeded fraction of the time the engine allows for the status it leaves
  (some overrun it), squeezed so that a finished incident closes when the file says it did;
- some handlings are sent back once for re-work (返工) and handled again;
- at the demo's "now" the engine's own escalation sweep marks what is overdue (超期), and the
  first overdue incidents in their handling get a supervision order (督办).
"""

from __future__ import annotations

import io
import zlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.policy import Actor
from geo.incidents.definitions import Action, workflow
from geo.incidents.escalation import escalate_overdue
from geo.incidents.workflow import ActionInput, apply_action, default_assignee, handler_of
from geo.media.photos import add_photo
from geo.models import Incident, Responder
from geo.timezones import CHINA_TIME

# The demo's "now": data/demo_gen/facts.py BASE_TIME, every time in the demo files is before it.
DEMO_NOW = datetime(2026, 11, 1, 8, 0, tzinfo=CHINA_TIME)

# Each kind's main path, in order; an incident stops where its status is the file's.
PATHS = {
    "case": ("verify", "register", "dispatch", "handle", "check", "evaluate"),
    "hazard": ("confirm", "rectify", "report_rectified", "reinspect"),
    "illegal_structure": ("verify", "serve_notice", "demolish"),
    "renovation": ("consult", "approve", "start_construction", "complete"),
}
# The action sending handled work back, by kind.
REWORK = {"case": "return", "hazard": "reinspect_failed"}
REWORK_SHARE = 0.4  # of handlings sent back once
SUPERVISED = 2  # overdue incidents given a supervision order at the demo's now
COMMUNITY = Actor("community", "community")
PLANNER = Actor("planner", "planner")


def walk_demo_incidents(
    session: Session, targets: dict[str, tuple[str, datetime | None]], usernames: dict[str, str] | None = None
) -> None:
    """Take every incident named in ``targets`` (code -> (status, closed_at)) to its status.
    ``usernames``: responder code -> the demo user acting for them (others act under their name)."""
    now = DEMO_NOW.astimezone(UTC)
    staff = _Staff(session, usernames or {})
    incidents = session.scalars(select(Incident).where(Incident.code.in_(list(targets))).order_by(Incident.code))
    for incident in incidents:
        status, closed_at = targets[str(incident.code)]
        _walk(session, incident, status, closed_at.astimezone(UTC) if closed_at else now, staff)
    escalate_overdue(session, now)
    overdue = session.scalars(
        select(Incident)
        .where(Incident.code.in_(list(targets)), Incident.escalation > 0, Incident.suspended_at.is_(None))
        .order_by(Incident.code)
    )
    supervised = 0
    for incident in overdue:
        if supervised < SUPERVISED and incident.status == workflow(incident.kind).handling:
            order = "已超期，请责任网格员今日内处置到位并反馈。"
            actor = PLANNER if incident.kind == "renovation" else COMMUNITY
            apply_action(session, incident, "supervise", actor, now + timedelta(minutes=30), ActionInput(comment=order))
            supervised += 1


class _Staff:
    """Actors for the responders who act in the walk, made once each."""

    def __init__(self, session: Session, usernames: dict[str, str]):
        self.session = session
        self.usernames = usernames
        self.actors: dict[int, Actor] = {}

    def actor(self, responder_id: int | None) -> Actor | None:
        if responder_id is None:
            return None
        if responder_id not in self.actors:
            responder = self.session.get(Responder, responder_id)
            assert responder is not None
            self.actors[responder_id] = Actor(
                self.usernames.get(responder.code, responder.name),
                responder.role,
                frozenset(g.id for g in responder.grids),
                responder.id,
                frozenset(g.code for g in responder.grids),
            )
        return self.actors[responder_id]


def _walk(session: Session, incident: Incident, status: str, end: datetime, staff: _Staff) -> None:
    flow = workflow(incident.kind)
    rng = np.random.default_rng(zlib.crc32(str(incident.code).encode()))
    if status == flow.initial:
        return
    path = PATHS[incident.kind]
    reached = [flow.actions[name].target for name in path]
    if status not in reached:
        raise ValueError(f"{incident.code}: the demo walks no {incident.kind} to {status}")
    steps = list(path[: reached.index(status) + 1])
    handle = next((s for s in steps if flow.actions[s].step == "handle"), None)
    if handle is not None and incident.kind in REWORK and rng.random() < REWORK_SHARE:
        at = steps.index(handle) + 1
        steps[at:at] = [REWORK[incident.kind], handle]
    t = incident.created_at.astimezone(UTC)
    for i, name in enumerate(steps):
        left = len(steps) - i
        if left == 1 and incident.closed_at is None and flow.actions[name].target in flow.closed:
            when = end  # a finished incident ends when the file says
        else:
            allowed = (
                (incident.due_at - t) if incident.due_at is not None and incident.due_at > t else timedelta(days=1)
            )
            when = t + allowed * float(rng.uniform(0.25, 1.3))
            when = min(when, t + (end - t) / left)  # room left for the steps after it
        t = max(when, t + timedelta(minutes=1))
        _act(session, incident, flow.actions[name], t, staff)


def _act(session: Session, incident: Incident, action: Action, now: datetime, staff: _Staff) -> None:
    actor = _actor_for(session, incident, action, staff)
    for stage in action.evidence:
        add_photo(session, incident, _photo(stage), stage, actor, now)
    data = ActionInput()
    if "assignee" in action.needs:
        data.assignee_id = incident.assignee_id or default_assignee(session, incident.grid_id)
    if "comment" in action.needs:
        data.comment = "现场核查未整改到位，退回重新处置。"
    if "rating" in action.needs:
        data.rating = 5
    apply_action(session, incident, action.name, actor, now, data)


def _actor_for(session: Session, incident: Incident, action: Action, staff: _Staff) -> Actor:
    """Who takes ``action``: the suggested checker for a check, the assignee for the work, else
    community staff (the planner for renovation points)."""
    office = PLANNER if incident.kind == "renovation" else COMMUNITY
    if action.check:
        person = staff.actor(incident.checker_id)
        if (
            person is not None
            and action.check == "inspect"
            and person.responder_id in handler_of(session, incident).responder_ids
        ):
            person = None  # the engine suggests the checker before the handling is on the timeline
    elif action.step == "handle":
        person = staff.actor(incident.assignee_id)
    else:
        person = None
    return person if person is not None and person.role in action.roles else office


@lru_cache
def _photo(stage: str) -> bytes:
    """A small JPEG standing for the photo a worker takes at ``stage``."""
    out = io.BytesIO()
    Image.new("RGB", (48, 36), (90, 140, 90) if stage == "after" else (140, 120, 90)).save(out, "JPEG")
    return out.getvalue()
