"""Personal data in answers: phones and reporters' names go only to those who need them.

One rule of the access policy, :func:`geo.access.policy.sees_incident_personal_data`, decides for every answer about an incident: community staff
and administrators see the reporter's name and phone (and the phones of responders suggested for
it) on every incident; grid leaders and grid workers only on incidents in their own grids; planners,
viewers and the public never. Those not allowed get answers with those fields left out altogether.
Answers about people rather than incidents (responders, who serves a grid) follow the role alone:
``Actor.sees_personal_data``.
"""

from __future__ import annotations

from typing import Any

from geo.access.policy import Actor, sees_incident_personal_data

PERSONAL_FIELDS = ("phone", "reporter_phone", "reporter_name")


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
    if props is None or sees_incident_personal_data(actor, grid_id):
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
