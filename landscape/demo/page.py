"""The demo's page: sections of text, pictures and numbers written as one self-contained HTML
file (pictures embedded as ``data:`` URIs, no script, no network) and the numbers as JSON."""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIME = {".png": "image/png", ".svg": "image/svg+xml"}

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-top: 0.5em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
table.numbers { border-collapse: collapse; margin: 0.5em 0; }
table.numbers td, table.numbers th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
table.numbers td.value { font-family: monospace; }
.frames { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; }
.note { background: #fff6d5; padding: 0.5em; }
"""


@dataclass
class Picture:
    """A picture written in the demo's folder, shown with its caption."""

    path: Path
    caption: str = ""


@dataclass
class Section:
    """One part of the page: ``numbers`` (flat, shown in a table and written to report.json under
    the section's ``key``), ``details`` (report.json only), paragraphs of
    text, pictures, ``frames`` (small pictures side by side: the backward pass step by step) and
    ``links`` (label: a path relative to the page)."""

    key: str
    title: str
    text: list[str] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    frames: list[Picture] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def number(value: Any) -> str:
    """How a number is printed on the page (4 significant digits); lists element by element."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(number(v) for v in value) + "]"
    return str(value)


def data_uri(path: Path) -> str:
    """The file as a ``data:`` URI (PNG or SVG)."""
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"demo page: cannot embed {path.name}: only {', '.join(MIME)} pictures")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure(p: Picture) -> str:
    return (
        f'<figure><img src="{data_uri(p.path)}" alt="{html.escape(p.path.name)}">'
        f"<figcaption>{html.escape(p.caption)}</figcaption></figure>"
    )


def _section_html(s: Section) -> str:
    parts = [f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>']
    parts += [f"<p>{html.escape(t)}</p>" for t in s.text]
    if s.numbers:
        rows = "".join(
            f'<tr><th>{html.escape(k)}</th><td class="value" data-key="{s.key}.{html.escape(k)}">'
            f"{html.escape(number(v))}</td></tr>"
            for k, v in s.numbers.items()
        )
        parts.append(f'<table class="numbers">{rows}</table>')
    parts += [_figure(p) for p in s.pictures]
    if s.frames:
        parts.append(f'<div class="frames">{"".join(_figure(p) for p in s.frames)}</div>')
    parts += [
        f'<p><a href="{html.escape(href)}">{html.escape(label)}</a></p>' for label, href in s.links.items()
    ]
    parts.append(f'<p class="note">built in {s.seconds:.1f} s</p></section>')
    return "".join(parts)


def write(out: Path, title: str, intro: str, sections: list[Section], meta: dict[str, Any]) -> Path:
    """``out/index.html`` (every section, pictures embedded) and ``out/report.json`` (``meta``
    and each section's numbers and details); returns the path of the page."""
    contents = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    facts = "; ".join(f"{k}: {number(v)}" for k, v in meta.items() if not isinstance(v, dict))
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
        f'<p class="note">{html.escape(facts)}</p><ol>{contents}</ol>'
        + "".join(_section_html(s) for s in sections)
        + "</body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    report = {
        **meta,
        "sections": {
            s.key: {"title": s.title, "seconds": s.seconds, **s.numbers, **s.details} for s in sections
        },
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_json) + "\n")
    return index


def _json(value: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists."""
    return value.tolist() if hasattr(value, "tolist") else str(value)
