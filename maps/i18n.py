"""What the maps say, in Simplified Chinese (the default) and English (``?lang=en``).

The words are data: one file per language, ``maps/locales/<lang>.json``, read once, holding

- ``text``: every word of the pages and of the map glue, by key;
- ``kinds``: the incident kinds; ``categories``: English names of categories (the catalogue, geo.catalogue,
  names them in Chinese; a category without an English name keeps its Chinese one);
- ``roles``: the responders' roles (geo.models.KNOWN_ROLES);
- ``draw``: Leaflet.draw's own words (``L.drawLocal``), for the planner's marker tool;
- ``login``: the sign-in pages' words;
- ``dashboard``: the dashboard's words (the indicators' names come with the API's answers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from geo.catalogue import categories, category_labels
from geo.catalogue.default import default_rows
from geo.components import STATES as COMPONENT_STATES
from geo.models import KNOWN_ROLES, IncidentKind

LANGS = ("zh", "en")
LOCALES_DIR = Path(__file__).with_name("locales")


def _load(lang: str) -> dict[str, Any]:
    return json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))


LOCALES: dict[str, dict[str, Any]] = {lang: _load(lang) for lang in LANGS}
TEXT: dict[str, dict[str, str]] = {lang: LOCALES[lang]["text"] for lang in LANGS}
KINDS: dict[str, dict[str, str]] = {lang: LOCALES[lang]["kinds"] for lang in LANGS}
CATEGORY_LABELS: dict[str, dict[str, str]] = {lang: LOCALES[lang]["categories"] for lang in LANGS}
ROLES: dict[str, dict[str, str]] = {lang: LOCALES[lang]["roles"] for lang in LANGS}
DRAW: dict[str, dict[str, Any]] = {lang: LOCALES[lang]["draw"] for lang in LANGS}
LOGIN: dict[str, dict[str, str]] = {lang: LOCALES[lang]["login"] for lang in LANGS}
DASHBOARD: dict[str, dict[str, str]] = {lang: LOCALES[lang]["dashboard"] for lang in LANGS}


def lang_of(value: str | None) -> str:
    return "en" if (value or "").lower().startswith("en") else "zh"


def t(lang: str, key: str) -> str:
    return TEXT[lang][key]


def dashboard_words(lang: str) -> dict[str, str]:
    return DASHBOARD[lang]


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


@dataclass(frozen=True)
class Catalogue:
    """The categories a page offers: by kind, in the catalogue's order, and their Chinese names."""

    by_kind: dict[str, list[str]]
    names: dict[str, str]

    @classmethod
    def of(cls, session: Session) -> Catalogue:
        """The database's current catalogue."""
        return cls(categories(session), category_labels(session))

    @classmethod
    def default(cls) -> Catalogue:
        """The catalogue wangge ships (for what is built without a database)."""
        by_kind: dict[str, list[str]] = {k.value: [] for k in IncidentKind}
        names: dict[str, str] = {}
        for row in default_rows():
            if row.category not in names:
                by_kind.setdefault(row.kind, []).append(row.category)
                names[row.category] = row.minor_name
        return cls(by_kind, names)

    def words(self, lang: str) -> dict[str, dict[str, str]]:
        """Per kind, each category's name in ``lang`` (the Chinese one where English has none)."""
        own = CATEGORY_LABELS[lang] if lang != "zh" else {}
        return {kind: {c: own.get(c) or self.names.get(c) or c for c in cats} for kind, cats in self.by_kind.items()}


def labels(lang: str, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Everything the map glue shows, for one language."""
    catalogue = catalogue or Catalogue.default()
    return {
        "text": TEXT[lang],
        "kinds": KINDS[lang],
        "categories": catalogue.words(lang),
        "categoryOrder": catalogue.by_kind,  # the page's JSON sorts keys
        "roles": {r: ROLES[lang].get(r, r) for r in KNOWN_ROLES},
        "statuses": status_labels(lang),
        # Components' states: 完好 …, or the keys themselves in English (intact …).
        "componentStates": COMPONENT_STATES if lang == "zh" else {k: k for k in COMPONENT_STATES},
    }
