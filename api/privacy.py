"""Personal data in answers: phones and reporters' names go only to those who need them.

One rule, :func:`sees_personal_data`, decides for every answer about an incident: community staff
and administrators see the reporter's name and phone (and the phones of responders suggested for
it) on every incident; grid leaders and grid workers only on incidents in their own grids; planners,
viewers and the public never. Those not allowed get answers with those fields left out altogether.
Answers about people rather than incidents (responders, who serves a grid) follow the role alone:
``Actor.sees_personal_data``.
"""

from __future__ import annotations

from typing import Any

from geo.incidents.workflow import Actor

PERSONAL_FIELDS = ("phone", "reporter_phone", "reporter_name")
STAFF = ("admin", "community")
GRID_ROLES = ("grid_leader", "grid_worker")


def sees_personal_data(actor: Actor, grid_id: int | str | None) -> bool:
    """Whether ``actor`` may see the personal data of an incident in the grid ``grid_id`` (its
    id, or its code as answers give it; None: in no grid)."""
    if actor.role in STAFF:
        return True
    if actor.role in GRID_ROLES and grid_id is not None:
        own = actor.grid_codes if isinstance(grid_id, str) else actor.grid_ids
        return own is not None and grid_id in own
    return False


def _strip(props: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in props.items() if k not in PERSONAL_FIELDS}
    if isinstance(out.get("changes"), dict):
        out["changes"] = {k: v for k, v in out["changes"].items() if k not in PERSONAL_FIELDS}
    return out


def redact(props: dict[str, Any] | None, actor: Actor) -> dict[str, Any] | None:
    """``props`` about people (a responder, who serves a grid), by the caller's role alone."""
    if props is None or actor.sees_personal_data:
        return props
    return _strip(props)


def redact_incident(props: dict[str, Any] | None, actor: Actor, grid_id: int | str | None) -> dict[str, Any] | None:
    """``props`` about an incident in ``grid_id`` (its feature, or an entry of its timeline)."""
    if props is None or sees_personal_data(actor, grid_id):
        return props
    return _strip(props)


def _is_incident(props: dict[str, Any]) -> bool:
    return "reporter_phone" in props and "status" in props


def redact_feature(feature: dict[str, Any], actor: Actor) -> dict[str, Any]:
    props = feature["properties"]
    if props is not None and _is_incident(props):
        return {**feature, "properties": redact_incident(props, actor, props.get("grid"))}
    return {**feature, "properties": redact(props, actor)}


def redact_collection(collection: dict[str, Any], actor: Actor) -> dict[str, Any]:
    return {**collection, "features": [redact_feature(f, actor) for f in collection["features"]]}
