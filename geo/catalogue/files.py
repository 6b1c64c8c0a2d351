"""Catalogue files (立结案标准 tables): read and checked row by row, written back the same way.

One row per 立案条件 (registration condition) of a sub-category. The columns are named in Chinese
or English (see :data:`FIELDS`); any other name is mapped with ``--field FIELD=COLUMN`` as the
layer importers do. Nothing here touches the database: :mod:`geo.catalogue.store` checks the
rows against what is stored and writes them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from geo.errors import InputError
from geo.io.read import ImportFailed, code_text, missing_field_message, to_number
from geo.models.catalogue import COMPONENT, EVENT
from geo.models.kinds import IncidentKind
from geo.worktime.units import TimeUnit

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx"}

DOMAINS = {EVENT: ("事件", "E"), COMPONENT: ("部件", "C")}  # zh name, letter of the default key
_DOMAIN_NAMES = {
    name.lower(): domain for domain, (zh, letter) in DOMAINS.items() for name in (domain, zh, letter, zh + "类")
}
KIND_NAMES = {  # the kinds as a Chinese table names them (the workflows' labels)
    "hazard": "隐患",
    "case": "事件",
    "illegal_structure": "违建",
    "renovation": "民生改造点位",
}
_KINDS = {name.lower(): kind for kind, zh in KIND_NAMES.items() for name in (kind, zh)}
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CODE = re.compile(r"^[0-9]{2}$")


@dataclass(frozen=True)
class Field:
    name: str  # wangge's name, and the English header
    zh: str  # the Chinese header, the one written
    aliases: tuple[str, ...] = ()
    required: bool = True


FIELDS: tuple[Field, ...] = (
    Field("domain", "类型", ("type", "事件部件", "部件事件")),
    Field("major_code", "大类代码", ("大类编码", "major")),
    Field("major_name", "大类名称", ("大类",)),
    Field("minor_code", "小类代码", ("小类编码", "minor")),
    Field("minor_name", "小类名称", ("小类",)),
    Field("category", "类别标识", ("key", "类别"), required=False),
    Field("kind", "案件类型", ("incident kind",), required=False),
    Field("condition_no", "条件序号", ("序号", "立案条件序号", "condition"), required=False),
    Field("register_condition", "立案条件", ("register condition",)),
    Field("time_limit", "处置时限", ("时限", "limit")),
    Field("time_unit", "时限单位", ("单位", "unit")),
    Field("close_condition", "结案条件", ("close condition",), required=False),
    Field("department", "责任部门", ("处置部门", "责任单位", "department or role"), required=False),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


@dataclass(frozen=True)
class Row:
    """One 立案条件 of a sub-category, checked."""

    domain: str  # event | component
    major_code: str
    major_name: str
    minor_code: str
    minor_name: str
    category: str  # the key incidents carry
    kind: str  # an IncidentKind value
    condition_no: int  # 1..n within the sub-category
    register_condition: str
    time_limit: float
    time_unit: str  # a TimeUnit value
    close_condition: str | None
    department: str | None

    @property
    def sub_category(self) -> tuple[str, str, str]:
        return (self.domain, self.major_code, self.minor_code)

    def values(self) -> tuple[Any, ...]:
        return astuple(self)


@dataclass
class CatalogueFile:
    source: str  # the file's name
    sha256: str
    rows: list[Row]


def default_key(domain: str, major_code: str, minor_code: str) -> str:
    """The key of a sub-category a file gives none: E0102 (event 01 02), C0101 (component 01 01)."""
    return DOMAINS[domain][1] + major_code + minor_code


def _folded(text: Any) -> str:
    return " ".join(str(text).strip().lower().replace("_", " ").replace("-", " ").split())


_HEADERS = {_folded(name): f.name for f in FIELDS for name in (f.name, f.zh, *f.aliases)}


# --------------------------------------------------------------------------- reading


def read_catalogue(path: str | Path, fields: dict[str, str] | None = None) -> CatalogueFile:
    """The rows of a catalogue file, checked; :class:`ImportFailed` (one message per bad row) if any is not."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    data = path.read_bytes()
    return parse_catalogue(data, path.name, fields)


def parse_catalogue(data: bytes, source: str, fields: dict[str, str] | None = None) -> CatalogueFile:
    table = _table(data, source)
    columns = _columns(table, source, dict(fields or {}))
    records = [
        {name: (str(row[col]).strip() if col is not None else "") for name, col in columns.items()}
        for _, row in table.iterrows()
    ]
    if not records:
        raise ImportFailed(source, ["the file has no rows: nothing to import"])
    return CatalogueFile(source, hashlib.sha256(data).hexdigest(), check_rows(source, records))


