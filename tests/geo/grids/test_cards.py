"""What locate says about a grid (its card): hierarchy, leader, workers on duty, and phones only
for those who may see them, on both databases. The expectation is read from the ORM objects,
independently of geo.grids.cards, and cards made one by one equal cards made all at once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.v1 import API_PREFIX as API
from geo.access.phones import mask_phone
from geo.access.users import add_user, issue_token
from geo.db.revisions import cached
from geo.db.session import session_scope
from geo.grids.cards import _build_cards, make_all_grid_cards
from geo.models import Grid, Responder
from geo.spatial.geometry import from_db


def _expected(grid: Grid) -> dict:
    def person(r: Responder) -> dict:
        return {"id": r.id, "code": r.code, "name": r.name, "role": r.role, "phone": r.phone}

    serving = sorted(grid.responders, key=lambda r: r.id)
    leaders = [r for r in serving if r.role == "grid_leader"]
    on_duty = [r for r in serving if r.on_duty and r.kind == "person" and r.role != "building_head"]
    order = {"grid_leader": 0, "grid_worker": 1}
    on_duty.sort(key=lambda r: (order.get(r.role, 2), r.role, r.id))
    street = grid.community.street
    return {
        "id": grid.id,
        "code": grid.code,
        "name": grid.name,
        "party_branch": grid.party_branch,
        "community": {"code": grid.community.code, "name": grid.community.name},
        "street": {
            "code": street.code,
            "name": street.name,
            "district_code": street.district_code,
            "district_name": street.district_name,
            "city_name": street.city_name,
        },
        "leader": person(leaders[0]) if leaders else None,
        "workers_on_duty": [person(r) for r in on_duty],
    }


def test_each_grid_card_says_who_serves_it_and_made_at_once_they_are_the_same(demo):
    with session_scope(demo) as s:
        grids = s.scalars(select(Grid).order_by(Grid.id)).all()
        expected = {g.id: _expected(g) for g in grids}
        assert len(expected) == 12
        one_by_one = {g.id: _build_cards(s, [g.id])[g.id] for g in grids}
        at_once = _build_cards(s)
        assert make_all_grid_cards(s) == 12
        cache = cached(s, "grid_cards", ("grids", "roster", "communities"), lambda _s: {})
    assert one_by_one == expected
    assert at_once == expected
    assert cache == expected
    # The demo staffs every grid: a leader, and a full-time worker on duty.
    assert all(c["leader"] and any(w["role"] == "grid_worker" for w in c["workers_on_duty"]) for c in expected.values())


def test_locate_answers_with_the_card_and_full_phones_only_for_staff(demo, db_url):
    client = TestClient(create_app(db_url, escalate_every_s=0))
    with session_scope(demo) as s:
        grid = s.scalars(select(Grid).order_by(Grid.code)).first()
        card = _expected(grid)
        inside = from_db(grid.geom).representative_point()
        token = issue_token(s, add_user(s, "staff", "community"))
    public = client.get(f"{API}/grids/locate", params={"lon": inside.x, "lat": inside.y})
    staff = client.get(
        f"{API}/grids/locate", params={"lon": inside.x, "lat": inside.y}, headers={"Authorization": f"Bearer {token}"}
    )
    assert public.status_code == staff.status_code == 200
    assert staff.json()["grid"] == card
    masked = {
        **card,
        "leader": {**card["leader"], "phone": mask_phone(card["leader"]["phone"])},
        "workers_on_duty": [{**w, "phone": mask_phone(w["phone"])} for w in card["workers_on_duty"]],
    }
    assert public.json()["grid"] == masked
    assert card["leader"]["phone"] not in public.text and "****" in masked["leader"]["phone"]
