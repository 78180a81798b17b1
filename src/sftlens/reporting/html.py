"""Render the report as one self-contained HTML page (inline CSS; PNGs beside it).

Example::

    page = render_page("sftlens study report", findings, sections)
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from sftlens.reporting.findings import HOLDS, NOT, Finding

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}th{background:#f4f4f4}
img{max-width:100%;border:1px solid #eee}.finding{padding:.5em .8em;margin:.4em 0;border-left:5px solid #999}
.holds{border-color:#2a9d4a;background:#eefaf0}.not{border-color:#c0392b;background:#fbeeee}
.inc{border-color:#d4a017;background:#fdf8e6}.note{color:#666;font-size:.85em}
"""


@dataclass
class Section:
    """One part of the page: a title, optional text, tables and images (file names)."""

    title: str
    text: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def _finding_html(f: Finding) -> str:
    cls = "holds" if f.verdict == HOLDS else "not" if f.verdict == NOT else "inc"
    return (
        f'<div class="finding {cls}" id="finding-{f.number}"><b>{f.number}. {html.escape(f.claim)}: '
        f"{html.escape(f.verdict)}.</b> {html.escape(f.evidence)}</div>"
    )


def _section_html(s: Section) -> str:
    parts = [f"<h2>{html.escape(s.title)}</h2>"]
    if s.text:
        parts.append(f'<p class="note">{html.escape(s.text)}</p>')
    for caption, df in s.tables:
        parts.append(f"<h3>{html.escape(caption)}</h3>")
        parts.append(df.to_html(escape=True, border=0, na_rep="–"))
    parts.extend(
        f'<p><img src="{html.escape(name)}" alt="{html.escape(s.title)}"></p>' for name in s.images
    )
    return "\n".join(parts)


def render_page(
    title: str, findings: list[Finding], sections: list[Section], meta: str = ""
) -> str:
    """The whole page as a string."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(meta)}</p>' if meta else "",
        '<h2 id="findings">Findings</h2>',
        *(_finding_html(f) for f in findings),
        *(_section_html(s) for s in sections),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(b for b in body if b)
        + "\n</body></html>\n"
    )
