"""Backfill from a web archive: the captures its index lists for each target, fetched and
handed on to be scanned, instead of the live site (which is never contacted).

For each index (each Common Crawl crawl, oldest first, or the one archive named) and each
target, the index is asked for the captures of the target's host (and its `www.` twin; with
--scope domain, its subdomains too) within --since/--until, a page of rows at a time. A row
is fetched only when it may be a document (a 2xx answer of a text type) and its payload (URL
and digest) has not been read before, in this run or (asked of the store) an earlier one: a
revisit or an identical capture only tells the store that the page was there then. Records
come by Range from the archive's WARC files, or from its raw (`id_`) replay.

The archive is a shared service and is treated as one: each host has a throttle (the
index's at least as slow as its operators ask: 1 s for Common Crawl's, 6 s for the Wayback
Machine's, unless --delay 0 says the archive is the user's own), and overload answers are
retried with back-off and Retry-After (retry.py). robots.txt is not consulted: the archive
decided that at capture time. A page's scan runs while the next record is fetched.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Protocol

from leakwatch.errors import FetchError, LeakwatchError
from leakwatch.extract import archives
from leakwatch.fetch import crawler
from leakwatch.fetch.cdx import (
    CC_INDEX,
    CC_INDEX_DELAY,
    CdxRow,
    Collection,
    Query,
    Window,
    captures,
    crawl_list,
)
from leakwatch.fetch.crawler import CONNECT_TIMEOUT, contained
from leakwatch.fetch.guard import AddressPolicy, Resolver, make_pool
from leakwatch.fetch.http import Fetcher, Response
from leakwatch.fetch.retry import Retries, polite_get
from leakwatch.fetch.settings import ArchiveSettings, CrawlSettings, Page
from leakwatch.fetch.targets import Target
from leakwatch.fetch.throttle import Throttle
from leakwatch.fetch.urls import Scope, canonical, host_of, in_scope, is_ip
from leakwatch.models import Capture, Recaptured, ScanIssue

INDEX_MAX_BYTES = 64 << 20  # one index answer (a page of rows) at most
MAX_RECORD_LENGTH = 100 << 20  # a compressed record longer than this is not fetched
ARCHIVE_RETRIES = 4  # shared services answer 503 when pushed: be patient with them
ARCHIVE_MAX_RETRY_AFTER = 600.0  # waited out; longer, or a 429 after every retry: stop


class _Halted(LeakwatchError):
    """The archive asked us to stop (429 Too Many Requests to the end, or a Retry-After
    beyond what a run waits out): nothing more is asked of it in this run."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host
        self.message = message


class Sink(crawler.Sink, Protocol):
    """Where the backfill's results go: the crawl's sink, plus what archives add."""

    def recaptured(self, event: Recaptured) -> None:
        """A capture of a payload already read: the page was there then too."""
        ...

    def known(self, url: str, digest: str) -> bool:
        """Whether a payload of this URL was read by an earlier run (the store)."""
        ...