def _table(data: bytes, source: str) -> pd.DataFrame:
    suffix = Path(source).suffix.lower()
    if suffix in XLSX_SUFFIXES:
        try:
            table = pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl", keep_default_na=False)
        except Exception as exc:  # openpyxl raises several types for files it cannot read
            raise InputError(f"{source}: cannot be read as an XLSX workbook ({exc})") from None
    elif suffix in CSV_SUFFIXES:
        text = _decoded(data, source)
        try:
            table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=None, engine="python")
        except Exception as exc:
            raise InputError(f"{source}: cannot be read as CSV ({exc})") from None
    else:
        raise InputError(f"{source}: a catalogue is a .csv or .xlsx file")
    table = table.fillna("")
    # Spreadsheets leave rows with nothing in them: they are not rows of the table.
    if len(table):
        table = table[table.apply(lambda r: any(str(v).strip() for v in r), axis=1)]
    return table


def _decoded(data: bytes, source: str) -> str:
    # UTF-8 (with or without the BOM Excel writes), else GB 18030, what Chinese Excel saves CSV in.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{source}: is neither UTF-8 nor GB 18030 text")


def _columns(table: pd.DataFrame, source: str, mapping: dict[str, str]) -> dict[str, Any]:
    """For each field, the file's column (None where an optional field has none)."""
    unknown = sorted(set(mapping) - set(FIELD_NAMES))
    if unknown:
        raise InputError(
            f"--field {unknown[0]}=...: {unknown[0]!r} is not a catalogue field; use one of {', '.join(FIELD_NAMES)}"
        )
    for col in mapping.values():
        if col not in table.columns:
            raise InputError(missing_field_message(source, col, table.columns, "--field"))
    found: dict[str, Any] = dict(mapping)
    for col in table.columns:
        name = _HEADERS.get(_folded(col))
        if name is not None and name not in found:
            found[name] = col
    missing = [f for f in FIELDS if f.required and f.name not in found]
    if missing:
        raise InputError(
            f"{source}: no column for {', '.join(f'{f.zh} ({f.name})' for f in missing)}; name the column with "
            f"--field FIELD=COLUMN. Columns in the file: {', '.join(map(str, table.columns)) or 'none'}"
        )
    return {f.name: found.get(f.name) for f in FIELDS}


# --------------------------------------------------------------------------- checking


def check_rows(source: str, records: Sequence[dict[str, str]]) -> list[Row]:
    """Every record as a :class:`Row`; one message per bad row, nothing returned if any is bad."""
    problems: list[str] = []
    rows: list[Row] = []
    against = _Earlier()
    for i, record in enumerate(records):
        values, wrong = _own_values(record)
        if wrong:
            problems.append(f"row {i + 1}: " + "; ".join(wrong))
            continue
        sub = (values["domain"], values["major_code"], values["minor_code"])
        key = record["category"] or default_key(*sub)
        if not _KEY.match(key):
            wrong.append(f"类别标识 {key!r} must be 1-64 letters, digits, '_', '.' or '-'")
        number_text = record["condition_no"]
        number = to_number(number_text) if number_text else against.next_number(sub)
        if number is None or number < 1 or not float(number).is_integer():
            wrong.append(f"条件序号 {number_text!r} is not a whole number from 1")
            number = 0
        wrong += against.clashes(i, values, sub, key, int(number))
        if wrong:
            problems.append(f"row {i + 1} ({key}): " + "; ".join(wrong))
            continue
        rows.append(Row(category=key, condition_no=int(number), **values))
    if problems:
        raise ImportFailed(source, problems)
    return rows


