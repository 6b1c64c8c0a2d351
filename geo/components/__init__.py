"""Components (部件): the fixed assets of the governed area, each with a 16-digit code.

The code (GB/T 30428.2 style) is 6 digits of the district (行政区划代码, GB/T 2260), 2 of the
大类 (major category), 2 of the 小类 (sub-category) and a 6-digit serial. The 大类 and 小类 must be
a component sub-category of the current catalogue (``domain == "component"``); a component's
``category`` is that sub-category's key, derived from the code and never set apart from it.

States: intact 完好, damaged 破损, missing 丢失, occupied 占用, removed 废弃. Position accuracy
classes: A 一级 (within 0.5 m), B 二级 (within 1 m), C 三级 (within 10 m).

Nothing here knows HTTP: the writes (geo/edit/features.py) and the importer
(geo/io/importers.py) call :func:`checked_values` and :func:`check_codes`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.catalogue import component_category
from geo.catalogue.store import snapshot
from geo.errors import InputError
from geo.models import COMPONENT, COMPONENT_STATES, CatalogueEntry, Street

CODE_LENGTH = 16
_CODE = re.compile(r"[0-9]{16}")

STATES = dict(zip(COMPONENT_STATES, ("完好", "破损", "丢失", "占用", "废弃"), strict=True))
DEFAULT_STATE = "intact"
# Position accuracy class -> (Chinese name, largest position error in metres).
ACCURACY_CLASSES = {"A": ("一级", 0.5), "B": ("二级", 1.0), "C": ("三级", 10.0)}


@dataclass(frozen=True)
class ComponentCode:
    district: str
    major: str
    minor: str
    serial: str

    @property
    def category_code(self) -> str:
        return self.major + self.minor


def parse_code(value: Any) -> ComponentCode:
    """The parts of a 16-digit component code, or a message saying what a code is."""
    text = "" if value is None else str(value).strip()
    if not _CODE.fullmatch(text):
        got = f"{len(text)} characters" if text.isdigit() or not text else "characters other than digits"
        raise InputError(
            f"code {text!r} must be exactly {CODE_LENGTH} digits: 6 of the district (行政区划代码), "
            f"2 of the 大类, 2 of the 小类 and a 6-digit serial; it has {got}"
        )
    return ComponentCode(text[:6], text[6:8], text[8:10], text[10:])


def state_key(value: Any) -> str:
    """A state given as its key or its Chinese label, as its key."""
    text = str(value).strip()
    if text in STATES:
        return text
    for key, label in STATES.items():
        if text == label:
            return key
    choices = ", ".join(f"{k} ({z})" for k, z in STATES.items())
    raise InputError(f"state {text!r} is not one of {choices}")


def accuracy_class(value: Any) -> str | None:
    """A position accuracy class given as A/B/C or 一级/二级/三级, as A/B/C (None: not given)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if text.upper() in ACCURACY_CLASSES:
        return text.upper()
    for key, (zh, _) in ACCURACY_CLASSES.items():
        if text == zh:
            return key
    choices = ", ".join(f"{k} ({zh}, within {m:g} m)" for k, (zh, m) in ACCURACY_CLASSES.items())
    raise InputError(f"accuracy {text!r} is not a position accuracy class: use one of {choices}")


def subcategories(session: Session) -> dict[str, CatalogueEntry]:
    """The component sub-categories of the current catalogue, by 大类 + 小类 (4 digits): the
    first 立案条件 of each stands for it."""
    ids = snapshot(session).components
    if not ids:
        return {}
    stmt = select(CatalogueEntry).where(CatalogueEntry.id.in_(list(ids.values())))
    by_id = {e.id: e for e in session.scalars(stmt)}
    return {major + minor: by_id[i] for (major, minor), i in ids.items()}


def served_districts(session: Session) -> set[str]:
    """The districts of the streets wangge serves (none loaded yet: any district goes)."""
    return set(session.scalars(select(Street.district_code).distinct()))


def _district_problem(code: ComponentCode, districts: set[str]) -> str | None:
    if not districts or code.district in districts:
        return None
    return f"district {code.district} is not one wangge serves ({', '.join(sorted(districts))})"


