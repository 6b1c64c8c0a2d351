"""The indicators' table as CSV (UTF-8 with a BOM, so that Excel reads the Chinese labels) and
as an XLSX workbook (openpyxl): one line per group and a last line for the total; headers in
Chinese or English."""

from __future__ import annotations

import csv
import io
from typing import Any

from geo.indicators.definitions import INDICATORS

GROUP_LABELS = {
    "grid": ("网格", "Grid"),
    "community": ("社区", "Community"),
    "worker": ("网格员", "Worker"),
    "department": ("责任部门", "Department"),
    "category": ("类别", "Category"),
    "none": ("范围", "Scope"),
}


def header(answer: dict[str, Any], lang: str) -> list[str]:
    zh, en = GROUP_LABELS[answer["by"]]
    group = en if lang == "en" else zh
    name = "Name" if lang == "en" else "名称"
    return [group, name, *[i.label(lang) for i in INDICATORS]]


def lines(answer: dict[str, Any]) -> list[list[Any]]:
    rows = [*answer["rows"], answer["total"]] if answer["by"] != "none" else answer["rows"]
    return [[row["key"], row["name"], *[row[i.key] for i in INDICATORS]] for row in rows]


def _cell(value: Any, unit: str) -> Any:
    if value is None:
        return ""
    if unit in ("rate", "hours") and isinstance(value, float):
        return round(value, 4)
    return value


def to_csv(answer: dict[str, Any], lang: str = "zh") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(answer, lang))
    units = ["text", "text", *[i.unit for i in INDICATORS]]
    for line in lines(answer):
        writer.writerow([_cell(v, u) for v, u in zip(line, units, strict=True)])
    return "\ufeff" + buffer.getvalue()


def to_xlsx(answer: dict[str, Any], lang: str = "zh") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "Indicators" if lang == "en" else "指标"
    sheet.append(header(answer, lang))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    units = ["text", "text", *[i.unit for i in INDICATORS]]
    for line in lines(answer):
        sheet.append([None if v is None else v for v in line])
        for cell, unit in zip(sheet[sheet.max_row], units, strict=True):
            if unit == "rate":
                cell.number_format = "0.0%"
            elif unit in ("hours", "score"):
                cell.number_format = "0.00"
    sheet.freeze_panes = "C2"
    about = book.create_sheet("About" if lang == "en" else "说明")
    for label, value in (
        ("start" if lang == "en" else "开始", answer["start"]),
        ("end (exclusive)" if lang == "en" else "结束(不含)", answer["end"]),
        ("kind" if lang == "en" else "类型", answer.get("kind") or ""),
    ):
        about.append([label, value])
    about.append([])
    about.append(["weights" if lang == "en" else "权重"])
    for key, weight in answer["weights"].items():
        about.append([key, weight])
    about.append([])
    about.append(["grades" if lang == "en" else "等级"])
    for grade, bound in answer["grades"]:
        about.append([grade, bound])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
