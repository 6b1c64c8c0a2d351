"""What the maps say, in Simplified Chinese (the default) and English (``?lang=en``).

The words are data: one file per language, ``maps/locales/<lang>.json``, read once, holding

- ``text``: every word of the pages and of the map glue, by key;
- ``kinds``: the incident kinds; ``categories``: their categories (geo.models.CATEGORIES);
- ``roles``: the responders' roles (geo.models.KNOWN_ROLES);
- ``draw``: Leaflet.draw's own words (``L.drawLocal``), for the planner's marker tool;
- ``login``: the sign-in pages' words;
- ``dashboard``: the dashboard's words (the indicators' names come with the API's answers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geo.models import CATEGORIES, KNOWN_ROLES

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
