"""Web archive indexes (CDX): which captures of a site an archive holds, and where each one's
record is.

`--archive` names the archive: `cc` (Common Crawl: each crawl is one index, listed in its
`collinfo.json`, and records are fetched by HTTP Range from its data host), `cc:ID,ID` (those
crawls), `ia` (the Wayback Machine's CDX server; records from its raw `id_` replay) or the
URL of any pywb-compatible CDX endpoint (`…/COLL/cdx`; records from `…/COLL/{ts}id_/{url}`,
or by Range from `--archive-data` where its WARC files are served). Two protocols answer:
pywb's (one JSON object per line, paged with `showNumPages`/`page`) and the Wayback
Machine's (arrays after a header row, paged with `resumeKey`). This module builds the
queries and reads the answers; the backfill (backfill.py) makes the requests.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from leakwatch.errors import FetchError, UsageError
from leakwatch.fetch.urls import canonical

if TYPE_CHECKING:
    from leakwatch.fetch.http import Response

CC_INDEX = "https://index.commoncrawl.org"
CC_DATA = "https://data.commoncrawl.org"
WAYBACK = "https://web.archive.org"
# The base addresses can be moved (a mirror, a test server on loopback).
ENV_CC_INDEX, ENV_CC_DATA, ENV_WAYBACK = "LEAKWATCH_CC_INDEX", "LEAKWATCH_CC_DATA", "LEAKWATCH_IA"
ENV_PAGE_ROWS = "LEAKWATCH_CDX_ROWS"  # rows asked per Wayback index request
# Seconds between index requests at least (cdx_toolkit's defaults): shared public services.
CC_INDEX_DELAY, WAYBACK_DELAY = 1.0, 6.0
WAYBACK_ROWS = 5000
MAX_PAGES = 100_000  # Common Crawl's largest domains span a few thousand index pages
_CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_DATE = re.compile(r"(\d{4})(?:-?(\d{2})(?:-?(\d{2})(?:[T ]?(\d{2}):?(\d{2})(?::?(\d{2}))?)?)?)?Z?")
# Captures whose type may be a document (the page is decided by its content once fetched).
_TEXT_TYPES = ("text/", "application/xhtml+xml", "application/json", "application/ld+json",
               "application/xml", "application/x-ndjson", "application/jsonl")  # fmt: skip
_UNKNOWN_TYPES = frozenset({"", "-", "unk", "unknown", "application/octet-stream"})
WAYBACK_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")


class Protocol(enum.Enum):
    PYWB = "pywb"  # pywb and Common Crawl: JSON lines, showNumPages/page
    WAYBACK = "wayback"  # the Wayback Machine: JSON arrays, resumeKey


@dataclass(frozen=True, slots=True)
class Window:
    """The capture dates asked for: CDX timestamps (digits, a prefix of YYYYMMDDhhmmss)."""

    since: str | None = None
    until: str | None = None

    def holds(self, timestamp: str) -> bool:
        """Whether a capture at `timestamp` is in the window."""
        return self.overlaps(timestamp, timestamp)

    def overlaps(self, start: str, end: str) -> bool:
        """Whether captures from `start` to `end` (timestamps) may fall in the window."""
        low = (self.since or "").ljust(14, "0")
        high = (self.until or "").ljust(14, "9") if self.until else "9" * 14
        return start.ljust(14, "0") <= high and end.ljust(14, "9") >= low


def cdx_timestamp(text: str, option: str) -> str:
    """A --since/--until date (2021, 2021-03, 2021-03-04, 2021-03-04T05:06[:07][Z], or CDX
    digits) as a CDX timestamp prefix."""
    found = _DATE.fullmatch(text.strip())
    if found is None:
        raise UsageError(f"{option} {text!r}: not a date (YYYY, YYYY-MM, YYYY-MM-DD or ISO 8601)")
    digits = "".join(part for part in found.groups() if part)
    try:  # a month 13 or a 30 February is no date
        padded = digits + "0101000000"[len(digits) - 4 :] if len(digits) < 14 else digits
        dt.datetime.strptime(padded, "%Y%m%d%H%M%S")
    except ValueError:
        raise UsageError(f"{option} {text!r}: no such date") from None
    return digits


@dataclass(frozen=True, slots=True)
class Collection:
    """One index to ask, and where its records come from."""

    name: str  # CC-MAIN-2023-50, ia, or the endpoint URL: what errors and captures say
    api: str  # the CDX endpoint
    protocol: Protocol
    data: str | None  # URL prefix its `filename`s are under: records by Range
    replay: str | None  # URL prefix of raw replay, `{replay}{timestamp}id_/{url}`
    delay: float  # at least this many seconds between requests to the index

    def record_url(self, row: CdxRow) -> tuple[str, bool] | None:
        """Where a capture's record is fetched, and whether by Range (from its WARC file)
        rather than from the raw replay; None when this archive says neither."""
        if self.data is not None and row.filename and row.offset is not None and row.length:
            return self.data + row.filename.lstrip("/"), True
        if self.replay is not None:
            return f"{self.replay}{row.timestamp}id_/{row.url}", False
        return None


@dataclass(frozen=True, slots=True)
class ArchiveSource:
    """What --archive (and --archive-data) named; `collections` lists the indexes to ask."""

    kind: str  # cc, ia, pywb
    text: str  # as given
    crawls: tuple[str, ...] = ()  # cc:ID,ID
    endpoint: str | None = None  # a pywb CDX URL
    data: str | None = None  # --archive-data
    cc_index: str = CC_INDEX
    wayback: str = WAYBACK

    @property
    def needs_crawl_list(self) -> bool:
        """Whether the crawls come from Common Crawl's collinfo.json."""
        return self.kind == "cc" and not self.crawls

    @property
    def crawl_list(self) -> str:
        return f"{self.cc_index}/collinfo.json"

    @property
    def hosts(self) -> frozenset[str]:
        """The archive's hosts: they are named by the user, so loopback is allowed there."""
        urls = {"cc": [self.cc_index], "ia": [self.wayback]}.get(self.kind, [self.endpoint or ""])
        urls = [*urls, self.data or ""]
        return frozenset(urlsplit(u).hostname or "" for u in urls) - {""}

    def collections(self, crawl_list: Sequence[Mapping[str, object]] = ()) -> list[Collection]:
        """The indexes to ask, oldest crawl first (so a page's first capture is met first);
        for `cc`, from its crawl list (collinfo.json, read by the caller)."""
        if self.kind == "ia":
            api, replay = f"{self.wayback}/cdx/search/cdx", f"{self.wayback}/web/"
            delay = WAYBACK_DELAY if self.wayback == WAYBACK else 0.0  # moved: a mirror of yours
            return [Collection("ia", api, Protocol.WAYBACK, None, replay, delay)]
        if self.kind == "pywb":
            assert self.endpoint is not None
            served = None if self.data else self.endpoint.removesuffix("/cdx") + "/"
            return [Collection(self.endpoint, self.endpoint, Protocol.PYWB, self.data, served, 0.0)]
        data = self.data or CC_DATA + "/"
        if self.crawls:
            apis = {c: f"{self.cc_index}/{c}-index" for c in self.crawls}
        else:
            apis = {str(c["id"]): str(c["cdx-api"]) for c in crawl_list}
        delay = CC_INDEX_DELAY if self.cc_index == CC_INDEX else 0.0
        return [
            Collection(crawl, api, Protocol.PYWB, data, None, delay)
            for crawl, api in sorted(apis.items(), key=lambda item: _crawl_order(item[0]))
        ]


