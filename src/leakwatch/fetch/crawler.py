"""Crawl target sites: frontier, scope, depth and page limits, robots.txt, politeness,
retries and redirects, over one shared connection pool.

Each host has up to --per-host driver tasks (one by default) that take its URLs in
breadth-first order, one request each at a time, paced by the host's throttle; a slow
page holds its own driver only. A global semaphore bounds requests in flight over all
hosts (--concurrency); the connection pool is sized apart from it, to keep every crawled
host's keep-alive connections open. What the crawler finds goes to a `Sink`: pages to
scan (which answer with the links they hold), problems, and for every URL taken from the
frontier a `settled` call naming the URLs it added, so a store can persist the frontier
with the page's results in one transaction and an interrupted crawl can resume.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import deque
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from leakwatch.errors import FetchError, LeakwatchError
from leakwatch.fetch.guard import AddressPolicy, Resolver, make_pool
from leakwatch.fetch.http import Fetcher, Response
from leakwatch.fetch.retry import RETRY_KINDS, RETRY_STATUSES, Retries, paced, polite_get
from leakwatch.fetch.robots import IGNORED, RobotsCache, Rules
from leakwatch.fetch.settings import CrawlSettings, Page
from leakwatch.fetch.targets import Target
from leakwatch.fetch.throttle import Throttle
from leakwatch.fetch.urls import canonical, host_of, in_scope, origin_of
from leakwatch.models import FetchInfo, QueuedUrl, ScanIssue
from leakwatch.safe_text import error_line

CONNECT_TIMEOUT = 10.0  # seconds to open a connection (a dead address), within the deadline
MAX_POOL = 512  # connections kept open at most (file descriptors are finite)
Result = TypeVar("Result")
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,text/csv;q=0.9,*/*;q=0.5"


async def contained(work: Awaitable[Result], url: str, contain: bool) -> Result | ScanIssue:
    """`work`, with an exception nobody foresaw turned into the page's problem (see
    CrawlSettings.contain_errors). leakwatch's own errors (a store or an output that
    cannot be written) are not the page's fault and still end the crawl."""
    if not contain:
        return await work
    try:
        return await work
    except LeakwatchError:
        raise
    except Exception as exc:  # one hostile page must not end the crawl
        detail = error_line(exc) if str(exc).strip() else ""  # it may quote a page
        message = f"{type(exc).__name__}: {detail} (a bug in leakwatch; please report it)"
        return ScanIssue(url, "internal", message)


class Sink(Protocol):
    """Where the crawl's results go (the pipeline scans pages; a test collects them)."""

    @property
    def parallel(self) -> int:
        """Pages it can usefully be scanning at once (the crawl fetches ahead that far)."""
        ...

    async def page(self, page: Page) -> Sequence[str] | None:
        """Scan a page; return the links it holds, or None if it was not a document."""
        ...

    def problem(self, issue: ScanIssue) -> None: ...

    def settled(
        self, url: str, outcome: str, queued: Sequence[QueuedUrl], final: bool, target: str
    ) -> None:
        """A frontier URL of `target`'s crawl is finished (`outcome`: scanned, skipped,
        failed, disallowed, offsite, duplicate) and these URLs were accepted from it; not
        `final` when it failed for a reason that may pass (a timeout, a 503): a resumed
        crawl tries it again.

        A page's events (its scan, its problem) and its `settled` call come together, never
        interleaved with another page's: a store can write them as one transaction."""
        ...


@dataclass(frozen=True, slots=True)
class _Stop:
    """Why a frontier URL ends without a page to scan."""

    outcome: str
    issue: ScanIssue | None = None
    final: bool = True


@dataclass(slots=True)
class _Site:
    host: str
    throttle: Throttle
    connections: int  # drivers (requests in flight) at most: --per-host
    queue: deque[QueuedUrl] = field(default_factory=deque)
    drivers: int = 0


