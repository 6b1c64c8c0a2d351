"""What the demo is built around: the places, the public figures, the seed and the base time."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from geo.timezones import CHINA_TIME

DATA_DIR = Path(__file__).resolve().parents[1]
OUT_DIR = DATA_DIR / "demo"
# The boundary lives beside the repository (shared data); an environment variable can point elsewhere.
DISTRICT_FILE = Path(
    os.environ.get(
        "WANGGE_DISTRICT_FILE", DATA_DIR.parents[1] / "shared" / "data" / "qingyuan" / "441802_qingcheng.json"
    )
)

SEED = 441802001
BASE_TIME = datetime(2026, 11, 1, 8, 0, tzinfo=CHINA_TIME)  # "now" for the demo; every time is an offset from it
DECIMALS = 7  # about 1 cm, finer than any survey of these features
PRECISION = 10.0**-DECIMALS

CITY_NAME = "清远市"
DISTRICT_CODE = "441802"
DISTRICT_NAME = "清城区"
STREET_NAME = "凤城街道"
COMMUNITY_NAME = "翠湖社区"
ADDRESS_PREFIX = f"{CITY_NAME}{DISTRICT_NAME}{STREET_NAME}"
CENTRE = (113.045, 23.695)  # WGS84, in the urban centre of the district

N_GRIDS = 12
N_OLD_BUILDINGS = 235
TARGET_RESIDENTS = 13_700
N_BUILDING_HEADS = 43
N_RENOVATIONS_COMPLETED = 14
N_ILLEGAL_STRUCTURES_DEMOLISHED = 7
MIN_EDGE_M = 1.0  # points this close to a grid edge are ambiguous; keep every point further inside