def _crawl_order(crawl: str) -> tuple[int, int]:
    found = re.search(r"(\d{4})-(\d{2})", crawl)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def archive_source(text: str, data: str | None, env: Mapping[str, str]) -> ArchiveSource:
    """--archive's value read (see the module's docstring); UsageError when it is none."""
    cc_index = _base(env.get(ENV_CC_INDEX) or CC_INDEX, ENV_CC_INDEX)
    wayback = _base(env.get(ENV_WAYBACK) or WAYBACK, ENV_WAYBACK)
    if data is not None:
        data = _base(data, "--archive-data") + "/"
    value = text.strip()
    if data is None and value.startswith("cc") and env.get(ENV_CC_DATA):
        data = _base(env[ENV_CC_DATA], ENV_CC_DATA) + "/"
    if value == "ia":
        if data is not None:
            raise UsageError("--archive-data: the Wayback Machine's records come from its replay")
        return ArchiveSource("ia", text, cc_index=cc_index, wayback=wayback)
    if value == "cc" or value.startswith("cc:"):
        crawls = tuple(c.strip() for c in value.removeprefix("cc").removeprefix(":").split(","))
        crawls = tuple(c for c in crawls if c)
        wrong = [c for c in crawls if not _CRAWL_ID.fullmatch(c)]
        if wrong or (value.startswith("cc:") and not crawls):
            raise UsageError(
                f"--archive {text!r}: Common Crawl crawls are named CC-MAIN-YYYY-WW "
                "(cc:CC-MAIN-2023-50,CC-MAIN-2024-10)"
            )
        return ArchiveSource("cc", text, crawls, data=data, cc_index=cc_index, wayback=wayback)
    endpoint = canonical(value)
    if endpoint is None or not value.lower().startswith(("http://", "https://")):
        raise UsageError(
            f"--archive {text!r}: use cc, cc:CRAWL-ID,..., ia, or the URL of a CDX endpoint "
            "(http://host:8080/COLL/cdx)"
        )
    endpoint = endpoint.rstrip("/")
    return ArchiveSource(
        "pywb", text, endpoint=endpoint, data=data, cc_index=cc_index, wayback=wayback
    )


