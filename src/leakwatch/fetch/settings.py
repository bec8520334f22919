"""What a crawl or a backfill is asked to do, and what it hands over: values only.

Kept apart from the fetching code (httpx and the rest) so that a scan of local files, which
needs these names to parse its options, does not load what only a crawl uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from leakwatch import __version__
from leakwatch.fetch.cdx import WAYBACK_ROWS, ArchiveSource, Window
from leakwatch.fetch.urls import Scope
from leakwatch.models import Capture, FetchInfo

PROJECT_URL = "https://github.com/leakwatch/leakwatch"
DEFAULT_USER_AGENT = f"leakwatch/{__version__} (+{PROJECT_URL})"
PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")


@dataclass(frozen=True, slots=True)
class CrawlSettings:
    """How to crawl; the CLI's options (docs/crawling.md documents each)."""

    depth: int = 2
    max_pages: int = 1000  # per target
    scope: Scope = Scope.HOST
    concurrency: int = 16
    per_host: int = 1  # requests in flight (connections) per host
    delay: float = 1.0
    obey_robots: bool = True
    user_agent: str = DEFAULT_USER_AGENT
    allow_private: bool = False
    proxy: str | None = None
    deadline: float = 30.0  # seconds per request, the whole exchange
    max_bytes: int = 10_000_000  # per response, after decompression
    retries: int = 2
    backoff: float = 1.0  # seconds before the first retry, doubled for each next, 0.5-1.5x
    max_retry_after: float = 120.0
    max_redirects: int = 10
    # An exception a page causes that nothing foresaw becomes that page's `internal` problem
    # and the crawl goes on; False lets it propagate (tests, LEAKWATCH_DEBUG=1).
    contain_errors: bool = True

    @property
    def robots_agent(self) -> str:
        """The product token robots.txt groups are matched against."""
        token = self.user_agent.split("/", 1)[0].split()
        return token[0] if token else "leakwatch"


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched response to scan."""

    info: FetchInfo
    media_type: str | None
    charset: str | None
    body: bytes
    truncated: bool
    capture: Capture | None = None  # where a web archive keeps it (a backfilled page)


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """Which archive, which capture dates."""

    source: ArchiveSource
    window: Window = Window()  # noqa: RUF009 - a frozen value, safely shared
    page_rows: int = WAYBACK_ROWS  # rows asked per Wayback index request
