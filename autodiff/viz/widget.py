"""Frames in one self-contained HTML document: the SVG pictures inline, a slider, buttons, the
arrow keys, and a caption per frame.  Nothing is fetched from anywhere: the page works offline,
in a browser or as a notebook's output (``_repr_html_``)."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence

from autodiff.viz.rendering import GraphvizNotFoundError, render


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG file's text as an element to put inside HTML: without its XML prolog and DOCTYPE
    (which names an external DTD), its ids prefixed so that frames do not clash."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    return re.sub(r'\bid="', f'id="{prefix}', body)


def page(title: str, intro: str, frames: Sequence[tuple[str, str]]) -> str:
    """The HTML document for ``(caption, DOT source)`` frames (rendered with Graphviz's dot)."""
    sources = [source for _, source in frames]
    uid = "ad" + hashlib.sha1("".join(sources).encode("utf-8")).hexdigest()[:10]
    shown = []
    for k, (caption, source) in enumerate(frames):
        svg = inline_svg(render(source, "svg").decode("utf-8"), f"{uid}-{k}-")
        hidden = "" if k == 0 else " hidden"
        shown.append(f'<div class="frame" data-caption="{html.escape(caption)}"{hidden}>\n{svg}</div>')
    return _HTML.format(
        uid=uid,
        title=html.escape(title),
        intro=intro,
        count=len(frames) - 1,
        caption=html.escape(frames[0][0]),
        frames="\n".join(shown),
    )


def missing_dot_page(title: str) -> str:
    """What a notebook shows when Graphviz's dot is missing: the reason, and how to install it."""
    reason = html.escape(str(GraphvizNotFoundError()))
    return f"<!DOCTYPE html>\n<html><body><p><b>{html.escape(title)}</b>: {reason}</p></body></html>\n"


def formula_html(text: str) -> str:
    """A plain-text formula (``z^(v)``, ``d``) as HTML with superscripts and partial signs."""
    escaped = html.escape(text)
    escaped = re.sub(r"\^\(([^)]*)\)", r"<sup>(\1)</sup>", escaped)
    return escaped.replace("^T", "<sup>T</sup>")


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
#{uid} {{ font-family: Helvetica, Arial, sans-serif; outline: none; }}
#{uid} .caption {{ font-size: 1.05em; min-height: 3.2em; max-width: 60em; }}
#{uid} .frame svg {{ max-width: 100%; height: auto; }}
#{uid} button {{ font-size: 1em; }}
</style>
</head>
<body>
<div id="{uid}" tabindex="0">
<h3>{title}</h3>
<p>{intro} Keys: &larr; &rarr;, Home, End (click the picture first).</p>
<p><button class="first">&#x23EE;</button> <button class="prev">&larr; previous</button>
<input class="slider" type="range" min="0" max="{count}" value="0" style="width: 20em">
<button class="next">next &rarr;</button> <button class="last">&#x23ED;</button>
<span class="counter">frame 0 / {count}</span></p>
<p class="caption">{caption}</p>
{frames}
</div>
<script>
(function () {{
  const root = document.getElementById("{uid}");
  const frames = root.querySelectorAll(".frame");
  const slider = root.querySelector(".slider");
  let k = 0;
  function show(i) {{
    k = Math.max(0, Math.min(frames.length - 1, i));
    frames.forEach((f, j) => {{ f.hidden = j !== k; }});
    root.querySelector(".caption").textContent = frames[k].dataset.caption;
    root.querySelector(".counter").textContent = "frame " + k + " / " + (frames.length - 1);
    slider.value = k;
  }}
  root.querySelector(".first").onclick = () => show(0);
  root.querySelector(".prev").onclick = () => show(k - 1);
  root.querySelector(".next").onclick = () => show(k + 1);
  root.querySelector(".last").onclick = () => show(frames.length - 1);
  slider.oninput = () => show(Number(slider.value));
  function key(e) {{
    const moves = {{ ArrowRight: k + 1, ArrowLeft: k - 1, Home: 0, End: frames.length - 1 }};
    if (e.key in moves) {{ show(moves[e.key]); e.preventDefault(); }}
  }}
  root.addEventListener("keydown", key);
  root.addEventListener("click", () => root.focus());
  document.addEventListener("keydown", (e) => {{ if (document.activeElement === document.body) key(e); }});
}})();
</script>
</body>
</html>
"""
