"""Who may do what: the one access policy.

Every rule about roles lives here, as a table of role → permissions plus the few checks that
also look at the place (a grid leader or grid worker acts only in their own grids) or at the
incident's kind (renovation points belong to planners). The workflow definitions
(geo/incidents/workflows.toml) name the roles per action; :func:`check_may_take` applies them.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from geo.errors import NotAuthenticated, PermissionDenied
from geo.models import Incident, UserRole

PUBLIC_ROLE = "public"  # callers without a token; not a role a user can have


class Permission(enum.Enum):
    EVERY_ACTION = "take every workflow action"
    WRITE_ANY_LAYER = "create, change and delete features of every layer"
    ACT_IN_EVERY_GRID = "act on incidents in every grid"
    ACT_IN_OWN_GRIDS = "act on incidents in their own grids"
    ASSIGN = "reassign incidents"
    REPORT = "report incidents"
    PROPOSE_RENOVATION = "propose and change renovation points"
    SEE_PERSONAL_DATA = "see phones in full and reporters' names (those who must call them)"
    SEE_MASKED_PHONES = "see responders' phones masked, like 138****1234 (that a person is there)"
    RUN_ESCALATIONS = "run the escalation of overdue incidents"
    ACT_FOR_RESPONDER = "act for a responder (their grids are the responder's)"
    COMMENT_ANYWHERE = "comment on any incident"
    READ_AUDIT_LOG = "read the audit log (sign-ins, who read personal data)"
    PATROL = "go on patrol: record their own track"
    SEE_GRID_TRACKS = "see the patrol tracks of the workers serving their grids"
    SEE_ALL_TRACKS = "see every patrol track"
    SEE_ALL_INDICATORS = "see the indicators of every grid, community and worker"
    SEE_GRID_INDICATORS = "see the indicators of their own grids"


_P = Permission
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # Everything, everywhere; an administrator acts for no responder.
    UserRole.admin.value: frozenset(Permission)
    - {_P.ACT_IN_OWN_GRIDS, _P.ACT_FOR_RESPONDER, _P.PATROL, _P.SEE_GRID_TRACKS, _P.SEE_GRID_INDICATORS},
    UserRole.community.value: frozenset(
        {
            _P.WRITE_ANY_LAYER,
            _P.ACT_IN_EVERY_GRID,
            _P.ASSIGN,
            _P.REPORT,
            _P.PROPOSE_RENOVATION,
            _P.SEE_PERSONAL_DATA,
            _P.SEE_MASKED_PHONES,
            _P.RUN_ESCALATIONS,
            _P.COMMENT_ANYWHERE,
            _P.SEE_ALL_TRACKS,
            _P.SEE_ALL_INDICATORS,
        }
    ),
    # Grid staff see phones in full; about incidents of other grids (the responders suggested
    # for them), masked.
    UserRole.grid_leader.value: frozenset(
        {
            _P.ACT_IN_OWN_GRIDS,
            _P.ASSIGN,
            _P.REPORT,
            _P.SEE_PERSONAL_DATA,
            _P.SEE_MASKED_PHONES,
            _P.ACT_FOR_RESPONDER,
            _P.COMMENT_ANYWHERE,
            _P.PATROL,
            _P.SEE_GRID_TRACKS,
            _P.SEE_GRID_INDICATORS,
        }
    ),
    UserRole.grid_worker.value: frozenset(
        {
            _P.ACT_IN_OWN_GRIDS,
            _P.REPORT,
            _P.SEE_PERSONAL_DATA,
            _P.SEE_MASKED_PHONES,
            _P.ACT_FOR_RESPONDER,
            _P.COMMENT_ANYWHERE,
            _P.PATROL,
        }
    ),
    UserRole.planner.value: frozenset(
        {_P.ACT_IN_EVERY_GRID, _P.REPORT, _P.PROPOSE_RENOVATION, _P.COMMENT_ANYWHERE, _P.SEE_MASKED_PHONES}
    ),
    UserRole.viewer.value: frozenset({_P.SEE_MASKED_PHONES}),
    # Grid workers' phones hang on notice boards, but the full number is not the public's.
    PUBLIC_ROLE: frozenset({_P.REPORT, _P.SEE_MASKED_PHONES}),
}

# Fields a responder's own user may change on their record: position and duty.
OWN_RESPONDER_FIELDS = frozenset({"on_duty", "located_at", "geometry"})


def roles_with(permission: Permission) -> list[str]:
    return sorted(role for role, granted in ROLE_PERMISSIONS.items() if permission in granted)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user with a role, or the public."""

    name: str
    role: str  # a UserRole value, or "public"
    grid_ids: frozenset[int] | None = None  # grids a grid leader or worker may change; None: all
    responder_id: int | None = None
    grid_codes: frozenset[str] | None = None  # the codes of grid_ids (answers name grids by code)

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    @property
    def sees_personal_data(self) -> bool:
        """Answers about people (a responder, who serves a grid): by role alone."""
        return self.may(Permission.SEE_PERSONAL_DATA)

    def in_own_grids(self, grid: int | str | None) -> bool:
        """Whether ``grid`` (an id, or a code as answers give it) is one of the actor's own."""
        if grid is None:
            return False
        own = self.grid_codes if isinstance(grid, str) else self.grid_ids
        return own is not None and grid in own

    def may_change_grid(self, grid_id: int | None) -> bool:
        if self.may(Permission.ACT_IN_EVERY_GRID):
            return True
        return self.may(Permission.ACT_IN_OWN_GRIDS) and self.in_own_grids(grid_id)


