"""The links a crawler follows from a page: `<a href>`, `<area href>`, `<link rel=next>`,
frames, resolved against `<base href>` and canonicalised; media and archives left out.

Links to images, video, archives and executables are dropped here (as Scrapy's link
extractor does): they cannot hold text to scan, so fetching them would only cost the site
a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from leakwatch.fetch.urls import canonical

MAX_LINKS = 5000  # per page: a link farm cannot flood the frontier in one page
_SELECTORS = "a[href], area[href], link[href], frame[src], iframe[src]"
_SKIPPED_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".ico", ".svg", ".tif", ".tiff",
     ".avif", ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".flac", ".avi", ".mov", ".mkv",
     ".webm", ".wmv", ".flv", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".css", ".js",
     ".exe", ".dll", ".dmg", ".apk", ".msi", ".bin", ".iso", ".zip", ".rar", ".7z", ".tar",
     ".tgz", ".bz2", ".xz", ".pdf", ".doc", ".docx", ".ppt", ".pptx", ".swf"}
)  # fmt: skip
# For pages too hostile to parse (see html.parse): a bounded attribute scan instead.
# `[^<>]` (not `[^>]`): a scan for one tag never runs on into the next one, so the pass is
# linear even on a page of "<a <a <a ..." (with `[^>]` each tag could cost 2,000 steps).
_HREF = re.compile(
    r"""<(?:a|area|frame|iframe)\b[^<>]{0,2000}?\b(?:href|src)\s*=\s*["']?([^"'\s<>]{1,2083})""",
    re.IGNORECASE,
)


def from_tree(tree: LexborHTMLParser, page_url: str) -> tuple[str, ...]:
    """Canonical URLs the page links to, in document order, each once."""
    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = canonical(base_node.attributes.get("href") or "", page_url) or page_url
    hrefs: list[str] = []
    for node in tree.css(_SELECTORS):
        attributes = node.attributes
        if node.tag == "link":
            rel = (attributes.get("rel") or "").lower().split()
            if "next" not in rel:
                continue
        value = attributes.get("src" if node.tag in ("frame", "iframe") else "href")
        if value:
            hrefs.append(value)
    return _resolve(hrefs, base)


def from_markup(markup: str, page_url: str) -> tuple[str, ...]:
    """The same for markup that was not parsed (no `<base>` support)."""
    return _resolve((unescape(m.group(1)) for m in _HREF.finditer(markup)), page_url)


def _resolve(hrefs: Iterable[str], base: str) -> tuple[str, ...]:
    links: dict[str, None] = {}
    for href in hrefs:
        url = canonical(href, base)
        if url is None or _suffix(url) in _SKIPPED_SUFFIXES:
            continue
        links.setdefault(url)
        if len(links) >= MAX_LINKS:
            break
    return tuple(links)


def _suffix(url: str) -> str:
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""