def _category_problem(code: ComponentCode, entry: CatalogueEntry | None) -> str | None:
    if entry is not None:
        return None
    return (
        f"大类 {code.major} 小类 {code.minor} is not a component sub-category of the current catalogue "
        "(see `wangge catalogue export`)"
    )


def _category_mismatch(given: Any, entry: CatalogueEntry) -> str | None:
    if given in (None, "") or given == entry.category:
        return None
    return (
        f"category {given!r} contradicts the code, whose 大类 {entry.major_code} 小类 {entry.minor_code} "
        f"is {entry.category} ({entry.minor_name}); leave category out, it follows the code"
    )


def checked_values(session: Session, values: dict[str, Any], current: Any = None) -> dict[str, Any]:
    """A component's new values (``current``: the stored component they change, if any), checked
    and completed: the code parsed and its category looked up, the category derived from it, state
    and accuracy as their keys, the name and department from the sub-category when not given."""
    out = dict(values)
    code_given = "code" in out
    if current is None or code_given:
        code = parse_code(out.get("code"))
        out["code"] = code.district + code.major + code.minor + code.serial
        problem = _district_problem(code, served_districts(session))
        if problem:
            raise InputError(problem)
        entry = component_category(session, code.major, code.minor)
        problem = _category_problem(code, entry)
        if problem:
            raise InputError(problem)
        assert entry is not None
        problem = _category_mismatch(out.get("category"), entry)
        if problem:
            raise InputError(problem)
        out["category"] = entry.category
        if not out.get("name") and (current is None or not current.name):
            out["name"] = entry.minor_name
        if not out.get("department") and (current is None or not current.department):
            out["department"] = entry.department
    elif out.get("category") in (None, current.category):
        out.pop("category", None)  # it stays as the code says
    else:
        raise InputError(
            f"category {out['category']!r} contradicts the code {current.code}, whose category is "
            f"{current.category}; change the code to change the category"
        )
    if "state" in out or current is None:
        out["state"] = state_key(out.get("state") or DEFAULT_STATE)
    if "accuracy" in out:
        out["accuracy"] = accuracy_class(out["accuracy"])
    return out


@dataclass
class CheckedCodes:
    codes: list[str | None]
    entries: list[CatalogueEntry | None]


def check_codes(session: Session, raw: Sequence[Any], labels: Sequence[str], problems: list[str]) -> CheckedCodes:
    """Many codes at once (an import): each parsed and looked up in the current catalogue, one
    message per bad row appended to ``problems``."""
    known = subcategories(session)
    districts = served_districts(session)
    codes: list[str | None] = []
    entries: list[CatalogueEntry | None] = []
    for value, label in zip(raw, labels, strict=True):
        try:
            code = parse_code(value)
        except InputError as exc:
            problems.append(f"{label}: {exc}")
            codes.append(None)
            entries.append(None)
            continue
        entry = known.get(code.category_code)
        problem = _district_problem(code, districts) or _category_problem(code, entry)
        if problem:
            problems.append(f"{label}: {problem}")
        codes.append(code.district + code.major + code.minor + code.serial)
        entries.append(entry)
    return CheckedCodes(codes, entries)


def category_mismatch(given: Any, entry: CatalogueEntry | None) -> str | None:
    """Why a category given beside a code contradicts it (None: it does not, or no entry)."""
    return None if entry is None else _category_mismatch(given, entry)


def category_names(session: Session, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The (大类 name, 小类 name) of component categories in the current catalogue, by key."""
    wanted = set(keys)
    if not wanted:
        return {}
    stmt = select(CatalogueEntry.category, CatalogueEntry.major_name, CatalogueEntry.minor_name).where(
        CatalogueEntry.version_id == snapshot(session).version_id,
        CatalogueEntry.domain == COMPONENT,
        CatalogueEntry.category.in_(sorted(wanted)),
    )
    return {category: (major, minor) for category, major, minor in session.execute(stmt)}


def with_category_names(session: Session, props: Sequence[dict[str, Any]]) -> None:
    """Add to components' properties the names of their category (``major_name`` 大类,
    ``minor_name`` 小类) and of their state (``state_label``), one query for them all."""
    names = category_names(session, [p["category"] for p in props if p.get("category")])
    for p in props:
        major, minor = names.get(p.get("category") or "", (None, None))
        p["major_name"], p["minor_name"] = major, minor
        p["state_label"] = STATES.get(p.get("state") or "")
