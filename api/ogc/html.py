"""The OGC API's HTML pages: simple server-rendered views of the same JSON answers, Chinese
first (``lang=en`` for English). Everything shown is escaped (Jinja's autoescape)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from geo.errors import InputError

_ENV = Environment(autoescape=True)

_PAGE = _ENV.from_string(
    """<!DOCTYPE html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>body{font-family:sans-serif;margin:1.5em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}</style></head>
<body>
<h1>{{ title }}</h1>
{% if description %}<p>{{ description }}</p>{% endif %}
{% if facts %}<dl>{% for k, v in facts %}<dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl>{% endif %}
{% if rows %}<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for cell in row %}<td>{% if cell.href %}<a href="{{ cell.href }}">{{ cell.text }}</a>{% else %}{{ cell.text }}{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody></table>{% endif %}
{% if links %}<h2>{{ links_heading }}</h2><ul>{% for link in links %}
<li><a href="{{ link.href }}">{{ link.title or link.rel }}</a> <small>({{ link.rel }}{% if link.type %}, {{ link.type }}{% endif %})</small></li>{% endfor %}</ul>{% endif %}
</body></html>"""
)

WORDS = {
    "zh": {
        "landing": "网格治理 OGC API Features",
        "conformance": "符合性类",
        "collections": "数据集",
        "items": "要素",
        "links": "链接",
        "matched": "匹配数",
        "returned": "返回数",
        "name": "名称",
        "title": "标题",
    },
    "en": {
        "landing": "wangge OGC API Features",
        "conformance": "Conformance classes",
        "collections": "Collections",
        "items": "Features",
        "links": "Links",
        "matched": "Matched",
        "returned": "Returned",
        "name": "Name",
        "title": "Title",
    },
}


def language(lang: str | None) -> str:
    """``lang``: zh (zh-CN, the default) or en."""
    if lang is None or lang.lower() in ("zh", "zh-cn", "zh-hans"):
        return "zh"
    if lang.lower().startswith("en"):
        return "en"
    raise InputError(f"lang {lang!r}: use zh-CN or en")


def wants_html(request: Request, f: str | None) -> bool:
    """HTML when ``f=html``, or when the client (a browser) asks for HTML before any JSON."""
    if f is not None:
        if f not in ("html", "json", "geojson"):
            raise InputError(f"f {f!r}: use html, json or geojson")
        return f == "html"
    accept = request.headers.get("accept", "")
    html_at, json_at = accept.find("text/html"), accept.find("json")
    return html_at >= 0 and (json_at < 0 or html_at < json_at)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def page(
    lang: str,
    title: str,
    *,
    description: str | None = None,
    facts: list[tuple[str, Any]] | None = None,
    columns: list[str] | None = None,
    rows: list[list[dict[str, Any]]] | None = None,
    links: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    html = _PAGE.render(
        lang="zh-CN" if lang == "zh" else "en",
        title=title,
        description=description,
        facts=[(k, _text(v)) for k, v in facts or []],
        columns=columns or [],
        rows=[[{"text": _text(c.get("text")), "href": c.get("href")} for c in row] for row in rows or []],
        links=[link for link in links or [] if link.get("type") != "text/html" or link.get("rel") != "self"],
        links_heading=WORDS[lang]["links"],
    )
    return HTMLResponse(html)


def features_page(lang: str, title: str, collection: dict[str, Any], item_href) -> HTMLResponse:
    """A page of features as a table: id, then every property seen."""
    features = collection.get("features", [])
    columns: list[str] = []
    for f in features:
        for key in f.get("properties") or {}:
            if key not in columns and key != "id":
                columns.append(key)
    rows = [
        [{"text": f.get("id"), "href": item_href(f.get("id"))}]
        + [{"text": (f.get("properties") or {}).get(c)} for c in columns]
        for f in features
    ]
    words = WORDS[lang]
    facts = [(words["matched"], collection.get("numberMatched")), (words["returned"], collection.get("numberReturned"))]
    return page(lang, title, facts=facts, columns=["id", *columns], rows=rows, links=collection.get("links"))