class Backfill:
    """One backfill of one or more targets from one archive."""

    def __init__(
        self,
        targets: Sequence[Target],
        settings: CrawlSettings,
        archive: ArchiveSettings,
        sink: Sink,
        *,
        resolver: Resolver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.targets = targets
        self.settings = settings
        self.archive = archive
        self.sink = sink
        self.resolver = resolver
        self.rng = rng or random.Random()
        self.policy = AddressPolicy(settings.allow_private, archive.source.hosts)
        self.retries = Retries(
            max(settings.retries, ARCHIVE_RETRIES),
            settings.backoff,
            max(settings.max_retry_after, ARCHIVE_MAX_RETRY_AFTER),
            beyond_cap_gives_up=True,
        )
        self._budget = {t.url: _max_pages(t, settings) for t in targets}
        self._read: set[tuple[str, str]] = set()  # (URL, digest) of payloads read this run
        self._listed = dict.fromkeys(self._budget, 0)  # captures in scope, by target
        self._refused = dict.fromkeys(self._budget, False)  # an index failed for the target
        self._throttles: dict[str, Throttle] = {}
        self._scanning = asyncio.Semaphore(max(1, sink.parallel))
        self._scans: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._fetcher: Fetcher | None = None

    async def run(self) -> None:
        """Backfill every target; on cancellation (Ctrl-C) stop every request and scan."""
        settings = self.settings
        pool = make_pool(self.policy, self.resolver, proxy=settings.proxy, max_idle=8)
        self._fetcher = Fetcher(
            pool,
            self.policy,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            deadline=settings.deadline,
            connect_timeout=min(CONNECT_TIMEOUT, settings.deadline),
            max_bytes=settings.max_bytes,
            proxied=settings.proxy is not None,
        )
        try:
            try:
                await self._everything()
            except _Halted as halted:
                message = f"{halted.message}: stopped asking it; --resume later goes on from here"
                self.sink.problem(ScanIssue(halted.host, "archive-index", message))
            while self._scans:
                await asyncio.wait(set(self._scans))
            if self._failure is not None:
                raise self._failure
        finally:
            for task in self._scans:
                task.cancel()
            await asyncio.gather(*self._scans, return_exceptions=True)
            await pool.aclose()

    async def _everything(self) -> None:
        collections = await self._collections()
        if collections is None:
            return  # the crawl list could not be read: said, and nothing else to say
        for collection in collections:
            for target in self.targets:
                await self._backfill(collection, target)
        for target in self.targets:
            if collections and not self._listed[target.url] and not self._refused[target.url]:
                message = "the archive holds no capture of it" + _window_text(self.archive)
                self.sink.problem(ScanIssue(target.url, "no-captures", message))

    async def _collections(self) -> list[Collection] | None:
        """The indexes to ask; None when Common Crawl's list of crawls could not be read."""
        source = self.archive.source
        if not source.needs_crawl_list:
            return source.collections()
        url = source.crawl_list
        minimum = CC_INDEX_DELAY if source.cc_index == CC_INDEX else 0.0
        try:
            listed = crawl_list(await self._index_get(url, minimum), source, self.archive.window)
        except FetchError as exc:
            self.sink.problem(ScanIssue(url, "archive-index", exc.problem))
            return None
        if not listed:
            message = "no Common Crawl crawl overlaps" + _window_text(self.archive)
            self.sink.problem(ScanIssue(url, "no-captures", message))
        return source.collections(listed)

    async def _backfill(self, collection: Collection, target: Target) -> None:
        """The target's captures in one index."""
        scope = target.scope or self.settings.scope
        if self._budget[target.url] <= 0:
            return
        query = _query(collection, target, scope, self.archive.window)
        rows = captures(
            query, lambda url: self._index_get(url, collection.delay), self.archive.page_rows
        )
        try:
            async for row in rows:
                await self._capture(row, collection, target, scope)
                self._check()
                if self._budget[target.url] <= 0:
                    break
        except FetchError as exc:
            self._refused[target.url] = True
            where = f"the index {collection.name} for {query.host}"
            self.sink.problem(ScanIssue(where, "archive-index", exc.problem))
        finally:
            await rows.aclose()

    async def _capture(
        self, row: CdxRow, collection: Collection, target: Target, scope: Scope
    ) -> None:
        url = row.url
        page_url = canonical(url)
        if page_url is None or not in_scope(page_url, target.host, scope):
            return  # a CDX host match is wider than the scope (www. twins asked twice, ...)
        self._listed[target.url] += 1
        where = collection.record_url(row)
        if row.digest is not None and self._was_read(url, row.digest):
            located = where[0] if where is not None else collection.name
            self.sink.recaptured(
                Recaptured(url, Capture(located, row.offset or 0, row.date, row.digest))
            )
            return
        if row.revisit or not row.wanted:
            return  # a revisit of a payload never read, a redirect, an error, an image
        self._budget[target.url] -= 1
        if where is None:
            self._failed(url, target, "the index says neither file nor replay for it")
            return
        record_url, ranged = where
        fetching = self._ranged(row, record_url) if ranged else self._replayed(row, record_url)
        outcome = await contained(fetching, url, self.settings.contain_errors)
        if isinstance(outcome, ScanIssue):
            self.sink.problem(outcome)
            self.sink.settled(url, "failed", (), False, target.url)
            return
        if row.digest is not None:  # fetched: a page or not, it is not fetched again
            self._read.add((url, row.digest))
        if outcome is None:
            self.sink.settled(url, "skipped", (), True, target.url)
            return
        found = outcome
        info = found.fetch_info(target.url, target.country, site=host_of(page_url))
        page = Page(
            info, found.media_type, found.charset, found.body, found.truncated, found.capture
        )
        await self._scanning.acquire()
        task = asyncio.get_running_loop().create_task(self._scan(page, target))
        self._scans.add(task)
        task.add_done_callback(self._scanned)

    def _was_read(self, url: str, digest: str) -> bool:
        return (url, digest) in self._read or self.sink.known(url, digest)

    async def _ranged(self, row: CdxRow, where: str) -> archives.ArchivedPage | ScanIssue | None:
        """The capture's record, by Range from its WARC file (one gzip member)."""
        assert row.offset is not None
        assert row.length is not None
        if row.length > MAX_RECORD_LENGTH:
            return ScanIssue(row.url, "archive-record", f"record of {row.length:,} bytes not read")
        end = row.offset + row.length - 1
        try:
            response = await self._get(
                where, max_bytes=row.length, headers=(("Range", f"bytes={row.offset}-{end}"),)
            )
        except FetchError as exc:
            return ScanIssue(row.url, exc.kind, f"{where}: {exc.problem}")
        if response.status != 206:
            what = "does not serve byte ranges" if response.status == 200 else "answered"
            return ScanIssue(row.url, "http", f"{where} {what} (HTTP {response.status})")
        found = archives.read_member(response.body, where, row.offset, self.settings.max_bytes)
        if isinstance(found, archives.ArchivedPage | type(None)):
            return found
        if isinstance(found, Recaptured):
            return None  # the index said response, the record says revisit: nothing to read
        return ScanIssue(found.source, found.kind, found.problem)

    async def _replayed(self, row: CdxRow, where: str) -> archives.ArchivedPage | ScanIssue | None:
        """The capture's payload as the archive's raw (`id_`) replay serves it."""
        try:
            response = await self._get(where)
        except FetchError as exc:
            return ScanIssue(row.url, exc.kind, exc.problem)
        if not 200 <= response.status < 300:
            moved = " (not this capture)" if response.is_redirect else ""
            return ScanIssue(
                row.url, "http", f"the archive's replay answered HTTP {response.status}{moved}"
            )
        if not response.scannable:
            return None
        capture = Capture(where, row.offset or 0, row.date, row.digest)
        return archives.ArchivedPage(
            row.url, capture, response.status, response.media_type, response.charset,
            response.body, response.truncated,
        )  # fmt: skip

    async def _scan(self, page: Page, target: Target) -> None:
        try:
            outcome = await contained(
                self.sink.page(page), page.info.url, self.settings.contain_errors
            )
        finally:
            self._scanning.release()
        url = page.info.url
        if isinstance(outcome, ScanIssue):
            self.sink.problem(outcome)
            self.sink.settled(url, "failed", (), True, target.url)
        else:
            self.sink.settled(
                url, "scanned" if outcome is not None else "skipped", (), True, target.url
            )

    def _scanned(self, task: asyncio.Task[None]) -> None:
        self._scans.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def _check(self) -> None:
        """A scan's own failure (a store that cannot be written) ends the backfill."""
        if self._failure is not None:
            raise self._failure

    def _failed(self, url: str, target: Target, message: str) -> None:
        self.sink.problem(ScanIssue(url, "archive-record", message))
        self.sink.settled(url, "failed", (), True, target.url)

    async def _index_get(self, url: str, minimum: float) -> Response:
        """An index request (its errors are read too: the index says why it refused)."""
        return await self._get(url, minimum=minimum, max_bytes=INDEX_MAX_BYTES, error_body=True)

    async def _get(
        self,
        url: str,
        *,
        minimum: float = 0.0,
        max_bytes: int | None = None,
        headers: Sequence[tuple[str, str]] = (),
        error_body: bool = False,
    ) -> Response:
        assert self._fetcher is not None
        host = host_of(url)
        response = await polite_get(
            self._fetcher, self._throttle(host, minimum), url, self.retries, self.rng,
            headers=headers, max_bytes=max_bytes, any_type=True, error_body=error_body,
        )  # fmt: skip
        wait = response.retry_after
        if wait is not None and wait > self.retries.max_retry_after:
            raise _Halted(host, f"the archive asks for {wait:,.0f} s without requests")
        if response.status == 429:
            raise _Halted(host, f"the archive still answers 429 Too Many Requests after "
                                f"{self.retries.retries} retries")  # fmt: skip
        return response

    def _throttle(self, host: str, minimum: float) -> Throttle:
        """The host's throttle: --delay, and never less than `minimum` between requests (a
        public service's wish, which --delay 0 does not lift)."""
        base = max(self.settings.delay, minimum)
        throttle = self._throttles.get(host)
        if throttle is None:
            throttle = self._throttles[host] = Throttle(base, self.rng, floor=minimum)
        elif base > throttle.base:
            throttle.raise_base(base)
            throttle.floor = max(throttle.floor, minimum)
        return throttle


def _window_text(archive: ArchiveSettings) -> str:
    since, until = (_day(d) if d else None for d in (archive.window.since, archive.window.until))
    if since and until:
        return f" from {since} to {until}"
    if since:
        return f" since {since}"
    return f" until {until}" if until else ""


def _day(digits: str) -> str:
    """A CDX timestamp prefix as a date: 2021, 2021-03, 2021-03-04."""
    return "-".join(part for part in (digits[:4], digits[4:6], digits[6:8]) if part)


def _max_pages(target: Target, settings: CrawlSettings) -> int:
    return target.max_pages if target.max_pages is not None else settings.max_pages


def _query(collection: Collection, target: Target, scope: Scope, window: Window) -> Query:
    """The index query covering a target's scope. Indexes key URLs by SURT, which drops a
    leading `www.`: asking for the host finds its www. twin's captures too."""
    host = target.host if is_ip(target.host) else target.host.removeprefix("www.")
    match = "domain" if scope is Scope.DOMAIN and not is_ip(host) else "host"
    return Query(collection, host, match, window)
