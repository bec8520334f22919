"""Text for people, on a terminal or a page: URLs shortened to fit, readable and safe.

A URL from a Chinese forum is mostly percent-escapes (`%E4%B8%AD...`): decoded for display it
is a third as long and can be read. Shortened, it keeps what says where it is (the scheme
and host) and what says which page (the last path segment), and loses the middle.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from rich.cells import cell_len

from leakwatch.safe_text import visible

ELLIPSIS = "…"


def readable_url(url: str) -> str:
    """The URL with percent-escapes of UTF-8 text decoded (not those of separators, which
    would change what it says) and control characters shown escaped."""
    try:
        decoded = unquote(url, errors="strict")
    except UnicodeDecodeError:
        decoded = url
    if any(ch in decoded for ch in "\n\r\t") or decoded.count("/") != url.count("/"):
        decoded = url  # an escaped separator or control character: keep the URL as written
    return visible(decoded)


def short_url(url: str, width: int) -> str:
    """`readable_url(url)` in at most `width` terminal cells (a Han character takes two),
    shortened in the middle: `https://bbs.example.cn/…/thread-123.html`; a file's path
    keeps its first folder and its name: `/home/…/dump.csv`."""
    text = readable_url(url)
    if cell_len(text) <= width:
        return text
    parts = urlsplit(text)
    head = ""
    if parts.scheme and parts.netloc:
        head = f"{parts.scheme}://{parts.netloc}"
    elif text.startswith("/") and text.count("/") > 1:  # a file: its first folder
        head = "/" + text.split("/")[1]
    if head:
        path = text[len(head) :]
        last = path.rstrip("/").rsplit("/", 1)[-1] + ("/" if path.endswith("/") else "")
        candidate = f"{head}/{ELLIPSIS}/{last}"
        if cell_len(candidate) <= width:
            return candidate
        if not parts.netloc and cell_len(last) + 2 <= width:  # a file: its name first
            return f"{ELLIPSIS}/{last}"
        room = width - cell_len(head) - 2
        if room >= 6:  # the host whole, and the end of the last segment
            return f"{head}/{ELLIPSIS}{_tail(last, room)}"
    return _head(text, width - 1) + ELLIPSIS


def _tail(text: str, cells: int) -> str:
    """The end of `text` that fits in `cells`."""
    kept = ""
    for ch in reversed(text):
        if cell_len(kept) + cell_len(ch) > cells:
            break
        kept = ch + kept
    return kept


def _head(text: str, cells: int) -> str:
    kept = ""
    for ch in text:
        if cell_len(kept) + cell_len(ch) > cells:
            break
        kept += ch
    return kept
