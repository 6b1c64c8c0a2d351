"""The whole demo community, built from one seeded generator in a fixed order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from geo.spatial.codes import community_code

from .buildings import Building, Estate, make_buildings
from .community import Grid, make_community
from .components import Component, make_components
from .facts import CENTRE, DISTRICT_CODE, SEED
from .frame import LocalFrame
from .incidents import Incident, make_incidents
from .people import NameMaker, Responder, make_responders


@dataclass
class Demo:
    code: str  # the community's 12-digit code
    frame: LocalFrame
    community: Polygon  # WGS84
    grids: list[Grid]
    estates: list[Estate]
    buildings: list[Building]
    responders: list[Responder]
    incidents: list[Incident]
    components: list[Component]


def build_demo(district: MultiPolygon) -> Demo:
    """Every draw comes from one generator, so the steps must stay in this order for the files to stay the same."""
    rng = np.random.default_rng(SEED)
    frame = LocalFrame(*CENTRE)
    names = NameMaker(rng)
    code = community_code(DISTRICT_CODE, 1, 1)
    community, grids = make_community(rng, frame, district, code)
    estates, buildings = make_buildings(rng, frame, community, grids)
    responders = make_responders(rng, frame, names, grids, estates, buildings)
    incidents = make_incidents(rng, frame, names, buildings)
    components = make_components(frame, grids, buildings)  # from a generator of their own
    return Demo(code, frame, community, grids, estates, buildings, responders, incidents, components)
