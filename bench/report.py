"""BENCHMARKS.md: each benchmark owns one section between its own start and end markers."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(start: str, end: str, section: str, log=None, name: str = "", path: Path = BENCHMARKS_MD) -> None:
    """Replace the part of ``path`` from ``start`` to ``end`` with ``section`` (which holds both
    markers), or append it; the text around it stays as it is."""
    section = section.rstrip("\n")
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
    if log:
        log(f"wrote the {name or 'benchmark'} section of {path}")
