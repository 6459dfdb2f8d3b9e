"""mkdocs hooks: no copy step, no generated files in the repository.

- ``on_files`` publishes the committed benchmark plot
  ``benchmarks/results/cpu.png`` as ``assets/bench-cpu.png``.
- ``on_page_markdown`` replaces ``<!-- equivalents-table -->`` with the table of
  torch / keras / haiku / flax counterparts of every catalogue entry, rendered
  from the registry (``jax_inits._src.catalog``) (the source ``jax-inits list`` prints).
- ``on_page_content`` turns the TeX that pymdownx.arithmatex leaves
  (``<span class="arithmatex">\\(...\\)</span>``, ``<div ...>\\[...\\]</div>``) into
  MathML with latex2mathml, at build time: the site loads no math script, needs no
  network, and browsers draw MathML natively.

Docstrings are written in the Markdown that mkdocstrings renders (Google style,
math as ``$...$`` for pymdownx.arithmatex), so the pages need no rewriting.
"""

from __future__ import annotations

import html
import pathlib
import re

from latex2mathml.converter import convert
from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parents[1]
GENERATED = {"assets/bench-cpu.png": ROOT / "benchmarks" / "results" / "cpu.png"}


def on_files(files, config):
    for uri, source in GENERATED.items():
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def _equivalents_table() -> str:
    from jax_inits._src import catalog

    libs = catalog.LIBRARIES
    lines = [
        "| jax_inits | " + " | ".join(catalog.PREFIXES[lib].rstrip(".") for lib in libs) + " |",
        "|---" * (len(libs) + 1) + "|",
    ]
    for entry in catalog.ENTRIES:
        names = " / ".join(f"`{n}`" for n in (entry.name, *entry.aliases))
        row = catalog.equivalents(entry.name)
        cells = []
        for lib in libs:
            text = catalog.short(lib, row[lib])
            cells.append("-" if text == "-" else f"`{text}`")
        lines.append(f"| {names} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def on_page_markdown(markdown, page, config, files):
    if "<!-- equivalents-table -->" in markdown:
        markdown = markdown.replace("<!-- equivalents-table -->", _equivalents_table())
    return markdown


_MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.S)
_DELIMITERS = {("\\(", "\\)"), ("\\[", "\\]")}


def to_mathml(page_html: str) -> str:
    """``page_html`` with every arithmatex span (inline) and div (display) as MathML."""

    def replace(match: re.Match) -> str:
        tex = html.unescape(match["tex"]).strip()
        if (tex[:2], tex[-2:]) in _DELIMITERS:
            tex = tex[2:-2]
        display = "block" if match["tag"] == "div" else "inline"
        return convert(tex.strip(), display=display)

    return _MATH.sub(replace, page_html)


def on_page_content(content, page, config, files):
    return to_mathml(content)