def _base(url: str, where: str) -> str:
    value = canonical(url)
    if value is None or not url.strip().lower().startswith(("http://", "https://")):
        raise UsageError(f"{where} {url!r}: not an http(s) URL")
    return value.rstrip("/")


def crawl_list(response: Response, source: ArchiveSource, window: Window) -> list[dict[str, str]]:
    """The crawls of Common Crawl's collinfo.json that overlap the window (`cc`)."""
    body = _body(response, source.crawl_list)
    try:
        crawls = json.loads(body)
        listed = [c for c in crawls if isinstance(c, dict) and "id" in c and "cdx-api" in c]
    except (ValueError, TypeError, RecursionError):
        problem = "not Common Crawl's list of crawls"
        raise FetchError(source.crawl_list, problem, "archive-index") from None
    kept = []
    for crawl in listed:
        start, end = _digits(str(crawl.get("from", ""))), _digits(str(crawl.get("to", "")))
        if not start or not end or window.overlaps(start, end):
            kept.append({k: str(v) for k, v in crawl.items()})
    return kept


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)[:14]


@dataclass(frozen=True, slots=True)
class CdxRow:
    """One capture as an index lists it."""

    url: str
    timestamp: str  # YYYYMMDDhhmmss, UTC (a shorter one in the index is padded)
    status: int | None  # None: a revisit (`-`)
    mime: str
    digest: str | None
    length: int | None
    offset: int | None
    filename: str | None

    @property
    def revisit(self) -> bool:
        return self.mime == "warc/revisit"

    @property
    def date(self) -> str:
        """The capture instant, ISO 8601 UTC."""
        when = dt.datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        return when.isoformat()

    @property
    def wanted(self) -> bool:
        """Whether the capture may be a document: a 2xx answer of a text (or unknown) type."""
        if self.status is None or not 200 <= self.status < 300:
            return False
        return self.mime in _UNKNOWN_TYPES or self.mime.startswith(_TEXT_TYPES)


@dataclass(frozen=True, slots=True)
class Query:
    """One host's captures in one index."""

    collection: Collection
    host: str
    match_type: str  # host or domain
    window: Window

    def url(self, **extra: str) -> str:
        params = {"url": self.host, "matchType": self.match_type, "output": "json"}
        if self.window.since:
            params["from"] = self.window.since
        if self.window.until:
            params["to"] = self.window.until
        if self.collection.protocol is Protocol.WAYBACK:
            params["fl"] = ",".join(WAYBACK_FIELDS)
        return f"{self.collection.api}?{urlencode({**params, **extra})}"


Get = Callable[[str], Awaitable["Response"]]


async def captures(
    query: Query, get: Get, page_rows: int = WAYBACK_ROWS
) -> AsyncGenerator[CdxRow, None]:
    """Every row the index holds for the query, a page of rows at a time (`get` makes
    each request, politely). Raises FetchError (`archive-index`) when the index refuses.
    The window is checked here too: pywb over CDXJ files ignores from/to when asked for its
    page count, and answers with every row."""
    async for row in _listed(query, get, page_rows):
        if query.window.holds(row.timestamp):
            yield row


async def _listed(query: Query, get: Get, page_rows: int) -> AsyncGenerator[CdxRow, None]:
    if query.collection.protocol is Protocol.WAYBACK:
        key: str | None = None
        keys: set[str] = set()
        while True:
            extra = {"limit": str(page_rows), "showResumeKey": "true"}
            url = query.url(**extra, **({"resumeKey": key} if key else {}))
            rows, key = _wayback_rows(_body(await get(url), url), url)
            for row in rows:
                yield row
            if not key:
                return
            if key in keys:  # an index that sends us round in circles
                raise FetchError(url, "the index repeated a resumeKey", "archive-index")
            keys.add(key)
    url = query.url(showNumPages="true")
    body = _body(await get(url), url)
    pages = _page_count(body)
    if pages is None:  # an index that does not page (pywb over CDXJ files) answered in full
        for row in _pywb_rows(body, url):
            yield row
        return
    for page in range(pages):
        url = query.url(page=str(page))
        for row in _pywb_rows(_body(await get(url), url), url):
            yield row


