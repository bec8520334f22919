"""Real web-archive servers on 127.0.0.1 for tests, each logging every request it answers.

- `pywb_server`: a real pywb (`wb-manager init/add`, then `wayback`) in a subprocess,
  behind a small counting reverse proxy (pywb's own access log also shows the requests it
  makes to itself, so it cannot count what a client asked for).
- `range_server`: a static file host honouring `Range: bytes=a-b`, as Common Crawl's data
  host answers one gzip member per record.
- `cc_index_server`: Common Crawl's index (`/collinfo.json`, `/CC-MAIN-…-index?url=…`), with
  zipnum-style paging over a small page size so that paging is exercised.
- `wayback_cdx_server`: the Wayback Machine's CDX API (`/cdx/search/cdx`, arrays with a
  header row, `resumeKey` paging) and its raw replay (`/web/{timestamp}id_/{url}`).

Each yields a `Served`: its base URL, its `RequestLog`, and `fail(...)` to answer the next
requests with 503/429 and `Retry-After`, as the shared services do when pushed. Every server
takes `failures=` for the same from its first request on.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import math
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, unquote, unquote_plus, urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import PAD_14_DOWN, PAD_14_UP, pad_timestamp, timestamp_to_sec

from tests.archives import IndexRow, surt_key
from tests.webserver import Reply, running

NOT_FORWARDED = {  # hop-by-hop headers, and the length this server sets itself
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
REPLAY = re.compile(r"^/(?:[^/]+/)?(\d{1,14})id_/(.+)$")


# -- requests, their log, and the server they share ------------------------------------------


@dataclass(frozen=True)
class Request:
    """A request as a route sees it."""

    method: str
    target: str  # as sent: path?query
    path: str  # percent-decoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])


@dataclass(frozen=True)
class Logged:
    request: Request
    status: int
    at: float  # time.monotonic()

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def range(self) -> str | None:
        return self.request.headers.get("range")


class RequestLog:
    """Every request a server answered, in order, with the status it got."""

    def __init__(self) -> None:
        self._entries: list[Logged] = []
        self._lock = threading.Lock()

    def add(self, entry: Logged) -> None:
        with self._lock:
            self._entries.append(entry)

    @property
    def entries(self) -> list[Logged]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self.entries)

    def count(self, path: str | None = None, *, status: int | None = None) -> int:
        """Requests (to `path`, percent-decoded and without query; answered with `status`)."""
        return sum(
            1
            for e in self.entries
            if (path is None or e.path == path) and (status is None or e.status == status)
        )

    def paths(self) -> Counter[str]:
        return Counter(e.path for e in self.entries)

    def statuses(self) -> list[int]:
        return [e.status for e in self.entries]

    def ranges(self, path: str) -> list[str | None]:
        """The Range header of each request for `path`, in order (None: the whole file)."""
        return [e.range for e in self.entries if e.path == path]

    def replays(self, status: int | None = 200) -> Counter[tuple[str, str]]:
        """How often each `(timestamp, url)` was fetched through an `{ts}id_/{url}` replay.

        `url` is as the client sent it (query included); count answers with `status`, or all.
        """
        found: Counter[tuple[str, str]] = Counter()
        for entry in self.entries:
            match = REPLAY.match(entry.target)
            if match and (status is None or entry.status == status):
                found[(match.group(1), match.group(2))] += 1
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _failure_reply(status: int, retry_after: str | None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    phrase = HTTPStatus(status).phrase
    return Reply(status, f"{status} {phrase}\n".encode(), headers, "text/plain; charset=utf-8")


class ArchiveServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 whose subclasses answer `Request`s with `Reply`s."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, failures: Sequence[int] = (), retry_after: str | None = "1") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log = RequestLog()
        self._failures: list[tuple[int, str | None]] = [(s, retry_after) for s in failures]
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fail(self, *statuses: int, retry_after: str | None = "1") -> None:
        """Answer the next requests with `statuses`, one each, before answering normally."""
        with self._lock:
            self._failures.extend((status, retry_after) for status in statuses)

    def next_failure(self) -> Reply | None:
        with self._lock:
            if not self._failures:
                return None
            status, retry_after = self._failures.pop(0)
        return _failure_reply(status, retry_after)

    def answer(self, request: Request) -> Reply:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ArchiveServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            target=self.path,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        reply = self.server.next_failure()
        if reply is None:
            try:
                reply = self.server.answer(request)
            except Exception:  # a broken route shows up as a 500 the test can read
                body = traceback.format_exc().encode()
                reply = Reply(500, body, content_type="text/plain; charset=utf-8")
        self.server.log.add(Logged(request, reply.status, time.monotonic()))
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)


@dataclass
class Served:
    """A running server: where it is, what it was asked, and a switch to make it fail."""

    base: str
    log: RequestLog
    server: ArchiveServer = field(repr=False)

    def url(self, path: str) -> str:
        return self.base + path

    def fail(self, *statuses: int, retry_after: str | None = "1") -> None:
        self.server.fail(*statuses, retry_after=retry_after)


@contextmanager
def _serving(server: ArchiveServer) -> Iterator[Served]:
    with running(server):
        yield Served(server.base, server.log, server)


def _json(value: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode(), content_type="application/json")


# -- a static data host with byte ranges ---------------------------------------------------------


class RangeServer(ArchiveServer):
    def __init__(
        self, root: Path, failures: Sequence[int] = (), retry_after: str | None = "1"
    ) -> None:
        super().__init__(failures, retry_after)
        self.root = root.resolve()

    def answer(self, request: Request) -> Reply:
        file = (self.root / request.path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            return Reply(404, b"not found\n", content_type="text/plain")
        size = file.stat().st_size
        kind = "application/octet-stream"
        headers = {"Accept-Ranges": "bytes"}
        wanted = _byte_range(request.headers.get("range"), size)
        if wanted is None:
            return Reply(200, file.read_bytes(), headers, kind)
        if wanted == (-1, -1):
            headers["Content-Range"] = f"bytes */{size}"
            return Reply(416, b"", headers, kind)
        start, end = wanted
        with file.open("rb") as stream:
            stream.seek(start)
            body = stream.read(end - start + 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Reply(206, body, headers, kind)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range; None to send it all; (-1, -1): 416.

    Several ranges, or a header that does not parse, are ignored (RFC 9110 allows it).
    """
    if header is None:
        return None
    found = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.groups()
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            return (-1, -1)
        return (max(0, size - suffix), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return (-1, -1)
    return (start, end)


def range_server(
    root: Path, *, failures: Sequence[int] = (), retry_after: str | None = "1"
) -> AbstractContextManager[Served]:
    """Serve the files under `root` (at `/{relative path}`), honouring single byte ranges."""
    return _serving(RangeServer(root, failures=failures, retry_after=retry_after))


# -- CDX queries shared by the index servers -----------------------------------------------------


def url_matcher(url: str, match_type: str | None) -> Callable[[str], bool]:
    """A test on urlkeys for `url` and `matchType`, as pywb's calc_search_range does.

    `*.example.com` means matchType=domain and `example.com/*` matchType=prefix.
    """
    if url.startswith("*."):
        url, match_type = url[2:], "domain"
    elif url.endswith("*"):
        url, match_type = url[:-1], "prefix"
    key = surt_key(url)
    host = key.split(")", 1)[0]
    match match_type or "exact":
        case "exact":
            return lambda urlkey: urlkey == key
        case "prefix":
            return lambda urlkey: urlkey.startswith(key)
        case "host":
            return lambda urlkey: urlkey.startswith(host + ")")
        case "domain":
            return lambda urlkey: urlkey.startswith((host + ")", host + ","))
    raise ValueError(f"matchType={match_type} is not one of exact, prefix, host, domain")


def clamp(timestamp: str, start: str | None, end: str | None) -> bool:
    """Whether a 14-digit timestamp is within `from`/`to` (1 to 14 digits, inclusive)."""
    if start and timestamp < pad_timestamp(start, PAD_14_DOWN):
        return False
    return not (end and timestamp > pad_timestamp(end, PAD_14_UP))


ALIASES = {"statuscode": "status", "mimetype": "mime", "original": "url"}


class PywbFilter:
    """`filter=[!][=|~]field:value`: contains (default), exact (=) or regex match (~)."""

    def __init__(self, text: str) -> None:
        self.invert = text.startswith("!")
        text = text.removeprefix("!")
        self.mode = text[0] if text[:1] in {"=", "~"} else ""
        text = text[len(self.mode) :]
        name, _, value = text.partition(":")
        if not _:
            raise ValueError(f"filter={text} needs a field: name:value")
        self.field = ALIASES.get(name, name)
        self.value = value
        self.regex = re.compile(value) if self.mode == "~" else None

    def __call__(self, fields: Mapping[str, str]) -> bool:
        value = fields.get(self.field, "")
        if self.regex is not None:
            matched = self.regex.match(value) is not None
        elif self.mode == "=":
            matched = value == self.value
        else:
            matched = self.value in value
        return matched != self.invert


def cc_fields(row: IndexRow) -> dict[str, str]:
    """A row as Common Crawl's index prints it: strings, and no field whose value is "-"."""
    fields = {
        "urlkey": row.urlkey,
        "timestamp": row.timestamp,
        "url": row.url,
        "mime": row.mime,
        "mime-detected": row.mime_detected,
        "status": str(row.status) if row.status is not None else None,
        "digest": row.cdx_digest,
        "length": str(row.length),
        "offset": str(row.offset),
        "filename": row.filename,
        "encoding": row.charset,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _sorted(rows: Sequence[IndexRow]) -> list[IndexRow]:
    return sorted(rows, key=lambda r: (r.urlkey, r.timestamp, r.filename, r.offset))


# -- Common Crawl's index -------------------------------------------------------------------


@dataclass(frozen=True)
class Crawl:
    id: str  # CC-MAIN-YYYY-WW
    rows: list[IndexRow]
    name: str


class CommonCrawlIndex(ArchiveServer):
    def __init__(
        self,
        crawls: Mapping[str, Sequence[IndexRow]],
        page_size: int,
        failures: Sequence[int] = (),
        retry_after: str | None = "1",
    ) -> None:
        super().__init__(failures, retry_after)
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self.page_size = page_size
        self.crawls = {
            crawl_id: Crawl(crawl_id, _sorted(rows), f"{crawl_id} Index")
            for crawl_id, rows in sorted(crawls.items(), reverse=True)
        }

    def answer(self, request: Request) -> Reply:
        if request.path == "/collinfo.json":
            return _json([self._info(crawl) for crawl in self.crawls.values()])
        found = re.fullmatch(r"/(.+)-index", request.path)
        if found is None or found.group(1) not in self.crawls:
            return _json({"message": f"No such index: {request.path}"}, 404)
        try:
            return self._query(self.crawls[found.group(1)], request)
        except ValueError as exc:
            return _json({"message": str(exc)}, 400)

    def _info(self, crawl: Crawl) -> dict[str, str]:
        stamps = [row.timestamp for row in crawl.rows] or ["19700101000000"]
        first, last = min(stamps), max(stamps)
        return {
            "id": crawl.id,
            "name": crawl.name,
            "timegate": f"{self.base}/{crawl.id}/",
            "cdx-api": f"{self.base}/{crawl.id}-index",
            "from": f"{first[:4]}-{first[4:6]}-{first[6:8]}T00:00:00",
            "to": f"{last[:4]}-{last[4:6]}-{last[6:8]}T23:59:59",
        }

    def _query(self, crawl: Crawl, request: Request) -> Reply:
        url = request.arg("url")
        if not url:
            raise ValueError('The "url" param is required')
        matches = url_matcher(url, request.arg("matchType"))
        # Pages are blocks of the url range, counted before from/to and filters apply,
        # as in pywb's zipnum index: a page may come back with nothing left in it.
        in_range = [row for row in crawl.rows if matches(row.urlkey)]
        page_size = int(request.arg("pageSize") or self.page_size)
        pages = math.ceil(len(in_range) / page_size)
        if request.arg("showNumPages") == "true":
            return _json({"pages": pages, "pageSize": page_size, "blocks": len(in_range)})
        page_arg = request.arg("page")
        if page_arg is not None:
            page = int(page_arg)
            if not 0 <= page < pages:
                message = f"Page {page} invalid: First Page is 0, Last Page is {pages - 1}"
                raise ValueError(message)
            in_range = in_range[page * page_size : (page + 1) * page_size]
        filters = [PywbFilter(text) for text in request.args("filter")]
        start, end = request.arg("from"), request.arg("to")
        selected = [
            fields
            for fields in map(cc_fields, in_range)
            if clamp(fields["timestamp"], start, end) and all(f(fields) for f in filters)
        ]
        if request.arg("limit"):
            selected = selected[: int(request.arg("limit") or 0)]
        output = request.arg("output", "cdxj")
        if not selected:
            missing = {"message": f"No Captures found for: {url}"}
            return _json(missing, 404) if output == "json" else Reply(404, b"", {}, "text/plain")
        wanted = [ALIASES.get(name, name) for name in (request.arg("fl") or "").split(",") if name]
        if output == "json":
            lines = [json.dumps({k: f[k] for k in wanted or f if k in f}) for f in selected]
            kind = "text/x-ndjson"
        elif wanted:
            lines = [" ".join(f.get(k, "-") for k in wanted) for f in selected]
            kind = "text/plain"
        else:
            lines = [_cdxj(f) for f in selected]
            kind = "text/x-cdxj"
        return Reply(200, ("\n".join(lines) + "\n").encode(), content_type=kind)


def _cdxj(fields: Mapping[str, str]) -> str:
    rest = {k: v for k, v in fields.items() if k not in {"urlkey", "timestamp"}}
    return f"{fields['urlkey']} {fields['timestamp']} {json.dumps(rest)}"


def cc_index_server(
    crawls: Mapping[str, Sequence[IndexRow]],
    *,
    page_size: int = 3,
    failures: Sequence[int] = (),
    retry_after: str | None = "1",
) -> AbstractContextManager[Served]:
    """Common Crawl's index server for `crawls` (crawl id, e.g. CC-MAIN-2021-10 -> rows).

    `/collinfo.json` lists the crawls newest first; `/{id}-index?url=...` answers pywb's CDX
    protocol (matchType, from/to, filter, fl, limit, output=json, page, showNumPages,
    pageSize) with `page_size` rows per page; nothing found is a 404 with a JSON message.
    """
    index = CommonCrawlIndex(crawls, page_size, failures=failures, retry_after=retry_after)
    return _serving(index)


# -- the Wayback Machine -------------------------------------------------------------------------

WAYBACK_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")


def wayback_fields(row: IndexRow) -> dict[str, str]:
    return {
        "urlkey": row.urlkey,
        "timestamp": row.timestamp,
        "original": row.url,
        "mimetype": row.mime,
        "statuscode": str(row.status) if row.status is not None else "-",
        "digest": row.cdx_digest,
        "length": str(row.length),
    }


class WaybackMachine(ArchiveServer):
    def __init__(
        self,
        rows: Sequence[IndexRow],
        data: Path,
        failures: Sequence[int] = (),
        retry_after: str | None = "1",
    ) -> None:
        super().__init__(failures, retry_after)
        self.rows = _sorted(rows)
        self.data = data

    def answer(self, request: Request) -> Reply:
        if request.path == "/cdx/search/cdx":
            try:
                return self._cdx(request)
            except ValueError as exc:
                return Reply(400, f"{exc}\n".encode(), content_type="text/plain")
        if request.path.startswith("/web/"):
            return self._replay(request)
        return Reply(404, b"not found\n", content_type="text/plain")

    def _cdx(self, request: Request) -> Reply:
        url = request.arg("url")
        if not url:
            raise ValueError("Request must have url")
        matches = url_matcher(url, request.arg("matchType"))
        rows = [wayback_fields(row) for row in self.rows if matches(row.urlkey)]
        resume = request.arg("resumeKey")
        if resume:
            last = unquote_plus(resume).removesuffix("!")
            urlkey, _, timestamp = last.rpartition(" ")
            rows = [f for f in rows if (f["urlkey"], f["timestamp"]) > (urlkey, timestamp)]
        start, end = request.arg("from"), request.arg("to")
        filters = [_wayback_filter(text) for text in request.args("filter")]
        rows = [f for f in rows if clamp(f["timestamp"], start, end) and all(t(f) for t in filters)]
        for collapse in request.args("collapse"):
            rows = _collapse(rows, collapse)
        more = False
        limit = request.arg("limit")
        if limit and 0 < int(limit) < len(rows):
            rows, more = rows[: int(limit)], True
        key = None
        if more and request.arg("showResumeKey") == "true":
            key = quote_plus(f"{rows[-1]['urlkey']} {rows[-1]['timestamp']}!")
        wanted = [n for n in (request.arg("fl") or "").split(",") if n] or list(WAYBACK_FIELDS)
        for name in wanted:
            if name not in WAYBACK_FIELDS:
                raise ValueError(f"Unknown field: {name}")
        table = [[f[name] for name in wanted] for f in rows]
        if request.arg("output") == "json":
            document: list[list[str]] = [wanted, *table] if table else []
            if key is not None:
                document += [[], [key]]
            return _json(document)
        lines = [" ".join(values) for values in table]
        if key is not None:
            lines += ["", key]
        body = "".join(line + "\n" for line in lines)
        return Reply(200, body.encode(), content_type="text/plain")

    def _replay(self, request: Request) -> Reply:
        found = REPLAY.match(request.target)
        if found is None or not request.target.startswith("/web/"):
            return Reply(404, b"only /web/{timestamp}id_/{url} is served here\n", {}, None)
        wanted, url = found.groups()
        url = re.sub(r"^(https?):/(?!/)", r"\1://", url)
        key = surt_key(url)
        candidates = [row for row in self.rows if row.urlkey == key]
        if not candidates:
            return Reply(404, b"not in archive\n", content_type="text/plain")
        target = timestamp_to_sec(pad_timestamp(wanted, PAD_14_DOWN))
        row = min(candidates, key=lambda r: abs(timestamp_to_sec(r.timestamp) - target))
        if row.timestamp != wanted:
            location = f"{self.base}/web/{row.timestamp}id_/{row.url}"
            return Reply(302, b"", {"Location": location}, "text/plain")
        if row.record_type == "revisit":
            originals = [
                r
                for r in self.rows
                if r.urlkey == key and r.digest == row.digest and r.record_type == "response"
            ]
            if not originals:
                return Reply(404, b"revisit of a capture not in archive\n", {}, "text/plain")
            source = originals[0]
        else:
            source = row
        status, headers, body = read_payload(self.data / source.filename, source)
        headers["Memento-Datetime"] = formatdate(timestamp_to_sec(row.timestamp), usegmt=True)
        return Reply(status, body, headers, content_type=None)


def read_payload(path: Path, row: IndexRow) -> tuple[int, dict[str, str], bytes]:
    """The HTTP status, headers and payload bytes (as stored) of the record `row` points at."""
    with path.open("rb") as stream:
        stream.seek(row.offset)
        member = stream.read(row.length)
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    headers: dict[str, str] = {}
    for name, value in record.http_headers.headers:
        if name.lower() in NOT_FORWARDED:
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body = record.raw_stream.read()
    return int(record.http_headers.get_statuscode()), headers, body


def _wayback_filter(text: str) -> Callable[[Mapping[str, str]], bool]:
    """`filter=[!]field:regex`, the regex matching the whole value (Java's matches())."""
    invert = text.startswith("!")
    name, sep, pattern = text.removeprefix("!").partition(":")
    if not sep or name not in WAYBACK_FIELDS:
        raise ValueError(f"Invalid filter: {text}")
    regex = re.compile(pattern)
    return lambda fields: (regex.fullmatch(fields[name]) is not None) != invert


def _collapse(rows: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    """`collapse=field[:N]`: drop a row whose field (first N characters) repeats the last one."""
    name, _, size = text.partition(":")
    if name not in WAYBACK_FIELDS:
        raise ValueError(f"Invalid collapse: {text}")
    width = int(size) if size else None
    kept: list[dict[str, str]] = []
    previous: str | None = None
    for fields in rows:
        value = fields[name][:width]
        if value != previous:
            kept.append(fields)
        previous = value
    return kept


def wayback_cdx_server(
    rows: Sequence[IndexRow],
    data: Path,
    *,
    failures: Sequence[int] = (),
    retry_after: str | None = "1",
) -> AbstractContextManager[Served]:
    """The Wayback Machine for `rows`, whose records are read from the files under `data`.

    `/cdx/search/cdx`: url, matchType, from/to, filter=[!]field:regex, collapse, fl, limit,
    showResumeKey/resumeKey (the key is the last row's `urlkey timestamp!`, so the next page
    starts after it), output=json (arrays, a header row first, then `[]` and `[key]`).
    `/web/{timestamp}id_/{url}`: the archived status, headers and payload bytes; another
    timestamp is redirected (302) to the closest capture, as the Wayback Machine does.
    """
    return _serving(WaybackMachine(rows, data, failures=failures, retry_after=retry_after))


# -- pywb ----------------------------------------------------------------------------------------


class CountingProxy(ArchiveServer):
    """A reverse proxy that logs each request, then forwards it to `upstream` unchanged."""

    def __init__(
        self, upstream: str, failures: Sequence[int] = (), retry_after: str | None = "1"
    ) -> None:
        super().__init__(failures, retry_after)
        split = urlsplit(upstream)
        self.upstream = (split.hostname or "127.0.0.1", split.port or 80)

    def answer(self, request: Request) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k not in NOT_FORWARDED}
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request(request.method, request.target, headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        forwarded: dict[str, str] = {}
        for name, value in response.getheaders():
            if name.lower() in NOT_FORWARDED:
                continue
            forwarded[name] = f"{forwarded[name]}, {value}" if name in forwarded else value
        return Reply(response.status, body, forwarded, content_type=None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pywb(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def _wayback_process(workdir: Path, timeout: float) -> Iterator[int]:
    """Start pywb's `wayback` on a free port in `workdir`; yield the port; stop it."""
    log_path = workdir / "pywb.log"
    for _attempt in range(3):
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                _pywb("pywb.apps.cli", "-b", "127.0.0.1", "-p", str(port)),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(port):
                    break
                time.sleep(0.05)
            else:
                if process.poll() is None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"pywb did not answer within {timeout} s:\n{tail}")
                continue  # it exited: most likely the port was taken meanwhile; again
            yield port
            return
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"pywb would not start:\n{tail}")


@contextmanager
def pywb_server(
    tmp_dir: Path,
    collection: str,
    warc_files: Sequence[Path],
    *,
    failures: Sequence[int] = (),
    retry_after: str | None = "1",
    timeout: float = 30.0,
) -> Iterator[Served]:
    """A real pywb serving `warc_files` as `collection`, behind a counting reverse proxy.

    Runs `wb-manager init` and `wb-manager add` in `tmp_dir/pywb`, then `wayback -b
    127.0.0.1 -p PORT` (as `python -m pywb.apps.cli`, never imported here: it monkey-patches
    the process with gevent). CDX: `{base}/{collection}/cdx?url=...`; replay:
    `{base}/{collection}/{timestamp}id_/{url}`. pywb's own output is in `tmp_dir/pywb/pywb.log`.
    """
    if importlib.util.find_spec("pywb") is None:
        raise RuntimeError("pywb is not installed: pip install pywb (test-only, GPL-3.0)")
    if not re.fullmatch(r"[\w-]+", collection):
        raise ValueError(f"a pywb collection name is letters, digits, _ and -: {collection!r}")
    workdir = tmp_dir / "pywb"
    workdir.mkdir(parents=True, exist_ok=True)
    for command in (
        ["init", collection],
        ["add", collection, *(str(Path(f).resolve()) for f in warc_files)],
    ):
        done = subprocess.run(
            _pywb("pywb.manager.manager", *command),
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or "Error" in done.stdout:
            raise RuntimeError(
                f"wb-manager {' '.join(command)} failed:\n{done.stdout}{done.stderr}"
            )
    with _wayback_process(workdir, timeout) as port:
        proxy = CountingProxy(
            f"http://127.0.0.1:{port}", failures=failures, retry_after=retry_after
        )
        with _serving(proxy) as served:
            yield served
