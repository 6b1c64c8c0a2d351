"""Plain HTML pages: the start page, and the error pages of the map routes."""

from __future__ import annotations

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from geo.grids.index import grid_names
from maps.assets import FAVICON
from maps.i18n import LOGIN, t

STYLE = """
body { font-family: system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       margin: 0 auto; max-width: 46rem; padding: 1rem 1.2rem 3rem; line-height: 1.55; color: #1f2933; }
h1 { font-size: 1.5rem; margin: .6rem 0 .2rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
a { color: #1d4e89; } .lang { float: right; margin-top: .8rem; }
.cards { display: grid; gap: .8rem; grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); margin-top: 1rem; }
.card { border: 1px solid #d5dde5; border-radius: 6px; padding: .7rem .9rem; }
.card a { font-weight: 600; font-size: 1.05rem; } .card p { margin: .3rem 0 0; font-size: .92rem; color: #52606d; }
ul.grids { columns: 2; padding-left: 1.2rem; } ul.grids li { break-inside: avoid; }
code { font-size: .85em; color: #52606d; }
.error { border-left: 4px solid #d1495b; padding: .2rem .9rem; background: #fdf3f4; }
form.signin { max-width: 22rem; margin-top: 1.2rem; } form.signin label { display: block; margin: .9rem 0 .25rem; font-weight: 600; }
form.signin input { width: 100%; box-sizing: border-box; font-size: 1rem; padding: .65rem .7rem; border: 1px solid #9aa5b1; border-radius: 6px; }
form.signin button { margin-top: 1.3rem; width: 100%; font-size: 1.05rem; padding: .75rem; border: 0; border-radius: 6px;
                     background: #1d4e89; color: #fff; cursor: pointer; min-height: 44px; }
"""


def _page(lang: str, title: str, body: Markup) -> str:
    html_lang = "en" if lang == "en" else "zh-CN"
    return (
        Markup("<!doctype html><html lang='")
        + html_lang
        + Markup("'><head><meta charset='utf-8'>")
        + Markup(
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><link rel='icon' type='image/svg+xml' href='{FAVICON}'><title>"
        )
        + escape(title)
        + Markup("</title><style>")
        + Markup(STYLE)
        + Markup("</style></head><body>")
        + body
        + Markup("</body></html>")
    )


def _q(lang: str, extra: str = "") -> str:
    params = [p for p in (extra, "lang=en" if lang == "en" else "") if p]
    return ("?" + "&".join(params)) if params else ""


def landing_page(session: Session, lang: str, layers: dict[str, str]) -> str:
    """Links to the maps, every grid's map, the API docs and the GeoJSON layers."""
    other = "zh" if lang == "en" else "en"
    cards = [
        ("/maps/incidents", "incidents_title", "incidents_about"),
        ("/maps/planner", "planner_title", "planner_about"),
        ("/dashboard", "dashboard_title", "dashboard_about"),
        ("/docs", "docs", "docs_about"),
    ]
    body = (
        Markup(f"<a class='lang' href='/?lang={other}' hreflang='{other}'>")
        + escape(t(lang, "other_lang"))
        + Markup("</a>")
    )
    body += (
        Markup("<h1>")
        + escape(t(lang, "site"))
        + Markup("</h1><p>")
        + escape(t(lang, "site_intro"))
        + Markup("</p><div class='cards'>")
    )
    for href, title, about in cards:
        link = href if href == "/docs" else href + _q(lang)
        body += (
            Markup(f"<div class='card'><a href='{escape(link)}'>")
            + escape(t(lang, title))
            + Markup("</a><p>")
            + escape(t(lang, about))
            + Markup("</p></div>")
        )
    body += Markup("</div>")
    names = grid_names(session)
    if names:
        body += Markup("<h2>") + escape(t(lang, "grids_heading")) + Markup("</h2><ul class='grids'>")
        for code, name in names.items():
            body += (
                Markup(f"<li><a href='/maps/grids/{escape(code)}{_q(lang)}'>")
                + escape(name)
                + Markup("</a> <code>")
                + escape(code)
                + Markup("</code></li>")
            )
        body += Markup("</ul>")
    body += Markup("<h2>") + escape(t(lang, "layers_heading")) + Markup("</h2><ul>")
    for href, title in layers.items():
        body += Markup(f"<li><a href='{escape(href)}'>") + escape(title) + Markup("</a></li>")
    body += Markup("</ul>")
    return _page(lang, t(lang, "site"), body)


