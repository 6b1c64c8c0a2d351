"""The kinds of buildings, responders and incidents and the roles wangge knows. The incident
categories are data: the catalogue (geo/catalogue, data/catalogue/default.csv)."""

from __future__ import annotations

import enum


class BuildingKind(str, enum.Enum):
    estate_building = "estate_building"  # 小区楼栋
    old_building = "old_building"  # 老旧单体楼
    public_facility = "public_facility"  # 党群活动中心 and the like


class ResponderKind(str, enum.Enum):
    person = "person"
    facility = "facility"


# Roles are open-ended strings; these are the ones wangge knows how to present.
KNOWN_ROLES = (
    "grid_leader",  # 网格长
    "grid_worker",  # 专职网格员
    "part_time",  # 兼职网格员
    "police",  # 专业网格员: 民警
    "urban_management",  # 专业网格员: 城管
    "building_head",  # 楼栋长
    "fire_station",  # 微消防站
)


class IncidentKind(str, enum.Enum):
    hazard = "hazard"  # 隐患
    case = "case"  # 事件
    illegal_structure = "illegal_structure"  # 违建
    renovation = "renovation"  # 民生改造点位