def _body(response: Response, url: str) -> bytes:
    """An index answer's body; no captures (404 "No Captures found") is an empty one."""
    if response.status == 404 and b"captures" in response.body.lower():
        return b""
    if 200 <= response.status < 300:
        if response.truncated:
            size = len(response.body) >> 20
            problem = f"the index answered over {size} MB at once (it does not page)"
            raise FetchError(url, problem, "archive-index")
        return response.body
    detail = _first_line(response.body)
    message = f"the index answered HTTP {response.status}" + (f": {detail}" if detail else "")
    raise FetchError(url, message, "archive-index")


def _first_line(body: bytes) -> str:
    text = body[:300].decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
        text = str(value.get("message", "")) if isinstance(value, dict) else ""
    except ValueError:
        pass
    line = text.splitlines()[0] if text else ""
    return re.sub(r"<[^>]*>", "", line).strip()[:120]  # an HTML error page's first line


def _page_count(body: bytes) -> int | None:
    """The page count a showNumPages answer gives; None when the index answered with rows."""
    text = body.strip()
    if text.isdigit():
        return _pages(int(text[:12]))
    if not text.startswith(b"{") or b"\n" in text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    pages = value.get("pages") if isinstance(value, dict) else None
    return _pages(pages) if isinstance(pages, int) and "url" not in value else None


def _pages(count: int) -> int:
    if not 0 <= count <= MAX_PAGES:
        raise FetchError("", f"the index claims {count:,} pages of captures", "archive-index")
    return count


def _pywb_rows(body: bytes, url: str) -> Iterator[CdxRow]:
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except (ValueError, RecursionError):
            raise FetchError(url, f"line {number} of the index's answer is not JSON",
                             "archive-index") from None  # fmt: skip
        row = _row(fields) if isinstance(fields, dict) else None
        if row is not None:
            yield row


def _wayback_rows(body: bytes, url: str) -> tuple[list[CdxRow], str | None]:
    if not body.strip():
        return [], None
    try:
        table = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError(url, "the index's answer is not JSON", "archive-index") from None
    if not isinstance(table, list) or not table or not isinstance(table[0], list):
        return [], None
    if not all(isinstance(name, str) for name in table[0]):
        raise FetchError(url, "the index's header row is not field names", "archive-index")
    header, *lines = table
    key = None
    if len(lines) >= 2 and lines[-2] == [] and len(lines[-1]) == 1:  # [], [resumeKey]
        key, lines = str(lines[-1][0]), lines[:-2]
    rows = []
    for line in lines:
        if isinstance(line, list) and len(line) == len(header):
            fields = dict(zip(header, line, strict=True))
            fields = {"url": fields.get("original"), "mime": fields.get("mimetype"),
                      "status": fields.get("statuscode"), **fields}  # fmt: skip
            row = _row(fields)
            if row is not None:
                rows.append(row)
    return rows, key


def _row(fields: Mapping[str, object]) -> CdxRow | None:
    """A row read, or None when it names no URL or no real instant (it is left out)."""
    url, stamp = str(fields.get("url") or ""), str(fields.get("timestamp") or "")
    if not url or not (stamp.isascii() and stamp.isdigit() and 4 <= len(stamp) <= 14):
        return None
    stamp = stamp + "0101000000"[len(stamp) - 4 :]  # 2021 -> 20210101000000, as pywb pads
    try:
        dt.datetime.strptime(stamp, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    mime = str(fields.get("mime") or "").lower()
    if mime in _UNKNOWN_TYPES and fields.get("mime-detected"):
        mime = str(fields["mime-detected"]).lower()
    digest = str(fields.get("digest") or "").strip()
    if digest and ":" not in digest:  # CDX gives the base32 SHA-1 that WARC-Payload-Digest names
        digest = f"sha1:{digest}"
    return CdxRow(
        url=url,
        timestamp=stamp,
        status=_number(fields.get("status")),
        mime=mime,
        digest=digest if digest and digest != "sha1:-" else None,
        length=_number(fields.get("length")),
        offset=_number(fields.get("offset")),
        filename=str(fields.get("filename") or "") or None,
    )


def _number(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