class Crawler:
    """One crawl of one or more targets. `done` and `pending` continue an earlier crawl."""

    def __init__(
        self,
        targets: Sequence[Target],
        settings: CrawlSettings,
        sink: Sink,
        *,
        resolver: Resolver | None = None,
        done: Iterable[str] = (),
        pending: Sequence[QueuedUrl] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.targets = {t.url: t for t in targets}
        self.policy = AddressPolicy(
            settings.allow_private, frozenset(t.host for t in targets if t.host)
        )
        # A host several targets start on gets the most polite of their settings.
        self._per_host: dict[str, int] = {}
        for t in targets:
            wanted = self._connections(t)
            self._per_host[t.host] = min(self._per_host.get(t.host, wanted), wanted)
        self.resolver = resolver
        self.rng = rng or random.Random()
        self._done = frozenset(done)
        self._pending = tuple(pending)
        self._seen: set[str] = set(self._done)
        self._budget = {t.url: self._max_pages(t) for t in targets}
        self._sites: dict[str, _Site] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)
        # Pages being scanned, and bodies in memory (being fetched, waiting for a scan, being
        # scanned) over all sites: bounded, so memory does not grow with the crawl.
        self._scanning = asyncio.Semaphore(max(1, sink.parallel))
        self._bodies = asyncio.Semaphore(settings.concurrency + max(1, sink.parallel))
        self._fetcher: Fetcher | None = None
        self._failure: BaseException | None = None
        # Set when the last task ends or one fails: waiting on every task at once would
        # cost, at each task's end, as much as there are tasks (hundreds: drivers, scans).
        self._over = asyncio.Event()
        self._robots = RobotsCache(self._get_robots)
        self._retries = Retries(settings.retries, settings.backoff, settings.max_retry_after)

    async def run(self) -> None:
        """Crawl until the frontier is empty; on cancellation (Ctrl-C) stop every request."""
        settings = self.settings
        pool = make_pool(
            self.policy, self.resolver, proxy=settings.proxy, max_idle=self._pool_size()
        )
        headers = {
            "User-Agent": settings.user_agent,
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip, deflate",  # what http.py decompresses, boundedly
        }
        self._fetcher = Fetcher(
            pool,
            self.policy,
            headers=headers,
            deadline=settings.deadline,
            connect_timeout=min(CONNECT_TIMEOUT, settings.deadline),
            max_bytes=settings.max_bytes,
            proxied=settings.proxy is not None,
        )
        self._seed()
        try:
            if self._tasks:
                await self._over.wait()
            if self._failure is not None:  # a bug, or the sink's own error: stop
                raise self._failure
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await pool.aclose()

    def _connections(self, target: Target) -> int:
        return target.per_host if target.per_host is not None else self.settings.per_host

    def _pool_size(self) -> int:
        """Connections the pool keeps: every target host's (per-host each) on top of the
        requests in flight, so that crawling many hosts at once does not evict one host's
        idle keep-alive connection for another's and reopen it a moment later."""
        kept = sum(self._per_host.values())
        return min(MAX_POOL, self.settings.concurrency + kept)

    # -- frontier -------------------------------------------------------------------------

    def _max_pages(self, target: Target) -> int:
        limit = target.max_pages if target.max_pages is not None else self.settings.max_pages
        scope = target.scope or self.settings.scope
        already = sum(1 for url in self._done if in_scope(url, target.host, scope))
        return limit - already

    def _seed(self) -> None:
        for target in self.targets.values():
            if target.url not in self._seen and self._budget[target.url] > 0:
                self._enqueue(QueuedUrl(target.url, 0, target.url))
        for item in self._pending:
            if item.target in self.targets and item.url not in self._seen:
                self._enqueue(item)

    def _enqueue(self, item: QueuedUrl) -> None:
        self._seen.add(item.url)
        self._budget[item.target] -= 1
        site = self._site(host_of(item.url), item.target)
        site.queue.append(item)
        if site.drivers < site.connections:
            site.drivers += 1
            self._track(self._drive(site))

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` as a task the crawl waits for (and cancels on Ctrl-C); the first
        exception one raises stops the crawl."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
        if not self._tasks or self._failure is not None:
            self._over.set()

    def _accept(self, links: Iterable[str], item: QueuedUrl) -> list[QueuedUrl]:
        """The links of a page that join the frontier: unseen, in scope, within limits."""
        target = self.targets[item.target]
        depth = target.depth if target.depth is not None else self.settings.depth
        if item.depth >= depth:
            return []
        scope = target.scope or self.settings.scope
        accepted: list[QueuedUrl] = []
        for link in links:
            if self._budget[item.target] <= 0:
                break
            if link in self._seen or not in_scope(link, target.host, scope):
                continue
            queued = QueuedUrl(link, item.depth + 1, item.target)
            self._enqueue(queued)
            accepted.append(queued)
        return accepted

    def _site(self, host: str, target: str | None = None) -> _Site:
        """The host's state; a host no target starts on (a subdomain, a redirect's) gets the
        per-host setting of the target that first reached it."""
        site = self._sites.get(host)
        if site is None:
            connections = self._per_host.get(host) or (
                self._connections(self.targets[target]) if target else self.settings.per_host
            )
            throttle = Throttle(self.settings.delay, self.rng, connections)
            site = self._sites[host] = _Site(host, throttle, connections)
        return site

    # -- one site, up to --per-host pages at a time ---------------------------------------

    async def _drive(self, site: _Site) -> None:
        try:
            while site.queue:
                # Wait for the site's turn before taking a body slot (see _visit): drivers
                # sleeping out a delay must not keep other sites' pages from being fetched.
                await paced(site.throttle)
                if site.queue:
                    await self._visit(site.queue.popleft())
        finally:
            site.drivers -= 1

    async def _visit(self, item: QueuedUrl) -> None:
        await self._bodies.acquire()
        try:
            result = await self._contained(self._follow(item), item.url)
        except BaseException:
            self._bodies.release()
            raise
        if isinstance(result, _Stop):
            self._bodies.release()
            if result.issue is not None:
                self.sink.problem(result.issue)
            self.sink.settled(item.url, result.outcome, (), result.final, item.target)
            return
        target = self.targets[item.target]
        info = FetchInfo(
            url=item.url,
            final_url=result.url,
            site=host_of(result.url),
            target=item.target,
            depth=item.depth,
            status=result.status,
            fetched_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            address=result.address,
            country=target.country,
        )
        page = Page(info, result.media_type, result.charset, result.body, result.truncated)
        self._track(self._scan(page, item))  # the driver fetches on while the page is scanned

    async def _scan(self, page: Page, item: QueuedUrl) -> None:
        try:
            async with self._scanning:
                outcome = await self._contained(self.sink.page(page), item.url)
        finally:
            self._bodies.release()
        if isinstance(outcome, _Stop):
            assert outcome.issue is not None
            self.sink.problem(outcome.issue)
            self.sink.settled(item.url, outcome.outcome, (), outcome.final, item.target)
        elif outcome is None:
            self.sink.settled(item.url, "skipped", (), True, item.target)
        else:
            queued = self._accept(outcome, item)
            self.sink.settled(item.url, "scanned", queued, True, item.target)

    async def _contained(self, work: Awaitable[Result], url: str) -> Result | _Stop:
        outcome = await contained(work, url, self.settings.contain_errors)
        return _Stop("failed", outcome) if isinstance(outcome, ScanIssue) else outcome

    async def _follow(self, item: QueuedUrl) -> Response | _Stop:
        """Fetch a frontier URL through its redirects, checking scope and robots.txt at
        every hop (each hop paced by its own host's throttle); a response to scan, or why
        there is none."""
        target = self.targets[item.target]
        scope = target.scope or self.settings.scope
        url, chain = item.url, [item.url]
        while True:
            site = self._site(host_of(url), item.target)
            try:
                rules = await self._rules(site, url)
            except FetchError as exc:
                return _Stop("failed", ScanIssue(url, exc.kind, exc.problem))
            if rules.failure is not None and not rules.allows(url, self.settings.robots_agent):
                # No answer at all (RFC 9309 still says: fetch nothing). The site is down or
                # unreachable: a failure of this page, not the site's policy.
                issue = ScanIssue(url, rules.failure, f"robots.txt {rules.status}")
                return _Stop("failed", issue, final=False)
            if not rules.allows(url, self.settings.robots_agent):
                reason = "" if rules.status == "rules" else f": robots.txt {rules.status}"
                issue = ScanIssue(url, "robots", f"disallowed by robots.txt{reason}")
                return _Stop("disallowed", issue, final=rules.status == "rules")
            try:
                response = await self._request(site, url)
            except FetchError as exc:
                issue = ScanIssue(url, exc.kind, exc.problem)
                return _Stop("failed", issue, final=exc.kind not in RETRY_KINDS)
            if not response.is_redirect:
                if not 200 <= response.status < 300:
                    issue = ScanIssue(url, "http", f"HTTP {response.status}")
                    return _Stop("failed", issue, final=response.status not in RETRY_STATUSES)
                if not response.scannable:
                    message = f"content type {response.media_type} is not scanned"
                    return _Stop("skipped", ScanIssue(url, "skipped", message))
                return response
            assert response.location is not None
            following = canonical(response.location, url)
            if following is None:
                message = "redirects to a URL that cannot be fetched"
                return _Stop("failed", ScanIssue(url, "redirect", message))
            if following in chain:
                message = f"redirect loop after {len(chain)} hops"
                return _Stop("failed", ScanIssue(item.url, "redirect", message))
            if len(chain) > self.settings.max_redirects:
                message = f"more than {self.settings.max_redirects} redirects"
                return _Stop("failed", ScanIssue(item.url, "redirect", message))
            if not in_scope(following, target.host, scope):
                message = f"redirects out of scope, to {host_of(following)}"
                return _Stop("offsite", ScanIssue(item.url, "offsite", message))
            if following in self._seen:
                return _Stop("duplicate")  # fetched, or to be, as its own frontier URL
            self._seen.add(following)
            chain.append(following)
            url = following

    async def _rules(self, site: _Site, url: str) -> Rules:
        if not self.settings.obey_robots:
            return IGNORED
        rules = await self._robots.rules(origin_of(url))
        delay = rules.delay(self.settings.robots_agent)
        if delay is not None:
            site.throttle.raise_base(delay)
        return rules

    async def _request(
        self, site: _Site, url: str, *, max_bytes: int | None = None, any_type: bool = False
    ) -> Response:
        """One URL, paced by its site's throttle and retried on overload (retry.py)."""
        assert self._fetcher is not None
        return await polite_get(
            self._fetcher, site.throttle, url, self._retries, self.rng,
            slots=self._slots, max_bytes=max_bytes, any_type=any_type,
        )  # fmt: skip

    async def _get_robots(self, url: str, max_bytes: int) -> Response:
        """robots.txt, retried as pages are: one lost connection must not close a site."""
        site = self._site(host_of(url))  # made by the page asking, unless it is a redirect's
        return await self._request(site, url, max_bytes=max_bytes, any_type=True)
