"""The catalogue: a city's 立结案标准 table imports, round-trips through CSV and XLSX, and is
refused row by row when it is wrong; a sub-category in use is never dropped unmapped; two
imports at once get consecutive numbers. On both databases."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from shapely.geometry import Point
from sqlalchemy import func, select, text

from geo.catalogue import (
    categories,
    category_labels,
    component_category,
    current_version,
    entry_for,
    export_catalogue,
    import_catalogue,
    list_versions,
    read_catalogue,
    version_rows,
)
from geo.catalogue.default import default_rows
from geo.catalogue.files import csv_bytes, parse_catalogue
from geo.db import schema
from geo.db.session import session_scope
from geo.errors import InputError, NotFound
from geo.io.read import ImportFailed
from geo.models import CatalogueEntry, CatalogueVersion, Incident, IncidentHistory
from geo.spatial.geometry import to_db
from geo.worktime.units import TimeUnit

CITY = Path(__file__).parents[2] / "data" / "catalogue_441802.csv"
HEADER, *LINES = CITY.read_text(encoding="utf-8").splitlines()


def _import(engine, path, **kw):
    with session_scope(engine, write=True) as s:
        return import_catalogue(s, path, **kw)


def test_the_default_catalogue_is_version_1_and_covers_todays_categories(session):
    version = current_version(session)
    assert (version.number, version.is_current, version.source) == (1, True, "default.csv")
    by_kind = categories(session)
    assert by_kind["hazard"] == ["safety_production", "fire_safety", "public_safety"]
    assert by_kind["illegal_structure"] == ["rooftop", "enclosure", "extension", "shed"]
    assert by_kind["renovation"] == ["road", "lighting", "drainage", "elevator", "greening", "parking", "facade"]
    assert {"dispute", "public_order", "aid", "E0101", "E0203", "C0101", "C0109"} <= set(by_kind["case"])
    labels = category_labels(session)
    assert (labels["dispute"], labels["E0301"], labels["C0107"]) == ("矛盾纠纷", "私搭乱建", "消防栓")
    assert {r.time_unit for r in default_rows()} == {u.value for u in TimeUnit}
    fire = entry_for(session, "hazard", "fire_safety", 2)
    assert (fire.time_limit, fire.time_unit) == (2, "emergency_hours")
    assert component_category(session, "01", "09").minor_name == "微型消防站"
    assert component_category(session, "01", "99") is None
    with pytest.raises(InputError, match=r"Unknown category 'E0101' for hazard: use one of safety_production"):
        entry_for(session, "hazard", "E0101")
    with pytest.raises(InputError, match="has no 立案条件 3: use 1, 2"):
        entry_for(session, "hazard", "fire_safety", 3)


def test_a_city_table_imports_and_round_trips(engine, tmp_path):
    """36 sub-categories in 8 大类 with all three units: export gives back what was imported, and
    re-importing the export makes an identical version."""
    imported = read_catalogue(CITY).rows
    assert len({(r.domain, r.major_code) for r in imported}) >= 5
    assert len({r.category for r in imported}) >= 30
    assert {r.time_unit for r in imported} == {u.value for u in TimeUnit}
    report = _import(engine, CITY, imported_by="tester")
    assert (report.version, report.entries, report.sub_categories) == (2, 41, 36)
    with session_scope(engine) as s:
        assert [v.number for v in list_versions(s) if v.is_current] == [2]
        version, stored = version_rows(s)
        assert (version.number, version.source, version.imported_by) == (2, CITY.name, "tester")
        assert stored == imported
        assert categories(s)["hazard"] == ["E0501", "E0502", "E0503"]
        assert entry_for(s, "case", "E0103", 2).time_unit == "working_days"
        assert component_category(s, "02", "03").category == "C0203"
        # Files in both formats, and the old version stays readable.
        for name in ("v2.csv", "v2.xlsx"):
            assert export_catalogue(s, tmp_path / name) == (2, 41)
            assert read_catalogue(tmp_path / name).rows == imported
        assert export_catalogue(s, tmp_path / "v1.csv", 1) == (1, len(default_rows()))
        with pytest.raises(NotFound, match="No catalogue version 7: there are 1, 2"):
            export_catalogue(s, tmp_path / "v7.csv", 7)
    # The XLSX keeps the codes as text, with their zeros.
    sheet = load_workbook(tmp_path / "v2.xlsx").active
    assert [c.value for c in sheet[2]][:5] == ["事件", "01", "市容环境", "01", "暴露垃圾"]
    assert _import(engine, tmp_path / "v2.xlsx").version == 3
    with session_scope(engine) as s:
        assert version_rows(s, 3)[1] == version_rows(s, 2)[1]
        export_catalogue(s, tmp_path / "v3.csv")
    assert (tmp_path / "v3.csv").read_bytes() == (tmp_path / "v2.csv").read_bytes()
    assert read_catalogue(tmp_path / "v1.csv").rows == list(default_rows())


def _file(lines: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def _with(row: int, column: str, value: str, lines: list[str] = LINES) -> list[str]:
    names = HEADER.split(",")
    cells = lines[row - 1].split(",")
    cells[names.index(column)] = value
    return [*lines[: row - 1], ",".join(cells), *lines[row:]]


BAD = {
    "the same 小类 named twice": (
        [(4, "小类名称", "小广告")],
        r"row 4 \(E0103\): 小类 0103 is named '市容环境/小广告' here",
    ),
    "the same 大类 named twice": ([(2, "大类名称", "环境卫生")], r"row 2 \(E0102\): 大类 01 is named '环境卫生'"),
    "an empty 大类代码": ([(5, "大类代码", "")], "row 5: 大类代码 is empty"),
    "an empty 小类名称": ([(6, "小类名称", "")], "row 6: 小类名称 is empty"),
    "an unknown unit": ([(7, "时限单位", "工作周")], "row 7: Unknown time unit '工作周'"),
    "a zero limit": ([(8, "处置时限", "0")], "row 8.*处置时限 '0' is not a positive number"),
    "a negative limit": ([(9, "处置时限", "-2")], "处置时限 '-2' is not a positive number"),
    "a limit in words": ([(10, "处置时限", "三天")], "处置时限 '三天' is not a positive number"),
    "a one-digit code": ([(11, "小类代码", "1")], "row 11: 小类代码 '1' is not 2 digits"),
    "a three-digit code": ([(12, "大类代码", "002")], "row 12: 大类代码 '002' is not 2 digits"),
    "an unknown domain": ([(13, "类型", "设施")], "row 13: 类型 '设施' is not 事件"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_row_is_named_once(case):
    changes, message = BAD[case]
    lines = LINES
    for row, column, value in changes:
        lines = _with(row, column, value, lines)
    with pytest.raises(ImportFailed, match=message) as caught:
        parse_catalogue(_file(lines), "city.csv")
    assert len(caught.value.problems) == 1, caught.value.problems


def test_every_bad_row_has_one_message_and_nothing_is_imported(engine, tmp_path):
    lines = _with(3, "时限单位", "月", _with(3, "处置时限", "x"))  # two faults, one row, one message
    lines = _with(20, "小类代码", "A1", lines)
    lines = _with(30, "大类名称", "", lines)
    path = tmp_path / "city.csv"
    path.write_bytes(_file(lines))
    with pytest.raises(ImportFailed) as caught:
        _import(engine, path)
    problems = caught.value.problems
    assert [p.split(":")[0].split(" (")[0] for p in problems] == ["row 3", "row 20", "row 30"], problems
    assert "处置时限 'x'" in problems[0] and "'月'" in problems[0]
    assert str(caught.value).startswith("city.csv: nothing imported.")
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(CatalogueVersion)) == 1
        assert current_version(s).number == 1


def test_duplicate_conditions_are_refused():
    header = HEADER + ",条件序号"
    lines = [line + ",1" for line in LINES[:4]]  # rows 3 and 4: 乱张贴's two conditions, both numbered 1
    with pytest.raises(ImportFailed, match=r"row 4 \(E0103\): duplicates 小类 0103 立案条件 1 of row 3") as caught:
        parse_catalogue(_file(lines, header), "dup.csv")
    assert len(caught.value.problems) == 1
    # The same 类别标识 for two sub-categories.
    header = HEADER + ",类别标识"
    lines = [LINES[0] + ",trash", LINES[1] + ",trash"]
    with pytest.raises(ImportFailed, match=r"row 2 \(trash\): 类别标识 'trash' is also 小类 0101 of row 1"):
        parse_catalogue(_file(lines, header), "dup.csv")


def test_columns_in_english_gbk_and_mapped_fields():
    english = "domain,major_code,major_name,minor_code,minor_name,kind,register_condition,limit,unit,close_condition,department"
    rows = parse_catalogue(_file(LINES[:3], english), "en.csv").rows
    assert rows == read_catalogue(CITY).rows[:3]
    assert parse_catalogue(_file(LINES[:3]).decode().encode("gb18030"), "gbk.csv").rows == rows
    renamed = HEADER.replace("处置时限", "限时")
    with pytest.raises(InputError, match=r"no column for 处置时限 \(time_limit\)"):
        parse_catalogue(_file(LINES[:3], renamed), "r.csv")
    assert parse_catalogue(_file(LINES[:3], renamed), "r.csv", {"time_limit": "限时"}).rows == rows
    with pytest.raises(InputError, match="'deadline' is not a catalogue field"):
        parse_catalogue(_file(LINES[:3], renamed), "r.csv", {"deadline": "限时"})
    with pytest.raises(InputError, match="a catalogue is a .csv or .xlsx file"):
        parse_catalogue(b"", "table.pdf")
    with pytest.raises(ImportFailed, match="the file has no rows"):
        parse_catalogue(_file([]), "empty.csv")


def _incident(s, kind: str, category: str, deleted: bool = False) -> int:
    entry = entry_for(s, kind, category)
    incident = Incident(
        kind=kind,
        category=category,
        status="reported",
        title=category,
        catalogue_entry_id=entry.id,
        time_limit=entry.time_limit,
        time_unit=entry.time_unit,
        deleted_at=datetime.now(UTC) if deleted else None,
        geom=to_db(Point(113.05, 23.7)),
    )
    s.add(incident)
    s.flush()
    return incident.id


def test_a_sub_category_in_use_is_not_dropped_unless_mapped(engine):
    with session_scope(engine) as s:
        dispute = _incident(s, "case", "dispute")
        fire = _incident(s, "hazard", "fire_safety")
        _incident(s, "case", "aid", deleted=True)  # deleted incidents hold nothing
        fire_entry = s.get(Incident, fire).catalogue_entry_id
    with pytest.raises(ImportFailed) as caught:
        _import(engine, CITY)
    assert caught.value.problems == [
        "sub-category 'dispute' is used by 1 case incident(s) and is not in the file: "
        "keep it, or map it with --replace dispute=NEW_CATEGORY",
        "sub-category 'fire_safety' is used by 1 hazard incident(s) and is not in the file: "
        "keep it, or map it with --replace fire_safety=NEW_CATEGORY",
    ]
    refused = {
        "E0501": "'E0501' is for hazard, but the 1 incident(s) of 'dispute' are case",
        "E9999": "'E9999' is not a sub-category of the file",
    }
    for target, message in refused.items():
        with pytest.raises(ImportFailed, match=re.escape(message)):
            _import(engine, CITY, replace={"dispute": target, "fire_safety": "E0501"})
    with session_scope(engine) as s:
        assert current_version(s).number == 1
        assert s.get(Incident, dispute).category == "dispute"
    report = _import(engine, CITY, replace={"dispute": "E0601", "fire_safety": "E0501"}, imported_by="cli:tester")
    assert (report.version, report.recategorised) == (2, 2)
    with session_scope(engine) as s:
        assert current_version(s).replaced == {"dispute": "E0601", "fire_safety": "E0501"}
        moved = s.get(Incident, fire)
        # It takes the new sub-category, and keeps the entry and limit it was registered under.
        assert (moved.category, moved.catalogue_entry_id, moved.time_unit) == ("E0501", fire_entry, "working_days")
        assert s.get(CatalogueEntry, fire_entry).version.number == 1
        history = s.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == dispute)).all()
        assert [(h.action, h.step, h.category, h.changes) for h in history] == [
            ("recategorise", "recategorise", "E0601", {"category": ["dispute", "E0601"]})
        ]
        assert categories(s)["case"][:2] == ["E0101", "E0102"]
    # The dropped key cannot be mapped while the file still has it.
    with pytest.raises(ImportFailed, match="'E0101' is still in the file, nothing to replace"):
        _import(engine, CITY, replace={"E0101": "E0102"})


def test_two_imports_at_once_number_consecutively(engine):
    barrier = threading.Barrier(2)
    numbers, errors = [], []

    def run():
        try:
            barrier.wait(timeout=30)
            numbers.append(_import(engine, CITY).version)
        except Exception as exc:  # noqa: BLE001  reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(numbers) == [2, 3]
    with session_scope(engine) as s:
        assert [(v.number, v.is_current) for v in list_versions(s)] == [(1, False), (2, False), (3, True)]
        assert s.scalar(select(func.count()).select_from(CatalogueEntry)) == len(default_rows()) + 2 * 41


def test_the_migration_carries_existing_incidents_over(engine):
    schema.downgrade(engine, "0009_governance")
    with engine.begin() as c:
        assert c.execute(text("SELECT count(*) FROM catalogue_versions")).scalar() == 0
        c.execute(
            text(
                "INSERT INTO incidents (kind, category, status, title, properties, version, created_at, updated_at, "
                "escalation, possible_duplicates, rework_count, supervision_count, geom) VALUES "
                "('case', :category, 'reported', 't', '{}', 1, :now, :now, 0, '[]', 0, 0, "
                "ST_GeomFromText('POINT(113.05 23.7)', 4326))"
            ),
            [{"category": c, "now": "2026-11-01 00:00:00+00:00"} for c in ("dispute", "no_such_category")],
        )
    schema.upgrade(engine)
    with session_scope(engine) as s:
        rows = {
            i.category: (i.catalogue_entry_id, i.time_limit, i.time_unit)
            for i in s.scalars(select(Incident).order_by(Incident.id))
        }
        dispute = entry_for(s, "case", "dispute")
        assert rows == {
            "dispute": (dispute.id, 3, "working_days"),
            "no_such_category": (None, None, None),
        }
        assert current_version(s).number == 1


def test_csv_is_written_for_excel():
    data = csv_bytes(list(default_rows())[:2])
    assert data.startswith("\ufeff类型,大类代码".encode())
    assert io.BytesIO(data).read().decode("utf-8-sig").count("\n") == 3
