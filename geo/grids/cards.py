"""What a person needs to know about a grid: its place in the hierarchy and who serves it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.db.revisions import cached
from geo.models import Community, Grid, Responder, Street, responder_grids

# Building heads belong to a building, facilities are not "workers on duty".
_NOT_WORKERS = {"building_head"}
CARD_DEPENDS_ON = ("grids", "roster", "communities")  # the revisions a card is built from


def _person(r) -> dict[str, Any]:
    return {"id": r.id, "code": r.code, "name": r.name, "role": r.role, "phone": r.phone}


def _build_cards(session: Session, grid_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """The cards of these grids (all grids when None), in three queries whatever their number."""
    grids = (
        select(
            Grid.id,
            Grid.code,
            Grid.name,
            Grid.party_branch,
            Community.code.label("community_code"),
            Community.name.label("community_name"),
            Street.code.label("street_code"),
            Street.name.label("street_name"),
            Street.district_code,
            Street.district_name,
            Street.city_name,
        )
        .outerjoin(Community, Grid.community_id == Community.id)
        .outerjoin(Street, Community.street_id == Street.id)
    )
    served = (
        select(
            responder_grids.c.grid_id,
            Responder.id,
            Responder.code,
            Responder.name,
            Responder.role,
            Responder.phone,
            Responder.on_duty,
            Responder.kind,
        )
        .join(Responder, Responder.id == responder_grids.c.responder_id)
        .order_by(Responder.id)
    )
    if grid_ids is not None:
        grids = grids.where(Grid.id.in_(grid_ids))
        served = served.where(responder_grids.c.grid_id.in_(grid_ids))
    people: dict[int, list] = {}
    for r in session.execute(served):
        people.setdefault(r.grid_id, []).append(r)
    cards = {}
    for g in session.execute(grids):
        serving = people.get(g.id, [])
        workers = sorted(
            (r for r in serving if r.on_duty and r.kind == "person" and r.role not in _NOT_WORKERS),
            key=lambda r: (r.role != "grid_leader", r.role != "grid_worker", r.role, r.id),
        )
        leader = next((r for r in serving if r.role == "grid_leader"), None)  # the first by id, as Grid.leader
        cards[g.id] = {
            "id": g.id,
            "code": g.code,
            "name": g.name,
            "party_branch": g.party_branch,
            "community": {"code": g.community_code, "name": g.community_name} if g.community_code else None,
            "street": {
                "code": g.street_code,
                "name": g.street_name,
                "district_code": g.district_code,
                "district_name": g.district_name,
                "city_name": g.city_name,
            }
            if g.street_code
            else None,
            "leader": _person(leader) if leader else None,
            "workers_on_duty": [_person(r) for r in workers],
        }
    return cards


def grid_cards(session: Session) -> dict[int, Any]:
    """The cards made so far, by grid id: a new dict once the grids, the roster or the
    communities change, so whatever is made from these cards can follow the dict."""
    return cached(session, "grid_cards", CARD_DEPENDS_ON, lambda _s: {})


def grid_card(session: Session, grid_id: int, cards: dict[int, Any] | None = None) -> dict[str, Any] | None:
    """The card of one grid (kept in ``cards``, by default :func:`grid_cards`)."""
    if cards is None:
        cards = grid_cards(session)
    if grid_id not in cards:
        cards[grid_id] = _build_cards(session, [grid_id]).get(grid_id)
    return cards[grid_id]


def make_all_grid_cards(session: Session) -> int:
    """Make every grid's card at once (a server starting up): the first lookups then read none."""
    cards = grid_cards(session)
    cards.update(_build_cards(session))
    return len(cards)
