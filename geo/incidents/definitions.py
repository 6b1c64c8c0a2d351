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
STAYS = "="  # an action's `to` that leaves the status unchanged
STEPS = frozenset(
    "report verify register reject merge dispatch handle rework check close evaluate suspend resume extend "
    "supervise overdue recategorise".split()
)
CHECKS = {"verify": "核实", "inspect": "核查"}


@dataclass(frozen=True)
class Action:
    name: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    needs: frozenset[str] = frozenset()
    # Photo stages the action needs, uploaded since the incident entered its current status.
    evidence: tuple[str, ...] = ()
    # What the timeline row means for the indicators (report, verify, register, ... see the README).
    step: str | None = None
    # An on-site check by someone else: "verify" (核实, not by the reporter) or "inspect" (核查, not
    # by the handler); None for other actions.
    check: str | None = None

    @property
    def stays(self) -> bool:
        """The action leaves the status as it is (suspend, resume, extend, supervise)."""
        return self.target == STAYS


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
    # The status in which the work is done: entering it starts the handling deadline (处置时限),
    # counted in working time from the incident's time limit.
    handling: str | None = None

    def is_open(self, status: str) -> bool:
        return status not in self.closed

    def awaits(self, status: str) -> bool:
        """Whether a next step is due in ``status``: every open status, and an end status that
        still takes an action (a closed case awaits its evaluation)."""
        return self.is_open(status) or any(not a.stays for a in self.actions_from(status))

    def check_from(self, status: str) -> str | None:
        """The on-site check (verify or inspect) ``status`` awaits, if any."""
        return next((a.check for a in self.actions_from(status) if a.check), None)

    def step_actions(self, step: str) -> list[Action]:
        return [a for a in self.actions.values() if a.step == step]

    def allowance(self, status: str, category: str) -> timedelta | None:
        """How long an incident may stay in ``status`` before its next step is due."""
        if not self.awaits(status) or status not in self.deadlines:
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


def _known(kind: str, action: str, key: str, value: str | None, known) -> str | None:
    if value is not None and value not in known:  # a mistake in the definitions, found when they are read
        raise ValueError(f"{kind}.{action}: unknown {key} {value!r}; use {', '.join(sorted(known))}")
    return value


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
                _known(kind, name, "step", a.get("step"), STEPS),
                _known(kind, name, "check", a.get("check"), CHECKS),
            )
            for name, a in spec["actions"].items()
        }
        handling = spec.get("handling")
        if handling is not None and handling not in spec["statuses"]:
            raise ValueError(f"{kind}: the handling status {handling!r} is not one of its statuses")
        workflows[kind] = Workflow(
            kind=kind,
            label=spec["label"],
            initial=spec["initial"],
            statuses=tuple(spec["statuses"]),
            closed=frozenset(spec["closed"]),
            labels=dict(spec.get("labels", {})),
            actions=actions,
            deadlines={status: dict(v) for status, v in spec.get("deadlines", {}).items()},
            handling=handling,
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
    """Past its deadline with the step still to do; a suspended (挂账) incident's clock is stopped."""
    return (
        incident.due_at is not None
        and incident.due_at < now
        and incident.suspended_at is None
        and workflow(incident.kind).awaits(incident.status)
    )