PUBLIC = Actor("public", PUBLIC_ROLE)
SYSTEM = Actor("system", UserRole.admin.value)


def sees_incident_personal_data(actor: Actor, grid: int | str | None) -> bool:
    """Whether ``actor`` may see the personal data of an incident in ``grid`` (its id, or its code
    as answers give it; None: in no grid): community staff everywhere, grid staff in their grids."""
    if actor.may(Permission.SEE_PERSONAL_DATA) and actor.may(Permission.ACT_IN_EVERY_GRID):
        return True
    return actor.may(Permission.SEE_PERSONAL_DATA) and actor.in_own_grids(grid)


class PhoneView(enum.Enum):
    """How a phone number is shown to a caller."""

    FULL = "full"  # and the read is written to the audit log
    MASKED = "masked"  # 138****1234
    NONE = "none"  # left out


def responder_phone_view(actor: Actor, full: bool | None = None) -> PhoneView:
    """A responder's phone: in full to those who must call them (``full``: the caller's own
    judgement for this answer, e.g. an incident in their grids; by default their role), masked
    to those who only need to know someone is there."""
    if actor.sees_personal_data if full is None else full:
        return PhoneView.FULL
    return PhoneView.MASKED if actor.may(Permission.SEE_MASKED_PHONES) else PhoneView.NONE


def reporter_view(actor: Actor, grid: int | str | None) -> PhoneView:
    """A reporter's name and phone: in full or not at all (nothing of residents is public)."""
    return PhoneView.FULL if sees_incident_personal_data(actor, grid) else PhoneView.NONE


def _check_own_grid(actor: Actor, grid_id: int | None, what: str) -> None:
    if not actor.may_change_grid(grid_id):
        raise PermissionDenied(f"{actor.name} may only {what} in their own grids")


def check_may_take(
    actor: Actor,
    action: str,
    action_roles: Collection[str],
    kind: str,
    grid_id: int | None,
    designated: bool = False,
) -> None:
    """A workflow action, whose definition names the roles that may take it. ``designated``: the
    actor is the checker named for the incident's on-site check, who does it in any grid."""
    if not actor.may(Permission.EVERY_ACTION) and actor.role not in action_roles:
        who = ", ".join(sorted(set(action_roles) | set(roles_with(Permission.EVERY_ACTION))))
        raise PermissionDenied(f"A {actor.role} may not {action} a {kind}; that is for {who}")
    if not designated:
        _check_own_grid(actor, grid_id, "change incidents")


def check_may_assign(actor: Actor, grid_id: int | None) -> None:
    if not actor.may(Permission.ASSIGN) or not actor.may_change_grid(grid_id):
        raise PermissionDenied(
            f"A {actor.role} may not reassign this incident; that is for the grid leader or the community"
        )


def check_may_comment(actor: Actor, grid_id: int | None) -> None:
    """Grid staff comment only in their own grids."""
    if actor.may(Permission.ACT_IN_OWN_GRIDS) and not actor.may_change_grid(grid_id):
        raise PermissionDenied(
            f"{actor.name} may comment only on incidents in their own grids; this one is in another grid"
        )


def check_may_comment_outside_consultation(actor: Actor) -> None:
    """The public and viewers comment only on renovation points in consultation (residents saying
    what they think)."""
    if not actor.may(Permission.COMMENT_ANYWHERE):
        raise PermissionDenied("The public may comment only on renovation points in consultation")


def check_may_report(actor: Actor, kind: str | None) -> None:
    if kind == "renovation" and not actor.may(Permission.PROPOSE_RENOVATION):
        raise PermissionDenied("Renovation points are proposed by planners and community staff")
    if not actor.may(Permission.REPORT):
        raise PermissionDenied("A viewer may read but not report")


