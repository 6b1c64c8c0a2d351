"""The component sub-categories (部件小类) the component tests use: those of the default catalogue
(data/catalogue/default.csv, loaded by a migration), and the codes of components made from them."""

from __future__ import annotations

from sqlalchemy import func, select

from geo.db.session import session_scope
from geo.models import CatalogueEntry, CatalogueVersion, utcnow

DISTRICT = "441802"  # the district of tests/support/world.py's street
# 大类, 大类 name, 小类, 小类 name, category key, department: as in the default catalogue
SUBCATEGORIES = (
    ("01", "公用设施", "01", "上水井盖", "C0101", "供水公司"),
    ("01", "公用设施", "02", "污水井盖", "C0102", "排水公司"),
    ("01", "公用设施", "07", "消防栓", "C0107", "消防救援站"),
    ("01", "公用设施", "08", "路灯", "C0108", "路灯管理所"),
)


def add_catalogue(engine) -> None:
    """The sub-categories above in the current catalogue: the default one where a migration
    loaded it, else a version of their own."""
    with session_scope(engine) as s:
        if s.scalar(select(CatalogueVersion.id).where(CatalogueVersion.is_current.is_(True))) is not None:
            return
        number = (s.scalar(select(func.max(CatalogueVersion.number))) or 0) + 1
        version = CatalogueVersion(
            number=number,
            name="部件测试目录",
            source="components-test.csv",
            sha256="0" * 64,
            imported_at=utcnow(),
            imported_by="test",
            replaced={},
            is_current=True,
        )
        s.add(version)
        s.flush()
        s.add_all(
            CatalogueEntry(
                version_id=version.id,
                domain="component",
                major_code=major,
                major_name=major_name,
                minor_code=minor,
                minor_name=minor_name,
                category=key,
                kind="case",
                condition_no=1,
                register_condition=f"{minor_name}破损、丢失",
                time_limit=2.0,
                time_unit="working_days",
                close_condition="修复或更换",
                department=department,
            )
            for major, major_name, minor, minor_name, key, department in SUBCATEGORIES
        )


def code(major: str, minor: str, serial: int) -> str:
    return f"{DISTRICT}{major}{minor}{serial:06d}"
