"""One grid with its leader and worker at its centre; users for them and for the community staff.
The world of the concurrency and resilience tests."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.world import CommunitySpec, GridSpec, ResponderSpec, UserSpec, WorldSpec

CENTRE = (113.0425, 23.6925)
START = datetime(2027, 6, 1, 1, 0, tzinfo=UTC)

# username, role, code of the responder the user acts for
USERS = (("community", "community", None), ("leader", "grid_leader", "C-R01"), ("worker", "grid_worker", "C-R02"))

WORLD = WorldSpec(
    start=START,
    communities=(CommunitySpec("441802001001", "翠湖社区"),),
    grids=(GridSpec("A", "441802001001001", "第一网格", "441802001001", (113.040, 23.690, 113.045, 23.695)),),
    # keyed by their codes, as the users name them
    responders=tuple(
        ResponderSpec(code, code, role, role, ("A",), CENTRE, phone="13900000000")
        for code, role in (("C-R01", "grid_leader"), ("C-R02", "grid_worker"))
    ),
    users=tuple(UserSpec(*u) for u in USERS),
)
