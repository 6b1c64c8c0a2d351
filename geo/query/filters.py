"""The one filter type for reading layers (the lists, the map points) and its checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from geo.catalogue import categories
from geo.components import state_key
from geo.errors import InputError
from geo.incidents.definitions import workflows
from geo.layers import Layer


@dataclass
class Filters:
    bbox: tuple[float, float, float, float] | None = None  # WGS84
    grid: str | None = None
    kind: str | None = None
    status: str | None = None
    category: str | None = None
    state: str | None = None  # components: intact, damaged, missing, occupied, removed
    since: datetime | None = None
    until: datetime | None = None

    def given(self) -> set[str]:
        return {name for name, value in self.__dict__.items() if value is not None}


def check_filters(layer: Layer, filters: Filters, states: tuple[str, ...] = (), session: Session | None = None) -> None:
    """Refuse filters that do not apply to ``layer`` and unknown values, naming what is accepted.
    ``states``: words ``status`` also accepts besides the workflow statuses (the maps' states);
    ``session``: the database whose catalogue names the categories (needed for ``category``)."""
    unsupported = sorted(filters.given() - layer.filters)
    if unsupported:
        raise InputError(
            f"The {', '.join(unsupported)} filter does not apply to {layer.name}; "
            f"{layer.name} can be filtered by {', '.join(sorted(layer.filters))}"
        )
    if filters.kind is not None and layer.kinds is not None:
        allowed = layer.kinds()
        if filters.kind not in allowed:
            raise InputError(f"Unknown kind {filters.kind!r} for {layer.name}: use one of {', '.join(allowed)}")
    if filters.state is not None:
        filters.state = state_key(filters.state)  # its Chinese label names it too
    if filters.category is not None and layer.name == "incidents":  # components': any catalogue key
        assert session is not None, "categories are the catalogue's: check them with a session"
        allowed = sorted(
            {c for kind, cats in categories(session).items() if filters.kind in (None, kind) for c in cats}
        )
        if filters.category not in allowed:
            raise InputError(f"Unknown category {filters.category!r}: use one of {', '.join(allowed)}")
    if filters.status is not None and filters.status not in states:
        _check_status(filters, states)
    if filters.since and filters.until and filters.since > filters.until:
        raise InputError("since must not be later than until")


def _check_status(filters: Filters, states: tuple[str, ...]) -> None:
    known = sorted({s for kind, flow in workflows().items() if filters.kind in (None, kind) for s in flow.statuses})
    if filters.status in known:
        return
    if states:
        raise InputError(
            f"Unknown status {filters.status!r}: use one of {', '.join(states)} or a workflow status ({', '.join(known)})"
        )
    for_kind = f" for {filters.kind}" if filters.kind else ""
    raise InputError(f"Unknown status {filters.status!r}{for_kind}: use one of {', '.join(known)}")
