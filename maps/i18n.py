"""What the maps say, in Simplified Chinese (the default) and English (``?lang=en``)."""

from __future__ import annotations

from typing import Any

from geo.models import CATEGORIES, KNOWN_ROLES

LANGS = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "site": "wangge 网格化管理",
        "site_intro": "社区网格、楼栋、网格员与事件的地图和接口。",
        "incidents_title": "事件地图",
        "incidents_about": "隐患、事件、违建与民生改造点位，按网格、类型、状态和时间筛选；聚合显示、热力图。",
        "grid_title": "网格地图",
        "grid_about": "一个网格的边界、楼栋、楼栋长、在岗网格员和未办结事件。",
        "planner_title": "民生改造点位规划",
        "planner_about": "规划人员在地图上标注、修改和移动民生改造点位（需要令牌）。",
        "docs": "接口文档",
        "docs_about": "全部接口（GeoJSON，可按范围、网格、类型、状态、时间筛选）。",
        "grids_heading": "各网格",
        "layers_heading": "图层数据（GeoJSON）",
        "other_lang": "English",
        "grids": "网格",
        "estates": "小区",
        "buildings": "楼栋",
        "heads": "楼栋长",
        "on_duty": "在岗网格员",
        "heat": "热力图",
        "renovation_layer": "民生改造点位",
        "legend": "图例",
        "state": "状态",
        "open": "办理中",
        "overdue": "已超期",
        "closed": "已办结",
        "cluster_note": "圆圈中的数字为该处的事件数（红圈：含超期事件），点击放大。",
        "search": "搜索网格编码或名称",
        "locate": "定位我",
        "fullscreen": "全屏",
        "fullscreen_exit": "退出全屏",
        "loading": "加载中……",
        "in_view": "视野内 {n} 条事件",
        "renovation_in_view": "视野内 {n} 个民生改造点位",
        "home": "首页",
        "in_view_cells": "视野内 {n} 条事件（已按区域汇总，放大查看单个事件）",
        "zoom_for_buildings": "放大后显示楼栋",
        "load_failed": "加载失败",
        "kind": "类型",
        "category": "类别",
        "status": "状态",
        "deadline": "办理期限",
        "assignee": "责任人",
        "grid": "网格",
        "reported_at": "上报时间",
        "description": "描述",
        "api_record": "接口记录",
        "none": "无",
        "name": "名称",
        "code": "编码",
        "address": "地址",
        "households": "户数",
        "residents": "人口",
        "role": "角色",
        "organisation": "单位",
        "duty": "在岗",
        "yes": "是",
        "no": "否",
        "token": "令牌",
        "token_placeholder": "粘贴规划人员令牌",
        "token_save": "保存",
        "token_clear": "清除",
        "token_saved": "令牌已保存在本浏览器",
        "token_none": "未设置令牌：只能查看",
        "title": "标题",
        "save": "保存",
        "cancel": "取消",
        "new_point": "新的民生改造点位",
        "saved": "已保存",
        "saving": "保存中……",
        "refused": "未保存",
        "edit_point": "修改点位",
        "moved": "位置已保存",
        "draw_marker": "标注民生改造点位",
        "planner_help": "点击左侧的标注按钮，在地图上放置点位，填写标题和类别后保存。编辑按钮可拖动已有点位。",
        "not_found_title": "未找到",
        "unavailable_title": "地图暂不可用",
        "bad_request_title": "请求有误",
        "back": "返回首页",
        "basemap_osm": "OpenStreetMap",
        "basemap_tianditu": "天地图",
        "basemap_amap": "高德地图",
        "basemap_local": "自建瓦片",
        "basemap_none": "无底图（离线）",
    },
    "en": {
        "site": "wangge grid governance",
        "site_intro": "Maps and API for community grids, buildings, grid workers and incidents.",
        "incidents_title": "Incident map",
        "incidents_about": "Hazards, cases, illegal structures and renovation points, filtered by grid, kind, status and date; clustered, with a heat map.",
        "grid_title": "Grid map",
        "grid_about": "One grid's boundary, buildings, building heads, grid workers on duty and open incidents.",
        "planner_title": "Renovation planner",
        "planner_about": "Planners mark, change and move renovation points on the map (a token is needed).",
        "docs": "API docs",
        "docs_about": "Every endpoint (GeoJSON, filtered by box, grid, kind, status and date).",
        "grids_heading": "Grids",
        "layers_heading": "Layers (GeoJSON)",
        "other_lang": "中文",
        "grids": "Grids",
        "estates": "Estates",
        "buildings": "Buildings",
        "heads": "Building heads",
        "on_duty": "Grid workers on duty",
        "heat": "Heat map",
        "renovation_layer": "Renovation points",
        "legend": "Legend",
        "state": "Status",
        "open": "open",
        "overdue": "overdue",
        "closed": "closed",
        "cluster_note": "Numbers in circles count the incidents there (a red ring: some are overdue); click to zoom in.",
        "search": "Search grid code or name",
        "locate": "Show my location",
        "fullscreen": "Full screen",
        "fullscreen_exit": "Exit full screen",
        "loading": "Loading…",
        "in_view": "{n} incidents in view",
        "renovation_in_view": "{n} renovation points in view",
        "home": "Home",
        "in_view_cells": "{n} incidents in view (summed by area; zoom in to see each one)",
        "zoom_for_buildings": "Zoom in to see buildings",
        "load_failed": "Could not load",
        "kind": "Kind",
        "category": "Category",
        "status": "Status",
        "deadline": "Deadline",
        "assignee": "Assignee",
        "grid": "Grid",
        "reported_at": "Reported",
        "description": "Description",
        "api_record": "API record",
        "none": "none",
        "name": "Name",
        "code": "Code",
        "address": "Address",
        "households": "Households",
        "residents": "Residents",
        "role": "Role",
        "organisation": "Organisation",
        "duty": "On duty",
        "yes": "yes",
        "no": "no",
        "token": "Token",
        "token_placeholder": "Paste a planner's token",
        "token_save": "Save",
        "token_clear": "Clear",
        "token_saved": "Token kept in this browser",
        "token_none": "No token: you can only look",
        "title": "Title",
        "save": "Save",
        "cancel": "Cancel",
        "new_point": "New renovation point",
        "saved": "Saved",
        "saving": "Saving…",
        "refused": "Not saved",
        "edit_point": "Change this point",
        "moved": "New position saved",
        "draw_marker": "Mark a renovation point",
        "planner_help": "Press the marker button on the left, place a point, give it a title and a category, and save. The edit button lets you drag existing points.",
        "not_found_title": "Not found",
        "unavailable_title": "Maps unavailable",
        "bad_request_title": "Bad request",
        "back": "Back to the start page",
        "basemap_osm": "OpenStreetMap",
        "basemap_tianditu": "Tianditu",
        "basemap_amap": "Amap (Gaode)",
        "basemap_local": "Self-hosted tiles",
        "basemap_none": "No basemap (offline)",
    },
}

