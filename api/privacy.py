"""Personal data in answers: phones and reporters' names go only to those who need them.

Community staff, grid leaders and grid workers see them; planners, viewers and the public get
answers with those fields left out altogether.
"""

from __future__ import annotations

from typing import Any

from geo.workflow import Actor

PERSONAL_FIELDS = ("phone", "reporter_phone", "reporter_name")


def redact(props: dict[str, Any] | None, actor: Actor) -> dict[str, Any] | None:
    if props is None or actor.sees_personal_data:
        return props
    out = {k: v for k, v in props.items() if k not in PERSONAL_FIELDS}
    if isinstance(out.get("changes"), dict):
        out["changes"] = {k: v for k, v in out["changes"].items() if k not in PERSONAL_FIELDS}
    return out


def redact_feature(feature: dict[str, Any], actor: Actor) -> dict[str, Any]:
    return {**feature, "properties": redact(feature["properties"], actor)}


def redact_collection(collection: dict[str, Any], actor: Actor) -> dict[str, Any]:
    return {**collection, "features": [redact_feature(f, actor) for f in collection["features"]]}
