"""The incident kinds as data: their statuses, actions and deadlines (``workflows.toml``,
optionally overridden by the file in ``WANGGE_WORKFLOWS_FILE``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from geo.errors import InputError
from geo.models import PHOTO_STAGES, Incident
from geo.settings import get_settings

DEFINITIONS = Path(__file__).with_name("workflows.toml")


@dataclass(frozen=True)
class Action:
    name: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    needs: frozenset[str] = frozenset()
    # Photo stages the action needs, uploaded since the incident entered its current status.
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workflow:
    kind: str
    label: str
    initial: str
    statuses: tuple[str, ...]
    closed: frozenset[str]
    labels: dict[str, str]
    actions: dict[str, Action]
    deadlines: dict[str, dict[str, int]]  # status -> category (or "*") -> minutes

    def is_open(self, status: str) -> bool:
        return status not in self.closed

    def allowance(self, status: str, category: str) -> timedelta | None:
        """How long an incident may stay in ``status`` before its next step is due."""
        if status in self.closed or status not in self.deadlines:
            return None
        by_category = self.deadlines[status]
        minutes = by_category.get(category, by_category.get("*"))
        return None if minutes is None else timedelta(minutes=minutes)

    def actions_from(self, status: str) -> list[Action]:
        return [a for a in self.actions.values() if status in a.sources]


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _stages(kind: str, action: str, stages) -> list[str]:
    unknown = [s for s in stages if s not in PHOTO_STAGES]
    if unknown:  # a mistake in the definitions, found when they are read
        raise ValueError(
            f"{kind}.{action}: unknown photo stage {unknown[0]!r} in evidence; use {', '.join(PHOTO_STAGES)}"
        )
    return list(stages)


@lru_cache
def _load(override_path: str | None) -> dict[str, Workflow]:
    data = tomllib.loads(DEFINITIONS.read_text(encoding="utf-8"))
    if override_path:
        data = _merge(data, tomllib.loads(Path(override_path).read_text(encoding="utf-8")))
    workflows = {}
    for kind, spec in data.items():
        actions = {
            name: Action(
                name,
                tuple(a["from"]),
                a["to"],
                frozenset(a["roles"]),
                frozenset(a.get("needs", ())),
                tuple(_stages(kind, name, a.get("evidence", ()))),
            )
            for name, a in spec["actions"].items()
        }
        workflows[kind] = Workflow(
            kind=kind,
            label=spec["label"],
            initial=spec["initial"],
            statuses=tuple(spec["statuses"]),
            closed=frozenset(spec["closed"]),
            labels=dict(spec.get("labels", {})),
            actions=actions,
            deadlines={status: dict(v) for status, v in spec.get("deadlines", {}).items()},
        )
    return workflows


def workflows() -> dict[str, Workflow]:
    return _load(get_settings().workflows_file)


def workflow(kind: str) -> Workflow:
    try:
        return workflows()[kind]
    except KeyError:
        raise InputError(f"Unknown kind {kind!r}: use one of {', '.join(workflows())}") from None


def is_overdue(incident: Incident, now: datetime) -> bool:
    return incident.due_at is not None and incident.due_at < now and workflow(incident.kind).is_open(incident.status)
