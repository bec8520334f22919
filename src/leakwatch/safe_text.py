"""Text from pages, file names and servers made safe to show: control characters written as
visible escapes.

A hostile page, file name or Content-Type header can hold ESC sequences that clear an
analyst's screen or retitle the terminal, a carriage return that overwrites the line, or
bidirectional controls that show text in another order than it is. JSON escapes control
characters itself; everything else leakwatch prints (tables, stderr messages, progress,
CSV cells) goes through `visible` first.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# C0 controls but tab, DEL, C1 controls, and the invisible characters that reorder or break
# what is displayed (bidirectional embeddings, overrides and isolates, line separators).
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f"  # C0 but tab, DEL, C1
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional controls
    "\u2028\u2029]"  # line and paragraph separators
)


def visible(text: str) -> str:
    """`text` with every unsafe character as an escape (`\\x1b`, `\\u202e`)."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_DIGIT_RUN = re.compile(r"[0-9]{4,}")
_PASSWORD_PARAMETERS = frozenset({"password", "pass", "passwd", "pwd"})


def hide_password(url: str) -> str:
    """A URL with its password hidden, for output and records: the one in its user part
    (`user:***@host`, as proxy and database URLs carry them) and a `password=` query
    parameter (libpq reads one there too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = parts.query
    if query and any(key.lower() in _PASSWORD_PARAMETERS for key, _ in parse_qsl(query)):
        query = urlencode(
            [(key, "***" if key.lower() in _PASSWORD_PARAMETERS else value)
             for key, value in parse_qsl(query, keep_blank_values=True)],
            quote_via=quote, safe="*",
        )  # fmt: skip
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def without_secret(text: str, url: str) -> str:
    """`text` (an error message that may quote the URL) with the URL's password, as written
    and decoded, replaced by ***."""
    # By hand, not urlsplit: the URL is often the one that did not parse.
    userinfo = url.split("//", 1)[-1].split("/", 1)[0].rpartition("@")[0]
    secrets = {userinfo.partition(":")[2]} | {
        value
        for key, value in parse_qsl(url.partition("?")[2])
        if key.lower() in _PASSWORD_PARAMETERS
    }
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        text = text.replace(secret, "***").replace(unquote(secret), "***")
    return text


def error_line(exc: BaseException) -> str:
    """The first line of an error (its type's name if it says nothing), its digit runs
    hidden: errors quote the page or the server's bytes they met, which may hold an
    identifier."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return _DIGIT_RUN.sub(lambda m: "*" * len(m.group()), first)