def _own_values(record: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """What a row says by itself, and what is wrong with it."""
    wrong: list[str] = []
    domain = _DOMAIN_NAMES.get(record["domain"].lower())
    if domain is None:
        wrong.append(f"类型 {record['domain']!r} is not 事件 (event) or 部件 (component)")
    codes = {}
    for field, level in (("major_code", "大类代码"), ("minor_code", "小类代码")):
        value = codes[field] = code_text(record[field]) or ""
        if not value:
            wrong.append(f"{level} is empty")
        elif not _CODE.match(value):
            wrong.append(f"{level} {value!r} is not 2 digits")
    wrong += [f"{level} is empty" for field, level in _NAMED if not record[field]]
    limit = to_number(record["time_limit"])
    if limit is None or limit <= 0:
        wrong.append(f"处置时限 {record['time_limit']!r} is not a positive number")
    try:
        unit = TimeUnit.parse(record["time_unit"]).value
    except ValueError as exc:
        unit = ""
        wrong.append(str(exc))
    kind = _KINDS.get(record["kind"].lower(), "") if record["kind"] else IncidentKind.case.value
    if not kind:
        known = ", ".join(f"{k} ({zh})" for k, zh in KIND_NAMES.items())
        wrong.append(f"案件类型 {record['kind']!r} is not one of {known}")
    values = dict(
        domain=domain,
        major_code=codes["major_code"],
        major_name=record["major_name"],
        minor_code=codes["minor_code"],
        minor_name=record["minor_name"],
        kind=kind,
        register_condition=record["register_condition"],
        time_limit=float(limit or 0),
        time_unit=unit,
        close_condition=record["close_condition"] or None,
        department=record["department"] or None,
    )
    return values, wrong


_NAMED = (("major_name", "大类名称"), ("minor_name", "小类名称"), ("register_condition", "立案条件"))


class _Earlier:
    """The rows seen so far, which a row must agree with (each first seen is the reference)."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, ...], tuple[int, tuple[str, ...]]] = {}  # code -> (row, names)
        self.key: dict[str, tuple[int, tuple[str, str, str]]] = {}  # category -> (row, sub-category)
        self.kind: dict[tuple[str, str, str], tuple[int, str, str]] = {}  # sub-category -> (row, key, kind)
        self.condition: dict[tuple[str, int], int] = {}
        self.numbers: dict[tuple[str, str, str], int] = {}

    def next_number(self, sub: tuple[str, str, str]) -> int:
        """The 立案条件 number of a row that gives none: the next in its sub-category."""
        return self.numbers.get(sub, 0) + 1

    def clashes(self, i: int, values: dict[str, Any], sub: tuple[str, str, str], key: str, number: int) -> list[str]:
        wrong = []
        domain, major, minor = sub
        self.numbers[sub] = max(self.numbers.get(sub, 0), number)
        for code, names, level in (
            ((domain, major), (values["major_name"],), "大类"),
            (sub, (values["major_name"], values["minor_name"]), "小类"),
        ):
            first, first_names = self.names.setdefault(code, (i, names))
            if first_names != names:
                wrong.append(
                    f"{level} {''.join(code[1:])} is named {'/'.join(names)!r} here but "
                    f"{'/'.join(first_names)!r} in row {first + 1}"
                )
        first, first_sub = self.key.setdefault(key, (i, sub))
        if first_sub != sub:
            wrong.append(f"类别标识 {key!r} is also 小类 {''.join(first_sub[1:])} of row {first + 1}")
        first, first_key, first_kind = self.kind.setdefault(sub, (i, key, values["kind"]))
        if (first_key, first_kind) != (key, values["kind"]):
            wrong.append(
                f"类别标识/案件类型 {key}/{values['kind']} differ from {first_key}/{first_kind} "
                f"of the same 小类 in row {first + 1}"
            )
        if number:
            first = self.condition.setdefault((key, number), i)
            if first != i:
                wrong.append(f"duplicates 小类 {major}{minor} 立案条件 {number} of row {first + 1}")
        return wrong


# --------------------------------------------------------------------------- writing


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def table_rows(rows: Sequence[Row]) -> list[list[Any]]:
    """The rows as a file writes them: the Chinese header, then one list of values per row."""
    out: list[list[Any]] = [[f.zh for f in FIELDS]]
    for r in rows:
        out.append(
            [
                DOMAINS[r.domain][0],
                r.major_code,
                r.major_name,
                r.minor_code,
                r.minor_name,
                r.category,
                r.kind,
                r.condition_no,
                r.register_condition,
                int(r.time_limit) if float(r.time_limit).is_integer() else float(r.time_limit),
                TimeUnit(r.time_unit).zh,
                r.close_condition or "",
                r.department or "",
            ]
        )
    return out


def csv_bytes(rows: Sequence[Row]) -> bytes:
    """UTF-8 with the BOM, so that Excel opens the Chinese as Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for values in table_rows(rows):
        writer.writerow([_number_text(v) if isinstance(v, float) else v for v in values])
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: Sequence[Row], title: str = "立结案标准") -> bytes:
    """One sheet; codes are text (their leading zeros kept), limits numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    for values in table_rows(rows):
        sheet.append(values)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, width in enumerate((6, 8, 14, 8, 16, 12, 16, 8, 40, 8, 8, 40, 20)):
        sheet.column_dimensions[chr(ord("A") + i)].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def file_bytes(rows: Sequence[Row], name: str) -> bytes:
    """The rows in the format ``name``'s suffix says (.csv or .xlsx)."""
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return csv_bytes(rows)
    if suffix in XLSX_SUFFIXES:
        return xlsx_bytes(rows)
    raise InputError(f"{name}: a catalogue is written as .csv or .xlsx")
