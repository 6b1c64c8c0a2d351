"""Personal data in answers: phones in full to those who must call them, masked to those who
only need to know someone is there, and reporters only to those who may see them.

The access policy decides (:mod:`geo.access.policy`): a responder's phone follows the caller's
role (:func:`responder_phone_view`; for the responders suggested for an incident, whether the
incident is the caller's to see); a reporter's name and phone follow
:func:`sees_incident_personal_data` and are shown in full or left out altogether. Every answer
that carries a full phone number notes, on its :class:`Reader`, whose it was; the request then
writes one audit row (:mod:`api.readlog`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from api.auth import client_address
from geo.access.phones import mask_phone
from geo.access.policy import Actor, PhoneView, reporter_view, responder_phone_view

PERSONAL_FIELDS = ("phone", "reporter_phone", "reporter_name")
REPORTER_FIELDS = ("reporter_phone", "reporter_name")


@dataclass
class Reader:
    """Who an answer is for, and the full phone numbers it carries (ids by layer)."""

    actor: Actor
    address: str
    path: str
    read: dict[str, set[int]] = field(default_factory=dict)

    def saw(self, layer: str, ident: int) -> None:
        self.read.setdefault(layer, set()).add(ident)


def reader_for(request: Request, actor: Actor) -> Reader:
    return Reader(actor, client_address(request), request.url.path)


def _without(props: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    out = {k: v for k, v in props.items() if k not in fields}
    if isinstance(out.get("changes"), dict):
        out["changes"] = {k: v for k, v in out["changes"].items() if k not in fields}
    return out


def show_person(props: dict[str, Any], reader: Reader, view: PhoneView) -> dict[str, Any]:
    """``props`` of a responder (with ``id`` and ``phone``) as ``view`` shows its phone."""
    if view is PhoneView.FULL:
        if props.get("phone"):
            reader.saw("responders", props["id"])
        return props
    if view is PhoneView.MASKED:
        return {**props, "phone": mask_phone(props.get("phone"))} if "phone" in props else props
    return _without(props, PERSONAL_FIELDS)


def redact(props: dict[str, Any] | None, reader: Reader) -> dict[str, Any] | None:
    """``props`` about a responder, by the caller's role alone."""
    if props is None:
        return None
    return show_person(props, reader, responder_phone_view(reader.actor))


def redact_incident(
    props: dict[str, Any] | None, reader: Reader, grid: int | str | None, incident_id: int | None = None
) -> dict[str, Any] | None:
    """``props`` about an incident in ``grid`` (its feature, or an entry of its timeline:
    ``incident_id`` then names the incident)."""
    if props is None:
        return None
    if reporter_view(reader.actor, grid) is PhoneView.NONE:
        return _without(props, REPORTER_FIELDS)
    changes = props.get("changes")
    if props.get("reporter_phone") or (isinstance(changes, dict) and changes.get("reporter_phone")):
        reader.saw("incidents", incident_id if incident_id is not None else props["id"])
    return props


def _is_incident(props: dict[str, Any]) -> bool:
    return "reporter_phone" in props and "status" in props


def redact_feature(feature: dict[str, Any], reader: Reader) -> dict[str, Any]:
    props = feature["properties"]
    if props is not None and _is_incident(props):
        return {**feature, "properties": redact_incident(props, reader, props.get("grid"))}
    return {**feature, "properties": redact(props, reader)}


def redact_collection(collection: dict[str, Any], reader: Reader) -> dict[str, Any]:
    return {**collection, "features": [redact_feature(f, reader) for f in collection["features"]]}
