"""What a person needs to know about a grid: its place in the hierarchy and who serves it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from geo.models import Community, Grid, Responder
from geo.revisions import cached

# Building heads belong to a building, facilities are not "workers on duty".
_NOT_WORKERS = {"building_head"}
CARD_DEPENDS_ON = ("grids", "roster", "communities")  # the revisions a card is built from


def _person(r: Responder) -> dict[str, Any]:
    return {"id": r.id, "code": r.code, "name": r.name, "role": r.role, "phone": r.phone}


def _build_card(session: Session, grid_id: int) -> dict[str, Any] | None:
    grid = session.scalar(
        select(Grid)
        .where(Grid.id == grid_id)
        .options(selectinload(Grid.responders), selectinload(Grid.community).selectinload(Community.street))
    )
    if grid is None:
        return None
    community = grid.community
    street = community.street if community else None
    workers = sorted(
        (r for r in grid.responders if r.on_duty and r.kind == "person" and r.role not in _NOT_WORKERS),
        key=lambda r: (r.role != "grid_leader", r.role != "grid_worker", r.role, r.id),
    )
    leader = grid.leader
    return {
        "id": grid.id,
        "code": grid.code,
        "name": grid.name,
        "party_branch": grid.party_branch,
        "community": {"code": community.code, "name": community.name} if community else None,
        "street": {"code": street.code, "name": street.name, "district_code": street.district_code, "district_name": street.district_name, "city_name": street.city_name} if street else None,
        "leader": _person(leader) if leader else None,
        "workers_on_duty": [_person(r) for r in workers],
    }


def grid_card(session: Session, grid_id: int) -> dict[str, Any] | None:
    """The card of one grid, cached until the grids, the roster or the communities change."""
    cards: dict[int, Any] = cached(session, "grid_cards", CARD_DEPENDS_ON, lambda _s: {})
    if grid_id not in cards:
        cards[grid_id] = _build_card(session, grid_id)
    return cards[grid_id]