def check_may_change_incident(actor: Actor, kind: str, grid_id: int | None) -> None:
    if kind == "renovation" and actor.may(Permission.PROPOSE_RENOVATION):
        return
    if kind != "renovation" and actor.may(Permission.ACT_IN_OWN_GRIDS):
        _check_own_grid(actor, grid_id, "change incidents")
        return
    raise PermissionDenied(f"A {actor.role} may not change this {kind}")


def check_may_write(
    actor: Actor,
    layer: str,
    incident: Incident | None = None,
    kind: str | None = None,
    changed: set[str] | None = None,
) -> None:
    """A write to a layer: the community's staff everything; grid staff their grids' incidents;
    planners renovation points; the public may report (``incident`` None: a new one of ``kind``);
    a responder's user may move itself (``changed`` is given only for their own record)."""
    if actor.may(Permission.WRITE_ANY_LAYER):
        return
    if layer == "incidents":
        if incident is None:
            check_may_report(actor, kind)
        else:
            check_may_change_incident(actor, incident.kind, incident.grid_id)
        return
    if layer == "responders" and changed is not None and changed <= OWN_RESPONDER_FIELDS:
        return
    if actor.role == PUBLIC_ROLE:
        raise NotAuthenticated(f"Changing {layer} is for community staff: sign in with a bearer token")
    raise PermissionDenied(f"Changing {layer} is for community staff; you are a {actor.role}")


def check_may_add_photo(actor: Actor, incident: Incident, stage: str, holds_report_token: bool) -> None:
    """Whoever may change the incident adds its photos; whoever just reported it (the public
    included) adds its ``report`` photos with the one-time report token they were given."""
    if holds_report_token and stage == "report":
        return
    try:
        check_may_write(actor, "incidents", incident=incident)
    except (PermissionDenied, NotAuthenticated):
        if holds_report_token:
            raise PermissionDenied(
                f"With the report token you may add only 'report' photos, not {stage!r} ones"
            ) from None
        raise


def check_may_delete(actor: Actor, layer: str) -> None:
    if not actor.may(Permission.WRITE_ANY_LAYER):
        raise PermissionDenied(f"Deleting {layer} is for community staff")


def check_may_read_audit_log(actor: Actor) -> None:
    if not actor.may(Permission.READ_AUDIT_LOG):
        raise PermissionDenied("The audit log is for administrators")


def check_signed_in(actor: Actor) -> None:
    if actor.role == PUBLIC_ROLE:
        raise NotAuthenticated("You are not signed in: sign in at /login, or send Authorization: Bearer TOKEN")


def catalogue_domains(actor: Actor) -> tuple[str, ...]:
    """The catalogue's parts the actor reads: the public the events they may report, users also
    the components (the assets and their owners)."""
    return ("event",) if actor.role == PUBLIC_ROLE else ("event", "component")


def check_may_run_escalations(actor: Actor) -> None:
    if not actor.may(Permission.RUN_ESCALATIONS):
        raise PermissionDenied("Running escalations is for community staff")


def needs_responder(role: str) -> bool:
    """Grid staff act for a responder: the grids it serves are theirs."""
    return Permission.ACT_FOR_RESPONDER in ROLE_PERMISSIONS.get(role, frozenset())


def may_take(
    actor: Actor, action: str, action_roles: Collection[str], kind: str, grid_id: int | None, designated: bool = False
) -> bool:
    """:func:`check_may_take` as a yes or no: the buttons a task page shows."""
    try:
        check_may_take(actor, action, action_roles, kind, grid_id, designated)
    except PermissionDenied:
        return False
    return True


@dataclass(frozen=True)
class TaskScope:
    """Which open incidents are the caller's tasks: every one (``everywhere``), or those in
    ``grid_ids`` or assigned to ``responder_id``."""

    everywhere: bool
    grid_ids: frozenset[int] = frozenset()
    responder_id: int | None = None


def task_scope(actor: Actor) -> TaskScope:
    """Grid staff: their grids' open incidents and those assigned to them or awaiting their
    on-site check; community staff and planners all of them. Others have no task list."""
    if actor.role == PUBLIC_ROLE:
        raise NotAuthenticated("Sign in to see your tasks")
    if actor.may(Permission.ACT_IN_EVERY_GRID):
        return TaskScope(everywhere=True)
    if actor.may(Permission.ACT_IN_OWN_GRIDS):
        return TaskScope(everywhere=False, grid_ids=actor.grid_ids or frozenset(), responder_id=actor.responder_id)
    raise PermissionDenied(f"A {actor.role} has no tasks: tasks are for grid and community staff")


