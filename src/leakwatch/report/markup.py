"""Page text made safe in Markdown and HTML, and the frame of leakwatch's HTML reports.

URLs, site names and titles come from crawled pages: in Markdown they must not start
emphasis, links, HTML or end a table cell; in HTML they are escaped. The HTML file is
self-contained: inline CSS and SVG, no script, nothing fetched (its CSP forbids it).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from leakwatch import __version__
from leakwatch.safe_text import visible

# Backslash-escaped: what could start emphasis, code, a link or strike-through, or end a
# table cell; as entities: what could start HTML.
_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 62rem;
       padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; }
p.summary { font-size: 1.1rem; }
p.filters, footer { color: #5b6272; font-size: .9rem; }
div.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #dde1e8; }
th { text-align: left; background: #f3f5f8; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.url { font-size: .85rem; }
table.cases td { white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid #9aa3b2; }
svg { max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
.exposure { fill: #6c8ebf; } .trading { fill: #c0504d; } .type { fill: #7a8aa6; }
.grid { stroke: #e3e6ec; } .axis { stroke: #9aa3b2; } .faded { opacity: .45; }
"""


def md(text: str) -> str:
    """Text from pages made inert in Markdown (no emphasis, links, HTML or table breaks,
    no control or bidirectional characters: a mail client shows them as they are)."""
    return " ".join(visible(text).split()).translate(_MD_SPECIAL)


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def html_page(title: str, body: Sequence[str], generated: str) -> str:
    """A whole HTML document: `body` (HTML, escaped by the caller) under an `<h1>`."""
    return "".join([
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        f"<h1>{escape(title)}</h1>\n",
        *body,
        f"<footer>Generated {escape(generated)} by leakwatch {escape(__version__)}. "
        "Values are counts of cases (pages or posts) and of distinct records "
        "(keyed fingerprints); no identifier appears in this report.</footer>\n"
        "</body>\n</html>\n",
    ])  # fmt: skip
