"""Incidents: hazards, cases, illegal structures and renovation points, finished and still open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from shapely.geometry import Point

from geo.models import BuildingKind

from .buildings import Building
from .facts import BASE_TIME, N_ILLEGAL_STRUCTURES_DEMOLISHED, N_RENOVATIONS_COMPLETED
from .frame import LocalFrame, random_point_around, snap
from .people import NameMaker

# (kind, category) → (title, where it happens: old | estate | any, what was seen)
TEMPLATES: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {
    ("hazard", "safety_production"): (
        ("沿街商铺违规存放液化气罐", "old", "首层商铺后厨存放多个液化气罐，未设独立气瓶间。"),
        ("外墙瓷砖空鼓有脱落风险", "old", "外墙多处瓷砖空鼓开裂，下方为居民出入通道。"),
        ("配电箱柜门破损线路裸露", "any", "楼下公共配电箱柜门损坏，内部线路裸露。"),
        ("装修工地临边防护缺失", "estate", "住户装修施工，阳台临边未设防护栏杆。"),
        ("广告牌支架锈蚀松动", "old", "沿街广告牌支架严重锈蚀，台风天有坠落风险。"),
        ("地下车库积水浸泡配电设施", "estate", "地下车库雨后积水，配电设施底部被水浸泡。"),
    ),
    ("hazard", "fire_safety"): (
        ("电动车楼道充电", "old", "楼道内有住户为电动车充电，电线从窗口拉出。"),
        ("楼道堆放杂物", "old", "楼道及楼梯间堆放纸箱、旧家具等可燃杂物，影响疏散。"),
        ("消防通道被车辆占用", "estate", "消防车通道长期停放私家车，影响消防车通行。"),
        ("消火栓无水", "estate", "网格员巡查发现室内消火栓打开无水。"),
        ("灭火器过期失效", "any", "楼层配置的灭火器压力不足，已超过检验有效期。"),
        ("飞线充电", "old", "住户从楼上窗口拉线到地面为电动车充电。"),
    ),
    ("hazard", "public_safety"): (
        ("窨井盖破损", "any", "路边窨井盖破损下陷，夜间行人易踩空。"),
        ("高空抛物", "estate", "住户反映楼上多次有杂物抛下，险些砸中行人。"),
        ("树木倾斜有倒伏风险", "any", "路边大榕树根部松动、树身倾斜，台风季有倒伏风险。"),
        ("围墙开裂", "old", "临路围墙出现贯穿裂缝，墙体外倾。"),
        ("单元门禁损坏", "estate", "单元门禁损坏无法关闭，外来人员随意进出。"),
        ("楼梯扶手松动", "old", "楼梯扶手多处松动，老年住户上下楼有跌倒风险。"),
    ),
    ("case", "dispute"): (
        ("邻里噪音纠纷", "estate", "楼上住户夜间噪音较大，楼下住户多次沟通未果。"),
        ("楼上漏水引发邻里纠纷", "old", "楼上卫生间漏水渗到楼下天花，双方就维修费用有争议。"),
        ("车位占用纠纷", "estate", "住户固定车位被他人长期占用，双方发生争执。"),
        ("物业费缴纳纠纷", "estate", "部分住户对物业服务不满拒缴物业费，与物业公司产生矛盾。"),
        ("宠物扰民纠纷", "old", "住户饲养的犬只夜间吠叫，邻居投诉影响休息。"),
        ("装修扰民纠纷", "estate", "住户在午休及夜间时段装修施工，邻居投诉。"),
    ),
    ("case", "public_order"): (
        ("夜间烧烤摊占道经营", "old", "夜间有烧烤摊在路边占道经营，油烟和噪音扰民。"),
        ("流动摊贩占道经营", "old", "流动摊贩在路口占道摆卖，影响通行。"),
        ("广场舞噪音扰民", "estate", "晚间广场舞音响音量过大，周边住户投诉。"),
        ("乱张贴小广告", "old", "楼道和墙面被大量张贴小广告。"),
        ("可疑人员徘徊", "estate", "有陌生人员连续多日在楼栋附近徘徊、拍照。"),
        ("共享单车乱停放", "any", "大量共享单车堆放在人行道上，阻碍通行。"),
    ),
    ("case", "aid"): (
        ("独居老人求助", "old", "独居老人行动不便，家中无人照料，请求上门帮扶。"),
        ("残疾人出行困难求助", "old", "住户为下肢残疾人，楼梯无扶手，出行困难。"),
        ("困难家庭申请临时救助", "old", "家庭主要劳动力因病住院，申请临时救助。"),
        ("老人走失求助", "any", "家属反映患阿尔茨海默症的老人外出未归。"),
        ("孤寡老人家中水管爆裂求助", "old", "孤寡老人家中水管爆裂，无力自行维修。"),
        ("低保政策咨询", "estate", "住户咨询最低生活保障申请条件和材料。"),
    ),
    ("illegal_structure", "rooftop"): (
        ("楼顶违建阳光房", "old", "楼顶私自加建钢结构阳光房约30平方米。"),
        ("天台加建铁皮房", "old", "天台加建铁皮房，占用公共屋面。"),
    ),
    ("illegal_structure", "enclosure"): (
        ("私自圈占公共绿地", "any", "住户用铁栏杆圈占楼前公共绿地种菜。"),
        ("首层私自加建围墙圈地", "old", "首层住户私自砌墙圈占公共通道。"),
    ),
    ("illegal_structure", "extension"): (
        ("阳台外扩违建", "estate", "住户将阳台向外扩建，突出建筑外墙。"),
        ("首层外扩加建商铺", "old", "首层向外加建砖混结构商铺，占用人行道。"),
    ),
    ("illegal_structure", "shed"): (
        ("违规搭建铁皮棚", "old", "楼旁空地违规搭建铁皮棚用于堆放货物。"),
        ("占用公共通道搭建雨棚", "any", "在公共通道上方搭建雨棚，影响消防通行。"),
    ),
    ("renovation", "road"): (
        ("巷道路面硬化", "old", "巷道为泥土路面，雨天积水泥泞，居民提出硬化。"),
        ("小区道路破损修复", "estate", "内部道路坑洼破损，居民出行不便。"),
    ),
    ("renovation", "lighting"): (
        ("背街小巷增设路灯", "old", "背街小巷夜间无照明，居民提出增设路灯。"),
        ("楼道感应灯改造", "old", "楼道灯损坏多年，改造为声光控感应灯。"),
    ),
    ("renovation", "drainage"): (
        ("雨污分流改造", "old", "排水管道雨污合流，雨季污水外溢。"),
        ("积水点排水改造", "any", "路口低洼处每逢大雨积水，改造排水管网。"),
    ),
    ("renovation", "elevator"): (("既有住宅加装电梯", "old", "多层住宅无电梯，老年住户上下楼困难，申请加装电梯。"),),
    ("renovation", "greening"): (
        ("口袋公园建设", "any", "闲置空地杂草丛生，居民提出改造为口袋公园。"),
        ("绿化带补植", "estate", "绿化带黄土裸露，补植灌木和草皮。"),
    ),
    ("renovation", "parking"): (
        ("非机动车充电车棚建设", "any", "建设电动车集中充电车棚，解决楼道充电问题。"),
        ("规划增设停车位", "estate", "停车位不足，利用边角空地规划增设停车位。"),
    ),
    ("renovation", "facade"): (
        ("老旧楼房外立面翻新", "old", "外墙老化脱落，对外立面进行翻新。"),
        ("“三线”整治", "old", "楼外电力、通信线缆杂乱如蜘蛛网，进行梳理规整。"),
    ),
}

STATUS_NOTES = {
    ("hazard", "reported"): "居民上报，待网格员现场核实。",
    ("hazard", "confirmed"): "网格员已现场核实，已通知责任人整改。",
    ("hazard", "rectifying"): "责任人正在整改，网格员跟进复查。",
    ("case", "reported"): "居民上报，待受理。",
    ("case", "registered"): "社区已立案。",
    ("case", "dispatched"): "已派遣网格员到场处置。",
    ("case", "handled"): "已处置完毕，待核查结案。",
    ("illegal_structure", "reported"): "群众举报，待核实。",
    ("illegal_structure", "verified"): "经现场核实属违法建设。",
    ("illegal_structure", "notice_served"): "已送达限期拆除通知书。",
    ("illegal_structure", "demolished"): "已依法拆除，现场已清理。",
    ("renovation", "proposed"): "居民提出，待“逢四说事”协商。",
    ("renovation", "in_consultation"): "正在组织居民小协商征求意见。",
    ("renovation", "approved"): "经居民协商一致，已立项待施工。",
    ("renovation", "under_construction"): "正在施工。",
    ("renovation", "completed"): "已完工并通过居民验收。",
}

# Statuses of work still in progress on the demo's "now".
OPEN_STATUSES = {
    "hazard": ("reported", "confirmed", "rectifying"),
    "case": ("reported", "registered", "dispatched", "handled"),
    "illegal_structure": ("reported", "verified", "notice_served"),
    "renovation": ("proposed", "in_consultation", "approved", "under_construction"),
}

# How long ago (days) an incident in this status was created: later stages are older.
AGE_DAYS = {
    "reported": (0, 2),
    "confirmed": (1, 6),
    "rectifying": (3, 25),
    "registered": (0, 3),
    "dispatched": (0, 4),
    "handled": (1, 8),
    "verified": (3, 15),
    "notice_served": (8, 40),
    "demolished": (60, 420),
    "proposed": (2, 25),
    "in_consultation": (10, 45),
    "approved": (30, 100),
    "under_construction": (60, 160),
    "completed": (150, 600),
}
CLOSE_AFTER_DAYS = {"completed": (30, 120), "demolished": (7, 45)}
REPORTED_BY_RESIDENT = {"hazard": 0.6, "case": 0.7, "illegal_structure": 0.3, "renovation": 0.7}


@dataclass(eq=False)
class Incident:
    kind: str
    category: str
    status: str
    title: str
    description: str
    point: Point  # WGS84
    created_at: datetime
    closed_at: datetime | None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    building: Building | None = field(default=None, repr=False)
    code: str = ""


# The sub-categories of the default catalogue (data/catalogue/default.csv) the demo's incidents take.
DEMO_CATEGORIES: dict[str, tuple[str, ...]] = {
    "hazard": ("safety_production", "fire_safety", "public_safety"),
    "case": ("dispute", "public_order", "aid"),
    "illegal_structure": ("rooftop", "enclosure", "extension", "shed"),
    "renovation": ("road", "lighting", "drainage", "elevator", "greening", "parking", "facade"),
}


def incident_plan(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """(kind, category, status) for every incident: the public totals plus today's open work."""
    reno, illegal = DEMO_CATEGORIES["renovation"], DEMO_CATEGORIES["illegal_structure"]
    plan = [("renovation", reno[i % len(reno)], "completed") for i in range(N_RENOVATIONS_COMPLETED)]
    plan += [
        ("illegal_structure", illegal[i % len(illegal)], "demolished") for i in range(N_ILLEGAL_STRUCTURES_DEMOLISHED)
    ]
    for kind in ("hazard", "case"):
        statuses = OPEN_STATUSES[kind]
        for cat in DEMO_CATEGORIES[kind]:
            n = len(TEMPLATES[(kind, cat)])
            plan += [(kind, cat, statuses[int(i) % len(statuses)]) for i in rng.permutation(n)]
    for i, status in enumerate(OPEN_STATUSES["illegal_structure"] * 2):
        plan.append(("illegal_structure", illegal[(i + 1) % len(illegal)], status))
    for i, status in enumerate(OPEN_STATUSES["renovation"] + OPEN_STATUSES["renovation"][:2]):
        plan.append(("renovation", reno[(3 * i + 1) % len(reno)], status))
    return plan