# --------------------------------------------------------------------------- patrols
# A track says where a person was (行踪轨迹, PIPL Art. 28): the worker sees their own, a grid
# leader those of the workers serving their grids, community staff all; viewers, planners and
# the public none (they see coverage shares only).


def check_may_patrol(actor: Actor) -> None:
    check_signed_in(actor)
    if not actor.may(Permission.PATROL) or actor.responder_id is None:
        raise PermissionDenied(f"Patrols are walked by grid workers and grid leaders; you are a {actor.role}")


@dataclass(frozen=True)
class TrackScope:
    """Whose tracks the caller may see: everyone's, or those of the responders serving
    ``grid_ids`` (a leader's grids) and the caller's own responder."""

    everyone: bool
    grid_ids: frozenset[int] = frozenset()
    responder_id: int | None = None


def track_scope(actor: Actor) -> TrackScope:
    check_signed_in(actor)
    if actor.may(Permission.SEE_ALL_TRACKS):
        return TrackScope(everyone=True)
    if actor.may(Permission.SEE_GRID_TRACKS):
        return TrackScope(everyone=False, grid_ids=actor.grid_ids or frozenset(), responder_id=actor.responder_id)
    if actor.may(Permission.PATROL):
        return TrackScope(everyone=False, responder_id=actor.responder_id)
    raise PermissionDenied(
        f"Patrol tracks are personal data: a {actor.role} sees only the coverage figures (/api/v1/coverage)"
    )


def may_read_track(actor: Actor, responder_id: int, responder_grid_ids: Collection[int]) -> bool:
    """Whether ``actor`` may see the track of a patrol walked by ``responder_id``, who serves
    ``responder_grid_ids``."""
    try:
        scope = track_scope(actor)
    except (PermissionDenied, NotAuthenticated):
        return False
    return scope.everyone or responder_id == scope.responder_id or not scope.grid_ids.isdisjoint(responder_grid_ids)


def check_may_read_track(actor: Actor, responder_id: int, responder_grid_ids: Collection[int]) -> None:
    scope = track_scope(actor)  # the reason for those who see none
    if not may_read_track(actor, responder_id, responder_grid_ids):
        who = "their grids' workers'" if scope.grid_ids else "their own"
        raise PermissionDenied(f"This patrol is another worker's: a {actor.role} sees only {who} tracks")


def sees_grid_patrols(actor: Actor, grid_id: int | None) -> bool:
    """Which buildings of a grid were visited, by whom: for community staff, and for the grid's
    own workers and leader."""
    if actor.may(Permission.SEE_ALL_TRACKS):
        return True
    return (actor.may(Permission.PATROL) or actor.may(Permission.SEE_GRID_TRACKS)) and actor.in_own_grids(grid_id)


def check_may_send_fixes(actor: Actor, responder_id: int) -> None:
    check_may_patrol(actor)
    if actor.responder_id != responder_id:
        raise PermissionDenied("This patrol is another worker's: only the worker on patrol sends its fixes")


def check_may_end_patrol(actor: Actor, responder_id: int) -> None:
    """The worker ends their patrol; community staff may end one left running."""
    if actor.may(Permission.SEE_ALL_TRACKS):
        return
    check_may_send_fixes(actor, responder_id)


def check_may_purge_patrols(actor: Actor) -> None:
    if not actor.may(Permission.SEE_ALL_TRACKS):
        raise PermissionDenied("Purging patrol tracks is for community staff")


# --------------------------------------------------------------------------- indicators


def indicator_scope(actor: Actor) -> frozenset[int] | None:
    """The grids whose indicators ``actor`` may see: None for all (community staff,
    administrators), a grid leader's own grids; anyone else is refused."""
    check_signed_in(actor)
    if actor.may(Permission.SEE_ALL_INDICATORS):
        return None
    if actor.may(Permission.SEE_GRID_INDICATORS):
        return actor.grid_ids or frozenset()
    raise PermissionDenied(
        f"The indicators are for community staff and grid leaders (their own grids); you are a {actor.role}"
    )


# Layers whose features are anyone's to read, as tiles (which carry no personal data): tracks
# are personal and never drawn from tiles.
PUBLIC_TILE_LAYERS = frozenset(
    {"communities", "grids", "estates", "buildings", "incidents", "responders", "components"}
)


def check_may_read_tiles(actor: Actor, layer: str) -> None:
    """Vector tiles: the same for every caller (they carry no personal data), so anyone may read
    them and caches may share them; patrols' tracks are never in tiles."""
    if layer not in PUBLIC_TILE_LAYERS:
        raise PermissionDenied(f"{layer} are not drawn from vector tiles (a track is personal data)")