KINDS = {
    "zh": {"hazard": "隐患", "case": "事件", "illegal_structure": "违建", "renovation": "民生改造点位"},
    "en": {"hazard": "Hazards", "case": "Cases", "illegal_structure": "Illegal structures", "renovation": "Renovation points"},
}

CATEGORY_LABELS = {
    "zh": {
        "safety_production": "安全生产", "fire_safety": "消防安全", "public_safety": "公共安全",
        "dispute": "矛盾纠纷", "public_order": "治安秩序", "aid": "求助帮扶",
        "rooftop": "楼顶加建", "enclosure": "违规围蔽", "extension": "违规扩建", "shed": "违规搭棚",
        "road": "道路", "lighting": "照明", "drainage": "排水", "elevator": "加装电梯", "greening": "绿化",
        "parking": "停车", "facade": "外立面",
    },
    "en": {
        "safety_production": "work safety", "fire_safety": "fire safety", "public_safety": "public safety",
        "dispute": "dispute", "public_order": "public order", "aid": "aid request",
        "rooftop": "rooftop addition", "enclosure": "enclosure", "extension": "extension", "shed": "shed",
        "road": "road", "lighting": "lighting", "drainage": "drainage", "elevator": "lift", "greening": "greening",
        "parking": "parking", "facade": "facade",
    },
}

ROLES = {
    "zh": {
        "grid_leader": "网格长", "grid_worker": "专职网格员", "part_time": "兼职网格员", "police": "民警",
        "urban_management": "城管", "building_head": "楼栋长", "fire_station": "微消防站",
    },
    "en": {
        "grid_leader": "grid leader", "grid_worker": "grid worker", "part_time": "part-time grid worker",
        "police": "police officer", "urban_management": "urban management", "building_head": "building head",
        "fire_station": "micro fire station",
    },
}


# Leaflet.draw's own words (L.drawLocal), for the planner's marker tool.
DRAW = {
    "zh": {
        "draw": {
            "toolbar": {
                "actions": {"title": "取消标注", "text": "取消"},
                "finish": {"title": "完成", "text": "完成"},
                "undo": {"title": "撤销", "text": "撤销"},
                "buttons": {"marker": "标注民生改造点位"},
            },
            "handlers": {"marker": {"tooltip": {"start": "点击地图放置点位"}}},
        },
        "edit": {
            "toolbar": {
                "actions": {
                    "save": {"title": "保存修改", "text": "保存"},
                    "cancel": {"title": "放弃修改", "text": "取消"},
                    "clearAll": {"title": "清除全部", "text": "清除全部"},
                },
                "buttons": {"edit": "移动点位", "editDisabled": "没有可移动的点位"},
            },
            "handlers": {"edit": {"tooltip": {"text": "拖动点位到新的位置", "subtext": "点击“取消”放弃修改"}}},
        },
    },
    "en": {
        "draw": {"toolbar": {"buttons": {"marker": "Mark a renovation point"}}, "handlers": {"marker": {"tooltip": {"start": "Click the map to place the point"}}}},
        "edit": {"toolbar": {"buttons": {"edit": "Move points", "editDisabled": "No points to move"}}, "handlers": {"edit": {"tooltip": {"text": "Drag points to their new places", "subtext": "Cancel to undo"}}}},
    },
}


def lang_of(value: str | None) -> str:
    return "en" if (value or "").lower().startswith("en") else "zh"


def t(lang: str, key: str) -> str:
    return TEXT[lang][key]


def status_labels(lang: str) -> dict[str, dict[str, str]]:
    """Per kind, a label for each workflow status (Chinese from geo/incidents/workflows.toml)."""
    from geo.incidents.definitions import workflows

    out = {}
    for kind, flow in workflows().items():
        if lang == "zh":
            out[kind] = {s: flow.labels.get(s, s) for s in flow.statuses}
        else:
            out[kind] = {s: s.replace("_", " ") for s in flow.statuses}
    return out


def labels(lang: str) -> dict[str, Any]:
    """Everything the map glue shows, for one language."""
    return {
        "text": TEXT[lang],
        "kinds": KINDS[lang],
        "categories": {kind: {c: CATEGORY_LABELS[lang].get(c, c) for c in cats} for kind, cats in CATEGORIES.items()},
        "categoryOrder": {kind: list(cats) for kind, cats in CATEGORIES.items()},  # the page's JSON sorts keys
        "roles": {r: ROLES[lang].get(r, r) for r in KNOWN_ROLES},
        "statuses": status_labels(lang),
    }
