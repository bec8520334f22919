"""HTML to the text a reader sees, with table structure kept for column context.

Cells never glue (`<td>123</td><td>456</td>` must not become `123456`): each table row
becomes one line with its cells separated by tabs, the same shape as a TSV dump, so the
detector's column tracker reads HTML tables and CSV files alike. Block elements become line
breaks; inline elements join as a browser renders them. Script, style, template and the
like are dropped. The walk is iterative, so a page nested 100,000 levels deep cannot
exhaust the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

_SKIP = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
     "canvas", "select", "button", "-comment", "!doctype"}
)  # fmt: skip
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "center", "dd", "details", "dialog",
        "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
        "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main",
        "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot",
        "thead", "ul", "caption", "option", "title", "textarea",
    }
)  # fmt: skip
_CELL = frozenset({"td", "th"})
# Elements that close themselves (void) or whose end tag may be omitted: they do not nest.
_FLAT = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
     "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
     "b", "i", "u", "s", "a", "font", "em", "strong", "small", "big", "tt", "code", "nobr",
     "strike"}
)  # fmt: skip
# Lexbor's tree builder is quadratic in nesting depth (40,000 nested <div>s take seconds);
# browsers cap depth for the same reason. Deeper pages are read by the tag stripper below.
MAX_DEPTH = 2000
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,15})")
_SPACES = re.compile(r"[ \f\v\r\u00a0]+")
_TRIM_TABS = re.compile(r" *\t *")
_BLANK_LINES = re.compile(r"\n\n+")
# Browsers draw nothing for these; sellers put them between digits to dodge scanners.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# The HTML standard's own ceilings for colspan and rowspan.
MAX_COLSPAN = 1000
MAX_ROWSPAN = 65534


def parse(text: str) -> LexborHTMLParser | None:
    """The parsed page, or None when it nests too deep to parse safely (use `stripped_text`)."""
    return LexborHTMLParser(text) if nesting_depth(text) <= MAX_DEPTH else None


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """An estimate of the deepest element nesting, counted up to just past `limit`."""
    depth = deepest = 0
    for match in _TAG.finditer(text):
        name = match.group(2).lower()
        if name in _FLAT:
            continue
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


_STRIP_DROP = re.compile(
    r"<(script|style|template|noscript)\b[^>]{0,1000}>.{0,1000000}?</\1\s*>|<!--.{0,100000}?-->",
    re.IGNORECASE | re.DOTALL,
)
_STRIP_CELL = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
_STRIP_BLOCK = re.compile(
    r"</?(?:p|div|br|tr|li|h[1-6]|table|section|article|ul|ol|pre|blockquote|title)\b[^>]{0,1000}>",
    re.IGNORECASE,
)
_STRIP_TAG = re.compile(r"<[^>]{0,1000}>")
_ENTITIES = {"&nbsp;": " ", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&amp;": "&"}
_ENTITY = re.compile("|".join(_ENTITIES))


def stripped_text(text: str) -> str:
    """Visible text by tag stripping, for pages too hostile to parse; cells and blocks kept."""
    text = _STRIP_DROP.sub(" ", text)
    text = _STRIP_CELL.sub("\t", text)
    text = _STRIP_BLOCK.sub("\n", text)
    text = _STRIP_TAG.sub("", text)
    text = _ENTITY.sub(lambda m: _ENTITIES[m.group()], text)
    return _tidy(text)


def visible_text(tree: LexborHTMLParser) -> str:
    """The page's visible text: title first, then the body, tables as tab-separated rows."""
    return visible_parts(tree)[0]


def visible_parts(tree: LexborHTMLParser) -> tuple[str, str]:
    """The visible text, and its prose: the same without link text.

    Identifiers are looked for in all visible text; a page's category is judged on its prose,
    so a forum index listing the title of a sale post is not itself a sale post.
    """
    parts: list[str] = []
    prose: list[str] = []
    title = tree.css_first("title")
    if title is not None:
        parts.append(title.text(deep=True).strip() + "\n")
        prose.append(parts[0])
    root = tree.body or tree.root
    if root is not None:
        _walk(root, parts, prose)
    return _tidy("".join(parts)), _tidy("".join(prose))


@dataclass(slots=True)
class _Grid:
    """Lays a table's cells out on its grid: a cell spanning rows (`rowspan`) takes its
    column in the rows below, so their cells move right, as a browser draws them; a cell
    spanning columns (`colspan`) takes as many tab stops. Column headers then stay above
    their values, as in an Excel sheet saved as a web page."""

    spans: dict[int, int] = field(default_factory=dict)  # column -> rows it still covers
    covered: frozenset[int] = frozenset()  # columns taken from above in the current row
    column: int = 0

    def start_row(self) -> None:
        self.column = 0
        self.covered = frozenset(self.spans)

    def enter_cell(self) -> int:
        """Move past the columns taken from above; how many empty cells that makes."""
        skipped = 0
        while self.column in self.covered:
            self.column += 1
            skipped += 1
        return skipped

    def leave_cell(self, colspan: int, rowspan: int) -> None:
        if rowspan > 1:
            for column in range(self.column, self.column + colspan):
                self.spans[column] = rowspan - 1
        self.column += colspan

    def end_row(self) -> None:
        for column in self.covered:
            left = self.spans.pop(column) - 1
            if left > 0:
                self.spans[column] = left


def _span(node: LexborNode, name: str, ceiling: int) -> int:
    value = node.attributes.get(name)
    try:
        number = int((value or "1").strip())
    except ValueError:
        return 1
    return min(max(number, 1), ceiling)  # rowspan=0 ("to the end") is read as 1


def _walk(root: LexborNode, out: list[str], prose: list[str]) -> None:
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    grids: list[_Grid] = []  # one per open table, innermost last
    pre_depth = link_depth = 0
    while stack:
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            separator = "\n" if tag == "tr" or tag in _BLOCK else ""
            if tag in _CELL:
                colspan = _span(node, "colspan", MAX_COLSPAN)
                if grids:
                    grids[-1].leave_cell(colspan, _span(node, "rowspan", MAX_ROWSPAN))
                separator = "\t" * colspan
            elif tag == "tr" and grids:
                grids[-1].end_row()
            elif tag == "table" and grids:
                grids.pop()
            out.append(separator)
            prose.append(separator)
            pre_depth -= tag == "pre"
            link_depth -= tag == "a"
            continue
        if tag == "-text":
            content = node.text_content or ""
            if not pre_depth:
                content = content.replace("\n", " ").replace("\t", " ")
            out.append(content)
            if not link_depth:
                prose.append(content)
            continue
        if tag in _SKIP:
            continue
        if tag in {"br", "tr"} or tag in _BLOCK:
            out.append("\n")
            prose.append("\n")
            if tag == "br":
                continue
        if tag == "table":
            grids.append(_Grid())
        elif tag == "tr" and grids:
            grids[-1].start_row()
        elif tag in _CELL and grids:
            filler = "\t" * grids[-1].enter_cell()
            out.append(filler)
            prose.append(filler)
        pre_depth += tag == "pre"
        link_depth += tag == "a"
        stack.append((node, True))
        children = list(node.iter(include_text=True))
        stack.extend((child, False) for child in reversed(children))


def _tidy(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRIM_TABS.sub("\t", text)
    # Leading tabs stay: they are a row's empty first cells, and keep it under its header.
    lines = (line.strip(" ").rstrip("\t") for line in text.split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip("\n") + "\n"