def created_time(rng: np.random.Generator, status: str) -> datetime:
    lo, hi = AGE_DAYS[status]
    day = BASE_TIME - timedelta(days=int(rng.integers(lo, hi + 1)))
    t = day.replace(hour=int(rng.integers(7, 22)), minute=int(rng.integers(0, 60)))  # reports come in by day
    return t - timedelta(days=1) if t >= BASE_TIME else t


def closed_time(rng: np.random.Generator, status: str, created: datetime) -> datetime | None:
    if status not in CLOSE_AFTER_DAYS:
        return None
    lo, hi = CLOSE_AFTER_DAYS[status]
    t = (created + timedelta(days=int(rng.integers(lo, hi + 1)))).replace(
        hour=int(rng.integers(9, 18)), minute=int(rng.integers(0, 60))
    )
    return min(t, (BASE_TIME - timedelta(days=2)).replace(hour=16, minute=30))


def near_building(rng: np.random.Generator, frame: LocalFrame, b: Building) -> Point:
    """A spot a few metres from the building, in the building's own grid."""
    assert b.grid is not None  # number_buildings gave every building its grid
    centre, room = b.footprint_m.centroid, b.grid.metric.buffer(-2.0)
    for _ in range(50):
        p = random_point_around(rng, centre, 4.0, 18.0)
        if room.contains(p):
            return snap(frame.to_deg(p))
    return b.point


