"""The indicators (GB/T 30428.4 style): their keys, labels and units, how each is made from the
timeline's counters (geo/indicators/counting.py), and the composite score with its grades.

All are event-based over the period [start, end): a row counts in the period its ``at`` falls in.

- 上报数 reports = report rows.
- 立案数 registered = register rows.
- 有效上报率 valid_report_rate = registered / (registered + rejected + merged): of the reports
  decided in the period, the share that became cases.
- 立案率 register_rate = registered / reports.
- 结案数 closed = close rows (an incident ending as done; rejected or merged endings are not
  closes). 按期结案数 closed_on_time = close rows with on_time.
- 应结案数 due_to_close = closed + incidents that went overdue in the period (an overdue row)
  and had not ended (no close, reject or merge row) by the period's end, each once: what should
  have been closed by then. A rejected or merged incident is owed no close.
- 结案率 close_rate = closed / due_to_close; 按期结案率 close_on_time_rate = closed_on_time /
  due_to_close.
- 处置数 handled = handle rows; 按期处置率 handle_on_time_rate = handle rows on time / handle rows
  whose on_time is known; 返工率 rework_rate = rework rows / handled.
- 按时核实率 verify_on_time_rate = verify rows on time / verify rows whose punctuality is known;
  按时核查率 check_on_time_rate the same over check rows. A verify row is one of step verify or one
  the workflow marks as an on-site 核实 (``changes["check"]``, e.g. an illegal structure's
  verification, which registers it); a check row one of step check or marked 核查 (a case's check,
  which closes it; a return for re-work; a hazard's re-inspection). On time: the mark's
  ``check_on_time`` (by the check's own deadline), else the row's on_time.
- 平均处置用时(工作时) avg_handle_work_hours = mean work_hours of the handle rows that have it.
- 督办数 supervised = supervise rows; 超期数 overdue = overdue rows.
- 综合评分 score = 100 × Σ wᵢ·rᵢ / Σ wᵢ over the weighted rates that are not null (返工率 enters
  as 1 − rework_rate); null when none is. 等级 grade = the first grade whose lower bound the score
  reaches (default A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, E below).

Rates are fractions from 0 to 1, null when their denominator is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Counter name -> value (geo/indicators/counting.py).
Counts = dict[str, float]


@dataclass(frozen=True)
class Indicator:
    key: str
    zh: str
    en: str
    unit: str  # count | rate | hours | score | grade

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "zh": self.zh, "en": self.en, "unit": self.unit}


INDICATORS: tuple[Indicator, ...] = (
    Indicator("reports", "上报数", "Reports", "count"),
    Indicator("valid_report_rate", "有效上报率", "Valid report rate", "rate"),
    Indicator("registered", "立案数", "Registered", "count"),
    Indicator("register_rate", "立案率", "Register rate", "rate"),
    Indicator("due_to_close", "应结案数", "Due to close", "count"),
    Indicator("closed", "结案数", "Closed", "count"),
    Indicator("close_rate", "结案率", "Close rate", "rate"),
    Indicator("closed_on_time", "按期结案数", "Closed on time", "count"),
    Indicator("close_on_time_rate", "按期结案率", "On-time close rate", "rate"),
    Indicator("handled", "处置数", "Handled", "count"),
    Indicator("handle_on_time_rate", "按期处置率", "On-time handling rate", "rate"),
    Indicator("rework_rate", "返工率", "Rework rate", "rate"),
    Indicator("verify_on_time_rate", "按时核实率", "On-time verification rate", "rate"),
    Indicator("check_on_time_rate", "按时核查率", "On-time check rate", "rate"),
    Indicator("avg_handle_work_hours", "平均处置用时(工作时)", "Average handling time (working hours)", "hours"),
    Indicator("supervised", "督办数", "Supervised", "count"),
    Indicator("overdue", "超期数", "Overdue", "count"),
    Indicator("score", "综合评分", "Score", "score"),
    Indicator("grade", "等级", "Grade", "grade"),
)
BY_KEY = {i.key: i for i in INDICATORS}
RATES = tuple(i.key for i in INDICATORS if i.unit == "rate")
LOWER_IS_BETTER = frozenset({"rework_rate"})

# Defaults: closing on time weighs most, as in the standard's evaluation of handling; the
# checks and verifications of the supervisors, and the quality of reports, the rest.
DEFAULT_WEIGHTS: dict[str, float] = {
    "close_on_time_rate": 0.25,
    "close_rate": 0.15,
    "handle_on_time_rate": 0.20,
    "rework_rate": 0.10,
    "valid_report_rate": 0.10,
    "verify_on_time_rate": 0.10,
    "check_on_time_rate": 0.10,
}
DEFAULT_GRADES: list[tuple[str, float]] = [("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0), ("E", 0.0)]


def check_weights(weights: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(RATES))
    if unknown:
        raise ValueError(f"indicator weights name {', '.join(unknown)}: weights are for the rates {', '.join(RATES)}")
    if any(not isinstance(w, int | float) or w < 0 for w in weights.values()):
        raise ValueError("indicator weights must be numbers of at least 0")
    if not any(weights.values()):
        raise ValueError("at least one indicator weight must be above 0")
    return {k: float(v) for k, v in weights.items()}


def check_grades(grades: list[tuple[str, float]]) -> list[tuple[str, float]]:
    if not grades:
        raise ValueError("indicator grades must name at least one grade")
    bounds = [float(b) for _g, b in grades]
    if bounds != sorted(bounds, reverse=True) or len(set(bounds)) != len(bounds):
        raise ValueError("indicator grades go from the best down, each lower bound below the one before")
    if bounds[-1] > 0:
        raise ValueError("the last indicator grade's lower bound must be 0, so that every score has a grade")
    return [(str(g), float(b)) for g, b in grades]


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def values(counts: Counts, owed: int, weights: dict[str, float], grades: list[tuple[str, float]]) -> dict[str, Any]:
    """Every indicator of one group, from its counters and its 应结案 term."""
    c = counts
    due = c["closed"] + owed
    out: dict[str, Any] = {
        "reports": int(c["reports"]),
        "valid_report_rate": ratio(c["registered"], c["registered"] + c["rejected"] + c["merged"]),
        "registered": int(c["registered"]),
        "register_rate": ratio(c["registered"], c["reports"]),
        "due_to_close": int(due),
        "closed": int(c["closed"]),
        "close_rate": ratio(c["closed"], due),
        "closed_on_time": int(c["closed_on_time"]),
        "close_on_time_rate": ratio(c["closed_on_time"], due),
        "handled": int(c["handled"]),
        "handle_on_time_rate": ratio(c["handled_on_time"], c["handle_timed"]),
        "rework_rate": ratio(c["reworks"], c["handled"]),
        "verify_on_time_rate": ratio(c["verified_on_time"], c["verify_timed"]),
        "check_on_time_rate": ratio(c["checked_on_time"], c["check_timed"]),
        "avg_handle_work_hours": ratio(c["work_hours_sum"], c["work_hours_n"]),
        "supervised": int(c["supervised"]),
        "overdue": int(c["overdue"]),
    }
    out["score"] = score(out, weights)
    out["grade"] = grade(out["score"], grades)
    return out


def score(rates: dict[str, Any], weights: dict[str, float]) -> float | None:
    total = weight = 0.0
    for key, w in weights.items():
        r = rates.get(key)
        if r is None or w == 0:
            continue
        total += w * ((1.0 - min(r, 1.0)) if key in LOWER_IS_BETTER else r)
        weight += w
    return round(100.0 * total / weight, 2) if weight else None


def grade(value: float | None, grades: list[tuple[str, float]]) -> str | None:
    if value is None:
        return None
    return next((g for g, bound in grades if value >= bound), grades[-1][0])
