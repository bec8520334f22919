"""URLs as the crawler sees them: one canonical form, the site they belong to, crawl scope.

Canonical form (so each page is fetched once): scheme and host lower case, the host in
IDNA (ASCII) form, the default port dropped, user info dropped, dot segments resolved, an
empty path as `/`, unsafe characters percent-encoded, the query kept as written and the
fragment dropped. Only http and https URLs of at most 2,083 characters (the longest URL
browsers ever accepted, and Scrapy's limit) are fetchable; everything else is None.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from leakwatch.safe_text import hide_password

MAX_URL_LENGTH = 2083
_DEFAULT_PORTS = {"http": 80, "https": 443}
# WHATWG URL parsing drops these anywhere in a URL; pages put them in hrefs by accident.
_STRIPPED = str.maketrans("", "", "\t\n\r")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class Scope(enum.StrEnum):
    """Which hosts a target's crawl may enter."""

    HOST = "host"  # the target's own host name (with or without www.: a.cn is www.a.cn)
    DOMAIN = "domain"  # and its subdomains (www. is looked through: www.a.cn covers b.a.cn)


def is_web_url(text: str) -> bool:
    """Whether a command-line argument or targets-file entry names a web page."""
    return text.strip().lower().startswith(("http://", "https://"))


def canonical(url: str, base: str | None = None) -> str | None:
    """The canonical absolute form of `url` (resolved against `base`), or None when it is not
    a fetchable http(s) URL (javascript:, mailto:, tel:, data:, malformed, too long)."""
    url = url.strip().translate(_STRIPPED)
    if base is not None:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = _ascii_host(parts.hostname)
    if host is None:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = quote(_remove_dot_segments(parts.path or "/"), safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    result = urlunsplit((scheme, netloc, path, query, ""))
    return result if len(result) <= MAX_URL_LENGTH else None


def host_of(url: str) -> str:
    """The host name of a canonical URL (lower case, no port, IPv6 without brackets)."""
    return urlsplit(url).hostname or ""


def origin_of(url: str) -> str:
    """scheme://host[:port] of a canonical URL: the unit robots.txt applies to (RFC 9309)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def in_scope(url: str, target_host: str, scope: Scope) -> bool:
    """Whether a canonical URL belongs to the crawl of a target on `target_host`."""
    host = host_of(url)
    domain = target_host.removeprefix("www.")
    # a.cn and www.a.cn are one site: `http://a.cn/` redirecting to `https://www.a.cn/` is
    # the most common first answer there is.
    if host == target_host or host.removeprefix("www.") == domain:
        return True
    if scope is Scope.HOST or is_ip(target_host):
        return False
    return host.endswith("." + domain)


def _ascii_host(hostname: str) -> str | None:
    """The host in lower-case ASCII (IDNA for international names), or None when no
    resolver would take it (empty or over-long labels, control characters, ...)."""
    host = hostname.lower().rstrip(".")
    if ":" in host:  # an IPv6 literal
        return host if is_ip(host) else None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return host


def is_ip(host: str) -> bool:
    """Whether a host is an IP address literal (an IPv6 zone like `%eth0` allowed)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: `/a/./b/../c` -> `/a/c` (urljoin only does it for relative
    references, and pages also link absolute paths with dot segments)."""
    if "." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for segment in segments[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    trailing = segments[-1] in (".", "..")
    return "/" + "/".join(output) + ("/" if trailing and output else "")


def redact_url(url: str) -> str:
    """A URL with its password hidden, for output (proxy URLs carry credentials)."""
    return hide_password(url)