def building_pools(buildings: list[Building]) -> dict[str, list[Building]]:
    """Where an incident can happen, as the templates name it: old | estate | any."""
    old = [b for b in buildings if b.kind == BuildingKind.old_building.value]
    estate = [b for b in buildings if b.kind == BuildingKind.estate_building.value]
    return {"old": old, "estate": estate, "any": estate + old}


def make_incidents(
    rng: np.random.Generator, frame: LocalFrame, names: NameMaker, buildings: list[Building]
) -> list[Incident]:
    pools = building_pools(buildings)
    used: set[str] = set()
    turn: dict[tuple[str, str], int] = {}
    out = []
    for kind, category, status in incident_plan(rng):
        # Each (kind, category) goes through its templates in turn.
        options = TEMPLATES[(kind, category)]
        k = turn.get((kind, category), 0)
        turn[(kind, category)] = k + 1
        title, where, seen = options[k % len(options)]
        # A building not yet used, while there are any left.
        free = [b for b in pools[where] if b.code not in used] or pools[where]
        b = free[int(rng.integers(len(free)))]
        used.add(b.code)
        created = created_time(rng, status)
        inc = Incident(
            kind,
            category,
            status,
            title,
            f"{b.name}{seen}{STATUS_NOTES[(kind, status)]}",
            near_building(rng, frame, b),
            created,
            closed_time(rng, status, created),
            building=b,
        )
        if rng.random() < REPORTED_BY_RESIDENT[kind]:
            inc.reporter_name, inc.reporter_phone = names.person(), names.mobile()
        out.append(inc)
    out.sort(key=lambda i: i.created_at)  # codes run in the order incidents were reported
    for seq, inc in enumerate(out, start=1):
        inc.code = f"CH-I{seq:04d}"
    return out
