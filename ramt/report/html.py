"""``index.html``: the report's Markdown tables and its figures on one page that opens from disk.

No server and nothing fetched: the page is one self-contained HTML file with inline CSS, and the
figures are linked by relative paths (they sit next to it in the report folder). The tables are
built from the same data as the ``.md`` files (``ramt.report.tables.Table``), cell by cell, so that
no label (a ``|`` in a backbone name included) can shift a column. The text between tables is the
small Markdown subset the report produces: ``#`` headings, ``- `` bullets, ``**bold**``, ```code```
and paragraphs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from ramt.report.tables import Block, Table

__all__ = ["blocks_to_html", "markdown_to_html", "render_index", "table_html"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; max-width: 1800px; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 6px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; position: sticky; top: 0; }
tr.published td { background: #f7f7f7; color: #444; }
tr.delta td { font-style: italic; }
td.neg { color: #b2182b; } td.pos { color: #2166ac; }
.figs { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figure img { max-width: 640px; border: 1px solid #eee; }
figcaption { font-size: 12px; color: #555; }
nav a { margin-right: 12px; }
code { background: #f4f4f4; padding: 0 3px; }
"""


def _inline(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row (``\\|`` is a pipe inside a cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|")) if line.strip() != "|" else [""]
    return [c.strip().replace("\\|", "|").replace("\\\\", "\\") for c in cells]


def _table(lines: list[str]) -> str:
    return table_html(Table(tuple(_cells(lines[0])), tuple(tuple(_cells(ln)) for ln in lines[2:])))


def table_html(table: Table) -> str:
    """One table from its data: published rows greyed, Δ rows italic with signed cells coloured."""
    out = [
        "<table>",
        "<thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in table.header) + "</tr></thead>",
        "<tbody>",
    ]
    for r in table.rows:
        first = r[0] if r else ""
        cls = (
            " class='published'"
            if first.endswith("(published)")
            else (" class='delta'" if first.endswith("(Δ)") else "")
        )
        tds = []
        for i, c in enumerate(r):
            klass = ""
            if cls == " class='delta'" and i > 0 and re.fullmatch(r"[+-]\d+\.\d+", c):
                klass = " class='neg'" if c.startswith("-") else " class='pos'"
            tds.append(f"<td{klass}>{_inline(c)}</td>")
        out.append(f"<tr{cls}>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def blocks_to_html(blocks: Sequence[Block]) -> str:
    """A section built as data: its tables cell by cell, its text through :func:`markdown_to_html`."""
    out, text = [], []
    for block in blocks:
        if isinstance(block, Table):
            out.append(markdown_to_html("\n".join(text)))
            text = []
            out.append(table_html(block))
        else:
            text.append(block)
    out.append(markdown_to_html("\n".join(text)))
    return "\n".join(part for part in out if part)


def markdown_to_html(md: str) -> str:
    """The report's Markdown subset -> HTML (headings get ids for the navigation)."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            out.append(_table(block))
            continue
        if in_list and not line.startswith("- "):
            out.append("</ul>")
            in_list = False
        m = re.match(r"^(#{1,6}) (.*)$", line)
        if m:
            level = len(m.group(1))
            anchor = re.sub(r"[^a-z0-9]+", "-", m.group(2).lower()).strip("-")
            out.append(f"<h{level} id='{anchor}'>{_inline(m.group(2))}</h{level}>")
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def render_index(
    title: str,
    sections: Sequence[tuple[str, Union[str, Sequence[Block]]]],
    figures: Sequence[tuple[str, str]],
) -> str:
    """The page: ``sections = [(name, blocks or markdown)]``, ``figures = [(file name in out_dir, caption)]``."""
    nav = " ".join(f"<a href='#sec-{i}'>{html.escape(name)}</a>" for i, (name, _md) in enumerate(sections))
    if figures:
        nav += " <a href='#figures'>Figures</a>"
    body = [f"<h1>{html.escape(title)}</h1>", f"<nav>{nav}</nav>"]
    for i, (_name, md) in enumerate(sections):
        inner = markdown_to_html(md) if isinstance(md, str) else blocks_to_html(md)
        body.append(f"<section id='sec-{i}'>{inner}</section>")
    if figures:
        body.append("<h2 id='figures'>Figures</h2><div class='figs'>")
        for name, caption in figures:
            src = html.escape(Path(name).name)  # relative: the figures sit next to index.html
            body.append(
                f"<figure><a href='{src}'><img src='{src}' alt='{html.escape(caption)}'></a>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        body.append("</div>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