def error_page(lang: str, title_key: str, message: str) -> str:
    body = (
        Markup("<h1>")
        + escape(t(lang, title_key))
        + Markup("</h1><p class='error'>")
        + escape(message)
        + Markup("</p>")
    )
    body += Markup(f"<p><a href='/{_q(lang)}'>") + escape(t(lang, "back")) + Markup("</a></p>")
    return _page(lang, t(lang, title_key), body)


def _message(lang: str, message: str | None) -> Markup:
    if not message:
        return Markup("")
    text = LOGIN[lang].get(message, message)  # a known key, or a message from the service
    return Markup("<p class='error' role='alert'>") + escape(text) + Markup("</p>")


def _field(lang: str, name: str, autocomplete: str, kind: str = "password", autofocus: bool = False) -> Markup:
    focus = " autofocus" if autofocus else ""
    return (
        Markup(f"<label for='{name}'>")
        + escape(LOGIN[lang][name])
        + Markup(
            f"</label><input id='{name}' name='{name}' type='{kind}' autocomplete='{autocomplete}' required maxlength='128'{focus}>"
        )
    )


def _hidden(name: str, value: str) -> Markup:
    return Markup(f"<input type='hidden' name='{name}' value='") + escape(value) + Markup("'>")


def _form(lang: str, action: str, fields: Markup, hidden: dict[str, str], button: str) -> Markup:
    """A sign-in form: its fields, hidden values (with ``lang``), and one submit button."""
    out = Markup(f"<form class='signin' method='post' action='{action}'>") + fields
    for name, value in {**hidden, "lang": lang}.items():
        out += _hidden(name, value)
    return out + Markup("<button type='submit'>") + escape(LOGIN[lang][button]) + Markup("</button></form>")


def login_page(lang: str, next_url: str, form_check: str, message: str | None = None) -> str:
    """The sign-in form; it posts to /login, which sets the session cookie and goes to ``next_url``."""
    words = LOGIN[lang]
    other = "zh" if lang == "en" else "en"
    body = (
        Markup(f"<a class='lang' href='/login?lang={other}&amp;next=")
        + escape(next_url)
        + Markup(f"' hreflang='{other}'>")
        + escape(t(lang, "other_lang"))
        + Markup("</a><h1>")
        + escape(words["sign_in_title"])
        + Markup("</h1>")
        + _message(lang, message)
        + _form(
            lang,
            "/login",
            _field(lang, "username", "username", "text", autofocus=True) + _field(lang, "password", "current-password"),
            {"form_check": form_check, "next": next_url},
            "sign_in",
        )
    )
    return _page(lang, words["sign_in_title"], body)


def password_page(lang: str, next_url: str, csrf_token: str, message: str | None = None) -> str:
    words = LOGIN[lang]
    body = (
        Markup("<h1>")
        + escape(words["change_password"])
        + Markup("</h1><p>")
        + escape(words["change_password_about"])
        + Markup("</p>")
        + _message(lang, message)
        + _form(
            lang,
            "/login/password",
            _field(lang, "current_password", "current-password", autofocus=True)
            + _field(lang, "new_password", "new-password")
            + _field(lang, "confirm_password", "new-password"),
            {"csrf_token": csrf_token, "next": next_url},
            "save",
        )
    )
    return _page(lang, words["change_password"], body)
